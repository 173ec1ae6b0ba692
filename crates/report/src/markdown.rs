//! The report as GitHub-flavoured Markdown, for a CI job summary: the verdict first, then the
//! same tables as the terminal summary, plus the worst agents.

use metrics::RunSnapshot;

use crate::runtime;
use crate::sections::{self, WORST_AGENTS};
use crate::table::{Align, Table, cell};

/// `s` as Markdown: verdict (and a saturated harness's warning), run, targets, latency,
/// counters, the tool cache per tool, errors, slowest turns, agents (with the ten worst by response p95), breakers,
/// goodput, process and the harness's figures.
pub fn markdown(s: &RunSnapshot) -> String {
    let mut out = format!("## fleetbench: {}\n\n", cell(&s.scenario));
    let mark = if sections::passed(s) { "✅" } else { "❌" };
    out.push_str(&format!("{mark} **{}**\n\n", cell(&sections::verdict(s))));
    if let Some(warning) = sections::saturation_warning(s) {
        out.push_str(&format!("⚠️ **{}**\n\n", cell(&warning)));
    }

    let mut run = Table::new(&[
        ("scenario", Align::Left),
        ("clock", Align::Left),
        ("seed", Align::Right),
        ("simulated", Align::Right),
        ("stop", Align::Left),
        ("agents alive (peak)", Align::Right),
        ("fleetbench", Align::Left),
    ]);
    run.row(vec![
        s.scenario.clone(),
        s.clock.to_string(),
        s.seed.to_string(),
        crate::readable::clock(s.simulated_ms),
        s.stop.to_string(),
        crate::readable::count(s.process.agents_alive_peak),
        s.fleetbench_version.clone(),
    ]);
    out.push_str(&run.markdown());

    section(&mut out, "Targets");
    out.push_str(&sections::targets(s).markdown());

    section(&mut out, "Latency");
    let latency = sections::latency(s);
    if latency.is_empty() {
        out.push_str("Nothing was recorded.\n");
    } else {
        out.push_str(&latency.markdown());
    }

    section(&mut out, "Counters");
    out.push_str(&sections::counters(s).markdown());
    let caches = crate::tool_cache::table(s);
    if !caches.is_empty() {
        section(&mut out, "Tool cache");
        out.push_str(&caches.markdown());
    }

    section(&mut out, "Errors");
    let errors = sections::errors(s);
    if errors.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str(&errors.markdown());
    }

    section(&mut out, "Slowest turns");
    out.push_str(&format!("{}\n", cell(&sections::tail_headline(s))));
    let parts = sections::tail_parts(s);
    if !parts.is_empty() {
        out.push('\n');
        out.push_str(&parts.markdown());
    }

    if let Some(lines) = runtime::lines(s) {
        section(&mut out, "Runtime under test");
        let mut lines = lines.into_iter();
        if let Some(head) = lines.next() {
            out.push_str(&format!("{}\n\n", cell(&head)));
        }
        for line in lines {
            let depth = if line.starts_with("    ") { "  " } else { "" };
            out.push_str(&format!("{depth}- {}\n", cell(line.trim_start())));
        }
    }

    section(&mut out, "Agents");
    out.push_str(&format!("{}\n\n", cell(&sections::agents(s))));
    out.push_str(&format!("{}\n", cell(&sections::memory(s))));
    let worst = sections::worst_agents(s, WORST_AGENTS);
    if !worst.is_empty() {
        out.push_str(&format!(
            "\nThe worst agents by response p95 (at most {WORST_AGENTS}):\n\n"
        ));
        out.push_str(&worst.markdown());
    }

    let breakers = sections::breakers(s);
    if !breakers.is_empty() {
        section(&mut out, "Circuit breakers");
        out.push_str(&breakers.markdown());
    }

    section(&mut out, "Throughput");
    out.push_str(&format!(
        "{}\n\n{}\n\n{}\n",
        cell(&crate::rates::line(s)),
        cell(&sections::goodput(s)),
        cell(&sections::process(s))
    ));
    if let Some(harness) = sections::harness(s) {
        out.push_str(&format!("\n{}\n", cell(&harness)));
    }
    out
}

fn section(out: &mut String, title: &str) {
    out.push_str(&format!("\n### {title}\n\n"));
}
