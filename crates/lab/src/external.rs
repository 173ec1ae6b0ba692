//! External compressors (docs/compression.md, "External compressors: the protocol"): a
//! strategy written in any language, run as a long-lived child process that reads one JSON
//! request per line on stdin and writes one JSON answer per line on stdout. It is a
//! [`Strategy`], so the lab replays it like a built-in and checks its answers against the same
//! invariants; what it cannot do is fail quietly: a crash, a malformed answer or a silence
//! longer than the timeout stops its row with an error naming the command and the request.
//!
//! One process serves a whole row: every conversation's replay sends its requests to it, in
//! order, numbered from 1. Its stderr is ours, so its own diagnostics reach the user.

use std::fmt;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use conversation::message::{Message, Origin, Role, ToolCall};
use conversation::message_units::original_tokens;
use conversation::strategy::{Ctx, Pipeline, Strategy};
use conversation::tokens::TokenCounter;
use scenario::Compression;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::corpus::{WireMessage, WireToolCall};
use crate::eval::RowSpec;

/// The protocol's version, sent in every request.
pub const PROTOCOL: u32 = 1;

/// How long a compressor may take to answer one request before it counts as hung, unless
/// `--strategy-cmd-timeout` says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `--strategy-cmd-timeout`: a day.
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// `--strategy-cmd-timeout SECS`: a positive number of seconds, at most a day.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= MAX_TIMEOUT_SECS => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "`{s}` is not a timeout: write a positive number of seconds up to \
             {MAX_TIMEOUT_SECS}, like 30 or 0.5"
        )),
    }
}

/// `--strategy-cmd [NAME=]CMD`: a command run by the shell, and the name of its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The row's name: `NAME` when given, else the command as written.
    pub name: String,
    /// The command line, run by `sh -c`.
    pub command: String,
}

impl FromStr for CommandSpec {
    type Err = String;

    /// `NAME=CMD` names the row when `NAME` is a lowercase name (letters, digits, `-`, `_`,
    /// `.`); anything else is the command whole, so `python3 x.py --k=v` and `FOO=1 cmd`
    /// (an environment assignment) stay commands.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = s.split_once('=').filter(|(name, cmd)| {
            let mut chars = name.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                })
                && !cmd.trim().is_empty()
        });
        let (name, command) = match named {
            Some((name, cmd)) => (name.to_owned(), cmd.trim().to_owned()),
            None => (s.trim().to_owned(), s.trim().to_owned()),
        };
        if command.is_empty() {
            return Err(
                "--strategy-cmd needs a command, like 'python3 examples/compressors/keep_last.py'"
                    .to_owned(),
            );
        }
        Ok(CommandSpec { name, command })
    }
}

/// Why an external compressor's row stopped.
#[derive(Debug, Error)]
pub enum ExternalError {
    /// The shell that runs it could not be started.
    #[error("--strategy-cmd `{command}`: cannot start it")]
    Start {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It crashed, answered something else than an answer line, or did not answer in time.
    #[error("--strategy-cmd `{command}`, request {request}: {reason}")]
    Failed {
        /// The command.
        command: String,
        /// The request, numbered from 1 over the whole row.
        request: u64,
        /// What went wrong, and what to do about it.
        reason: String,
    },
}

/// A running external compressor: makes the strategies of its row and keeps its first error.
#[derive(Clone, Debug)]
pub struct ExternalCommand {
    spec: CommandSpec,
    session: Arc<Mutex<Session>>,
}

impl ExternalCommand {
    /// Starts `spec`'s command; each answer may take up to `timeout`.
    pub fn start(spec: CommandSpec, timeout: Duration) -> Result<Self, ExternalError> {
        let session = Session::spawn(&spec.command, timeout)?;
        Ok(ExternalCommand {
            spec,
            session: Arc::new(Mutex::new(session)),
        })
    }

    /// Its row under `base`'s trigger, target and window.
    pub fn row(&self, base: &Compression) -> RowSpec {
        // `Strategy::name` is `'static`; one name a row, for the life of the process.
        let name: &'static str = Box::leak(self.spec.name.clone().into_boxed_str());
        let session = Arc::clone(&self.session);
        let context_window = base.context_window;
        RowSpec::custom(base, self.spec.name.clone(), move || Pipeline {
            stages: vec![Box::new(CommandStrategy {
                name,
                context_window,
                session: Arc::clone(&session),
            })],
        })
    }

    /// What stopped it, if anything did (then the row's figures are not its own: every
    /// compression after the error left the messages as they were).
    pub fn take_error(&self) -> Option<ExternalError> {
        lock(&self.session).failed.take()
    }
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    // A panic while holding the lock leaves the session usable: it has no invariant to break.
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The strategy of one replay: sends the messages, adopts the answer.
#[derive(Debug)]
pub struct CommandStrategy {
    name: &'static str,
    context_window: u32,
    session: Arc<Mutex<Session>>,
}

impl Strategy for CommandStrategy {
    fn name(&self) -> &'static str {
        self.name
    }

    fn compress(&mut self, messages: &mut Vec<Message>, ctx: &mut Ctx<'_>) {
        let mut session = lock(&self.session);
        if session.failed.is_some() {
            return;
        }
        let request = Request {
            protocol: PROTOCOL,
            messages: messages.iter().map(to_wire).collect(),
            target_tokens: ctx.target_tokens,
            context_window: self.context_window,
        };
        match session.ask(&request) {
            Ok(answer) => {
                // The compressor's own LLM calls are the summarizer's tokens of the row:
                // counted in its cumulative tokens, ratio and cost as a built-in summary's.
                if let Some(usage) = answer.usage {
                    ctx.work.summarizer_tokens_in += usage.prompt_tokens;
                    ctx.work.summarizer_tokens_out += usage.completion_tokens;
                }
                *messages = adopt(messages, &request.messages, answer.messages, ctx.counter);
            }
            Err(e) => session.failed = Some(e),
        }
    }
}

/// One request line.
#[derive(Debug, Serialize)]
struct Request {
    protocol: u32,
    messages: Vec<WireMessage>,
    target_tokens: u64,
    context_window: u32,
}

/// One answer line.
#[derive(Debug, Deserialize)]
struct Answer {
    messages: Vec<WireMessage>,
    /// The LLM tokens the compressor spent on this request, if it called one.
    #[serde(default)]
    usage: Option<Usage>,
}

/// An answer's `usage`: OpenAI's names for the tokens of the compressor's own LLM calls.
#[derive(Debug, Default, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The child process and the lines it writes.
struct Session {
    command: String,
    child: Child,
    /// Requests go through a writer thread: a compressor that stops reading must not block
    /// us past the timeout.
    to_child: Option<mpsc::Sender<Vec<u8>>>,
    lines: Receiver<String>,
    timeout: Duration,
    requests: u64,
    failed: Option<ExternalError>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("command", &self.command)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn spawn(command: &str, timeout: Duration) -> Result<Self, ExternalError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            // A group of its own, so `stop` reaches what the shell starts too.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| ExternalError::Start {
                command: command.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (to_child, requests) = mpsc::channel::<Vec<u8>>();
        thread::spawn(move || write_requests(stdin, &requests));
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Session {
            command: command.to_owned(),
            child,
            to_child: Some(to_child),
            lines,
            timeout,
            requests: 0,
            failed: None,
        })
    }

    /// Sends `request` and reads its answer line (blank lines are skipped).
    fn ask(&mut self, request: &Request) -> Result<Answer, ExternalError> {
        self.requests += 1;
        let mut line = serde_json::to_vec(request).expect("a request always serializes");
        line.push(b'\n');
        if let Some(tx) = &self.to_child {
            // A closed pipe shows as the child's exit below.
            let _ = tx.send(line);
        }
        let text = loop {
            match self.lines.recv_timeout(self.timeout) {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => break l,
                Err(RecvTimeoutError::Timeout) => {
                    self.stop();
                    return Err(self.failure(format!(
                        "no answer within {} s (--strategy-cmd-timeout); it was stopped. Answer \
                         every request with one line and flush stdout after it, or allow a slow \
                         compressor more time with --strategy-cmd-timeout SECS",
                        self.timeout.as_secs_f64()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let reason = match self.exit_status() {
                        // The shell's codes for a command it cannot find or run.
                        Some(s) if matches!(s.code(), Some(126 | 127)) => format!(
                            "it cannot start ({s}): the shell found no such command or cannot \
                             run it; its stderr above says which"
                        ),
                        Some(s) => {
                            format!("it exited ({s}) before answering; its stderr above says why")
                        }
                        None => "it closed its stdout before answering".to_owned(),
                    };
                    return Err(self.failure(reason));
                }
            }
        };
        match serde_json::from_str::<Answer>(&text) {
            Ok(answer) => Ok(answer),
            Err(e) => {
                self.stop();
                let shown: String = text.chars().take(80).collect();
                Err(self.failure(format!(
                    "the answer `{shown}` is not {{\"messages\": [...]}} on one line: {e}"
                )))
            }
        }
    }

    /// The status of a child that closed its stdout, which it is about to have: asked for a
    /// second at most, so one that lives on without stdout cannot hang us.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        for _ in 0..100 {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => return None,
            }
        }
        None
    }

    fn failure(&self, reason: String) -> ExternalError {
        ExternalError::Failed {
            command: self.command.clone(),
            request: self.requests,
            reason,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing stdin ends a well-behaved compressor; the kill ends any other, and the wait
        // reaps it.
        self.to_child = None;
        self.stop();
        let _ = self.child.wait();
    }
}

impl Session {
    /// Kills the compressor's process group: the shell and what it started (`sh -c 'python3
    /// x.py'` may run python as the shell's child), so a hung compressor does not outlive the
    /// run holding our stderr open. The shell is not reaped yet, so its id still names the
    /// group; `kill` on the shell itself backs the group kill up.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
    }
}

fn write_requests(mut stdin: ChildStdin, requests: &Receiver<Vec<u8>>) {
    for line in requests {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            break;
        }
    }
}

/// A message in the protocol's shape: OpenAI's, with the tool's `name` on tool messages.
fn to_wire(m: &Message) -> WireMessage {
    let mut w = WireMessage::text(m.role, m.content.clone());
    w.tool_calls = m
        .tool_calls
        .iter()
        .map(|c| WireToolCall::new(c.id.clone(), c.name.clone(), c.arguments.clone()))
        .collect();
    w.tool_call_id = m.tool_call_id.clone();
    w.name = m.name.clone();
    w
}

/// The messages of an answer: one identical to a message sent is that message (its origin
/// and token count kept); a tool result, or a call, rewritten in place is
/// [`Origin::Reduced`], so the invariants read it as a cut of the original; anything else is
/// new.
fn adopt(
    before: &[Message],
    sent: &[WireMessage],
    answer: Vec<WireMessage>,
    counter: &dyn TokenCounter,
) -> Vec<Message> {
    let mut used = vec![false; sent.len()];
    answer
        .into_iter()
        .map(|w| {
            if let Some(i) = (0..sent.len()).find(|&i| !used[i] && sent[i] == w) {
                used[i] = true;
                return before[i].clone();
            }
            let mut m = from_wire(&w, before, counter);
            let replaced = before.iter().find(|b| {
                b.role == m.role
                    && match m.role {
                        Role::Tool => b.tool_call_id == m.tool_call_id,
                        Role::Assistant => !m.tool_calls.is_empty() && b.tool_calls == m.tool_calls,
                        Role::System | Role::User => false,
                    }
            });
            if let Some(b) = replaced {
                m.origin = Origin::Reduced {
                    original_tokens: original_tokens(b),
                };
            }
            m
        })
        .collect()
}

fn from_wire(w: &WireMessage, before: &[Message], counter: &dyn TokenCounter) -> Message {
    match w.role {
        Role::System => Message::system(w.content.clone(), counter),
        Role::User => Message::user(w.content.clone(), counter),
        Role::Assistant => {
            let calls = w
                .tool_calls
                .iter()
                .map(|c| ToolCall {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                })
                .collect();
            Message::assistant(w.content.clone(), calls, counter)
        }
        Role::Tool => {
            let id = w.tool_call_id.clone().unwrap_or_default();
            let name = w
                .name
                .clone()
                .or_else(|| {
                    before
                        .iter()
                        .find(|b| b.tool_call_id.as_deref() == Some(&id))
                        .and_then(|b| b.name.clone())
                })
                .unwrap_or_else(|| "tool".to_owned());
            Message::tool(id, name, w.content.clone(), counter)
        }
    }
}

#[cfg(test)]
mod tests;
