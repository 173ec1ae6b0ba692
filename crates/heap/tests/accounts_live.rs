//! `accounts_live`: every account's live bytes summed, the shared figure left out. One test in
//! its own binary, since the sum is the process's: no other test opens accounts meanwhile.

use fleetbench_heap as heap;
use heap::{Account, accounts_live, charged_to, shared};

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

#[test]
fn sums_every_account_and_leaves_shared_out() {
    let before = accounts_live();
    let (a, b) = (Account::open(), Account::open());
    let held_a = charged_to(a, || vec![1_u8; 3_000]);
    let held_b = charged_to(b, || vec![2_u8; 50_000]);
    let in_shared = shared(|| vec![3_u8; 1 << 20]);
    assert_eq!(accounts_live() - before, 53_000);
    drop(held_a);
    assert_eq!(accounts_live() - before, 50_000);
    drop((held_b, in_shared));
    assert_eq!(accounts_live(), before);
}
