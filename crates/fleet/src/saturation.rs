//! The live clock's probe of the harness itself (`docs/metrics.md`, "Harness saturation"). A
//! task on the fleet's runtime sleeps [`PROBE_INTERVAL`] at a time on tokio's clock and
//! records how late each wake-up is (`scheduler_lag`): when the process is out of CPU, the
//! probe waits for a thread and for the timer like every agent's task does, so its lateness is
//! theirs. Beside it, the process's CPU time is read against wall time × the cores it may use,
//! over the run and over windows of [`CPU_WINDOW`]. `metrics::HarnessSection` judges both.
//!
//! The virtual clock runs no probe: simulated time does not depend on the harness's speed.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use metrics::{HarnessFigures, LatencyHistogram, MetricKind, Recorder};

use crate::process;

/// The probe's sleep: about 100 samples a second (a 10 s run's p99 rests on its ten latest
/// wake-ups), at no measurable cost. Tokio's timer fires on whole milliseconds, so even an
/// idle runtime shows lags of 1-2 ms.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The window of the peak CPU utilisation.
pub(crate) const CPU_WINDOW: Duration = Duration::from_secs(1);

/// A running probe; [`Probe::finish`] stops it and hands over what it measured.
#[derive(Debug)]
pub(crate) struct Probe {
    stop: CancellationToken,
    task: JoinHandle<Measured>,
}

impl Probe {
    /// Starts the probe on the current runtime, every [`PROBE_INTERVAL`].
    pub(crate) fn start() -> Self {
        Self::every(PROBE_INTERVAL, CPU_WINDOW)
    }

    fn every(interval: Duration, window: Duration) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(probe(interval, window, stop.clone()));
        Self { stop, task }
    }

    /// Stops the probe; what it measured.
    pub(crate) async fn finish(self) -> Measured {
        self.stop.cancel();
        match self.task.await {
            Ok(measured) => measured,
            // The task is never aborted, so a join error is its panic: pass it on.
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}

/// What a probe measured.
#[derive(Debug)]
pub(crate) struct Measured {
    /// How late each wake-up was.
    lag: LatencyHistogram,
    /// The interval, cores and CPU utilisation.
    figures: HarnessFigures,
}

impl Measured {
    /// Into `r`: the lag as its `scheduler_lag` histogram, the figures as its `harness`.
    pub(crate) fn record_into(self, r: &mut Recorder) {
        r.latency
            .entry(MetricKind::SchedulerLag)
            .or_default()
            .merge(&self.lag);
        r.harness = Some(r.harness.map_or(self.figures, |h| h.max(&self.figures)));
    }
}

async fn probe(interval: Duration, window: Duration, stop: CancellationToken) -> Measured {
    let origin = std::time::Instant::now();
    let read = || CpuSample {
        wall: origin.elapsed(),
        cpu: process::cpu_time().unwrap_or_default(),
    };
    let mut cpu = CpuMeter::new(process::cores(), window, read());
    let mut lag = LatencyHistogram::default();
    loop {
        let due = Instant::now() + interval;
        let stopped = tokio::select! {
            biased;
            () = stop.cancelled() => true,
            () = sleep_until(due) => false,
        };
        // A wake-up that was due counts even when the stop is what woke the probe: a runtime
        // blocked until the end of the run is the lag to report.
        let now = Instant::now();
        if now >= due {
            record_lag(&mut lag, now - due, interval);
        }
        if stopped {
            break;
        }
        if cpu.due(origin.elapsed()) {
            cpu.sample(read());
        }
    }
    Measured {
        lag,
        figures: cpu.figures(read(), interval),
    }
}

/// Records a wake-up `late` behind its timer, and the wake-ups a probe ticking every
/// `interval` would have had meanwhile: `late - interval`, `late - 2 × interval`, … down to
/// `interval` (HdrHistogram's correction for coordinated omission). Without them, a stall
/// would count once however long it lasted, since a late probe also wakes up less often: a
/// half-second stall at the start of a 10 s run would be a few samples in a thousand, below
/// p99, while every timer of the fleet due in it was late. With them, the histogram weighs
/// time evenly: its p99 is the lag a timer due at a random moment of the run saw.
fn record_lag(h: &mut LatencyHistogram, late: Duration, interval: Duration) {
    h.record(late);
    if interval.is_zero() {
        return;
    }
    let mut missed = late.saturating_sub(interval);
    while missed >= interval {
        h.record(missed);
        missed -= interval;
    }
}

/// The process's CPU time at a moment of wall time (since the probe started).
#[derive(Clone, Copy, Debug)]
struct CpuSample {
    wall: Duration,
    cpu: Duration,
}

/// Process CPU against wall time × cores: over the whole run, and the busiest window.
#[derive(Debug)]
struct CpuMeter {
    cores: u32,
    window: Duration,
    first: CpuSample,
    last: CpuSample,
    /// The busiest closed window's utilisation.
    peak: Option<f64>,
}

impl CpuMeter {
    fn new(cores: u32, window: Duration, at: CpuSample) -> Self {
        Self {
            cores,
            window,
            first: at,
            last: at,
            peak: None,
        }
    }

    /// Whether a window has passed at `wall` since the last sample ([`CpuMeter::sample`]
    /// then closes it; a late probe makes it longer).
    fn due(&self, wall: Duration) -> bool {
        wall.saturating_sub(self.last.wall) >= self.window
    }

    /// Closes the window that ends at `at`.
    fn sample(&mut self, at: CpuSample) {
        let u = self.utilisation(self.last, at);
        self.peak = Some(self.peak.map_or(u, |p| p.max(u)));
        self.last = at;
    }

    /// The figures at `end`. The whole run counts as a window too, so the peak is at least
    /// the mean (and is the mean when the run was shorter than a window).
    fn figures(&self, end: CpuSample, probe_interval: Duration) -> HarnessFigures {
        let mean = self.utilisation(self.first, end);
        HarnessFigures {
            probe_interval,
            cores: self.cores,
            cpu_utilisation: mean,
            cpu_utilisation_peak: self.peak.map_or(mean, |p| p.max(mean)),
            cpu_window: self.window,
        }
    }

    fn utilisation(&self, from: CpuSample, to: CpuSample) -> f64 {
        let wall = to.wall.saturating_sub(from.wall);
        if wall.is_zero() {
            return 0.0;
        }
        let cpu = to.cpu.saturating_sub(from.cpu);
        cpu.as_secs_f64() / (wall.as_secs_f64() * f64::from(self.cores.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(wall_ms: u64, cpu_ms: u64) -> CpuSample {
        CpuSample {
            wall: Duration::from_millis(wall_ms),
            cpu: Duration::from_millis(cpu_ms),
        }
    }

    #[test]
    fn a_blocked_runtime_shows_as_lag() {
        // Real time: a lower bound, which a busy machine can only make larger.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let measured = runtime.block_on(async {
            let probe = Probe::every(Duration::from_millis(10), CPU_WINDOW);
            // Spawned after the probe, so polled after it armed its first 10 ms sleep (a
            // current-thread runtime polls new tasks in order): it holds the only thread 50 ms.
            tokio::spawn(async { std::thread::sleep(Duration::from_millis(50)) })
                .await
                .expect("the blocking task finishes");
            probe.finish().await
        });
        assert!(
            measured.lag.max() >= Duration::from_millis(40),
            "due 10 ms after the probe started, polled 50 ms after: {measured:?}"
        );
        // At least 40, 30, 20 and 10 ms: the wake-ups the stall stood for count too.
        assert!(measured.lag.count() >= 4, "{measured:?}");
        assert_eq!(measured.figures.probe_interval, Duration::from_millis(10));
        assert!(measured.figures.cores >= 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_runtime_wakes_on_time() {
        let probe = Probe::every(Duration::from_millis(10), CPU_WINDOW);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let measured = probe.finish().await;
        assert!(
            (99..=100).contains(&measured.lag.count()),
            "a wake-up every 10 ms: {measured:?}"
        );
        assert!(
            measured.lag.max() < Duration::from_millis(1),
            "{measured:?}"
        );
    }

    #[test]
    fn a_late_wake_up_stands_for_the_ones_it_missed() {
        let ms = Duration::from_millis;
        let mut h = LatencyHistogram::default();
        record_lag(&mut h, ms(35), ms(10));
        // 35, then 25 and 15 ms: the lags of wake-ups due every 10 ms during the stall.
        assert_eq!(h.count(), 3);
        assert_eq!(h.min().as_millis(), 15);
        record_lag(&mut h, ms(9), ms(10));
        record_lag(&mut h, ms(10), ms(10));
        record_lag(&mut h, ms(20), ms(10));
        assert_eq!(h.count(), 3 + 1 + 1 + 2);
        record_lag(&mut h, ms(20), Duration::ZERO);
        assert_eq!(h.count(), 8);
    }

    #[test]
    fn cpu_over_the_run_and_its_busiest_window() {
        let mut m = CpuMeter::new(2, Duration::from_secs(1), at(0, 0));
        assert!(!m.due(Duration::from_millis(999)));
        assert!(m.due(Duration::from_millis(1000)));
        m.sample(at(1000, 400)); // 400 ms of 2 cores × 1 s: 20 %
        m.sample(at(2000, 2200)); // 1.8 s: 90 %
        let f = m.figures(at(2500, 2700), Duration::from_millis(10));
        // 2.7 s of CPU in 2.5 s on 2 cores.
        assert!((f.cpu_utilisation - 0.54).abs() < 1e-9, "{f:?}");
        assert!((f.cpu_utilisation_peak - 0.9).abs() < 1e-9, "{f:?}");
        assert_eq!(f.cores, 2);
        assert_eq!(f.cpu_window, Duration::from_secs(1));
        // Shorter than a window: the peak is the mean; no wall time: nothing measured.
        let short = CpuMeter::new(4, Duration::from_secs(1), at(0, 100));
        let f = short.figures(at(500, 1100), Duration::from_millis(10));
        assert!((f.cpu_utilisation - 0.5).abs() < 1e-9, "{f:?}");
        assert_eq!(f.cpu_utilisation_peak, f.cpu_utilisation);
        assert_eq!(
            short.figures(at(0, 100), Duration::ZERO).cpu_utilisation,
            0.0
        );
    }

    #[test]
    fn a_probe_records_into_the_recorder() {
        let mut lag = LatencyHistogram::default();
        lag.record(Duration::from_millis(3));
        let figures = HarnessFigures {
            cores: 2,
            cpu_utilisation: 0.5,
            ..HarnessFigures::default()
        };
        let mut r = Recorder::default();
        Measured { lag, figures }.record_into(&mut r);
        assert_eq!(r.histogram(MetricKind::SchedulerLag).count(), 1);
        assert_eq!(r.harness, Some(figures));
        let s = metrics::HarnessSection::of(&r).expect("the probe's section");
        assert!(!s.saturated);
        assert_eq!(s.scheduler_lag_samples, 1);
    }
}
