//! The counts in gungraun's machine-readable output: `--output-format=json` prints one
//! summary a benchmark, one a line (summary schema v6, gungraun 0.16 and later). Only what the
//! gate needs is read: the benchmark's function and id, and callgrind's total `Ir`
//! (instructions executed) of this run (`values.new`).

use std::collections::BTreeMap;

use serde_json::Value;

/// The counts of one run of the benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summaries {
    /// Benchmark name (`function/id`, or `function` without an id) → instructions.
    pub counts: BTreeMap<String, u64>,
}

/// A summary line that is not what gungraun writes.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Not JSON.
    #[error(
        "line {line} is not JSON ({error}): expected gungraun's `--output-format=json` summaries"
    )]
    NotJson {
        /// 1-based.
        line: usize,
        /// The parse error (in the message: it says where on the line).
        error: serde_json::Error,
    },
    /// JSON, but a field is missing or of the wrong type.
    #[error(
        "line {line} has no {what}: is it a gungraun summary of schema v6 (gungraun 0.16 or later)?"
    )]
    Field {
        /// 1-based.
        line: usize,
        /// The field looked for, as a path.
        what: &'static str,
    },
    /// Two summaries of one name.
    #[error("line {line} repeats the benchmark `{name}`")]
    Duplicate {
        /// 1-based.
        line: usize,
        /// The name.
        name: String,
    },
}

/// The counts in `text`: one JSON summary a line; blank lines are skipped.
pub fn parse(text: &str) -> Result<Summaries, SummaryError> {
    let mut counts = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let summary: Value =
            serde_json::from_str(raw).map_err(|error| SummaryError::NotJson { line, error })?;
        let (name, instructions) =
            count(&summary).map_err(|what| SummaryError::Field { line, what })?;
        if counts.insert(name.clone(), instructions).is_some() {
            return Err(SummaryError::Duplicate { line, name });
        }
    }
    Ok(Summaries { counts })
}

/// The name and callgrind's `Ir` of one summary, or the field that is missing.
fn count(summary: &Value) -> Result<(String, u64), &'static str> {
    let function = summary
        .get("function_name")
        .and_then(Value::as_str)
        .ok_or("`function_name`")?;
    let name = match summary.get("id").and_then(Value::as_str) {
        Some(id) => format!("{function}/{id}"),
        None => function.to_owned(),
    };
    let callgrind = summary
        .get("profiles")
        .and_then(Value::as_array)
        .ok_or("`profiles`")?
        .iter()
        .find(|p| p.get("tool").and_then(Value::as_str) == Some("Callgrind"))
        .ok_or("callgrind profile (`profiles[].tool` = \"Callgrind\")")?;
    let instructions = callgrind
        .pointer("/data/total/metrics/Ir/values/new")
        .and_then(Value::as_u64)
        .ok_or("instruction count (`profiles[].data.total.metrics.Ir.values.new`)")?;
    Ok((name, instructions))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary as gungraun 0.20 prints it, cut to what is read and a little more.
    fn line(function: &str, id: Option<&str>, ir: u64) -> String {
        let mut v = serde_json::json!({
            "version": "6",
            "function_name": function,
            "module_path": format!("hot_paths::hot_paths::{function}"),
            "profiles": [{
                "tool": "Callgrind",
                "data": {
                    "parts": [],
                    "total": {
                        "metrics": {
                            "Ir": {"values": {"new": ir, "old": ir + 1}},
                            "Dr": {"values": {"new": 5}}
                        },
                        "regressions": []
                    }
                }
            }]
        });
        if let Some(id) = id {
            v["id"] = id.into();
        }
        v.to_string()
    }

    #[test]
    fn reads_names_and_instructions() {
        let text = format!(
            "{}\n\n{}\n",
            line("llm_call", Some("in_process"), 123_456),
            line("plain", None, 7)
        );
        let s = parse(&text).unwrap();
        assert_eq!(
            s.counts,
            BTreeMap::from([
                ("llm_call/in_process".to_owned(), 123_456),
                ("plain".to_owned(), 7)
            ])
        );
    }

    #[test]
    fn names_the_line_and_field_of_bad_input() {
        let err = parse("{\"function_name\": \"f\"}").unwrap_err();
        assert!(
            err.to_string().starts_with("line 1 has no `profiles`"),
            "{err}"
        );
        let err = parse(&format!("{}\nnot json", line("f", None, 1))).unwrap_err();
        assert!(
            matches!(err, SummaryError::NotJson { line: 2, .. }),
            "{err}"
        );
        let no_ir = line("f", None, 1).replace("\"Ir\"", "\"Ix\"");
        let err = parse(&no_ir).unwrap_err();
        assert!(err.to_string().contains("Ir.values.new"), "{err}");
        let twice = format!("{}\n{}", line("f", None, 1), line("f", None, 2));
        assert!(matches!(
            parse(&twice).unwrap_err(),
            SummaryError::Duplicate { line: 2, .. }
        ));
    }
}
