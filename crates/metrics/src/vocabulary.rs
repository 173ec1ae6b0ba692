//! The report's closed sets, one spelling each, in code and on the wire (`report.json`):
//! why a run stopped, a circuit breaker's state, the clock (the scenario's [`Clock`]), what a
//! verdict judged ([`TargetId`], the scenario's, so a scenario, a budget and a report spell a
//! target alike) and its comparison ([`Op`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::figures::Better;

pub use scenario::ClockMode as Clock;
pub use scenario::schema::targets::{StatedTarget, TargetId, UnknownTarget};

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
    /// The run ended without writing its report (killed, crashed): the report was rebuilt
    /// from its interval log (`fleetbench report`).
    Killed,
}

impl StopReason {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Duration => "duration",
            StopReason::Sessions => "sessions",
            StopReason::Turns => "turns",
            StopReason::Interrupted => "interrupted",
            StopReason::Killed => "killed",
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

/// A verdict's comparison: how its measured value must stand to its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `<`: measured must stay below the limit (latencies, memory, error rate).
    #[serde(rename = "<")]
    Below,
    /// `<=`: measured must not exceed the limit.
    #[serde(rename = "<=")]
    AtMost,
    /// `>`: measured must exceed the limit.
    #[serde(rename = ">")]
    Above,
    /// `>=`: measured must reach the limit (`min_concurrent_agents`).
    #[serde(rename = ">=")]
    AtLeast,
}

impl Op {
    /// Every comparison.
    pub const ALL: [Op; 4] = [Op::Below, Op::AtMost, Op::Above, Op::AtLeast];

    /// The comparison as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Below => "<",
            Op::AtMost => "<=",
            Op::Above => ">",
            Op::AtLeast => ">=",
        }
    }

    /// The comparison spelled `text`.
    pub fn parse(text: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// Whether `measured` stands to `limit` as the comparison asks.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Below => measured < limit,
            Op::AtMost => measured <= limit,
            Op::Above => measured > limit,
            Op::AtLeast => measured >= limit,
        }
    }

    /// Which way the measured figure gets better: away from the limit's side it must not cross.
    pub fn better(self) -> Better {
        match self {
            Op::Below | Op::AtMost => Better::Lower,
            Op::Above | Op::AtLeast => Better::Higher,
        }
    }
}

impl fmt::Display for Op {
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
            StopReason::Killed,
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
        for op in Op::ALL {
            let wire = serde_json::to_value(op).unwrap();
            assert_eq!(wire, op.as_str());
            assert_eq!(Op::parse(op.as_str()), Some(op));
            assert_eq!(serde_json::from_value::<Op>(wire).unwrap(), op);
        }
        assert!(Op::Below.holds(1.0, 2.0) && !Op::Below.holds(2.0, 2.0));
        assert!(Op::AtLeast.holds(2.0, 2.0) && !Op::AtLeast.holds(1.0, 2.0));
        assert_eq!(serde_json::to_value(Clock::Virtual).unwrap(), "virtual");
        assert!(BreakerState::Open > BreakerState::HalfOpen);
        assert!(BreakerState::HalfOpen > BreakerState::Closed);
    }
}
