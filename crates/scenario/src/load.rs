//! Reading a scenario: TOML syntax → typed sections (unknown keys rejected, values range
//! checked) → cross-field validation. Every problem is located by line and column.

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Problem, ScenarioError};
use crate::overrides::{self, FlagKey, Override};
use crate::schema::Scenario;
use crate::secrets::{self, Secrets};
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
        from_toml_in(src, origin, None, overrides)
    }

    /// Checks the rules across fields of a scenario changed in code or by command-line flags;
    /// `origin` names where the values came from (the problems carry no file position).
    pub fn check(&self, origin: &str) -> Result<(), ScenarioError> {
        unlocated(origin, validate::check(self))
    }

    /// The effective scenario as TOML, every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario always serializes to TOML")
    }
}

/// The error of `issues` found in values with no file position (changed in code, or read from
/// the environment), or `Ok` when there are none.
pub(crate) fn unlocated(
    origin: &str,
    issues: Vec<validate::Issue>,
) -> Result<(), crate::ScenarioError> {
    if issues.is_empty() {
        return Ok(());
    }
    Err(crate::ScenarioError::Invalid {
        origin: origin.to_owned(),
        problems: issues
            .into_iter()
            .map(|issue| crate::Problem {
                key: issue.path.to_string(),
                line: None,
                column: None,
                message: issue.message,
            })
            .collect(),
    })
}

/// [`Scenario::from_toml_with`] for a file in `dir`: its relative paths (`ca_cert`, the mock's
/// TLS files) are taken from there, not from the working directory.
fn from_toml_in(
    src: &str,
    origin: &str,
    dir: Option<&Path>,
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
        if let Some(dir) = dir {
            scenario.resolve_paths(dir);
        }
        let problems = validate_located(src, &doc, &scenario, overrides, &laid.keys);
        (scenario, problems)
    });
    let problems = match problems {
        Ok((scenario, problems)) if problems.is_empty() => {
            let (secrets, missing) = secrets::read_issues(&scenario);
            let missing = locate_issues(src, &doc, missing, overrides, &laid.keys);
            let secrets = if missing.is_empty() {
                Ok(secrets)
            } else {
                Err(error(origin, overrides, &laid.keys, missing))
            };
            return Ok(Loaded {
                scenario,
                notes: laid.notes,
                secrets,
            });
        }
        Ok((_, problems)) => problems,
        Err(problem) => vec![problem],
    };
    Err(error(origin, overrides, &laid.keys, problems))
}

/// The error of `problems` found in `origin`, with `overrides` laid over it.
fn error(
    origin: &str,
    overrides: &[Override],
    flags: &[FlagKey],
    problems: Vec<Problem>,
) -> ScenarioError {
    if overrides.is_empty() {
        ScenarioError::Invalid {
            origin: origin.to_owned(),
            problems,
        }
    } else {
        ScenarioError::Flagged {
            origin: origin.to_owned(),
            flags: flags.to_vec(),
            problems,
        }
    }
}

/// A scenario read with command-line overrides, and what the user should know about how
/// they were applied.
#[derive(Debug)]
pub struct Loaded {
    /// The valid scenario.
    pub scenario: Scenario,
    /// Sentences for the user, like a ramp-up shortened to fit `--duration`.
    pub notes: Vec<String>,
    /// The values of the environment variables the scenario refers to (`api_key_env`,
    /// `{ env = "VAR" }`), or the problems of those unset, located at the keys naming them. Only
    /// a run needs them: printing or validating a scenario does not.
    pub secrets: Result<Secrets, ScenarioError>,
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
    let dir = path.parent().unwrap_or(Path::new(""));
    from_toml_in(&src, &path.display().to_string(), Some(dir), overrides)
}

impl Scenario {
    /// Makes the relative paths a file names (`ca_cert`, the mock's TLS files) relative to
    /// `dir`, the file's directory.
    fn resolve_paths(&mut self, dir: &Path) {
        let resolve = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = dir.join(&*path);
            }
        };
        for p in &mut self.llm.providers {
            resolve(&mut p.ca_cert);
        }
        for t in self.tools.values_mut() {
            resolve(&mut t.ca_cert);
        }
        resolve(&mut self.agent.ca_cert);
        resolve(&mut self.mock.tls_cert);
        resolve(&mut self.mock.tls_key);
    }
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
        let message = explain(&key, inner.message());
        locate(src, span, key, message)
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
    locate_issues(src, doc, validate::check(scenario), overrides, flag_keys)
}

/// `issues` located at the deepest part of their key the file holds (see
/// [`validate_located`]).
fn locate_issues(
    src: &str,
    doc: &Spanned<DeTable<'_>>,
    issues: Vec<validate::Issue>,
    overrides: &[Override],
    flag_keys: &[FlagKey],
) -> Vec<Problem> {
    let with = overrides
        .iter()
        .map(Override::shown)
        .collect::<Vec<_>>()
        .join(", ");
    issues
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

/// The type checker's message, or a better one for a key that belongs elsewhere.
fn explain(key: &str, message: &str) -> String {
    let on_tool =
        key.starts_with("tools.") && key.ends_with(".api") && key.matches('.').count() == 2;
    if on_tool && message.starts_with("unknown field `api`") {
        return "unknown field `api`: `api = \"responses\"` chooses an LLM provider's API ([[llm.providers]]); a tool is called with a plain POST of its arguments: remove it".to_owned();
    }
    message.to_owned()
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
