//! Reading one JSON value as the type a known figure needs. Absent and `null` are "this report
//! does not have it" (older or newer reports); any other value of the wrong type or range is a
//! [`BadFigure`] naming its path, never a figure silently left out.

use serde_json::{Map, Value};

/// A known figure of a report whose value has the wrong type or range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadFigure {
    /// Its JSON path, like `counters.turns` or `targets[2].measured`.
    pub path: String,
    /// The value found, as JSON (shortened when long).
    pub value: String,
    /// What the figure must be.
    pub expected: &'static str,
}

pub(crate) type Checked<T> = Result<T, BadFigure>;

/// The longest value quoted in an error, in characters.
const SHOWN: usize = 60;

pub(crate) fn bad(path: &str, value: &Value, expected: &'static str) -> BadFigure {
    let text = value.to_string();
    let value = match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    };
    BadFigure {
        path: path.to_owned(),
        value,
        expected,
    }
}

/// The value, unless it is absent or `null`.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// A number of at least 0 (a latency, a rate, goodput).
pub(crate) fn non_negative(value: Option<&Value>, path: &str) -> Checked<Option<f64>> {
    let Some(v) = present(value) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if x >= 0.0 => Ok(Some(x)),
        _ => Err(bad(path, v, "a number of at least 0")),
    }
}

/// A share from 0 to 1.
pub(crate) fn ratio(value: Option<&Value>, path: &str) -> Checked<Option<f64>> {
    let Some(v) = present(value) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
        _ => Err(bad(path, v, "a number from 0 to 1")),
    }
}

/// A count: a whole number of at least 0 (`12.0` is accepted as 12).
pub(crate) fn count(value: Option<&Value>, path: &str) -> Checked<Option<f64>> {
    let Some(v) = present(value) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 => Ok(Some(x)),
        _ => Err(bad(path, v, "a whole number of at least 0 (a count)")),
    }
}

/// An object.
pub(crate) fn object<'a>(
    value: Option<&'a Value>,
    path: &str,
    expected: &'static str,
) -> Checked<Option<&'a Map<String, Value>>> {
    let Some(v) = present(value) else {
        return Ok(None);
    };
    v.as_object()
        .map(Some)
        .ok_or_else(|| bad(path, v, expected))
}

/// A string.
pub(crate) fn string<'a>(value: Option<&'a Value>, path: &str) -> Checked<Option<&'a str>> {
    let Some(v) = present(value) else {
        return Ok(None);
    };
    v.as_str().map(Some).ok_or_else(|| bad(path, v, "a string"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_and_null_are_missing_anything_else_is_checked() {
        assert_eq!(count(None, "c"), Ok(None));
        assert_eq!(count(Some(&json!(null)), "c"), Ok(None));
        assert_eq!(count(Some(&json!(12)), "c"), Ok(Some(12.0)));
        assert_eq!(count(Some(&json!(12.0)), "c"), Ok(Some(12.0)));
        for wrong in [
            json!("many"),
            json!(-1),
            json!(1.5),
            json!([]),
            json!({}),
            json!(true),
        ] {
            let err = count(Some(&wrong), "counters.turns").unwrap_err();
            assert_eq!(err.path, "counters.turns");
            assert_eq!(err.value, wrong.to_string());
        }
        assert!(ratio(Some(&json!(1.5)), "r").is_err());
        assert!(non_negative(Some(&json!(-0.5)), "n").is_err());
        assert_eq!(non_negative(Some(&json!(0.5)), "n"), Ok(Some(0.5)));
    }

    #[test]
    fn long_values_are_shortened() {
        let long = json!("x".repeat(500));
        let err = string(Some(&json!(5)), "s").unwrap_err();
        assert_eq!((err.value.as_str(), err.expected), ("5", "a string"));
        let err = count(Some(&long), "c").unwrap_err();
        assert_eq!(err.value.chars().count(), SHOWN + 3);
        assert!(err.value.ends_with("..."));
    }
}
