//! The bounds of plain numbers ([`crate::bounds`]): counts, rates and limits whose type
//! alone (`u32`, a finite float) allows values no process can run. Durations, sizes and
//! token counts check theirs while they are read; these run with the other rules, so a
//! scenario changed by a flag (`--agents`) is checked too.

use super::{Checker, KeyPath};
use crate::bounds::{
    CHARS_PER_TOKEN, MAX_AGENTS, MAX_CACHE_ENTRIES, MAX_IN_FLIGHT, MAX_MULTIPLIER, MAX_RATE,
    MAX_RPM, MAX_TOKENS, MAX_TOOL_CALLS, MAX_TPM, MAX_WEIGHT, MIN_RATE, number,
};
use crate::schema::{ClientLimits, Retry, Scenario, Trigger};

impl Checker {
    /// `value` must not be above `max`; `why` says what the bound protects and what to do.
    fn at_most(&mut self, path: KeyPath, value: u64, max: u64, why: &str) {
        if value > max {
            self.fail(
                path,
                format!("invalid value `{value}`: at most {max} ({why})"),
            );
        }
    }

    /// A float that must not be above `max`.
    fn at_most_f64(&mut self, path: KeyPath, value: f64, max: f64, why: &str) {
        if value > max {
            self.fail(
                path,
                format!(
                    "invalid value `{}`: at most {} ({why})",
                    number(value),
                    number(max)
                ),
            );
        }
    }
}

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    fleet(c, s);
    let session = KeyPath::parse("session");
    c.at_most(
        session.key("max_output_tokens"),
        u64::from(s.session.max_output_tokens),
        u64::from(MAX_TOKENS),
        "a token count: the mock generates that many; ask for fewer",
    );
    for (i, p) in s.llm.providers.iter().enumerate() {
        let pp = KeyPath::parse("llm.providers").index(i);
        limits(c, &pp.key("limits"), &p.limits);
        retry(c, &pp.key("retry"), &p.retry);
    }
    for (name, t) in &s.tools {
        let tp = KeyPath::parse("tools").key(name);
        limits(c, &tp.key("limits"), &t.limits);
        retry(c, &tp.key("retry"), &t.retry);
        c.at_most_f64(
            tp.key("weight"),
            t.weight.0,
            MAX_WEIGHT,
            "a relative weight: scale the weights down together",
        );
        if let Some(cache) = &t.cache {
            c.at_most(
                tp.key("cache").key("capacity"),
                cache.capacity,
                MAX_CACHE_ENTRIES,
                "each entry holds a tool result in memory",
            );
        }
    }
    mock(c, s);
    compression(c, s);
    c.at_most(
        KeyPath::parse("targets.min_concurrent_agents"),
        u64::from(s.targets.min_concurrent_agents),
        u64::from(MAX_AGENTS),
        "the most agents one process runs, so a larger target can never pass",
    );
}

/// `fleet.agents` and the open-loop `rate`, for the whole fleet and for each shard's part.
fn fleet(c: &mut Checker, s: &Scenario) {
    let f = &s.fleet;
    let p = KeyPath::parse("fleet");
    c.at_most(
        p.key("agents"),
        u64::from(f.agents),
        u64::from(MAX_AGENTS),
        "agents of one process: each holds a task, its conversation and its heap, so more \
         would exhaust memory; split the fleet over several processes",
    );
    let Some(rate) = f.rate.filter(|_| f.arrival.is_open()) else {
        return;
    };
    let rate = rate.0;
    let bounds = format!(
        "an open-loop rate is from {} to {} sessions per second",
        number(MIN_RATE),
        number(MAX_RATE)
    );
    if rate <= 0.0 {
        c.fail(
            p.key("rate"),
            format!(
                "invalid rate `0`: an open-loop arrival rate must be greater than zero ({bounds})"
            ),
        );
    } else if rate < MIN_RATE {
        c.fail(
            p.key("rate"),
            format!(
                "invalid rate `{}`: {bounds}; slower, the first start would wait longer than \
                 tokio's timers reach (about 2 years): use at least {}",
                number(rate),
                number(MIN_RATE)
            ),
        );
    } else if rate > MAX_RATE {
        c.fail(
            p.key("rate"),
            format!(
                "invalid rate `{}`: {bounds}; faster, starts fall on the same instant and a \
                 virtual run's clock never advances: use at most {}",
                number(rate),
                number(MAX_RATE)
            ),
        );
    } else if f.shards > 1
        && f.shards <= crate::Fleet::MAX_SHARDS
        && rate / f64::from(f.shards) < MIN_RATE
    {
        c.fail(
            p.key("rate"),
            format!(
                "rate `{}` over {} shards gives each part {} sessions per second, below the \
                 slowest rate, {}: raise rate or use fewer shards",
                number(rate),
                f.shards,
                number(rate / f64::from(f.shards)),
                number(MIN_RATE)
            ),
        );
    }
}

fn limits(c: &mut Checker, p: &KeyPath, l: &ClientLimits) {
    if let Some(rpm) = l.rpm {
        c.at_most(
            p.key("rpm"),
            u64::from(rpm),
            u64::from(MAX_RPM),
            "a million requests a second, more than one process sends; remove the key for no limit",
        );
    }
    if let Some(tpm) = l.tpm {
        c.at_most(
            p.key("tpm"),
            tpm,
            MAX_TPM,
            "the limiter counts a minute's tokens in 32 bits; remove the key for no limit",
        );
    }
    c.at_most(
        p.key("max_in_flight"),
        u64::from(l.max_in_flight),
        u64::from(MAX_IN_FLIGHT),
        "each request in flight can hold a connection, a file descriptor",
    );
}

fn retry(c: &mut Checker, p: &KeyPath, r: &Retry) {
    c.at_most_f64(
        p.key("multiplier"),
        r.multiplier.0,
        MAX_MULTIPLIER,
        "the backoff grows by this factor per retry; 2.0 is usual",
    );
    c.at_most_f64(
        p.key("budget_min_per_sec"),
        r.budget_min_per_sec.0,
        MAX_WEIGHT,
        "retries a second always allowed; a higher number means no budget at all",
    );
}

fn mock(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("mock");
    c.at_most(
        p.key("capacity"),
        u64::from(s.mock.capacity),
        u64::from(MAX_IN_FLIGHT),
        "generation slots; more than a million agents could use",
    );
    c.at_most(
        p.key("max_tool_calls"),
        u64::from(s.mock.max_tool_calls),
        u64::from(MAX_TOOL_CALLS),
        "tool calls in one answer, each generated with its arguments",
    );
}

fn compression(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("compression");
    let cp = &s.compression;
    let tokens = u64::from(MAX_TOKENS);
    let why = "a token count beyond every model's context window";
    c.at_most(
        p.key("context_window"),
        u64::from(cp.context_window),
        tokens,
        why,
    );
    c.at_most(p.key("clip_tokens"), u64::from(cp.clip_tokens), tokens, why);
    if let Trigger::Tokens(n) = cp.trigger {
        c.at_most(p.key("trigger"), u64::from(n), tokens, why);
    }
    let (lo, hi) = CHARS_PER_TOKEN;
    let cpt = cp.chars_per_token.0;
    if cpt > 0.0 && !(lo..=hi).contains(&cpt) {
        c.fail(
            p.key("chars_per_token"),
            format!(
                "invalid chars_per_token `{}`: use {} to {} characters per token, like 4.0",
                number(cpt),
                number(lo),
                number(hi)
            ),
        );
    }
}
