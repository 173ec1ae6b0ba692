//! The throughput figures LLM users look for first: LLM calls, tool calls and tokens per
//! second of the run (`docs/metrics.md`, "Rates").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::counters::Counters;

/// Counts per second of the run's measured duration: the fleet clock's time from the start
/// to the stop (`simulated_ms`: simulated time under the virtual clock, elapsed time under the
/// live one), so a virtual run's rates are the fleet's, not the harness's. Rounded to 0.001;
/// all 0 when the run took no time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Logical LLM calls per second (`counters.llm_calls`; retries are not calls).
    pub llm_calls_per_s: f64,
    /// Logical tool calls per second (`counters.tool_calls`; cache hits included).
    pub tool_calls_per_s: f64,
    /// Prompt tokens per second (`counters.tokens_in`).
    pub tokens_in_per_s: f64,
    /// Completion tokens per second (`counters.tokens_out`).
    pub tokens_out_per_s: f64,
}

impl Rates {
    /// The rates of `counters` over `elapsed`.
    pub fn of(counters: &Counters, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        let per_s = |n: u64| {
            if secs > 0.0 {
                (n as f64 / secs * 1000.0).round() / 1000.0
            } else {
                0.0
            }
        };
        Rates {
            llm_calls_per_s: per_s(counters.llm_calls),
            tool_calls_per_s: per_s(counters.tool_calls),
            tokens_in_per_s: per_s(counters.tokens_in),
            tokens_out_per_s: per_s(counters.tokens_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_over_the_run_s_seconds() {
        let c = Counters {
            llm_calls: 100,
            tool_calls: 250,
            tokens_in: 12_345,
            tokens_out: 1_000,
            ..Counters::default()
        };
        let r = Rates::of(&c, Duration::from_millis(8_000));
        assert_eq!(r.llm_calls_per_s, 12.5);
        assert_eq!(r.tool_calls_per_s, 31.25);
        assert_eq!(r.tokens_in_per_s, 1543.125);
        assert_eq!(r.tokens_out_per_s, 125.0);
        let thirds = Rates::of(&c, Duration::from_secs(3));
        assert_eq!(thirds.llm_calls_per_s, 33.333);
    }

    #[test]
    fn no_time_no_rate() {
        let c = Counters {
            llm_calls: 5,
            ..Counters::default()
        };
        assert_eq!(Rates::of(&c, Duration::ZERO), Rates::default());
    }
}
