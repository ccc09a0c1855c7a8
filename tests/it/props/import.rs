//! The import parser (`store::import::parse`) on arbitrary bytes and on
//! damaged files of each layout: every line is accepted or rejected with a
//! reason, and what it accepts passes the rating rules.

use proptest::prelude::*;
use recd::store::import;
use recd::store::rules::Rules;

use super::{apply, check, edits, said};

const FILES: [&str; 3] = [
    "userId,movieId,rating,timestamp\napp-1,7,4,1700000000\napp-2,9,5\r\n\n\"q\",3,1,0\n",
    "app-1::7::4::1700000000\napp-2::9::5::1700000001\n",
    "app-1\t7\t4\t1700000000\napp-2\t9\t3\n",
];

fn property(bytes: &[u8]) -> Result<(), TestCaseError> {
    let rules = Rules::default();
    let lines = bytes.split(|&b| b == b'\n').count() as u64;
    let parsed = import::parse(bytes, &rules, |m| m < 100, 1_700_000_000);
    if parsed.ratings.len() != parsed.lines.len() {
        return Err(TestCaseError::fail("ratings and their line numbers differ"));
    }
    for r in &parsed.rejected {
        said("import rejected", r.reason.clone())?;
        prop_assert!(r.line >= 1 && r.line <= lines, "line {} of {lines}", r.line);
    }
    for (r, &line) in parsed.ratings.iter().zip(&parsed.lines) {
        prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        prop_assert!(rules.user(&r.user).is_ok(), "accepted user {:?}", r.user);
        prop_assert!(
            rules.rating(f64::from(r.rating)).is_ok(),
            "accepted {}",
            r.rating
        );
        prop_assert!(r.movie < 100, "accepted unknown movie {}", r.movie);
    }
    Ok(())
}

#[test]
fn props_import_parser() {
    check(
        "import arbitrary bytes",
        proptest::collection::vec(any::<u8>(), 0..1024),
        |bytes| property(&bytes),
    );
    check(
        "import damaged files",
        (proptest::sample::select(&FILES[..]), edits(8)),
        |(file, e)| property(&apply(file.as_bytes().to_vec(), &e)),
    );
}
