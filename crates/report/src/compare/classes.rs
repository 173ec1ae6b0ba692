//! The classes of a change by its size, and the thresholds between them.

use std::fmt;
use std::str::FromStr;

/// How big a change is, smallest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Below the first threshold (or within the base runs' own range).
    Noise,
    /// From the first threshold, below the second.
    Minor,
    /// From the second threshold up to the third.
    Warning,
    /// Above the third threshold, or a base of 0 that is 0 no more.
    Critical,
}

impl Class {
    /// The name, as the command line and the reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Noise => "noise",
            Class::Minor => "minor",
            Class::Warning => "warning",
            Class::Critical => "critical",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class boundaries, in percent of the base: noise below `minor`, minor from `minor` and
/// below `warning`, warning from `warning` up to and including `critical`, critical above.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Where noise ends.
    pub minor: f64,
    /// Where minor ends.
    pub warning: f64,
    /// Above this a change is critical.
    pub critical: f64,
}

impl Default for Thresholds {
    /// 5, 10, 20 %.
    fn default() -> Self {
        Self {
            minor: 5.0,
            warning: 10.0,
            critical: 20.0,
        }
    }
}

impl Thresholds {
    /// The class of a relative change of `percent` (either sign).
    pub fn classify(&self, percent: f64) -> Class {
        // Nine decimals: 100 -> 120 is 20 %, not 20.000000000000004 %.
        let p = (percent.abs() * 1e9).round() / 1e9;
        if p.is_nan() || p > self.critical {
            Class::Critical
        } else if p >= self.warning {
            Class::Warning
        } else if p >= self.minor {
            Class::Minor
        } else {
            Class::Noise
        }
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.minor, self.warning, self.critical)
    }
}

/// Thresholds that are not three increasing percentages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid thresholds `{value}`: give three increasing percentages for minor, warning and critical, like 5,10,20"
)]
pub struct ParseThresholdsError {
    /// The text given.
    pub value: String,
}

impl FromStr for Thresholds {
    type Err = ParseThresholdsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseThresholdsError {
            value: s.to_owned(),
        };
        let parts: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().trim_end_matches('%').trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| err())?;
        let [minor, warning, critical] = parts[..] else {
            return Err(err());
        };
        let ok = minor.is_finite()
            && critical.is_finite()
            && minor >= 0.0
            && minor < warning
            && warning < critical;
        if ok {
            Ok(Thresholds {
                minor,
                warning,
                critical,
            })
        } else {
            Err(err())
        }
    }
}
