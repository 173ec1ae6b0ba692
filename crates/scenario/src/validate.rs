//! Cross-field rules that single values cannot check on their own: references between
//! sections, stop conditions, orderings of limits. Each issue names the key it concerns.

use std::collections::BTreeSet;
use std::fmt;

use crate::dist::{Dist, Tokens};
use crate::schema::{Arrival, Breaker, ClientLimits, ClockMode, Fleet, Retry, Scenario, Trigger};
use crate::units::Dur;

mod agent;
mod cold;
mod connection;
mod figures;
mod mock;
mod popularity;
mod ranges;

/// One segment of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path like `llm.providers[1].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }
    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    pub(crate) fn parse(dotted: &str) -> KeyPath {
        KeyPath(dotted.split('.').map(|k| Seg::Key(k.to_owned())).collect())
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A cross-field problem.
#[derive(Debug)]
pub(crate) struct Issue {
    pub(crate) path: KeyPath,
    pub(crate) message: String,
}

#[derive(Default)]
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn fail(&mut self, path: KeyPath, message: String) {
        self.issues.push(Issue { path, message });
    }

    fn at_least_one(&mut self, path: KeyPath, value: u64, what: &str) {
        if value == 0 {
            self.fail(
                path,
                format!("invalid value `0`: {what} must be at least 1"),
            );
        }
    }

    fn positive(&mut self, path: KeyPath, value: Dur, what: &str) {
        if value.0.is_zero() {
            self.fail(
                path,
                format!("invalid duration `0s`: {what} must be longer than zero"),
            );
        }
    }
}

/// Every cross-field issue of a scenario, section by section (fleet, session, llm, tools,
/// mock, compression, targets), then the bounds of plain numbers.
pub(crate) fn check(s: &Scenario) -> Vec<Issue> {
    let mut c = Checker::default();
    fleet(&mut c, s);
    session(&mut c, s);
    llm(&mut c, s);
    tools(&mut c, s);
    mock::check(&mut c, s);
    popularity::check(&mut c, s);
    compression(&mut c, s);
    targets(&mut c, s);
    agent::check(&mut c, s);
    connection::check(&mut c, s);
    ranges::check(&mut c, s);
    c.issues
}

fn fleet(c: &mut Checker, s: &Scenario) {
    let f = &s.fleet;
    let p = KeyPath::parse("fleet");
    c.at_least_one(p.key("agents"), u64::from(f.agents), "the number of agents");
    match (f.arrival.is_open(), f.rate) {
        (true, None) => c.fail(
            p.key("arrival"),
            format!(
                "arrival `{}` is open loop and needs `fleet.rate` (session starts per second), e.g. rate = 20.0",
                arrival_name(f.arrival)
            ),
        ),
        (false, Some(r)) => c.fail(
            p.key("rate"),
            format!(
                "`rate = {}` only applies to open-loop arrivals: set arrival = \"poisson\" or \"constant\", or remove rate",
                r.0
            ),
        ),
        _ => {}
    }
    if let Some(d) = f.duration {
        c.positive(p.key("duration"), d, "the run duration");
        if f.ramp_up > d {
            c.fail(
                p.key("ramp_up"),
                format!("ramp_up `{}` is longer than duration `{d}`: shorten the ramp or lengthen the run", f.ramp_up),
            );
        }
    }
    if f.max_sessions == Some(0) {
        c.at_least_one(p.key("max_sessions"), 0, "max_sessions");
    }
    if f.max_turns == Some(0) {
        c.at_least_one(p.key("max_turns"), 0, "max_turns");
    }
    shards(c, s);
}

/// `fleet.shards`: 1 to [`Fleet::MAX_SHARDS`], no more than the agents, and 1 under the live
/// clock.
fn shards(c: &mut Checker, s: &Scenario) {
    let f = &s.fleet;
    let key = KeyPath::parse("fleet").key("shards");
    if f.shards == 0 || f.shards > Fleet::MAX_SHARDS {
        c.fail(
            key,
            format!(
                "invalid shards `{}`: give 1 to {} (one thread each under the virtual clock)",
                f.shards,
                Fleet::MAX_SHARDS
            ),
        );
    } else if f.shards > f.agents && f.agents > 0 {
        c.fail(
            key,
            format!(
                "shards `{}` is more than the {} agents: every shard needs at least one agent",
                f.shards, f.agents
            ),
        );
    } else if f.shards > 1 && s.clock == ClockMode::Live {
        c.fail(
            key,
            format!(
                "shards `{}` applies to the virtual clock only (the live clock already runs on \
                 every core): set shards = 1 or clock = \"virtual\"",
                f.shards
            ),
        );
    }
}

fn arrival_name(a: Arrival) -> &'static str {
    match a {
        Arrival::Closed => "closed",
        Arrival::Poisson => "poisson",
        Arrival::Constant => "constant",
    }
}

fn session(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("session");
    let ss = &s.session;
    let min_turns = match &ss.turns {
        Dist::Constant(t) => Some(*t),
        Dist::Uniform { min, .. } => Some(*min),
        Dist::Empirical(v) => v.iter().min().copied(),
        Dist::LogNormal { .. } => None,
    };
    if min_turns == Some(Tokens(0)) {
        c.fail(
            p.key("turns"),
            "a session must have at least 1 turn: make the smallest value 1".to_owned(),
        );
    }
    c.at_least_one(
        p.key("max_output_tokens"),
        u64::from(ss.max_output_tokens),
        "max_output_tokens",
    );
    c.at_least_one(
        p.key("max_steps"),
        u64::from(ss.max_steps),
        "max_steps (LLM calls per turn)",
    );
    c.at_least_one(
        p.key("max_parallel_tools"),
        u64::from(ss.max_parallel_tools),
        "max_parallel_tools",
    );
    for (i, name) in ss.tools.iter().enumerate() {
        if !s.tools.contains_key(name) {
            c.fail(p.key("tools").index(i), missing_tool(name, s));
        }
    }
}

fn missing_tool(name: &str, s: &Scenario) -> String {
    let known: Vec<&str> = s.tools.keys().map(String::as_str).collect();
    if known.is_empty() {
        format!("tool `{name}` is not defined: add a [tools.{name}] section")
    } else {
        format!(
            "tool `{name}` is not defined: use one of {} or add a [tools.{name}] section",
            known.join(", ")
        )
    }
}

fn llm(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("llm.providers");
    if s.llm.providers.is_empty() {
        c.fail(
            KeyPath::parse("llm"),
            "no LLM provider: add [[llm.providers]] with name, base_url and model".to_owned(),
        );
    }
    let mut names = BTreeSet::new();
    for (i, prov) in s.llm.providers.iter().enumerate() {
        let pp = p.index(i);
        if prov.name.is_empty() {
            c.fail(
                pp.key("name"),
                "a provider needs a non-empty `name`".to_owned(),
            );
        } else if !names.insert(prov.name.as_str()) {
            c.fail(
                pp.key("name"),
                format!(
                    "provider name `{}` is used twice: names must be unique",
                    prov.name
                ),
            );
        }
        if prov.model.is_empty() {
            c.fail(
                pp.key("model"),
                "a provider needs a non-empty `model`".to_owned(),
            );
        }
        limits(c, &pp, &prov.limits);
        deadlines(c, &pp, prov.timeout, prov.deadline);
        retry(c, &pp.key("retry"), &prov.retry);
        breaker(c, &pp.key("breaker"), &prov.breaker);
    }
}

fn limits(c: &mut Checker, p: &KeyPath, l: &ClientLimits) {
    let p = p.key("limits");
    if l.rpm == Some(0) {
        c.fail(
            p.key("rpm"),
            "invalid value `0`: rpm must be at least 1; remove the key for no limit".to_owned(),
        );
    }
    if l.tpm == Some(0) {
        c.fail(
            p.key("tpm"),
            "invalid value `0`: tpm must be at least 1; remove the key for no limit".to_owned(),
        );
    }
    c.at_least_one(
        p.key("max_in_flight"),
        u64::from(l.max_in_flight),
        "max_in_flight",
    );
    c.positive(
        p.key("connect_timeout"),
        l.connect_timeout,
        "connect_timeout",
    );
}

fn deadlines(c: &mut Checker, p: &KeyPath, timeout: Dur, deadline: Dur) {
    c.positive(p.key("timeout"), timeout, "the attempt timeout");
    if timeout > deadline {
        c.fail(
            p.key("deadline"),
            format!("deadline `{deadline}` is shorter than timeout `{timeout}`: the deadline covers all attempts, so make it at least the timeout"),
        );
    }
}

fn retry(c: &mut Checker, p: &KeyPath, r: &Retry) {
    c.at_least_one(
        p.key("max_attempts"),
        u64::from(r.max_attempts),
        "max_attempts (the first attempt counts)",
    );
    if r.initial_backoff > r.max_backoff {
        c.fail(
            p.key("max_backoff"),
            format!(
                "max_backoff `{}` is below initial_backoff `{}`: raise it",
                r.max_backoff, r.initial_backoff
            ),
        );
    }
    if r.multiplier.0 < 1.0 {
        c.fail(
            p.key("multiplier"),
            format!(
                "invalid multiplier `{}`: the backoff must not shrink, use 1.0 or more",
                r.multiplier.0
            ),
        );
    }
}

fn breaker(c: &mut Checker, p: &KeyPath, b: &Breaker) {
    if !b.enabled {
        return;
    }
    c.positive(p.key("window"), b.window, "the breaker window");
    c.positive(p.key("open_for"), b.open_for, "open_for");
    c.at_least_one(p.key("min_calls"), u64::from(b.min_calls), "min_calls");
    c.at_least_one(
        p.key("consecutive_failures"),
        u64::from(b.consecutive_failures),
        "consecutive_failures",
    );
    c.at_least_one(
        p.key("half_open_probes"),
        u64::from(b.half_open_probes),
        "half_open_probes",
    );
    if b.failure_rate.0 == 0.0 {
        c.fail(
            p.key("failure_rate"),
            "invalid failure_rate `0`: the breaker would open on the first call; use a share above 0 or set enabled = false".to_owned(),
        );
    }
}

fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
}

fn tools(c: &mut Checker, s: &Scenario) {
    for (name, tool) in &s.tools {
        let p = KeyPath::parse("tools").key(name);
        if !is_function_name(name) {
            c.fail(
                p.clone(),
                format!("invalid tool name `{name}`: use 1 to 64 letters, digits, `_` or `-` (the LLM sees it as a function name)"),
            );
        }
        for arg in tool.args.keys() {
            if !is_function_name(arg) {
                c.fail(
                    p.key("args").key(arg),
                    format!("invalid argument name `{arg}`: use letters, digits, `_` or `-`"),
                );
            }
        }
        limits(c, &p, &tool.limits);
        if let Some(tpm) = tool.limits.tpm {
            c.fail(
                p.key("limits").key("tpm"),
                format!("`tpm = {tpm}` applies to LLM providers only: a tool has no tokens; use `rpm` to limit a tool"),
            );
        }
        deadlines(c, &p, tool.timeout, tool.deadline);
        retry(c, &p.key("retry"), &tool.retry);
        breaker(c, &p.key("breaker"), &tool.breaker);
        if let Some(cache) = &tool.cache {
            c.positive(p.key("cache").key("ttl"), cache.ttl, "the cache ttl");
            c.at_least_one(
                p.key("cache").key("capacity"),
                cache.capacity,
                "the cache capacity",
            );
        }
    }
}

fn compression(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("compression");
    let cp = &s.compression;
    match &cp.trigger {
        Trigger::Messages(0) | Trigger::Tokens(0) => c.fail(
            p.key("trigger"),
            "the trigger threshold must be at least 1".to_owned(),
        ),
        Trigger::Fraction(f) if f.0 == 0.0 => c.fail(
            p.key("trigger"),
            "invalid trigger fraction `0`: use a share of the context window above 0, like 0.8"
                .to_owned(),
        ),
        _ => {}
    }
    if cp.compact_to.0 == 0.0 {
        c.fail(
            p.key("compact_to"),
            "invalid compact_to `0`: use a fraction above 0, like 0.5".to_owned(),
        );
    }
    c.at_least_one(
        p.key("context_window"),
        u64::from(cp.context_window),
        "context_window",
    );
    if cp.chars_per_token.0 <= 0.0 {
        c.fail(
            p.key("chars_per_token"),
            "chars_per_token must be greater than zero, like 4.0".to_owned(),
        );
    }
    if !(1..=22).contains(&cp.zstd_level) {
        c.fail(
            p.key("zstd_level"),
            format!(
                "invalid zstd_level `{}`: use 1 to 22 (3 is a good default)",
                cp.zstd_level
            ),
        );
    }
    cold::check(c, s);
    if let Some(name) = &cp.summarizer_provider
        && !s.llm.providers.iter().any(|pr| &pr.name == name)
    {
        let names: BTreeSet<&str> = s
            .llm
            .providers
            .iter()
            .map(|pr| pr.name.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        let names: Vec<&str> = names.into_iter().collect();
        c.fail(
            p.key("summarizer_provider"),
            format!(
                "provider `{name}` is not defined: use one of {} or add it under [[llm.providers]]",
                names.join(", ")
            ),
        );
    }
}

fn targets(c: &mut Checker, s: &Scenario) {
    figures::check(c, s);
    for (i, t) in s.targets.extra.iter().enumerate() {
        if !(t.percentile > 0.0 && t.percentile <= 100.0) {
            c.fail(
                KeyPath::parse("targets.extra").index(i).key("percentile"),
                format!(
                    "invalid percentile `{}`: use a number above 0 and at most 100, like 99.0",
                    t.percentile
                ),
            );
        }
    }
}
