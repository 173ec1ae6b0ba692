//! The report's closed sets, one spelling each, in code and on the wire (`report.json`):
//! why a run stopped, a circuit breaker's state, and the clock (the scenario's [`Clock`]).

use std::fmt;

use serde::{Deserialize, Serialize};

pub use scenario::ClockMode as Clock;

/// Why a run stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `fleet.duration` elapsed.
    #[default]
    Duration,
    /// `fleet.max_sessions` sessions started.
    Sessions,
    /// `fleet.max_turns` turns completed.
    Turns,
    /// Stopped from outside (SIGINT, SIGTERM or SIGHUP).
    Interrupted,
}

impl StopReason {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Duration => "duration",
            StopReason::Sessions => "sessions",
            StopReason::Turns => "turns",
            StopReason::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a circuit breaker. Ordered from the healthiest to the worst, so merging the
/// parts of a run keeps the worst (`max`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through; outcomes are counted.
    #[default]
    Closed,
    /// A limited number of probe calls go through to test whether the service recovered.
    HalfOpen,
    /// Calls are rejected until `open_for` has passed.
    Open,
}

impl BreakerState {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_on_the_wire_and_in_text() {
        for s in [
            StopReason::Duration,
            StopReason::Sessions,
            StopReason::Turns,
            StopReason::Interrupted,
        ] {
            let wire = serde_json::to_value(s).unwrap();
            assert_eq!(wire, s.as_str());
            assert_eq!(serde_json::from_value::<StopReason>(wire).unwrap(), s);
        }
        for b in [
            BreakerState::Closed,
            BreakerState::HalfOpen,
            BreakerState::Open,
        ] {
            let wire = serde_json::to_value(b).unwrap();
            assert_eq!(wire, b.as_str());
            assert_eq!(b.to_string(), b.as_str());
            assert_eq!(serde_json::from_value::<BreakerState>(wire).unwrap(), b);
        }
        assert_eq!(serde_json::to_value(Clock::Virtual).unwrap(), "virtual");
        assert!(BreakerState::Open > BreakerState::HalfOpen);
        assert!(BreakerState::HalfOpen > BreakerState::Closed);
    }
}
