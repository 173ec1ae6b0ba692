//! An agent's running totals and the heap account its allocations are charged to: kept while
//! it runs, readable after it is gone or cancelled.

use std::sync::{Arc, Mutex, PoisonError};

use metrics::{AgentSummary, HeapFigures};
use scenario::Scenario;

use crate::agent::TurnReport;

/// One agent's totals and heap account (clones share them).
#[derive(Clone)]
pub(crate) struct Tally {
    totals: Arc<Mutex<Totals>>,
    account: heap::Account,
}

#[derive(Default)]
struct Totals {
    summary: AgentSummary,
    /// Heap the agent held when its last turn ended.
    heap_final: u64,
}

impl Tally {
    /// A new agent `id`: its totals (listed in `all`) and a fresh heap account.
    pub(crate) fn open(all: &Mutex<Vec<Tally>>, id: u64) -> Self {
        let tally = Self {
            totals: Arc::new(Mutex::new(Totals {
                summary: AgentSummary {
                    id,
                    ..AgentSummary::default()
                },
                heap_final: 0,
            })),
            account: heap::Account::open(),
        };
        all.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tally.clone());
        tally
    }

    /// The account the agent's allocations are charged to.
    pub(crate) fn account(&self) -> heap::Account {
        self.account
    }

    /// The agent's id.
    pub(crate) fn id(&self) -> u64 {
        self.lock().summary.id
    }

    /// Adds one turn. Called inside the agent's poll; the bookkeeping is the harness's, so it
    /// is charged as shared heap.
    pub(crate) fn turn(&self, turn: &TurnReport) {
        let held = self.account.usage().live;
        heap::shared(|| {
            let mut t = self.lock();
            t.heap_final = held;
            let s = &mut t.summary;
            s.turns += 1;
            s.errors += u64::from(turn.error.is_some());
            s.response.record(turn.response);
            s.conversation_bytes = s.conversation_bytes.max(turn.conversation_bytes);
            s.conversation_tokens = s.conversation_tokens.max(turn.conversation_tokens);
            s.structural_peak_bytes = s.structural_peak_bytes.max(turn.memory_bytes);
            s.structural_final_bytes = turn.memory_bytes;
        });
    }

    /// The totals at the end of the run, with the heap figures when the allocator tracks.
    pub(crate) fn finish(&self, tracking: bool) -> AgentSummary {
        let t = self.lock();
        AgentSummary {
            heap: tracking.then(|| HeapFigures {
                peak_bytes: self.account.usage().peak,
                final_bytes: t.heap_final,
            }),
            ..t.summary.clone()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Loads what the run shares lazily (the tokenizers) before any agent runs, so it is charged
/// as shared heap rather than to whichever agent happens to count tokens first.
pub(crate) fn warm_shared_state(scenario: &Scenario) {
    for tokenizer in [scenario.mock.tokenizer, scenario.compression.tokenizer] {
        if tokenizer != scenario::Tokenizer::Chars {
            let _ = tokencount::count(tokenizer, "warm");
        }
    }
}

/// Live heap of this fleet's agents now, summed over their accounts (0 without the tracking
/// allocator): this fleet's only, not another's in the same process (a part of a sharded run,
/// a parallel test).
pub(crate) fn live_heap(tallies: &Mutex<Vec<Tally>>) -> u64 {
    let tallies = tallies.lock().unwrap_or_else(PoisonError::into_inner);
    tallies.iter().map(|t| t.account().usage().live).sum()
}
