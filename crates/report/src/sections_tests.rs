//! The verdict of interrupted and finished runs.

use super::*;

/// A run that met every target, stopped by `stop`.
fn met_all(stop: StopReason) -> RunSnapshot {
    let mut s = crate::test_support::stopped_by(stop);
    s.passed = true;
    for v in &mut s.targets {
        v.passed = true;
    }
    s
}

#[test]
fn an_interrupted_run_is_never_a_pass_even_when_every_target_held() {
    let done = met_all(StopReason::Duration);
    assert!(passed(&done));
    assert_eq!(verdict(&done), "PASS: all 6 targets met");
    let stopped = met_all(StopReason::Interrupted);
    assert!(!passed(&stopped));
    assert_eq!(
        verdict(&stopped),
        "NOT A PASS: interrupted before its end; over the time it ran, all 6 targets met"
    );
    let md = crate::markdown(&stopped);
    assert!(md.contains("❌ **NOT A PASS"), "{md}");
}

#[test]
fn recalls_and_cold_stores_show_only_when_a_fleet_offloaded() {
    let mut s = met_all(StopReason::Duration);
    let plain = counters(&s).plain("", true);
    assert!(
        !plain.contains("recalls") && !plain.contains("cold stores"),
        "{plain}"
    );
    s.counters.recalls = 12;
    s.counters.recalled_tokens = 48_000;
    s.counters.cold_bytes = 1_000_000;
    s.counters.cold_raw_bytes = 3_000_000;
    let plain = counters(&s).plain("", true);
    assert!(
        plain.contains("48,000 tokens brought back from the cold stores"),
        "{plain}"
    );
    assert!(plain.contains("3.00x"), "{plain}");
}
