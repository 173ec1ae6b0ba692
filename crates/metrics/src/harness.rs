//! Whether the harness itself was the bottleneck of a live run (`docs/metrics.md`, "Harness
//! saturation"). When the process that drives the agents is out of CPU, its tasks wait for a
//! thread and its timers fire late: the latencies it records then measure the harness, not
//! the system under test. The live clock runs a probe beside the fleet that measures two
//! figures, judged here against fixed thresholds:
//!
//! - `scheduler_lag`: how late the probe's short sleeps woke up, weighted by time (a latency
//!   histogram of the recorder, [`MetricKind::SchedulerLag`]);
//! - CPU utilisation: the process's CPU time over wall time × the cores it may use
//!   ([`HarnessFigures`]).
//!
//! The virtual clock runs no probe (simulated time does not depend on the harness's speed),
//! so its reports have no `harness` section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::histogram::LatencyHistogram;
use crate::recorder::Recorder;
use crate::{MetricKind, ms};

/// The p99 of `scheduler_lag` above which a run is flagged: a healthy runtime wakes within
/// about 2 ms at p99 (tokio's timer rounds a sleep up to its next millisecond tick), an
/// overloaded one tens or hundreds of milliseconds late (`docs/metrics.md` has the
/// measurements on a 2-core machine).
pub const SCHEDULER_LAG_P99_LIMIT: Duration = Duration::from_millis(10);

/// The share of the cores busy over the run above which a run is flagged: beyond it, runnable
/// tasks queue for a thread.
pub const CPU_UTILISATION_LIMIT: f64 = 0.9;

/// What the live clock's probe measured besides the `scheduler_lag` histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HarnessFigures {
    /// How long the probe sleeps between wake-ups; each wake-up's lag is one sample.
    pub probe_interval: Duration,
    /// Cores the process may run on (`std::thread::available_parallelism`).
    pub cores: u32,
    /// Process CPU time (user + system) over wall time × `cores`, while the probe ran.
    pub cpu_utilisation: f64,
    /// The same over the busiest window of `cpu_window` (the run's figure when it was shorter).
    pub cpu_utilisation_peak: f64,
    /// The length of the windows `cpu_utilisation_peak` is taken over.
    pub cpu_window: Duration,
}

impl HarnessFigures {
    /// The larger of each figure. Probes of one process (the only case: a live run is one
    /// part) see the same CPU, so the larger is the figure; the rule is associative and
    /// commutative, as recorders' merging must be.
    pub fn max(&self, other: &HarnessFigures) -> HarnessFigures {
        HarnessFigures {
            probe_interval: self.probe_interval.max(other.probe_interval),
            cores: self.cores.max(other.cores),
            cpu_utilisation: self.cpu_utilisation.max(other.cpu_utilisation),
            cpu_utilisation_peak: self.cpu_utilisation_peak.max(other.cpu_utilisation_peak),
            cpu_window: self.cpu_window.max(other.cpu_window),
        }
    }
}

/// Why a run was flagged as saturated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaturationReason {
    /// The p99 of `scheduler_lag` was above [`SCHEDULER_LAG_P99_LIMIT`].
    SchedulerLag,
    /// CPU utilisation over the run was above [`CPU_UTILISATION_LIMIT`].
    Cpu,
}

/// The thresholds a run was judged by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessThresholds {
    /// [`SCHEDULER_LAG_P99_LIMIT`], ms.
    pub scheduler_lag_p99_ms: f64,
    /// [`CPU_UTILISATION_LIMIT`], a fraction of the cores.
    pub cpu_utilisation: f64,
}

impl Default for HarnessThresholds {
    fn default() -> Self {
        Self {
            scheduler_lag_p99_ms: ms(SCHEDULER_LAG_P99_LIMIT),
            cpu_utilisation: CPU_UTILISATION_LIMIT,
        }
    }
}

/// The report's `harness` section: whether the harness was saturated, why, and the figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessSection {
    /// Whether any figure crossed its threshold: the run's latencies then measure the harness.
    pub saturated: bool,
    /// The figures that crossed their thresholds (empty when not saturated).
    pub reasons: Vec<SaturationReason>,
    /// The p99 of `scheduler_lag`, ms (`None` when the probe never woke up).
    pub scheduler_lag_p99_ms: Option<f64>,
    /// The largest `scheduler_lag`, ms (`None` when the probe never woke up).
    pub scheduler_lag_max_ms: Option<f64>,
    /// The probe's wake-ups, counting those a late one stood for (`docs/metrics.md`).
    pub scheduler_lag_samples: u64,
    /// The probe's sleep, ms.
    pub probe_interval_ms: f64,
    /// Cores the process may run on.
    pub cores: u32,
    /// Process CPU over wall time × `cores` while the fleet ran, in [0, 1].
    pub cpu_utilisation: f64,
    /// The same over the busiest `cpu_window_ms`.
    pub cpu_utilisation_peak: f64,
    /// The window of `cpu_utilisation_peak`, ms.
    pub cpu_window_ms: u64,
    /// What the figures were judged against.
    pub thresholds: HarnessThresholds,
}

/// A fraction to a tenth of a percent.
fn permille(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl HarnessSection {
    /// The section of a run that recorded `r`: `None` when no probe ran (the virtual clock).
    pub fn of(r: &Recorder) -> Option<Self> {
        let figures = r.harness.as_ref()?;
        let lag = r
            .latency
            .get(&MetricKind::SchedulerLag)
            .cloned()
            .unwrap_or_default();
        Some(Self::judge(figures, &lag))
    }

    /// Judges the probe's `figures` and its `lag` histogram against the thresholds.
    pub fn judge(figures: &HarnessFigures, lag: &LatencyHistogram) -> Self {
        let measured = lag.count() > 0;
        let p99 = lag.quantile(0.99);
        let mut reasons = Vec::new();
        if measured && p99 > SCHEDULER_LAG_P99_LIMIT {
            reasons.push(SaturationReason::SchedulerLag);
        }
        if figures.cpu_utilisation > CPU_UTILISATION_LIMIT {
            reasons.push(SaturationReason::Cpu);
        }
        HarnessSection {
            saturated: !reasons.is_empty(),
            reasons,
            scheduler_lag_p99_ms: measured.then(|| ms(p99)),
            scheduler_lag_max_ms: measured.then(|| ms(lag.max())),
            scheduler_lag_samples: lag.count(),
            probe_interval_ms: ms(figures.probe_interval),
            cores: figures.cores,
            cpu_utilisation: permille(figures.cpu_utilisation),
            cpu_utilisation_peak: permille(figures.cpu_utilisation_peak),
            cpu_window_ms: u64::try_from(figures.cpu_window.as_millis()).unwrap_or(u64::MAX),
            thresholds: HarnessThresholds::default(),
        }
    }

    /// `scheduler lag p99 38.2 ms > 10 ms, cpu 97 % of 2 cores > 90 %`: each figure, and its
    /// threshold when it crossed it. Reports format their own lines; this is for verdict notes.
    pub fn describe(&self) -> String {
        let lag = match self.scheduler_lag_p99_ms {
            Some(p99) => format!("scheduler lag p99 {p99} ms"),
            None => "scheduler lag not measured".to_owned(),
        };
        let cpu = format!(
            "cpu {} % of {} cores",
            (self.cpu_utilisation * 100.0).round(),
            self.cores
        );
        let over = |reason, figure: String, limit: String| {
            if self.reasons.contains(&reason) {
                format!("{figure} > {limit}")
            } else {
                figure
            }
        };
        format!(
            "{}, {}",
            over(
                SaturationReason::SchedulerLag,
                lag,
                format!("{} ms", self.thresholds.scheduler_lag_p99_ms)
            ),
            over(
                SaturationReason::Cpu,
                cpu,
                format!("{} %", (self.thresholds.cpu_utilisation * 100.0).round())
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(values_ms: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        for v in values_ms {
            h.record(Duration::from_millis(*v));
        }
        h
    }

    fn figures(cpu: f64) -> HarnessFigures {
        HarnessFigures {
            probe_interval: Duration::from_millis(10),
            cores: 2,
            cpu_utilisation: cpu,
            cpu_utilisation_peak: cpu,
            cpu_window: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_high_lag_is_saturated_with_its_reason() {
        // 98 wake-ups on time, 2 of 40 ms: p99 is 40 ms.
        let mut values = vec![1; 98];
        values.extend([40, 40]);
        let s = HarnessSection::judge(&figures(0.5), &lag(&values));
        assert!(s.saturated);
        assert_eq!(s.reasons, [SaturationReason::SchedulerLag]);
        assert_eq!(s.scheduler_lag_samples, 100);
        let p99 = s.scheduler_lag_p99_ms.expect("the probe woke up");
        assert!((39.9..40.1).contains(&p99), "{p99}");
        assert!(
            s.describe().starts_with("scheduler lag p99 40"),
            "{}",
            s.describe()
        );
        assert!(s.describe().contains("> 10 ms"), "{}", s.describe());
        assert!(
            s.describe().ends_with("cpu 50 % of 2 cores"),
            "{}",
            s.describe()
        );
    }

    #[test]
    fn a_low_lag_and_cpu_is_not_saturated() {
        // One late wake-up in 200 is below p99.
        let mut values = vec![1; 199];
        values.push(40);
        let s = HarnessSection::judge(&figures(0.4), &lag(&values));
        assert!(!s.saturated, "{s:?}");
        assert!(s.reasons.is_empty());
        assert_eq!(s.thresholds.scheduler_lag_p99_ms, 10.0);
        assert_eq!(s.scheduler_lag_max_ms.map(f64::round), Some(40.0));
        assert_eq!(s.describe(), "scheduler lag p99 1 ms, cpu 40 % of 2 cores");
    }

    #[test]
    fn busy_cores_are_saturated_and_the_limit_itself_is_not() {
        let s = HarnessSection::judge(&figures(0.97), &lag(&[1; 100]));
        assert_eq!(s.reasons, [SaturationReason::Cpu]);
        assert!(s.describe().ends_with("cpu 97 % of 2 cores > 90 %"));
        let at = HarnessSection::judge(&figures(CPU_UTILISATION_LIMIT), &lag(&[9; 100]));
        assert!(!at.saturated, "{at:?}");
        let both = HarnessSection::judge(&figures(1.0), &lag(&[50; 100]));
        assert_eq!(
            both.reasons,
            [SaturationReason::SchedulerLag, SaturationReason::Cpu]
        );
    }

    #[test]
    fn no_wake_up_is_no_lag_figure() {
        let s = HarnessSection::judge(&figures(0.1), &LatencyHistogram::default());
        assert!(!s.saturated);
        assert_eq!(s.scheduler_lag_p99_ms, None);
        assert_eq!(s.scheduler_lag_samples, 0);
        assert!(s.describe().starts_with("scheduler lag not measured"));
    }

    #[test]
    fn a_recorder_without_a_probe_has_no_section() {
        let mut r = Recorder::default();
        assert_eq!(HarnessSection::of(&r), None);
        r.harness = Some(figures(0.95));
        r.record(MetricKind::SchedulerLag, Duration::from_millis(2));
        let s = HarnessSection::of(&r).expect("the probe ran");
        assert_eq!(s.reasons, [SaturationReason::Cpu]);
        assert_eq!(s.scheduler_lag_samples, 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["reasons"][0], "cpu");
        assert_eq!(json["thresholds"]["cpu_utilisation"], 0.9);
        let back: HarnessSection = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }
}
