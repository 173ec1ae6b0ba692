//! `[[targets.figure]]`: each names a figure of the registry, a tool that exists and caches
//! (for the tool cache's figures), and one limit in the figure's unit.

use super::{Checker, KeyPath};
use crate::schema::Scenario;

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    for (i, t) in s.targets.figure.iter().enumerate() {
        let at = KeyPath::parse("targets.figure").index(i);
        let bound = match t.bound() {
            Ok(bound) => bound,
            Err(e) => {
                c.fail(at.key(e.key), e.message);
                continue;
            }
        };
        let Some(tool) = &bound.tool else {
            continue;
        };
        match s.tools.get(tool) {
            None => {
                let names: Vec<&str> = s.tools.keys().map(String::as_str).collect();
                let fix = if names.is_empty() {
                    "define it under [tools], or remove `tool` for the figure over every tool"
                        .to_owned()
                } else {
                    format!("use one of {}", names.join(", "))
                };
                c.fail(
                    at.key("tool"),
                    format!("tool `{tool}` is not defined: {fix}"),
                );
            }
            Some(defined) if defined.cache.is_none() => c.fail(
                at.key("tool"),
                format!(
                    "tool `{tool}` has no cache, so `{}` has nothing to measure: add `cache = {{ ttl = \"5m\", capacity = 1000 }}` under [tools.{tool}]",
                    bound.figure
                ),
            ),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::Scenario;

    fn error(targets: &str) -> String {
        let src = format!(
            "[tools.search]\ncache = {{ ttl = \"1m\", capacity = 10 }}\n[tools.fetch]\n{targets}"
        );
        Scenario::from_toml(&src, "s.toml")
            .expect_err("the targets are invalid")
            .to_string()
    }

    #[test]
    fn a_per_tool_figure_names_a_tool_with_a_cache() {
        let ok =
            "[[targets.figure]]\nname = \"tool_cache_hit_rate\"\ntool = \"search\"\nmin = 0.8\n";
        let src = format!("[tools.search]\ncache = {{ ttl = \"1m\", capacity = 10 }}\n{ok}");
        let s = Scenario::from_toml(&src, "s.toml").expect("valid");
        assert_eq!(s.targets.figure[0].tool.as_deref(), Some("search"));

        let e = error(&ok.replace("\"search\"", "\"serch\""));
        assert!(e.starts_with("s.toml:6:"), "{e}");
        assert!(
            e.contains("key `targets.figure[0].tool`")
                && e.contains("tool `serch` is not defined: use one of fetch, search"),
            "{e}"
        );
        let e = error(&ok.replace("\"search\"", "\"fetch\""));
        assert!(e.contains("tool `fetch` has no cache"), "{e}");
    }

    #[test]
    fn a_limit_that_does_not_fit_the_unit_is_located() {
        let e = error("[[targets.figure]]\nname = \"tool_cache_hit_rate\"\nmax = \"2s\"\n");
        assert!(e.starts_with("s.toml:6:"), "{e}");
        assert!(
            e.contains("key `targets.figure[0].max`")
                && e.contains("`\"2s\"`")
                && e.contains("is a ratio; write a number like 0.8"),
            "{e}"
        );
        let e = error("[[targets.figure]]\nname = \"tokens_per_sec\"\nmin = 10\n");
        assert!(
            e.contains("key `targets.figure[0].name`")
                && e.contains("unknown figure `tokens_per_sec`: did you mean tokens_per_s"),
            "{e}"
        );
    }
}
