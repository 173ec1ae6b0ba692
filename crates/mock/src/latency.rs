//! The latency model of one answer.
//!
//! time to first token = wait for one of `capacity` generation slots (FIFO)
//!                     + `prefill_per_token` × prompt tokens
//!                     + base latency (drawn)
//!                     (+ the delay of a slow-first-token fault)
//! then one drawn inter-token gap before each further token. The slot is held until the last
//! token, so a full server queues new requests: fleet size shows in latency. Prefill makes
//! prompt size, and so compression, show in latency too.
//!
//! Deadlines are absolute (the start plus the sum of the modelled delays), and tokio's timer
//! fires on whole milliseconds, so a token comes out on the first millisecond tick at or after
//! its modelled time: under 1 ms late, never drifting.

use std::time::Duration;

use scenario::{Mock, SimRng};

/// When the tokens of one answer come out, not counting the queue for a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Prefill time of the prompt.
    pub prefill: Duration,
    /// The drawn base latency.
    pub base: Duration,
    /// Gap before each token after the first (one fewer than the tokens).
    pub gaps: Vec<Duration>,
}

impl Timing {
    /// Draws the timing of an answer of `emissions` tokens to a prompt of `prompt_tokens`.
    pub(crate) fn draw(
        model: &Mock,
        rng: &mut SimRng,
        prompt_tokens: u32,
        emissions: usize,
    ) -> Self {
        let prefill = model.prefill_per_token.0.saturating_mul(prompt_tokens);
        let base = model.base_latency.sample(rng).0;
        let gaps = (1..emissions)
            .map(|_| model.inter_token.sample(rng).0)
            .collect();
        Self {
            prefill,
            base,
            gaps,
        }
    }

    /// Time to first token once a slot is held.
    pub fn ttft(&self) -> Duration {
        self.prefill + self.base
    }

    /// Time from holding a slot to the last token.
    pub fn total(&self) -> Duration {
        self.ttft() + self.gaps.iter().sum::<Duration>()
    }
}

#[cfg(test)]
mod tests {
    use scenario::{Dist, Dur, Tokens};

    use super::*;

    #[test]
    fn prefill_scales_with_prompt_and_gaps_follow_tokens() {
        let model = Mock {
            prefill_per_token: Dur::micros(10),
            base_latency: Dist::Constant(Dur::millis(100)),
            inter_token: Dist::Constant(Dur::millis(5)),
            output_tokens: Dist::Constant(Tokens(4)),
            ..Mock::default()
        };
        let t = Timing::draw(&model, &mut SimRng::new(1), 1000, 4);
        assert_eq!(t.prefill, Duration::from_millis(10));
        assert_eq!(t.ttft(), Duration::from_millis(110));
        assert_eq!(t.gaps, vec![Duration::from_millis(5); 3]);
        assert_eq!(t.total(), Duration::from_millis(125));
    }
}
