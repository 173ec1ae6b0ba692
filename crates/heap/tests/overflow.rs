//! Past the table's capacity (4,194,303 accounts) accounts still open, and their bytes go to
//! the shared figure and are counted as overflowed. Its own test binary: it uses up every
//! account index of the process.

use fleetbench_heap as heap;
use heap::{Account, Usage, charged_to, shared_usage, stats};

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

const CAPACITY: u64 = 1 << 22;
const BUFFER: usize = 8 << 20;

#[test]
fn accounts_beyond_the_capacity_are_charged_to_shared() {
    let mut last = Account::open();
    while stats().accounts_opened < CAPACITY - 1 {
        last = Account::open();
    }
    // The last account with a slot still works.
    let held = charged_to(last, || vec![1_u8; 1_000]);
    assert_eq!(
        last.usage(),
        Usage {
            live: 1_000,
            peak: 1_000
        }
    );
    drop(held);
    assert_eq!(stats().overflowed_accounts, 0);

    let beyond = Account::open();
    assert_ne!(beyond, last);
    assert_eq!(stats().overflowed_accounts, 1);
    let (allocations, shared_before) = (stats().overflowed_allocations, shared_usage().live);
    let held = charged_to(beyond, || vec![2_u8; BUFFER]);
    assert_eq!(beyond.usage(), Usage::default());
    assert!(stats().overflowed_allocations > allocations);
    let grew = shared_usage().live as i64 - shared_before as i64;
    assert!(
        (grew - BUFFER as i64).abs() < 64 << 10,
        "shared grew by {grew}"
    );
    drop(held);
    let moved = shared_usage().live as i64 - shared_before as i64;
    assert!(moved.abs() < 64 << 10, "shared moved by {moved}");
}
