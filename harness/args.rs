//! Command-line arguments. The doc comments are the help text.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Load-test AI-agent runtimes: thousands of simulated agents sharing pooled, rate-limited
/// LLM and tool clients, with compression, per-agent memory and latency targets.
///
/// With no command, runs the built-in default scenario.
#[derive(Debug, Parser)]
#[command(name = "fleetbench", version, about, long_about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a scenario (the built-in default when none is given).
    ///
    /// Exits 0 when every target is met, 1 when one is missed, 2 on bad input, 3 when Ctrl-C,
    /// SIGTERM or SIGHUP stopped it (the reports are written; a second signal quits at once
    /// without them, 128 + its number). docs/cli.md has every exit code.
    Run(RunArgs),
    /// Serve the OpenAI-compatible mock LLM and tool server, for agents in any language, until
    /// Ctrl-C, SIGTERM or SIGHUP.
    Serve(ServeArgs),
    /// Check scenario files and report every problem with its line and column.
    Validate(ValidateArgs),
    /// Print the effective scenario, every default filled in and the flags applied.
    PrintScenario(PrintScenarioArgs),
    /// Conversation corpora for `compress`: generate one with planted facts.
    #[command(subcommand)]
    Corpus(CorpusCommand),
    /// Replay a corpus through compression strategies: tokens, cache busting, bytes,
    /// compressor cost, fact retention and validity, per strategy.
    ///
    /// Exits 1 when a strategy broke an invariant (an invalid history), 2 on bad input.
    Compress(CompressArgs),
    /// Compare the report.json of a base and a new run, figure by figure: latency
    /// percentiles, error rate, goodput, counters, errors, targets, per-agent figures.
    ///
    /// Each change is classed by its size (noise, minor, warning, critical) and direction (an
    /// improvement never fails). Exits 1 when a regression reaches --fail-on, 2 on bad input.
    /// docs/ci.md has the whole CI gate.
    Compare(CompareArgs),
    /// Find the largest fleet that meets every target: run the scenario under the virtual
    /// clock at sizes chosen by doubling then bisection over --vary (docs/capacity.md).
    ///
    /// Exits 0 when a largest passing value was found, 2 on bad input or when the lower end
    /// of the range already misses a target.
    Sweep(SweepArgs),
    /// Rebuild the reports of a run from what it left in its --out directory: its report.json,
    /// or, when it ended without one (killed, crashed), its interval log. In a sweep's --out
    /// directory, redraw sweep.html from sweep.json.
    ///
    /// Exits 0 when every target was met, 1 when one was missed or the run did not end, 2 on
    /// bad input.
    Report(crate::commands::report::ReportArgs),
    /// Merge the parts of a run (`run --part I/N`, in processes or on machines of their own)
    /// into one run's reports: checked to belong together, merged exactly, targets judged on
    /// the whole (docs/distributed.md).
    ///
    /// Exits 0 when every target was met, 1 when one was missed, 2 on bad input (a part of
    /// another run, missing or given twice, unreadable).
    Merge(crate::commands::merge::MergeArgs),
}

impl Default for Command {
    fn default() -> Self {
        Command::Run(RunArgs::default())
    }
}

/// The clock of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Clock {
    /// Real time and real HTTP.
    Live,
    /// Simulated time, the mock in-process: deterministic for a seed.
    Virtual,
}

/// Values laid over the scenario file before it is checked (`run`, `print-scenario`).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct OverrideArgs {
    /// Override the scenario's clock.
    #[arg(long, value_enum)]
    pub(crate) clock: Option<Clock>,
    /// Override the number of agents (`fleet.agents`).
    #[arg(long)]
    pub(crate) agents: Option<u32>,
    /// Virtual clock: run the fleet as N independent parts on N threads, each with its share
    /// of the agents and of every shared limit (`fleet.shards`; same seed and N, same report).
    #[arg(long)]
    pub(crate) shards: Option<u32>,
    /// Override how long the run lasts (`fleet.duration`), like "30s" or "5m".
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<scenario::Dur>,
    /// Override the run seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Send every LLM call to this OpenAI-compatible endpoint instead, like
    /// "http://127.0.0.1:8000/v1" (the key still comes from each provider's api_key_env).
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// Use this model name for every LLM provider.
    #[arg(long, value_parser = parse_model)]
    pub(crate) model: Option<String>,
    /// Send every LLM provider the key held by this environment variable, like
    /// "OPENAI_API_KEY" (the variable's name, never the key; `api_key_env`).
    #[arg(long, value_name = "VAR")]
    pub(crate) api_key_env: Option<String>,
    /// Add a header to every LLM provider's requests, like 'x-team: search' (repeat for
    /// more; `headers`). The value is never printed.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub(crate) headers: Vec<(String, String)>,
}

#[derive(Debug, Default, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML); the built-in default when absent.
    pub(crate) scenario: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) overrides: OverrideArgs,
    /// Write the reports into this directory (created if missing, and checked writable before
    /// the run): report.json always, plus the formats of --format.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Further report formats for --out: json, md, junit, csv (summary.csv and agents.csv),
    /// html (report.html, charts that open offline; repeat or separate with commas).
    #[arg(long, value_name = "FORMAT", value_delimiter = ',', requires = "out")]
    pub(crate) format: Vec<report::Format>,
    /// Print report.json to stdout instead of the summary (which goes to stderr), for jq.
    #[arg(long)]
    pub(crate) json: bool,
    /// The time series' interval for --out, of the run's clock, like "1s" or "250ms": each
    /// one is written to intervals.hlog and intervals.jsonl as it ends (docs/metrics.md).
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "1s", requires = "out")]
    pub(crate) interval: scenario::Dur,
    /// Print the plan of the run and exit without running it.
    #[arg(long)]
    pub(crate) plan: bool,
    /// Targets for a CI gate: a TOML file with a [targets] table, in the keys of the
    /// scenario's [targets]; the keys it sets replace the scenario's (docs/ci.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) budget: Option<PathBuf>,
    /// Serve the run's live metrics in the Prometheus text format at http://ADDR/metrics
    /// while it goes (docs/prometheus.md); port 0 picks a free one, printed on stderr.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Keep serving --metrics-listen this long after the run, so the last scrape sees its
    /// final figures (the report's counters); a signal ends the wait. Like "30s".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "metrics_listen")]
    pub(crate) metrics_linger: Option<scenario::Dur>,
    /// An HTTP agent's runtime ([agent] kind = "http"): sample the memory (RSS) of this
    /// process during the run, for its peak and memory per live session (docs/agents.md).
    #[arg(long, value_name = "PID", conflicts_with = "cgroup")]
    pub(crate) pid: Option<u32>,
    /// An HTTP agent's runtime: sample the memory of this cgroup instead (its directory under
    /// /sys/fs/cgroup, e.g. a container's, or its memory.current file).
    #[arg(long, value_name = "PATH")]
    pub(crate) cgroup: Option<PathBuf>,
    /// Run part I (from 0) of an N-part run in this process, as `--shards N` runs it on a
    /// thread, and write its part report to --out for `fleetbench merge` (docs/distributed.md).
    /// `auto/N` takes I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N", value_parser = crate::commands::part::parse_spec, conflicts_with_all = ["shards", "format"], requires = "out")]
    pub(crate) part: Option<crate::commands::part::Spec>,
    /// Live clock: start the fleet's ramp at this instant, in RFC 3339 like
    /// "2026-12-06T18:00:00Z", once the clients are ready, so parts on several machines start
    /// together (the merged report gives the spread of their actual starts).
    #[arg(long, value_name = "RFC3339", value_parser = crate::commands::part::parse_start_at)]
    pub(crate) start_at: Option<std::time::SystemTime>,
}

/// `fleetbench sweep`: the capacity search (docs/capacity.md).
#[derive(Debug, clap::Args)]
pub(crate) struct SweepArgs {
    /// Scenario file (TOML); the built-in default when absent. It runs under the virtual
    /// clock whatever its `clock`.
    pub(crate) scenario: Option<PathBuf>,
    /// What to vary and over which range: `agents=LOW..HIGH` (`fleet.agents`), or for
    /// open-loop arrivals `rate=LOW..HIGH` (`fleet.rate`, sessions/s). LOW must pass.
    #[arg(long, value_name = "VAR=LOW..HIGH")]
    pub(crate) vary: String,
    /// Stop bisecting when the largest pass and the smallest failure are this close, in the
    /// varied unit (default: 1 % of the range).
    #[arg(long, value_name = "N")]
    pub(crate) resolution: Option<f64>,
    /// Run each step as N independent parts on N threads (`fleet.shards`).
    #[arg(long)]
    pub(crate) shards: Option<u32>,
    /// Override how long each step lasts (`fleet.duration`), like "30s".
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<scenario::Dur>,
    /// Override the run seed (the same seed gives the same steps and answer).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// How to print the steps on stdout.
    #[arg(long, value_enum, default_value_t = SweepFormat::Table)]
    pub(crate) format: SweepFormat,
    /// Also write the sweep into this directory (created if missing): sweep.json and
    /// sweep.html, its chart (docs/capacity.md).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// The output of `sweep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SweepFormat {
    /// A table for people.
    Table,
    /// JSON, for CI and charts.
    Json,
}

fn parse_duration(s: &str) -> Result<scenario::Dur, String> {
    s.parse()
}

/// `--interval`: a whole number of milliseconds, at least one (the interval log's timestamps
/// are in milliseconds).
fn parse_interval(s: &str) -> Result<scenario::Dur, String> {
    let d = parse_duration(s)?;
    if d.0.is_zero() {
        return Err("an interval of zero cuts nothing; give at least 1ms, like 1s".to_owned());
    }
    if d.0.subsec_nanos() % 1_000_000 != 0 {
        return Err(
            "the interval log counts in whole milliseconds; give one like 250ms or 1s".to_owned(),
        );
    }
    Ok(d)
}

fn parse_model(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the model name is empty; give a name like \"gpt-4o-mini\"".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

/// `Name: value` of `--header`. Only the shape is checked here; the scenario's rules judge the
/// name and the value (and name the flag).
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(
            "write a header as 'NAME: VALUE', like 'x-team: search' (quote it for the shell)"
                .to_owned(),
        ),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Scenario whose [mock], [tools] and providers configure the server; the built-in default
    /// when absent.
    #[arg(long)]
    pub(crate) scenario: Option<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub(crate) port: u16,
    /// Address to bind. Loopback by default; bind another address only on a network you own.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key (the scenario's
    /// `mock.tls_cert`).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert (the scenario's `mock.tls_key`).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PrintScenarioArgs {
    /// Scenario file; the built-in default when absent.
    pub(crate) file: Option<PathBuf>,
    /// The flags `run` takes to override the file, shown in the effective scenario.
    #[command(flatten)]
    pub(crate) overrides: OverrideArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CorpusCommand {
    /// Write seeded conversations with planted facts as JSONL, one conversation a line.
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// The kind of agent: chat, coding or browse.
    #[arg(long, default_value = "coding")]
    pub(crate) profile: lab::corpus::Profile,
    /// Conversations to write.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) conversations: u32,
    /// Model calls per conversation (at least 4, so every fact kind fits).
    #[arg(long, default_value_t = 40, value_parser = parse_turns)]
    pub(crate) turns: u32,
    /// The seed: the same arguments write the same bytes.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Write the corpus to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

fn parse_turns(s: &str) -> Result<u32, String> {
    let min = lab::corpus::MIN_TURNS;
    match s.parse::<u32>() {
        Ok(n) if n as usize >= min => Ok(n),
        _ => Err(format!(
            "a conversation needs at least {min} turns to hold every fact kind; write a whole number of {min} or more"
        )),
    }
}

/// How `compress` and `compare` print their results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EvalFormat {
    /// Aligned tables for a terminal.
    Table,
    /// JSON, fields in a fixed order.
    Json,
    /// Markdown tables.
    Md,
}

/// How `compress` prints its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompressFormat {
    /// Aligned tables for a terminal.
    Table,
    /// JSON, fields in a fixed order.
    Json,
    /// Markdown tables.
    Md,
    /// CSV (RFC 4180) with a header: one line per row (and per seed, with the means).
    Csv,
    /// One self-contained HTML page: tokens saved against facts kept per strategy (the
    /// Pareto front) and the cost table; one corpus (not with --seeds).
    Html,
}

/// How tokens are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TokenizerArg {
    /// tiktoken o200k_base, exact.
    O200k,
    /// tiktoken cl100k_base, exact.
    Cl100k,
    /// Characters / 4: fast, approximate.
    Chars,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompressArgs {
    /// The corpus (JSONL): from `corpus generate`, or OpenAI `{"messages": [...]}` lines.
    /// With --seeds, a path holding `{seed}` (c-{seed}.jsonl): one file per seed.
    #[arg(long, value_name = "PATH", required_unless_present = "generate")]
    pub(crate) corpus: Option<PathBuf>,
    /// Generate the corpus in memory instead of reading --corpus: N conversations (20 when
    /// absent) of a profile (chat, coding, browse), as `corpus generate` writes them; one
    /// corpus per seed of --seeds (seed 1 without).
    #[arg(long, value_name = "PROFILE[:N]", conflicts_with = "corpus")]
    pub(crate) generate: Option<lab::eval::GenerateSpec>,
    /// Run once per seed, each on its own corpus (--generate, or --corpus with `{seed}`), and
    /// report each figure's mean and 95 % confidence interval: A..B (both included) or A,B,C.
    #[arg(long, value_name = "A..B|A,B,C")]
    pub(crate) seeds: Option<lab::eval::Seeds>,
    /// Score the retention of identifiers: the distinct matches of this regex in each
    /// original conversation (repeat for more); adds an `ids kept` column and `identifiers`
    /// to the JSON rows.
    #[arg(long = "keep-pattern", value_name = "REGEX")]
    pub(crate) keep_patterns: Vec<String>,
    /// A strategy or a pipeline joined by `+` (`observation-masking+rolling-summary`); repeat
    /// for more. Every built-in when absent; the baseline `none` is always evaluated.
    #[arg(long = "strategy", value_name = "S", value_parser = parse_pipeline)]
    pub(crate) strategies: Vec<scenario::Pipeline>,
    /// Evaluate each value of a numeric `[compression]` key as a row of its own, like
    /// keep_last=5,10,20 (repeat to cross several keys).
    #[arg(long, value_name = "KEY=A,B,C")]
    pub(crate) sweep: Vec<lab::eval::Sweep>,
    /// Evaluate an external compressor: a command speaking the JSON-lines protocol of
    /// docs/compression.md ("External compressors"), like
    /// 'keep-last=python3 examples/compressors/keep_last.py'. An optional NAME= names its row
    /// (else the command does); repeat for more. Without --strategy, only these and `none` run.
    #[arg(long = "strategy-cmd", value_name = "[NAME=]CMD")]
    pub(crate) strategy_cmds: Vec<lab::external::CommandSpec>,
    /// Seconds an external compressor may take to answer one request; one that takes longer
    /// is stopped and the run fails (exit 2).
    #[arg(
        long,
        value_name = "SECS",
        default_value = "30",
        value_parser = lab::external::parse_timeout
    )]
    pub(crate) strategy_cmd_timeout: std::time::Duration,
    /// When compression runs: tokens=N, messages=N or fraction=F (of the context window).
    #[arg(long, value_name = "KIND=N", value_parser = parse_trigger)]
    pub(crate) trigger: Option<scenario::Trigger>,
    /// After compressing, aim at this fraction of the trigger's threshold.
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    pub(crate) compact_to: Option<f64>,
    /// How tokens are counted.
    #[arg(long, value_enum)]
    pub(crate) tokenizer: Option<TokenizerArg>,
    /// Output format: csv is one tidy table of every numeric figure (docs/compression.md, "CSV").
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: CompressFormat,
    /// Leave out wall-clock figures (compressor and context-build latency), so the same corpus
    /// gives the same bytes.
    #[arg(long)]
    pub(crate) no_timing: bool,
    /// Refuse the corpus at its first bad line (exit 2 naming it) instead of skipping bad
    /// lines with a count and their reasons on stderr.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Price the rows: a preset (gpt-4o-mini, gpt-4.1, claude-sonnet: example list prices) or
    /// a TOML file of the six prices per million tokens (docs/compression.md, "The cost
    /// model"). Adds a `cost $` column and `cost_usd` to the JSON.
    #[arg(long, value_name = "NAME|FILE")]
    pub(crate) prices: Option<String>,
    /// Order the rows: `ratio` (highest first) or `cost` (cheapest first, needs --prices).
    /// Without it, rows keep the order asked for, the baseline first.
    #[arg(long, value_enum)]
    pub(crate) rank: Option<RankArg>,
    /// Who writes the summaries: the built-in `extractive` rules, or the `llm` of --llm (or
    /// the answers of --cassette).
    #[arg(long, value_enum, default_value = "extractive")]
    pub(crate) summarizer: SummarizerArg,
    /// A reader model answers, from each final context, one question per planted fact still
    /// current (a cloze of its line); adds `reader` exact and F1 per row. Needs --llm or
    /// --cassette.
    #[arg(long)]
    pub(crate) reader: bool,
    /// The models: a scenario file whose `[[llm.providers]]` are called through the shared
    /// client (keys from `api_key_env`). Summaries go to `[compression] summarizer_provider`
    /// (else the first provider), the reader to --reader-provider (else the first).
    #[arg(long, value_name = "SCENARIO")]
    pub(crate) llm: Option<PathBuf>,
    /// The provider of --llm that answers the reader.
    #[arg(long, value_name = "NAME", requires = "llm")]
    pub(crate) reader_provider: Option<String>,
    /// Record the models' answers to FILE (with --llm), or replay them from FILE without a
    /// server (without --llm; a call not on it fails the run).
    #[arg(long, value_name = "FILE")]
    pub(crate) cassette: Option<PathBuf>,
}

/// Who writes `compress`'s summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SummarizerArg {
    /// The built-in extractive rules: deterministic, offline.
    Extractive,
    /// A model: --llm's, or --cassette's recorded answers.
    Llm,
}

/// How `compress` orders its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RankArg {
    /// Highest compression ratio first.
    Ratio,
    /// Cheapest first.
    Cost,
}

/// The smallest regression that fails `compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
    /// A minor regression or worse.
    Minor,
    /// A warning or worse.
    Warning,
    /// Only a critical one.
    Critical,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("reports").required(true).args(["base_file", "base"])))]
pub(crate) struct CompareArgs {
    /// The base run's report.json (the reference, like fixtures/ci/baseline.json).
    #[arg(value_name = "BASE", requires = "new_file", conflicts_with_all = ["base", "new"])]
    pub(crate) base_file: Option<PathBuf>,
    /// The new run's report.json (the build under test).
    #[arg(value_name = "NEW")]
    pub(crate) new_file: Option<PathBuf>,
    /// A base run's report.json, instead of BASE NEW; repeat for several runs: each side's
    /// median is compared, and a change within the base runs' range is noise.
    #[arg(long = "base", value_name = "FILE", requires = "new")]
    pub(crate) base: Vec<PathBuf>,
    /// A new run's report.json; repeat for several runs.
    #[arg(long = "new", value_name = "FILE", requires = "base")]
    pub(crate) new: Vec<PathBuf>,
    /// Where the classes start, in percent of the base: minor, warning, critical (noise
    /// below minor; critical above the last).
    #[arg(long, value_name = "MINOR,WARNING,CRITICAL", default_value = "5,10,20")]
    pub(crate) thresholds: report::compare::Thresholds,
    /// The smallest regression that fails the comparison (exit 1).
    #[arg(long, value_enum, default_value = "critical")]
    pub(crate) fail_on: FailOn,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: EvalFormat,
    /// Compare the machine-dependent `process` figures too (RSS, CPU and wall time).
    #[arg(long)]
    pub(crate) include_process: bool,
    /// Compare reports of different scenarios or clocks.
    #[arg(long)]
    pub(crate) force: bool,
}

fn parse_pipeline(s: &str) -> Result<scenario::Pipeline, String> {
    s.parse()
}

fn parse_trigger(s: &str) -> Result<scenario::Trigger, String> {
    lab::eval::parse_trigger(s).map_err(|e| e.0)
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err("write a fraction in (0, 1], like 0.5".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }
}
