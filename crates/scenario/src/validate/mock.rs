//! `[mock]` and its fault rules: counts at least one, fault windows that are not empty, and
//! keys that apply to one fault kind or endpoint only.

use std::collections::BTreeSet;

use super::{Checker, KeyPath, missing_tool};
use crate::schema::{FaultKind, FaultTarget, Scenario};

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    let p = KeyPath::parse("mock");
    let m = &s.mock;
    c.at_least_one(
        p.key("capacity"),
        u64::from(m.capacity),
        "the mock capacity (generation slots)",
    );
    c.at_least_one(
        p.key("max_tool_calls"),
        u64::from(m.max_tool_calls),
        "max_tool_calls",
    );
    c.positive(p.key("stall_limit"), m.stall_limit, "stall_limit");
    let models: BTreeSet<&str> = s
        .llm
        .providers
        .iter()
        .map(|pr| pr.model.as_str())
        .chain(m.models.iter().map(String::as_str))
        .filter(|name| !name.is_empty())
        .collect();
    for (i, f) in m.faults.iter().enumerate() {
        let fp = p.key("faults").index(i);
        if let FaultTarget::Tool(name) = &f.endpoint
            && !s.tools.contains_key(name)
        {
            c.fail(fp.key("endpoint"), missing_tool(name, s));
        }
        if let Some(until) = f.until
            && until <= f.from
        {
            c.fail(
                fp.key("until"),
                format!(
                    "until `{until}` is not after from `{}`: the fault window would be empty",
                    f.from
                ),
            );
        }
        if f.retry_after.is_some() && f.kind != FaultKind::RateLimit {
            c.fail(
                fp.key("retry_after"),
                format!(
                    "retry_after only applies to kind = \"rate-limit\", not `{}`",
                    f.kind
                ),
            );
        }
        if f.delay.is_some() && f.kind != FaultKind::SlowFirstToken {
            c.fail(
                fp.key("delay"),
                format!(
                    "delay only applies to kind = \"slow-first-token\", not `{}`",
                    f.kind
                ),
            );
        }
        if let Some(model) = &f.model {
            if matches!(f.endpoint, FaultTarget::Tools | FaultTarget::Tool(_)) {
                c.fail(
                    fp.key("model"),
                    "model only applies to endpoint \"chat\" or \"all\"".to_owned(),
                );
            } else if !models.contains(model.as_str()) {
                c.fail(
                    fp.key("model"),
                    format!(
                        "model `{model}` is not served by any provider: use one of {} or list it in mock.models",
                        models.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
}
