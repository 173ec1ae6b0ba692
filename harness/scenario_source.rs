//! Where a scenario comes from: a file, or the default embedded in the binary.

use std::path::Path;

use scenario::{Scenario, ScenarioError};

/// `fixtures/scenarios/default.toml`, embedded so `fleetbench` works from any directory.
pub(crate) const DEFAULT_SCENARIO: &str = include_str!("../fixtures/scenarios/default.toml");

/// Loads `path`, or the embedded default when `None`.
pub(crate) fn load(path: Option<&Path>) -> Result<Scenario, ScenarioError> {
    match path {
        Some(path) => scenario::load(path),
        None => Scenario::from_toml(DEFAULT_SCENARIO, "<default scenario>"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_default_is_valid_and_large() {
        let s = super::load(None).unwrap();
        assert!(s.fleet.agents >= 2000);
        assert!(!s.tools.is_empty());
    }
}
