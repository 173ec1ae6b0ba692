//! `fleetbench run [SCENARIO]`. The fleet runner is the next piece of work (issue 4); until it
//! lands, `run` validates the scenario and prints the plan of the run it describes.

use std::process::ExitCode;

use scenario::{Arrival, Endpoint, Scenario};

use crate::args::RunArgs;
use crate::scenario_source;

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = scenario_source::load(args.scenario.as_deref())?;
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
