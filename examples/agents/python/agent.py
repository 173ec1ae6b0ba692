#!/usr/bin/env python3
"""A small, real tool-calling agent behind a tiny HTTP server: the runtime fleetbench tests.

It is what a team's agent looks like with the framework stripped away: the official `openai`
SDK runs the tool-calling loop (ask the LLM, run the tools it asks for, ask again, until it
answers in text), the tools are reached over HTTP (`POST {tools_url}/{name}`) or over MCP
(the official `mcp` SDK, streamable HTTP), and each session's history lives in memory.
Point its LLM base URL and its tools at fleetbench's mock and fleetbench measures it: response
time per turn, the LLM and tool time inside it, the rest (this process's overhead), and how
its memory grows with live sessions. See README.md next to this file.

Endpoints:
  POST /chat                  {"session_id", "message"} -> {"session_id", "answer", "steps"}
  POST /v1/chat/completions   OpenAI-compatible and stateless, plain or streamed (SSE)
  GET  /healthz               "ok"

Only the standard library, `openai`, and `mcp` (for `--tools mcp` only) are used.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

log = logging.getLogger("agent")

SYSTEM_PROMPT = (
    "You are a customer support agent. Use the tools to look up orders and search the "
    "knowledge base when they help, then answer the customer briefly."
)

# How long one tool call may take, over HTTP or MCP, before it becomes an error result.
TOOL_TIMEOUT_S = 30.0

# The agent's own tools for `--tools http`, defined in code as real agents define them.
HTTP_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by id",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_kb",
            "description": "Search the knowledge base",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "limit": {"type": "integer"},
                },
                "required": ["query", "limit"],
            },
        },
    },
]


class LlmError(Exception):
    """The LLM call failed after the SDK's own retries: the client gets a 502."""


class ToolsUnavailable(Exception):
    """The MCP server cannot be reached to list the tools: the client gets a 500."""


class BadRequest(Exception):
    """The request body is not what the endpoint takes: the client gets a 400."""


# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------


class HttpTools:
    """Tools served at `POST {base}/{name}`, the arguments JSON as the body."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def specs(self) -> list[dict[str, Any]]:
        return HTTP_TOOLS

    def call(self, name: str, arguments: str) -> str:
        # The LLM's argument string goes through unchanged: it carries fleetbench's session
        # marker back to the mock, which is how the call is attributed to its session.
        request = urllib.request.Request(
            f"{self.base_url}/{name}",
            data=arguments.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TOOL_TIMEOUT_S) as response:
                return response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace")[:200]
            return f"error: HTTP {err.code} from tool {name}: {body}"
        except Exception as err:  # connection refused, reset, timeout: the LLM may recover
            return f"error: tool {name} failed: {describe(err)}"

    def close(self) -> None:
        pass


class McpTools:
    """Tools listed and called over MCP (streamable HTTP), through the official `mcp` SDK.

    The SDK is asyncio-based while the server's request threads are not, so one event loop runs
    in a background thread and holds one MCP session for every request thread
    (`asyncio.run_coroutine_threadsafe`). The session is opened lazily, at the first request
    (the MCP server may start after the agent), and a new one replaces it once it breaks.
    """

    def __init__(self, url: str) -> None:
        # Imported here so that `--tools http` runs without the mcp package installed. mcp 2:
        # 1.x clients wait for a timeout when the server answers a call with an HTTP error or
        # resets the connection, where 2.x fails the call at once (requirements.txt).
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        self._client_session = ClientSession
        self._open_transport = streamable_http_client
        self.url = url
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mcp-loop", daemon=True).start()
        self._conn: McpConnection | None = None  # touched only on the loop's thread

    def specs(self) -> list[dict[str, Any]]:
        try:
            return self._run(self._connected(), TOOL_TIMEOUT_S).specs
        except Exception as err:
            raise ToolsUnavailable(describe(err)) from err

    def call(self, name: str, arguments: str) -> str:
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as err:
            return f"error: the arguments of {name} are not JSON: {err}"
        try:
            return self._run(self._call(name, parsed), 2 * TOOL_TIMEOUT_S)
        except Exception as err:
            return f"error: tool {name} failed: {describe(err)}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _run(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _connected(self) -> McpConnection:
        """The live connection, opening one first when there is none."""
        if self._conn is None or self._conn.dead:
            self._conn = McpConnection(self.loop.create_future(), asyncio.Event())
            self.loop.create_task(self._hold(self._conn))
        conn = self._conn
        # shield: a caller that gives up must not cancel the connection others wait for.
        await asyncio.shield(conn.ready)
        return conn

    async def _hold(self, conn: McpConnection) -> None:
        """Open the transport and the session, list the tools, and keep them open until the
        session breaks or is dropped: the SDK's context managers must be entered and left
        in one task."""
        try:
            async with self._open_transport(self.url) as (read, write):
                async with self._client_session(read, write) as session:
                    await session.initialize()
                    listed = await session.list_tools()
                    conn.specs = [mcp_tool_spec(tool) for tool in listed.tools]
                    conn.session = session
                    log.info("mcp: connected to %s, %d tools", self.url, len(conn.specs))
                    conn.ready.set_result(None)
                    await conn.stop.wait()
        except BaseException as err:  # the session is over either way
            if not conn.ready.done():
                conn.ready.set_exception(ConnectionError(f"mcp server {self.url}: {describe(err)}"))
            else:
                log.info("mcp: session ended: %s", describe(err))
            if isinstance(err, asyncio.CancelledError):
                raise
        finally:
            conn.dead = True
            if not conn.ready.done():
                conn.ready.set_exception(ConnectionError(f"mcp server {self.url}: closed"))

    async def _call(self, name: str, arguments: dict[str, Any]) -> str:
        conn = await self._connected()
        conn.in_flight += 1
        try:
            call = conn.session.call_tool(name, arguments)
            result = await asyncio.wait_for(call, TOOL_TIMEOUT_S)
        except Exception:
            # Across SDK versions a failed call cannot be told reliably from a broken session
            # (a reset connection, an expired session id): new calls go to a new session.
            conn.dead = True
            raise
        finally:
            conn.in_flight -= 1
            # The dropped session closes once its last call is answered, not under it.
            if conn.dead and conn.in_flight == 0:
                conn.stop.set()
        # Text parts as they are; any other part (an image, a resource) as its JSON.
        text = "\n".join(
            part.text if part.type == "text" else part.model_dump_json(by_alias=True)
            for part in result.content
        )
        return f"error: {text}" if result.is_error else text


@dataclass
class McpConnection:
    """One MCP session and what it listed; `stop` ends the task that holds it open."""

    ready: asyncio.Future[None]
    stop: asyncio.Event
    session: Any = None
    specs: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    # No new call goes to a dead connection: it broke, or a call on it failed.
    dead: bool = False


def mcp_tool_spec(tool: Any) -> dict[str, Any]:
    """An MCP tool as an OpenAI function tool."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description or "",
            "parameters": tool.input_schema,
        },
    }


def describe(err: BaseException) -> str:
    """An exception in one line, with its innermost cause: the SDKs wrap it ("Connection
    error." over "Connection refused"), and exception groups (anyio's) hold it one level down."""
    inner = err
    for _ in range(16):  # a bound: a chain can loop
        group = getattr(inner, "exceptions", None)
        below = group[0] if group else inner.__cause__ or inner.__context__
        if below is None:
            break
        inner = below

    def one(e: BaseException) -> str:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

    return one(err) if inner is err else f"{one(err)} ({one(inner)})"


# ---------------------------------------------------------------------------------------------
# The agent loop
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    answer: str
    steps: int
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    )


class Agent:
    """The tool-calling loop, shared by every request thread."""

    def __init__(self, client: openai.OpenAI, model: str, tools: Any, max_steps: int) -> None:
        self.client = client
        self.model = model
        self.tools = tools
        self.max_steps = max_steps
        # Tool calls of one LLM answer run concurrently, as frameworks run them; the pool is
        # shared so 200 concurrent turns do not start 200 pools.
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="tool")

    def run(self, messages: list[dict[str, Any]]) -> Outcome:
        """Run the loop on `messages`, appending the assistant's and the tools' messages."""
        outcome = Outcome(answer="", steps=0)
        last_text = ""
        specs = self.tools.specs()
        for step in range(1, self.max_steps + 1):
            outcome.steps = step
            message = self._ask(messages, specs, outcome.usage)
            if not message.tool_calls:
                outcome.answer = message.content or ""
                messages.append({"role": "assistant", "content": outcome.answer})
                return outcome
            last_text = message.content or last_text
            calls = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    },
                }
                for call in message.tool_calls
            ]
            messages.append({"role": "assistant", "content": message.content, "tool_calls": calls})
            for call, result in zip(calls, self._run_tools(calls)):
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        outcome.answer = last_text or f"(no answer after {self.max_steps} steps)"
        messages.append({"role": "assistant", "content": outcome.answer})
        return outcome

    def _ask(self, messages: list[dict[str, Any]], specs: list[Any], usage: dict[str, int]) -> Any:
        """One LLM call. Anything it raises (after the SDK's retries) is the LLM's failure."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if specs:
            kwargs["tools"] = specs
        try:
            response = self.client.chat.completions.create(**kwargs)
            message = response.choices[0].message
        except Exception as err:
            raise LlmError(describe(err)) from err
        if response.usage is not None:
            usage["prompt_tokens"] += response.usage.prompt_tokens or 0
            usage["completion_tokens"] += response.usage.completion_tokens or 0
            usage["total_tokens"] += response.usage.total_tokens or 0
        return message

    def _run_tools(self, calls: list[dict[str, Any]]) -> list[str]:
        def one(call: dict[str, Any]) -> str:
            return self.tools.call(call["function"]["name"], call["function"]["arguments"] or "")

        if len(calls) == 1:
            return [one(calls[0])]
        return list(self.pool.map(one, calls))


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


@dataclass
class Session:
    history: list[dict[str, Any]]
    last_used: float
    # One turn at a time per session: a second message waits for the first answer.
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sessions:
    """Each session's history in memory, so memory grows with live sessions (fleetbench
    measures it); a session idle longer than the TTL is evicted by a sweeper thread."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        sweeper = threading.Thread(target=self._sweep, name="session-sweeper", daemon=True)
        sweeper.start()

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                history = [{"role": "system", "content": SYSTEM_PROMPT}]
                session = Session(history=history, last_used=time.monotonic())
                self._sessions[session_id] = session
            session.last_used = time.monotonic()
            return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _sweep(self) -> None:
        while True:
            time.sleep(max(1.0, min(self.ttl / 10, 30.0)))
            cutoff = time.monotonic() - self.ttl
            with self._lock:
                idle = [key for key, s in self._sessions.items() if s.last_used < cutoff]
                for key in idle:
                    # A session mid-turn is not idle: last_used is refreshed when it ends.
                    if not self._sessions[key].lock.locked():
                        del self._sessions[key]
            if idle:
                log.debug("evicted %d idle sessions, %d live", len(idle), len(self))


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # fleetbench opens hundreds of connections at once; the default backlog of 5 would
    # refuse some before a thread ever saw them.
    request_queue_size = 1024
    allow_reuse_address = True

    agent: Agent
    sessions: Sessions
    model: str


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive between turns (every answer has a length or is
    # chunked); an idle connection's thread is released after `timeout` seconds.
    protocol_version = "HTTP/1.1"
    server_version = "example-agent/1"
    timeout = 300
    server: Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._send(200, b"ok", "text/plain")
        else:
            self._error(404, "not_found", f"no route GET {self.path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        route = {"/chat": self._chat, "/v1/chat/completions": self._completions}.get(path)
        if route is None:
            self._discard_body()
            self._error(404, "not_found", f"no route POST {self.path}")
            return
        # Never a traceback to the client: every failure is one of three JSON errors.
        try:
            route(self._read_json())
        except BadRequest as err:
            self._error(400, "bad_request", str(err))
        except LlmError as err:
            log.info("%s: llm error: %s", path, err)
            self._error(502, "llm_error", str(err))
        except ToolsUnavailable as err:
            log.info("%s: tools unavailable: %s", path, err)
            self._error(500, "tools_unavailable", str(err))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nobody to answer
        except Exception as err:
            log.exception("%s: internal error", path)
            self._error(500, "internal_error", describe(err))

    def _chat(self, body: dict[str, Any]) -> None:
        session_id, message = body.get("session_id"), body.get("message")
        if not isinstance(session_id, str) or not session_id:
            raise BadRequest('"session_id" must be a non-empty string')
        if not isinstance(message, str):
            raise BadRequest('"message" must be a string')
        session = self.server.sessions.get(session_id)
        with session.lock:
            # The user's text reaches the LLM unchanged: fleetbench's session marker in it
            # ([fb:s17t3]) is how its mock attributes this turn's LLM and tool calls to the
            # simulated session. A runtime that rewrites user text breaks the attribution.
            messages = [*session.history, {"role": "user", "content": message}]
            outcome = self.server.agent.run(messages)
            # Only a finished turn enters the history: a failed one leaves it as it was.
            session.history = messages
            session.last_used = time.monotonic()
        answer = {"session_id": session_id, "answer": outcome.answer, "steps": outcome.steps}
        self._send_json(200, answer)

    def _completions(self, body: dict[str, Any]) -> None:
        """OpenAI-compatible and stateless: the request's messages are the conversation.
        Its `model` and `tools` are ignored: the agent uses its own."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest('"messages" must be a non-empty array')
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            raise BadRequest('every message must be an object with a string "role"')
        outcome = self.server.agent.run(list(messages))
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model = self.server.model
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            self._stream(completion_id, created, outcome, include_usage)
            return
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": outcome.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": outcome.usage,
            },
        )

    def _stream(self, completion_id: str, created: int, outcome: Outcome, usage: bool) -> None:
        """The answer as `chat.completion.chunk` events: the role, the content in a few
        pieces, the finish reason (and the usage when asked for), then `[DONE]`."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict[str, Any] | None, finish: str | None, **extra: Any) -> None:
            event: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.server.model,
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            event.update(extra)
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())

        chunk({"role": "assistant", "content": ""}, None)
        for piece in split_pieces(outcome.answer, 4):
            chunk({"content": piece}, None)
        chunk({}, "stop")
        if usage:
            chunk(None, None, usage=outcome.usage)
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _read_json(self) -> dict[str, Any]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise BadRequest("the request needs a Content-Length and a JSON body")
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BadRequest(f"the body is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if length.isdigit():
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _error(self, status: int, kind: str, message: str) -> None:
        self._send_json(status, {"error": {"type": kind, "message": message}})

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("%s %s", self.address_string(), format % args)


def split_pieces(text: str, count: int) -> list[str]:
    """`text` in up to `count` pieces of about equal length, as a stream delivers it."""
    if not text:
        return []
    size = -(-len(text) // count)
    return [text[at : at + size] for at in range(0, len(text), size)]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument(
        "--llm-base-url",
        default=os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8790/v1",
        help="default: $OPENAI_BASE_URL, else fleetbench's mock on 127.0.0.1:8790",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY") or "unused",
        help="default: $OPENAI_API_KEY, else 'unused'",
    )
    parser.add_argument("--model", default="mock-gpt")
    parser.add_argument("--tools", choices=["http", "mcp"], default="http")
    parser.add_argument(
        "--tools-url",
        help="default: http://127.0.0.1:8790/tools (http) or http://127.0.0.1:8790/mcp (mcp)",
    )
    parser.add_argument("--max-steps", type=int, default=6, help="LLM calls per turn at most")
    parser.add_argument(
        "--llm-retries", type=int, default=2,
        help="the SDK's max_retries; the agent's own retries count as framework overhead",
    )
    parser.add_argument("--session-ttl", type=float, default=300.0, help="idle seconds")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if args.tools_url is None:
        args.tools_url = f"http://127.0.0.1:8790/{'mcp' if args.tools == 'mcp' else 'tools'}"
    if args.max_steps < 1:
        parser.error("--max-steps must be at least 1")
    if args.llm_retries < 0:
        parser.error("--llm-retries must be 0 or more")
    if args.session_ttl <= 0:
        parser.error("--session-ttl must be more than 0 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # The MCP SDK logs each failed call with its traceback; the failure already reaches the
    # LLM as the tool's result, so only --verbose shows it.
    logging.getLogger("mcp").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)

    # One client for every request thread: its connection pool is shared, as in a server.
    client = openai.OpenAI(
        base_url=args.llm_base_url,
        api_key=args.api_key,
        timeout=60.0,
        max_retries=args.llm_retries,
    )
    tools = McpTools(args.tools_url) if args.tools == "mcp" else HttpTools(args.tools_url)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    server.agent = Agent(client, args.model, tools, args.max_steps)
    server.sessions = Sessions(args.session_ttl)
    server.model = args.model

    host, port = server.server_address[:2]
    # The one line on stdout: fleetbench's end-to-end test waits for it and reads the port.
    print(f"listening on http://{host}:{port}", flush=True)
    log.info("llm %s (model %s), tools %s %s", args.llm_base_url, args.model, args.tools,
             args.tools_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        tools.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
