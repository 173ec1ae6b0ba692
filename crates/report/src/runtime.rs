//! The runtime under test (`[agent] kind = "http"`), as the terminal and Markdown reports
//! show it: where its calls were attributed, the share of framework overhead, its failures
//! apart from injected faults, its memory. Nothing for fleetbench's own agents.

use std::collections::BTreeMap;

use metrics::{ErrorKind, MetricKind, RunSnapshot};

use crate::readable::{bytes, count, duration, percent};

/// The section's lines: a headline, then indented details; `None` without a runtime.
pub(crate) fn lines(s: &RunSnapshot) -> Option<Vec<String>> {
    let r = s.runtime.as_ref()?;
    let mut out = vec![format!("runtime under test: {}", r.url)];
    out.push(format!(
        "  calls attributed to sessions: {} LLM, {} tool; unattributed: {} LLM, {} tool{}",
        count(r.llm_calls),
        count(r.tool_calls),
        count(r.unattributed_llm_calls),
        count(r.unattributed_tool_calls),
        if r.unattributed_llm_calls + r.unattributed_tool_calls > 0 {
            " (docs/agents.md: what breaks attribution)"
        } else {
            ""
        }
    ));
    if let Some(share) = r.overhead_share {
        let quantiles = s
            .latency
            .get(&MetricKind::FrameworkOverhead)
            .map(|h| {
                format!(
                    " (per turn p50 {}, p95 {})",
                    duration(h.quantile(0.5)),
                    duration(h.quantile(0.95))
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "  framework overhead: {} of the response time{quantiles}",
            percent(share)
        ));
    }
    let f = &r.failures;
    let own: u64 = f.own.values().sum();
    let passed_on: u64 = f.after_injected_fault.values().sum();
    out.push(format!(
        "  failed turns: {} its own{}, {} after an injected fault{}; {} turns recovered from an injected fault",
        count(own),
        kinds(&f.own),
        count(passed_on),
        kinds(&f.after_injected_fault),
        count(f.faults_absorbed)
    ));
    for (kind, example) in &f.examples {
        out.push(format!("    {kind}: {example}"));
    }
    match &r.memory {
        Some(m) => out.push(format!(
            "  memory ({}): peak {}, {} before the first session, {} per live session{} ({} samples, {} sessions live at most)",
            m.source,
            bytes(m.peak_bytes as f64),
            bytes(m.baseline_bytes as f64),
            m.per_agent_bytes
                .map_or("not measured".to_owned(), bytes),
            m.fit_r2
                .map(|r2| format!(", R² {r2:.2}"))
                .unwrap_or_default(),
            count(m.samples),
            count(m.live_sessions_peak)
        )),
        None => out.push(
            "  memory: not sampled (run with --pid PID or --cgroup PATH)".to_owned(),
        ),
    }
    Some(out)
}

/// ` (server_error 2, timeout 1)`, or nothing.
fn kinds(by_kind: &BTreeMap<ErrorKind, u64>) -> String {
    if by_kind.is_empty() {
        return String::new();
    }
    let list: Vec<String> = by_kind
        .iter()
        .map(|(k, n)| format!("{k} {}", count(*n)))
        .collect();
    format!(" ({})", list.join(", "))
}
