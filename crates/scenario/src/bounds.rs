//! The largest (and smallest) values a scenario may hold: what one fleetbench process can
//! actually do. A value outside them is rejected while the file is read, with its position,
//! instead of panicking, hanging or running out of memory later. `docs/scenario.md` (Bounds)
//! lists them with their reasons.

use crate::units::Dur;

/// Agents (closed loop) or session slots (open loop) of one process. Each agent is a task
/// with its own conversation, tally and heap account, tens of kB at the very least (the CI
/// fleet's agents peak at about half a MB); a million is already tens of GB. Beyond it, split
/// the fleet over processes.
pub const MAX_AGENTS: u32 = 1_000_000;

/// The slowest open-loop rate, sessions per second: one start every 11.6 days. A Poisson gap
/// is at most about 37 mean gaps (1.2 years), inside the range of tokio's timers (about 2
/// years; a longer wait would fire early). A sharded run's parts each need this much.
pub const MIN_RATE: f64 = 1e-6;

/// The fastest open-loop rate: a million session starts per second, each a step of the
/// scheduler even when it is dropped. Far beyond it, starts fall on the same instant and a
/// virtual run's clock never advances.
pub const MAX_RATE: f64 = 1e6;

/// The longest duration anywhere in a scenario: one year (`"1y"`, humantime's 365.25 days).
/// Tokio's timers reach about 2 years and wait no longer, and no run needs more. Drawn
/// durations are capped to it.
pub const MAX_DURATION: Dur = Dur::secs(31_557_600);

/// The largest token count (a message, a prompt, an answer, a context window, a threshold)
/// and session length in turns: ten million, beyond every model's context window. Text is
/// generated at the drawn size, so a few billion tokens (the `u32` range) would exhaust
/// memory. Drawn counts are capped to it.
pub const MAX_TOKENS: u32 = 10_000_000;

/// The highest request rate limit, per minute: a million requests a second, more than one
/// process sends.
pub const MAX_RPM: u32 = 60_000_000;

/// The highest token rate limit, per minute (about 16.7 million tokens a second, far above any
/// provider's quota). The limiter counts a minute's tokens in 32 bits.
pub const MAX_TPM: u64 = 1_000_000_000;

/// The most requests one client keeps in flight, and the most generation slots of the mock:
/// each slot can hold a connection (a socket, a file descriptor); a million is beyond any
/// machine's default limits.
pub const MAX_IN_FLIGHT: u32 = 1_000_000;

/// The most entries of a tool's response cache: each holds a tool result in memory.
pub const MAX_CACHE_ENTRIES: u64 = 100_000_000;

/// The most tool calls in one mock answer: each is generated (arguments, then a result).
pub const MAX_TOOL_CALLS: u32 = 1_000;

/// The largest backoff multiplier (backon computes in `f32`; a thousand-fold growth per
/// retry reaches `max_backoff` on the first retry anyway).
pub const MAX_MULTIPLIER: f64 = 1_000.0;

/// The largest relative tool weight, and the most retries a second a retry budget always
/// allows: sums of a few such values must stay finite.
pub const MAX_WEIGHT: f64 = 1e6;

/// The fewest and most characters per token of `tokenizer = "chars"`.
pub const CHARS_PER_TOKEN: (f64, f64) = (0.1, 100.0);

/// A float as a person reads it: plain for ordinary magnitudes, `1e-300` rather than three
/// hundred zeros otherwise.
pub(crate) fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-4..1e16).contains(&a) || !v.is_finite() {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        assert_eq!(number(20.0), "20");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1e-300), "1e-300");
        assert_eq!(number(1e300), "1e300");
        assert_eq!(number(MIN_RATE), "1e-6");
        assert_eq!(number(MAX_RATE), "1000000");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
