//! Where a scenario comes from: a file, or the default embedded in the binary, with the
//! command line's overrides laid over it before it is checked.

use std::path::Path;

use scenario::{Loaded, Override, Scenario, ScenarioError, Setting};

use crate::args::{Clock, OverrideArgs};
use crate::output::note_line;

/// `fixtures/scenarios/default.toml`, embedded so `fleetbench` works from any directory.
pub(crate) const DEFAULT_SCENARIO: &str = include_str!("../fixtures/scenarios/default.toml");

/// Loads `path`, or the embedded default when `None`, with `flags` laid over the file before
/// it is validated, so a problem with a flag's value names the flag. Notes about how they
/// were applied go to stderr.
pub(crate) fn load(path: Option<&Path>, flags: &OverrideArgs) -> Result<Scenario, ScenarioError> {
    load_secrets(path, flags).map(|loaded| loaded.scenario)
}

/// [`load`], with the values of the environment variables the scenario refers to (or the
/// located problems of those unset), for a command that sends traffic.
pub(crate) fn load_secrets(
    path: Option<&Path>,
    flags: &OverrideArgs,
) -> Result<Loaded, ScenarioError> {
    let overrides = overrides(flags);
    let loaded = match path {
        Some(path) => scenario::load_with(path, &overrides),
        None => Scenario::from_toml_with(DEFAULT_SCENARIO, "<default scenario>", &overrides),
    }?;
    for note in &loaded.notes {
        note_line(&format!("note: {note}"));
    }
    Ok(loaded)
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
        flags
            .api_key_env
            .clone()
            .map(|var| Override::new("--api-key-env", Setting::ApiKeyEnv(var))),
    ]
    .into_iter()
    .flatten()
    .chain(flags.headers.iter().map(|(name, value)| {
        Override::new(
            "--header",
            Setting::Header {
                name: name.clone(),
                value: value.clone(),
            },
        )
    }))
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
            api_key_env: Some("FLEETBENCH_TEST_KEY".to_owned()),
            headers: vec![
                ("x-team".to_owned(), "search".to_owned()),
                ("api-key".to_owned(), "sk-flag-7".to_owned()),
            ],
        };
        let loaded = load_secrets(None, &flags).unwrap();
        // The variable is unset: the run would stop before any traffic, naming the flag.
        let err = loaded.secrets.unwrap_err().to_string();
        assert!(
            err.starts_with("command line (--api-key-env): key `llm.providers[0].api_key_env`"),
            "{err}"
        );
        assert!(err.contains("FLEETBENCH_TEST_KEY"), "{err}");
        let s = loaded.scenario;
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
            assert_eq!(p.api_key_env.as_deref(), Some("FLEETBENCH_TEST_KEY"));
            assert_eq!(
                p.headers.get("x-team"),
                Some(&scenario::Param::Plain("search".to_owned()))
            );
            assert_eq!(p.headers.len(), 2);
        }
    }

    #[test]
    fn a_bad_header_flag_names_the_flag_and_never_the_value() {
        let flags = OverrideArgs {
            headers: vec![("x-bad".to_owned(), "sk-flag-9\u{7}".to_owned())],
            ..OverrideArgs::default()
        };
        let err = load(None, &flags).unwrap_err().to_string();
        assert!(
            err.starts_with("command line (--header): key `llm.providers[0].headers.x-bad`"),
            "{err}"
        );
        assert!(!err.contains("sk-flag-9"), "{err}");
    }
}
