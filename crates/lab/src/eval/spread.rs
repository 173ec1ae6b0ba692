//! Spread over seeds (`compress --seeds`): a fixed corpus has nothing to vary, so each seed
//! is a corpus of its own (a file per seed, or one generated in memory); the evaluation runs
//! once per seed, and each row's figures are summed up as a mean and the half-width of a 95 %
//! confidence interval, Student t with n-1 degrees of freedom (docs/compression.md, "Spread
//! over seeds").

use std::str::FromStr;

use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};

use super::csv::figures;
use super::report::Report;
use crate::corpus::Profile;

/// Most seeds one run takes.
pub const MAX_SEEDS: usize = 1000;

/// `--seeds`: `A..B` (both included) or `A,B,C`; distinct, at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

impl FromStr for Seeds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fix = "write a range like 1..5 (both ends included) or a list like 1,2,3";
        let number = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a seed (a whole number ≥ 0); {fix}"))
        };
        let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (number(a)?, number(b.strip_prefix('=').unwrap_or(b))?);
            if b < a {
                return Err(format!("the range {s} is empty ({b} < {a}); {fix}"));
            }
            if b - a >= MAX_SEEDS as u64 {
                return Err(format!(
                    "the range {s} has more than {MAX_SEEDS} seeds; take fewer"
                ));
            }
            (a..=b).collect()
        } else {
            s.split(',').map(number).collect::<Result<_, _>>()?
        };
        for (i, x) in seeds.iter().enumerate() {
            if seeds[..i].contains(x) {
                return Err(format!("seed {x} is given twice; {fix}"));
            }
        }
        if seeds.len() > MAX_SEEDS {
            return Err(format!("more than {MAX_SEEDS} seeds; take fewer"));
        }
        Ok(Seeds(seeds))
    }
}

/// `--generate PROFILE[:N]`: each seed's corpus generated in memory, `N` conversations (20
/// when absent) of [`GenerateSpec::TURNS`] turns, as `corpus generate` writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateSpec {
    /// The kind of agent.
    pub profile: Profile,
    /// Conversations per seed.
    pub conversations: usize,
}

impl GenerateSpec {
    /// Turns per conversation: `corpus generate`'s default.
    pub const TURNS: usize = 40;
    /// Conversations when `:N` is absent.
    pub const CONVERSATIONS: usize = 20;
}

impl FromStr for GenerateSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (profile, n) = match s.split_once(':') {
            Some((p, n)) => (p, Some(n)),
            None => (s, None),
        };
        let profile = profile.parse::<Profile>()?;
        let conversations = match n {
            None => Self::CONVERSATIONS,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "`{n}` is not a number of conversations; write PROFILE:N with N from 1 \
                         to 10000, like coding:20"
                    ));
                }
            },
        };
        Ok(Self {
            profile,
            conversations,
        })
    }
}

/// The reports of every seed and each row's spread.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    /// The seeds, in the order run.
    pub seeds: Vec<u64>,
    /// Each seed's whole report.
    pub per_seed: Vec<SeedReport>,
    /// Per row (in the first seed's order), each figure's mean and 95 % interval.
    pub summary: Vec<RowSpread>,
}

/// One seed's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Its report.
    pub report: Report,
}

/// One row's figures over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowSpread {
    /// As [`Row::strategy`](super::Row::strategy).
    pub strategy: String,
    /// As [`Row::sweep`](super::Row::sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// Every numeric figure of the JSON row, by its path (`retention_final.constraint`).
    #[serde(serialize_with = "as_map")]
    pub figures: Vec<(String, Stat)>,
}

/// A figure over the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// Seeds that have a value (a `null` figure has none).
    pub n: u64,
    /// Their mean; `null` when none has a value.
    pub mean: Option<f64>,
    /// Half-width of the 95 % confidence interval, Student t with n-1 degrees of freedom;
    /// `null` with fewer than two values.
    pub ci95: Option<f64>,
}

fn as_map<S: Serializer>(figures: &[(String, Stat)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(figures.len()))?;
    for (k, v) in figures {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// The spread of `per_seed`'s reports: rows matched by strategy and sweep.
pub fn spread(per_seed: Vec<SeedReport>) -> Spread {
    let mut summary = Vec::new();
    if let Some(first) = per_seed.first() {
        for row in &first.report.rows {
            let same: Vec<_> = per_seed
                .iter()
                .filter_map(|s| {
                    s.report
                        .rows
                        .iter()
                        .find(|r| r.strategy == row.strategy && r.sweep == row.sweep)
                })
                .map(figures)
                .collect();
            let figures = figures(row)
                .into_iter()
                .map(|(key, _)| {
                    let values: Vec<f64> = same
                        .iter()
                        .filter_map(|f| f.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v))
                        .collect();
                    (key, stat(&values))
                })
                .collect();
            summary.push(RowSpread {
                strategy: row.strategy.clone(),
                sweep: row.sweep.clone(),
                figures,
            });
        }
    }
    Spread {
        seeds: per_seed.iter().map(|s| s.seed).collect(),
        per_seed,
        summary,
    }
}

/// Mean and 95 % half-width of `values`.
pub(crate) fn stat(values: &[f64]) -> Stat {
    let n = values.len();
    if n == 0 {
        return Stat {
            n: 0,
            mean: None,
            ci95: None,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let ci95 = (n > 1).then(|| {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        round6(t975(n - 1) * (var / n as f64).sqrt())
    });
    Stat {
        n: n as u64,
        mean: Some(round6(mean)),
        ci95,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (df ≥ 1): exact to three
/// decimals up to 30, then that of the next smaller tabulated df (40, 60, 120: a slightly
/// wider interval).
pub(crate) fn t975(df: usize) -> f64 {
    const SMALL: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    const LARGE: [(usize, f64); 4] = [(120, 1.980), (60, 2.000), (40, 2.021), (30, 2.042)];
    match df {
        0 => f64::NAN,
        1..=30 => SMALL[df - 1],
        _ => LARGE
            .iter()
            .find(|(d, _)| df >= *d)
            .map_or(2.042, |(_, t)| *t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_ranges_and_lists() {
        assert_eq!("1..5".parse(), Ok(Seeds(vec![1, 2, 3, 4, 5])));
        assert_eq!("1..=3".parse(), Ok(Seeds(vec![1, 2, 3])));
        assert_eq!("7".parse(), Ok(Seeds(vec![7])));
        assert_eq!("4,2,9".parse(), Ok(Seeds(vec![4, 2, 9])));
        for bad in ["5..1", "a..3", "1,,2", "1,1", "", "0..5000", "-1"] {
            let err = bad.parse::<Seeds>().expect_err(bad);
            assert!(
                err.contains("1..5") || err.contains("fewer"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn generate_specs_default_to_twenty_conversations() {
        let g: GenerateSpec = "coding".parse().expect("a profile");
        assert_eq!((g.profile, g.conversations), (Profile::Coding, 20));
        let g: GenerateSpec = "chat:3".parse().expect("a profile and a count");
        assert_eq!((g.profile, g.conversations), (Profile::Chat, 3));
        assert!("coding:0".parse::<GenerateSpec>().is_err());
        assert!("cooking:3".parse::<GenerateSpec>().is_err());
    }

    #[test]
    fn the_interval_is_student_t_with_n_minus_1_degrees_of_freedom() {
        // 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.303, half-width 4.303 / sqrt(3).
        let s = stat(&[1.0, 2.0, 3.0]);
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.ci95, Some(round6(4.303 / 3f64.sqrt())));
        // One value: no interval.
        assert_eq!(stat(&[5.0]).ci95, None);
        assert_eq!(stat(&[]).mean, None);
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(45), 2.021);
        assert_eq!(t975(1000), 1.980);
    }
}
