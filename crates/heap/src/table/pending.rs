//! An account's changes made on this thread, published in bulk: the change in flight.
//!
//! Why: an atomic read-modify-write is a locked instruction, which waits for the core's
//! store buffer to drain. Two of them per allocation-and-free pair were most of what tracking
//! cost a virtual run (docs/performance.md, "Heap tracking: one account's changes per
//! thread"). An agent's allocations and frees come in runs, all under its account, during
//! one poll on one thread. So this thread keeps the change to one account (the last one
//! charged here) in a thread-local, and adds it to the account's counter in one atomic add:
//! when it is charged for another account, when the scope that made it current ends
//! ([`flush_unless`], from `current::Restore`), or when the change has reached
//! [`FLUSH_BYTES`] either way.
//!
//! What that makes of the figures: an account's usage read on this thread includes the
//! pending change (so an agent reading its own figures mid-poll sees them exact); read on
//! another thread, it lacks the change of a scope still running, at most `FLUSH_BYTES`. The
//! peak is kept exact: every charge compares the counter plus the pending change with it.
//! Frees of blocks owned by another account than the pending one (a buffer freed on another
//! thread, or in another agent's poll) go straight to that account's counter, atomically, as
//! before.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use super::{BYTES, Slot, bytes, slot};

/// How far the pending change's bytes may move before it is published.
const FLUSH_BYTES: i64 = 64 * 1024;

thread_local! {
    /// The raw account (0: none) and its change not yet added to its counter, packed as
    /// `Slot::live` (wrapping). `const` and without a destructor, as the current account
    /// is: readable on any path. Only accounts with a slot are ever held.
    static PENDING: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
}

/// Adds `packed` to `account` (whose slot is `slot`), raising its peak.
#[inline]
pub(super) fn add(slot: &Slot, account: u32, packed: u64) {
    let held = PENDING.try_with(|pending| {
        let (held, change) = pending.get();
        let change = if held == account {
            change.wrapping_add(packed)
        } else {
            publish(held, change);
            packed
        };
        keep(pending, slot, account, change)
    });
    match held {
        Ok(change) => {
            let live = slot.live.load(Relaxed).wrapping_add(change) & BYTES;
            if live > slot.peak.load(Relaxed) {
                slot.peak.fetch_max(live, Relaxed);
            }
        }
        // The thread is being torn down: straight to the counter.
        Err(_) => slot.add(packed),
    }
}

/// Holds `change` as `account`'s pending change, or publishes it to `slot` at once if it has
/// reached `FLUSH_BYTES` either way; returns what is left pending.
#[inline]
fn keep(pending: &Cell<(u32, u64)>, slot: &Slot, account: u32, change: u64) -> u64 {
    let kept = if bytes(change).abs() >= FLUSH_BYTES {
        slot.live.fetch_add(change, Relaxed);
        0
    } else {
        change
    };
    pending.set((account, kept));
    kept
}

/// Takes `packed` off `account` (whose slot is `slot`).
#[inline]
pub(super) fn sub(slot: &Slot, account: u32, packed: u64) {
    let held = PENDING.try_with(|pending| {
        let (held, change) = pending.get();
        if held != account {
            return false;
        }
        keep(pending, slot, account, change.wrapping_sub(packed));
        true
    });
    if held != Ok(true) {
        slot.live.fetch_sub(packed, Relaxed);
    }
}

/// This thread's pending change to `account` (0 if it holds none).
#[inline]
pub(super) fn of(account: u32) -> u64 {
    PENDING
        .try_with(|pending| match pending.get() {
            (held, change) if held == account => change,
            _ => 0,
        })
        .unwrap_or(0)
}

fn publish(account: u32, change: u64) {
    if change != 0
        && let Some(slot) = slot(account)
    {
        slot.live.fetch_add(change, Relaxed);
    }
}

/// Publishes the pending change unless it is `account`'s.
#[inline]
pub(crate) fn flush_unless(account: u32) {
    let _ = PENDING.try_with(|pending| {
        let (held, change) = pending.get();
        if held != account && held != 0 {
            publish(held, change);
            pending.set((0, 0));
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::table::{Account, Usage, charge, credit};

    /// `account`'s usage as another thread reads it.
    fn read_elsewhere(account: Account) -> Usage {
        std::thread::scope(|s| s.spawn(|| account.usage()).join().expect("reads"))
    }

    #[test]
    fn a_scope_publishes_its_change_when_it_ends() {
        let a = Account::open();
        {
            let _scope = crate::current::enter(a.raw());
            charge(a.raw(), 1000, 16);
            credit(a.raw(), 1000, 16);
            charge(a.raw(), 300, 16);
            // This thread sees its own change; another sees it once published.
            assert_eq!(
                a.usage(),
                Usage {
                    live: 300,
                    peak: 1000
                }
            );
            assert_eq!(a.blocks(), 1);
            assert_eq!(
                read_elsewhere(a),
                Usage {
                    live: 0,
                    peak: 1000
                }
            );
            // Another account's scope inside this one leaves the change pending.
            drop(crate::current::enter(0));
            assert_eq!(read_elsewhere(a).live, 0);
        }
        assert_eq!(
            read_elsewhere(a),
            Usage {
                live: 300,
                peak: 1000
            }
        );
        credit(a.raw(), 300, 16);
        assert_eq!(
            read_elsewhere(a),
            Usage {
                live: 0,
                peak: 1000
            }
        );
    }

    #[test]
    fn a_large_change_is_published_at_once() {
        let a = Account::open();
        let _scope = crate::current::enter(a.raw());
        charge(a.raw(), 100_000, 16);
        assert_eq!(read_elsewhere(a).live, 100_000);
        credit(a.raw(), 100_000, 16);
        assert_eq!(
            read_elsewhere(a),
            Usage {
                live: 0,
                peak: 100_000
            }
        );
    }

    #[test]
    fn charging_another_account_publishes_the_pending_one() {
        let (a, b) = (Account::open(), Account::open());
        let _scope = crate::current::enter(a.raw());
        charge(a.raw(), 10, 16);
        // A free of b's block while a's change is pending goes straight to b.
        charge(b.raw(), 20, 16);
        assert_eq!(read_elsewhere(a).live, 10);
        charge(a.raw(), 5, 16);
        credit(b.raw(), 20, 16);
        assert_eq!(read_elsewhere(b), Usage { live: 0, peak: 20 });
        assert_eq!(a.usage().live, 15);
        credit(a.raw(), 15, 16);
    }
}
