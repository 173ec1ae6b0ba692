//! Where a scenario comes from: a file, or the default embedded in the binary, with the
//! command line's overrides laid over it before it is checked.

use std::path::Path;

use scenario::{Override, Scenario, ScenarioError, Setting};

use crate::args::{Clock, OverrideArgs};
use crate::output::note_line;

/// `fixtures/scenarios/default.toml`, embedded so `fleetbench` works from any directory.
pub(crate) const DEFAULT_SCENARIO: &str = include_str!("../fixtures/scenarios/default.toml");

/// Loads `path`, or the embedded default when `None`, with `flags` laid over the file before
/// it is validated, so a problem with a flag's value names the flag. Notes about how they
/// were applied go to stderr.
pub(crate) fn load(path: Option<&Path>, flags: &OverrideArgs) -> Result<Scenario, ScenarioError> {
    let overrides = overrides(flags);
    let loaded = match path {
        Some(path) => scenario::load_with(path, &overrides),
        None => Scenario::from_toml_with(DEFAULT_SCENARIO, "<default scenario>", &overrides),
    }?;
    for note in &loaded.notes {
        note_line(&format!("note: {note}"));
    }
    Ok(loaded.scenario)
}

/// The flags given, in a fixed order, each with the name it was given by.
fn overrides(flags: &OverrideArgs) -> Vec<Override> {
    let clock = flags.clock.map(|c| match c {
        Clock::Live => scenario::ClockMode::Live,
        Clock::Virtual => scenario::ClockMode::Virtual,
    });
    [
        clock.map(|c| Override::new("--clock", Setting::Clock(c))),
        flags
            .agents
            .map(|n| Override::new("--agents", Setting::Agents(n))),
        flags
            .shards
            .map(|n| Override::new("--shards", Setting::Shards(n))),
        flags
            .duration
            .map(|d| Override::new("--duration", Setting::Duration(d))),
        flags
            .seed
            .map(|n| Override::new("--seed", Setting::Seed(n))),
        flags
            .base_url
            .clone()
            .map(|url| Override::new("--base-url", Setting::BaseUrl(url))),
        flags
            .model
            .clone()
            .map(|m| Override::new("--model", Setting::Model(m))),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_large() {
        let s = load(None, &OverrideArgs::default()).unwrap();
        assert!(s.fleet.agents >= 2000);
        assert!(!s.tools.is_empty());
    }

    #[test]
    fn flags_replace_the_files_values_before_it_is_checked() {
        let flags = OverrideArgs {
            clock: Some(Clock::Virtual),
            agents: Some(3),
            shards: Some(3),
            duration: Some(scenario::Dur::secs(5)),
            seed: Some(u64::MAX),
            base_url: Some("http://127.0.0.1:8000/v1".to_owned()),
            model: Some("m".to_owned()),
        };
        let s = load(None, &flags).unwrap();
        assert_eq!(s.clock, scenario::ClockMode::Virtual);
        assert_eq!((s.fleet.agents, s.fleet.shards), (3, 3));
        assert_eq!(s.fleet.duration, Some(scenario::Dur::secs(5)));
        assert_eq!(s.seed, u64::MAX);
        for p in &s.llm.providers {
            assert_eq!(
                p.base_url,
                scenario::Endpoint::Url("http://127.0.0.1:8000/v1".to_owned())
            );
            assert_eq!(p.model, "m");
        }
    }
}
