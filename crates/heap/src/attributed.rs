//! [`Attributed`]: a future that makes an account current around each poll of another.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::current;
use crate::table::Account;

/// A future that makes an account current around each poll of `fut`, restoring the previous
/// one after the poll (also if it panics). Made by [`attribute`] and [`inherit`].
///
/// Only what `fut` allocates while it is being polled is charged; its destructor runs under
/// whatever account is current where the `Attributed` is dropped. Frees are credited to each
/// block's owner wherever they happen.
#[must_use = "futures do nothing unless polled"]
pub struct Attributed<F> {
    /// Raw account index, 0 = shared (an `inherit` made outside any account).
    account: u32,
    /// Structurally pinned: see `poll`.
    fut: F,
}

/// Wraps `fut` so each of its polls is charged to `account`.
pub fn attribute<F: Future>(account: Account, fut: F) -> Attributed<F> {
    Attributed {
        account: account.raw(),
        fut,
    }
}

/// Wraps `fut` in the account current now, at the call (not at each poll), for tasks an agent
/// spawns: `tokio::spawn(heap::inherit(async { .. }))` from inside an agent's poll charges
/// the task to that agent. With no current account its polls run shared.
pub fn inherit<F: Future>(fut: F) -> Attributed<F> {
    Attributed {
        account: current::raw(),
        fut,
    }
}

/// Wraps `fut` so that every poll of it runs shared: the async counterpart of
/// [`shared`](crate::shared), for work done for every agent from inside one agent's poll (the
/// in-process mock answering a call).
pub fn shared_future<F: Future>(fut: F) -> Attributed<F> {
    Attributed { account: 0, fut }
}

impl<F> Attributed<F> {
    /// The account its polls are charged to (`None`: shared).
    pub fn account(&self) -> Option<Account> {
        Account::from_raw(self.account)
    }
}

impl<F: Future> Future for Attributed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _restore = current::enter(self.account);
        // SAFETY: structural pinning of `fut`. It is never moved out of a pinned `Attributed`
        // (no method hands out `&mut F` or `F` from `&mut self`/`Pin`), `Attributed` has no
        // `Drop` impl that could move it, and it is `Unpin` only when `F` is (the auto impl),
        // so a pinned `Attributed` keeps `fut` pinned until it is dropped in place.
        let fut = unsafe { self.map_unchecked_mut(|this| &mut this.fut) };
        fut.poll(cx)
    }
}

impl<F> fmt::Debug for Attributed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attributed")
            .field("account", &self.account())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::Waker;

    /// A future that is pending once (recording the current account each poll), then ready;
    /// `!Unpin`, to check that pinning by hand works for such futures.
    struct Twice {
        seen: Vec<Option<Account>>,
        _pinned: std::marker::PhantomPinned,
    }

    impl Future for Twice {
        type Output = Vec<Option<Account>>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            // SAFETY: `seen` is not structurally pinned; nothing is moved out of `self`.
            let this = unsafe { self.get_unchecked_mut() };
            this.seen.push(crate::current());
            if this.seen.len() < 2 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(std::mem::take(&mut this.seen))
            }
        }
    }

    fn twice() -> Twice {
        Twice {
            seen: Vec::new(),
            _pinned: std::marker::PhantomPinned,
        }
    }

    fn run<F: Future>(fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn each_poll_runs_under_the_account() {
        let a = Account::open();
        let wrapped = attribute(a, twice());
        assert_eq!(wrapped.account(), Some(a));
        assert!(format!("{wrapped:?}").contains("Attributed"));
        assert_eq!(run(wrapped), vec![Some(a), Some(a)]);
        assert_eq!(crate::current(), None);
    }

    #[test]
    fn inherit_takes_the_account_at_the_call() {
        let a = Account::open();
        let child = crate::charged_to(a, || inherit(twice()));
        let orphan = inherit(twice());
        assert_eq!(child.account(), Some(a));
        assert_eq!(orphan.account(), None);
        let b = Account::open();
        let seen = crate::charged_to(b, || run(child));
        assert_eq!(seen, vec![Some(a), Some(a)]);
        let seen = crate::charged_to(b, || run(orphan));
        assert_eq!(seen, vec![None, None]);
        assert_eq!(crate::current(), None);
    }

    #[test]
    fn a_shared_future_polls_shared_inside_an_account() {
        let a = Account::open();
        let seen = crate::charged_to(a, || {
            let fut = shared_future(twice());
            assert_eq!(fut.account(), None);
            run(fut)
        });
        assert_eq!(seen, vec![None, None]);
    }

    #[test]
    fn a_panicking_poll_restores_the_previous_account() {
        let (a, b) = (Account::open(), Account::open());
        let caught = crate::charged_to(b, || {
            let caught = std::panic::catch_unwind(|| {
                run(attribute(a, async {
                    assert_eq!(crate::current(), Some(a));
                    panic!("inside the poll")
                }))
            });
            assert_eq!(crate::current(), Some(b));
            caught
        });
        assert!(caught.is_err());
        assert_eq!(crate::current(), None);
    }
}
