//! What a run is given and gives back: its options (interrupt, progress), its outcome, and
//! why it could not start.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use metrics::RunSnapshot;

use crate::stop::StopReason;

/// What the run prints while it goes: counts so far and the heap now.
///
/// In a sharded run each part reports its own; the run's progress adds the parts' counts and
/// passes the heap figures on as read (they are the process's already).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Time since the start (simulated under the virtual clock).
    pub elapsed: Duration,
    /// Agents (or open-loop sessions) running now.
    pub alive: u64,
    /// Turns completed.
    pub turns: u64,
    /// Turns failed.
    pub failed_turns: u64,
    /// Sessions started.
    pub sessions_started: u64,
    /// Sessions that ran to their end.
    pub sessions_completed: u64,
    /// p95 of `agent_response` so far.
    pub p95: Duration,
    /// Live heap of the run's agents now, summed over their accounts: bytes, 0 without the
    /// tracking allocator. Each part of a sharded run reads its own agents; the run's progress
    /// adds them.
    pub agents_heap: u64,
    /// Live shared heap now ([`heap::shared_usage`]): what no agent owns (the runtime, the
    /// in-process mock, the token memo, the recorders). The process's figure, as above.
    pub shared_heap: u64,
}

/// A callback that receives progress.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A callback that receives the run's intervals, in time order, as they end.
pub type IntervalFn = Arc<dyn Fn(&metrics::Interval) + Send + Sync>;

/// A callback that receives the embedded mock's base URL.
pub type MockFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Cancel to stop the run early (Ctrl-C); it still reports what it has.
    pub interrupt: CancellationToken,
    /// Called every `progress_every`.
    pub progress: Option<ProgressFn>,
    /// How often progress is reported.
    pub progress_every: Duration,
    /// The values of the environment variables the scenario refers to (`api_key_env`,
    /// `{ env = "VAR" }`), read before the run (`scenario::Loaded::secrets`); `None` reads them
    /// from the environment when the clients are built.
    pub secrets: Option<scenario::Secrets>,
    /// Live clock: the embedded mock to serve, instead of one made from the scenario (an
    /// HTTP-agent run hands over the one its driver reads attributions from).
    pub mock: Option<mock::MockServer>,
    /// Live clock: called with the embedded mock's base URL (`http://127.0.0.1:8790`) once it
    /// listens, before any traffic.
    pub on_mock: Option<MockFn>,
    /// Read from outside while the run goes (`run --metrics-listen`, docs/prometheus.md).
    pub live: Option<crate::live::LiveWatch>,
    /// The time series' interval, of the run's clock (`run --interval`).
    pub interval: Duration,
    /// Called with each interval of the run as it ends ([`metrics::Interval`]); `None` cuts
    /// none.
    pub on_interval: Option<IntervalFn>,
    /// Run only this part of the scenario (`run --part I/N`): its share of the agents, rates,
    /// stop counts and every shared limit, its own mock seed, as part I of `fleet.shards = N`
    /// runs on a thread. [`RunOutcome::part`] then holds what it measured, for the merge.
    pub part: Option<crate::Part>,
    /// Live clock: the fleet's ramp starts at this instant (`run --start-at`), once the
    /// clients are built and checked, so parts on different machines start together; an
    /// instant already past starts it at once.
    pub start_at: Option<std::time::SystemTime>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("progress_every", &self.progress_every)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            interrupt: CancellationToken::new(),
            progress: None,
            progress_every: Duration::from_secs(1),
            secrets: None,
            mock: None,
            on_mock: None,
            live: None,
            interval: Duration::from_secs(1),
            on_interval: None,
            part: None,
            start_at: None,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct RunOutcome {
    /// Everything measured.
    pub snapshot: RunSnapshot,
    /// Why it stopped.
    pub stop: StopReason,
    /// What the embedded mock observed, as its `GET /stats` body (`docs/mock.md`): one per
    /// part of the run, in part order; empty when no endpoint is embedded. An independent
    /// witness of the load the clients sent (rates, requests, faults).
    pub mock_observed: Vec<serde_json::Value>,
    /// With [`RunOptions::part`]: what the part measured, unmerged (its part report's
    /// figures); `snapshot` is then the part's own report, as a run of that part alone.
    pub part: Option<crate::PartOutcome>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The async runtime could not be created.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The embedded mock could not listen on 127.0.0.1.
    #[error("cannot start the embedded mock on 127.0.0.1")]
    Mock(#[source] std::io::Error),
    /// The embedded mock could not listen on `[mock] listen`.
    #[error(
        "`mock.listen`: cannot listen on {addr}: {source}; choose a free port (or stop what listens there)"
    )]
    MockListen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The clients could not be built.
    #[error(transparent)]
    Clients(#[from] clients::BuildError),
    /// `[compression] zstd_dictionary`: the dictionary could not be trained.
    #[error("`compression.zstd_dictionary`: {0}")]
    Dictionary(#[from] conversation::cold::ColdError),
}
