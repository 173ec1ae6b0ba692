#!/usr/bin/env bash
# A manual check of the example agent against `fleetbench serve`: start the mock and the agent,
# send two /chat turns and one /v1/chat/completions request (plain and streamed), print the
# mock's counters, and stop both. Run from the repository root after `cargo build` and the
# README's venv commands; TOOLS=mcp checks the MCP tools.
set -euo pipefail
TOOLS=${TOOLS:-http}
PY=${PY:-examples/agents/python/.venv/bin/python}
FLEETBENCH=${FLEETBENCH:-target/debug/fleetbench}
MOCK_PORT=${MOCK_PORT:-8790}
work=$(mktemp -d)
cat > "$work/scenario.toml" <<'TOML'
name = "python-agent-smoke"
[[llm.providers]]
name = "mock"
base_url = "embedded"
model = "mock-gpt"
[tools.lookup_order]
description = "Look up an order by id"
args = { order_id = "id" }
[tools.search_kb]
description = "Search the knowledge base"
args = { query = "string", limit = "integer" }
[mock]
tool_call_probability = 0.7
TOML

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$FLEETBENCH" serve --scenario "$work/scenario.toml" --port "$MOCK_PORT" > "$work/mock.log" 2>&1 &
pids+=($!)
tools_url="http://127.0.0.1:$MOCK_PORT/$([ "$TOOLS" = mcp ] && echo mcp || echo tools)"
"$PY" examples/agents/python/agent.py --port 0 --tools "$TOOLS" \
  --llm-base-url "http://127.0.0.1:$MOCK_PORT/v1" --tools-url "$tools_url" > "$work/agent.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$work/agent.out" && break; sleep 0.1; done
agent=$(sed -n 's/^listening on //p' "$work/agent.out")
[ -n "$agent" ] || { echo "the agent did not start" >&2; exit 1; }
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$MOCK_PORT/stats" > /dev/null && break; sleep 0.1; done

post() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$agent$1"; echo; }
post /chat '{"session_id": "smoke", "message": "Where is my order? [fb:s1t1]"}'
post /chat '{"session_id": "smoke", "message": "And the refund policy? [fb:s1t2]"}'
post /v1/chat/completions '{"model": "any", "messages": [{"role": "user", "content": "hi"}]}'
post /v1/chat/completions '{"model": "any", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
curl -fsS "http://127.0.0.1:$MOCK_PORT/stats"; echo
