//! The live clock's threads: one current-thread runtime per core the process may use, the
//! agents spread over them in turn (and, with the embedded mock, its connections too).
//!
//! Why not tokio's multi-thread runtime: a load generator is saturated by design, and there
//! the work-stealing scheduler is unfair. Its per-worker queue holds 256 tasks; past that,
//! woken agents overflow to the shared queue, which a busy worker polls only now and then,
//! while the LIFO slot runs the task just woken first. At 1,024 agents on one core the median
//! call took 4–6 ms and the 99th percentile 180 ms (the same endpoint gave oha 14 and 22 ms):
//! a few agents waited for everyone else many times over. A current-thread runtime runs its
//! tasks in the order they were woken, so every agent waits about one round. One runtime per
//! core, each agent staying on its own, is what oha does too; it also keeps an agent's
//! wake-ups on one thread.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where a run's tasks go: the current runtime (virtual clock, tests), or spread over the
/// live workers' runtimes by key (an agent's id, a session's number).
#[derive(Clone, Debug, Default)]
pub(crate) struct Spawner {
    threads: Option<Arc<[Handle]>>,
}

impl Spawner {
    /// Spawns `task` into `tasks` on the runtime of `key` as `account`'s: the task's future
    /// (boxed under the account) and everything it allocates when polled are the account's;
    /// the runtime's bookkeeping is shared. Why: a runtime queues every task spawned before
    /// it runs any, and its run queue doubles as it fills, so the agent whose spawn crossed
    /// a power of two was charged the whole queue (agent 4,094 of a 5,000-agent fleet held
    /// 86 kB against a median of 17 kB; agent 524,280 of a million, 4.2 MB).
    pub(crate) fn spawn_charged<F>(
        &self,
        tasks: &mut JoinSet<()>,
        key: u64,
        account: heap::Account,
        task: F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = heap::charged_to(account, || Box::pin(heap::attribute(account, task)));
        heap::shared(|| self.spawn(tasks, key, task));
    }

    /// Spawns `task` into `tasks` on the runtime of `key`.
    pub(crate) fn spawn<F>(&self, tasks: &mut JoinSet<()>, key: u64, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.threads {
            Some(threads) => {
                let index = usize::try_from(key % threads.len() as u64).unwrap_or(0);
                tasks.spawn_on(task, &threads[index]);
            }
            None => {
                tasks.spawn(task);
            }
        }
    }

    /// Every runtime tasks may go to (empty: the current one only).
    pub(crate) fn threads(&self) -> &[Handle] {
        self.threads.as_deref().unwrap_or_default()
    }
}

/// The live workers: the calling thread's runtime (it runs the fleet's own tasks and its
/// share of the agents) and one more thread with a runtime of its own per further core.
#[derive(Debug)]
pub(crate) struct Workers {
    main: Runtime,
    spawner: Spawner,
    stop: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// As many runtimes as cores this process may run on (its CPU affinity: under
    /// `taskset -c 0`, one).
    pub(crate) fn start() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let main = runtime()?;
        let stop = CancellationToken::new();
        let mut handles = vec![main.handle().clone()];
        let mut threads = Vec::new();
        for n in 1..cores {
            let (ready, started) = std::sync::mpsc::channel();
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("fleet-worker-{n}"))
                .spawn(move || match runtime() {
                    Ok(runtime) => {
                        let _ = ready.send(Ok(runtime.handle().clone()));
                        // Runs what is spawned on it until the run is over.
                        runtime.block_on(stop.cancelled());
                    }
                    Err(err) => {
                        let _ = ready.send(Err(err));
                    }
                })?;
            let handle = started
                .recv()
                .map_err(|_| std::io::Error::other("a worker thread ended at its start"))??;
            handles.push(handle);
            threads.push(thread);
        }
        Ok(Self {
            main,
            spawner: Spawner {
                threads: Some(handles.into()),
            },
            stop,
            threads,
        })
    }

    /// Runs `future` on the calling thread's runtime, the others running beside it; then stops
    /// them (what they still hold is dropped).
    pub(crate) fn run<T>(self, future: impl Future<Output = T>) -> T {
        let result = self.main.block_on(future);
        self.stop.cancel();
        for thread in self.threads {
            let _ = thread.join();
        }
        result
    }

    pub(crate) fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }
}

fn runtime() -> std::io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}
