//! Session attribution: which simulated session and turn caused each LLM and tool call that an
//! agent runtime under test makes to the mock, found without the runtime's cooperation
//! (`docs/mock.md`, "Session attribution").
//!
//! The HTTP agent driver puts a [`SessionMarker`] (`[fb:s17t3]`) in each user message. The
//! runtime copies the user's text into its prompts, so the mock finds the marker in an LLM
//! request's body ([`SessionMarker::find_last`]: the current message comes after the history
//! and its older markers); the tool calls the mock LLM plans then carry it back in every
//! string argument (`crate::args`), so the mock finds it again in the tool call's arguments.
//! Each call with a marker is recorded as an [`Observed`] under its session when its answer
//! is complete, and [`MockServer::take_observed`] hands them to the driver, in the same
//! process. Calls without a marker are only counted ([`AttributionStats`]).
//!
//! Only the HTTP routes are watched: the direct paths (`chat_direct*`, `tool_direct`) serve
//! the virtual clock, which never sees an agent runtime's traffic. With
//! [`crate::MockConfig::attribution`] off nothing is looked for, recorded or reported.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use scenario::FaultKind;

use crate::app::{MockServer, Rejection};

/// The most observations held for the driver, and the most sessions held, at once. The
/// driver drains each session after every turn and forgets it at its end, so a run holds a
/// few per live session; the bound is for what nobody drains: calls of a session that
/// arrive after it was forgotten (a runtime still working on a turn the driver gave up on),
/// or markers the driver never issued. Past it, observations are dropped and counted
/// ([`AttributionStats::dropped`]).
pub(crate) const MAX_HELD: usize = 100_000;

/// A session marker: `[fb:s{session}t{turn}]`, e.g. `[fb:s17t3]` (session and turn in
/// decimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionMarker {
    /// The simulated session, as the driver numbers them.
    pub session: u64,
    /// The turn of that session.
    pub turn: u32,
}

impl fmt::Display for SessionMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[fb:s{}t{}]", self.session, self.turn)
    }
}

impl SessionMarker {
    /// The last well-formed marker in `bytes` (a raw request body: JSON-escaped text is fine,
    /// the marker has no characters JSON escapes), or None. It scans backwards for `[`, so
    /// the bytes after the last marker are read once and nothing is allocated; malformed
    /// candidates (`[fb:sX]`, an overflowing number, no `t` or `]`) are skipped.
    pub fn find_last(bytes: &[u8]) -> Option<SessionMarker> {
        let mut end = bytes.len();
        while let Some(at) = bytes[..end].iter().rposition(|&b| b == b'[') {
            if let Some(marker) = Self::parse(&bytes[at..]) {
                return Some(marker);
            }
            end = at;
        }
        None
    }

    /// The marker `bytes` starts with, if it starts with one.
    fn parse(bytes: &[u8]) -> Option<SessionMarker> {
        let rest = bytes.strip_prefix(b"[fb:s")?;
        let (session, rest) = number(rest)?;
        let rest = rest.strip_prefix(b"t")?;
        let (turn, rest) = number(rest)?;
        rest.starts_with(b"]").then_some(())?;
        Some(SessionMarker {
            session,
            turn: u32::try_from(turn).ok()?,
        })
    }
}

/// The decimal number `bytes` starts with (at least one digit, no overflow), and the rest.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &bytes[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((n, &bytes[digits..]))
}

/// One call the runtime made, attributed to its session's turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The turn of the marker the call carried.
    pub turn: u32,
    /// What was called.
    pub call: ObservedCall,
    /// When the mock received the request (handler entry).
    pub started: Instant,
    /// When the answer was complete: a JSON body built, the last SSE event produced, the
    /// rejection returned; for a stream the client dropped early, when it was dropped.
    pub finished: Instant,
    /// What the mock injected into this call, if anything: a scenario fault, or a tool's
    /// simulated `failure_rate` failure (which wins over a fault that only delayed or cut
    /// the answer it replaced).
    pub injected: Option<Injected>,
    /// HTTP status the mock answered: 200 for answers and streams (also one a `truncate` or
    /// `malformed` fault cuts), 400/404 for a bad request or unknown tool, 429/500/503 for
    /// faults and failed tools, 0 for a reset or stall that closes the connection without a
    /// response. Over `/mcp` the status the same outcome has on `POST /tools/{name}`: 200
    /// for a result, 500 for a failed tool (an `isError` result), 429/503/0 for the faults
    /// that become the `POST /mcp`'s status or reset, 404 for an unknown tool (a JSON-RPC
    /// error).
    pub status: u16,
    /// LLM calls: prompt tokens of the planned answer (0 for tools and bad requests).
    pub tokens_in: u32,
    /// LLM calls: completion tokens of the planned answer (0 for tools and bad requests).
    pub tokens_out: u32,
}

/// What an [`Observed`] call was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObservedCall {
    /// `POST /v1/chat/completions` or `POST /v1/responses`, for `model` (empty when the
    /// request could not be read).
    Llm {
        /// The model the request named.
        model: String,
    },
    /// `POST /tools/{name}`, or `tools/call` of `name` over `/mcp`.
    Tool {
        /// The tool called.
        name: String,
    },
}

/// What the mock injected into a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// A `[[mock.faults]]` rule.
    Fault(FaultKind),
    /// The tool's simulated `failure_rate`.
    ToolFailure,
}

/// The `attribution` object of `GET /stats`, present while attribution is on: calls seen
/// with a marker and without one (unattributed: a runtime that rewrote or dropped the
/// user's text, or a tool whose arguments hold no string).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionStats {
    /// LLM requests whose body carried a marker.
    pub llm_attributed: u64,
    /// LLM requests without one.
    pub llm_unattributed: u64,
    /// Tool calls (HTTP and MCP) whose arguments carried a marker.
    pub tool_attributed: u64,
    /// Tool calls without one.
    pub tool_unattributed: u64,
    /// Attributed calls whose observation was not kept: past [`MAX_HELD`]. Left out of the
    /// body while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Observations by session, for the driver to drain.
#[derive(Debug, Default)]
struct Book {
    sessions: HashMap<u64, Vec<Observed>>,
    /// Observations in `sessions`, all together.
    held: usize,
}

/// The recorder of a mock with attribution on: counters, and the observations not yet
/// taken. One lock, taken twice per attributed call and never across an await.
#[derive(Debug, Default)]
pub(crate) struct Attribution {
    llm_attributed: AtomicU64,
    llm_unattributed: AtomicU64,
    tool_attributed: AtomicU64,
    tool_unattributed: AtomicU64,
    dropped: AtomicU64,
    book: Mutex<Book>,
}

impl Attribution {
    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while recording leaves a book that is still meaningful.
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts watching a call whose marker is looked for in `bytes`; counts it.
    pub(crate) fn watch(self: &Arc<Self>, call: ObservedCall, bytes: &[u8]) -> Watch {
        let started = Instant::now();
        let marker = SessionMarker::find_last(bytes);
        let counter = match (&call, marker.is_some()) {
            (ObservedCall::Llm { .. }, true) => &self.llm_attributed,
            (ObservedCall::Llm { .. }, false) => &self.llm_unattributed,
            (ObservedCall::Tool { .. }, true) => &self.tool_attributed,
            (ObservedCall::Tool { .. }, false) => &self.tool_unattributed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let Some(marker) = marker else {
            return Watch::off();
        };
        // The session's entry exists from its first call's start: an observation whose entry
        // is gone when it finishes belongs to a session the driver forgot, and is let go.
        let kept = {
            let mut book = self.book();
            let room = book.sessions.len() < MAX_HELD;
            if room {
                book.sessions.entry(marker.session).or_default();
            }
            room || book.sessions.contains_key(&marker.session)
        };
        Watch(Some(Recording {
            sink: self.clone(),
            kept,
            marker,
            observed: Observed {
                turn: marker.turn,
                call,
                started,
                finished: started,
                injected: None,
                status: 200,
                tokens_in: 0,
                tokens_out: 0,
            },
            finished: None,
        }))
    }

    /// Keeps an observation of `session` for the driver; `kept` is false when the session
    /// had no room when the call started.
    fn record(&self, session: u64, kept: bool, observed: Observed) {
        let mut book = self.book();
        if kept && book.held < MAX_HELD {
            // No entry: forgotten while in flight, and nobody will take it.
            if let Some(list) = book.sessions.get_mut(&session) {
                list.push(observed);
                book.held += 1;
            }
            return;
        }
        drop(book);
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn take(&self, session: u64) -> Vec<Observed> {
        let mut book = self.book();
        let taken = book
            .sessions
            .get_mut(&session)
            .map(std::mem::take)
            .unwrap_or_default();
        book.held -= taken.len();
        taken
    }

    fn forget(&self, session: u64) {
        let mut book = self.book();
        if let Some(list) = book.sessions.remove(&session) {
            book.held -= list.len();
        }
    }

    pub(crate) fn counts(&self) -> AttributionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AttributionStats {
            llm_attributed: get(&self.llm_attributed),
            llm_unattributed: get(&self.llm_unattributed),
            tool_attributed: get(&self.tool_attributed),
            tool_unattributed: get(&self.tool_unattributed),
            dropped: get(&self.dropped),
        }
    }

    /// Sessions and observations held (tests of the bound).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let book = self.book();
        (book.sessions.len(), book.held)
    }
}

/// A call being watched, or not (attribution off, no marker, a direct path): the handlers
/// note what happened to it, which is a no-op when it is not watched. Recorded when dropped,
/// so it lives as long as the answer: a handler's scope, or a stream's state.
#[derive(Debug)]
pub(crate) struct Watch(Option<Recording>);

#[derive(Debug)]
struct Recording {
    sink: Arc<Attribution>,
    /// The session had an entry (or room for one) when the call started: see
    /// [`MAX_HELD`].
    kept: bool,
    marker: SessionMarker,
    observed: Observed,
    /// Stamped by [`Watch::finish`] when the last event is produced; otherwise the drop's
    /// time.
    finished: Option<Instant>,
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.observed.finished = self.finished.unwrap_or_else(Instant::now);
        let observed = self.observed.clone();
        self.sink.record(self.marker.session, self.kept, observed);
    }
}

impl Watch {
    /// Not watched: the direct paths, and every call while attribution is off.
    pub(crate) fn off() -> Self {
        Self(None)
    }

    /// The marker of a watched call.
    pub(crate) fn marker(&self) -> Option<SessionMarker> {
        self.0.as_ref().map(|r| r.marker)
    }

    /// The planned LLM answer: its model and tokens.
    pub(crate) fn answered(&mut self, model: &str, tokens_in: u32, tokens_out: u32) {
        if let Some(r) = &mut self.0 {
            r.observed.call = ObservedCall::Llm {
                model: model.to_owned(),
            };
            r.observed.tokens_in = tokens_in;
            r.observed.tokens_out = tokens_out;
        }
    }

    /// A fault or failure the mock injected.
    pub(crate) fn inject(&mut self, injected: Injected) {
        if let Some(r) = &mut self.0 {
            r.observed.injected = Some(injected);
        }
    }

    /// The call was turned away: its status (0 for a reset).
    pub(crate) fn reject(&mut self, rejection: &Rejection) {
        if let Some(r) = &mut self.0 {
            r.observed.status = match rejection {
                Rejection::Status(reply) => reply.status.as_u16(),
                Rejection::Reset => 0,
            };
        }
    }

    /// The answer's last event was produced now.
    pub(crate) fn finish(&mut self) {
        if let Some(r) = &mut self.0 {
            r.finished.get_or_insert_with(Instant::now);
        }
    }
}

impl MockServer {
    /// Drains and returns what was observed for `session` so far, in the order the calls
    /// finished. Empty when attribution is off.
    pub fn take_observed(&self, session: u64) -> Vec<Observed> {
        self.shared
            .attribution
            .as_ref()
            .map(|a| a.take(session))
            .unwrap_or_default()
    }

    /// Forgets a session (the driver calls this when a session ends, so nothing leaks); a
    /// call of it still in flight is not recorded.
    pub fn forget_session(&self, session: u64) {
        if let Some(a) = &self.shared.attribution {
            a.forget(session);
        }
    }
}

#[cfg(test)]
mod tests;
