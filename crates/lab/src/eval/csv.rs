//! CSV export (`compress --format csv`): one tidy table with a header, for pandas or R. A
//! line is one row of one report (`stat` = `value`), or, with `--seeds`, also a row's mean
//! and the half-width of its 95 % confidence interval over the seeds (`stat` = `mean` or
//! `ci95`, `seed` empty). The columns are every numeric figure of the JSON row, nested ones
//! named by their path (`retention_final.constraint`), in the order of their names; an empty
//! cell is a JSON `null` or a figure a report does not have. Quoting follows RFC 4180 (CRLF line ends).

use serde_json::Value;

use super::report::{Report, Row};
use super::spread::Spread;

/// The columns before the figures.
const KEYS: [&str; 4] = ["seed", "stat", "strategy", "sweep"];

/// The numeric figures of `row`, by path in name order: `(path, value)`, `None` for `null`.
pub(crate) fn figures(row: &Row) -> Vec<(String, Option<f64>)> {
    numbers(row)
        .into_iter()
        .map(|(k, v)| (k, v.and_then(|n| n.as_f64())))
        .collect()
}

/// A row's figures by path, as the JSON writes them.
type Numbers = Vec<(String, Option<serde_json::Number>)>;

/// As [`figures`], the numbers as the JSON writes them.
fn numbers(row: &Row) -> Numbers {
    let value = serde_json::to_value(row).expect("a row always serializes");
    let mut out = Vec::new();
    walk("", &value, &mut out);
    out
}

fn walk(prefix: &str, value: &Value, out: &mut Numbers) {
    let Value::Object(map) = value else { return };
    for (key, v) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match v {
            Value::Number(n) => out.push((path, Some(n.clone()))),
            Value::Null => out.push((path, None)),
            Value::Object(_) => walk(&path, v, out),
            // Names and messages (strategy, sweep, first_violation) are not figures.
            _ => {}
        }
    }
}

/// `report` as CSV: a header, then one line per row.
pub fn csv(report: &Report) -> String {
    table(&[(None, report)], None)
}

/// `spread` as CSV: every seed's rows, then each row's mean and ci95 lines.
pub fn spread_csv(spread: &Spread) -> String {
    let reports: Vec<_> = spread
        .per_seed
        .iter()
        .map(|s| (Some(s.seed), &s.report))
        .collect();
    table(&reports, Some(spread))
}

fn table(reports: &[(Option<u64>, &Report)], spread: Option<&Spread>) -> String {
    let lines: Vec<(Option<u64>, &Row, Numbers)> = reports
        .iter()
        .flat_map(|(seed, r)| r.rows.iter().map(move |row| (*seed, row, numbers(row))))
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for (_, _, figures) in &lines {
        for (k, _) in figures {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<&str> = KEYS
        .iter()
        .copied()
        .chain(columns.iter().map(String::as_str))
        .collect();
    report::csv_record(&mut out, header);
    for (seed, row, figures) in &lines {
        let mut cells = vec![
            seed.map(|s| s.to_string()).unwrap_or_default(),
            "value".to_owned(),
            row.strategy.clone(),
            row.sweep.clone().unwrap_or_default(),
        ];
        cells.extend(columns.iter().map(|c| {
            figures
                .iter()
                .find(|(k, _)| k == c)
                .and_then(|(_, v)| v.as_ref())
                .map(ToString::to_string)
                .unwrap_or_default()
        }));
        report::csv_record(&mut out, cells.iter().map(String::as_str));
    }
    for row in spread.map(|s| s.summary.as_slice()).unwrap_or_default() {
        for (stat, pick) in [("mean", 0), ("ci95", 1)] {
            let mut cells = vec![
                String::new(),
                stat.to_owned(),
                row.strategy.clone(),
                row.sweep.clone().unwrap_or_default(),
            ];
            cells.extend(columns.iter().map(|c| {
                let s = row.figures.iter().find(|(k, _)| k == c).map(|(_, s)| s);
                let v = s.and_then(|s| if pick == 0 { s.mean } else { s.ci95 });
                v.map(|v| v.to_string()).unwrap_or_default()
            }));
            report::csv_record(&mut out, cells.iter().map(String::as_str));
        }
    }
    out
}
