//! Loading each MovieLens layout, text decoding, and the errors.

use super::*;
use std::fs;

fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

#[test]
fn ml1m_latin1_titles_come_out_as_utf8() {
    let dir = dir_with(&[
        (
            "ratings.dat",
            b"10::73::5::978300760\n11::73::3::978300761\n10::2::4::978300762\n",
        ),
        (
            "movies.dat",
            b"73::Mis\xe9rables, Les (1995)::Drama|Musical\n2::Jumanji (1995)::Adventure\n",
        ),
    ]);
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.format, Format::Dat);
    assert_eq!(d.ratings.len(), 3);
    assert_eq!(d.users.ids(), &[10, 11]);
    assert_eq!(d.movies.ids(), &[73, 2]);
    assert_eq!(d.ratings.users, vec![0, 1, 0]);
    assert_eq!(d.ratings.items, vec![0, 0, 1]);
    assert_eq!(d.catalogue[&73].title, "Misérables, Les (1995)");
    assert_eq!(d.catalogue[&73].genres, "Drama|Musical");
}

#[test]
fn utf8_movie_files_stay_utf8() {
    let dir = dir_with(&[
        ("ratings.dat", b"1::5::4.5::1\n"),
        (
            "movies.dat",
            "5::Amélie (2001)::Comedy|Romance\n".as_bytes(),
        ),
    ]);
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.catalogue[&5].title, "Amélie (2001)");
    assert_eq!(d.ratings.values, vec![4.5]);
}

#[test]
fn ml100k_with_genres() {
    let dir = dir_with(&[
        ("u.data", b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n"),
        ("u.item", b"242|Kolya (1996)|24-Jan-1997||http://x|0|0|0|0|0|1|0\n302|L.A. Confidential (1997)|01-Jan-1997||http://y|0|0|0|0|0|0|1\n1|Caf\xe9 au lait (1994)|01-Jan-1994||http://z|1|0|0|0|0|0|0\n"),
        ("u.genre", b"unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n\n"),
    ]);
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.format, Format::Ml100k);
    assert_eq!(d.ratings.len(), 2);
    assert_eq!(d.catalogue[&242].genres, "Comedy");
    assert_eq!(d.catalogue[&302].genres, "Crime");
    assert_eq!(d.catalogue[&1].title, "Café au lait (1994)");
    assert_eq!(d.catalogue[&1].genres, "");
}

#[test]
fn csv_with_half_stars_and_quoted_titles() {
    let dir = dir_with(&[
        ("ratings.csv", b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n"),
        ("movies.csv", b"movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,\"American President, The (1995)\",Comedy|Drama|Romance\n4,\"Say \"\"Hi\"\" (2000)\",(no genres listed)\n"),
    ]);
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.format, Format::Csv);
    assert_eq!(d.ratings.values, vec![4.0, 0.5]);
    assert_eq!(d.catalogue[&3].title, "American President, The (1995)");
    assert_eq!(d.catalogue[&4].title, "Say \"Hi\" (2000)");
    assert_eq!(d.catalogue[&4].genres, "");
}

/// A damaged u.genre index used to size the genre table: past usize it
/// panicked, a large one asked for terabytes.
#[test]
fn a_huge_genre_index_is_an_error_not_an_allocation() {
    for index in ["18446744073709551615", "99999999999999"] {
        let genres = format!("unknown|0\nAction|{index}\n");
        let dir = dir_with(&[
            ("u.data", b"196\t242\t3\t881250949\n"),
            ("u.item", b"242|Kolya (1996)|24-Jan-1997||http://x|0|1\n"),
            ("u.genre", genres.as_bytes()),
        ]);
        let e = Dataset::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "u.genre:2: genre index {index} is out of range (at most 1023)"
            )),
            "{e}"
        );
    }
}

#[test]
fn malformed_movie_lines_are_errors() {
    let dir = dir_with(&[
        (
            "ratings.csv",
            b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n",
        ),
        ("movies.csv", b"movieId,title,genres\n1,\"Broken,Comedy\n"),
    ]);
    let e = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("movies.csv:2: unterminated quoted field"),
        "{e}"
    );
    let dir = dir_with(&[
        ("ratings.dat", b"1::1::4::1\n"),
        ("movies.dat", b"x::T::G\n"),
    ]);
    let e = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("movies.dat:1: movie id 'x' is not a whole number"),
        "{e}"
    );
}

#[test]
fn missing_and_empty_sets_are_clear_errors() {
    let dir = dir_with(&[("README", b"nothing here")]);
    let e = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("not a MovieLens directory"), "{e}");
    let e = Dataset::load(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such directory"), "{e}");
    let dir = dir_with(&[("ratings.dat", b"")]);
    let e = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("ratings.dat: no ratings in the file"), "{e}");
}

#[test]
fn malformed_rating_in_a_directory_names_the_file() {
    let dir = dir_with(&[("ratings.dat", b"1::1::4::1\n1::2::9::1\n")]);
    let e = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("ratings.dat:2: rating 9 is outside the scale 0.5..5"),
        "{e}"
    );
}

#[test]
fn interner_dense_and_spilled_ids() {
    let mut i = Interner::default();
    assert_eq!(i.intern(7), 0);
    assert_eq!(i.intern(4_000_000_000), 1);
    assert_eq!(i.intern(7), 0);
    assert_eq!(i.intern(4_000_000_000), 1);
    assert_eq!(i.get(7), Some(0));
    assert_eq!(i.get(8), None);
    assert_eq!(i.get(3_000_000_000), None);
    assert_eq!(i.ids(), &[7, 4_000_000_000]);
}
