//! Bytes made under an account are charged to it exactly: plain allocations, `alloc_zeroed`,
//! `realloc` growth and shrinking, over-aligned layouts, ordinary work with temporaries, and
//! frees during thread teardown. Every test opens its own accounts, so they run in parallel.

use std::alloc::Layout;
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::Poll;

use fleetbench_heap as heap;
use heap::{Account, Usage, attribute, charged_to, shared};

mod common;
use common::block_on;

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

/// Pending once, then ready: ends a poll, so the rest runs in a later poll.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

fn usage(live: usize, peak: usize) -> Usage {
    Usage {
        live: live as u64,
        peak: peak as u64,
    }
}

#[test]
fn the_allocator_is_installed() {
    assert!(heap::installed());
}

fn holds_exactly(n: usize) {
    let agent = Account::open();
    let held = block_on(attribute(agent, async move {
        let held = Vec::<u8>::with_capacity(n);
        assert_eq!(agent.usage(), usage(n, n));
        yield_once().await;
        assert_eq!(agent.usage(), usage(n, n));
        held
    }));
    assert_eq!(agent.usage(), usage(n, n));
    assert_eq!((agent.blocks(), agent.header_bytes()), (1, 16));
    drop(held);
    assert_eq!(agent.usage(), usage(0, n));
    assert_eq!((agent.blocks(), agent.header_bytes()), (0, 0));
}

#[test]
fn an_attributed_future_is_charged_exactly_what_it_holds() {
    holds_exactly(10 << 20);
    holds_exactly(1_000);
    holds_exactly(1);
}

#[test]
fn ordinary_work_is_charged_exactly_its_live_capacity() {
    let agent = Account::open();
    let (text, words) = block_on(attribute(agent, async {
        let mut text = String::new();
        let mut words = Vec::new();
        for i in 0..20_000 {
            // Temporaries (freed at once) and realloc growth of `text` and `words`.
            let word = format!("w{i}");
            text.push_str(&word);
            text.push(' ');
            if i % 100 == 0 {
                words.push(word);
            }
            if i % 1_000 == 0 {
                let mut scratch: Vec<u64> = (0..i).rev().collect();
                scratch.sort_unstable();
                yield_once().await;
            }
        }
        (text, words)
    }));
    let known = text.capacity() + words.capacity() * size_of::<String>();
    let known = known + words.iter().map(String::capacity).sum::<usize>();
    assert_eq!(agent.usage().live, known as u64);
    assert!(agent.usage().peak >= known as u64);

    // Shrinking to the known length leaves exactly that many bytes.
    let len = text.len();
    let mut text = charged_to(agent, || {
        let mut text = text;
        text.shrink_to_fit();
        text
    });
    assert_eq!(text.capacity(), len);
    drop(words);
    assert_eq!(agent.usage().live, len as u64);
    text.clear();
    drop(text);
    assert_eq!(agent.usage().live, 0);
}

#[test]
fn a_hash_map_is_charged_within_five_percent_of_its_table() {
    let agent = Account::open();
    let map = charged_to(agent, || {
        (0..10_000_u64)
            .map(|k| (k, [k as u8; 64]))
            .collect::<HashMap<u64, [u8; 64]>>()
    });
    // A swiss table of `buckets` entries plus one control byte each.
    let buckets = (map.capacity() * 8 / 7).next_power_of_two();
    let estimate = (buckets * (size_of::<(u64, [u8; 64])>() + 1)) as f64;
    let live = agent.usage().live as f64;
    assert!(
        (live - estimate).abs() / estimate < 0.05,
        "live {live} vs estimate {estimate}"
    );
    drop(map);
    assert_eq!(agent.usage().live, 0);
}

#[test]
fn zeroed_allocations_are_zero_and_charged() {
    let agent = Account::open();
    let zeros = charged_to(agent, || vec![0_u8; 3 << 20]);
    assert!(zeros.iter().all(|&b| b == 0));
    assert_eq!(agent.usage(), usage(3 << 20, 3 << 20));
    drop(zeros);
    assert_eq!(agent.usage().live, 0);
}

#[test]
fn realloc_moves_a_block_to_whoever_resizes_it() {
    let (a, b) = (Account::open(), Account::open());
    let mut v = charged_to(a, || Vec::<u64>::with_capacity(100));
    v.extend(0..100);
    assert_eq!(a.usage(), usage(800, 800));

    // Growth under the owner: charged in place.
    charged_to(a, || v.reserve_exact(900));
    assert_eq!(v.capacity(), 1_000);
    assert_eq!(a.usage(), usage(8_000, 8_000));

    // Growth under another account moves the whole block there.
    charged_to(b, || v.reserve_exact(1_900));
    assert_eq!(v.capacity(), 2_000);
    assert_eq!(a.usage(), usage(0, 8_000));
    assert_eq!(b.usage(), usage(16_000, 16_000));
    assert_eq!((a.header_bytes(), b.header_bytes()), (0, 16));

    // Shrinking moves it too, and the contents survive every move.
    charged_to(a, || v.shrink_to_fit());
    assert_eq!(a.usage(), usage(800, 8_000));
    assert_eq!(b.usage(), usage(0, 16_000));
    assert!(v.iter().copied().eq(0..100));

    // Freed outside any account: credited to the last owner.
    drop(v);
    assert_eq!(a.usage(), usage(0, 8_000));
}

#[test]
fn growth_in_a_shared_scope_moves_the_block_to_shared() {
    let a = Account::open();
    let mut v = charged_to(a, || Vec::<u8>::with_capacity(1_000));
    charged_to(a, || shared(|| v.reserve_exact(5_000)));
    assert_eq!(a.usage(), usage(0, 1_000));
    drop(v);
    assert_eq!(a.usage(), usage(0, 1_000));
}

#[test]
fn over_aligned_layouts_round_trip_and_are_charged_their_size() {
    let agent = Account::open();
    for align in [32, 64, 4096] {
        for size in [1, 100, 5_000] {
            let layout = Layout::from_size_align(size, align).expect("valid layout");
            for zeroed in [false, true] {
                let p = charged_to(agent, || {
                    // SAFETY: non-zero size; freed below with the layout it was made with.
                    unsafe {
                        if zeroed {
                            std::alloc::alloc_zeroed(layout)
                        } else {
                            std::alloc::alloc(layout)
                        }
                    }
                });
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "align {align} size {size}");
                assert_eq!(agent.usage().live, size as u64);
                assert_eq!(agent.header_bytes(), align as u64);
                if zeroed {
                    // SAFETY: `size` initialised (zeroed) bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(bytes.iter().all(|&b| b == 0));
                }
                // SAFETY: `size` writable bytes.
                unsafe { p.write_bytes(0x5A, size) };
                let grown = 3 * size;
                let p = charged_to(agent, || {
                    // SAFETY: `p` is live with `layout`; the new size is non-zero.
                    unsafe { std::alloc::realloc(p, layout, grown) }
                });
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                // SAFETY: the first `size` bytes were kept by realloc.
                let kept = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(kept.iter().all(|&b| b == 0x5A));
                assert_eq!(agent.usage().live, grown as u64);
                let layout = Layout::from_size_align(grown, align).expect("valid layout");
                // SAFETY: `p` is live with `layout`.
                unsafe { std::alloc::dealloc(p, layout) };
                assert_eq!(agent.usage().live, 0);
                assert_eq!(agent.header_bytes(), 0);
            }
        }
    }

    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let page = charged_to(agent, || Box::new(Page([7; 4096])));
    assert_eq!(&*page as *const Page as usize % 4096, 0);
    assert_eq!(agent.usage().live, 4096);
    assert!(page.0.iter().all(|&b| b == 7));
    drop(page);
    assert_eq!(agent.usage().live, 0);
}

/// Allocates in its destructor, which runs during thread teardown.
struct AllocatesOnDrop(Vec<u8>);

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        let scratch = std::hint::black_box(vec![1_u8; self.0.len() / 10]);
        drop(scratch);
    }
}

thread_local! {
    static HELD: RefCell<Option<AllocatesOnDrop>> = const { RefCell::new(None) };
}

#[test]
fn frees_during_thread_teardown_are_credited() {
    let agent = Account::open();
    std::thread::spawn(move || {
        charged_to(agent, || {
            HELD.with(|held| *held.borrow_mut() = Some(AllocatesOnDrop(vec![0_u8; 1_000])));
        });
        assert_eq!(agent.usage().live, 1_000);
    })
    .join()
    .expect("the thread does not panic");
    assert_eq!(agent.usage(), usage(0, 1_000));
}

#[test]
fn attribution_survives_pinning_a_not_unpin_future() {
    let agent = Account::open();
    let fut = attribute(agent, async {
        let local = [0_u8; 16];
        let borrowed = &local; // held across an await: the future is !Unpin
        yield_once().await;
        Vec::<u8>::with_capacity(borrowed.len() * 64)
    });
    let mut boxed: Pin<Box<_>> = Box::pin(fut);
    let held = block_on(boxed.as_mut());
    assert_eq!(agent.usage().live, 1_024);
    drop(held);
    assert_eq!(agent.usage().live, 0);
}
