//! End-to-end tests of the `fleetbench` binary: one test binary, a module per area.
//!
//! Like the binary, it installs the tracking allocator, so fleets run in-process here measure
//! agents' heap.

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

/// Every call that started is counted: a server that never answers, a run that ends.
mod accounting;
/// The HTTP agent driver: the example Python agent under load (HTTP and MCP tools), its
/// calls attributed, the split, its memory; faults it passes on; bad input before traffic.
mod agents;
/// The tool cache per tool in the reports; `[[targets.figure]]` judged, in JUnit, and refused
/// with a located error when it names no figure or a limit of the wrong unit.
mod cache_targets;
/// `validate`, `print-scenario`, help text and exit codes.
mod cli;
/// Helpers shared by the modules.
mod common;
/// The CI gate: `run --budget`, `compare`, the CI scenario's determinism and baseline.
mod compare;
/// `corpus generate` and `compress`: determinism, sweeps, users' logs, bad input.
mod compress;
/// `compress --prices` and `--rank`: the cost column, presets, prices files, ranking.
mod compress_cost;
/// `compress`'s plan and warnings: repeated strategies and unread sweeps run once, overflows.
mod compress_lab;
/// `compress --summarizer llm`, `--reader`, `--llm`, `--cassette`: the LLM tier against a
/// served endpoint, recorded and replayed; the reader's scores; bad input.
mod compress_llm;
/// `compress` on users' logs: bad lines skipped and said, `--strict`, repairs said.
mod compress_logs;
/// `compress --strategy-cmd`: external compressors over the JSON-lines protocol.
mod compress_plugin;
/// `compress --keep-pattern`, `--seeds` and `--format csv`: identifier retention, the spread
/// over seeds, CSV read back by Python.
mod compress_spread;
/// `run --part I/N` and `merge`: parts as processes merge into the sharded run's report
/// (virtual), live parts against one mock merge exactly, bad parts and flags are exit 2.
mod distributed;
/// The shipped fixtures keep their stated verdicts: the support fleet passes with its cache
/// hitting and is reproducible, the overload fleet fails with its bottleneck named, the coding
/// fleet compresses; every fixture validates with no environment variable set.
mod fixtures;
/// The time series: intervals written as they end add up to the report, HdrHistogram's
/// Python port reads the log, a run killed halfway is rebuilt by `fleetbench report`.
mod intervals;
/// MCP tools: a fleet whose tools are the MCP server of `fleetbench serve` counts what HTTP
/// tools count, with the same latency model; a server without a configured tool is exit 2.
mod mcp;
/// Per-agent heap: known bytes reported, frees and hand-offs charged to the owner.
mod memory;
/// `run --metrics-listen`: the Prometheus endpoint scraped mid-run (counters grow) and during
/// `--metrics-linger` (counters equal report.json's); an unbindable address is exit 2.
mod prometheus;
/// `run --format html`: the self-contained page of a virtual run, nothing fetched.
mod report_html;
/// The Responses API end to end: fleets with `api = "responses"`, streamed and whole, report
/// as chat runs do, and the mock sees every attempt on that API.
mod responses;
/// `run`: fleets against the embedded mock, reports, the schema, exit codes, determinism.
mod run;
/// `run --format csv` and `--json`: the CSV files read back by Python, the report on stdout,
/// the rates.
mod run_outputs;
/// The harness's own saturation: the live probe's section, the virtual clock's absence of one.
mod saturation;
/// API keys: only a named key is sent, to its provider; no key in any output, even at trace.
mod secrets;
/// `serve`: the standalone mock answers real HTTP.
mod serve;
/// `sweep`: the capacity search finds a known limit, the same seed gives the same answer,
/// empty ranges, unknown variables and failing lower ends are exit 2.
mod sweep;
/// TLS: live runs over TLS count what plain HTTP counts, a wrong CA is `tls` with one hint,
/// plain HTTP needs no CA store.
mod tls;
