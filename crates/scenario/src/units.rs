//! Scalar value types of scenario files: durations in humantime form, byte sizes, token
//! counts, probabilities and rates. Each checks its range while it is deserialized, so a bad
//! value is reported with the file position of the value itself.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::bounds::{MAX_DURATION, number};

/// A non-negative duration written as a humantime string (`"250ms"`, `"2s"`, `"1m 30s"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// A duration of `ms` milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// A duration of `us` microseconds.
    pub const fn micros(us: u64) -> Self {
        Self(Duration::from_micros(us))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl FromStr for Dur {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.starts_with('-') {
            return Err(format!(
                "invalid duration `{s}`: durations cannot be negative; use a value like \"250ms\" or \"2s\""
            ));
        }
        let d = humantime::parse_duration(trimmed).map_err(|err| match err {
            humantime::DurationError::NumberOverflow => too_long(s),
            err => format!(
                "invalid duration `{s}` ({err}): write a number with a unit, like \"250ms\", \"2s\" or \"1m 30s\""
            ),
        })?;
        if d > MAX_DURATION.0 {
            return Err(too_long(s));
        }
        Ok(Dur(d))
    }
}

/// The error of a duration above [`MAX_DURATION`].
fn too_long(s: &str) -> String {
    format!(
        "invalid duration `{s}`: the longest duration is one year (\"1y\"), as far as tokio's timers reach; use a shorter one"
    )
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurVisitor;
        impl Visitor<'_> for DurVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"250ms\" or \"2s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: a duration needs a unit; write \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: a duration needs a unit; write \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                let v = number(v);
                Err(E::custom(format!(
                    "invalid duration `{v}`: a duration needs a unit; write \"{v}s\""
                )))
            }
        }
        deserializer.deserialize_any(DurVisitor)
    }
}

/// A size in bytes, written as an integer or a string with a unit: `"100MB"` (10^6),
/// `"100MiB"` (2^20), `"64KiB"`, `"2GB"`. A size must fit in 64 bits (16 EiB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

const BYTE_UNITS: [(&str, u64); 11] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("kB", 1_000),
    ("B", 1),
    ("", 1),
];

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in BYTE_UNITS {
            if factor > 1 && self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl FromStr for Bytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.starts_with('-') {
            return Err(format!("invalid size `{s}`: a size cannot be negative"));
        }
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        let factor = BYTE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!("invalid size `{s}`: unknown unit `{unit}`; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, like \"100MB\"")
            })?;
        let too_large = || {
            format!(
                "invalid size `{s}`: larger than the largest size, {} bytes (16 EiB); use a smaller one, like \"100MB\"",
                u64::MAX
            )
        };
        // Whole numbers exactly (a float would round 2^64 down to a size that fits).
        if let Ok(whole) = number.parse::<u64>() {
            return whole.checked_mul(factor).map(Bytes).ok_or_else(too_large);
        }
        let value: f64 = number.parse().map_err(|_| {
            format!("invalid size `{s}`: write a number with a unit, like \"100MB\" or \"64KiB\"")
        })?;
        #[allow(clippy::cast_precision_loss)]
        let bytes = (value * factor as f64).round();
        // 2^64 is exactly representable; anything from it up does not fit.
        if bytes >= 18_446_744_073_709_551_616.0 {
            return Err(too_large());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Bytes(bytes as u64))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"100MB\" or a whole number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v).map(Bytes).map_err(|_| {
                    E::custom(format!("invalid size `{v}`: a size cannot be negative"))
                })
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

/// A probability in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Probability(pub f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Probability(v))
        } else {
            Err(de::Error::custom(format!(
                "invalid probability `{}`: must be between 0 and 1 (write 5 % as 0.05)",
                number(v)
            )))
        }
    }
}

/// A finite, non-negative rate or ratio (requests per second, a multiplier).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        if v.is_finite() && v >= 0.0 {
            Ok(Rate(v))
        } else {
            Err(de::Error::custom(format!(
                "invalid rate `{}`: must be a finite number of at least 0",
                number(v)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_back() {
        for text in ["250ms", "2s", "1m 30s", "0s", "50us", "1h"] {
            let d: Dur = text.parse().unwrap();
            let again: Dur = d.to_string().parse().unwrap();
            assert_eq!(d, again, "{text}");
        }
        assert_eq!("1m 30s".parse::<Dur>().unwrap(), Dur::secs(90));
    }

    #[test]
    fn bad_durations_name_the_value_and_a_fix() {
        let err = "-2s".parse::<Dur>().unwrap_err();
        assert!(err.contains("`-2s`") && err.contains("negative"), "{err}");
        let err = "5 parsecs".parse::<Dur>().unwrap_err();
        assert!(
            err.contains("`5 parsecs`") && err.contains("\"250ms\""),
            "{err}"
        );
    }

    #[test]
    fn byte_sizes_use_decimal_and_binary_units() {
        assert_eq!("100MB".parse::<Bytes>().unwrap(), Bytes(100_000_000));
        assert_eq!("100MiB".parse::<Bytes>().unwrap(), Bytes(100 << 20));
        assert_eq!("1.5KB".parse::<Bytes>().unwrap(), Bytes(1500));
        assert_eq!(Bytes(100_000_000).to_string(), "100MB");
        assert_eq!(Bytes(3 << 20).to_string(), "3MiB");
        assert_eq!(Bytes(1234).to_string(), "1234B");
        assert!(
            "12 parsecs"
                .parse::<Bytes>()
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
