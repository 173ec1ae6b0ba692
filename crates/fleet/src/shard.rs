//! Sharded virtual runs (`fleet.shards`): the fleet split into independent parts, one
//! current-thread runtime each, so a virtual run uses more than one core.
//!
//! Why parts and not one fleet on many threads: under the virtual clock a seed decides the
//! whole run only because one thread polls every task in an order the seed fixes. Agents
//! interact through what they share (the mock's capacity, in-flight bounds, rate limiters,
//! caches, retry budgets, breakers), so a fleet cannot be spread over threads without making
//! that order, and the report, depend on the machine. A part instead owns its agents and its
//! share of every shared limit, and never touches another part's state; each part is as
//! deterministic as a whole run, and merging their figures in part order is exact (histograms
//! add, counters add, agents are listed by id). So a seed and a number of shards give one
//! report on any machine, however many cores it has.
//!
//! What changes against one fleet: each shared limit becomes `shards` smaller limits, one
//! per part (a pooled queue of N slots serves a little better than two queues of N/2: the
//! shards' report is that of `shards` independent fleets). With 1 (the default) nothing is
//! split.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{AgentSummary, BreakerSummary, Recorder};
use scenario::{ClientLimits, Rate, Retry, Scenario};

use crate::runner::{Progress, ProgressFn, RunError, RunOptions};
use crate::stop::StopReason;

/// What one part of a run measured (the whole run unless it is sharded): everything
/// [`merge`] needs, so a part run in a process of its own (`run --part`) serializes it into
/// its part report and `fleetbench merge` adds the parts as a sharded run does.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartOutcome {
    /// What its agents and clients recorded.
    pub recorder: Recorder,
    /// Each of its agents' totals, by id.
    pub agents: Vec<AgentSummary>,
    /// Its breakers at the end.
    pub breakers: Vec<BreakerSummary>,
    /// The most of its agents alive at once.
    pub alive_peak: u64,
    /// Its fleet time from its start to its stop.
    pub simulated: Duration,
    /// Why it stopped.
    pub stop: StopReason,
    /// What the part's embedded mock observed (its `GET /stats` body), if one served it.
    pub mock_observed: Option<serde_json::Value>,
    /// Live clock: when its fleet started (its ramp's first instant), ms since the epoch;
    /// `None` under the virtual clock, whose runs do not depend on when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
}

/// Runs the `of` parts of a virtual run, each on its own thread (`run` builds and runs one
/// part), and returns their outcomes in part order. The parts' progress is passed on summed
/// ([`progress`]). A part that panics panics the run.
pub(crate) fn run_parts(
    of: u32,
    options: &RunOptions,
    run: impl Fn(Part, RunOptions) -> Result<PartOutcome, RunError> + Sync,
) -> Result<Vec<PartOutcome>, RunError> {
    let run = &run;
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..of)
            .zip(progress(options.progress.clone(), of))
            .map(|(index, progress)| {
                let options = RunOptions {
                    progress,
                    ..options.clone()
                };
                std::thread::Builder::new()
                    .name(format!("fleet-shard-{index}"))
                    .spawn_scoped(scope, move || run(Part { index, of }, options))
                    .map_err(RunError::Runtime)
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t?.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The parts' figures as one run's.
pub(crate) struct Merged {
    pub(crate) recorder: Recorder,
    pub(crate) agents: Vec<AgentSummary>,
    pub(crate) breakers: Vec<BreakerSummary>,
    pub(crate) alive_peak: u64,
    pub(crate) simulated: Duration,
    pub(crate) stop: StopReason,
    /// The parts that ran (the live clock runs one, whatever a scenario not checked says).
    pub(crate) shards: u32,
    /// What each part's embedded mock observed, in part order.
    pub(crate) mock_observed: Vec<serde_json::Value>,
}

/// Merges the parts in part order: recordings and counts added, agents concatenated (the
/// snapshot lists them by id), breakers merged by target ([`merge_breakers`]), agents alive
/// at peak added (each part's own peak: an upper bound of the fleet's when the parts peak
/// apart), the longest part's simulated time (they share the stop conditions, so they end
/// together unless a count stopped one early), and `interrupted` if any part was.
pub(crate) fn merge(parts: Vec<PartOutcome>) -> Merged {
    let stop = if parts.iter().any(|p| p.stop == StopReason::Interrupted) {
        StopReason::Interrupted
    } else {
        parts.first().map_or(StopReason::Duration, |p| p.stop)
    };
    let mut merged = Merged {
        recorder: Recorder::default(),
        agents: Vec::new(),
        breakers: Vec::new(),
        alive_peak: 0,
        simulated: Duration::ZERO,
        stop,
        shards: u32::try_from(parts.len()).unwrap_or(u32::MAX),
        mock_observed: Vec::new(),
    };
    let mut breakers = Vec::new();
    for p in parts {
        merged.recorder.merge(&p.recorder);
        merged.agents.extend(p.agents);
        breakers.push(p.breakers);
        merged.alive_peak += p.alive_peak;
        merged.simulated = merged.simulated.max(p.simulated);
        merged.mock_observed.extend(p.mock_observed);
    }
    merged.breakers = merge_breakers(breakers);
    merged
}

/// Part `index` (from 0) of a run split into `of` parts: the split `fleet.shards` makes on
/// threads and `run --part` in processes of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Which part, from 0.
    pub index: u32,
    /// How many parts the run has (at least 1).
    pub of: u32,
}

impl Part {
    /// The whole fleet, unsplit.
    pub const WHOLE: Part = Part { index: 0, of: 1 };

    /// Whether closed-loop agent `i` runs in this part: agents are dealt out in turn, so every
    /// part has agents from the whole ramp.
    pub(crate) fn owns(self, i: u32) -> bool {
        i % self.of == self.index
    }

    /// This part's share of `n`: `n / of`, the remainder going one each to the first parts.
    pub(crate) fn share(self, n: u64) -> u64 {
        n / u64::from(self.of) + u64::from(u64::from(self.index) < n % u64::from(self.of))
    }

    /// [`Part::share`] for a limit that must stay at least 1.
    fn share_u32(self, n: u32) -> u32 {
        u32::try_from(self.share(u64::from(n)))
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// This part's share of a rate.
    fn share_rate(self, r: Rate) -> Rate {
        Rate(r.0 / f64::from(self.of))
    }

    /// The id of open-loop session `n` of this part: ids interleave, so they are unique
    /// across parts.
    pub(crate) fn session_id(self, n: u64) -> u64 {
        n * u64::from(self.of) + u64::from(self.index)
    }
}

/// The scenario a part runs: the same fleet shape and targets, with its share of the open-loop
/// rate, of the stop counts and of every shared limit. The identity for [`Part::WHOLE`].
pub(crate) fn scale(s: &Scenario, part: Part) -> Scenario {
    let mut s = s.clone();
    if part.of == 1 {
        return s;
    }
    let f = &mut s.fleet;
    f.rate = f.rate.map(|r| part.share_rate(r));
    f.max_sessions = f.max_sessions.map(|n| part.share(n).max(1));
    f.max_turns = f.max_turns.map(|n| part.share(n).max(1));
    // Each part's mock its own seed: with one, the n-th tool call (or fault decision) of
    // every part would draw the same latency, result and fault.
    s.mock.seed = Some(scenario::rng::derive_seed(
        s.mock_seed(),
        &[scenario::rng::stream::SHARD_MOCK, u64::from(part.index)],
    ));
    s.mock.capacity = part.share_u32(s.mock.capacity);
    for p in &mut s.llm.providers {
        limits(&mut p.limits, part);
        retry(&mut p.retry, part);
    }
    for t in s.tools.values_mut() {
        limits(&mut t.limits, part);
        retry(&mut t.retry, part);
        if let Some(cache) = &mut t.cache {
            cache.capacity = part.share(cache.capacity).max(1);
        }
    }
    s
}

fn limits(l: &mut ClientLimits, part: Part) {
    l.rpm = l.rpm.map(|n| part.share_u32(n));
    l.tpm = l.tpm.map(|n| part.share(n).max(1));
    l.max_in_flight = part.share_u32(l.max_in_flight);
    // 0 waiting callers is a setting (shed at once), so this share may be 0.
    l.max_queue = u32::try_from(part.share(u64::from(l.max_queue))).unwrap_or(u32::MAX);
}

fn retry(r: &mut Retry, part: Part) {
    r.budget_min_per_sec = part.share_rate(r.budget_min_per_sec);
}

/// One callback per part, from the run's: each part reports into its slot, and part 0's
/// report (its cadence is the run's) passes on the sum of the latest of every part: agents
/// alive, turns, failed turns, sessions and the agents' heap added, the highest part p95. The
/// shared heap is the process's, which holds every part, so part 0's reading is passed on as
/// it is (adding the parts' would count it once per part).
pub(crate) fn progress(progress: Option<ProgressFn>, parts: u32) -> Vec<Option<ProgressFn>> {
    let Some(report) = progress else {
        return vec![None; parts as usize];
    };
    if parts == 1 {
        return vec![Some(report)];
    }
    let latest: Arc<Mutex<Vec<Progress>>> =
        Arc::new(Mutex::new(vec![Progress::default(); parts as usize]));
    (0..parts as usize)
        .map(|k| {
            let (latest, report) = (latest.clone(), report.clone());
            let f: ProgressFn = Arc::new(move |p: &Progress| {
                let mut all = latest.lock().unwrap_or_else(PoisonError::into_inner);
                all[k] = *p;
                if k == 0 {
                    let mut sum = Progress {
                        elapsed: p.elapsed,
                        shared_heap: p.shared_heap,
                        ..Progress::default()
                    };
                    for q in all.iter() {
                        sum.alive += q.alive;
                        sum.turns += q.turns;
                        sum.failed_turns += q.failed_turns;
                        sum.sessions_started += q.sessions_started;
                        sum.sessions_completed += q.sessions_completed;
                        sum.agents_heap += q.agents_heap;
                        sum.p95 = sum.p95.max(q.p95);
                    }
                    drop(all);
                    report(&sum);
                }
            });
            Some(f)
        })
        .collect()
}

/// The parts' breakers as one list, in the first part's order: transitions and rejections
/// added; the state the worst any part ended in (open, then half-open, then closed).
pub(crate) fn merge_breakers(parts: Vec<Vec<BreakerSummary>>) -> Vec<BreakerSummary> {
    let mut parts = parts.into_iter();
    let Some(mut merged) = parts.next() else {
        return Vec::new();
    };
    let mut by_target: BTreeMap<String, usize> = merged
        .iter()
        .enumerate()
        .map(|(i, b)| (b.target.clone(), i))
        .collect();
    for part in parts {
        for b in part {
            match by_target.get(&b.target) {
                Some(&i) => {
                    let m = &mut merged[i];
                    m.opened += b.opened;
                    m.half_opened += b.half_opened;
                    m.closed += b.closed;
                    m.rejected += b.rejected;
                    m.state = m.state.max(b.state);
                }
                None => {
                    by_target.insert(b.target.clone(), merged.len());
                    merged.push(b);
                }
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_adds_the_parts_agents_heap_and_passes_the_shared_heap_once() {
        let got: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let sink = got.clone();
        let run: ProgressFn = Arc::new(move |p: &Progress| {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push(*p);
        });
        let parts = progress(Some(run), 2);
        let report = |k: usize, agents_heap, shared_heap| {
            let f = parts[k].as_ref().expect("a callback per part");
            f(&Progress {
                alive: 3,
                agents_heap,
                shared_heap,
                ..Progress::default()
            });
        };
        // Part 1 reports first; part 0's report passes on the sum of the latest of both.
        report(1, 700, 9_000);
        report(0, 500, 10_000);
        let got = got.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(got.len(), 1, "only part 0 reports the run's progress");
        assert_eq!(got[0].alive, 6);
        assert_eq!(got[0].agents_heap, 1_200, "each part's own agents, added");
        assert_eq!(got[0].shared_heap, 10_000, "the process's, once");
    }

    #[test]
    fn shares_add_up_and_agents_are_dealt_out() {
        for of in 1..=7 {
            for n in [0_u64, 1, 6, 7, 100, 1_001] {
                let total: u64 = (0..of).map(|index| Part { index, of }.share(n)).sum();
                assert_eq!(total, n, "{n} over {of}");
            }
            let owned: Vec<u32> = (0..of)
                .map(|index| (0..50).filter(|i| Part { index, of }.owns(*i)).count() as u32)
                .collect();
            assert_eq!(owned.iter().sum::<u32>(), 50);
            let mut ids: Vec<u64> = (0..of)
                .flat_map(|index| (0..10).map(move |n| Part { index, of }.session_id(n)))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 10 * of as usize, "session ids are unique");
        }
    }

    #[test]
    fn one_part_is_the_whole_scenario_and_two_halve_every_shared_limit() {
        let s: Scenario = Scenario::from_toml(
            r#"
            [fleet]
            agents = 10
            arrival = "poisson"
            rate = 9.0
            max_turns = 101
            [[llm.providers]]
            name = "a"
            base_url = "embedded"
            model = "m"
            limits = { rpm = 601, tpm = 1000, max_in_flight = 7, max_queue = 3 }
            [tools.search]
            description = "d"
            cache = { ttl = "1m", capacity = 9 }
            [mock]
            capacity = 5
            "#,
            "test",
        )
        .expect("a valid scenario");
        assert_eq!(scale(&s, Part::WHOLE), s);
        let halves: Vec<Scenario> = (0..2)
            .map(|index| scale(&s, Part { index, of: 2 }))
            .collect();
        let (a, b) = (&halves[0], &halves[1]);
        assert_eq!((a.mock.capacity, b.mock.capacity), (3, 2));
        let seeds = [s.mock_seed(), a.mock_seed(), b.mock_seed()];
        assert!(
            seeds[0] != seeds[1] && seeds[1] != seeds[2] && seeds[0] != seeds[2],
            "each part's mock draws its own numbers: {seeds:?}"
        );
        assert_eq!((a.fleet.max_turns, b.fleet.max_turns), (Some(51), Some(50)));
        assert_eq!(a.fleet.rate, Some(Rate(4.5)));
        let (la, lb) = (&a.llm.providers[0].limits, &b.llm.providers[0].limits);
        assert_eq!((la.rpm, lb.rpm), (Some(301), Some(300)));
        assert_eq!((la.tpm, lb.tpm), (Some(500), Some(500)));
        assert_eq!((la.max_in_flight, lb.max_in_flight), (4, 3));
        assert_eq!((la.max_queue, lb.max_queue), (2, 1));
        let cache = |s: &Scenario| s.tools["search"].cache.as_ref().map(|c| c.capacity);
        assert_eq!((cache(a), cache(b)), (Some(5), Some(4)));
        // What is not a shared limit stays: the fleet's shape, the sessions, the targets.
        assert_eq!(a.fleet.agents, 10);
        assert_eq!((&a.session, &a.targets), (&s.session, &s.targets));
    }

    #[test]
    fn breakers_merge_by_target() {
        use metrics::BreakerState::{Closed, HalfOpen, Open};
        let b = |target: &str, state, opened| BreakerSummary {
            target: target.to_owned(),
            state,
            opened,
            half_opened: opened,
            closed: 0,
            rejected: 10 * opened,
        };
        let merged = merge_breakers(vec![
            vec![b("llm:a", Closed, 1), b("tool:x", HalfOpen, 0)],
            vec![b("llm:a", Open, 2), b("tool:x", Closed, 3)],
        ]);
        assert_eq!(merged, vec![b("llm:a", Open, 3), b("tool:x", HalfOpen, 3)]);
    }
}
