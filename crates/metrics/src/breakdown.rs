//! Where the slow turns' time went. Each turn's response time is split into parts (limiter
//! wait, pool wait, time to first token, generation, tools, backoff, context build,
//! compression); parts are summed per response-time bucket (buckets 5 % wide), so after the
//! run the turns at or above p95 can be picked out exactly by bucket, merged across workers
//! without keeping every turn.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One turn's time, split. Parts may not add up to the response exactly: a turn's tool calls
/// run in parallel and `tools` is their wall time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TurnParts {
    /// Waiting for rate limits.
    pub limiter_wait: Duration,
    /// Waiting for a pool slot.
    pub pool_wait: Duration,
    /// LLM time to first token (queueing and prefill at the server).
    pub ttft: Duration,
    /// LLM generation after the first token (and non-streamed response time) of the
    /// successful attempts.
    pub generation: Duration,
    /// Attempts that failed (stalls until the timeout, errors, cut streams): time lost.
    pub failed_attempts: Duration,
    /// Tool rounds (wall time).
    pub tools: Duration,
    /// Sleeping between retries.
    pub backoff: Duration,
    /// Compressing the conversation.
    pub compression: Duration,
    /// Assembling prompts.
    pub context_build: Duration,
}

/// The part names, in report order.
pub const PARTS: [&str; 9] = [
    "limiter_wait",
    "pool_wait",
    "ttft",
    "generation",
    "failed_attempts",
    "tools",
    "backoff",
    "compression",
    "context_build",
];

impl TurnParts {
    fn as_array(&self) -> [Duration; PARTS.len()] {
        [
            self.limiter_wait,
            self.pool_wait,
            self.ttft,
            self.generation,
            self.failed_attempts,
            self.tools,
            self.backoff,
            self.compression,
            self.context_build,
        ]
    }
}

/// Sums of turn parts per response-time bucket (serialized for the interval log).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// bucket → (turns, response sum µs, part sums µs).
    buckets: BTreeMap<u16, (u64, u128, [u128; PARTS.len()])>,
}

const GROWTH: f64 = 1.05;

fn bucket(response: Duration) -> u16 {
    let us = response.as_micros().max(1) as f64;
    (us.ln() / GROWTH.ln()).floor() as u16
}

fn bucket_floor(b: u16) -> Duration {
    Duration::from_micros(GROWTH.powi(i32::from(b)).ceil() as u64)
}

impl Breakdown {
    /// Adds one turn.
    pub fn record_turn(&mut self, response: Duration, parts: &TurnParts) {
        let entry = self.buckets.entry(bucket(response)).or_default();
        entry.0 += 1;
        entry.1 += response.as_micros();
        for (sum, part) in entry.2.iter_mut().zip(parts.as_array()) {
            *sum += part.as_micros();
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Breakdown) {
        for (b, (n, resp, parts)) in &other.buckets {
            let e = self.buckets.entry(*b).or_default();
            e.0 += n;
            e.1 += resp;
            for (sum, p) in e.2.iter_mut().zip(parts) {
                *sum += p;
            }
        }
    }

    /// The mean parts of the turns whose response is in `threshold`'s bucket or above.
    pub fn tail(&self, threshold: Duration) -> TailBreakdown {
        let from = bucket(threshold);
        let (mut turns, mut resp, mut sums) = (0u64, 0u128, [0u128; PARTS.len()]);
        for (_, (n, r, parts)) in self.buckets.range(from..) {
            turns += n;
            resp += r;
            for (s, p) in sums.iter_mut().zip(parts) {
                *s += p;
            }
        }
        let mean = |sum: u128| {
            if turns == 0 {
                0.0
            } else {
                sum as f64 / turns as f64 / 1000.0
            }
        };
        let mean_response_ms = round3(mean(resp));
        let parts: BTreeMap<String, TailPart> = PARTS
            .iter()
            .zip(sums)
            .map(|(name, sum)| {
                let mean_ms = round3(mean(sum));
                let share = if mean_response_ms > 0.0 {
                    round3(mean_ms / mean_response_ms)
                } else {
                    0.0
                };
                ((*name).to_owned(), TailPart { mean_ms, share })
            })
            .collect();
        let bottleneck = parts
            .iter()
            .filter(|(_, p)| p.mean_ms > 0.0)
            .max_by(|a, b| a.1.mean_ms.total_cmp(&b.1.mean_ms))
            .map(|(name, _)| name.clone());
        TailBreakdown {
            threshold_ms: round3(bucket_floor(from).as_micros() as f64 / 1000.0)
                .min(threshold.as_micros() as f64 / 1000.0),
            turns,
            mean_response_ms,
            parts,
            bottleneck,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Where the time of the slowest turns went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailBreakdown {
    /// Turns at or above this response time are included (p95 of `agent_response`, at the
    /// 5 % bucket's lower edge).
    pub threshold_ms: f64,
    /// How many turns that is.
    pub turns: u64,
    /// Their mean response time.
    pub mean_response_ms: f64,
    /// Each part's mean and its share of the mean response.
    pub parts: BTreeMap<String, TailPart>,
    /// The largest part: where to look first.
    pub bottleneck: Option<String>,
}

/// One part of the tail breakdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailPart {
    /// Mean per turn, ms.
    pub mean_ms: f64,
    /// Share of the mean response (tools run in parallel, so shares need not add to 1).
    pub share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn tail_picks_the_slow_turns_and_names_the_bottleneck() {
        let mut b = Breakdown::default();
        for _ in 0..95 {
            b.record_turn(
                ms(100),
                &TurnParts {
                    ttft: ms(60),
                    generation: ms(40),
                    ..TurnParts::default()
                },
            );
        }
        for _ in 0..5 {
            b.record_turn(
                ms(2000),
                &TurnParts {
                    pool_wait: ms(1500),
                    ttft: ms(300),
                    generation: ms(200),
                    ..TurnParts::default()
                },
            );
        }
        let t = b.tail(ms(2000));
        assert_eq!(t.turns, 5);
        assert_eq!(t.mean_response_ms, 2000.0);
        assert_eq!(t.parts["pool_wait"].mean_ms, 1500.0);
        assert_eq!(t.parts["pool_wait"].share, 0.75);
        assert_eq!(t.bottleneck.as_deref(), Some("pool_wait"));
        assert!(t.threshold_ms <= 2000.0 && t.threshold_ms > 1900.0);
        let all = b.tail(Duration::ZERO);
        assert_eq!(all.turns, 100);
        assert_eq!(all.parts.len(), PARTS.len());
    }

    #[test]
    fn every_part_is_reported() {
        let mut b = Breakdown::default();
        let one = Duration::from_millis(1);
        let p = TurnParts {
            limiter_wait: one,
            pool_wait: one,
            ttft: one,
            generation: one,
            failed_attempts: one,
            tools: one,
            backoff: one,
            compression: one,
            context_build: one,
        };
        b.record_turn(ms(9), &p);
        let t = b.tail(ms(1));
        for name in PARTS {
            assert_eq!(t.parts[name].mean_ms, 1.0, "{name}");
        }
    }

    #[test]
    fn merge_equals_recording_together() {
        let p = TurnParts {
            tools: ms(7),
            ..TurnParts::default()
        };
        let (mut a, mut b, mut both) = (
            Breakdown::default(),
            Breakdown::default(),
            Breakdown::default(),
        );
        a.record_turn(ms(10), &p);
        b.record_turn(ms(900), &p);
        both.record_turn(ms(10), &p);
        both.record_turn(ms(900), &p);
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(Breakdown::default().tail(ms(5)).bottleneck, None);
    }
}
