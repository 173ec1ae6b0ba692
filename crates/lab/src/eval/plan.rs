//! The typed plan of an evaluation: which strategies, under which `[compression]` settings,
//! each sweep value a row of its own. Parsing lives here so the harness never hands raw
//! flags to the engine.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use scenario::{Compression, Pipeline, Probability, StrategyName, Trigger};
use thiserror::Error;

/// A value a flag cannot take.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PlanError(pub String);

/// A numeric `[compression]` key a sweep may vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepKey {
    /// `keep_first`.
    KeepFirst,
    /// `keep_last`.
    KeepLast,
    /// `mask_keep_last`.
    MaskKeepLast,
    /// `clip_tokens`.
    ClipTokens,
    /// `compact_to` (a fraction).
    CompactTo,
    /// The token threshold of the trigger (`trigger = { tokens = N }`).
    TriggerTokens,
    /// The message threshold of the trigger (`trigger = { messages = N }`).
    TriggerMessages,
    /// The window fraction of the trigger (`trigger = { fraction = F }`).
    TriggerFraction,
    /// `context_window`.
    ContextWindow,
    /// `zstd_level`.
    ZstdLevel,
}

impl SweepKey {
    /// Every key, by name.
    pub const ALL: [(&'static str, SweepKey); 10] = [
        ("keep_first", SweepKey::KeepFirst),
        ("keep_last", SweepKey::KeepLast),
        ("mask_keep_last", SweepKey::MaskKeepLast),
        ("clip_tokens", SweepKey::ClipTokens),
        ("compact_to", SweepKey::CompactTo),
        ("trigger_tokens", SweepKey::TriggerTokens),
        ("trigger_messages", SweepKey::TriggerMessages),
        ("trigger_fraction", SweepKey::TriggerFraction),
        ("context_window", SweepKey::ContextWindow),
        ("zstd_level", SweepKey::ZstdLevel),
    ];

    /// Its name, as in the scenario file.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every key is listed in ALL")
    }

    fn is_fraction(self) -> bool {
        matches!(self, SweepKey::CompactTo | SweepKey::TriggerFraction)
    }

    /// Whether strategy `name` reads this key, so that sweeping it can change its row. The
    /// strategies' own parameters are found from [`Compression::stage`] (each strategy is
    /// built from its own parameters only); every rewriting strategy runs when the trigger
    /// fires; `compact_to` sets the target, which only the strategies that compress toward a
    /// token target read; every row counts its prompts over `context_window`.
    pub fn read_by(self, name: StrategyName) -> bool {
        match self {
            SweepKey::TriggerTokens | SweepKey::TriggerMessages | SweepKey::TriggerFraction => {
                name != StrategyName::None
            }
            SweepKey::ContextWindow => true,
            SweepKey::CompactTo => TOWARD_TARGET.contains(&name),
            SweepKey::KeepFirst
            | SweepKey::KeepLast
            | SweepKey::MaskKeepLast
            | SweepKey::ClipTokens
            | SweepKey::ZstdLevel => {
                // Two values every such key takes: the stage differs if it reads the key.
                let (mut one, mut two) = (Compression::default(), Compression::default());
                self.apply(&mut one, 1.0);
                self.apply(&mut two, 2.0);
                one.stage(name) != two.stage(name)
            }
        }
    }

    /// Sets this key of `c` to `v` (checked by [`Sweep::from_str`]).
    pub fn apply(self, c: &mut Compression, v: f64) {
        // Checked on parsing: counts are whole numbers in range, fractions within (0, 1].
        let n = v as u32;
        match self {
            SweepKey::KeepFirst => c.keep_first = n,
            SweepKey::KeepLast => c.keep_last = n,
            SweepKey::MaskKeepLast => c.mask_keep_last = n,
            SweepKey::ClipTokens => c.clip_tokens = n,
            SweepKey::CompactTo => c.compact_to = Probability(v),
            SweepKey::TriggerTokens => c.trigger = Trigger::Tokens(n),
            SweepKey::TriggerMessages => c.trigger = Trigger::Messages(n),
            SweepKey::TriggerFraction => c.trigger = Trigger::Fraction(Probability(v)),
            SweepKey::ContextWindow => c.context_window = n,
            SweepKey::ZstdLevel => c.zstd_level = v as i32,
        }
    }
}

impl FromStr for SweepKey {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                PlanError(format!(
                    "unknown sweep key `{s}`: use one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// The strategies that compress toward the token target (`compact_to` of the threshold); the
/// others rewrite by their own parameters whatever the target.
const TOWARD_TARGET: [StrategyName; 5] = [
    StrategyName::TokenBudget,
    StrategyName::Amortized,
    StrategyName::RollingSummary,
    StrategyName::StructuredSummary,
    StrategyName::Offload,
];

/// `key=a,b,c`: one key and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The key.
    pub key: SweepKey,
    /// Its values, in the order given.
    pub values: Vec<f64>,
}

impl FromStr for Sweep {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, values) = s.split_once('=').ok_or_else(|| {
            PlanError(format!(
                "`{s}` is not a sweep: write KEY=A,B,C, like keep_last=5,10,20"
            ))
        })?;
        let key: SweepKey = key.trim().parse()?;
        let values = values
            .split(',')
            .map(|v| parse_value(key, v.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sweep { key, values })
    }
}

fn parse_value(key: SweepKey, v: &str) -> Result<f64, PlanError> {
    let bad = |what: &str| PlanError(format!("`{}` takes {what}, not `{v}`", key.name()));
    if key.is_fraction() {
        let f: f64 = v
            .parse()
            .map_err(|_| bad("a fraction in (0, 1], like 0.5"))?;
        return if f > 0.0 && f <= 1.0 {
            Ok(f)
        } else {
            Err(bad("a fraction in (0, 1], like 0.5"))
        };
    }
    let range = if key == SweepKey::ZstdLevel {
        "a zstd level from 1 to 22"
    } else {
        "a whole number from 0 to 4294967295"
    };
    let n: u32 = v.parse().map_err(|_| bad(range))?;
    if key == SweepKey::ZstdLevel && !(1..=22).contains(&n) {
        return Err(bad(range));
    }
    Ok(f64::from(n))
}

/// `tokens=N`, `messages=N` or `fraction=F`, as the scenario's `trigger`.
pub fn parse_trigger(s: &str) -> Result<Trigger, PlanError> {
    let bad = || {
        PlanError(format!(
            "`{s}` is not a trigger: write tokens=6000, messages=40 or fraction=0.8"
        ))
    };
    let (kind, value) = s.split_once('=').ok_or_else(bad)?;
    let key = match kind.trim() {
        "tokens" => SweepKey::TriggerTokens,
        "messages" => SweepKey::TriggerMessages,
        "fraction" => SweepKey::TriggerFraction,
        _ => return Err(bad()),
    };
    let v = parse_value(key, value.trim()).map_err(|_| bad())?;
    let mut c = Compression::default();
    key.apply(&mut c, v);
    Ok(c.trigger)
}

/// Makes the pipeline of one replay of a strategy of your own: called once per conversation,
/// so each replay starts from a fresh strategy, as each agent would.
pub type StrategyFactory = Arc<dyn Fn() -> conversation::Pipeline + Send + Sync>;

/// A strategy of your own as a row: its name in the report and what makes it.
#[derive(Clone)]
pub struct Custom {
    /// The row's name.
    pub name: String,
    /// Makes its pipeline, once per conversation.
    pub make: StrategyFactory,
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custom").field("name", &self.name).finish()
    }
}

/// Two custom rows are the same row when they have the same name (a factory has no equality).
impl PartialEq for Custom {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// One row of the results: a strategy (or pipeline) under one setting of the swept keys.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSpec {
    /// The `[compression]` it runs with (its `strategy` is the row's pipeline, unless
    /// `custom` makes it).
    pub config: Compression,
    /// The swept keys and their values for this row (empty without a sweep).
    pub swept: Vec<(SweepKey, f64)>,
    /// A strategy of your own, run instead of `config.strategy` under `config`'s trigger
    /// and target: the seam for strategies the scenario cannot name
    /// (`examples/custom_strategy.rs`, `--strategy-cmd`).
    pub custom: Option<Custom>,
}

impl RowSpec {
    /// A row for a strategy of your own named `name`, made by `make` once per conversation,
    /// under `base`'s trigger, target and window.
    pub fn custom(
        base: &Compression,
        name: impl Into<String>,
        make: impl Fn() -> conversation::Pipeline + Send + Sync + 'static,
    ) -> Self {
        RowSpec {
            config: base.clone(),
            swept: Vec::new(),
            custom: Some(Custom {
                name: name.into(),
                make: Arc::new(make),
            }),
        }
    }

    /// The pipeline of one replay: the custom one, or the built-ins `config` names.
    pub fn pipeline(&self) -> conversation::Pipeline {
        match &self.custom {
            Some(c) => (c.make)(),
            None => conversation::strategies::build(&self.config),
        }
    }

    /// The pipeline's name (`observation-masking+rolling-summary`), or the custom row's.
    pub fn strategy(&self) -> String {
        match &self.custom {
            Some(c) => c.name.clone(),
            None => self.config.strategy.to_string(),
        }
    }

    /// The swept values, like `keep_last=5 clip_tokens=200`; empty without a sweep.
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .swept
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        parts.join(" ")
    }
}

impl fmt::Display for RowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.label().as_str() {
            "" => write!(f, "{}", self.strategy()),
            label => write!(f, "{} [{label}]", self.strategy()),
        }
    }
}

/// The rows for `strategies` (pipelines, parsed by the scenario: `window`,
/// `clip+rolling-summary`) under `base`, one per combination of the values of the swept keys
/// the pipeline reads ([`SweepKey::read_by`]): a key it does not read would only repeat its
/// row. The baseline `none` comes first, once and unswept, whether asked for or not: every
/// ratio is against it. A pipeline given twice runs once ([`repeated`] names them).
pub fn rows(base: &Compression, strategies: &[Pipeline], sweeps: &[Sweep]) -> Vec<RowSpec> {
    let baseline = Pipeline::default();
    let mut out = vec![RowSpec {
        config: Compression {
            strategy: baseline.clone(),
            ..base.clone()
        },
        swept: Vec::new(),
        custom: None,
    }];
    let mut seen = vec![&baseline];
    for pipeline in strategies {
        if seen.contains(&pipeline) {
            continue;
        }
        seen.push(pipeline);
        let read: Vec<&Sweep> = sweeps
            .iter()
            .filter(|s| pipeline.stages().iter().any(|&n| s.key.read_by(n)))
            .collect();
        for swept in combinations(&read) {
            let mut config = Compression {
                strategy: pipeline.clone(),
                ..base.clone()
            };
            for &(key, v) in &swept {
                key.apply(&mut config, v);
            }
            out.push(RowSpec {
                config,
                swept,
                custom: None,
            });
        }
    }
    out
}

/// The pipelines `strategies` holds more than once (each named once, in order), which
/// [`rows`] runs once: for the caller to say so.
pub fn repeated(strategies: &[Pipeline]) -> Vec<Pipeline> {
    let mut out: Vec<Pipeline> = Vec::new();
    for (i, p) in strategies.iter().enumerate() {
        if strategies[..i].contains(p) && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Every combination of the sweeps' values, the first sweep varying slowest; one empty
/// combination without a sweep.
fn combinations(sweeps: &[&Sweep]) -> Vec<Vec<(SweepKey, f64)>> {
    let mut combos: Vec<Vec<(SweepKey, f64)>> = vec![Vec::new()];
    for sweep in sweeps {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                sweep.values.iter().map(move |&v| {
                    let mut next = c.clone();
                    next.push((sweep.key, v));
                    next
                })
            })
            .collect();
    }
    combos
}
