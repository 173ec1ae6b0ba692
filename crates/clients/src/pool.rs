//! The pool: a bound on requests in flight per provider or tool, with a bounded queue in
//! front. Beyond the queue, callers are shed at once with an error (backpressure) instead of
//! waiting without limit. The bound also caps sockets: with HTTP/1.1 every concurrent request
//! needs its own connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The queue was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed;

/// A bounded pool of in-flight slots with a bounded wait queue.
#[derive(Debug)]
pub struct Pool {
    /// One permit per request allowed in flight; FIFO, so waiters are served in order.
    slots: Arc<Semaphore>,
    size: usize,
    /// Callers waiting for a slot now.
    waiting: AtomicU32,
    max_queue: u32,
}

/// Decrements the waiting count however the wait ends (a cancelled caller included).
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// A pool of `max_in_flight` slots and `max_queue` waiting places.
    pub fn new(max_in_flight: u32, max_queue: u32) -> Self {
        let size = usize::try_from(max_in_flight).unwrap_or(usize::MAX).max(1);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            waiting: AtomicU32::new(0),
            max_queue,
        }
    }

    /// A slot and the time waited for it, or [`Shed`] at once when the queue is full.
    pub async fn acquire(&self) -> Result<(OwnedSemaphorePermit, Duration), Shed> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok((permit, Duration::ZERO));
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Shed);
        }
        let _waiting = Waiting(&self.waiting);
        let start = Instant::now();
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the pool semaphore is never closed");
        Ok((permit, start.elapsed()))
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.size - self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bound_queue_and_shedding() {
        let pool = Arc::new(Pool::new(2, 1));
        let (a, _) = pool.acquire().await.unwrap();
        let (_b, _) = pool.acquire().await.unwrap();
        assert_eq!(pool.in_flight(), 2);
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire().await.map(|(_, waited)| waited) })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            pool.acquire().await.unwrap_err(),
            Shed,
            "the queue holds one"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(a);
        assert_eq!(waiter.await.unwrap().unwrap(), Duration::from_millis(30));
    }
}
