//! `[fleet]` and `[session]`: how many agents, how they arrive, what a session looks like, and
//! when the run stops.

use serde::{Deserialize, Serialize};

use crate::dist::{Dist, DurationDist, TokenDist, Tokens};
use crate::units::{Dur, Rate};

/// How sessions arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// A fixed fleet of `agents`, ramped up over `ramp_up`; each agent runs sessions back to
    /// back (closed loop: the next session waits for the previous one).
    #[default]
    Closed,
    /// Sessions start on a seeded Poisson schedule of `rate` per second (open loop).
    Poisson,
    /// Sessions start evenly spaced, `rate` per second (open loop).
    Constant,
}

impl Arrival {
    /// Whether sessions start on a schedule rather than when an agent is free.
    pub fn is_open(self) -> bool {
        !matches!(self, Arrival::Closed)
    }
}

/// `[fleet]`: the population of agents and the stop conditions of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fleet {
    /// Closed loop: the number of agents. Open loop: the number of agent slots, i.e. sessions
    /// that may be in progress at once; a start that finds none free waits for one (a late
    /// start); beyond `agents` waiting starts, a start is dropped.
    pub agents: u32,
    /// Closed loop: agents start evenly spread over this duration.
    pub ramp_up: Dur,
    /// How sessions arrive.
    pub arrival: Arrival,
    /// Open loop: session starts per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Stop after this much (simulated or real) time. When no stop condition is given at all,
    /// the loader sets 30 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Stop after this many sessions have started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u64>,
    /// Stop after this many turns have completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u64>,
    /// After a stop condition, calls in flight get this long to finish before they are
    /// cancelled and counted as such.
    pub grace: Dur,
    /// Virtual clock: run the fleet as this many independent parts, one thread each, every
    /// part with its share of the agents, of the open-loop rate, of the stop counts and of
    /// every shared limit (mock capacity, in-flight bounds, rate limits, caches, retry
    /// budgets). A seed gives the same report for the same `shards` on any machine; 1 (the
    /// default) shares every limit across the whole fleet. The live clock already uses every
    /// core and takes only 1.
    pub shards: u32,
}

impl Fleet {
    /// The most shards a run may have.
    pub const MAX_SHARDS: u32 = 256;
}

impl Fleet {
    /// The duration a run gets when the file names no stop condition.
    pub const DEFAULT_DURATION: Dur = Dur::secs(30);

    /// Gives the fleet a stop condition when it has none, so every run ends.
    pub(crate) fn fill_stop_condition(&mut self) {
        if self.duration.is_none() && self.max_sessions.is_none() && self.max_turns.is_none() {
            self.duration = Some(Self::DEFAULT_DURATION);
        }
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            agents: 100,
            ramp_up: Dur::secs(0),
            arrival: Arrival::Closed,
            rate: None,
            duration: None,
            max_sessions: None,
            max_turns: None,
            grace: Dur::secs(10),
            shards: 1,
        }
    }
}

/// `[session]`: the shape of one agent session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Session {
    /// Turns (user message → final answer) per session; a drawn 0 counts as 1.
    pub turns: Dist<Tokens>,
    /// Pause between the end of a turn and the next user message.
    pub think_time: DurationDist,
    /// Pause between one session's end and the agent's next session (closed loop).
    pub between_sessions: DurationDist,
    /// Size of the system prompt, fixed per session.
    pub system_prompt_tokens: TokenDist,
    /// Size of each user message.
    pub user_message_tokens: TokenDist,
    /// `max_tokens` sent with each LLM call.
    pub max_output_tokens: u32,
    /// LLM calls per turn at most (each tool round adds one); the turn ends after this many
    /// even if the model still asks for tools.
    pub max_steps: u32,
    /// Tool calls of one LLM answer that run at once; the rest wait for a free slot.
    pub max_parallel_tools: u32,
    /// Tools offered to the LLM by name; empty means every tool in `[tools]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            turns: Dist::Uniform {
                min: Tokens(3),
                max: Tokens(8),
            },
            think_time: Dist::LogNormal {
                median: Dur::secs(2),
                p95: Dur::secs(8),
            },
            between_sessions: Dist::Constant(Dur::secs(0)),
            system_prompt_tokens: Dist::Constant(Tokens(400)),
            user_message_tokens: Dist::LogNormal {
                median: Tokens(60),
                p95: Tokens(300),
            },
            max_output_tokens: 512,
            max_steps: 5,
            max_parallel_tools: 4,
            tools: Vec::new(),
        }
    }
}
