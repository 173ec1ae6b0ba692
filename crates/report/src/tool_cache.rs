//! The tool cache per tool, as the terminal summary and the Markdown print it: hit rate,
//! hits, misses, coalesced calls, evictions, the p50 of hits and misses and the latency saved
//! (`docs/metrics.md`, "Tool cache").

use metrics::RunSnapshot;

use crate::readable::{count, ms, percent};
use crate::table::{Align, Table};

/// One row per tool with a cache; empty when no tool caches.
pub(crate) fn table(s: &RunSnapshot) -> Table {
    let mut t = Table::new(&[
        ("tool cache", Align::Left),
        ("hit rate", Align::Right),
        ("hits", Align::Right),
        ("misses", Align::Right),
        ("coalesced", Align::Right),
        ("evictions", Align::Right),
        ("hit p50", Align::Right),
        ("miss p50", Align::Right),
        ("latency saved", Align::Right),
    ]);
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    for c in &s.tool_cache {
        t.row(vec![
            c.tool.clone(),
            or_dash(c.hit_rate.map(percent)),
            count(c.hits),
            count(c.misses),
            count(c.coalesced),
            count(c.evictions),
            or_dash(c.hit_p50_ms.map(ms)),
            or_dash(c.miss_p50_ms.map(ms)),
            or_dash(c.latency_saved_ms.map(ms)),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use metrics::ToolCacheSummary;

    use crate::test_support::stopped_by;

    #[test]
    fn one_row_per_cached_tool_in_the_summary_and_the_markdown() {
        let mut s = stopped_by(metrics::StopReason::Duration);
        assert!(super::table(&s).is_empty());
        assert!(!crate::terminal(&s).contains("latency saved"));
        s.tool_cache = vec![
            ToolCacheSummary {
                tool: "kb_search".to_owned(),
                hit_rate: Some(0.85),
                hits: 1_700,
                misses: 290,
                coalesced: 10,
                evictions: 3,
                hit_p50_ms: Some(0.0),
                miss_p50_ms: Some(310.0),
                latency_saved_ms: Some(527_000.0),
                ..ToolCacheSummary::default()
            },
            ToolCacheSummary {
                tool: "idle".to_owned(),
                ..ToolCacheSummary::default()
            },
        ];
        let text = crate::terminal(&s);
        let row = text
            .lines()
            .find(|l| l.starts_with("kb_search"))
            .expect("a row for kb_search");
        for cell in ["85 %", "1,700", "290", "10", "3", "310 ms", "527 s"] {
            assert!(row.contains(cell), "{cell}: {row}");
        }
        assert!(text.contains("latency saved"), "{text}");
        let md = crate::markdown(&s);
        assert!(md.contains("### Tool cache"), "{md}");
        assert!(
            md.contains("| kb_search | 85 % | 1,700 | 290 | 10 | 3 |"),
            "{md}"
        );
        assert!(md.contains("| idle | - | 0 |"), "{md}");
    }
}
