//! The scenario file format: one struct per section, each with the documented defaults.
//! `docs/scenario.md` is the reference; `fleetbench print-scenario FILE` shows a file with
//! every default filled in.

pub mod agent;
pub mod compression;
pub mod connection;
pub mod fleet;
pub mod llm;
pub mod mock;
pub mod popularity;
pub mod targets;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use agent::{AgentConfig, AgentKind, AgentShape};
pub use compression::{Compression, Pipeline, StrategyConfig, StrategyName, Summarizer, Trigger};
pub use connection::{Api, Param, ToolProtocol};
pub use fleet::{Arrival, Fleet, Session};
pub use llm::{
    ArgType, Breaker, Cache, ClientLimits, Endpoint, Llm, Provider, Retry, Routing, Tool, ToolMock,
};
pub use mock::{Fault, FaultKind, FaultTarget, Mock, Tokenizer};
pub use popularity::ArgumentPopularity;
pub use targets::{LatencyMetric, LatencyTarget, Targets};

/// Which clock a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// Real time, real HTTP over loopback or the network.
    #[default]
    Live,
    /// Simulated time on one thread, the mock called in-process; deterministic for a seed.
    Virtual,
}

impl ClockMode {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockMode::Live => "live",
            ClockMode::Virtual => "virtual",
        }
    }
}

impl std::fmt::Display for ClockMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole scenario: everything a run needs, validated.
///
/// Build one with [`crate::Scenario::from_toml`] or [`crate::load`]; the fields are public
/// for reading, and the loader guarantees they are consistent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// A short name for reports.
    pub name: String,
    /// What the scenario models.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The run seed: agents, the mock and faults derive their randomness from it.
    pub seed: u64,
    /// `live` or `virtual`.
    pub clock: ClockMode,
    /// The population and stop conditions.
    pub fleet: Fleet,
    /// The shape of a session.
    pub session: Session,
    /// Who the simulated users talk to: fleetbench's scripted agents, or a runtime over HTTP.
    #[serde(skip_serializing_if = "AgentConfig::is_scripted_default")]
    pub agent: AgentConfig,
    /// The LLM providers.
    pub llm: Llm,
    /// The tools, by name.
    pub tools: BTreeMap<String, Tool>,
    /// Conversation compression.
    pub compression: Compression,
    /// The built-in mock server.
    pub mock: Mock,
    /// The performance targets.
    pub targets: Targets,
}

impl Default for Scenario {
    /// Every section at its default, run for 30 s. (The loader rejects an empty file rather
    /// than run this: an empty file is more likely a mistake than a wish.)
    fn default() -> Self {
        let mut fleet = Fleet::default();
        fleet.fill_stop_condition();
        Self {
            name: "unnamed".to_owned(),
            description: String::new(),
            seed: 1,
            clock: ClockMode::Live,
            fleet,
            session: Session::default(),
            agent: AgentConfig::default(),
            llm: Llm::default(),
            tools: BTreeMap::new(),
            compression: Compression::default(),
            mock: Mock::default(),
            targets: Targets::default(),
        }
    }
}

impl Scenario {
    /// The seed of the mock (its own, or the run seed).
    pub fn mock_seed(&self) -> u64 {
        self.mock.seed.unwrap_or(self.seed)
    }

    /// The tools offered to the LLM in a session, in a stable order.
    pub fn session_tools(&self) -> Vec<(&str, &Tool)> {
        if self.session.tools.is_empty() {
            self.tools.iter().map(|(n, t)| (n.as_str(), t)).collect()
        } else {
            self.session
                .tools
                .iter()
                .filter_map(|n| self.tools.get_key_value(n).map(|(n, t)| (n.as_str(), t)))
                .collect()
        }
    }
}
