//! The mock's configuration, taken from a scenario's `[mock]`, `[tools]` and providers.

use std::collections::BTreeMap;
use std::time::Duration;

use scenario::{ArgType, Mock, Scenario, ToolMock};

use crate::popularity::ArgumentSampler;

/// Everything the mock needs to answer.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Seed of answers and faults.
    pub seed: u64,
    /// Latency model, answer shape, tokenizer and faults.
    pub llm: Mock,
    /// Tools served at `/tools/NAME`.
    pub tools: BTreeMap<String, ToolBehaviour>,
    /// Models listed by `/v1/models` (any model name is accepted).
    pub models: Vec<String>,
    /// Over sockets ([`crate::serve`]), how long a connection may carry no request before it
    /// is closed: one that sends nothing or half a request head, or an idle keep-alive one.
    /// 10 s; not a scenario key.
    pub idle_timeout: Duration,
    /// Session attribution (`crate::attribution`): find the HTTP agent driver's session
    /// markers in LLM and tool requests, carry them through generated tool arguments, and
    /// record each marked call for [`crate::MockServer::take_observed`]. Off by default
    /// (false from [`MockConfig::from_scenario`]): then no marker is looked for and no byte of
    /// an answer or of `/stats` differs. The HTTP agent driver turns it on.
    pub attribution: bool,
    /// `[compression] recall_probability`: the chance of calling the recall tool
    /// ([`scenario::compression::RECALL_TOOL`]) when a request offers it, drawn apart from
    /// the other tools; requests that do not offer it draw as if this did not exist.
    pub recall_probability: f64,
}

/// How one tool behaves.
#[derive(Clone, Debug)]
pub struct ToolBehaviour {
    /// How often the mock LLM picks it when it is offered.
    pub weight: f64,
    /// Latency, failure rate and result size.
    pub mock: ToolMock,
    /// What the tool does, as `/mcp` lists it (`tools/list`).
    pub description: String,
    /// Its arguments, all required: `/mcp` lists their JSON schema ([`crate::tool_parameters`]).
    pub args: BTreeMap<String, ArgType>,
    /// How popular the mock LLM's arguments for it are, built once from `mock.arguments`;
    /// `None` when unset (each call's are invented afresh).
    pub arguments: Option<ArgumentSampler>,
}

impl MockConfig {
    /// The mock a scenario describes.
    pub fn from_scenario(s: &Scenario) -> Self {
        let mut models: Vec<String> = s.llm.providers.iter().map(|p| p.model.clone()).collect();
        models.extend(s.mock.models.iter().cloned());
        models.sort();
        models.dedup();
        Self {
            seed: s.mock_seed(),
            llm: s.mock.clone(),
            tools: s
                .tools
                .iter()
                .map(|(name, t)| {
                    (
                        name.clone(),
                        ToolBehaviour {
                            weight: t.weight.0,
                            mock: t.mock.clone(),
                            description: t.description.clone(),
                            args: t.args.clone(),
                            arguments: t.mock.arguments.as_ref().and_then(ArgumentSampler::new),
                        },
                    )
                })
                .collect(),
            models,
            idle_timeout: crate::server::IDLE_TIMEOUT,
            attribution: false,
            recall_probability: s.compression.recall_probability.0,
        }
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        Self::from_scenario(&Scenario::default())
    }
}
