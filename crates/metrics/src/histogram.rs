//! Latency histograms: HdrHistogram in microseconds (1 µs to 1 h, 3 significant figures).
//! Values above an hour are clamped to it and counted as outliers. Histograms merge exactly
//! (bucket counts add), so per-worker histograms, shards and runs combine without loss.
//!
//! In a report a histogram is its summary (count, mean, percentiles, max, in milliseconds)
//! plus the whole histogram in HdrHistogram's V2 compressed format, base64-encoded (`hdr`), so
//! a report can be merged or re-read exactly.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest value tracked exactly: one hour, in µs.
const MAX_US: u64 = 3_600_000_000;
/// Significant figures kept: relative error below 0.1 %.
const SIGFIG: u8 = 3;

/// One latency metric's distribution.
#[derive(Clone, PartialEq)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
    /// Values above [`MAX_US`], recorded as [`MAX_US`].
    outliers: u64,
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("max", &self.max())
            .field("outliers", &self.outliers)
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_US, SIGFIG)
                .expect("1 µs .. 1 h at 3 significant figures are valid bounds"),
            outliers: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl LatencyHistogram {
    /// Records one value (whole microseconds; a wait of zero is 0). Above an hour, clamped.
    pub fn record(&mut self, value: Duration) {
        let us = micros(value);
        if us > MAX_US {
            self.outliers += 1;
        }
        self.hist.saturating_record(us.min(MAX_US));
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Values above an hour (recorded as an hour).
    pub fn outliers(&self) -> u64 {
        self.outliers
    }

    /// Sets the count of values above an hour (a histogram read from a format that keeps
    /// them as an hour, with the count kept apart).
    pub fn set_outliers(&mut self, outliers: u64) {
        self.outliers = outliers;
    }

    /// The value at quantile `q` in [0, 1] (zero when empty).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.hist.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.hist.value_at_quantile(q))
    }

    /// The largest value (within the histogram's precision).
    pub fn max(&self) -> Duration {
        if self.hist.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.hist.max())
    }

    /// The smallest value (within the histogram's precision).
    pub fn min(&self) -> Duration {
        if self.hist.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.hist.min())
    }

    /// The mean.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.hist.mean() / 1e6)
    }

    /// Values at or below `limit`.
    pub fn count_at_most(&self, limit: Duration) -> u64 {
        self.hist.count_between(0, micros(limit).min(MAX_US))
    }

    /// Adds `other` into `self`: exact, associative and commutative.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.hist
            .add(&other.hist)
            .expect("histograms of equal bounds always add");
        self.outliers += other.outliers;
    }

    /// The V2-deflate encoding, base64 (as report.json and interval logs hold it).
    pub(crate) fn encode(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.hist, &mut bytes)
            .expect("serializing into a Vec cannot fail");
        BASE64.encode(bytes)
    }

    /// Reads what [`LatencyHistogram::encode`] wrote (or any V2 HdrHistogram within 1 µs .. 1 h).
    pub(crate) fn decode(hdr: &str, outliers: u64) -> Result<Self, String> {
        let bytes = BASE64
            .decode(hdr)
            .map_err(|e| format!("`hdr` is not base64: {e}"))?;
        let read: Histogram<u64> = HdrDeserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("`hdr` is not an HdrHistogram: {e:?}"))?;
        let mut h = Self::default();
        h.hist
            .add(&read)
            .map_err(|e| format!("`hdr` does not fit 1 µs .. 1 h: {e:?}"))?;
        h.outliers = outliers;
        Ok(h)
    }
}

/// What a histogram looks like in a report.
#[derive(Serialize, Deserialize)]
struct Wire {
    count: u64,
    mean_ms: f64,
    min_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    outliers: u64,
    hdr: String,
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            count: self.count(),
            // The mean to the microsecond, in milliseconds.
            mean_ms: self.hist.mean().round() / 1000.0,
            min_ms: crate::ms(self.min()),
            p50_ms: crate::ms(self.quantile(0.5)),
            p90_ms: crate::ms(self.quantile(0.9)),
            p95_ms: crate::ms(self.quantile(0.95)),
            p99_ms: crate::ms(self.quantile(0.99)),
            p999_ms: crate::ms(self.quantile(0.999)),
            max_ms: crate::ms(self.max()),
            outliers: self.outliers,
            hdr: self.encode(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Self::decode(&wire.hdr, wire.outliers).map_err(D::Error::custom)
    }
}

/// A small latency sketch for one agent: counts in log buckets 2 % wide (so a quantile is
/// within 2 % of the truth), kept sparse because an agent sees few distinct buckets. Exact
/// per-run figures come from [`LatencyHistogram`]; this answers "what did this agent see".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLatency {
    /// (bucket, count), sorted by bucket.
    buckets: Vec<(u16, u32)>,
    count: u64,
    max_us: u64,
}

/// Bucket width: each bucket spans a factor of 1.02.
const GROWTH: f64 = 1.02;

impl AgentLatency {
    /// Records one value.
    pub fn record(&mut self, value: Duration) {
        let us = micros(value).max(1);
        let bucket = ((us as f64).ln() / GROWTH.ln()).floor() as u16;
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => self.buckets[i].1 += 1,
            Err(i) => self.buckets.insert(i, (bucket, 1)),
        }
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (the upper edge of its bucket, capped at the max seen).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (bucket, n) in &self.buckets {
            seen += u64::from(*n);
            if seen >= rank {
                let upper = GROWTH.powi(i32::from(*bucket) + 1).floor() as u64;
                return Duration::from_micros(upper.min(self.max_us));
            }
        }
        Duration::from_micros(self.max_us)
    }

    /// The largest value.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quantiles_within_precision() {
        let mut h = LatencyHistogram::default();
        for i in 1..=1000 {
            h.record(ms(i));
        }
        assert_eq!(h.count(), 1000);
        let p95 = h.quantile(0.95).as_secs_f64();
        assert!((p95 - 0.95).abs() < 0.95 * 0.001 + 1e-6, "{p95}");
        assert!(h.max() >= ms(1000) && h.max() <= ms(1001));
        assert_eq!(h.count_at_most(ms(100)), 100);
    }

    #[test]
    fn clamps_and_counts_outliers() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_secs(7200));
        h.record(Duration::ZERO);
        assert_eq!(h.outliers(), 1);
        assert_eq!(h.count(), 2);
        assert!(h.max() <= Duration::from_secs(3602));
    }

    #[test]
    fn round_trips_through_json() {
        let mut h = LatencyHistogram::default();
        for i in 0..500 {
            h.record(Duration::from_micros(i * 37 + 5));
        }
        h.record(Duration::from_secs(5000));
        let json = serde_json::to_string(&h).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["count"], 501);
        assert_eq!(v["outliers"], 1);
    }

    #[test]
    fn bad_hdr_is_an_error() {
        let err = serde_json::from_str::<LatencyHistogram>(
            r#"{"count":0,"mean_ms":0,"min_ms":0,"p50_ms":0,"p90_ms":0,"p95_ms":0,"p99_ms":0,"p999_ms":0,"max_ms":0,"outliers":0,"hdr":"!!"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[test]
    fn agent_sketch_is_close() {
        let mut a = AgentLatency::default();
        for i in 1..=100 {
            a.record(ms(i * 10));
        }
        let p95 = a.quantile(0.95).as_secs_f64();
        assert!((p95 - 0.95).abs() <= 0.95 * 0.02 + 1e-6, "{p95}");
        assert_eq!(a.max(), ms(1000));
        assert_eq!(a.quantile(1.0), ms(1000));
        assert_eq!(AgentLatency::default().quantile(0.5), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn merge_is_exact_and_order_free(a in prop::collection::vec(0u64..10_000_000, 0..200),
                                         b in prop::collection::vec(0u64..10_000_000, 0..200),
                                         c in prop::collection::vec(0u64..10_000_000, 0..200)) {
            let of = |v: &[u64]| {
                let mut h = LatencyHistogram::default();
                for us in v { h.record(Duration::from_micros(*us)); }
                h
            };
            let (ha, hb, hc) = (of(&a), of(&b), of(&c));
            let mut left = ha.clone(); left.merge(&hb); left.merge(&hc);
            let mut bc = hb.clone(); bc.merge(&hc);
            let mut right = hc.clone(); right.merge(&ha); right.merge(&hb);
            let mut assoc = ha.clone(); assoc.merge(&bc);
            let all: Vec<u64> = a.iter().chain(&b).chain(&c).copied().collect();
            prop_assert_eq!(&left, &of(&all));
            prop_assert_eq!(&left, &right);
            prop_assert_eq!(&left, &assoc);
        }

        #[test]
        fn agent_sketch_quantile_within_two_percent(v in prop::collection::vec(1u64..100_000_000, 1..300), q in 0.01f64..1.0) {
            let mut a = AgentLatency::default();
            for us in &v { a.record(Duration::from_micros(*us)); }
            let mut sorted = v.clone(); sorted.sort_unstable();
            let rank = ((q * v.len() as f64).ceil() as usize).max(1);
            let truth = sorted[rank - 1] as f64;
            let got = a.quantile(q).as_micros() as f64;
            prop_assert!(got >= truth * 0.979 - 1.0 && got <= truth * 1.021 + 1.0, "q={} truth={} got={}", q, truth, got);
        }
    }
}
