//! One figure compared: the base and new runs' medians, the relative change, its [`Class`]
//! and its [`Trend`].

use super::{Better, Class, Quantity, Thresholds};

/// Which way a figure moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Not at all.
    Same,
    /// In its better direction.
    Better,
    /// In its worse direction.
    Worse,
}

impl Trend {
    /// `same`, `better` or `worse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Same => "same",
            Trend::Better => "better",
            Trend::Worse => "worse",
        }
    }
}

/// One figure compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its path in the report.
    pub metric: String,
    /// Which way is better.
    pub better: Better,
    /// What it measures.
    pub quantity: Quantity,
    /// The base runs' median.
    pub base: f64,
    /// The new runs' median.
    pub new: f64,
    /// The base runs' smallest and largest value.
    pub base_range: (f64, f64),
    /// The relative change in percent; `None` when the base is 0 and the new value is not.
    pub change_pct: Option<f64>,
    /// The size of the change.
    pub class: Class,
    /// Its direction.
    pub trend: Trend,
    /// Whether the change would have had a class but stayed within the base runs' range.
    pub within_base_range: bool,
}

impl Row {
    /// Compares one figure: `base` and `new` are each run's value.
    pub fn new(
        metric: &str,
        better: Better,
        quantity: Quantity,
        base: &[f64],
        new: &[f64],
        thresholds: &Thresholds,
    ) -> Row {
        let (b, n) = (median(base), median(new));
        let base_range = base
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let trend = if n == b {
            Trend::Same
        } else if (n < b) == (better == Better::Lower) {
            Trend::Better
        } else {
            Trend::Worse
        };
        let change_pct = if b == 0.0 {
            (n == 0.0).then_some(0.0)
        } else {
            Some((n - b) / b.abs() * 100.0)
        };
        let mut class = change_pct.map_or(Class::Critical, |p| thresholds.classify(p));
        let within_base_range =
            class > Class::Noise && base.len() > 1 && base_range.0 <= n && n <= base_range.1;
        if within_base_range {
            class = Class::Noise;
        }
        Row {
            metric: metric.to_owned(),
            better,
            quantity,
            base: b,
            new: n,
            base_range,
            change_pct,
            class,
            trend,
            within_base_range,
        }
    }

    /// A change for the worse that is more than noise.
    pub fn is_regression(&self) -> bool {
        self.trend == Trend::Worse && self.class > Class::Noise
    }

    /// A change for the better that is more than noise.
    pub fn is_improvement(&self) -> bool {
        self.trend == Trend::Better && self.class > Class::Noise
    }
}

/// The median: the middle value, or the mean of the two middle ones (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
