//! A [`Report`] as a terminal table, Markdown or JSON. Pure functions of the report: timing
//! columns appear only when the report has timing. The tables are `report`'s, so the lab's
//! look like a run's.

use std::fmt::Write as _;

use report::{Align, Table};

use super::report::{Report, Row};
use super::score::Retention;

/// The report as JSON (pretty, fields in declaration order, a final newline).
pub fn json(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serializes");
    out.push('\n');
    out
}

/// The report as two aligned plain-text tables: cost, then retention.
pub fn table(report: &Report) -> String {
    let mut out = headline(report);
    out.push_str("\ncost\n");
    out.push_str(&cost(report).plain("", true));
    out.push_str(&prices(report));
    out.push_str(&overflows(report));
    out.push_str("\nretention, % (final context / average over turns)\n");
    out.push_str(&retention(report).plain("", true));
    out.push_str(&violations(report));
    out.push_str(&llm(report));
    out
}

/// The report as Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("# Compression evaluation\n\n");
    out.push_str(&headline(report));
    out.push_str("\n## Cost\n\n");
    out.push_str(&cost(report).markdown());
    out.push_str(&prices(report));
    out.push_str(&overflows(report));
    out.push_str("\n## Retention\n\n% in the final context / averaged over turns.\n\n");
    out.push_str(&retention(report).markdown());
    out.push_str(&violations(report));
    out.push_str(&llm(report));
    out
}

fn headline(r: &Report) -> String {
    let (c, s) = (&r.corpus, &r.settings);
    format!(
        "corpus: {} conversations, {} turns, {} messages, {} tokens ({}), {} planted facts\n\
         settings: trigger {}, compact_to {}, context_window {}, keep_first {}, keep_last {}, \
         mask_keep_last {}, clip_tokens {}, zstd_level {}\n",
        c.conversations,
        c.turns,
        c.messages,
        c.tokens,
        c.tokenizer,
        c.facts,
        s.trigger,
        s.compact_to,
        s.context_window,
        s.keep_first,
        s.keep_last,
        s.mask_keep_last,
        s.clip_tokens,
        s.zstd_level
    )
}

fn name(row: &Row) -> String {
    match &row.sweep {
        Some(sweep) => format!("{} [{sweep}]", row.strategy),
        None => row.strategy.clone(),
    }
}

/// Columns headed `names`: the first (the strategy) left-aligned, the figures right-aligned.
fn figures(names: &[&str]) -> Table {
    let columns: Vec<(&str, Align)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, if i == 0 { Align::Left } else { Align::Right }))
        .collect();
    Table::new(&columns)
}

fn cost(r: &Report) -> Table {
    let mut head = vec!["strategy", "peak", "overflows", "cumulative", "ratio"];
    if r.prices.is_some() {
        head.push("cost $");
    }
    head.extend([
        "cache-busted",
        "uncached",
        "hot KB",
        "cold KB",
        "compressions",
        "summaries",
        "violations",
    ]);
    if r.timing.is_some() {
        head.extend(["p50 µs", "p99 µs", "build p99 µs"]);
    }
    let mut grid = figures(&head);
    let cheapest = r.cheapest();
    for (i, row) in r.rows.iter().enumerate() {
        let mut cells = vec![
            name(row),
            row.peak_prompt_tokens.to_string(),
            row.overflows.to_string(),
            row.cumulative_prompt_tokens.to_string(),
            format!("{:.2}x", row.compression_ratio),
        ];
        if let Some(c) = &row.cost_usd {
            let mark = if cheapest == Some(i) { " *" } else { "" };
            cells.push(format!("{:.4}{mark}", c.total));
        }
        cells.extend([
            row.cache_busted_tokens.to_string(),
            row.uncached_prompt_tokens.to_string(),
            kb(row.hot_bytes),
            kb(row.cold_bytes),
            row.compressions.to_string(),
            row.summaries.to_string(),
            row.violations.to_string(),
        ]);
        if let Some(t) = r.timing.as_ref().and_then(|t| t.get(i)) {
            cells.extend([
                format!("{:.1}", t.compressor_p50_us),
                format!("{:.1}", t.compressor_p99_us),
                format!("{:.1}", t.context_build_p99_us),
            ]);
        }
        grid.row(cells);
    }
    grid
}

fn retention(r: &Report) -> Table {
    let ids = r.rows.iter().any(|row| row.identifiers.is_some());
    let mut head = vec![
        "strategy",
        "constraint",
        "head",
        "middle",
        "tail",
        "decision",
        "update ok",
        "stale gone",
        "files",
        "decoys",
        "recallable",
        "probes",
    ];
    if ids {
        head.push("ids kept");
    }
    let read = r.rows.iter().any(|row| row.reader.is_some());
    if read {
        head.push("reader exact/F1");
    }
    let mut grid = figures(&head);
    let fields: [fn(&Retention) -> Option<f64>; 10] = [
        |x| x.constraint,
        |x| x.output_head,
        |x| x.output_middle,
        |x| x.output_tail,
        |x| x.decision,
        |x| x.update_correct,
        |x| x.update_stale_absent,
        |x| x.files,
        |x| x.decoys_present,
        |x| x.recallable,
    ];
    for row in &r.rows {
        let (f, t) = (&row.retention_final, &row.retention_turns);
        let mut cells = vec![name(row)];
        cells.extend(
            fields
                .iter()
                .map(|get| format!("{}/{}", percent(get(f)), percent(get(t)))),
        );
        let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        cells.push(format!(
            "{}/{}",
            count(f.probes_present),
            count(t.probes_present)
        ));
        if ids {
            cells.push(super::keep::cell(row.identifiers.as_ref()));
        }
        if read {
            cells.push(match row.reader.as_ref().and_then(|x| x.exact.zip(x.f1)) {
                Some((exact, f1)) => format!("{}/{f1:.2}", percent(Some(exact))),
                None => "-".to_owned(),
            });
        }
        grid.row(cells);
    }
    grid
}

/// Under the tables: what the LLM tier asked and spent; nothing without it.
fn llm(r: &Report) -> String {
    let Some(t) = &r.llm else {
        return String::new();
    };
    let usage = |what: &str, u: &crate::llm::Usage| {
        format!(
            "{what} {} calls ({} failed), {} prompt + {} completion tokens",
            u.calls, u.failed, u.prompt_tokens, u.completion_tokens
        )
    };
    let mut out = format!(
        "\nLLM tier ({}): {}; {}\n",
        if t.models.is_empty() {
            "no answer".to_owned()
        } else {
            t.models.join(", ")
        },
        usage("summaries", &t.summary),
        usage("reader", &t.reader)
    );
    if let Some(e) = &t.first_error {
        out.push_str(&format!("first LLM failure: {e}\n"));
    }
    out
}

/// Under a priced table: the prices and the cheapest row (marked `*`); nothing unpriced.
fn prices(r: &Report) -> String {
    let (Some(sheet), Some(cheapest)) = (&r.prices, r.cheapest()) else {
        return String::new();
    };
    let p = &sheet.per_million;
    format!(
        "\ncost $ at `{}` prices, USD per million tokens: input {}, cached read {}, cache write \
         extra {}, output {}, summarizer input {}, output {} (docs/compression.md, \"The cost \
         model\"); * cheapest: {}\n",
        sheet.name,
        p.input,
        p.cached_read,
        p.cache_write_extra,
        p.output,
        p.summarizer_input,
        p.summarizer_output,
        name(&r.rows[cheapest])
    )
}

/// A warning naming the rows that sent prompts over the context window (nothing when none
/// did): a model would have rejected or truncated them, whatever the other figures say.
fn overflows(r: &Report) -> String {
    let over: Vec<String> = r
        .rows
        .iter()
        .filter(|row| row.overflows > 0)
        .map(|row| format!("{} ({} of {})", name(row), row.overflows, row.prompts))
        .collect();
    if over.is_empty() {
        return String::new();
    }
    format!(
        "\nWARNING: prompts over the context window: {}\n",
        over.join(", ")
    )
}

fn violations(r: &Report) -> String {
    let mut out = String::new();
    for row in r.rows.iter().filter(|row| row.violations > 0) {
        let first = row.first_violation.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "\nINVALID: {} broke {} invariant(s); first: {first}",
            name(row),
            row.violations
        );
    }
    out
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.0}", v * 100.0))
}

fn kb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1000.0)
}
