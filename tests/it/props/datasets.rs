//! The MovieLens parsers: the streaming ratings-file reader on arbitrary
//! bytes in each layout, CSV splitting, and whole dataset directories of
//! each format with their files damaged. Ok with ratings on the scale, or an
//! error naming the file; never a panic.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use recd::movielens::ratings_file::{self, Layout};
use recd::train::dataset::{split_csv, Dataset};

use super::{apply, check, edits, said, Edit};

const LAYOUTS: [Option<Layout>; 4] = [
    None,
    Some(Layout::DoubleColon),
    Some(Layout::Tab),
    Some(Layout::Csv),
];

/// Each format's files: name and valid contents.
const FORMATS: [&[(&str, &str)]; 3] = [
    &[
        ("ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n"),
        ("movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n"),
    ],
    &[
        ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n"),
        ("u.item", "242|Kolya (1996)|24-Jan-1997||http://x|0|0|0|0|0|1\n302|L.A. Confidential (1997)|01-Jan-1997||http://y|0|0|1|0|0|0\n"),
        ("u.genre", "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\n"),
    ],
    &[
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,964982224\n"),
        ("movies.csv", "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,\"Grumpier Old Men, The (1995)\",Comedy|Romance\n"),
    ],
];

fn read(bytes: &[u8], layout: Option<Layout>) -> Result<(), TestCaseError> {
    let mut seen = 0u64;
    let mut off_scale = None;
    let result = ratings_file::read(Cursor::new(bytes), Path::new("r"), layout, |r| {
        seen += 1;
        if !(0.5..=5.0).contains(&r.rating) {
            off_scale = Some(r);
        }
    });
    if let Some(r) = off_scale {
        return Err(TestCaseError::fail(format!("accepted {r:?}")));
    }
    match result {
        Ok(n) if n == seen => Ok(()),
        Ok(n) => Err(TestCaseError::fail(format!(
            "says {n} ratings, gave {seen}"
        ))),
        Err(e) => said("ratings_file::read", e.to_string()),
    }
}

fn load(dir: &Path, format: usize, damaged: usize, e: &[Edit]) -> Result<(), TestCaseError> {
    for (k, (name, text)) in FORMATS[format].iter().enumerate() {
        let mut bytes = text.as_bytes().to_vec();
        if k == damaged % FORMATS[format].len() {
            bytes = apply(bytes, e);
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    match Dataset::load(dir) {
        Ok(d) if d.ratings.values.iter().all(|v| (0.5..=5.0).contains(v)) => Ok(()),
        Ok(d) => Err(TestCaseError::fail(format!(
            "off the scale: {:?}",
            d.ratings.values
        ))),
        Err(e) => said("Dataset::load", e.to_string()),
    }
}

#[test]
fn props_dataset_parsers() {
    check(
        "ratings file arbitrary bytes",
        (proptest::collection::vec(any::<u8>(), 0..1024), 0..4usize),
        |(bytes, layout)| read(&bytes, LAYOUTS[layout]),
    );
    check(
        "ratings file mutated",
        (0..3usize, 0..4usize, edits(8)),
        |(format, layout, e)| {
            read(
                &apply(FORMATS[format][0].1.as_bytes().to_vec(), &e),
                LAYOUTS[layout],
            )
        },
    );
    check("split_csv", "\\PC{0,64}|[,\"a ]{0,32}", |line| {
        if let Err(e) = split_csv(&line) {
            said("split_csv", e)?;
        }
        Ok(())
    });
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (format, dir) in dirs.iter().enumerate() {
        load(dir.path(), format, 0, &[]).unwrap();
        Dataset::load(dir.path()).expect("the valid set loads");
    }
    check(
        "dataset directories damaged",
        (0..3usize, 0..3usize, edits(8)),
        |(format, damaged, e)| load(dirs[format].path(), format, damaged, &e),
    );
}
