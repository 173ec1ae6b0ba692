//! [`TrackingAllocator`]: mimalloc plus a header recording each block's owner.
//!
//! Blocks come from mimalloc ([`BASE`]) rather than the C library's `malloc`: a virtual run
//! allocates on one thread for every agent, and glibc's allocator was a fifth of its time.
//! On 2 simulated minutes of 10,000 agents mimalloc took 16 % less CPU (same report, 16 %
//! more peak RSS); on 40 s the two were level (docs/performance.md). What the accounts count
//! (requested sizes) does not depend on the base.
//!
//! Block layout, for a request of `size` bytes aligned to `align`:
//!
//! ```text
//! base                                   base + h = returned pointer
//! |<---------------- h bytes ------------>|<------- size bytes ------->|
//! | unused .............. | owner: u32    | user data                  |
//! ```
//!
//! `h = max(16, align)`, and the block is allocated from [`BASE`] aligned to `h`, so the
//! returned pointer keeps its alignment and the owner (raw account index, 0 = shared) sits in
//! the 4 bytes just before it. `h` depends only on the alignment, which `realloc` never
//! changes, so every path can find the header again from the layout it is given.
//!
//! With `FLEETBENCH_HEAP=off` in the environment the allocator passes every call straight to
//! [`BASE`] (no header, no accounting): the mode is read on the first allocation of the
//! process, before any block exists, and never changes, so every block is freed the way it
//! was made. That is how the overhead of tracking is measured with the same binary, and how a
//! live load test can shed it.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::ptr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::current;
use crate::table::{self, Account, MIN_HEADER};

/// The allocator every block comes from.
const BASE: MiMalloc = MiMalloc;

/// The tracking allocator: [`BASE`] plus a per-block owner, charging every allocation to the
/// account current on the allocating thread. Binaries install it:
///
/// ```
/// # use fleetbench_heap as heap;
/// #[global_allocator]
/// static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();
/// # fn main() { assert!(heap::installed()); }
/// ```
///
/// Per allocation it costs one thread-local read, one relaxed atomic add and one load (the
/// peak) on top of the [`BASE`] call; per free one atomic subtract. No locks, and it never
/// allocates itself. Each block carries a header of `max(16, align)` bytes, which is not
/// counted in the figures (see [`Account::header_bytes`]).
///
/// `realloc` charges the new size to the account current at the call and credits the old size
/// to the block's previous owner: growing (or shrinking) a buffer moves it to whoever does it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackingAllocator;

impl TrackingAllocator {
    /// The allocator, for a `#[global_allocator]` static.
    pub const fn new() -> Self {
        TrackingAllocator
    }
}

/// The mode of the process: decided on the first allocation, never changed after.
static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);
const UNDECIDED: u8 = 0;
const TRACK: u8 = 1;
const PASS: u8 = 2;

/// Whether blocks carry headers and are charged (`false`: everything goes straight to
/// [`BASE`]).
#[inline]
fn tracking() -> bool {
    match MODE.load(Relaxed) {
        TRACK => true,
        PASS => false,
        _ => decide(),
    }
}

/// Reads `FLEETBENCH_HEAP` once. Runs on the process's first allocation, when no block exists
/// yet; if two threads race here they read the same environment and store the same mode.
#[cold]
fn decide() -> bool {
    // SAFETY: `getenv` with a NUL-terminated name; it does not allocate. The first allocation
    // happens before `main` changes the environment, if it ever does.
    let value = unsafe { libc::getenv(c"FLEETBENCH_HEAP".as_ptr()) };
    // SAFETY: a non-null result is a NUL-terminated string owned by the environment.
    let off = !value.is_null() && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == b"off";
    MODE.store(if off { PASS } else { TRACK }, Relaxed);
    !off
}

#[inline]
fn header_size(align: usize) -> usize {
    align.max(MIN_HEADER)
}

/// The [`BASE`] layout of a block holding `size` user bytes behind a header of `header`
/// bytes, or `None` if it would be too large.
#[inline]
fn block_layout(size: usize, header: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(header)?, header).ok()
}

/// Records `owner` in a fresh block and returns the user pointer.
///
/// # Safety
///
/// `base` is a non-null block from [`BASE`] of at least `header` bytes, aligned to `header`
/// (a power of two, at least 16).
#[inline]
unsafe fn finish(base: *mut u8, header: usize, owner: u32) -> *mut u8 {
    // SAFETY: `header <= block size`, so `base + header` is in the block or one past it.
    let user = unsafe { base.add(header) };
    // SAFETY: the 4 bytes before `user` are inside the header (header >= 16) and 4-aligned
    // (`user` is 16-aligned); nothing else uses them.
    unsafe { user.cast::<u32>().sub(1).write(owner) };
    user
}

/// The owner recorded in a block.
///
/// # Safety
///
/// `ptr` was returned by this allocator and is not yet freed.
#[inline]
unsafe fn owner(ptr: *mut u8) -> u32 {
    // SAFETY: `finish` wrote a u32 in the 4 aligned bytes before every pointer it returned.
    unsafe { ptr.cast::<u32>().sub(1).read() }
}

/// `alloc` and `alloc_zeroed`: a block of `layout` from `BASE` (zeroed if `zeroed`), behind a
/// header naming the current account, which is charged.
///
/// # Safety
///
/// `GlobalAlloc::alloc`'s: `layout` has a non-zero size.
#[inline]
unsafe fn allocate(layout: Layout, zeroed: bool) -> *mut u8 {
    let base_alloc = |layout| {
        // SAFETY: the caller's contract, and `block` below has a non-zero size (at least the
        // header).
        unsafe {
            if zeroed {
                BASE.alloc_zeroed(layout)
            } else {
                BASE.alloc(layout)
            }
        }
    };
    if !tracking() {
        return base_alloc(layout);
    }
    let header = header_size(layout.align());
    let Some(block) = block_layout(layout.size(), header) else {
        return ptr::null_mut();
    };
    let base = base_alloc(block);
    if base.is_null() {
        return base;
    }
    let owner = table::charge(current::raw(), layout.size(), header);
    // SAFETY: `base` is a fresh block of `block`, aligned to and larger than `header`.
    unsafe { finish(base, header, owner) }
}

// SAFETY: every block comes from `BASE` with a layout at least as large and as aligned as
// the request plus the header, the returned pointer is `header` bytes in (so it is aligned to
// `layout.align()` and has `layout.size()` usable bytes), and every free or realloc rebuilds
// the same `BASE` layout from the caller's layout, as `GlobalAlloc` requires callers to
// pass the layout the block was allocated with. Nothing here allocates or unwinds.
unsafe impl GlobalAlloc for TrackingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { allocate(layout, false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { allocate(layout, true) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !tracking() {
            // SAFETY: the mode never changes, so `ptr` came from `BASE` with `layout`.
            return unsafe { BASE.dealloc(ptr, layout) };
        }
        let header = header_size(layout.align());
        // SAFETY: the caller passes a live pointer from `alloc` with the layout it was made
        // with, so the header is in front of it, and `alloc` checked the block layout.
        unsafe {
            table::credit(owner(ptr), layout.size(), header);
            let block = Layout::from_size_align_unchecked(layout.size() + header, header);
            BASE.dealloc(ptr.sub(header), block);
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !tracking() {
            // SAFETY: the mode never changes, so `ptr` came from `BASE` with `layout`.
            return unsafe { BASE.realloc(ptr, layout, new_size) };
        }
        let header = header_size(layout.align());
        let Some(new_block) = block_layout(new_size, header) else {
            return ptr::null_mut();
        };
        // SAFETY: as in `dealloc`, `ptr` is live with `layout`, so the header and block layout
        // are as `alloc` made them; `new_block.size()` is non-zero and was checked not to
        // overflow when rounded to `header`. `BASE.realloc` keeps the block's first bytes,
        // the header included, and leaves the old block untouched if it fails.
        unsafe {
            let previous = owner(ptr);
            let block = Layout::from_size_align_unchecked(layout.size() + header, header);
            let base = BASE.realloc(ptr.sub(header), block, new_block.size());
            if base.is_null() {
                return base;
            }
            let owner = table::recharge(previous, layout.size(), current::raw(), new_size, header);
            if owner == previous {
                base.add(header)
            } else {
                finish(base, header, owner)
            }
        }
    }
}

/// Whether the tracking allocator is this process's global allocator.
///
/// Found out once, by making one small allocation through the global allocator under a fresh
/// account and seeing whether it was charged, then remembered. So calling a
/// [`TrackingAllocator`] directly (as the benchmark does) does not count as installed.
pub fn installed() -> bool {
    const UNKNOWN: u8 = 0;
    const NO: u8 = 1;
    const YES: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Relaxed) {
        YES => return true,
        NO => return false,
        _ => {}
    }
    let probe = Account::open();
    let charged = current::charged_to(probe, || {
        let block = std::hint::black_box(Box::new(0_u64));
        let charged = probe.usage().live != 0;
        drop(block);
        charged
    });
    // A probe whose account got no table slot (out of memory) proves nothing; ask again later.
    if charged || table::has_slot(probe) {
        STATE.store(if charged { YES } else { NO }, Relaxed);
    }
    charged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Usage, charged_to};
    use proptest::prelude::*;

    /// The allocator called directly (not installed in the unit-test binary), always under a
    /// fresh account so the shared figure stays untouched for other tests.
    const HEAP: TrackingAllocator = TrackingAllocator::new();

    #[test]
    fn header_is_sixteen_or_the_alignment() {
        assert_eq!(header_size(1), 16);
        assert_eq!(header_size(16), 16);
        assert_eq!(header_size(64), 64);
        assert_eq!(header_size(4096), 4096);
        assert!(block_layout(usize::MAX - 8, 16).is_none());
        assert!(block_layout(isize::MAX as usize - 16, 16).is_none());
    }

    #[test]
    fn direct_calls_charge_the_current_account() {
        let a = Account::open();
        for align in [1, 8, 16, 64, 4096] {
            let layout = Layout::from_size_align(100, align).expect("valid layout");
            charged_to(a, || {
                // SAFETY: non-zero size; freed below with the same layout.
                let p = unsafe { HEAP.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                assert_eq!(
                    a.usage(),
                    Usage {
                        live: 100,
                        peak: 100
                    }
                );
                assert_eq!(a.header_bytes(), header_size(align) as u64);
                // SAFETY: `p` has 100 writable bytes.
                unsafe { p.write_bytes(0xAB, 100) };
                // SAFETY: `p` is live with `layout`.
                let p = unsafe { HEAP.realloc(p, layout, 300) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                // SAFETY: the first 100 bytes were kept by realloc.
                let kept = unsafe { std::slice::from_raw_parts(p, 100) };
                assert!(kept.iter().all(|&b| b == 0xAB));
                assert_eq!(
                    a.usage(),
                    Usage {
                        live: 300,
                        peak: 300
                    }
                );
                // SAFETY: `p` is live with size 300 and `layout`'s alignment.
                unsafe { HEAP.dealloc(p, Layout::from_size_align_unchecked(300, align)) };
                assert_eq!(a.usage(), Usage { live: 0, peak: 300 });
                assert_eq!(a.header_bytes(), 0);
                a.reset_peak();
            });
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Alloc {
            account: usize,
            size: usize,
            align: usize,
            zeroed: bool,
        },
        Realloc {
            block: usize,
            account: usize,
            size: usize,
        },
        Free {
            block: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let align = prop::sample::select(vec![1_usize, 2, 8, 16, 32, 64, 4096]);
        prop_oneof![
            (0..3_usize, 1..5_000_usize, align, any::<bool>()).prop_map(
                |(account, size, align, zeroed)| Op::Alloc {
                    account,
                    size,
                    align,
                    zeroed
                }
            ),
            (any::<usize>(), 0..3_usize, 1..20_000_usize).prop_map(|(block, account, size)| {
                Op::Realloc {
                    block,
                    account,
                    size,
                }
            }),
            any::<usize>().prop_map(|block| Op::Free { block }),
        ]
    }

    /// A live block in the model: where it is, how it was made, who owns it, what it holds.
    struct Block {
        ptr: *mut u8,
        layout: Layout,
        owner: usize,
        fill: u8,
    }

    fn holds(block: &Block, fill: u8, len: usize) -> bool {
        // SAFETY: the block is live with at least `len` initialised bytes.
        unsafe { std::slice::from_raw_parts(block.ptr, len) }
            .iter()
            .all(|&b| b == fill)
    }

    proptest! {
        /// Any sequence of alloc, alloc_zeroed, realloc (also moving blocks between accounts)
        /// and free leaves each account's live and peak exactly as a model says, keeps
        /// alignment and contents, and ends at zero.
        #[test]
        fn figures_follow_a_model(ops in prop::collection::vec(op(), 1..60)) {
            let accounts = [Account::open(), Account::open(), Account::open()];
            let mut live = [0_u64; 3];
            let mut peak = [0_u64; 3];
            let mut blocks: Vec<Block> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let fill = step as u8;
                match op {
                    Op::Alloc { account, size, align, zeroed } => {
                        let layout = Layout::from_size_align(size, align).expect("valid layout");
                        let ptr = charged_to(accounts[account], || {
                            // SAFETY: non-zero size; freed below or at the end with `layout`.
                            unsafe {
                                if zeroed { HEAP.alloc_zeroed(layout) } else { HEAP.alloc(layout) }
                            }
                        });
                        prop_assert!(!ptr.is_null());
                        prop_assert_eq!(ptr as usize % align, 0);
                        let block = Block { ptr, layout, owner: account, fill };
                        if zeroed {
                            prop_assert!(holds(&block, 0, size));
                        }
                        // SAFETY: `size` writable bytes.
                        unsafe { ptr.write_bytes(fill, size) };
                        blocks.push(block);
                        live[account] += size as u64;
                    }
                    Op::Realloc { block, account, size } if !blocks.is_empty() => {
                        let i = block % blocks.len();
                        let old = &blocks[i];
                        let ptr = charged_to(accounts[account], || {
                            // SAFETY: the block is live with `old.layout`; `size` is non-zero.
                            unsafe { HEAP.realloc(old.ptr, old.layout, size) }
                        });
                        prop_assert!(!ptr.is_null());
                        prop_assert_eq!(ptr as usize % old.layout.align(), 0);
                        let kept = old.layout.size().min(size);
                        live[old.owner] -= old.layout.size() as u64;
                        live[account] += size as u64;
                        let layout = Layout::from_size_align(size, old.layout.align())
                            .expect("valid layout");
                        let moved = Block { ptr, layout, owner: account, fill: old.fill };
                        prop_assert!(holds(&moved, moved.fill, kept));
                        // SAFETY: `size` writable bytes.
                        unsafe { ptr.write_bytes(moved.fill, size) };
                        blocks[i] = moved;
                    }
                    Op::Free { block } if !blocks.is_empty() => {
                        let old = blocks.swap_remove(block % blocks.len());
                        prop_assert!(holds(&old, old.fill, old.layout.size()));
                        // Freed outside any account: still credited to the owner.
                        // SAFETY: the block is live with `old.layout`.
                        unsafe { HEAP.dealloc(old.ptr, old.layout) };
                        live[old.owner] -= old.layout.size() as u64;
                    }
                    Op::Realloc { .. } | Op::Free { .. } => {}
                }
                for (i, account) in accounts.iter().enumerate() {
                    peak[i] = peak[i].max(live[i]);
                    prop_assert_eq!(account.usage(), Usage { live: live[i], peak: peak[i] });
                }
            }
            for old in blocks {
                // SAFETY: the block is live with `old.layout`.
                unsafe { HEAP.dealloc(old.ptr, old.layout) };
            }
            for account in accounts {
                prop_assert_eq!(account.usage().live, 0);
                prop_assert_eq!(account.header_bytes(), 0);
            }
        }
    }

    #[test]
    fn not_installed_in_the_unit_test_binary() {
        assert!(!installed());
        assert!(!installed());
        let a = Account::open();
        let v = charged_to(a, || vec![1_u8; 10_000]);
        assert_eq!(a.usage(), Usage::default());
        assert_eq!(crate::shared_usage(), Usage::default());
        drop(v);
    }
}
