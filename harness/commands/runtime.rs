//! `fleetbench run` with `[agent] kind = "http"`: the runtime under test. The embedded mock
//! (attribution on) is made here and handed to the run, so the driver reads what it
//! attributes; its address is printed once it listens; the runtime's memory is sampled with
//! `--pid` or `--cgroup`; after the run the driver's figures join the report.

use std::sync::Arc;

use anyhow::bail;
use fleet::{HttpDriver, MemorySource, RunOptions, RunOutcome, Sampler};
use mock::{MockConfig, MockServer};
use scenario::Scenario;

use crate::args::RunArgs;
use crate::output::note_line;

/// Where the runtime's memory is read, checked now (exit 2 before any traffic when it
/// cannot be read, or when the scenario's agents are fleetbench's own).
pub(crate) fn memory_source(args: &RunArgs, s: &Scenario) -> anyhow::Result<Option<MemorySource>> {
    let source = match (args.pid, &args.cgroup) {
        (Some(pid), _) => MemorySource::Pid(pid),
        (None, Some(path)) => MemorySource::Cgroup(path.clone()),
        (None, None) => return Ok(None),
    };
    let flag = if args.pid.is_some() {
        "--pid"
    } else {
        "--cgroup"
    };
    if !s.agent.is_http() {
        bail!(
            "{flag} samples the memory of a runtime under test, and this scenario's agents are fleetbench's own (their heap is in the report already): set [agent] kind = \"http\", or drop {flag}"
        );
    }
    if let Err(message) = source.check() {
        bail!(message);
    }
    Ok(Some(source))
}

/// Runs `scenario`'s sessions against its runtime; the outcome with the runtime's section.
pub(crate) fn run(
    scenario: &Scenario,
    mut options: RunOptions,
    memory: Option<MemorySource>,
) -> anyhow::Result<RunOutcome> {
    let mut config = MockConfig::from_scenario(scenario);
    config.attribution = true;
    let mock = MockServer::new(config);
    let driver = HttpDriver::new(mock.clone(), options.interrupt.clone());
    options.mock = Some(mock);
    options.on_mock = Some(Arc::new(|base: &str| {
        note_line(&format!(
            "mock:    listening on {base}: point the runtime's LLM base URL at {base}/v1, its tools at {base}/tools/NAME or the MCP server {base}/mcp"
        ));
    }));
    let url = scenario.agent.url.clone().unwrap_or_default();
    let sampler = memory.map(|m| Sampler::start(m, driver.live_sessions()));
    let agents = driver.clone();
    let result = fleet::run(scenario, move |_| agents.agent(), options);
    let memory_target = scenario.targets.agent_memory.0;
    let (section, split, turns) = driver.finish(&url, sampler, memory_target);
    let mut outcome = result?;
    if let Some(message) = driver.fatal() {
        bail!("{message}");
    }
    outcome.snapshot.attach_runtime(section, split, &turns);
    Ok(outcome)
}
