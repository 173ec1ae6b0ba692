//! The account current on this thread, and the scoped ways to change it.

use std::cell::Cell;

use crate::table::Account;

thread_local! {
    /// Raw index of the account charged for this thread's allocations; 0 = shared.
    ///
    /// `const`-initialised `Cell<u32>`: no lazy initialisation and no destructor, so the
    /// allocator may read it on any path, including while the thread is being torn down,
    /// without allocating or registering anything.
    static CURRENT: Cell<u32> = const { Cell::new(0) };
}

/// Raw index of the current account (0 = shared). Never allocates, never panics: the
/// allocator's hot path.
#[inline]
pub(crate) fn raw() -> u32 {
    CURRENT.try_with(Cell::get).unwrap_or(0)
}

/// The account current on this thread, if any.
pub fn current() -> Option<Account> {
    Account::from_raw(raw())
}

/// Restores the previous current account when dropped, so a panic inside a scope or a poll
/// cannot leave the thread charging the wrong account.
pub(crate) struct Restore {
    previous: u32,
}

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        // `try_with`: a guard dropped during thread teardown has nothing left to restore.
        let _ = CURRENT.try_with(|current| current.set(self.previous));
        // The scope's account is no longer current here: publish what it changed on this
        // thread, unless it is the one current again.
        crate::table::flush_unless(self.previous);
    }
}

/// Makes raw index `account` current until the returned guard drops.
#[inline]
pub(crate) fn enter(account: u32) -> Restore {
    let previous = CURRENT
        .try_with(|current| current.replace(account))
        .unwrap_or(0);
    Restore { previous }
}

/// Runs `f` with no current account: what it allocates is charged to the shared figure.
///
/// For work done on behalf of every agent from inside one agent's poll (a shared cache, the
/// in-process mock). The previous account is restored afterwards, also if `f` panics.
///
/// For async work, [`shared_future`](crate::shared_future) wraps a future so that every poll
/// of it runs shared.
pub fn shared<R>(f: impl FnOnce() -> R) -> R {
    let _restore = enter(0);
    f()
}

/// Runs `f` with `account` current: the synchronous counterpart of
/// [`Attributed`](crate::Attributed). The previous account is restored afterwards, also if `f`
/// panics.
pub fn charged_to<R>(account: Account, f: impl FnOnce() -> R) -> R {
    let _restore = enter(account.raw());
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        let (a, b) = (Account::open(), Account::open());
        assert_eq!(current(), None);
        charged_to(a, || {
            assert_eq!(current(), Some(a));
            charged_to(b, || assert_eq!(current(), Some(b)));
            assert_eq!(current(), Some(a));
            shared(|| assert_eq!(current(), None));
            assert_eq!(current(), Some(a));
        });
        assert_eq!(current(), None);
    }

    #[test]
    fn a_panic_restores_the_previous_account() {
        let a = Account::open();
        charged_to(a, || {
            let caught = std::panic::catch_unwind(|| shared(|| panic!("inside shared")));
            assert!(caught.is_err());
            assert_eq!(current(), Some(a));
        });
        assert_eq!(current(), None);
    }
}
