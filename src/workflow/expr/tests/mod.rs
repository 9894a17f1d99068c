//! Table-driven tests of the expression language. Each table is input → expected; a failing
//! table reports every failing row at once.

mod access;
mod coercion;
mod functions;
mod hash_files;
mod robustness;
mod syntax;
mod templates;
mod validation;

use super::*;

/// Parses JSON text into a value (order of keys kept).
fn json(text: &str) -> Value {
    Value::from_json(text).expect("fixture JSON parses")
}

/// The contexts the tables evaluate against.
fn scope() -> Scope {
    Scope::new()
        .with_context(
            "github",
            json(
                r#"{
                    "ref": "refs/heads/main",
                    "event_name": "push",
                    "event": {
                        "commits": [
                            {"id": "a1", "message": "first"},
                            {"id": "b2", "message": "second"},
                            {"message": "no id"}
                        ],
                        "labels": {"bug": {"name": "bug"}, "ci": {"name": "CI"}}
                    }
                }"#,
            ),
        )
        .with_context(
            "ctx",
            json(
                r#"{
                    "arr": [1, "two", true, null],
                    "obj": {"Key": "value", "nested": {"n": 1}},
                    "str": "Hello",
                    "num": 3,
                    "nested": [[1, 2], [3, 4]],
                    "words": ["a", "b", "c"]
                }"#,
            ),
        )
        .with_context("needs", json(r#"{"build-job": {"result": "success"}}"#))
}

/// A compact rendering of a value for tables: JSON on one line, numbers as the language
/// prints them (so NaN and Infinity can be written).
fn show(value: &Value) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format_number(*n),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(object) => {
            let entries: Vec<String> = object
                .iter()
                .map(|(k, v)| format!("{}:{}", quote(k), show(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
    }
}

/// Parses and evaluates against [`scope`].
fn eval(source: &str) -> Result<Value, ExprError> {
    Expr::parse(source)?.evaluate(&scope())
}

fn eval_shown(source: &str) -> String {
    match eval(source) {
        Ok(value) => show(&value),
        Err(error) => format!("error {:?}: {}", error.kind, error.message),
    }
}

/// Fails with every row whose `got` differs from `expected`.
fn report(rows: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each expression evaluates to the value shown (see [`show`]).
fn assert_values(rows: &[(&str, &str)]) {
    let failures = rows
        .iter()
        .filter_map(|(source, expected)| {
            let got = eval_shown(source);
            (got != *expected)
                .then(|| format!("  {source}\n    expected {expected}\n    got      {got}"))
        })
        .collect();
    report(rows.len(), failures);
}

/// Each expression evaluates to the boolean given.
fn assert_bools(rows: &[(&str, bool)]) {
    let rows: Vec<(&str, String)> = rows.iter().map(|(s, b)| (*s, b.to_string())).collect();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(s, b)| (*s, b.as_str())).collect();
    assert_values(&rows);
}

/// Each expression evaluates to exactly this string.
fn assert_strings(rows: &[(&str, &str)]) {
    let failures = rows
        .iter()
        .filter_map(|(source, expected)| {
            let got = eval(source);
            (got.as_ref().ok() != Some(&Value::String((*expected).to_owned())))
                .then(|| format!("  {source}\n    expected {expected:?}\n    got      {got:?}"))
        })
        .collect();
    report(rows.len(), failures);
}

/// Each expression fails (to parse or to evaluate) with this kind at this span.
fn assert_errors(rows: &[(&str, ErrorKind, Span)]) {
    let failures = rows
        .iter()
        .filter_map(|(source, kind, span)| {
            let got = eval(source).err().map(|e| (e.kind, e.span, e.message));
            match &got {
                Some((k, s, _)) if k == kind && s == span => None,
                _ => Some(format!(
                    "  {source}\n    expected {kind:?} at {span:?}\n    got      {got:?}"
                )),
            }
        })
        .collect();
    report(rows.len(), failures);
}
