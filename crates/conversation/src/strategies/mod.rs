//! The built-in strategies, one file each, and [`build`]: a pipeline from the scenario's
//! `[compression]` (strategy names are kebab-case; a pipeline joins them with `+`).

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
pub use token_budget::TokenBudget;
pub use window::Window;

use crate::strategy::{Pipeline, Strategy};

/// Every built-in strategy's name, in the order of the docs: the scenario's list, so a name
/// the scenario accepts always has a strategy here (a test checks each builds).
pub const NAMES: [&str; 10] = scenario::schema::compression::STRATEGIES;

/// One strategy by name, configured from `c`; `None` for an unknown name.
pub fn strategy(name: &str, c: &scenario::Compression) -> Option<Box<dyn Strategy>> {
    Some(match name {
        "none" => Box::new(Baseline::from_config(c)),
        "window" => Box::new(Window::from_config(c)),
        "token-budget" => Box::new(TokenBudget::from_config(c)),
        "observation-masking" => Box::new(ObservationMasking::from_config(c)),
        "clip" => Box::new(Clip::from_config(c)),
        "dedup" => Box::new(Dedup::from_config(c)),
        "amortized" => Box::new(Amortized::from_config(c)),
        "rolling-summary" => Box::new(RollingSummary::from_config(c)),
        "structured-summary" => Box::new(StructuredSummary::from_config(c)),
        "offload" => Box::new(Offload::from_config(c)),
        _ => return None,
    })
}

/// The pipeline `c.strategy` names (the scenario has checked the names).
pub fn build(c: &scenario::Compression) -> Pipeline {
    Pipeline {
        stages: c
            .strategy
            .0
            .iter()
            .filter_map(|name| strategy(name, c))
            .collect(),
    }
}
