"""The example agent's tool-calling loop and its sessions: the part a team replaces with its
framework. `Agent.run` asks the LLM (the official `openai` SDK), runs the tools it asks for
(tools.py), and asks again until it answers in text; `Sessions` keeps each session's history
in memory, so the process's memory grows with live sessions as a real runtime's does.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import openai

from tools import describe

# The same logger as agent.py's, so every log line names "agent" as before the split.
log = logging.getLogger("agent")

SYSTEM_PROMPT = (
    "You are a customer support agent. Use the tools to look up orders and search the "
    "knowledge base when they help, then answer the customer briefly."
)


class LlmError(Exception):
    """The LLM call failed after the SDK's own retries: the client gets a 502."""


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

    def __init__(self, ttl: float, record: str | None = None) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        # `--record FILE`: each session's history, one JSON line when it is evicted or the
        # agent stops (`{"id", "messages"}`, OpenAI's chat shape): a corpus of real runs for
        # `fleetbench compress --corpus FILE` (docs/compression.md, "Reading real logs").
        self._record = open(record, "a", encoding="utf-8") if record else None
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
                        self._write(key, self._sessions.pop(key))
            if idle:
                log.debug("evicted %d idle sessions, %d live", len(idle), len(self))

    def close(self) -> None:
        """Records every session still held (`--record`) and closes the file."""
        with self._lock:
            for key, session in self._sessions.items():
                self._write(key, session)
            if self._record is not None:
                self._record.close()
                self._record = None

    def _write(self, key: str, session: Session) -> None:
        # Under self._lock. A session whose only message is the system prompt never talked.
        if self._record is None or len(session.history) < 2:
            return
        line = json.dumps({"id": key, "messages": session.history}, ensure_ascii=False)
        self._record.write(line + "\n")
        self._record.flush()
