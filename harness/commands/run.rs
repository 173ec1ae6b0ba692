//! `fleetbench run [SCENARIO]`: runs the fleet, shows progress, writes the reports, prints the
//! summary, and exits 0 when every target passed, 1 when one failed, 2 on bad input, 3 when a
//! signal stopped it (docs/cli.md).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fleet::{Progress, RunOptions, ScriptedAgent, StopReason};
use metrics::RunSnapshot;
use scenario::{Arrival, ClockMode, Endpoint, Scenario};
use tokio_util::sync::CancellationToken;

use crate::args::RunArgs;
use crate::commands::{part, runtime};
use crate::output::{note, note_line, out};
use crate::{scenario_source, signals};

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = scenario_source::load_secrets(args.scenario.as_deref(), &args.overrides)?;
    let mut scenario = loaded.scenario;
    if let Some(path) = &args.budget {
        apply_budget(&mut scenario, path)?;
    }
    // `--part`: the index resolved and the split checked now, before any traffic.
    let part = match args.part {
        Some(spec) => {
            let part = spec.resolve(std::env::var(part::INDEX_VAR).ok())?;
            part::check(&scenario, part, args.start_at)?;
            Some(part)
        }
        None => None,
    };
    if args.plan {
        out(&plan(&scenario)).context("cannot print the plan to stdout")?;
        return Ok(ExitCode::SUCCESS);
    }
    // An unset variable (`api_key_env`, `{ env = "VAR" }`) fails now, before any traffic.
    let secrets = loaded.secrets?;
    // So does a runtime whose memory cannot be read (`--pid`, `--cgroup`).
    let memory = runtime::memory_source(args, &scenario)?;
    // A bad --out fails now, not after the run.
    if let Some(dir) = &args.out {
        check_writable(dir)?;
    }
    let (interval, on_interval, intervals) = match part {
        // A part keeps its time series for its part report; the merge writes the run's log.
        Some(_) => {
            let (every, on_interval, kept) = part::keep_intervals(args.interval.0);
            (every, Some(on_interval), Some(kept))
        }
        None => {
            let (every, on_interval) = interval_log(args, &scenario)?;
            (every, on_interval, None)
        }
    };
    // So does a --metrics-listen that cannot be bound; the endpoint serves until we return.
    let live = fleet::LiveWatch::new();
    let metrics = metrics_endpoint(args, &live)?;
    // Signals are caught before the plan is printed: once it is, a signal stops the run with
    // its report instead of killing it.
    let interrupt = CancellationToken::new();
    signals::stop_run_on_signal(interrupt.clone());
    note(&plan(&scenario));
    if let (Some(p), Some(dir)) = (part, &args.out) {
        note_line(&format!(
            "  part:    {} of {} (its share of the agents, rates, stop counts and limits); its part report goes to {}",
            p.index,
            p.of,
            dir.join(part::file_name(p.index, p.of)).display()
        ));
    }
    let progress = ProgressView::new(&scenario);
    let options = RunOptions {
        interrupt: interrupt.clone(),
        progress_every: progress.every,
        progress: Some(progress.callback()),
        secrets: Some(secrets),
        live: args.metrics_listen.is_some().then_some(live),
        interval,
        on_interval,
        part,
        start_at: args.start_at,
        ..RunOptions::default()
    };
    let outcome = if scenario.agent.is_http() {
        runtime::run(&scenario, options, memory)
    } else {
        fleet::run(&scenario, |_| ScriptedAgent, options).map_err(anyhow::Error::from)
    }
    .context("the run could not start")?;
    progress.finish();
    if let Some(part) = part {
        return part::finish(args, &scenario, part, outcome, intervals);
    }
    let snapshot = outcome.snapshot;
    // The reports first: whatever happens to stdout, they are on disk.
    let written = match &args.out {
        Some(dir) => write_reports(dir, &snapshot, &args.format),
        None => Ok(()),
    };
    let printed = if args.json {
        note(&report::terminal(&snapshot));
        out(&report::json(&snapshot)).context("cannot print report.json to stdout")
    } else {
        out(&report::terminal(&snapshot)).context("cannot print the summary to stdout")
    };
    written?;
    printed?;
    if let (Some(server), Some(wait)) = (&metrics, args.metrics_linger) {
        server.linger(wait.0, &interrupt);
    }
    Ok(if outcome.stop == StopReason::Interrupted {
        signals::interrupted()
    } else if snapshot.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// With --out, the time series written as it happens (`report::interval_log`): the interval
/// and what writes each one. A write that fails is said once and the run goes on without it.
fn interval_log(
    args: &RunArgs,
    scenario: &Scenario,
) -> anyhow::Result<(Duration, Option<fleet::IntervalFn>)> {
    let every = if args.interval.0.is_zero() {
        Duration::from_secs(1)
    } else {
        args.interval.0
    };
    let Some(dir) = &args.out else {
        return Ok((every, None));
    };
    let header = report::interval_log::LogHeader::new(scenario, every);
    let log = report::interval_log::IntervalLog::create(dir, &header).with_context(|| {
        format!(
            "--out {}: cannot create the interval log; give a directory you can write to",
            dir.display()
        )
    })?;
    let log = std::sync::Mutex::new(Some(log));
    let write: fleet::IntervalFn = Arc::new(move |interval: &metrics::Interval| {
        let mut log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(writer) = log.as_mut()
            && let Err(err) = writer.append(interval)
        {
            note_line(&format!(
                "warning: {}: cannot write the interval log ({err}); the run goes on without it",
                writer.path().display()
            ));
            *log = None;
        }
    });
    Ok((every, Some(write)))
}

/// `--metrics-listen`: the Prometheus endpoint, bound now, its address on stderr.
fn metrics_endpoint(
    args: &RunArgs,
    live: &fleet::LiveWatch,
) -> anyhow::Result<Option<crate::prometheus::MetricsServer>> {
    let Some(addr) = args.metrics_listen else {
        return Ok(None);
    };
    let server = crate::prometheus::MetricsServer::start(addr, live.clone())?;
    note_line(&format!("metrics: http://{}/metrics", server.addr));
    Ok(Some(server))
}

/// Creates `dir` and writes and removes a probe file in it, so a directory the reports cannot
/// be written to fails before the run, not after it (creating a directory that exists
/// succeeds even when it is read-only).
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "--out {}: cannot create the directory; give a writable path",
            dir.display()
        )
    })?;
    let probe = dir.join(format!(".fleetbench-probe-{}", std::process::id()));
    std::fs::File::create(&probe).with_context(|| {
        format!(
            "--out {}: cannot write a file in the directory; give a directory you can write to, or make this one writable",
            dir.display()
        )
    })?;
    std::fs::remove_file(&probe).with_context(|| {
        format!(
            "--out {}: cannot remove the probe file {}; give a directory you can write to",
            dir.display(),
            probe.display()
        )
    })
}

/// Writes the reports; if that fails, the JSON goes to the temporary directory so the run's
/// results are not lost, and the error says where.
fn write_reports(
    dir: &Path,
    snapshot: &RunSnapshot,
    formats: &[report::Format],
) -> anyhow::Result<()> {
    match report::write(dir, snapshot, formats) {
        Ok(paths) => {
            for path in paths {
                note_line(&format!("wrote {}", path.display()));
            }
            Ok(())
        }
        Err(err) => {
            let rescue: PathBuf =
                std::env::temp_dir().join(format!("fleetbench-report-{}.json", std::process::id()));
            let saved = std::fs::write(&rescue, report::json(snapshot)).is_ok();
            let err = anyhow::Error::new(err);
            Err(if saved {
                err.context(format!(
                    "--out: the report was saved to {} instead",
                    rescue.display()
                ))
            } else {
                err.context(
                    "--out: the report could not be saved; the summary on stdout is all that is left",
                )
            })
        }
    }
}

/// Progress: a bar on a terminal, a plain line now and then otherwise (or with `CI=true`).
struct ProgressView {
    bar: Option<indicatif::ProgressBar>,
    every: Duration,
    planned: Option<Duration>,
}

impl ProgressView {
    fn new(s: &Scenario) -> Self {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let tty = std::io::stderr().is_terminal() && !ci;
        let planned = s.fleet.duration.map(|d| d.0);
        let every = match (s.clock, tty) {
            // Simulated time runs fast: report every tenth of the run or every minute of it.
            (ClockMode::Virtual, _) => planned.map_or(Duration::from_secs(60), |d| {
                (d / 10).max(Duration::from_secs(1))
            }),
            (ClockMode::Live, true) => Duration::from_millis(500),
            (ClockMode::Live, false) => planned.map_or(Duration::from_secs(5), |d| {
                (d / 10).clamp(Duration::from_secs(1), Duration::from_secs(10))
            }),
        };
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(planned.map_or(0, |d| d.as_secs()));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s  {msg}",
                )
                .expect("the template is valid"),
            );
            bar
        });
        Self {
            bar,
            every,
            planned,
        }
    }

    fn callback(&self) -> fleet::ProgressFn {
        let bar = self.bar.clone();
        let planned = self.planned;
        Arc::new(move |p: &Progress| {
            let line = format!(
                "agents {} · turns {} · p95 {} · failed turns {}",
                p.alive,
                p.turns,
                report::duration(p.p95),
                p.failed_turns
            );
            match &bar {
                Some(bar) => {
                    bar.set_position(p.elapsed.as_secs());
                    bar.set_message(line);
                }
                None => {
                    let of = planned
                        .map(|d| format!("/{}s", d.as_secs()))
                        .unwrap_or_default();
                    note_line(&format!("[{}s{of}] {line}", p.elapsed.as_secs()));
                }
            }
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A short description of what a scenario will do.
/// What a provider sends besides the body, for the plan: the key's variable and the headers'
/// names, never a value.
fn credentials(
    api_key_env: Option<&str>,
    headers: &std::collections::BTreeMap<String, scenario::Param>,
) -> String {
    let mut parts = Vec::new();
    if let Some(var) = api_key_env {
        parts.push(format!("key from ${var}"));
    }
    if !headers.is_empty() {
        let names: Vec<&str> = headers.keys().map(String::as_str).collect();
        parts.push(format!("headers {}", names.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join("; "))
    }
}

fn plan(s: &Scenario) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let f = &s.fleet;
    let shards = if f.shards > 1 {
        format!(", {} shards", f.shards)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "scenario `{}` (seed {}, {:?} clock{shards})",
        s.name, s.seed, s.clock
    );
    let stop = [
        f.duration.map(|d| format!("after {d}")),
        f.max_sessions.map(|n| format!("after {n} sessions")),
        f.max_turns.map(|n| format!("after {n} turns")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" or ");
    match f.arrival {
        Arrival::Closed => {
            let _ = writeln!(
                out,
                "  fleet:   {} agents, ramped up over {}, stop {stop}",
                f.agents, f.ramp_up
            );
        }
        open => {
            let rate = f.rate.map_or(0.0, |r| r.0);
            let _ = writeln!(
                out,
                "  fleet:   open loop ({open:?}), {rate} sessions/s, at most {} at once, stop {stop}",
                f.agents
            );
        }
    }
    if s.agent.is_http() {
        let a = &s.agent;
        let _ = writeln!(
            out,
            "  agent:   the runtime at {} ({} shape{}){}; its LLM and tools: the embedded mock on {}",
            a.url.as_deref().unwrap_or_default(),
            a.shape.as_str(),
            if a.stream { ", streamed" } else { "" },
            credentials(a.api_key_env.as_deref(), &a.headers),
            s.mock
                .listen
                .map_or("a free port of 127.0.0.1".to_owned(), |l| l.to_string())
        );
    }
    for p in s.llm.providers.iter().filter(|_| !s.agent.is_http()) {
        let at = match &p.base_url {
            Endpoint::Embedded => "the embedded mock".to_owned(),
            Endpoint::Url(url) => url.clone(),
        };
        let rpm = p
            .limits
            .rpm
            .map_or("unlimited".to_owned(), |r| r.to_string());
        let _ = writeln!(
            out,
            "  llm:     `{}` model `{}` at {at}{}; rpm {rpm}, {} in flight{}",
            p.name,
            p.model,
            match p.api {
                scenario::Api::Chat => "",
                scenario::Api::Responses => " (Responses API)",
            },
            p.limits.max_in_flight,
            credentials(p.api_key_env.as_deref(), &p.headers)
        );
    }
    let tools: Vec<&str> = s.tools.keys().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "  tools:   {}",
        if tools.is_empty() {
            "none".to_owned()
        } else {
            tools.join(", ")
        }
    );
    let _ = writeln!(out, "  compress: {}", s.compression.strategy);
    let t = &s.targets;
    let _ = writeln!(
        out,
        "  targets: agent response p95 < {}, tool p90 < {}, context build p99 < {}, >= {} agents, < {} per agent, errors < {}%",
        t.agent_response_p95,
        t.tool_call_p90,
        t.context_build_p99,
        t.min_concurrent_agents,
        t.agent_memory,
        t.error_rate.0 * 100.0
    );
    out
}

/// Lays the budget file's `[targets]` over the scenario's, key by key (docs/ci.md).
pub(crate) fn apply_budget(s: &mut Scenario, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "--budget {}: cannot read the file; give a TOML file with a [targets] table (docs/ci.md)",
            path.display()
        )
    })?;
    let budget = scenario::budget::Budget::from_toml(&text, &path.display().to_string())
        .context("--budget")?;
    budget.apply(&mut s.targets);
    // The budget was checked on its own; the rules across its targets and the scenario too.
    s.check(&format!("--budget {}", path.display()))?;
    let keys: Vec<&str> = budget.keys().iter().map(|k| k.as_str()).collect();
    note_line(&format!(
        "budget {}: sets {}",
        path.display(),
        if keys.is_empty() {
            "no target".to_owned()
        } else {
            keys.join(", ")
        }
    ));
    Ok(())
}
