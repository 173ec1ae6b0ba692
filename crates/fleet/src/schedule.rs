//! When sessions are meant to start.
//!
//! Closed loop: a fixed fleet, agent `i` of `n` starts at `ramp_up × i / n`, then runs
//! sessions back to back. Open loop: sessions start on a schedule fixed in advance (Poisson or
//! evenly spaced) whatever the system under test is doing; a session that starts late is
//! measured from its intended start, so queueing in the harness or the server shows in the
//! latency instead of being omitted (coordinated omission).

use std::time::Duration;

use scenario::rng::{SimRng, stream};
use scenario::{Arrival, Fleet};

/// When agent `i` of a closed-loop fleet of `agents` starts, spread evenly over `ramp_up`.
pub fn ramp_offset(i: u32, agents: u32, ramp_up: Duration) -> Duration {
    if agents == 0 {
        return Duration::ZERO;
    }
    let nanos = ramp_up.as_nanos() * u128::from(i) / u128::from(agents);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The intended start offsets of open-loop sessions, from the run's start.
#[derive(Debug, Clone)]
pub struct OpenSchedule {
    poisson: bool,
    /// Mean gap between starts, in seconds.
    mean_gap: f64,
    rng: SimRng,
    /// Intended start of the next session, in seconds from the run's start.
    next: f64,
    /// Sessions scheduled so far (for the evenly spaced schedule, to avoid drift).
    index: u64,
    /// Seconds added to every start: a part of a sharded evenly spaced schedule starts its
    /// share of the whole one's starts, the parts in turn.
    offset: f64,
}

impl OpenSchedule {
    /// The schedule of an open-loop fleet (`None` for a closed loop or no rate).
    pub fn new(fleet: &Fleet, seed: u64) -> Option<Self> {
        Self::with(fleet, SimRng::derive(seed, &[stream::ARRIVALS]), 0.0)
    }

    /// The schedule of one part of a sharded run: `fleet` is the part's (its rate the part's
    /// share). Evenly spaced: the parts take the whole schedule's starts in turn, so together
    /// they start exactly its sessions. Poisson: each part draws its own stream (the sum of
    /// independent Poisson schedules is a Poisson schedule of the summed rate). The whole
    /// fleet's is [`OpenSchedule::new`]'s.
    pub(crate) fn for_part(fleet: &Fleet, seed: u64, part: crate::shard::Part) -> Option<Self> {
        if part.of == 1 {
            return Self::new(fleet, seed);
        }
        let rng = SimRng::derive(seed, &[stream::ARRIVALS, u64::from(part.index)]);
        // The part's gap is `of` whole gaps: part k starts k whole gaps in.
        let offset = fleet
            .rate
            .map_or(0.0, |r| f64::from(part.index) / (r.0 * f64::from(part.of)));
        Self::with(fleet, rng, offset)
    }

    /// A schedule drawing from `rng`; evenly spaced starts shifted by `offset` seconds.
    fn with(fleet: &Fleet, rng: SimRng, offset: f64) -> Option<Self> {
        let rate = fleet.rate?.0;
        if !fleet.arrival.is_open() || rate <= 0.0 {
            return None;
        }
        let poisson = fleet.arrival == Arrival::Poisson;
        let mut schedule = Self {
            poisson,
            mean_gap: 1.0 / rate,
            rng,
            next: 0.0,
            index: 0,
            offset: if poisson { 0.0 } else { offset },
        };
        if poisson {
            schedule.next = schedule.rng.exponential(schedule.mean_gap);
        }
        Some(schedule)
    }
}

impl Iterator for OpenSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let at = self.next;
        self.index += 1;
        self.next = if self.poisson {
            at + self.rng.exponential(self.mean_gap)
        } else {
            // index × gap, not a running sum: no floating-point drift over long runs.
            #[allow(clippy::cast_precision_loss)]
            let next = self.index as f64 * self.mean_gap;
            next
        };
        Some(Duration::from_secs_f64(at + self.offset))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use scenario::Rate;

    use super::*;

    fn open(arrival: Arrival, rate: f64) -> Fleet {
        Fleet {
            arrival,
            rate: Some(Rate(rate)),
            ..Fleet::default()
        }
    }

    #[test]
    fn the_ramp_spreads_agents_evenly() {
        let ramp = Duration::from_secs(10);
        assert_eq!(ramp_offset(0, 4, ramp), Duration::ZERO);
        assert_eq!(ramp_offset(2, 4, ramp), Duration::from_secs(5));
        assert_eq!(ramp_offset(3, 4, ramp), Duration::from_millis(7500));
        assert_eq!(ramp_offset(5, 0, ramp), Duration::ZERO);
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced_without_drift() {
        let starts: Vec<Duration> = OpenSchedule::new(&open(Arrival::Constant, 4.0), 1)
            .unwrap()
            .take(5)
            .collect();
        assert_eq!(starts, [0, 250, 500, 750, 1000].map(Duration::from_millis));
        let last = OpenSchedule::new(&open(Arrival::Constant, 3.0), 1)
            .unwrap()
            .nth(300_000)
            .unwrap();
        assert_eq!(last, Duration::from_secs(100_000));
    }

    #[test]
    fn closed_fleets_have_no_schedule() {
        assert!(
            OpenSchedule::new(
                &Fleet {
                    rate: Some(Rate(5.0)),
                    ..Fleet::default()
                },
                1
            )
            .is_none()
        );
        assert!(
            OpenSchedule::new(
                &Fleet {
                    arrival: Arrival::Poisson,
                    ..Fleet::default()
                },
                1
            )
            .is_none()
        );
    }

    proptest! {
        #[test]
        fn poisson_schedules_are_monotone_seeded_and_hit_the_rate(seed in any::<u64>(), rate in 1.0f64..200.0) {
            let fleet = open(Arrival::Poisson, rate);
            let a: Vec<Duration> = OpenSchedule::new(&fleet, seed).unwrap().take(2000).collect();
            let b: Vec<Duration> = OpenSchedule::new(&fleet, seed).unwrap().take(2000).collect();
            prop_assert_eq!(&a, &b);
            prop_assert!(a.windows(2).all(|w| w[0] <= w[1]));
            // 2,000 arrivals take about 2,000 / rate seconds: within 10 % (4.5 standard deviations).
            let span = a[1999].as_secs_f64();
            let expected = 2000.0 / rate;
            prop_assert!((span - expected).abs() < expected * 0.1, "span {} expected {}", span, expected);
        }

        #[test]
        fn constant_schedule_count_matches_rate_times_duration(rate in 0.5f64..500.0, secs in 1u64..100) {
            let n = OpenSchedule::new(&open(Arrival::Constant, rate), 0)
                .unwrap()
                .take_while(|d| *d < Duration::from_secs(secs))
                .count();
            let expected = rate * secs as f64;
            prop_assert!((n as f64 - expected).abs() <= 1.0, "{} vs {}", n, expected);
        }
    }
}
