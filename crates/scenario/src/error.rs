//! Errors of reading a scenario: each names the file, the line and column, the key, the bad
//! value and what is allowed.

use std::fmt;
use std::path::PathBuf;

use crate::overrides::FlagKey;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key's path, like `llm.providers[0].limits.rpm` (empty for the whole file).
    pub key: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending value, when known.
    pub column: Option<usize>,
    /// What is wrong, with the bad value and a fix.
    pub message: String,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file `{}`", path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error("{}", render(origin, problems))]
    Invalid {
        /// The file name (or `<default>` for the embedded scenario).
        origin: String,
        /// Every problem found (syntax and type errors stop at the first one).
        problems: Vec<Problem>,
    },
    /// The file with command-line flags laid over it is not a valid scenario. A problem at a
    /// key a flag set names the flag (`command line (--agents)`), not a file position.
    #[error("{}", render_flagged(origin, flags, problems))]
    Flagged {
        /// The file name (or `<default scenario>`).
        origin: String,
        /// The keys the flags set.
        flags: Vec<FlagKey>,
        /// Every problem found (type errors stop at the first one).
        problems: Vec<Problem>,
    },
}

impl ScenarioError {
    /// The problems, when the file was read.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Read { .. } => &[],
            ScenarioError::Invalid { problems, .. } | ScenarioError::Flagged { problems, .. } => {
                problems
            }
        }
    }
}

fn render(origin: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.located(origin).to_string());
    }
    out
}

fn render_flagged(origin: &str, flags: &[FlagKey], problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = match flags.iter().find(|f| f.covers(&p.key)) {
            // The value is the flag's: the file's position of the key it replaced says nothing.
            Some(f) => Problem {
                line: None,
                column: None,
                ..p.clone()
            }
            .located(&format!("command line ({})", f.flag))
            .to_string(),
            None => p.located(origin).to_string(),
        };
        out.push_str(&line);
    }
    out
}

impl Problem {
    fn located<'a>(&'a self, origin: &'a str) -> Located<'a> {
        Located {
            origin,
            problem: self,
        }
    }
}

struct Located<'a> {
    origin: &'a str,
    problem: &'a Problem,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.problem;
        write!(f, "{}", self.origin)?;
        if let (Some(line), Some(col)) = (p.line, p.column) {
            write!(f, ":{line}:{col}")?;
        }
        if p.key.is_empty() {
            write!(f, ": {}", p.message)
        } else {
            write!(f, ": key `{}`: {}", p.key, p.message)
        }
    }
}
