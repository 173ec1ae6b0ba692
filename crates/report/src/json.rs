//! `report.json`: the snapshot itself, as `docs/report.schema.json` describes it.

use metrics::RunSnapshot;

/// `s` as pretty-printed JSON with a trailing newline: the content of `report.json`.
pub fn json(s: &RunSnapshot) -> String {
    let mut out = serde_json::to_string_pretty(s)
        .expect("a RunSnapshot always serializes: plain fields and enum map keys");
    out.push('\n');
    out
}
