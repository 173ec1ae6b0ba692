//! Reading a scenario: TOML syntax → typed sections (unknown keys rejected, values range
//! checked) → cross-field validation. Every problem is located by line and column.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Problem, ScenarioError};
use crate::overrides::{self, FlagKey, Override};
use crate::schema::Scenario;
use crate::validate::{self, KeyPath};

impl Scenario {
    /// Parses and validates a scenario from TOML text. `origin` names the source in errors
    /// (a file path, or `<default>`).
    pub fn from_toml(src: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        Self::from_toml_with(src, origin, &[]).map(|loaded| loaded.scenario)
    }

    /// Parses a scenario from TOML text with `overrides` laid over it, then validates the
    /// result: the rules see the flags' values, and a problem at a key a flag set names the
    /// flag ([`ScenarioError::Flagged`]).
    pub fn from_toml_with(
        src: &str,
        origin: &str,
        overrides: &[Override],
    ) -> Result<Loaded, ScenarioError> {
        let invalid = |problems| ScenarioError::Invalid {
            origin: origin.to_owned(),
            problems,
        };
        let doc = DeTable::parse(src).map_err(|err| {
            invalid(vec![locate(
                src,
                err.span(),
                String::new(),
                err.message().to_owned(),
            )])
        })?;
        if doc.get_ref().is_empty() {
            return Err(invalid(vec![Problem {
                key: String::new(),
                line: None,
                column: None,
                message: "the scenario file is empty: start from `fleetbench print-scenario` or fixtures/scenarios/smoke.toml".to_owned(),
            }]));
        }
        let mut layered = doc.clone();
        let laid = overrides::lay(layered.get_mut(), overrides);
        let problems = read(src, layered, overrides).map(|mut scenario| {
            scenario.fleet.fill_stop_condition();
            let problems = validate_located(src, &doc, &scenario, overrides, &laid.keys);
            (scenario, problems)
        });
        let problems = match problems {
            Ok((scenario, problems)) if problems.is_empty() => {
                return Ok(Loaded {
                    scenario,
                    notes: laid.notes,
                });
            }
            Ok((_, problems)) => problems,
            Err(problem) => vec![problem],
        };
        Err(if overrides.is_empty() {
            invalid(problems)
        } else {
            ScenarioError::Flagged {
                origin: origin.to_owned(),
                flags: laid.keys,
                problems,
            }
        })
    }

    /// Checks the rules across fields of a scenario changed in code or by command-line flags;
    /// `origin` names where the values came from (the problems carry no file position).
    pub fn check(&self, origin: &str) -> Result<(), ScenarioError> {
        let problems: Vec<Problem> = validate::check(self)
            .into_iter()
            .map(|issue| Problem {
                key: issue.path.to_string(),
                line: None,
                column: None,
                message: issue.message,
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ScenarioError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }

    /// The effective scenario as TOML, every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario always serializes to TOML")
    }
}

/// A scenario read with command-line overrides, and what the user should know about how
/// they were applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The valid scenario.
    pub scenario: Scenario,
    /// Sentences for the user, like a ramp-up shortened to fit `--duration`.
    pub notes: Vec<String>,
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &[]).map(|loaded| loaded.scenario)
}

/// Reads a scenario file, lays `overrides` over it, and validates the result.
pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Loaded, ScenarioError> {
    let src = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    Scenario::from_toml_with(&src, &path.display().to_string(), overrides)
}

/// The typed sections of the layered document, or its first type or range error, located in
/// the file unless its value is a flag's.
fn read(
    src: &str,
    layered: Spanned<DeTable<'_>>,
    overrides: &[Override],
) -> Result<Scenario, Problem> {
    let de = toml::de::Deserializer::from(layered);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = clean_path(&err.path().to_string());
        let inner = err.into_inner();
        // A layered value's span is empty (the flag's value has no place in the file).
        let span = inner
            .span()
            .filter(|s| overrides.is_empty() || !s.is_empty());
        locate(src, span, key, inner.message().to_owned())
    })
}

/// The cross-field problems of `scenario`, each located at the deepest part of its key the
/// file holds. A problem at no flag's key, found with flags given, says which: the file alone
/// may be valid.
fn validate_located(
    src: &str,
    doc: &Spanned<DeTable<'_>>,
    scenario: &Scenario,
    overrides: &[Override],
    flag_keys: &[FlagKey],
) -> Vec<Problem> {
    let with = overrides
        .iter()
        .map(Override::shown)
        .collect::<Vec<_>>()
        .join(", ");
    validate::check(scenario)
        .into_iter()
        .map(|issue| {
            let key = issue.path.to_string();
            let mut message = issue.message;
            if !overrides.is_empty() && !flag_keys.iter().any(|f| f.covers(&key)) {
                message.push_str(&format!(" (with {with} from the command line)"));
            }
            let span = span_of(doc.get_ref(), &issue.path);
            locate(src, span, key, message)
        })
        .collect()
}

/// serde_path_to_error writes `?` for the root and for unknown positions; drop them.
fn clean_path(path: &str) -> String {
    if path == "." || path == "?" {
        String::new()
    } else {
        path.trim_end_matches(".?").to_owned()
    }
}

fn locate(
    src: &str,
    span: Option<std::ops::Range<usize>>,
    key: String,
    message: String,
) -> Problem {
    let (line, column) = match span {
        Some(span) => {
            let (l, c) = line_col(src, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    Problem {
        key,
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..src.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The span of the deepest part of `path` present in the document (a default that is wrong
/// in combination points at its section).
fn span_of(root: &DeTable<'_>, path: &KeyPath) -> Option<std::ops::Range<usize>> {
    let mut span = None;
    let mut table = Some(root);
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for seg in &path.0 {
        let value = match (seg, table, array) {
            (validate::Seg::Key(k), Some(t), _) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                .map(|(_, v)| v),
            (validate::Seg::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(value) = value else { break };
        span = Some(value.span());
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, src.find('=').unwrap()), (1, 3));
        // `bé = 2`: the `=` is the fourth character but the fifth byte of its line.
        assert_eq!(line_col(src, 10), (2, 4));
    }
}
