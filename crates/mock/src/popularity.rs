//! Popular tool-call arguments (`[tools.NAME.mock] arguments`, see
//! [`scenario::schema::popularity`]): a fresh call picks one of a finite set of argument
//! objects by popularity, and a call may repeat the arguments of an earlier call of the same
//! tool in the conversation (session locality).
//!
//! The mock keeps no session state: an earlier call is one the request's messages hold, as a
//! real model sees its own earlier calls. Value `k` of a tool is always the same object: its
//! arguments are drawn from a generator seeded by the mock's seed, the tool and `k`, not from
//! the answer's, so two sessions asking for value `k` send the same bytes (what a cache keys
//! on). Unset, nothing here runs and no draw is taken.

use std::sync::Arc;

use serde_json::Value;

use scenario::ArgumentPopularity;
use scenario::rng::{SimRng, stable_hash, stream};

use crate::answer::Planning;
use crate::app::MockServer;
use crate::args;
use crate::attribution::SessionMarker;
use crate::config::MockConfig;
use crate::wire::FunctionSpec;

/// Tells the values' generator apart from the other draws of `stream::MOCK_TOOL`.
const VALUES: u64 = 0x706f_7075_6c61_7221;

/// A tool's argument popularity, built once per tool from its scenario table.
#[derive(Clone, Debug)]
pub struct ArgumentSampler {
    /// Cumulative weights of the values, rising; the last is the total. `None`: every fresh
    /// call invents its arguments as without popularity.
    cdf: Option<Arc<[f64]>>,
    /// The chance of repeating an earlier call's arguments.
    reuse: f64,
}

impl ArgumentSampler {
    /// The sampler of `p`; `None` when it changes nothing (no finite set, no reuse).
    pub fn new(p: &ArgumentPopularity) -> Option<Self> {
        if p.is_inert() {
            return None;
        }
        let cdf = p.value_weights().map(|weights| {
            let mut total = 0.0;
            weights
                .into_iter()
                .map(|w| {
                    total += w;
                    total
                })
                .collect()
        });
        Some(Self {
            cdf,
            reuse: p.reuse.0,
        })
    }

    /// The index of a value drawn by popularity, by binary search over the cumulative
    /// weights: O(log n). One draw from `rng`.
    pub(crate) fn value(&self, rng: &mut SimRng) -> Option<u64> {
        let cdf = self.cdf.as_deref()?;
        let total = *cdf.last()?;
        let x = rng.next_f64() * total;
        // The first value whose cumulative weight passes x; a zero weight is never picked.
        let k = cdf.partition_point(|&c| c <= x).min(cdf.len() - 1);
        Some(k as u64)
    }

    /// Whether a call may repeat an earlier one (the caller then gathers the earlier calls).
    pub(crate) fn reuses(&self) -> bool {
        self.reuse > 0.0
    }

    /// The arguments of a call of tool `name` (whose JSON schema is `parameters`): with
    /// probability `reuse`, one of `earlier` (the arguments of this tool's calls in the
    /// conversation, picked uniformly) when there is one and no session marker is carried
    /// (a marker names the turn, which an earlier call's does not); otherwise value `k` by
    /// popularity, or invented from `rng` as without popularity when there is no finite set.
    pub(crate) fn arguments<'a>(
        &self,
        seed: u64,
        name: &str,
        parameters: Option<&Value>,
        rng: &mut SimRng,
        marker: Option<SessionMarker>,
        earlier: impl FnOnce() -> Vec<&'a str>,
    ) -> String {
        if self.reuses() && rng.next_f64() < self.reuse && marker.is_none() {
            let earlier = earlier();
            if !earlier.is_empty() {
                let i = usize::try_from(rng.below(earlier.len() as u64)).unwrap_or(0);
                return earlier[i].to_owned();
            }
        }
        match self.value(rng) {
            Some(k) => {
                let mut values = SimRng::derive(
                    seed,
                    &[stream::MOCK_TOOL, stable_hash(name.as_bytes()), k, VALUES],
                );
                args::generate(parameters, &mut values, marker)
            }
            None => args::generate(parameters, rng, marker),
        }
    }
}

/// The arguments of planned call `spec` in the answer to `planning`: by the tool's
/// popularity when it has one, else invented from `rng` as always.
pub(crate) fn call_arguments(
    config: &MockConfig,
    planning: &Planning<'_>,
    spec: &FunctionSpec,
    rng: &mut SimRng,
) -> String {
    let parameters = spec.parameters.as_ref();
    match config
        .tools
        .get(&spec.name)
        .and_then(|t| t.arguments.as_ref())
    {
        None => args::generate(parameters, rng, planning.marker),
        Some(sampler) => sampler.arguments(
            config.seed,
            &spec.name,
            parameters,
            rng,
            planning.marker,
            || earlier_calls(planning, &spec.name),
        ),
    }
}

/// The arguments of every earlier call of tool `name` in the conversation, oldest first:
/// from the request's messages, or from the caller's list on the direct path.
fn earlier_calls<'a>(planning: &Planning<'a>, name: &str) -> Vec<&'a str> {
    let in_messages = planning
        .req
        .messages
        .iter()
        .filter_map(|m| m.tool_calls.as_deref())
        .flatten()
        .filter(|c| c.function.name == name)
        .map(|c| c.function.arguments.as_str());
    let given = planning
        .earlier
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|&(_, a)| a);
    in_messages.chain(given).collect()
}

impl MockServer {
    /// Whether an answer may repeat an earlier tool call's arguments (some tool has
    /// `mock.arguments.reuse` above 0): only then does a direct-path caller need to hand the
    /// conversation's earlier calls to [`MockServer::chat_direct_digest_calls`].
    pub fn reuses_arguments(&self) -> bool {
        self.config()
            .tools
            .values()
            .any(|t| t.arguments.as_ref().is_some_and(ArgumentSampler::reuses))
    }
}

#[cfg(test)]
mod tests;
