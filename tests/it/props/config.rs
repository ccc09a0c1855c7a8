//! The config parser on the documented config damaged byte by byte, and on
//! its keys given values of every type: a config, or an error naming the
//! file and, past TOML syntax, the key.

use std::path::Path;

use proptest::prelude::*;
use recd::config::Config;

use super::{apply, check, edits, said};

const DOCUMENTED: &str = include_str!("../../../config/recd.toml");

/// Any TOML value, as text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (-3i64..100_000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        any::<bool>().prop_map(|v| v.to_string()),
        "\\PC{0,24}".prop_map(|s| format!("{s:?}")),
        Just("\"\"".to_owned()),
        Just("[]".to_owned()),
        Just("[1, \"a\"]".to_owned()),
        Just("{}".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ]
}

/// The documented file with the `n`th `key = value` line's value replaced.
fn revalued(n: usize, value: &str) -> String {
    let keyed: Vec<usize> = DOCUMENTED
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#') && l.contains(" = "))
        .map(|(k, _)| k)
        .collect();
    let target = keyed[n % keyed.len()];
    DOCUMENTED
        .lines()
        .enumerate()
        .map(|(k, l)| match l.split_once(" = ") {
            Some((key, _)) if k == target => format!("{key} = {value}"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn property(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(text, Path::new("/etc/recd"), Path::new("recd.toml")) {
        Ok(_) => Ok(()),
        Err(e) => said("Config::parse", e.to_string()),
    }
}

#[test]
fn props_config_parser() {
    property(DOCUMENTED).unwrap();
    assert!(Config::parse(DOCUMENTED, Path::new("/etc/recd"), Path::new("recd.toml")).is_ok());
    check(
        "config values replaced",
        (any::<usize>(), value()),
        |(n, v)| property(&revalued(n, &v)),
    );
    check("config damaged", edits(6), |e| {
        let text = String::from_utf8_lossy(&apply(DOCUMENTED.as_bytes().to_vec(), &e)).into_owned();
        property(&text)
    });
    check("config arbitrary text", "\\PC{0,256}", |text| {
        property(&text)
    });
}
