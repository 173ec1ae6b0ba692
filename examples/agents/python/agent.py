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

This file is the HTTP server and `main`; the tool-calling loop and the sessions are in loop.py,
the HTTP and MCP tools in tools.py. Copy the three together: they import one another as plain
siblings, which works because the script's directory is on `sys.path`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

from loop import Agent, LlmError, Outcome, Sessions
from tools import HttpTools, McpTools, ToolsUnavailable, describe

log = logging.getLogger("agent")


class BadRequest(Exception):
    """The request body is not what the endpoint takes: the client gets a 400."""


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
    parser.add_argument(
        "--record", metavar="FILE",
        help="append each session's history to FILE (JSONL) when it ends: a corpus for "
        "`fleetbench compress --corpus FILE`",
    )
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


def _stop(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


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
    server.sessions = Sessions(args.session_ttl, args.record)
    # SIGTERM (kill, a supervisor) stops it as Ctrl-C does, so `--record` keeps every session.
    signal.signal(signal.SIGTERM, _stop)
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
        server.sessions.close()
        tools.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
