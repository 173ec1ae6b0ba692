#!/usr/bin/env python3
"""keep-last: an external compressor for `fleetbench compress --strategy-cmd` (stdlib only).

It keeps the system message, the first user message, and the newest messages that fit in
`target_tokens` (estimated at 4 characters a token), keeping each tool round whole: an
assistant message that calls tools goes or stays with all its results. The newest round or
message always stays, however large: it is what the model just asked for.

    fleetbench compress --corpus c.jsonl --strategy-cmd 'keep-last=python3 examples/compressors/keep_last.py'

The protocol (docs/compression.md, "External compressors: the protocol"), one JSON object a
line, UTF-8:

- fleetbench writes one request line per compression on our stdin:
  {"protocol": 1, "messages": [...], "target_tokens": N, "context_window": W}
  `messages` are OpenAI chat messages: {"role", "content"}, plus "tool_calls" (a list of
  {"id", "type": "function", "function": {"name", "arguments"}}) on an assistant message that
  calls tools, and "tool_call_id" and "name" (the tool's) on a tool message.
- we write one answer line on stdout, and flush it:
  {"messages": [...]}
  the messages to keep, in order, kept ones exactly as received (fleetbench recognises them
  field for field); a message may be replaced by a new one (a shorter tool output with the same
  tool_call_id, a summary).
- One process serves every request of its row; stdin closes at the end. Anything written on
  stderr reaches the user. An answer that is not one JSON line, an exit, or no answer within
  --strategy-cmd-timeout (30 s by default) stops the row with an error naming the request.
- A compressor that calls an LLM may add "usage": {"prompt_tokens": N, "completion_tokens": M}
  to its answer; those tokens count as the row's summarizer tokens. Answers that break the invariants (the
  system and first user message kept, tool results with their calls, the newest round whole)
  are counted as violations.
"""

import json
import sys


def estimate(message):
    """Tokens by the chars/4 rule, plus 3 for the message's framing."""
    chars = len(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return chars // 4 + 3


def units(messages, start):
    """The messages from `start` on as units: a tool round (the call and its results) or one
    message, as lists of indices."""
    out, i = [], start
    while i < len(messages):
        unit = [i]
        i += 1
        if messages[unit[0]].get("tool_calls"):
            while i < len(messages) and messages[i]["role"] == "tool":
                unit.append(i)
                i += 1
        out.append(unit)
    return out


def compress(messages, target_tokens):
    head = []
    if messages and messages[0]["role"] == "system":
        head.append(0)
    first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
    if first_user is not None:
        head.append(first_user)
    start = head[-1] + 1 if head else 0
    # Results of a round the head cut through are kept with the round's next units.
    budget = target_tokens - sum(estimate(messages[i]) for i in head)
    tail = []
    for k, unit in enumerate(reversed(units(messages, start))):
        cost = sum(estimate(messages[i]) for i in unit)
        if k > 0 and cost > budget:
            break
        budget -= cost
        tail = unit + tail
    return [messages[i] for i in head + tail]


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("protocol") != 1:
            print(f"keep_last.py: protocol {request.get('protocol')} unknown", file=sys.stderr)
            return 2
        kept = compress(request["messages"], request["target_tokens"])
        print(json.dumps({"messages": kept}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
