//! Distributions of durations and token counts.
//!
//! In a scenario file a distribution is either a bare value (a constant) or a table tagged by
//! `dist`:
//!
//! ```toml
//! think_time = "3s"                                            # constant
//! think_time = { dist = "uniform", min = "1s", max = "5s" }
//! think_time = { dist = "lognormal", median = "3s", p95 = "12s" }
//! think_time = { dist = "empirical", values = ["1s", "2s", "8s"] }
//! ```
//!
//! A distribution is checked when it is read (min ≤ max, p95 ≥ median, a non-empty list), so a
//! [`Dist`] in memory is always valid.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::bounds::{MAX_DURATION, MAX_TOKENS};
use crate::rng::SimRng;
use crate::units::Dur;

/// z-score of the 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_626_951_472_2;

/// A quantity a distribution can produce: a duration or a token count.
pub trait Quantity:
    Copy + PartialOrd + fmt::Display + Serialize + for<'de> Deserialize<'de>
{
    /// The value in its base unit (seconds, tokens).
    fn to_f64(self) -> f64;
    /// The nearest representable value of a base-unit number (negatives clamp to zero, values
    /// above the quantity's bound in [`crate::bounds`] to the bound).
    fn from_f64(v: f64) -> Self;
}

impl Quantity for Dur {
    fn to_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
    fn from_f64(v: f64) -> Self {
        // Round to whole microseconds so sampled values print and compare cleanly; a draw
        // beyond the longest duration is the longest duration.
        let micros = (v.max(0.0) * 1e6).round();
        #[allow(clippy::cast_precision_loss)]
        let max = MAX_DURATION.0.as_micros() as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Dur(Duration::from_micros(micros.min(max) as u64))
    }
}

/// A whole number of tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Tokens(pub u32);

impl fmt::Display for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(deserializer)?;
        u32::try_from(v)
            .ok()
            .filter(|n| *n <= MAX_TOKENS)
            .map(Tokens)
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "invalid token count `{v}`: must be a whole number from 0 to {MAX_TOKENS} (text of that many tokens is generated, so more would exhaust memory)"
                ))
            })
    }
}

impl Quantity for Tokens {
    fn to_f64(self) -> f64 {
        f64::from(self.0)
    }
    fn from_f64(v: f64) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Tokens(v.round().clamp(0.0, f64::from(MAX_TOKENS)) as u32)
    }
}

/// A distribution of durations.
pub type DurationDist = Dist<Dur>;
/// A distribution of token counts.
pub type TokenDist = Dist<Tokens>;

/// A distribution of one quantity.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist<T> {
    /// Always the same value.
    Constant(T),
    /// Uniform between `min` and `max`, both included.
    Uniform { min: T, max: T },
    /// Log-normal, given by its median and 95th percentile (`p95 ≥ median`).
    LogNormal { median: T, p95: T },
    /// One of the listed values, each equally likely (a recorded trace, say).
    Empirical(Vec<T>),
}

impl<T: Quantity> Dist<T> {
    /// Draws one value.
    pub fn sample(&self, rng: &mut SimRng) -> T {
        match self {
            Dist::Constant(v) => *v,
            Dist::Uniform { min, max } => {
                let (lo, hi) = (min.to_f64(), max.to_f64());
                T::from_f64(lo + (hi - lo) * rng.next_f64())
            }
            Dist::LogNormal { median, p95 } => {
                let (mu, sigma) = lognormal_params(median.to_f64(), p95.to_f64());
                if sigma == 0.0 {
                    return *median;
                }
                T::from_f64((mu + sigma * rng.standard_normal()).exp())
            }
            Dist::Empirical(values) => {
                let n = u64::try_from(values.len()).unwrap_or(u64::MAX);
                let i = usize::try_from(rng.below(n)).unwrap_or(0);
                values[i]
            }
        }
    }

    /// The distribution's mean in base units (used for planning and capacity estimates).
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Constant(v) => v.to_f64(),
            Dist::Uniform { min, max } => (min.to_f64() + max.to_f64()) / 2.0,
            Dist::LogNormal { median, p95 } => {
                let (mu, sigma) = lognormal_params(median.to_f64(), p95.to_f64());
                if sigma == 0.0 {
                    return median.to_f64();
                }
                (mu + sigma * sigma / 2.0).exp()
            }
            Dist::Empirical(values) => {
                #[allow(clippy::cast_precision_loss)]
                let n = values.len() as f64;
                values.iter().map(|v| v.to_f64()).sum::<f64>() / n
            }
        }
    }

    /// Checks the internal consistency of the parameters.
    fn check(&self) -> Result<(), String> {
        match self {
            Dist::Uniform { min, max } if min > max => Err(format!(
                "invalid uniform distribution: min `{min}` is greater than max `{max}`; swap them"
            )),
            Dist::LogNormal { median, p95 } if p95 < median => Err(format!(
                "invalid lognormal distribution: p95 `{p95}` is below the median `{median}`; the 95th percentile must be at least the median"
            )),
            Dist::LogNormal { median, .. } if median.to_f64() <= 0.0 => Err(format!(
                "invalid lognormal distribution: median `{median}` must be greater than zero; use a constant for zero"
            )),
            Dist::Empirical(values) if values.is_empty() => Err(
                "invalid empirical distribution: `values` is empty; list at least one value"
                    .to_owned(),
            ),
            _ => Ok(()),
        }
    }
}

/// `(mu, sigma)` of the underlying normal for a log-normal given by median and p95.
fn lognormal_params(median: f64, p95: f64) -> (f64, f64) {
    let mu = median.ln();
    let sigma = ((p95.ln() - mu) / Z95).max(0.0);
    (mu, sigma)
}

impl<T: Quantity> Serialize for Dist<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Dist::Constant(v) => v.serialize(serializer),
            Dist::Uniform { min, max } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("dist", "uniform")?;
                map.serialize_entry("min", min)?;
                map.serialize_entry("max", max)?;
                map.end()
            }
            Dist::LogNormal { median, p95 } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("dist", "lognormal")?;
                map.serialize_entry("median", median)?;
                map.serialize_entry("p95", p95)?;
                map.end()
            }
            Dist::Empirical(values) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("dist", "empirical")?;
                map.serialize_entry("values", values)?;
                map.end()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum DistKind {
    Constant,
    Uniform,
    Lognormal,
    Empirical,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "T: Quantity")]
struct DistTable<T> {
    dist: DistKind,
    value: Option<T>,
    min: Option<T>,
    max: Option<T>,
    median: Option<T>,
    p95: Option<T>,
    values: Option<Vec<T>>,
}

impl<T: Quantity> DistTable<T> {
    fn into_dist(self) -> Result<Dist<T>, String> {
        fn need<T>(v: Option<T>, kind: &str, key: &str, example: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("a {kind} distribution needs `{key}`: write {example}"))
        }
        let extra = |used: &[&str]| -> Result<(), String> {
            let given = [
                ("value", self.value.is_some()),
                ("min", self.min.is_some()),
                ("max", self.max.is_some()),
                ("median", self.median.is_some()),
                ("p95", self.p95.is_some()),
                ("values", self.values.is_some()),
            ];
            match given.iter().find(|(k, set)| *set && !used.contains(k)) {
                Some((k, _)) => Err(format!(
                    "key `{k}` does not belong to this distribution; it takes {}",
                    used.iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )),
                None => Ok(()),
            }
        };
        let dist = match self.dist {
            DistKind::Constant => {
                extra(&["value"])?;
                Dist::Constant(need(
                    self.value,
                    "constant",
                    "value",
                    "{ dist = \"constant\", value = ... }",
                )?)
            }
            DistKind::Uniform => {
                extra(&["min", "max"])?;
                let ex = "{ dist = \"uniform\", min = ..., max = ... }";
                Dist::Uniform {
                    min: need(self.min, "uniform", "min", ex)?,
                    max: need(self.max, "uniform", "max", ex)?,
                }
            }
            DistKind::Lognormal => {
                extra(&["median", "p95"])?;
                let ex = "{ dist = \"lognormal\", median = ..., p95 = ... }";
                Dist::LogNormal {
                    median: need(self.median, "lognormal", "median", ex)?,
                    p95: need(self.p95, "lognormal", "p95", ex)?,
                }
            }
            DistKind::Empirical => {
                extra(&["values"])?;
                Dist::Empirical(need(
                    self.values,
                    "empirical",
                    "values",
                    "{ dist = \"empirical\", values = [...] }",
                )?)
            }
        };
        dist.check()?;
        Ok(dist)
    }
}

impl<'de, T: Quantity> Deserialize<'de> for Dist<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DistVisitor<T>(PhantomData<T>);

        impl<T: Quantity> DistVisitor<T> {
            fn scalar<E: de::Error, D2>(v: D2) -> Result<Dist<T>, E>
            where
                D2: for<'a> de::IntoDeserializer<'a, E>,
            {
                T::deserialize(v.into_deserializer()).map(Dist::Constant)
            }
        }

        impl<'de, T: Quantity> Visitor<'de> for DistVisitor<T> {
            type Value = Dist<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a value or a table like { dist = \"lognormal\", median = ..., p95 = ... }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dist<T>, E> {
                Self::scalar(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dist<T>, E> {
                Self::scalar(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dist<T>, E> {
                Self::scalar(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dist<T>, E> {
                Self::scalar(v)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dist<T>, A::Error> {
                let table =
                    DistTable::<T>::deserialize(de::value::MapAccessDeserializer::new(map))?;
                table.into_dist().map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_any(DistVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize, Debug, PartialEq)]
    struct Holder {
        d: DurationDist,
        t: TokenDist,
    }

    fn parse(src: &str) -> Result<Holder, String> {
        toml::from_str(src).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_parses() {
        let h = parse("d = \"2s\"\nt = 40").unwrap();
        assert_eq!(h.d, Dist::Constant(Dur::secs(2)));
        assert_eq!(h.t, Dist::Constant(Tokens(40)));
        let h = parse(
            "d = { dist = \"lognormal\", median = \"1s\", p95 = \"4s\" }\nt = { dist = \"empirical\", values = [1, 2, 3] }",
        )
        .unwrap();
        assert_eq!(
            h.d,
            Dist::LogNormal {
                median: Dur::secs(1),
                p95: Dur::secs(4)
            }
        );
        assert_eq!(h.t, Dist::Empirical(vec![Tokens(1), Tokens(2), Tokens(3)]));
    }

    #[test]
    fn inconsistent_parameters_are_rejected_with_a_fix() {
        let err = parse("d = { dist = \"lognormal\", median = \"2s\", p95 = \"1s\" }\nt = 1")
            .unwrap_err();
        assert!(err.contains("p95 `1s` is below the median `2s`"), "{err}");
        let err = parse("d = \"1s\"\nt = { dist = \"uniform\", min = 9, max = 3 }").unwrap_err();
        assert!(err.contains("min `9` is greater than max `3`"), "{err}");
        let err = parse("d = { dist = \"empirical\", values = [] }\nt = 1").unwrap_err();
        assert!(err.contains("`values` is empty"), "{err}");
        let err = parse("d = { dist = \"uniform\", min = \"1s\" }\nt = 1").unwrap_err();
        assert!(err.contains("needs `max`"), "{err}");
        let err =
            parse("d = { dist = \"uniform\", min = \"1s\", max = \"2s\", p95 = \"3s\" }\nt = 1")
                .unwrap_err();
        assert!(err.contains("`p95` does not belong"), "{err}");
        let err = parse("d = \"1s\"\nt = -4").unwrap_err();
        assert!(err.contains("invalid token count `-4`"), "{err}");
    }

    #[test]
    fn lognormal_samples_hit_median_and_p95() {
        let d: DurationDist = Dist::LogNormal {
            median: Dur::millis(200),
            p95: Dur::millis(800),
        };
        let mut rng = SimRng::new(9);
        let mut xs: Vec<f64> = (0..40_000).map(|_| d.sample(&mut rng).to_f64()).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[xs.len() / 2];
        let p95 = xs[xs.len() * 95 / 100];
        assert!((median - 0.2).abs() < 0.01, "median {median}");
        assert!((p95 - 0.8).abs() < 0.04, "p95 {p95}");
    }

    #[test]
    fn uniform_and_empirical_stay_in_support() {
        let mut rng = SimRng::new(1);
        let u: TokenDist = Dist::Uniform {
            min: Tokens(3),
            max: Tokens(5),
        };
        let e: TokenDist = Dist::Empirical(vec![Tokens(7), Tokens(11)]);
        for _ in 0..500 {
            assert!((3..=5).contains(&u.sample(&mut rng).0));
            assert!([7, 11].contains(&e.sample(&mut rng).0));
        }
        assert!((u.mean() - 4.0).abs() < 1e-9);
    }
}
