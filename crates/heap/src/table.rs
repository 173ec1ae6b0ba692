//! The account table: per-account live and peak counters, lock-free and never allocating
//! through the tracking allocator.
//!
//! Accounts are numbered from 1 (0 is the shared figure, kept in its own static slot). The
//! table is a static array of 1,024 pointers to segments of 4,096 slots each, 4,194,304
//! slots in all. A segment is allocated from [`System`] (zeroed) by the first
//! [`Account::open`] that needs it, published with a compare-exchange, and never freed, so
//! the allocator's hot path is one acquire load and an index, and a slot's address is stable
//! for the life of the process. Indices are never reused, so an opened account always starts
//! at zero. Accounts beyond the capacity (or whose segment could not be allocated) are charged
//! to the shared figure and counted in [`Stats`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroU32;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*};

/// Number of segment pointers in the static table.
const SEGMENTS: usize = 1 << 10;
/// Slots per segment (a segment is `SLOTS * 128` bytes = 512 KiB).
const SLOTS: usize = 1 << 12;
/// Indices below this have a slot; 0's is never used (0 means shared).
const CAPACITY: u32 = (SEGMENTS * SLOTS) as u32;

/// Header bytes every block carries; over-aligned blocks carry their alignment instead.
pub(crate) const MIN_HEADER: usize = 16;

/// `Slot::live` packs two counters so that one atomic add charges both: requested bytes in the
/// low `BYTE_BITS` bits (exact up to 1 TiB live per account) and live blocks in the high 24
/// bits (modulo 2^24, used only for the header figures).
const BYTE_BITS: u32 = 40;
const BYTES: u64 = (1 << BYTE_BITS) - 1;
const ONE_BLOCK: u64 = 1 << BYTE_BITS;

/// One account's counters.
///
/// Padded to 128 bytes (two cache lines, as Intel's adjacent-line prefetcher pairs them):
/// accounts are opened in sequence and their agents run on different worker threads, so
/// neighbours sharing a line would make every allocation a cache miss.
/// The all-zero bit pattern is a valid, empty slot (segments come from `alloc_zeroed`).
///
/// All accesses are relaxed: the counters order nothing else, and each is a single atomic
/// variable, whose modification order follows happens-before, so a block's free (or realloc)
/// is never applied before its allocation and the byte field never goes below zero.
#[repr(C, align(128))]
struct Slot {
    /// Live blocks and their requested bytes, packed (see `BYTE_BITS`).
    live: AtomicU64,
    /// Highest live byte count seen since the account opened (or since `reset_peak`).
    peak: AtomicU64,
    /// Header bytes beyond `MIN_HEADER` of live over-aligned blocks (rare, so a separate add).
    extra_header: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            extra_header: AtomicU64::new(0),
        }
    }

    #[inline]
    fn charge(&self, account: u32, bytes: u64, header: usize) {
        pending::add(self, account, ONE_BLOCK + bytes);
        if header > MIN_HEADER {
            self.extra_header
                .fetch_add((header - MIN_HEADER) as u64, Relaxed);
        }
    }

    #[inline]
    fn credit(&self, account: u32, bytes: u64, header: usize) {
        pending::sub(self, account, ONE_BLOCK + bytes);
        if header > MIN_HEADER {
            self.extra_header
                .fetch_sub((header - MIN_HEADER) as u64, Relaxed);
        }
    }

    /// Adds `packed` (blocks and bytes) to `live` and raises the peak to the new byte count.
    #[inline]
    fn add(&self, packed: u64) {
        let live = self.live.fetch_add(packed, Relaxed).wrapping_add(packed) & BYTES;
        // Peak rarely moves in steady state: a plain load instead of a CAS loop.
        if live > self.peak.load(Relaxed) {
            self.peak.fetch_max(live, Relaxed);
        }
    }

    /// Live blocks and bytes, packed, with this thread's pending change to `account` (the
    /// slot's) added.
    fn packed(&self, account: u32) -> u64 {
        self.live.load(Relaxed).wrapping_add(pending::of(account))
    }

    fn usage(&self, account: u32) -> Usage {
        let live = self.packed(account) & BYTES;
        // Read after `live` and raised to it: a charge racing this read may have bumped `live`
        // but not yet `peak`.
        let peak = self.peak.load(Relaxed).max(live);
        Usage { live, peak }
    }

    fn blocks(&self, account: u32) -> u64 {
        self.packed(account) >> BYTE_BITS
    }

    fn header_bytes(&self, account: u32) -> u64 {
        self.blocks(account) * MIN_HEADER as u64 + self.extra_header.load(Relaxed)
    }
}

/// The segment pointers, read on every attributed allocation; aligned so that no counter
/// written by the hot path shares their first lines.
#[repr(align(128))]
struct Table([AtomicPtr<Slot>; SEGMENTS]);

static TABLE: Table = Table([const { AtomicPtr::new(ptr::null_mut()) }; SEGMENTS]);
static SHARED: Slot = Slot::new();
/// Next account index to hand out; saturates at `u32::MAX` (far beyond `CAPACITY`).
static NEXT: AtomicU32 = AtomicU32::new(1);
static OVERFLOWED_ACCOUNTS: AtomicU64 = AtomicU64::new(0);
static OVERFLOWED_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn segment_layout() -> Layout {
    Layout::new::<[Slot; SLOTS]>()
}

/// The slot of account `index` (non-zero), if its segment exists.
#[inline]
fn slot(index: u32) -> Option<&'static Slot> {
    let index = index as usize;
    let segment = TABLE.0.get(index / SLOTS)?.load(Acquire);
    if segment.is_null() {
        return None;
    }
    // SAFETY: a non-null segment pointer was published (with release) by `ensure_segment`
    // after `System.alloc_zeroed` of `[Slot; SLOTS]`; zeroed slots are valid, segments are
    // never freed, and `index % SLOTS < SLOTS` stays inside the array. Slots are only used
    // through atomics, so shared references from many threads are fine.
    Some(unsafe { &*segment.add(index % SLOTS) })
}

/// Allocates the segment holding `index` if nobody has; false if it could not be allocated.
fn ensure_segment(index: u32) -> bool {
    let Some(entry) = TABLE.0.get(index as usize / SLOTS) else {
        return false;
    };
    if !entry.load(Acquire).is_null() {
        return true;
    }
    let layout = segment_layout();
    // SAFETY: the layout has a non-zero size. Straight from `System`, never through the
    // tracking allocator, so this may run while the table is being used by an allocation.
    let fresh = unsafe { System.alloc_zeroed(layout) }.cast::<Slot>();
    if fresh.is_null() {
        return false;
    }
    if entry
        .compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire)
        .is_err()
    {
        // SAFETY: another thread published its segment first; ours was never shared, and is
        // freed with the layout it was allocated with.
        unsafe { System.dealloc(fresh.cast(), layout) };
    }
    true
}

/// Charges `bytes` (and `header` bytes of overhead) to raw account `account`, or to the shared
/// figure if it is 0 or has no slot. Returns the owner to record in the block: `account`, or 0
/// if the charge went to shared.
#[inline]
pub(crate) fn charge(account: u32, bytes: usize, header: usize) -> u32 {
    match resolve(account) {
        Some((slot, owner)) => {
            slot.charge(owner, bytes as u64, header);
            owner
        }
        None => {
            shared::charge(bytes as u64, header);
            0
        }
    }
}

/// Credits `bytes` (and `header`) back to the owner recorded in a block.
#[inline]
pub(crate) fn credit(owner: u32, bytes: usize, header: usize) {
    match resolve(owner) {
        Some((slot, owner)) => slot.credit(owner, bytes as u64, header),
        None => shared::credit(bytes as u64, header),
    }
}

/// Moves a block of `old_bytes` owned by `owner` to raw account `account` at `new_bytes`.
/// Returns the new owner to record.
#[inline]
pub(crate) fn recharge(
    owner: u32,
    old_bytes: usize,
    account: u32,
    new_bytes: usize,
    header: usize,
) -> u32 {
    let target = resolve(account);
    let new_owner = target.map_or(0, |(_, owner)| owner);
    if new_owner != owner {
        credit(owner, old_bytes, header);
        return charge(new_owner, new_bytes, header);
    }
    let (old, new) = (old_bytes as u64, new_bytes as u64);
    match target {
        Some((slot, owner)) if new >= old => pending::add(slot, owner, new - old),
        Some((slot, owner)) => pending::sub(slot, owner, old - new),
        None => shared::add(new.wrapping_sub(old)),
    }
    new_owner
}

/// Whether `account` has a slot (false beyond the capacity or if its segment is missing).
pub(crate) fn has_slot(account: Account) -> bool {
    slot(account.raw()).is_some()
}

/// The slot of raw account `account` and the owner to record, or `None` for the shared
/// figure (0, or an account without a slot).
#[inline]
fn resolve(account: u32) -> Option<(&'static Slot, u32)> {
    if account == 0 {
        return None;
    }
    let found = slot(account).map(|slot| (slot, account));
    if found.is_none() {
        OVERFLOWED_ALLOCATIONS.fetch_add(1, Relaxed);
    }
    found
}

mod pending;

/// The signed byte change in a packed change (a lane's, or a pending one).
#[inline]
fn bytes(packed: u64) -> i64 {
    ((packed << (64 - BYTE_BITS)) as i64) >> (64 - BYTE_BITS)
}

pub(crate) use pending::flush_unless;

/// The shared figure, counted per thread: what nobody's account pays for (the runtime, the
/// connection pools, an embedded mock) is allocated on every thread at once, and one counter
/// written from every core costs each allocation a cache-line transfer (100–150 ns on two
/// cores against 15 ns, docs/performance.md). So each thread adds to a lane of its own, and a
/// lane whose bytes have moved by [`FLUSH_BYTES`] either way since it was last emptied is
/// emptied into [`SHARED`], which keeps the peak.
///
/// What that makes of the figures: the live bytes ([`shared_usage`]) add up [`SHARED`] and
/// every lane, so they are exact whenever they are read; the peak is the highest total
/// [`SHARED`] has held when a lane was emptied into it or when the figure was read, so it is
/// at most `FLUSH_BYTES` per thread that allocates shared blocks below the true peak (64 KiB
/// each: 128 KiB for a two-core live run), and never above it. One thread alone (a virtual
/// run, with no other thread allocating shared blocks) misses at most one lane's worth.
mod shared {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

    use super::{MIN_HEADER, SHARED, bytes};

    /// Lanes; threads beyond this many share them (still correct, just contended again).
    const LANE_COUNT: usize = 64;
    /// How far a lane's bytes may move before it is emptied into `SHARED`.
    pub(super) const FLUSH_BYTES: i64 = 64 * 1024;

    /// One thread's not yet emptied change: blocks and bytes packed as in `Slot::live`,
    /// wrapping (a lane goes below zero when its thread frees blocks others allocated).
    #[repr(C, align(128))]
    pub(super) struct Lane(pub(super) AtomicU64);

    pub(super) static LANES: [Lane; LANE_COUNT] = [const { Lane(AtomicU64::new(0)) }; LANE_COUNT];
    static NEXT_LANE: AtomicU32 = AtomicU32::new(0);

    thread_local! {
        /// This thread's lane, `u32::MAX` until its first shared allocation. `const` and
        /// without a destructor, as the current account is: readable on any path.
        static LANE: Cell<u32> = const { Cell::new(u32::MAX) };
    }

    #[inline]
    fn lane() -> &'static Lane {
        let index = LANE
            .try_with(|lane| match lane.get() {
                u32::MAX => {
                    let index = NEXT_LANE.fetch_add(1, Relaxed) % LANE_COUNT as u32;
                    lane.set(index);
                    index
                }
                index => index,
            })
            .unwrap_or(0);
        &LANES[index as usize]
    }

    /// Adds `packed` (wrapping) to this thread's lane, emptying it into `SHARED` once its
    /// bytes have moved far enough.
    #[inline]
    pub(super) fn add(packed: u64) {
        let lane = lane();
        let now = lane.0.fetch_add(packed, Relaxed).wrapping_add(packed);
        if bytes(now).abs() >= FLUSH_BYTES {
            SHARED.add(lane.0.swap(0, Relaxed));
        }
    }

    #[inline]
    pub(super) fn charge(bytes: u64, header: usize) {
        add(super::ONE_BLOCK + bytes);
        if header > MIN_HEADER {
            SHARED
                .extra_header
                .fetch_add((header - MIN_HEADER) as u64, Relaxed);
        }
    }

    #[inline]
    pub(super) fn credit(bytes: u64, header: usize) {
        add((super::ONE_BLOCK + bytes).wrapping_neg());
        if header > MIN_HEADER {
            SHARED
                .extra_header
                .fetch_sub((header - MIN_HEADER) as u64, Relaxed);
        }
    }

    /// `SHARED` and every lane, packed (wrapping).
    pub(super) fn total() -> u64 {
        LANES.iter().fold(SHARED.live.load(Relaxed), |sum, lane| {
            sum.wrapping_add(lane.0.load(Relaxed))
        })
    }
}

/// An account bytes are charged to: one per agent.
///
/// A cheap `Copy` handle. Indices are handed out in order and never reused within the process,
/// so a fresh account starts at zero and a stale handle can never read someone else's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Account(NonZeroU32);

impl Account {
    /// Opens a fresh account with live = peak = 0. Lock-free; allocates a 512 KiB table segment
    /// (from `System`) once per 4,096 accounts.
    pub fn open() -> Account {
        let previous = NEXT.fetch_update(Relaxed, Relaxed, |next| Some(next.saturating_add(1)));
        let (Ok(index) | Err(index)) = previous;
        if index >= CAPACITY || !ensure_segment(index) {
            OVERFLOWED_ACCOUNTS.fetch_add(1, Relaxed);
        }
        Account(NonZeroU32::new(index).expect("account indices start at 1 and saturate"))
    }

    /// Its live and peak bytes now. Zero for an account beyond the table's capacity (its bytes
    /// are in [`shared_usage`]).
    pub fn usage(self) -> Usage {
        slot(self.raw())
            .map(|slot| slot.usage(self.raw()))
            .unwrap_or_default()
    }

    /// Sets peak to the current live bytes, to measure the peak of a phase.
    pub fn reset_peak(self) {
        if let Some(slot) = slot(self.raw()) {
            slot.peak.store(slot.usage(self.raw()).live, Relaxed);
        }
    }

    /// Header bytes of the live blocks it owns: what tracking costs on top of
    /// [`Usage::live`] (16 bytes a block, or the alignment if larger). Derived from
    /// [`blocks`](Self::blocks), so it wraps with it.
    pub fn header_bytes(self) -> u64 {
        slot(self.raw()).map_or(0, |slot| slot.header_bytes(self.raw()))
    }

    /// Number of live blocks (allocations) it owns, modulo 2^24 (the counter shares one
    /// atomic word with the byte count).
    pub fn blocks(self) -> u64 {
        slot(self.raw()).map_or(0, |slot| slot.blocks(self.raw()))
    }

    pub(crate) fn raw(self) -> u32 {
        self.0.get()
    }

    pub(crate) fn from_raw(raw: u32) -> Option<Account> {
        NonZeroU32::new(raw).map(Account)
    }
}

/// Bytes an account holds: requested sizes of its live blocks, and the most it has held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of blocks it owns that are not yet freed.
    pub live: u64,
    /// The highest `live` has been since the account opened (or since `reset_peak`).
    pub peak: u64,
}

/// Bytes not charged to any account: made outside any attributed poll, inside [`shared`],
/// or under an account beyond the table's capacity.
///
/// [`shared`]: crate::shared
///
/// The live bytes are exact; the peak may be below the true one by up to 64 KiB per thread
/// that allocates shared blocks (they are counted per thread and gathered in steps: see the
/// `shared` module).
pub fn shared_usage() -> Usage {
    let live = shared::total() & BYTES;
    let peak = SHARED.peak.fetch_max(live, Relaxed).max(live);
    Usage { live, peak }
}

/// Header bytes of the live shared blocks (see [`Account::header_bytes`]).
pub fn shared_header_bytes() -> u64 {
    (shared::total() >> BYTE_BITS) * MIN_HEADER as u64 + SHARED.extra_header.load(Relaxed)
}

/// Table-wide counters, for reports and sanity checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Accounts opened so far in this process.
    pub accounts_opened: u64,
    /// Accounts with no slot (beyond the 4,194,303-account capacity, or their table segment
    /// could not be allocated): their bytes go to the shared figure.
    pub overflowed_accounts: u64,
    /// Allocations and reallocations made under such accounts, charged to the shared figure
    /// instead.
    pub overflowed_allocations: u64,
}

/// The table-wide counters now.
pub fn stats() -> Stats {
    Stats {
        accounts_opened: u64::from(NEXT.load(Relaxed)) - 1,
        overflowed_accounts: OVERFLOWED_ACCOUNTS.load(Relaxed),
        overflowed_allocations: OVERFLOWED_ALLOCATIONS.load(Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_two_cache_lines() {
        assert_eq!(size_of::<Slot>(), 128);
        assert_eq!(segment_layout().size(), 512 * 1024);
    }

    #[test]
    fn accounts_are_fresh_and_distinct() {
        let (a, b) = (Account::open(), Account::open());
        assert_ne!(a, b);
        assert!(b.raw() > a.raw());
        assert_eq!(a.usage(), Usage::default());
        assert!(slot(a.raw()).is_some());
        assert!(stats().accounts_opened >= 2);
    }

    #[test]
    fn charge_credit_and_peak() {
        let a = Account::open();
        assert_eq!(charge(a.raw(), 100, 16), a.raw());
        assert_eq!(charge(a.raw(), 50, 16), a.raw());
        credit(a.raw(), 100, 16);
        assert_eq!(
            a.usage(),
            Usage {
                live: 50,
                peak: 150
            }
        );
        assert_eq!(a.header_bytes(), 16);
        a.reset_peak();
        assert_eq!(a.usage(), Usage { live: 50, peak: 50 });
        // Grow in place, then shrink, then move to another account.
        assert_eq!(recharge(a.raw(), 50, a.raw(), 80, 16), a.raw());
        assert_eq!(recharge(a.raw(), 80, a.raw(), 10, 16), a.raw());
        assert_eq!(a.usage(), Usage { live: 10, peak: 80 });
        let b = Account::open();
        assert_eq!(recharge(a.raw(), 10, b.raw(), 30, 16), b.raw());
        assert_eq!(a.usage(), Usage { live: 0, peak: 80 });
        assert_eq!(b.usage(), Usage { live: 30, peak: 30 });
        assert_eq!((a.header_bytes(), b.header_bytes()), (0, 16));
        credit(b.raw(), 30, 16);
        assert_eq!(b.usage().live, 0);
    }

    #[test]
    fn an_index_without_a_slot_is_charged_to_shared() {
        let before = stats().overflowed_allocations;
        assert!(resolve(CAPACITY).is_none());
        assert!(resolve(u32::MAX).is_none());
        assert_eq!(stats().overflowed_allocations, before + 2);
        assert!(slot(CAPACITY).is_none());
    }
}
