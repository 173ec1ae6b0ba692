//! `[tools.NAME.mock] arguments` ([`crate::schema::popularity`]): a positive Zipf exponent
//! over a finite, bounded set of values, or empirical weights instead, not both. The reuse
//! probability checks its range while it is read.

use super::{Checker, KeyPath};
use crate::bounds::number;
use crate::schema::Scenario;
use crate::schema::popularity::MAX_DISTINCT;

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    for (name, tool) in &s.tools {
        let Some(a) = &tool.mock.arguments else {
            continue;
        };
        let p = KeyPath::parse("tools")
            .key(name)
            .key("mock")
            .key("arguments");
        if let Some(zipf) = a.zipf {
            if !(zipf.is_finite() && zipf > 0.0) {
                c.fail(
                    p.key("zipf"),
                    format!(
                        "invalid zipf exponent `{}`: must be greater than 0 (1.0 is classic Zipf; larger makes the top values more popular; remove zipf for equally likely values)",
                        number(zipf)
                    ),
                );
            }
            if a.distinct.is_none() && a.weights.is_empty() {
                c.fail(
                    p.key("zipf"),
                    "zipf needs a number of values: add distinct = N (e.g. distinct = 500)"
                        .to_owned(),
                );
            }
        }
        if let Some(n) = a.distinct {
            if n == 0 {
                c.fail(
                    p.key("distinct"),
                    "invalid value `0`: a tool needs at least 1 distinct argument value (remove distinct to invent every call's arguments)".to_owned(),
                );
            }
            if n > MAX_DISTINCT {
                c.fail(
                    p.key("distinct"),
                    format!("invalid value `{n}`: at most {MAX_DISTINCT} (the mock keeps 8 bytes per value; remove distinct to invent every call's arguments)"),
                );
            }
        }
        if !a.weights.is_empty() {
            if a.distinct.is_some() || a.zipf.is_some() {
                let key = if a.distinct.is_some() {
                    "distinct"
                } else {
                    "zipf"
                };
                c.fail(
                    p.key(key),
                    format!("{key} and weights both set the popularity: give weights alone (one per value) or distinct with zipf"),
                );
            }
            if a.weights.len() as u64 > MAX_DISTINCT {
                c.fail(
                    p.key("weights"),
                    format!("{} weights: at most {MAX_DISTINCT} (one per value; use distinct with zipf for more values)", a.weights.len()),
                );
            }
            if a.weights.iter().all(|w| w.0 == 0.0) {
                c.fail(
                    p.key("weights"),
                    "every weight is 0: give at least one value a positive weight".to_owned(),
                );
            }
        }
    }
}
