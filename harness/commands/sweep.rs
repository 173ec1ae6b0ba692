//! `fleetbench sweep [SCENARIO] --vary agents=LOW..HIGH`: the capacity search. Runs the
//! scenario under the virtual clock again and again, the varied setting changed each time, to
//! find the largest fleet (or arrival rate) that meets every target (docs/capacity.md).
//!
//! Modules: `vary` parses what is varied, `search` picks the steps, `table` prints them.

mod search;
mod table;
mod vary;

use std::process::ExitCode;

use anyhow::Context;
use fleet::{RunOptions, ScriptedAgent};
use metrics::{MetricKind, RunSnapshot};
use scenario::{ClockMode, Scenario};

use crate::args::{Clock, OverrideArgs, SweepArgs, SweepFormat};
use crate::output::{note_line, out};
use crate::scenario_source;

use search::{Found, Phase};
use vary::Variable;

/// One run of the sweep: the value, and what the report said about it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    /// Why it was run.
    pub(crate) phase: Phase,
    /// The varied setting's value.
    pub(crate) value: f64,
    /// Whether every target was met.
    pub(crate) passed: bool,
    /// The targets missed: key, measured, limit and unit.
    pub(crate) missed: Vec<Missed>,
    /// p95 of the agent response, ms.
    pub(crate) p95_ms: Option<f64>,
    /// Failed turns over turns.
    pub(crate) error_rate: Option<f64>,
    /// The largest part of the slowest turns' time (`breakdown.bottleneck`) and its share.
    pub(crate) bottleneck: Option<(String, f64)>,
}

/// A target a step missed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Missed {
    /// The target's key.
    pub(crate) target: String,
    /// What was measured (`None`: nothing to measure).
    pub(crate) measured: Option<f64>,
    /// `<` or `>=`.
    pub(crate) op: String,
    /// The limit.
    pub(crate) limit: f64,
    /// The unit of both.
    pub(crate) unit: &'static str,
}

pub(crate) fn run(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    // The virtual clock makes each step deterministic for the seed, and fast.
    let flags = OverrideArgs {
        clock: Some(Clock::Virtual),
        shards: args.shards,
        duration: args.duration,
        seed: args.seed,
        ..OverrideArgs::default()
    };
    let loaded = scenario_source::load_secrets(args.scenario.as_deref(), &flags)?;
    let base = loaded.scenario;
    if base.agent.is_http() {
        anyhow::bail!(
            "sweep: the scenario drives an HTTP agent ([agent] kind = \"http\"), which runs on the live clock only; sweep a scenario of scripted agents, or run the HTTP agent at each size with `fleetbench run --agents N`"
        );
    }
    let secrets = loaded.secrets?;
    let (variable, range) = vary::parse(&args.vary, args.resolution, &base)?;
    note_line(&format!(
        "sweep `{}` (seed {}, virtual clock, {} shard{}): {} from {} to {}, resolution {}",
        base.name,
        base.seed,
        base.fleet.shards,
        if base.fleet.shards == 1 { "" } else { "s" },
        variable.as_str(),
        variable.show(range.from),
        variable.show(range.to),
        variable.show(range.resolution),
    ));
    let mut steps: Vec<Step> = Vec::new();
    let found = search::search(range, |phase, value| {
        let step = run_step(&base, variable, phase, value, &secrets)?;
        note_line(&table::step_line(variable, &step));
        let passed = step.passed;
        steps.push(step);
        anyhow::Ok(passed)
    })?;
    match found {
        Found::LowerEndFails => {
            let probe = steps.first().expect("the lower end was run");
            Err(anyhow::anyhow!(
                "--vary {}: the lower end {} {} already misses {}; {}",
                args.vary,
                variable.show(probe.value),
                variable.as_str(),
                table::missed_list(&probe.missed),
                fix(variable, probe, &base)
            ))
        }
        Found::Largest { passing, failing } => {
            let json = table::json(&base, variable, range, &steps, passing, failing) + "\n";
            if let Some(dir) = &args.out {
                write_out(dir, &json)?;
            }
            let text = match args.format {
                SweepFormat::Table => table::table(variable, &steps, passing, failing),
                SweepFormat::Json => json,
            };
            out(&text).context("cannot print the sweep to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--out DIR`: sweep.json and its page, sweep.html.
fn write_out(dir: &std::path::Path, json: &str) -> anyhow::Result<()> {
    let doc: serde_json::Value = serde_json::from_str(json).context("the sweep's own JSON")?;
    let page = report::sweep_html(&doc).map_err(|e| anyhow::anyhow!("sweep.html: {e}"))?;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "--out {}: cannot create the directory; give a writable path",
            dir.display()
        )
    })?;
    for (name, content) in [("sweep.json", json), ("sweep.html", page.as_str())] {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| {
            format!(
                "--out {}: cannot write {name}; give a directory you can write to",
                dir.display()
            )
        })?;
        note_line(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// Runs the scenario once with `value`, quietly (no progress), and keeps what the table shows.
fn run_step(
    base: &Scenario,
    variable: Variable,
    phase: Phase,
    value: f64,
    secrets: &scenario::Secrets,
) -> anyhow::Result<Step> {
    let mut s = base.clone();
    variable.apply(&mut s, value);
    debug_assert_eq!(s.clock, ClockMode::Virtual);
    let origin = format!("--vary {}={}", variable.as_str(), variable.show(value));
    s.check(&origin)?;
    let options = RunOptions {
        secrets: Some(secrets.clone()),
        ..RunOptions::default()
    };
    let outcome = fleet::run(&s, |_| ScriptedAgent, options)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{origin}: the run could not start"))?;
    Ok(step(phase, value, &outcome.snapshot))
}

/// The figures of one step, from its report.
fn step(phase: Phase, value: f64, r: &RunSnapshot) -> Step {
    let missed = r
        .targets
        .iter()
        .filter(|v| !v.passed)
        .map(|v| Missed {
            target: v.target.to_string(),
            measured: v.measured,
            op: v.op.as_str().to_owned(),
            limit: v.limit,
            unit: v.unit.as_str(),
        })
        .collect();
    let p95_ms = r
        .latency
        .get(&MetricKind::AgentResponse)
        .filter(|h| h.count() > 0)
        .map(|h| h.quantile(0.95).as_secs_f64() * 1000.0);
    let bottleneck = r.breakdown.bottleneck.as_ref().map(|name| {
        let share = r.breakdown.parts.get(name).map_or(0.0, |p| p.share);
        (name.clone(), share)
    });
    Step {
        phase,
        value,
        passed: r.passed,
        missed,
        p95_ms,
        error_rate: r.error_rate,
        bottleneck,
    }
}

/// What to do when the lower end fails: a fleet-size target below the lower end is met by
/// starting the range at it; any other target by a smaller fleet or a looser limit.
fn fix(variable: Variable, probe: &Step, s: &Scenario) -> String {
    let min_agents = f64::from(s.targets.min_concurrent_agents);
    let only_size = probe
        .missed
        .iter()
        .all(|m| m.target == "min_concurrent_agents");
    if variable == Variable::Agents && only_size && min_agents > probe.value {
        return format!(
            "start the range at the fleet-size target (targets.min_concurrent_agents = {min_agents}), like --vary agents={min_agents}..HIGH"
        );
    }
    format!(
        "start the range lower (like --vary {}={}..HIGH), or loosen those targets in [targets] (or with `run --budget`) if they are stricter than you need",
        variable.as_str(),
        variable.show(if variable == Variable::Agents {
            (probe.value / 2.0).floor().max(1.0)
        } else {
            probe.value / 2.0
        })
    )
}
