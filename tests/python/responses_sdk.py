#!/usr/bin/env python3
"""The official OpenAI Python SDK's Responses API against fleetbench's mock.

Usage: python3 tests/python/responses_sdk.py BASE_URL     (BASE_URL: http://127.0.0.1:PORT/v1)

Driven by crates/mock/tests/responses.rs, which starts the mock on 127.0.0.1:0. It calls
`client.responses.create` whole and streamed (iterating the events), with a function tool and
a function_call_output round trip, and the SDK's `responses.stream` helper (which rebuilds the
response from the events and asserts their order). Exit 0 and "all checks passed" when every
check holds; exit 1 naming the first mismatch; exit 2 on wrong usage. It bounds itself: an
alarm ends it after 90 s. `.ci/run` installs the `openai` package.
"""

import json
import signal
import sys

import openai

MODEL = "mock-gpt"
INSTRUCTIONS = "You are a support agent."
TOOLS = [
    {
        "type": "function",
        "name": "lookup_order",
        "description": "Look up an order by id",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
        "strict": False,
    }
]


def check(ok, what):
    """Exits 1 naming `what` unless `ok`."""
    if not ok:
        print(f"mismatch: {what}", file=sys.stderr)
        sys.exit(1)


def check_usage(response, what):
    usage = response.usage
    check(usage is not None, f"{what}: usage")
    check(usage.input_tokens > 0, f"{what}: input_tokens {usage.input_tokens}")
    check(
        usage.total_tokens == usage.input_tokens + usage.output_tokens,
        f"{what}: total_tokens {usage}",
    )
    check(usage.input_tokens_details.cached_tokens == 0, f"{what}: cached_tokens")
    check(usage.output_tokens_details.reasoning_tokens == 0, f"{what}: reasoning_tokens")


def function_calls(response):
    return [item for item in response.output if item.type == "function_call"]


def whole_text(client):
    r = client.responses.create(
        model=MODEL, instructions=INSTRUCTIONS, input="Where is my order?", max_output_tokens=64
    )
    check(r.object == "response", f"object {r.object}")
    check(r.id.startswith("resp_"), f"id {r.id}")
    check(r.status in ("completed", "incomplete"), f"status {r.status}")
    check(r.model == MODEL, f"model {r.model}")
    check(len(r.output) == 1 and r.output[0].type == "message", f"output {r.output}")
    text = r.output_text
    check(text != "", "output_text is empty")
    check(r.usage.output_tokens == len(text.split(" ")), f"one token per word: {r.usage} {text!r}")
    check_usage(r, "whole text")
    return r


def streamed_text(client):
    stream = client.responses.create(
        model=MODEL, instructions=INSTRUCTIONS, input="Stream it, please.", stream=True
    )
    kinds, deltas, final, numbers = [], [], None, []
    for event in stream:
        check(final is None, f"an event after response.completed: {event.type}")
        kinds.append(event.type)
        numbers.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.output_text.done":
            check(event.text == "".join(deltas), "output_text.done is the deltas")
        elif event.type == "response.completed":
            final = event.response
    check(kinds[:2] == ["response.created", "response.in_progress"], f"opening events {kinds[:2]}")
    check(final is not None, f"no response.completed in {kinds}")
    check(numbers == list(range(len(numbers))), f"sequence numbers {numbers}")
    check(len(deltas) > 0, "no text deltas")
    check("".join(deltas) == final.output_text, "the deltas are the final output text")
    check(final.usage.output_tokens == len(deltas), f"one delta per token: {final.usage}")
    check_usage(final, "streamed text")


def tool_calls(client, stream):
    kwargs = dict(
        model=MODEL,
        instructions=INSTRUCTIONS,
        input=[{"role": "user", "content": "Look up ORD-12345."}],
        tools=TOOLS,
        tool_choice="required",
    )
    if not stream:
        r = client.responses.create(**kwargs)
    else:
        args, final = {}, None
        for event in client.responses.create(stream=True, **kwargs):
            if event.type == "response.function_call_arguments.delta":
                args[event.output_index] = args.get(event.output_index, "") + event.delta
            elif event.type == "response.function_call_arguments.done":
                check(args.get(event.output_index) == event.arguments, "arguments.done is the deltas")
            elif event.type == "response.completed":
                final = event.response
        check(final is not None, "no response.completed for a tool call")
        r = final
        for index, item in enumerate(r.output):
            check(args.get(index) == item.arguments, f"streamed arguments of item {index}")
    calls = function_calls(r)
    check(len(calls) >= 1 and len(calls) == len(r.output), f"function calls {r.output}")
    for call in calls:
        check(call.name == "lookup_order", f"name {call.name}")
        check(call.call_id.startswith("call_"), f"call_id {call.call_id}")
        check(call.id.startswith("fc_"), f"id {call.id}")
        check("order_id" in json.loads(call.arguments), f"arguments {call.arguments}")
    check_usage(r, "tool call")
    return r


def round_trip(client, first):
    # The output items go back as the SDK returned them (as the Agents SDK does), then the
    # results.
    items = [{"role": "user", "content": "Look up ORD-12345."}]
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items += [
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"status":"shipped"}'}
        for call in function_calls(first)
    ]
    r = client.responses.create(
        model=MODEL, instructions=INSTRUCTIONS, input=items, tools=TOOLS, tool_choice="none"
    )
    check(function_calls(r) == [], "tool_choice none gives no call")
    check(r.output_text != "", "the followup has text")
    check(r.usage.input_tokens > first.usage.input_tokens, "the followup's prompt is longer")


def stream_helper(client):
    with client.responses.stream(
        model=MODEL, instructions=INSTRUCTIONS, input="Stream through the helper."
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    check("".join(deltas) == final.output_text, "the helper's deltas are its final text")


def stateless(client):
    try:
        client.responses.create(model=MODEL, input="again", previous_response_id="resp_0123")
    except openai.BadRequestError as err:
        check(err.status_code == 400, f"status {err.status_code}")
        check("keeps no state" in str(err), f"message {err}")
        return
    check(False, "previous_response_id was accepted")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    signal.alarm(90)
    client = openai.OpenAI(
        base_url=sys.argv[1], api_key="sk-python-sdk", max_retries=0, timeout=20
    )
    whole_text(client)
    streamed_text(client)
    first = tool_calls(client, stream=False)
    tool_calls(client, stream=True)
    round_trip(client, first)
    stream_helper(client)
    stateless(client)
    print(f"all checks passed (openai {openai.__version__})")


if __name__ == "__main__":
    main()
