//! The committed counts (`crates/instructions/baseline.json`): each benchmark's instructions,
//! with the machine and toolchain that counted them, since another compiler, valgrind or CPU
//! (its features pick code paths at run time) counts differently.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The counts a gate compares with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// What counted them, and how to count again.
    pub note: Note,
    /// Benchmark name (`function/id`) → instructions (callgrind's `Ir`) of the whole benchmark.
    pub instructions: BTreeMap<String, u64>,
}

/// Where the counts come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// How to make this file again.
    pub updated_by: String,
    /// `rustc -V`.
    pub rustc: String,
    /// `valgrind --version`.
    pub valgrind: String,
    /// The gungraun version of the summaries.
    pub gungraun: String,
    /// The CPU model (`/proc/cpuinfo`): its features choose code paths (memchr, hashing).
    pub cpu: String,
    /// The target: architecture and operating system.
    pub target: String,
}

impl Note {
    /// This machine and toolchain, with the gungraun version the summaries name.
    pub fn current(gungraun: &str) -> Self {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        Self {
            updated_by: "cargo run -p fleetbench-instructions --bin instructions-gate -- --update"
                .to_owned(),
            rustc: first_line_of(std::process::Command::new(rustc).arg("-V")),
            valgrind: first_line_of(std::process::Command::new("valgrind").arg("--version")),
            gungraun: gungraun.to_owned(),
            cpu: cpu_model(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        }
    }

    /// `rustc 1.95.0 (…), valgrind-3.19.0, gungraun 0.20.0 on <cpu>`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}, gungraun {} on {} ({})",
            self.rustc, self.valgrind, self.gungraun, self.cpu, self.target
        )
    }

    /// What differs from `other` among what changes counts: `rustc: A here, B in the baseline`.
    pub fn differences(&self, now: &Note) -> Vec<String> {
        [
            ("rustc", &self.rustc, &now.rustc),
            ("valgrind", &self.valgrind, &now.valgrind),
            ("gungraun", &self.gungraun, &now.gungraun),
            ("cpu", &self.cpu, &now.cpu),
            ("target", &self.target, &now.target),
        ]
        .into_iter()
        .filter(|(_, base, now)| base != now)
        .map(|(what, base, now)| format!("{what} is `{now}` here, `{base}` in the baseline"))
        .collect()
    }
}

/// The first line a command prints, or `unknown` when it cannot run.
fn first_line_of(command: &mut std::process::Command) -> String {
    command
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The first `model name` of /proc/cpuinfo, or `unknown`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A baseline that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// No file at the path.
    #[error(
        "no baseline at {}: make one with `cargo run -p fleetbench-instructions --bin instructions-gate -- --update`",
        path.display()
    )]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("cannot {action} the baseline {}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a baseline.
    #[error(
        "{} is not a baseline ({error}): restore it from git, or write it anew with `--update`",
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What did not parse (in the message: it says where).
        error: serde_json::Error,
    },
}

impl Baseline {
    /// Reads the baseline at `path`.
    pub fn read(path: &Path) -> Result<Self, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                BaselineError::Missing {
                    path: path.to_owned(),
                }
            } else {
                BaselineError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        Self::from_json(&text).map_err(|error| BaselineError::Invalid {
            path: path.to_owned(),
            error,
        })
    }

    /// The baseline in `text`.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Writes the baseline to `path`: pretty JSON, names sorted, a newline at the end.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(|source| BaselineError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_a_bad_file() {
        let mut b = Baseline::default();
        b.instructions
            .insert("llm_call/in_process".to_owned(), 1_234);
        let dir =
            std::env::temp_dir().join(format!("instructions-baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("baseline.json");
        b.write(&path).unwrap();
        assert_eq!(Baseline::read(&path).unwrap(), b);

        std::fs::write(&path, "{\"instructions\": 3}").unwrap();
        let err = Baseline::read(&path).unwrap_err();
        assert!(matches!(err, BaselineError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("baseline.json"), "{err}");

        let missing = dir.join("absent.json");
        let err = Baseline::read(&missing).unwrap_err();
        assert!(matches!(err, BaselineError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("--update"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
