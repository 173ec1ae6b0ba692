//! Two threads allocating, growing and freeing across shared accounts, handing blocks to each
//! other to free: no count is lost, so every account ends at zero.

use std::sync::mpsc;

use fleetbench_heap as heap;
use heap::{Account, charged_to};

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

const ACCOUNTS: usize = 16;
const STEPS: usize = 200_000;
const KEPT: usize = 64;

/// xorshift64: deterministic, allocation-free randomness.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn worker(
    seed: u64,
    accounts: &[Account],
    to_peer: mpsc::Sender<Vec<u8>>,
    from_peer: mpsc::Receiver<Vec<u8>>,
) {
    let mut rng = Rng(seed);
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(KEPT);
    for _ in 0..STEPS {
        let account = accounts[rng.below(ACCOUNTS)];
        let size = if rng.below(100) == 0 {
            1 + rng.below(1 << 20)
        } else {
            1 + rng.below(4096)
        };
        match rng.below(4) {
            // A new block under a random account, replacing (freeing) a kept one.
            0 | 1 => {
                let block = charged_to(account, || vec![0_u8; size]);
                if kept.len() < KEPT {
                    kept.push(block);
                } else {
                    let i = rng.below(KEPT);
                    kept[i] = block;
                }
            }
            // Growth under a random account: the block moves there.
            2 if !kept.is_empty() => {
                let i = rng.below(kept.len());
                charged_to(account, || kept[i].reserve_exact(size));
            }
            // Hand a block to the other thread, which frees it.
            _ if !kept.is_empty() => {
                let block = kept.swap_remove(rng.below(kept.len()));
                let _ = to_peer.send(block);
            }
            _ => {}
        }
        // The peer's blocks are freed here, half inside a random account's scope (where
        // this thread may hold that account's unpublished change: see `table::pending`).
        while let Ok(block) = from_peer.try_recv() {
            if rng.below(2) == 0 {
                charged_to(account, || drop(block));
            } else {
                drop(block);
            }
        }
    }
    drop(to_peer);
    drop(kept);
    for block in from_peer {
        drop(block);
    }
}

#[test]
fn two_threads_across_accounts_end_at_zero() {
    let accounts: Vec<Account> = (0..ACCOUNTS).map(|_| Account::open()).collect();
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    std::thread::scope(|scope| {
        let accounts = &accounts;
        scope.spawn(move || worker(0x9E37_79B9_7F4A_7C15, accounts, to_b, from_b));
        scope.spawn(move || worker(0xD1B5_4A32_D192_ED03, accounts, to_a, from_a));
    });
    for account in &accounts {
        let usage = account.usage();
        assert_eq!(usage.live, 0, "{account:?}: {usage:?}");
        assert_eq!(account.header_bytes(), 0, "{account:?}");
        assert!(usage.peak > 0, "{account:?} was used");
    }
}
