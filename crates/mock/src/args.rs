//! Plausible tool-call arguments from a function's JSON schema: an order id looks like
//! `ORD-48213`, a path like `src/cache/store.rs`, a URL like a URL.

use serde_json::{Map, Value};

use scenario::{SimRng, text};

/// A JSON object of arguments for `parameters` (a JSON schema of type object).
pub(crate) fn generate(parameters: Option<&Value>, rng: &mut SimRng) -> String {
    let value = match parameters {
        Some(schema) => object(schema, rng, 0),
        None => Value::Object(Map::new()),
    };
    value.to_string()
}

fn object(schema: &Value, rng: &mut SimRng, depth: u32) -> Value {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        // serde_json's map is ordered by key, so the draws happen in a stable order.
        for (name, prop) in props {
            out.insert(name.clone(), value(name, prop, rng, depth + 1));
        }
    }
    Value::Object(out)
}

fn value(name: &str, schema: &Value, rng: &mut SimRng, depth: u32) -> Value {
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
                    .map(|_| value(name, &items, rng, depth + 1))
                    .collect(),
            )
        }
        "object" if depth < 4 => object(schema, rng, depth),
        _ => Value::from(string(name, schema, rng)),
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
            serde_json::from_str(&generate(Some(&schema), &mut SimRng::new(4))).unwrap();
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
        assert_eq!(generate(None, &mut SimRng::new(1)), "{}");
    }
}
