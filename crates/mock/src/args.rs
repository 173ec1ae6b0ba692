//! Plausible tool-call arguments from a function's JSON schema: an order id looks like
//! `ORD-48213`, a path like `src/cache/store.rs`, a URL like a URL.

use serde_json::{Map, Value};

use scenario::{SimRng, text};

use crate::attribution::SessionMarker;

/// A JSON object of arguments for `parameters` (a JSON schema of type object). With a
/// session marker (`crate::attribution`), every generated string ends with `" " + marker`,
/// appended after its draws, so the rest of the value is the same as without it; values
/// picked from an `enum`, numbers and booleans do not carry it.
pub(crate) fn generate(
    parameters: Option<&Value>,
    rng: &mut SimRng,
    marker: Option<SessionMarker>,
) -> String {
    let suffix = marker.map(|m| format!(" {m}"));
    let value = match parameters {
        Some(schema) => object(schema, rng, 0, suffix.as_deref()),
        None => Value::Object(Map::new()),
    };
    value.to_string()
}

fn object(schema: &Value, rng: &mut SimRng, depth: u32, suffix: Option<&str>) -> Value {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        // serde_json's map is ordered by key, so the draws happen in a stable order.
        for (name, prop) in props {
            out.insert(name.clone(), value(name, prop, rng, depth + 1, suffix));
        }
    }
    Value::Object(out)
}

fn value(name: &str, schema: &Value, rng: &mut SimRng, depth: u32, suffix: Option<&str>) -> Value {
    if let Some(options) = schema
        .get("enum")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
    {
        let i = usize::try_from(rng.below(options.len() as u64)).unwrap_or(0);
        return options[i].clone();
    }
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    match kind {
        "integer" => Value::from(rng.range_inclusive(1, 100)),
        "number" => Value::from((rng.next_f64() * 10_000.0).round() / 100.0),
        "boolean" => Value::from(rng.chance(0.5)),
        "array" if depth < 4 => {
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            let n = rng.range_inclusive(1, 3);
            Value::Array(
                (0..n)
                    .map(|_| value(name, &items, rng, depth + 1, suffix))
                    .collect(),
            )
        }
        "object" if depth < 4 => object(schema, rng, depth, suffix),
        _ => {
            let mut text = string(name, schema, rng);
            if let Some(suffix) = suffix {
                text.push_str(suffix);
            }
            Value::from(text)
        }
    }
}

fn string(name: &str, schema: &Value, rng: &mut SimRng) -> String {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let lower = name.to_ascii_lowercase();
    if format == "uri" || lower.contains("url") {
        format!(
            "https://example.com/{}/{}",
            text::word(rng),
            text::word(rng)
        )
    } else if format == "path" || lower.contains("path") || lower.contains("file") {
        format!("src/{}/{}.rs", text::word(rng), text::word(rng))
    } else if lower == "id" || lower.ends_with("_id") || lower.ends_with("id") && format == "id" {
        let prefix: String = lower
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(3)
            .collect();
        format!("{}-{:05}", prefix.to_ascii_uppercase(), rng.below(100_000))
    } else {
        let n = u32::try_from(rng.range_inclusive(2, 6)).unwrap_or(2);
        text::words(rng, n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arguments_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "path": {"type": "string"},
                "limit": {"type": "integer"},
                "mode": {"type": "string", "enum": ["fast", "exact"]},
                "url": {"type": "string", "format": "uri"}
            }
        });
        let args: Value =
            serde_json::from_str(&generate(Some(&schema), &mut SimRng::new(4), None)).unwrap();
        assert!(
            args["order_id"].as_str().unwrap().starts_with("ORD-"),
            "{args}"
        );
        assert!(args["path"].as_str().unwrap().ends_with(".rs"), "{args}");
        assert!(
            (1..=100).contains(&args["limit"].as_u64().unwrap()),
            "{args}"
        );
        assert!(
            ["fast", "exact"].contains(&args["mode"].as_str().unwrap()),
            "{args}"
        );
        assert!(
            args["url"].as_str().unwrap().starts_with("https://"),
            "{args}"
        );
        assert_eq!(generate(None, &mut SimRng::new(1), None), "{}");
    }

    #[test]
    fn a_marker_ends_every_generated_string_and_changes_no_draw() {
        let schema = json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "limit": {"type": "integer"},
                "ratio": {"type": "number"},
                "exact": {"type": "boolean"},
                "mode": {"type": "string", "enum": ["fast", "exact"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "filter": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string"},
                        "pages": {"type": "array", "items": {"type": "integer"}},
                        "urls": {"type": "array", "items": {"type": "string", "format": "uri"}}
                    }
                }
            }
        });
        let marker = SessionMarker {
            session: 17,
            turn: 3,
        };
        for seed in 0..20 {
            let (mut plain_rng, mut marked_rng) = (SimRng::new(seed), SimRng::new(seed));
            let plain: Value =
                serde_json::from_str(&generate(Some(&schema), &mut plain_rng, None)).unwrap();
            let marked: Value =
                serde_json::from_str(&generate(Some(&schema), &mut marked_rng, Some(marker)))
                    .unwrap();
            assert_eq!(plain_rng.next_u64(), marked_rng.next_u64(), "seed {seed}");
            let mut strings = 0;
            same_but_marked(&plain, &marked, &mut strings);
            // order_id, path, at least one tag and one url.
            assert!(strings >= 4, "{marked}");
            assert!(
                ["fast", "exact"].contains(&marked["mode"].as_str().unwrap()),
                "{marked}"
            );
        }
    }

    /// Asserts `marked` is `plain` with `" [fb:s17t3]"` at the end of every string but an
    /// enum's (`mode`), counting those strings.
    fn same_but_marked(plain: &Value, marked: &Value, strings: &mut usize) {
        match (plain, marked) {
            (Value::Object(p), Value::Object(m)) => {
                assert_eq!(p.keys().collect::<Vec<_>>(), m.keys().collect::<Vec<_>>());
                for (key, value) in p {
                    if key == "mode" {
                        assert_eq!(value, &m[key]);
                    } else {
                        same_but_marked(value, &m[key], strings);
                    }
                }
            }
            (Value::Array(p), Value::Array(m)) => {
                assert_eq!(p.len(), m.len());
                for (p, m) in p.iter().zip(m) {
                    same_but_marked(p, m, strings);
                }
            }
            (Value::String(p), Value::String(m)) => {
                assert_eq!(m, &format!("{p} [fb:s17t3]"));
                *strings += 1;
            }
            (p, m) => assert_eq!(p, m, "numbers and booleans carry no marker"),
        }
    }
}
