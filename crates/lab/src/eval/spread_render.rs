//! A [`Spread`] as a terminal table, Markdown or JSON: each cell `mean ±ci` (the half-width
//! of the 95 % interval; the mean alone with one seed), the cost figures, then retention in the
//! final context and averaged over turns.

use std::fmt::Write as _;

use report::{Align, Table};

use super::spread::{RowSpread, Spread, Stat};

/// How a figure is shown: its column, its path in the JSON row, the scale and decimals.
type Column = (&'static str, &'static str, f64, usize);

const COST: [Column; 11] = [
    ("peak", "peak_prompt_tokens", 1.0, 0),
    ("overflows", "overflows", 1.0, 1),
    ("cumulative", "cumulative_prompt_tokens", 1.0, 0),
    ("ratio", "compression_ratio", 1.0, 2),
    ("cost $", "cost_usd.total", 1.0, 4),
    ("cache-busted", "cache_busted_tokens", 1.0, 0),
    ("uncached", "uncached_prompt_tokens", 1.0, 0),
    ("hot KB", "hot_bytes", 0.001, 1),
    ("cold KB", "cold_bytes", 0.001, 1),
    ("compressions", "compressions", 1.0, 1),
    ("violations", "violations", 1.0, 1),
];

const RETENTION: [Column; 14] = [
    ("constraint", "constraint", 100.0, 0),
    ("head", "output_head", 100.0, 0),
    ("middle", "output_middle", 100.0, 0),
    ("tail", "output_tail", 100.0, 0),
    ("decision", "decision", 100.0, 0),
    ("update ok", "update_correct", 100.0, 0),
    ("stale gone", "update_stale_absent", 100.0, 0),
    ("files", "files", 100.0, 0),
    ("decoys", "decoys_present", 100.0, 0),
    ("recallable", "recallable", 100.0, 0),
    ("probes", "probes_present", 1.0, 1),
    // Under `identifiers`, not `retention_*`: see `path`.
    ("ids kept", "kept_", 100.0, 0),
    // Under `reader`, of the final context only: see `path`.
    ("reader exact", "reader_exact", 100.0, 0),
    ("reader F1", "reader_f1", 1.0, 2),
];

/// The spread as JSON: the seeds, every seed's report, the summary.
pub fn spread_json(spread: &Spread) -> String {
    let mut out = serde_json::to_string_pretty(spread).expect("a spread always serializes");
    out.push('\n');
    out
}

/// The spread as aligned plain-text tables.
pub fn spread_table(spread: &Spread) -> String {
    let mut out = headline(spread);
    for (title, grid) in grids(spread) {
        let _ = write!(out, "\n{title}\n{}", grid.plain("", true));
    }
    out.push_str(&violations(spread));
    out
}

/// The spread as Markdown.
pub fn spread_markdown(spread: &Spread) -> String {
    let mut out = String::from("# Compression evaluation over seeds\n\n");
    out.push_str(&headline(spread));
    for (title, grid) in grids(spread) {
        let _ = write!(out, "\n## {title}\n\n{}", grid.markdown());
    }
    out.push_str(&violations(spread));
    out
}

fn headline(s: &Spread) -> String {
    let seeds: Vec<String> = s.seeds.iter().map(ToString::to_string).collect();
    let mut out = format!(
        "seeds: {} (n = {}); each cell is the mean over the seeds ±the half-width of its 95 % \
         confidence interval (Student t, n-1 degrees of freedom)\n",
        seeds.join(", "),
        s.seeds.len()
    );
    for r in &s.per_seed {
        let c = &r.report.corpus;
        let _ = writeln!(
            out,
            "seed {}: {} conversations, {} turns, {} messages, {} tokens ({}), {} planted facts",
            r.seed, c.conversations, c.turns, c.messages, c.tokens, c.tokenizer, c.facts
        );
    }
    out
}

fn grids(s: &Spread) -> Vec<(&'static str, Table)> {
    vec![
        ("cost", grid(s, &COST, "")),
        (
            "retention, % in the final context",
            grid(s, &RETENTION, "retention_final."),
        ),
        (
            "retention, % averaged over turns",
            grid(s, &RETENTION, "retention_turns."),
        ),
    ]
}

/// The path of `column`'s figure under `prefix`.
fn path(prefix: &str, key: &str) -> String {
    match key {
        "kept_" if prefix.ends_with("final.") => "identifiers.kept_final".to_owned(),
        "kept_" => "identifiers.kept_turns".to_owned(),
        "reader_exact" if prefix.ends_with("final.") => "reader.exact".to_owned(),
        "reader_f1" if prefix.ends_with("final.") => "reader.f1".to_owned(),
        // The reader reads final contexts only: no per-turn figure.
        "reader_exact" | "reader_f1" => "reader.none".to_owned(),
        _ => format!("{prefix}{key}"),
    }
}

/// The columns some row has, one line per row.
fn grid(s: &Spread, columns: &[Column], prefix: &str) -> Table {
    let shown: Vec<&Column> = columns
        .iter()
        .filter(|(_, key, ..)| {
            s.summary
                .iter()
                .any(|r| find(r, &path(prefix, key)).is_some())
        })
        .collect();
    let mut head = vec![("strategy", Align::Left)];
    head.extend(shown.iter().map(|(name, ..)| (*name, Align::Right)));
    let mut table = Table::new(&head);
    for row in &s.summary {
        let mut cells = vec![match &row.sweep {
            Some(sweep) => format!("{} [{sweep}]", row.strategy),
            None => row.strategy.clone(),
        }];
        cells.extend(shown.iter().map(|(_, key, scale, decimals)| {
            cell(find(row, &path(prefix, key)), *scale, *decimals)
        }));
        table.row(cells);
    }
    table
}

fn find<'a>(row: &'a RowSpread, key: &str) -> Option<&'a Stat> {
    row.figures.iter().find(|(k, _)| k == key).map(|(_, s)| s)
}

/// `mean ±ci`, scaled; the mean alone without an interval, `-` without a value.
fn cell(stat: Option<&Stat>, scale: f64, decimals: usize) -> String {
    let Some(mean) = stat.and_then(|s| s.mean) else {
        return "-".to_owned();
    };
    match stat.and_then(|s| s.ci95) {
        Some(ci) => format!("{:.decimals$} ±{:.decimals$}", mean * scale, ci * scale),
        None => format!("{:.decimals$}", mean * scale),
    }
}

fn violations(s: &Spread) -> String {
    let mut out = String::new();
    for r in &s.per_seed {
        for row in r.report.rows.iter().filter(|row| row.violations > 0) {
            let first = row.first_violation.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "\nINVALID: seed {}: {} broke {} invariant(s); first: {first}",
                r.seed, row.strategy, row.violations
            );
        }
    }
    out
}
