//! `none`. The baseline: changes nothing, so every other strategy's savings and losses are
//! measured against the full history (research doc §7.1; OpenHands' `noop` condenser).
//!
//! Parameters: none.

use scenario::StrategyName;

use crate::message::Message;
use crate::strategy::{Ctx, Strategy};

/// `none`: keeps every message as it is.
#[derive(Clone, Debug, Default)]
pub struct Baseline {}

impl Strategy for Baseline {
    fn name(&self) -> &'static str {
        StrategyName::None.as_str()
    }

    fn compress(&mut self, _messages: &mut Vec<Message>, _ctx: &mut Ctx<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_units::fixtures::{run, session};

    #[test]
    fn keeps_everything() {
        let before = session(5, 20);
        let after = run(&mut Baseline::default(), &before, 0);
        assert_eq!(after, before);
    }
}
