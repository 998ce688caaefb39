//! Tolerant readers for carrier-shaped JSON: dotted paths, numbers that arrive as
//! strings (UPS sends every scalar as a string), and lists that arrive as a bare object
//! (UPS's single-element arrays). A required field that is absent or blank is a 400
//! naming the field by its dotted path.

use super::failure::Failure;
use serde_json::Value;
use time::Date;

/// The value at dotted `path` (`"a.b.c"`) under `v`.
pub(crate) fn get<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// The text at `path`: a non-blank string (trimmed), a number or a boolean as text.
pub(crate) fn text(v: &Value, path: &str) -> Option<String> {
    match get(v, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The number in `v`: a JSON number or a numeric string.
pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// The elements of an array, or the value itself when it is a bare object.
pub(crate) fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// `prefix.path`, the name a 400 gives a field.
pub(crate) fn name(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}.{path}")
    }
}

/// The required text at `path`; `prefix` names where `v` sits in the request.
pub(crate) fn need_text(v: &Value, prefix: &str, path: &str) -> Result<String, Failure> {
    text(v, path).ok_or_else(|| Failure::missing(name(prefix, path)))
}

/// The required positive number at `path` (a weight or a dimension).
pub(crate) fn need_positive(v: &Value, prefix: &str, path: &str) -> Result<f64, Failure> {
    let value = get(v, path).filter(|v| !v.is_null() && v.as_str() != Some(""));
    let value = value.ok_or_else(|| Failure::missing(name(prefix, path)))?;
    positive(value).ok_or_else(|| {
        let field = name(prefix, path);
        Failure::invalid(&field, format!("{field} must be a positive number."))
    })
}

/// A positive, finite number, at most a million (no real parcel is heavier or larger).
pub(crate) fn positive(v: &Value) -> Option<f64> {
    number(v).filter(|n| *n > 0.0 && *n <= 1e6)
}

/// The required boolean at `path`: `true`/`false` as JSON or as text.
pub(crate) fn need_bool(v: &Value, prefix: &str, path: &str) -> Result<bool, Failure> {
    let field = name(prefix, path);
    match get(v, path) {
        None | Some(Value::Null) => Err(Failure::missing(field)),
        Some(v) => parse_bool(v)
            .ok_or_else(|| Failure::invalid(&field, format!("{field} must be true or false."))),
    }
}

pub(crate) fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The optional date at `path`, read by `parse` (`format` says what a 400 asks for), or
/// `default` when absent.
pub(crate) fn optional_date(
    v: &Value,
    prefix: &str,
    path: &str,
    (parse, format): (fn(&str) -> Option<Date>, &str),
    default: Date,
) -> Result<Date, Failure> {
    let Some(value) = text(v, path) else {
        return Ok(default);
    };
    parse(&value).ok_or_else(|| {
        let field = name(prefix, path);
        Failure::invalid(&field, format!("{field} must be a date {format}."))
    })
}
