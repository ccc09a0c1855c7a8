use super::*;

/// Ways of cutting the same text: one thread with whole batches, and
/// several threads with pieces of a few hundred lines.
const CUTS: [(usize, usize); 5] = [(1, 1 << 20), (2, 1 << 20), (2, 4096), (3, 5000), (8, 8192)];

fn parse(text: &[u8], cut: (usize, usize)) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    read_with(text, Path::new("r.dat"), None, cut, |r| out.push(r))
        .map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        })
        .map_err(|e| e.to_string())
}

/// `text` fails with `want` however it is cut.
fn fails_with(text: &[u8], cuts: &[(usize, usize)], want: &str) {
    for &cut in cuts {
        assert_eq!(parse(text, cut).unwrap_err(), want, "{cut:?}");
    }
}

fn lines(n: u32, bad: &[u32]) -> Vec<u8> {
    let mut text = String::new();
    for i in 1..=n {
        match i {
            _ if bad.contains(&i) => text.push_str(&format!("{i}::{}::x::0\n", i % 97)),
            _ if i % 11 == 0 => text.push_str("\r\n"),
            _ => text.push_str(&format!("{i}::{}::{}::97830{i}\r\n", i % 977, 1 + i % 5)),
        }
    }
    text.into_bytes()
}

#[test]
fn every_cut_gives_the_same_records_in_the_same_order() {
    let mut text = lines(20_000, &[]);
    text.extend_from_slice(b"5::6::4::8"); // no newline at the end
    let whole = parse(&text, CUTS[0]).unwrap();
    assert_eq!(whole.len(), 20_000 - 20_000 / 11 + 1);
    assert_eq!(whole.last().unwrap().user, 5);
    for cut in CUTS {
        assert_eq!(parse(&text, cut).unwrap(), whole, "{cut:?}");
    }
}

#[test]
fn pieces_shorter_than_a_line_still_cut_at_newlines() {
    let mut text = lines(300, &[]);
    text.extend_from_slice(b"5::6::4::8");
    let whole = parse(&text, CUTS[0]).unwrap();
    for cut in [(2, 1), (3, 5), (8, 30)] {
        assert_eq!(parse(&text, cut).unwrap(), whole, "{cut:?}");
    }
    let text = lines(300, &[123, 200]);
    fails_with(
        &text,
        &[(2, 1), (3, 5), (8, 30)],
        "r.dat:123: rating 'x' is not a number",
    );
}

#[test]
fn the_first_bad_line_in_the_file_is_named_whatever_the_cut() {
    let text = lines(10_000, &[7_777, 9_000]);
    fails_with(&text, &CUTS, "r.dat:7777: rating 'x' is not a number");
}

#[test]
fn endless_bytes_without_a_newline_are_refused_not_buffered() {
    for cut in [(1, 1 << 16), (2, 1 << 20)] {
        let mut out = 0;
        let e = read_with(
            std::io::repeat(b'7'),
            Path::new("/dev/fifo"),
            None,
            cut,
            |_| out += 1,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("/dev/fifo:1: the line is longer than {MAX_LINE} bytes")
        );
        assert_eq!(out, 0);
    }
    // A long line that ends, even one that would parse (leading zeros),
    // is refused the same however the batches fall.
    let mut text = b"1::2::3::4\n1::2::3::".to_vec();
    text.extend(std::iter::repeat_n(b'0', 2 << 20));
    text.extend_from_slice(b"4\n5::6::4::8\n");
    let mut cuts = CUTS.to_vec();
    cuts.push((8, 4 << 20));
    fails_with(
        &text,
        &cuts,
        &format!("r.dat:2: the line is longer than {MAX_LINE} bytes"),
    );
}

#[test]
fn the_ratings_before_a_bad_line_reach_the_sink() {
    let text = lines(10_000, &[7_777]);
    let good = (1..7_777).filter(|i| i % 11 != 0).count();
    for cut in CUTS {
        let mut seen = Vec::new();
        let e = read_with(&text[..], Path::new("r.dat"), None, cut, |r| {
            seen.push(r.user)
        });
        assert!(e.is_err(), "{cut:?}");
        assert_eq!(seen.len(), good, "{cut:?}");
        assert_eq!(seen.last(), Some(&7_776), "{cut:?}");
    }
}

#[test]
fn a_csv_header_is_skipped_on_the_first_line_only() {
    let mut text = b"userId,movieId,rating,timestamp\n".to_vec();
    for i in 0..3_000 {
        text.extend_from_slice(format!("{i},{},3.5,1256677221\n", i % 50).as_bytes());
    }
    for cut in CUTS {
        assert_eq!(parse(&text, cut).unwrap().len(), 3_000, "{cut:?}");
    }
    text.extend_from_slice(b"userId,movieId,rating,timestamp\n");
    fails_with(
        &text,
        &CUTS,
        "r.dat:3002: user id 'userId' is not a whole number",
    );
}

#[test]
fn blank_lines_before_the_first_rating_keep_the_count() {
    let mut text = vec![b'\n'; 5_000];
    text.extend_from_slice(b"1::2::3::4\nhello\n");
    fails_with(
        &text,
        &CUTS,
        "r.dat:5002: missing field 'movie' (expected user, movie, rating, timestamp)",
    );
    let mut text = vec![b'\n'; 5_000];
    text.extend_from_slice(b"hello\n");
    for cut in CUTS {
        let e = parse(&text, cut).unwrap_err();
        assert!(
            e.starts_with("r.dat:5001: cannot tell the layout"),
            "{cut:?}: {e}"
        );
    }
}
