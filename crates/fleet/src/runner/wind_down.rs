//! The end of a run: the grace period, then the calls still in flight cancelled and counted.

use std::time::Duration;

use tokio::task::JoinSet;

use clients::ErrorKind;
use metrics::CallClass;

use super::Shared;

/// After the stop: calls in flight get the grace period. Then every call still in flight is
/// cancelled through the clients, so it ends as `cancelled` and its turn is reported (every
/// call and attempt that started is counted); an agent that still has not returned
/// [`CANCEL_WAIT`] later (one of a team's own that ignores its calls' results) is aborted, its
/// turn counted as cancelled with what it had not reported.
pub(super) async fn wind_down(shared: &Shared, tasks: &mut JoinSet<()>) {
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(shared.stop.grace, drain).await.is_ok() {
        return;
    }
    shared.clients.cancel_calls();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(CANCEL_WAIT, drain).await.is_ok() {
        return;
    }
    let aborted = tasks.len() as u64;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    shared.record(|r| {
        r.counters.turns_cancelled += aborted;
        for _ in 0..aborted {
            r.error(CallClass::Turn, ErrorKind::Cancelled);
        }
    });
}

/// How long agents get to return once their calls are cancelled (the built-in agent returns
/// on the same tick).
const CANCEL_WAIT: Duration = Duration::from_secs(1);
