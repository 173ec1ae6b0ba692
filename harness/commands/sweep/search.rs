//! The search of a capacity sweep, apart from what a step runs: probe the lower end, double
//! up to the upper end until a step fails, then bisect down to the resolution. Deterministic:
//! the same answers from the probe give the same steps.

/// Why a step was run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The lower end of the range, which must pass.
    Probe,
    /// Doubling towards the upper end.
    Double,
    /// Halving the gap between the largest pass and the smallest failure.
    Bisect,
}

impl Phase {
    /// The phase as the table and the JSON write it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Probe => "probe",
            Phase::Double => "double",
            Phase::Bisect => "bisect",
        }
    }
}

/// Where the search ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Found {
    /// The lower end failed: there is no passing value in the range.
    LowerEndFails,
    /// The largest value that passed, and the smallest that failed (`None`: the upper end
    /// passed, so the limit lies above the range).
    Largest {
        /// The largest passing value.
        passing: f64,
        /// The smallest failing value, within the resolution of `passing`.
        failing: Option<f64>,
    },
}

/// A range `from..to` searched to `resolution`; `whole` rounds every value (agents).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    /// The lower end, probed first.
    pub(crate) from: f64,
    /// The upper end.
    pub(crate) to: f64,
    /// The search stops when the gap between a pass and a failure is at most this.
    pub(crate) resolution: f64,
    /// Round values to whole numbers.
    pub(crate) whole: bool,
}

impl Range {
    fn round(&self, x: f64) -> f64 {
        if self.whole { x.round() } else { x }
    }
}

/// Runs the search, calling `step(phase, value)` for each value; it answers whether the value
/// passed every target.
pub(crate) fn search<E>(
    range: Range,
    mut step: impl FnMut(Phase, f64) -> Result<bool, E>,
) -> Result<Found, E> {
    if !step(Phase::Probe, range.from)? {
        return Ok(Found::LowerEndFails);
    }
    let mut passing = range.from;
    let mut failing = None;
    while passing < range.to {
        // Doubling from zero (a rate of 0) would never move: step by the resolution instead.
        let next = range
            .round((passing * 2.0).max(passing + range.resolution))
            .min(range.to);
        if step(Phase::Double, next)? {
            passing = next;
        } else {
            failing = Some(next);
            break;
        }
    }
    while let Some(fail) = failing {
        if fail - passing <= range.resolution {
            break;
        }
        let mid = range.round((passing + fail) / 2.0);
        if mid <= passing || mid >= fail {
            break;
        }
        if step(Phase::Bisect, mid)? {
            passing = mid;
        } else {
            failing = Some(mid);
        }
    }
    Ok(Found::Largest { passing, failing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(range: Range, limit: f64) -> (Found, Vec<(Phase, f64)>) {
        let mut seen = Vec::new();
        let found = search::<()>(range, |phase, x| {
            seen.push((phase, x));
            Ok(x <= limit)
        })
        .unwrap();
        (found, seen)
    }

    fn agents(from: f64, to: f64, resolution: f64) -> Range {
        Range {
            from,
            to,
            resolution,
            whole: true,
        }
    }

    #[test]
    fn finds_the_boundary_within_the_resolution() {
        for limit in [500.0, 777.0, 1234.0, 4999.0, 19_999.0] {
            let (found, seen) = steps(agents(500.0, 20_000.0, 50.0), limit);
            let Found::Largest { passing, failing } = found else {
                panic!("{found:?}");
            };
            assert!(passing <= limit, "{limit}: {passing}");
            let failing = failing.expect("a failure below the upper end");
            assert!(
                failing > limit && failing - passing <= 50.0,
                "{limit}: {found:?}"
            );
            assert_eq!(seen[0], (Phase::Probe, 500.0));
            // Doubling, then bisection: logarithmic in the range.
            assert!(seen.len() <= 16, "{limit}: {seen:?}");
        }
    }

    #[test]
    fn doubles_then_bisects() {
        let (_, seen) = steps(agents(500.0, 20_000.0, 50.0), 1234.0);
        let values: Vec<f64> = seen.iter().map(|s| s.1).collect();
        assert_eq!(
            values,
            [
                500.0, 1000.0, 2000.0, 1500.0, 1250.0, 1125.0, 1188.0, 1219.0
            ]
        );
        assert_eq!(seen[2].0, Phase::Double);
        assert_eq!(seen[3].0, Phase::Bisect);
    }

    #[test]
    fn a_failing_lower_end_stops_at_once() {
        let (found, seen) = steps(agents(500.0, 20_000.0, 50.0), 100.0);
        assert_eq!(found, Found::LowerEndFails);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn a_passing_upper_end_is_the_answer_with_no_failure() {
        let (found, seen) = steps(agents(500.0, 3000.0, 50.0), 1e9);
        assert_eq!(
            found,
            Found::Largest {
                passing: 3000.0,
                failing: None
            }
        );
        assert_eq!(seen.last(), Some(&(Phase::Double, 3000.0)));
    }

    #[test]
    fn rates_are_not_rounded_and_start_from_zero() {
        let range = Range {
            from: 0.0,
            to: 10.0,
            resolution: 0.1,
            whole: false,
        };
        let (found, _) = steps(range, 3.33);
        let Found::Largest { passing, failing } = found else {
            panic!("{found:?}");
        };
        assert!(
            passing <= 3.33 && failing.unwrap() - passing <= 0.1,
            "{found:?}"
        );
    }
}
