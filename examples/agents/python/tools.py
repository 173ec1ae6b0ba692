"""The example agent's tools: reached over HTTP (`POST {tools_url}/{name}`) or over MCP (the
official `mcp` SDK, streamable HTTP). Both offer `specs()` (the tools as OpenAI function
tools), `call(name, arguments)` (the result as text; a failing tool's error becomes its result,
so the LLM may recover) and `close()`. A framework's own tool layer replaces this file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

# The same logger as agent.py's, so every log line names "agent" as before the split.
log = logging.getLogger("agent")

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


class ToolsUnavailable(Exception):
    """The MCP server cannot be reached to list the tools: the client gets a 500."""


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
