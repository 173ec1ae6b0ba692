//! Numbers as people read them: durations, sizes and percentages to three significant
//! figures, trailing zeros dropped ("1.23 s", "45.6 ms", "12.3 MB", "0.05 %", "2 s"), and
//! counts grouped by thousands ("2,000 agents").

use std::time::Duration;

use metrics::{Unit, Verdict};

/// `x` to three significant figures, without trailing zeros (`2`, `1.23`, `0.05`).
fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = usize::try_from((2 - magnitude).clamp(0, 6)).unwrap_or(0);
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    // Rounding can reach the next power of ten ("1000" ms); the caller's unit steps handle
    // that by comparing the rounded value.
    if s == "-0" { "0".to_owned() } else { s }
}

/// Rounds to three significant figures, as a number (so unit steps see "999.6" as 1000).
fn round3(x: f64) -> f64 {
    sig3(x).parse().unwrap_or(x)
}

/// A duration given in milliseconds: `µs` below 1 ms, `ms` below 1 s, then `s`.
pub(crate) fn ms(value: f64) -> String {
    let v = round3(value);
    if v.abs() < 1.0 && v != 0.0 {
        format!("{} µs", sig3(value * 1000.0))
    } else if v.abs() < 1000.0 {
        format!("{} ms", sig3(value))
    } else {
        format!("{} s", sig3(value / 1000.0))
    }
}

/// A duration, as every report prints one (`1.23 s`, `84 µs`).
pub fn duration(d: Duration) -> String {
    ms(d.as_micros() as f64 / 1000.0)
}

/// A stretch of clock time in milliseconds: like [`ms`] below a minute, else `1h 02m 03s`.
pub(crate) fn clock(ms_total: u64) -> String {
    if ms_total < 60_000 {
        return ms(ms_total as f64);
    }
    let secs = ms_total / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// A size in bytes, decimal units (`B`, `kB`, `MB`, `GB`, `TB`), as the scenario's sizes are.
pub(crate) fn bytes(value: f64) -> String {
    const STEPS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = value;
    let mut step = 0;
    while round3(v).abs() >= 1000.0 && step + 1 < STEPS.len() {
        v /= 1000.0;
        step += 1;
    }
    if step == 0 {
        format!("{v:.0} B")
    } else {
        format!("{} {}", sig3(v), STEPS[step])
    }
}

/// A fraction in [0, 1] as a percentage.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{} %", sig3(ratio * 100.0))
}

/// A rate: to three significant figures below 1,000 (`12.5`, `0.333`), else a whole number
/// grouped by thousands (`24,206`).
pub(crate) fn rate(value: f64) -> String {
    if value >= 999.5 && value < u64::MAX as f64 {
        count(value.round() as u64)
    } else {
        sig3(value)
    }
}

/// A count, grouped by thousands (`950`, `1,200`, `14,523,871`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number in a verdict's unit.
pub(crate) fn in_unit(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => ms(value),
        Unit::Bytes => bytes(value),
        Unit::Ratio => percent(value),
        Unit::Agents if value >= 0.0 && value.fract() == 0.0 && value < u64::MAX as f64 => {
            format!("{} agents", count(value as u64))
        }
        Unit::Agents => format!("{value} agents"),
        Unit::PerS => format!("{}/s", sig3(value)),
        Unit::Count if value >= 0.0 && value.fract() == 0.0 && value < u64::MAX as f64 => {
            count(value as u64)
        }
        Unit::Count => value.to_string(),
    }
}

/// A verdict's measured value (`-` when nothing was measured).
pub(crate) fn measured(v: &Verdict) -> String {
    v.measured
        .map_or_else(|| "-".to_owned(), |m| in_unit(m, v.unit))
}

/// A verdict's limit with its comparison (`< 2 s`, `>= 1000 agents`).
pub(crate) fn limit(v: &Verdict) -> String {
    format!("{} {}", v.op, in_unit(v.limit, v.unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(ms(1234.0), "1.23 s");
        assert_eq!(ms(45.64), "45.6 ms");
        assert_eq!(ms(2000.0), "2 s");
        assert_eq!(ms(0.03), "30 µs");
        assert_eq!(ms(0.0), "0 ms");
        assert_eq!(ms(999.7), "1 s");
        assert_eq!(ms(0.9996), "1 ms");
        assert_eq!(ms(123_456.0), "123 s");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(clock(600_000), "10m 00s");
        assert_eq!(clock(3_723_000), "1h 02m 03s");
        assert_eq!(clock(12_500), "12.5 s");
    }

    #[test]
    fn sizes_and_ratios() {
        assert_eq!(bytes(12_345_678.0), "12.3 MB");
        assert_eq!(bytes(100_000_000.0), "100 MB");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(999_999.0), "1 MB");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(percent(0.0005), "0.05 %");
        assert_eq!(percent(0.001), "0.1 %");
        assert_eq!(percent(0.975), "97.5 %");
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(in_unit(2000.0, Unit::Agents), "2,000 agents");
        assert_eq!(in_unit(999.0, Unit::Agents), "999 agents");
        assert_eq!(in_unit(12_000.0, Unit::Agents), "12,000 agents");
        assert_eq!(in_unit(12_000.0, Unit::Count), "12,000");
        assert_eq!(in_unit(25.5, Unit::PerS), "25.5/s");
        assert_eq!(sig3(f64::NAN), "-");
        assert_eq!(count(999), "999");
        assert_eq!(count(9_999), "9,999");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(14_523_871), "14,523,871");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
    }
}
