//! The plain-text summary printed at the end of a run: fixed-width columns, no colours, the
//! verdict on the last line.

use metrics::RunSnapshot;

use crate::runtime;
use crate::sections;

/// A compact plain-text summary of `s` for a terminal, ending with the verdict line.
pub fn terminal(s: &RunSnapshot) -> String {
    let mut out = format!(
        "fleetbench {}: {}\n\n",
        s.fleetbench_version,
        sections::header(s)
    );
    out.push_str(&sections::targets(s).plain("", true));

    let latency = sections::latency(s);
    if !latency.is_empty() {
        out.push('\n');
        out.push_str(&latency.plain("", true));
    }

    out.push_str("\ncounters\n");
    out.push_str(&sections::counters(s).plain("  ", false));
    let caches = crate::tool_cache::table(s);
    if !caches.is_empty() {
        out.push('\n');
        out.push_str(&caches.plain("", true));
    }

    let errors = sections::errors(s);
    if errors.is_empty() {
        out.push_str("\nerrors: none\n");
    } else {
        out.push_str("\nerrors\n");
        out.push_str(&errors.plain("  ", true));
    }

    out.push('\n');
    out.push_str(&sections::tail_headline(s));
    out.push('\n');
    let parts = sections::tail_parts(s);
    if !parts.is_empty() {
        out.push_str(&parts.plain("  ", true));
    }

    if let Some(lines) = runtime::lines(s) {
        out.push('\n');
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }

    out.push('\n');
    out.push_str(&sections::agents(s));
    out.push('\n');
    out.push_str(&sections::memory(s));
    out.push('\n');
    let breakers = sections::breakers(s);
    if !breakers.is_empty() {
        out.push('\n');
        out.push_str(&breakers.plain("", true));
    }

    out.push('\n');
    out.push_str(&crate::rates::line(s));
    out.push('\n');
    out.push_str(&sections::goodput(s));
    out.push('\n');
    out.push_str(&sections::process(s));
    if let Some(harness) = sections::harness(s) {
        out.push('\n');
        out.push_str(&harness);
    }
    out.push_str("\n\n");
    // Next to the verdict, where it is read: the run's latencies may not be the system's.
    if let Some(warning) = sections::saturation_warning(s) {
        out.push_str(&format!("WARNING: {warning}\n"));
    }
    if s.stop == metrics::StopReason::Interrupted {
        out.push_str("INTERRUPTED: a signal stopped the run before its end; the figures cover only the time it ran\n");
    }
    out.push_str(&sections::verdict(s));
    out.push('\n');
    out
}
