//! Per-agent heap attribution for fleetbench.
//!
//! A fleet runs thousands of agents as futures on a few threads, so the process's RSS says
//! nothing about what one agent holds. This crate answers that: [`TrackingAllocator`] wraps
//! mimalloc and charges every allocation to the [`Account`] (one per agent)
//! current on the allocating thread, and [`Attributed`] makes an account current around each
//! poll of an agent's future. Binaries install the allocator and wrap each agent, as in
//! `tokio::spawn(heap::attribute(account, agent.run()))`:
//!
//! ```
//! # use fleetbench_heap as heap;
//! #[global_allocator]
//! static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();
//!
//! # fn main() {
//! let agent = heap::Account::open();
//! let history = heap::charged_to(agent, || vec![0_u8; 1_000]);
//! assert_eq!(agent.usage(), heap::Usage { live: 1_000, peak: 1_000 });
//! drop(history); // wherever it is freed, the bytes go back to `agent`
//! assert_eq!(agent.usage(), heap::Usage { live: 0, peak: 1_000 });
//! # }
//! ```
//!
//! Tasks an agent spawns are wrapped with [`inherit`]; work done for everyone from inside an
//! agent's poll (shared caches, the in-process mock) runs under [`shared`], or
//! [`shared_future`] for a future.
//!
//! # What is counted
//!
//! Only the bytes asked for (`Layout::size()`), not the allocator's header or rounding, so the
//! figures are the same on every machine. Each block remembers its owner, so a free made
//! anywhere (another thread, another task, outside any poll) is credited back to the account
//! that made it. `realloc` moves a block to the account current at the `realloc` (growing a
//! buffer charges whoever grows it). Bytes made outside any attributed poll, or inside
//! [`shared`], are charged to the shared figure ([`shared_usage`]). What tracking itself costs
//! in memory, the per-block headers, is reported apart ([`Account::header_bytes`]). Figures
//! are exact up to 1 TiB live per account. Without the allocator installed everything still
//! works and every figure stays 0 ([`installed`] says which).
//!
//! # Modules
//!
//! - `allocator`: [`TrackingAllocator`], the block header and its layout.
//! - `table`: the lock-free account table ([`Account`], [`Usage`], [`shared_usage`],
//!   [`stats`]); [`accounts_live`] sums it.
//! - `current`: the thread's current account ([`current`], [`shared`], [`charged_to`]).
//! - `attributed`: the future wrapper ([`Attributed`], [`attribute`], [`inherit`],
//!   [`shared_future`]).
//!
//! This is the only fleetbench crate with `unsafe` code; every block says why it is sound.

mod allocator;
mod attributed;
mod current;
mod table;

pub use allocator::{TrackingAllocator, installed};
pub use attributed::{Attributed, attribute, inherit, shared_future};
pub use current::{charged_to, current, shared};
pub use table::{Account, Stats, Usage, shared_header_bytes, shared_usage, stats};

/// Live bytes of every account opened in this process, summed: what all agents hold now (the
/// shared figure, [`shared_usage`], is not included). Process-wide, like the shared figure:
/// two fleets in one process (or the parts of a sharded run) are counted together.
///
/// It reads the counter of every account opened so far, one after the other (a 128-byte slot
/// each): a cost that grows with the accounts the process has opened, for a progress line,
/// not a hot path. Other threads allocate meanwhile, so it is a sum of recent figures, not
/// one instant's.
pub fn accounts_live() -> u64 {
    let opened = u32::try_from(stats().accounts_opened).unwrap_or(u32::MAX);
    (1..=opened)
        .filter_map(Account::from_raw)
        .map(|account| account.usage().live)
        .sum()
}
