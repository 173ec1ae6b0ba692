//! The closed loop: a fixed fleet of agents started evenly over the ramp-up, each running
//! sessions back to back until the stop (the next session waits for the previous one).

use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use scenario::SimRng;

use super::{Shared, session};
use crate::agent::Agent;
use crate::schedule::ramp_offset;
use crate::shard::Part;
use crate::tally::Tally;

/// Spawns this part's agents, each to start at its place on the ramp from `start`.
pub(super) fn spawn_agents<A, F>(
    shared: &Arc<Shared>,
    make_agent: &F,
    tallies: &Arc<Mutex<Vec<Tally>>>,
    (start, part): (Instant, Part),
    tasks: &mut JoinSet<()>,
) where
    A: Agent + 'static,
    F: Fn(u64) -> A,
{
    let fleet = &shared.scenario.fleet;
    for i in (0..fleet.agents).filter(|i| part.owns(*i)) {
        let at = start + ramp_offset(i, fleet.agents, fleet.ramp_up.0);
        let tally = Tally::open(tallies, u64::from(i));
        // The agent, its task and what they allocate from now on are its own.
        let account = tally.account();
        let agent = heap::charged_to(account, || make_agent(u64::from(i)));
        let task = closed_agent(shared.clone(), agent, tally, at);
        shared
            .spawner
            .spawn_charged(tasks, u64::from(i), account, task);
    }
}

/// A closed-loop agent: starts on the ramp, then runs sessions back to back until the stop.
async fn closed_agent<A: Agent>(shared: Arc<Shared>, mut agent: A, tally: Tally, at: Instant) {
    // Every select! of the fleet is `biased`, the stop first: unbiased, select! polls its
    // branches in a random order (not the run's seed), so a stop at the very tick a wait ends
    // would go either way, run to run.
    tokio::select! {
        biased;
        () = shared.stop.token().cancelled() => return,
        () = sleep_until(at) => {}
    }
    shared.enter();
    let id = tally.id();
    let mut rng = SimRng::for_agent(shared.scenario.seed, id);
    while shared.stop.try_start_session() {
        session(&shared, &mut agent, &tally, id, &mut rng, None).await;
        let pause = shared.scenario.session.between_sessions.sample(&mut rng).0;
        if !shared.stop.pause(pause).await {
            break;
        }
    }
    shared.leave();
}
