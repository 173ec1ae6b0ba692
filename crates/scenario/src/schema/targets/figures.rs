//! `[[targets.figure]]`: a limit on any figure a run reports, not only a latency percentile
//! (k6's thresholds on any metric): `name` from the registry ([`FigureName`]), an optional
//! `tool` for per-tool figures, and `min` or `max`. Each figure has one [`FigureUnit`], which
//! says how its limit is written; `docs/metrics.md` defines each figure.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Dur};

/// What a figure measures, which decides how its limit is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FigureUnit {
    /// A quotient of two counts: a plain number, like `0.8` (a rate in [0, 1] where the
    /// figure is a fraction).
    Ratio,
    /// Per second of fleet time: a plain number, like `25.0`.
    PerSecond,
    /// A count: a whole number, like `100`.
    Count,
    /// A duration string, like `"250ms"`.
    Duration,
    /// A size, like `"100MB"` or a whole number of bytes.
    Bytes,
}

impl FigureUnit {
    /// The unit as messages and docs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FigureUnit::Ratio => "ratio",
            FigureUnit::PerSecond => "per-second rate",
            FigureUnit::Count => "count",
            FigureUnit::Duration => "duration",
            FigureUnit::Bytes => "size in bytes",
        }
    }

    /// How a limit of this unit is written, for error messages.
    fn example(self) -> &'static str {
        match self {
            FigureUnit::Ratio => "a number like 0.8",
            FigureUnit::PerSecond => "a number like 25.0",
            FigureUnit::Count => "a whole number like 100",
            FigureUnit::Duration => "a duration string like \"250ms\"",
            FigureUnit::Bytes => "a size like \"100MB\"",
        }
    }
}

macro_rules! figures {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $unit:ident, $tool:literal, $fraction:literal; )*) => {
        /// A figure a `[[targets.figure]]` can name (the registry). Names never spell like a
        /// stated target or a `<metric>_p<percentile>`, so a verdict's name reads back as one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FigureName {
            $( $(#[$doc])* $variant, )*
        }

        impl FigureName {
            /// Every figure, in the registry's order.
            pub const ALL: &'static [FigureName] = &[$(FigureName::$variant),*];

            /// The name as written in `name = ...` and in a verdict.
            pub fn as_str(self) -> &'static str {
                match self { $(FigureName::$variant => $name,)* }
            }

            /// Its unit.
            pub fn unit(self) -> FigureUnit {
                match self { $(FigureName::$variant => FigureUnit::$unit,)* }
            }

            /// Whether `tool = "..."` narrows it to one tool (the tool cache's figures).
            pub fn per_tool(self) -> bool {
                match self { $(FigureName::$variant => $tool,)* }
            }

            /// Whether it is a fraction, so that a limit must lie in [0, 1].
            pub fn fraction(self) -> bool {
                match self { $(FigureName::$variant => $fraction,)* }
            }
        }
    };
}

figures! {
    /// Tool calls the cache served (hits and coalesced) over tool-cache lookups.
    ToolCacheHitRate = "tool_cache_hit_rate", Ratio, true, true;
    /// Lookups served from a ready cache entry.
    ToolCacheHits = "tool_cache_hits", Count, true, false;
    /// Lookups that fetched from the tool.
    ToolCacheMisses = "tool_cache_misses", Count, true, false;
    /// Lookups that waited for an identical request already in flight.
    ToolCacheCoalesced = "tool_cache_coalesced", Count, true, false;
    /// Entries evicted to stay within the cache's capacity.
    ToolCacheEvictions = "tool_cache_evictions", Count, true, false;
    /// Hits times (miss p50 minus hit p50): the time the cache saved callers.
    ToolCacheLatencySaved = "tool_cache_latency_saved", Duration, true, false;
    /// Attempts after the first over logical calls (LLM and tool).
    RetriesPerCall = "retries_per_call", Ratio, false, false;
    /// Failed turns over turns.
    TurnFailureRate = "turn_failure_rate", Ratio, false, true;
    /// Turns per second that succeeded within `agent_response_p95` (`goodput_turns_per_s`).
    Goodput = "goodput", PerSecond, false, false;
    /// Turns per second, failed ones included.
    TurnsPerSecond = "turns_per_s", PerSecond, false, false;
    /// Prompt and completion tokens per second.
    TokensPerSecond = "tokens_per_s", PerSecond, false, false;
    /// Completion tokens per second.
    OutputTokensPerSecond = "output_tokens_per_s", PerSecond, false, false;
    /// Turns completed or failed.
    Turns = "turns", Count, false, false;
    /// Attempts after the first, over all calls.
    Retries = "retries", Count, false, false;
    /// Calls served by a provider other than the first choice.
    Failovers = "failovers", Count, false, false;
    /// Attempts an open breaker refused.
    BreakerRejections = "breaker_rejections", Count, false, false;
    /// Open loop: sessions never started.
    DroppedStarts = "dropped_starts", Count, false, false;
    /// The largest peak memory of any agent.
    PeakAgentMemory = "peak_agent_memory", Bytes, false, false;
}

impl FigureName {
    /// The figure named `name`.
    pub fn parse(name: &str) -> Option<FigureName> {
        FigureName::ALL.iter().copied().find(|f| f.as_str() == name)
    }

    /// The registry's names closest to `name` (edit distance at most a third of its length,
    /// or sharing a word; the nearest and those within 2 of it, at most 3), best first, for
    /// "did you mean".
    pub fn close_to(name: &str) -> Vec<&'static str> {
        let limit = (name.len() / 3).max(2);
        let mut scored: Vec<(usize, &'static str)> = FigureName::ALL
            .iter()
            .map(|f| (distance(name, f.as_str()), f.as_str()))
            .filter(|(d, n)| {
                *d <= limit
                    || name
                        .split('_')
                        .any(|w| w.len() > 3 && n.split('_').any(|x| x == w))
            })
            .collect();
        scored.sort();
        // The nearest, and those nearly as near: not every name sharing a word.
        let best = scored.first().map_or(0, |(d, _)| *d);
        scored
            .into_iter()
            .take_while(|(d, _)| *d <= best + 2)
            .take(3)
            .map(|(_, n)| n)
            .collect()
    }
}

impl fmt::Display for FigureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Levenshtein distance in bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A limit as written: a number, or a string with a unit. Which one fits is the figure's
/// unit; [`FigureTarget::bound`] checks it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LimitValue {
    /// `min = 0.8`, `max = 100`.
    Number(f64),
    /// `max = "250ms"`, `max = "2MB"`.
    Text(String),
}

impl fmt::Display for LimitValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitValue::Number(n) => write!(f, "{n}"),
            LimitValue::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// Which side of the limit the figure must stay on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// `min`: the figure must reach the limit (`>=`).
    Min,
    /// `max`: the figure must not exceed the limit (`<=`).
    Max,
}

impl Side {
    /// The key: `min` or `max`.
    pub fn key(self) -> &'static str {
        match self {
            Side::Min => "min",
            Side::Max => "max",
        }
    }
}

/// `[[targets.figure]]`: figure `name` (of `tool`, for per-tool figures) must stay at or above
/// `min`, or at or below `max`. Exactly one of the two; the loader checks the name, the tool
/// and that the limit fits the figure's unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureTarget {
    /// A name from the registry ([`FigureName`]), like `tool_cache_hit_rate`.
    pub name: String,
    /// The tool, for a per-tool figure; without it, the figure over every tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The figure must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<LimitValue>,
    /// The figure must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<LimitValue>,
}

/// A checked figure target: the figure, its side and its limit in the report's unit
/// (milliseconds for a duration, bytes for a size, the plain number otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The figure.
    pub figure: FigureName,
    /// Narrowed to this tool.
    pub tool: Option<String>,
    /// `min` or `max`.
    pub side: Side,
    /// The limit, in the report's unit.
    pub limit: f64,
}

/// Why a figure target is not one: the key at fault and the message (value and fix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundError {
    /// `name`, `tool`, `min` or `max` (empty for the table itself).
    pub key: &'static str,
    /// What is wrong, the bad value and the fix.
    pub message: String,
}

impl FigureTarget {
    /// The checked target, or what is wrong with it.
    pub fn bound(&self) -> Result<Bound, BoundError> {
        let fail = |key, message| Err(BoundError { key, message });
        let Some(figure) = FigureName::parse(&self.name) else {
            let close = FigureName::close_to(&self.name);
            let hint = if close.is_empty() {
                "see the figures in docs/scenario.md (Targets on any figure)".to_owned()
            } else {
                format!("did you mean {}?", close.join(", "))
            };
            return fail("name", format!("unknown figure `{}`: {hint}", self.name));
        };
        if self.tool.is_some() && !figure.per_tool() {
            return fail(
                "tool",
                format!(
                    "figure `{figure}` is run-wide, not per tool: remove `tool`, or name a tool-cache figure like tool_cache_hit_rate"
                ),
            );
        }
        let (side, value) = match (&self.min, &self.max) {
            (Some(v), None) => (Side::Min, v),
            (None, Some(v)) => (Side::Max, v),
            (Some(_), Some(_)) => {
                return fail(
                    "max",
                    "set one of `min` and `max` per [[targets.figure]]; write a second [[targets.figure]] for the other side".to_owned(),
                );
            }
            (None, None) => {
                return fail(
                    "name",
                    format!(
                        "[[targets.figure]] `{figure}` has no limit: add `min = ...` or `max = ...`, {}",
                        figure.unit().example()
                    ),
                );
            }
        };
        let limit = limit(figure, value).map_err(|message| BoundError {
            key: side.key(),
            message,
        })?;
        Ok(Bound {
            figure,
            tool: self.tool.clone(),
            side,
            limit,
        })
    }
}

/// `value` read in `figure`'s unit.
fn limit(figure: FigureName, value: &LimitValue) -> Result<f64, String> {
    let unit = figure.unit();
    let misfit = || {
        format!(
            "invalid limit `{value}`: figure `{figure}` is a {}; write {}",
            unit.as_str(),
            unit.example()
        )
    };
    match (unit, value) {
        (FigureUnit::Duration, LimitValue::Text(t)) => {
            let d: Dur = t.parse().map_err(|e| format!("{e} (figure `{figure}`)"))?;
            Ok(d.0.as_micros() as f64 / 1000.0)
        }
        (FigureUnit::Bytes, LimitValue::Text(t)) => {
            let b: Bytes = t.parse().map_err(|e| format!("{e} (figure `{figure}`)"))?;
            Ok(b.0 as f64)
        }
        (FigureUnit::Bytes, LimitValue::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => Ok(*n),
        (FigureUnit::Ratio | FigureUnit::PerSecond, LimitValue::Number(n)) => {
            if !n.is_finite() || *n < 0.0 {
                Err(format!(
                    "invalid limit `{n}`: figure `{figure}` cannot be negative; write {}",
                    unit.example()
                ))
            } else if figure.fraction() && *n > 1.0 {
                Err(format!(
                    "invalid limit `{n}`: figure `{figure}` is a fraction in [0, 1]; write 0.8 for 80 %"
                ))
            } else {
                Ok(*n)
            }
        }
        (FigureUnit::Count, LimitValue::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => Ok(*n),
        _ => Err(misfit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        name: &str,
        tool: Option<&str>,
        min: Option<LimitValue>,
        max: Option<LimitValue>,
    ) -> FigureTarget {
        FigureTarget {
            name: name.to_owned(),
            tool: tool.map(str::to_owned),
            min,
            max,
        }
    }

    #[test]
    fn reads_each_unit() {
        let b = target(
            "tool_cache_hit_rate",
            Some("kb"),
            Some(LimitValue::Number(0.8)),
            None,
        )
        .bound()
        .unwrap();
        assert_eq!(
            (b.figure, b.side, b.limit),
            (FigureName::ToolCacheHitRate, Side::Min, 0.8)
        );
        assert_eq!(b.tool.as_deref(), Some("kb"));
        let text = |s: &str| Some(LimitValue::Text(s.to_owned()));
        let saved = target("tool_cache_latency_saved", None, text("1.5s"), None);
        assert_eq!(saved.bound().unwrap().limit, 1500.0);
        let memory = target("peak_agent_memory", None, None, text("2MB"));
        assert_eq!(memory.bound().unwrap().limit, 2_000_000.0);
        let retries = target(
            "retries_per_call",
            None,
            None,
            Some(LimitValue::Number(1.5)),
        );
        assert_eq!(retries.bound().unwrap().limit, 1.5, "not a fraction");
        let turns = target("turns", None, Some(LimitValue::Number(100.0)), None);
        assert_eq!(turns.bound().unwrap().side, Side::Min);
    }

    #[test]
    fn bad_targets_name_the_key_the_value_and_the_fix() {
        let e = target(
            "tool_cache_hitrate",
            None,
            Some(LimitValue::Number(0.8)),
            None,
        )
        .bound()
        .unwrap_err();
        assert_eq!(e.key, "name");
        assert!(e.message.contains("`tool_cache_hitrate`"), "{e:?}");
        assert!(
            e.message.contains("did you mean tool_cache_hit_rate"),
            "{e:?}"
        );

        let e = target(
            "tool_cache_hit_rate",
            None,
            Some(LimitValue::Text("250ms".into())),
            None,
        )
        .bound()
        .unwrap_err();
        assert_eq!(e.key, "min");
        assert_eq!(
            e.message,
            "invalid limit `\"250ms\"`: figure `tool_cache_hit_rate` is a ratio; write a number like 0.8"
        );
        let e = target(
            "tool_cache_latency_saved",
            None,
            Some(LimitValue::Number(5.0)),
            None,
        )
        .bound()
        .unwrap_err();
        assert!(
            e.message.contains("a duration string like \"250ms\""),
            "{e:?}"
        );
        let e = target(
            "tool_cache_hit_rate",
            None,
            Some(LimitValue::Number(80.0)),
            None,
        )
        .bound()
        .unwrap_err();
        assert!(e.message.contains("fraction in [0, 1]"), "{e:?}");
        let e = target("turns", None, Some(LimitValue::Number(1.5)), None)
            .bound()
            .unwrap_err();
        assert!(e.message.contains("whole number"), "{e:?}");
        let e = target("goodput", Some("kb"), Some(LimitValue::Number(1.0)), None)
            .bound()
            .unwrap_err();
        assert_eq!(e.key, "tool");
        let both = target(
            "turns",
            None,
            Some(LimitValue::Number(1.0)),
            Some(LimitValue::Number(2.0)),
        );
        assert!(
            both.bound()
                .unwrap_err()
                .message
                .contains("one of `min` and `max`")
        );
        let none = target("turns", None, None, None);
        assert!(none.bound().unwrap_err().message.contains("has no limit"));
    }

    #[test]
    fn registry_names_are_unique_and_parse_back() {
        for f in FigureName::ALL {
            assert_eq!(FigureName::parse(f.as_str()), Some(*f));
            assert_eq!(
                FigureName::ALL
                    .iter()
                    .filter(|g| g.as_str() == f.as_str())
                    .count(),
                1
            );
        }
        assert_eq!(
            FigureName::close_to("tool_cache_hitrate")[0],
            "tool_cache_hit_rate"
        );
        assert!(FigureName::close_to("zzz").is_empty());
    }
}
