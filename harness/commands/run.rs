//! `fleetbench run [SCENARIO]`. The fleet runner is the next piece of work (issue 4); until it
//! lands, `run` validates the scenario and prints the plan of the run it describes.

use std::process::ExitCode;

use anyhow::Context;
use scenario::{Arrival, ClockMode, Endpoint, Scenario};

use crate::args::{Clock, RunArgs};
use crate::scenario_source;

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut scenario = scenario_source::load(args.scenario.as_deref())?;
    apply_overrides(&mut scenario, args)?;
    print!("{}", plan(&scenario));
    println!(
        "\nThe fleet runner is not built yet: this prints the plan only. `fleetbench serve` runs the mock."
    );
    Ok(ExitCode::SUCCESS)
}

/// A short description of what a scenario will do.
fn plan(s: &Scenario) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let f = &s.fleet;
    let _ = writeln!(
        out,
        "scenario `{}` (seed {}, {:?} clock)",
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
    for p in &s.llm.providers {
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
            "  llm:     `{}` model `{}` at {at}; rpm {rpm}, {} in flight",
            p.name, p.model, p.limits.max_in_flight
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

/// Applies the command-line overrides and checks the result; errors name the flag.
pub(crate) fn apply_overrides(s: &mut Scenario, args: &RunArgs) -> anyhow::Result<()> {
    let mut flags = Vec::new();
    if let Some(clock) = args.clock {
        s.clock = match clock {
            Clock::Live => ClockMode::Live,
            Clock::Virtual => ClockMode::Virtual,
        };
    }
    if let Some(agents) = args.agents {
        s.fleet.agents = agents;
        flags.push("--agents");
    }
    if let Some(duration) = args.duration {
        s.fleet.duration = Some(duration);
        flags.push("--duration");
        if s.fleet.ramp_up > duration {
            let ramp = scenario::Dur(duration.0 / 3);
            eprintln!(
                "note: --duration {duration} is shorter than the scenario's ramp_up {}; ramping up over {ramp}",
                s.fleet.ramp_up
            );
            s.fleet.ramp_up = ramp;
        }
    }
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    if let Some(url) = &args.base_url {
        let endpoint = Endpoint::try_from(url.clone())
            .map_err(anyhow::Error::msg)
            .context("--base-url")?;
        for provider in &mut s.llm.providers {
            provider.base_url = endpoint.clone();
        }
    }
    if let Some(model) = &args.model {
        anyhow::ensure!(
            !model.is_empty(),
            "--model: the model name is empty; give a name like \"gpt-4o-mini\""
        );
        for provider in &mut s.llm.providers {
            provider.model.clone_from(model);
        }
    }
    let origin = if flags.is_empty() {
        "command line".to_owned()
    } else {
        format!("command line ({})", flags.join(", "))
    };
    s.check(&origin)?;
    Ok(())
}
