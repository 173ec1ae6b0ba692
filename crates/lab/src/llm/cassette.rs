//! Record and replay: a cassette is a JSON-lines file of calls and the answers a model gave
//! them, one line per distinct call (docs/compression.md, "Cassettes"). Recording asks the
//! model and appends each new answer at once (flushed: an interrupted recording keeps what it
//! got); replaying answers from the file alone and refuses a call it does not hold, so a
//! replayed report is the recorded one or an error, never a silent mix.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Llm, LlmAnswer, LlmCall, LlmError, Purpose};

/// One line of a cassette.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    call: LlmCall,
    answer: LlmAnswer,
}

/// Why a cassette cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file cannot be read or written.
    #[error("--cassette {path}: {source}; {fix}")]
    Io {
        /// The cassette.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
        /// What to do.
        fix: &'static str,
    },
    /// A line is not a recorded call.
    #[error(
        "--cassette {path}, line {line}: not a recorded call ({reason}); record the cassette again (--llm SCENARIO --cassette {path})"
    )]
    Line {
        /// The cassette.
        path: String,
        /// From 1.
        line: usize,
        /// Why.
        reason: String,
    },
}

/// A model's answers on file: replayed, or recorded from a model as they come.
pub struct Cassette {
    path: PathBuf,
    answers: HashMap<LlmCall, LlmAnswer>,
    /// Recording: the model asked for calls the cassette does not hold, and the file.
    recording: Option<(Box<dyn Llm>, BufWriter<File>)>,
    misses: u64,
}

impl std::fmt::Debug for Cassette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cassette")
            .field("path", &self.path)
            .field("answers", &self.answers.len())
            .field("recording", &self.recording.is_some())
            .finish_non_exhaustive()
    }
}

impl Cassette {
    /// The cassette at `path`, to replay: every call must be on it.
    pub fn replay(path: &Path) -> Result<Self, CassetteError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: shown.clone(),
            source,
            fix: "record one first: give --llm SCENARIO with --cassette FILE",
        })?;
        let mut answers = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Line = serde_json::from_str(line).map_err(|e| CassetteError::Line {
                path: shown.clone(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            answers.insert(parsed.call, parsed.answer);
        }
        Ok(Self {
            path: path.to_owned(),
            answers,
            recording: None,
            misses: 0,
        })
    }

    /// A new cassette at `path` (an existing file is replaced), recording what `model`
    /// answers. A call made twice is asked once: the second gets the recorded answer.
    pub fn record(path: &Path, model: Box<dyn Llm>) -> Result<Self, CassetteError> {
        let file = File::create(path).map_err(|source| CassetteError::Io {
            path: path.display().to_string(),
            source,
            fix: "give a path in a directory that exists and that you can write",
        })?;
        Ok(Self {
            path: path.to_owned(),
            answers: HashMap::new(),
            recording: Some((model, BufWriter::new(file))),
            misses: 0,
        })
    }

    /// Calls a replay was asked for and did not hold.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Distinct calls it holds.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether it holds no call.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Llm for Cassette {
    fn complete(&mut self, call: &LlmCall) -> Result<LlmAnswer, LlmError> {
        if let Some(answer) = self.answers.get(call) {
            return Ok(answer.clone());
        }
        let Some((model, file)) = &mut self.recording else {
            self.misses += 1;
            let what = match call.purpose {
                Purpose::Summary => "summary",
                Purpose::Reader => "reader",
            };
            return Err(LlmError(format!(
                "--cassette {}: no recorded answer for a {what} call ({} characters of prompt): \
                 the corpus, the strategies or the prompts changed since it was recorded; \
                 record it again with --llm SCENARIO --cassette {}",
                self.path.display(),
                call.user.len(),
                self.path.display()
            )));
        };
        let answer = model.complete(call)?;
        let line = Line {
            call: call.clone(),
            answer,
        };
        let json = serde_json::to_string(&line).expect("a recorded call serializes");
        let written = writeln!(file, "{json}").and_then(|()| file.flush());
        if let Err(e) = written {
            return Err(LlmError(format!(
                "--cassette {}: cannot write the answer: {e}; free some space or choose another path",
                self.path.display()
            )));
        }
        let Line { call, answer } = line;
        self.answers.insert(call, answer.clone());
        Ok(answer)
    }
}
