//! The built-in strategies, one file each, and [`build`]: a pipeline from the scenario's
//! `[compression]`. The scenario has parsed the names into [`scenario::StrategyName`]s and
//! hands each stage its own parameters ([`scenario::StrategyConfig`]); [`strategy`] matches
//! that closed set, so every name the scenario accepts has a strategy here.

mod amortized;
mod clip;
mod dedup;
mod evict;
mod none;
mod observation_masking;
mod offload;
#[cfg(test)]
mod proptests;
mod rolling_summary;
mod structured_summary;
mod supersede;
mod token_budget;
mod window;

pub use amortized::Amortized;
pub use clip::Clip;
pub use dedup::Dedup;
pub use none::Baseline;
pub use observation_masking::ObservationMasking;
pub use offload::Offload;
pub use rolling_summary::RollingSummary;
pub use structured_summary::StructuredSummary;
pub use supersede::Supersede;
pub use token_budget::TokenBudget;
pub use window::Window;

use scenario::StrategyConfig;

use crate::strategy::{Pipeline, Strategy};

/// One strategy, built from its own parameters.
pub fn strategy(config: StrategyConfig) -> Box<dyn Strategy> {
    match config {
        StrategyConfig::None => Box::new(Baseline::default()),
        StrategyConfig::Window(c) => Box::new(Window::new(c)),
        StrategyConfig::TokenBudget => Box::new(TokenBudget::default()),
        StrategyConfig::ObservationMasking(c) => Box::new(ObservationMasking::new(c)),
        StrategyConfig::Clip(c) => Box::new(Clip::new(c)),
        StrategyConfig::Dedup => Box::new(Dedup::default()),
        StrategyConfig::Supersede => Box::new(Supersede::default()),
        StrategyConfig::Amortized(c) => Box::new(Amortized::new(c)),
        StrategyConfig::RollingSummary(c) => Box::new(RollingSummary::new(c)),
        StrategyConfig::StructuredSummary(c) => Box::new(StructuredSummary::new(c)),
        StrategyConfig::Offload(c) => Box::new(Offload::new(c)),
    }
}

/// The pipeline `c.strategy` names, each stage with its parameters from `c`.
pub fn build(c: &scenario::Compression) -> Pipeline {
    // Pushed one by one, not collected from the exact-size iterator: the stage list keeps the
    // capacity it always had (4), so the per-agent heap figures of a report, which count this
    // allocation, stay byte-identical to earlier reports (tests/snapshots, the CI baseline).
    let mut stages = Vec::new();
    for stage in c.stages() {
        stages.push(strategy(stage));
    }
    Pipeline { stages }
}

#[cfg(test)]
mod tests {
    use scenario::StrategyName;

    use super::*;

    #[test]
    fn every_name_builds_the_strategy_it_names() {
        let c = scenario::Compression::default();
        for name in StrategyName::ALL {
            assert_eq!(strategy(c.stage(name)).name(), name.as_str());
        }
        let c = scenario::Compression {
            strategy: "clip + window".parse().expect("known names"),
            ..c
        };
        assert_eq!(build(&c).name(), "clip+window");
    }
}
