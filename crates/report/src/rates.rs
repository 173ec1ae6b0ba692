//! The rates line: LLM calls, tool calls and tokens per second of the run, for the terminal
//! and Markdown reports (`docs/metrics.md`, "Rates").

use metrics::RunSnapshot;

use crate::readable;

/// `rates: 12.5 LLM calls/s, 31.3 tool calls/s, 1,543 tokens in/s, 125 tokens out/s over 8 s
/// of virtual clock time`.
pub(crate) fn line(s: &RunSnapshot) -> String {
    let r = &s.rates;
    format!(
        "rates: {} LLM calls/s, {} tool calls/s, {} tokens in/s, {} tokens out/s over {} of {} clock time",
        readable::rate(r.llm_calls_per_s),
        readable::rate(r.tool_calls_per_s),
        readable::rate(r.tokens_in_per_s),
        readable::rate(r.tokens_out_per_s),
        readable::clock(s.simulated_ms),
        s.clock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_rate_and_the_duration() {
        let mut s = crate::test_support::stopped_by(metrics::StopReason::Duration);
        s.simulated_ms = 8_000;
        s.rates = metrics::Rates {
            llm_calls_per_s: 12.5,
            tool_calls_per_s: 31.26,
            tokens_in_per_s: 1543.125,
            tokens_out_per_s: 125.0,
        };
        assert_eq!(
            line(&s),
            "rates: 12.5 LLM calls/s, 31.3 tool calls/s, 1,543 tokens in/s, 125 tokens out/s over 8 s of virtual clock time"
        );
    }
}
