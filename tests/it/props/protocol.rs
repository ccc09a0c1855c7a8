//! `parse_request` on arbitrary bytes, on mutated valid lines and on valid
//! lines with a value replaced by any JSON: an error with its code and a
//! message, or a request that survives a round trip.

use proptest::prelude::*;
use recd::protocol::{parse_request, RequestLine};
use serde_json::Value;

use super::{apply, check, edits, said};

/// One valid line per method, or more.
const VALID: &[&str] = &[
    r#"{"id": 1, "method": "recommend", "params": {"user": "42", "n": 10}}"#,
    r#"{"id": "a", "method": "predict", "params": {"user": "ml:3", "movie": 7}}"#,
    r#"{"id": 3, "method": "similar", "params": {"movie": 7, "n": 5}}"#,
    r#"{"id": 4, "method": "rate", "params": {"user": "u", "movie": 7, "rating": 4}}"#,
    r#"{"id": 5, "method": "unrate", "params": {"user": "u", "movie": 7}}"#,
    r#"{"id": 6, "method": "import", "params": {"bytes": 1024, "name": "r.csv"}}"#,
    r#"{"id": 7, "method": "retrain", "params": {"epochs": 5, "lr": 0.01, "force": true}}"#,
    r#"{"id": 8, "method": "retrain.check", "params": {"min_ratings": 3}}"#,
    r#"{"id": 9, "method": "job.status", "params": {"job": 2}}"#,
    r#"{"id": 10, "method": "job.cancel"}"#,
    r#"{"id": 11, "method": "reload", "params": {}}"#,
    r#"{"id": 12, "method": "models"}"#,
    r#"{"id": 13, "method": "rollback", "params": {"version": "20261124T101500Z-3fa2"}}"#,
    r#"{"id": 14, "method": "history", "params": {"limit": 5, "status": "published", "trigger": "manual"}}"#,
    r#"{"id": 15, "method": "schedule", "params": {"next": 3}}"#,
    r#"{"id": 16, "method": "schedule.pause"}"#,
    r#"{"id": null, "method": "health", "params": null}"#,
    r#"{"method": "stats"}"#,
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What any line must give: an error that names its fault, or a request
/// that reads back as itself once written.
fn property(line: &[u8]) -> Result<(), TestCaseError> {
    match parse_request(line) {
        Err((_, e)) => said("parse_request", e.message.clone()),
        Ok((_, request)) => {
            let written = serde_json::to_vec(&RequestLine {
                id: 1,
                request: &request,
            })
            .map_err(|e| TestCaseError::fail(format!("{request:?} does not serialise: {e}")))?;
            match parse_request(&written) {
                Ok((_, again)) if again == request => Ok(()),
                other => Err(TestCaseError::fail(format!(
                    "{request:?} written as {} reads back as {other:?}",
                    String::from_utf8_lossy(&written)
                ))),
            }
        }
    }
}

#[test]
fn props_parse_request() {
    for line in VALID {
        assert!(parse_request(line.as_bytes()).is_ok(), "{line}");
    }
    check(
        "parse_request arbitrary bytes",
        proptest::collection::vec(any::<u8>(), 0..512),
        |bytes| property(&bytes),
    );
    check(
        "parse_request mutated lines",
        (proptest::sample::select(VALID), edits(8)),
        |(line, e)| property(&apply(line.as_bytes().to_vec(), &e)),
    );
    check(
        "parse_request values replaced",
        (proptest::sample::select(VALID), any::<usize>(), json()),
        |(line, at, value)| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            replace_nth(&mut v, at, value);
            property(&serde_json::to_vec(&v).unwrap())
        },
    );
    check(
        "parse_request deep nesting",
        (1..4000usize, proptest::bool::ANY),
        |(depth, objects)| {
            let open = if objects { "{\"a\":" } else { "[" };
            let close = if objects { "}" } else { "]" };
            let line = format!(
                "{{\"id\":1,\"method\":\"recommend\",\"params\":{}1{}}}",
                open.repeat(depth),
                close.repeat(depth)
            );
            property(line.as_bytes())
        },
    );
}

/// Replace the `n`th value (depth first, modulo their count) by `with`.
fn replace_nth(v: &mut Value, n: usize, with: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, n: &mut usize, with: &mut Option<Value>) {
        if *n == 0 {
            if let Some(w) = with.take() {
                *v = w;
            }
            return;
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, n, with)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, n, with)),
            _ => {}
        }
    }
    let mut n = n % count(v);
    walk(v, &mut n, &mut Some(with));
}
