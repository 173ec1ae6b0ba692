//! Budgets: a file holding only a `[targets]` table, laid over a scenario's targets for a CI
//! gate (`fleetbench run --budget FILE`). The keys are exactly the scenario's `[targets]`
//! keys, read and checked by the scenario loader itself, so a budget's errors carry the same
//! file, line, column, key and fix as a scenario's.

use toml::de::{DeTable, DeValue};

use crate::error::{Problem, ScenarioError};
use crate::schema::targets::StatedTarget;
use crate::schema::{Scenario, Targets};

/// A key of `[targets]`: a stated target, or the list of extra ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKey {
    /// A target with its own key, spelled as [`StatedTarget`] spells it.
    Stated(StatedTarget),
    /// `extra`: the list of further latency targets, replaced as a whole.
    Extra,
    /// `figure`: the list of targets on any figure, replaced as a whole.
    Figure,
}

impl TargetKey {
    /// The key as written in a file.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKey::Stated(t) => t.as_str(),
            TargetKey::Extra => "extra",
            TargetKey::Figure => "figure",
        }
    }

    fn parse(name: &str) -> Option<TargetKey> {
        match name {
            "extra" => Some(TargetKey::Extra),
            "figure" => Some(TargetKey::Figure),
            _ => StatedTarget::parse(name).map(TargetKey::Stated),
        }
    }
}

/// A budget: the targets it sets, and which keys it set (the others keep the scenario's).
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    targets: Targets,
    keys: Vec<TargetKey>,
}

impl Budget {
    /// Parses a budget from TOML text: one `[targets]` table and nothing else. `origin` names
    /// the source in errors (the file path).
    pub fn from_toml(src: &str, origin: &str) -> Result<Budget, ScenarioError> {
        let invalid = |key: &str, span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span.map_or((None, None), |s| {
                let (l, c) = line_col(src, s.start);
                (Some(l), Some(c))
            });
            ScenarioError::Invalid {
                origin: origin.to_owned(),
                problems: vec![Problem {
                    key: key.to_owned(),
                    line,
                    column,
                    message,
                }],
            }
        };
        let doc =
            DeTable::parse(src).map_err(|err| invalid("", err.span(), err.message().to_owned()))?;
        let mut table = None;
        for (key, value) in doc.get_ref() {
            let name: &str = key.get_ref().as_ref();
            if name != "targets" {
                return Err(invalid(
                    name,
                    Some(key.span()),
                    format!(
                        "a budget holds only a [targets] table, not `{name}`; move the scenario's other settings to the scenario file"
                    ),
                ));
            }
            table = Some(value);
        }
        let Some(table) = table else {
            return Err(invalid(
                "targets",
                None,
                "the budget has no [targets] table; write one, like `[targets]` then `agent_response_p95 = \"2s\"`".to_owned(),
            ));
        };
        let DeValue::Table(targets) = table.get_ref() else {
            return Err(invalid(
                "targets",
                Some(table.span()),
                "`targets` must be a table; write `[targets]` then one key a line, like `agent_response_p95 = \"2s\"`".to_owned(),
            ));
        };
        // The scenario loader reads `[targets]` with every other section at its default:
        // unknown keys, bad values and the cross-field rules are its own, with its messages.
        let scenario = Scenario::from_toml(src, origin)?;
        let mut keys: Vec<TargetKey> = targets
            .iter()
            .map(|(k, _)| {
                TargetKey::parse(k.get_ref().as_ref())
                    .expect("the scenario loader rejects keys `Targets` does not have")
            })
            .collect();
        keys.sort_unstable();
        Ok(Budget {
            targets: scenario.targets,
            keys,
        })
    }

    /// The keys the budget sets, in the order of `[targets]` ([`StatedTarget::ALL`], then
    /// `extra`, then `figure`).
    pub fn keys(&self) -> &[TargetKey] {
        &self.keys
    }

    /// The budget's targets; keys it does not set are at their defaults.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Sets the keys the budget sets in `targets`; the other keys keep their values.
    pub fn apply(&self, targets: &mut Targets) {
        let b = &self.targets;
        for key in &self.keys {
            match key {
                TargetKey::Stated(StatedTarget::AgentResponseP95) => {
                    targets.agent_response_p95 = b.agent_response_p95;
                }
                TargetKey::Stated(StatedTarget::ToolCallP90) => {
                    targets.tool_call_p90 = b.tool_call_p90
                }
                TargetKey::Stated(StatedTarget::ContextBuildP99) => {
                    targets.context_build_p99 = b.context_build_p99;
                }
                TargetKey::Stated(StatedTarget::MinConcurrentAgents) => {
                    targets.min_concurrent_agents = b.min_concurrent_agents;
                }
                TargetKey::Stated(StatedTarget::AgentMemory) => {
                    targets.agent_memory = b.agent_memory
                }
                TargetKey::Stated(StatedTarget::ErrorRate) => targets.error_rate = b.error_rate,
                TargetKey::Stated(StatedTarget::HarnessNotSaturated) => {
                    targets.harness_not_saturated = b.harness_not_saturated;
                }
                TargetKey::Extra => targets.extra.clone_from(&b.extra),
                TargetKey::Figure => targets.figure.clone_from(&b.figure),
            }
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..src.floor_char_boundary(offset.min(src.len()))];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bytes, Dur, LatencyMetric};

    fn error(src: &str) -> String {
        Budget::from_toml(src, "budget.toml")
            .expect_err("the budget is invalid")
            .to_string()
    }

    #[test]
    fn sets_only_the_keys_it_names() {
        let b = Budget::from_toml(
            "[targets]\nagent_memory = \"2MB\"\nagent_response_p95 = \"750ms\"\n",
            "budget.toml",
        )
        .unwrap();
        assert_eq!(
            b.keys(),
            [
                TargetKey::Stated(StatedTarget::AgentResponseP95),
                TargetKey::Stated(StatedTarget::AgentMemory)
            ]
        );
        let mut t = Targets {
            min_concurrent_agents: 20,
            tool_call_p90: Dur::secs(1),
            ..Targets::default()
        };
        b.apply(&mut t);
        assert_eq!(t.agent_memory, Bytes(2_000_000));
        assert_eq!(t.agent_response_p95, Dur::millis(750));
        assert_eq!(t.min_concurrent_agents, 20, "kept the scenario's");
        assert_eq!(t.tool_call_p90, Dur::secs(1), "kept the scenario's");
    }

    #[test]
    fn every_key_of_targets_is_a_budget_key() {
        // `harness_not_saturated` was once missing here: a budget setting it panicked.
        let b =
            Budget::from_toml("[targets]\nharness_not_saturated = true\n", "budget.toml").unwrap();
        assert_eq!(
            b.keys(),
            [TargetKey::Stated(StatedTarget::HarnessNotSaturated)]
        );
        let mut t = Targets::default();
        b.apply(&mut t);
        assert!(t.harness_not_saturated);
        for key in StatedTarget::ALL {
            assert_eq!(TargetKey::parse(key.as_str()), Some(TargetKey::Stated(key)));
        }
    }

    #[test]
    fn extra_targets_replace_the_scenario_list() {
        let b = Budget::from_toml(
            "[[targets.extra]]\nmetric = \"ttft\"\npercentile = 99.0\nmax = \"1s\"\n",
            "budget.toml",
        )
        .unwrap();
        let mut t = Targets::default();
        b.apply(&mut t);
        assert_eq!(t.extra.len(), 1);
        assert_eq!(t.extra[0].metric, LatencyMetric::Ttft);
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_value() {
        let e = error("[targets]\nagent_respons_p95 = \"1s\"\n");
        assert!(
            e.starts_with("budget.toml:2:1: key `targets.agent_respons_p95`: unknown field"),
            "{e}"
        );
        let e = error("[targets]\nerror_rate = 5\n");
        assert!(
            e.contains("key `targets.error_rate`") && e.contains('5'),
            "{e}"
        );
        let e = error("[targets]\ntool_call_p90 = \"fast\"\n");
        assert!(e.contains("`fast`") && e.contains("like \"250ms\""), "{e}");
        let e = error("[[targets.extra]]\nmetric = \"ttft\"\npercentile = 120.0\nmax = \"1s\"\n");
        assert!(e.contains("percentile") && e.contains("120"), "{e}");
    }

    #[test]
    fn figure_targets_replace_the_scenario_list() {
        let b = Budget::from_toml(
            "[[targets.figure]]\nname = \"retries_per_call\"\nmax = 0.2\n",
            "budget.toml",
        )
        .unwrap();
        assert_eq!(b.keys(), [TargetKey::Figure]);
        let mut t = Targets::default();
        b.apply(&mut t);
        assert_eq!(t.figure.len(), 1);
        assert_eq!(t.figure[0].name, "retries_per_call");
        // The scenario loader's checks: an unknown figure is a located error.
        let e = error("[targets]\n[[targets.figure]]\nname = \"retry_per_call\"\nmax = 0.2\n");
        assert!(
            e.starts_with("budget.toml:3:") && e.contains("key `targets.figure[0].name`"),
            "{e}"
        );
        assert!(e.contains("did you mean retries_per_call"), "{e}");
    }

    #[test]
    fn only_a_targets_table() {
        let e = error("[fleet]\nagents = 3\n");
        assert!(
            e.starts_with("budget.toml:1:2: key `fleet`: a budget holds only a [targets] table"),
            "{e}"
        );
        assert!(error("").contains("no [targets] table"));
        assert!(error("# nothing\n").contains("no [targets] table"));
        assert!(error("targets = 3\n").contains("must be a table"));
        assert!(error("[targets\n").starts_with("budget.toml:1:"));
    }
}
