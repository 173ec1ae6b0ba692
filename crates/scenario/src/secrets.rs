//! Values a run takes from the environment: API keys (`api_key_env`) and header or query
//! values written `{ env = "VAR" }`. They are read once, before any traffic, in one place,
//! so a missing variable is a located error (exit 2) and the clients are handed the values
//! explicitly instead of reading the environment themselves. A [`Secret`] never shows its
//! value in `Debug` or `Display`.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::ScenarioError;
use crate::schema::{Param, Scenario};
use crate::validate::{Issue, KeyPath};

/// A value taken from the environment: a key or a secret header or query value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, to send: never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The environment's values a scenario refers to, by variable name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<String, Secret>);

impl Secrets {
    /// No values (a scenario that refers to no variable needs nothing else).
    pub fn new() -> Self {
        Self::default()
    }

    /// Values given in code, as `(variable, value)` pairs (tests, embedding programs).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), Secret::new(v)))
                .collect(),
        )
    }

    /// The value of every variable `scenario` refers to, from the process environment; a
    /// variable that is unset or not UTF-8 is a problem naming the key that refers to it.
    pub fn read(scenario: &Scenario) -> Result<Secrets, ScenarioError> {
        let (secrets, issues) = read_issues(scenario);
        crate::load::unlocated("the environment", issues).map(|()| secrets)
    }

    /// The value of `var`, when it was read.
    pub fn get(&self, var: &str) -> Option<&Secret> {
        self.0.get(var)
    }

    /// The value a header or query [`Param`] stands for: its own, or its variable's.
    pub fn resolve<'a>(&'a self, param: &'a Param) -> Option<&'a str> {
        match param {
            Param::Plain(v) => Some(v),
            Param::Env(var) => self.get(var).map(Secret::expose),
        }
    }
}

/// Every variable `s` refers to, with the key that names it.
pub(crate) fn references(s: &Scenario) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    let endpoints = s
        .llm
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = KeyPath::parse("llm.providers").index(i);
            (at, &p.api_key_env, &p.headers, &p.query)
        })
        .chain(s.tools.iter().map(|(name, t)| {
            let at = KeyPath::parse("tools").key(name);
            (at, &t.api_key_env, &t.headers, &t.query)
        }))
        .chain(s.agent.is_http().then(|| {
            let a = &s.agent;
            (
                KeyPath::parse("agent"),
                &a.api_key_env,
                &a.headers,
                &a.query,
            )
        }));
    for (at, key, headers, query) in endpoints {
        if let Some(var) = key {
            out.push((at.key("api_key_env"), var.clone()));
        }
        for (table, params) in [("headers", headers), ("query", query)] {
            for (name, param) in params {
                if let Param::Env(var) = param {
                    out.push((at.key(table).key(name).key("env"), var.clone()));
                }
            }
        }
    }
    out
}

/// The values of the variables `s` refers to, and a problem for each one unreadable.
pub(crate) fn read_issues(s: &Scenario) -> (Secrets, Vec<Issue>) {
    let mut secrets = BTreeMap::new();
    let mut issues = Vec::new();
    for (path, var) in references(s) {
        match std::env::var(&var) {
            Ok(value) => {
                secrets.insert(var, Secret::new(value));
            }
            Err(std::env::VarError::NotPresent) => issues.push(Issue {
                path,
                message: format!(
                    "environment variable `{var}` is not set: export it before the run (`export {var}=...`), or remove the key for a server that needs no credential"
                ),
            }),
            Err(std::env::VarError::NotUnicode(_)) => issues.push(Issue {
                path,
                message: format!(
                    "environment variable `{var}` holds bytes that are not UTF-8, which no HTTP header can carry: set it to the plain text of the credential"
                ),
            }),
        }
    }
    (Secrets(secrets), issues)
}
