//! Property tests of every parser of outside bytes: request lines, model
//! files, MovieLens datasets, import files and the config. Each takes
//! arbitrary input and mutations of valid input, bounded in size, and must
//! answer Ok or an error that says what is wrong, never panic.
//!
//! 1000 cases per target in CI; `PROPTEST_CASES=N` sets any number,
//! `RECD_LONG_TESTS=1` makes it 100,000. Each target prints its count and its
//! seed (`RECD_TEST_SEED` replays it).

mod config;
mod datasets;
mod import;
mod model;
mod protocol;

use std::fmt::Debug;
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use crate::helper::{env_number, long_tests, seed};

fn cases() -> u32 {
    let default = if long_tests() { 100_000 } else { 1000 };
    env_number("PROPTEST_CASES", default) as u32
}

/// Run `test` on `cases()` values of `strategy`; a failure (or a panic,
/// which the runner catches) is shrunk and reported with its input.
pub fn check<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases();
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed(&format!("props {target}"))),
        ..Config::default()
    };
    let started = Instant::now();
    let result = TestRunner::new(config).run(&strategy, test);
    println!(
        "props {target}: {cases} cases in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("props {target}: {e}");
    }
}

/// An error must say something.
pub fn said(what: &str, message: String) -> Result<(), TestCaseError> {
    if message.trim().is_empty() {
        return Err(TestCaseError::fail(format!(
            "{what}: an empty error message"
        )));
    }
    Ok(())
}

/// Byte-level edits of valid input: the shapes a damaged or hostile file
/// or line takes.
#[derive(Debug, Clone)]
pub enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

pub fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    use proptest::prelude::*;
    let interesting = prop_oneof![
        any::<u8>(),
        Just(b'\n'),
        Just(b'\r'),
        Just(b'"'),
        Just(b','),
        Just(b':'),
        Just(b'\t'),
        Just(b'-'),
        Just(b'.'),
        Just(b'9'),
        Just(0xff),
        Just(0),
    ];
    let edit = prop_oneof![
        (any::<usize>(), interesting).prop_map(|(at, b)| Edit::Set(at, b)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), token()).prop_map(|(at, t)| Edit::Insert(at, t.into_bytes())),
        (any::<usize>(), 1..32usize).prop_map(|(at, n)| Edit::Remove(at, n)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..max)
}

/// Text that parsers treat specially: numbers of every size and sign,
/// special floats, separators.
fn token() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        (1..40usize).prop_map(|n| "9".repeat(n)),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        proptest::sample::select(
            &[
                "-1", "0", "-0", "1e9", "1e400", "0x10", "NaN", "inf", "-inf", "4.5", "0.5", "::",
                "|", "\"\"", "\u{feff}", "\u{e9}",
            ][..]
        )
        .prop_map(str::to_owned),
    ]
}

pub fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Set(i, b) if len > 0 => bytes[i % len] = *b,
            Edit::Set(..) => {}
            Edit::Insert(i, b) => {
                let i = at(*i);
                bytes.splice(i..i, b.iter().copied());
            }
            Edit::Remove(i, n) => {
                let i = at(*i);
                bytes.drain(i..(i + n).min(len));
            }
            Edit::Duplicate(i, n) => {
                let i = at(*i);
                let span = bytes[i..(i + n).min(len)].to_vec();
                bytes.splice(i..i, span);
            }
            Edit::Truncate(i) => bytes.truncate(at(*i)),
        }
    }
    bytes
}
