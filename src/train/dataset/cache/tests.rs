//! The binary copy: read back as written, and refused (never trusted, never
//! a hang or a panic) when stale, damaged or not a file.

use super::*;

fn arrays(n: u32) -> Arrays {
    let mut users = Interner::default();
    let mut movies = Interner::default();
    let mut ratings = Ratings::default();
    for k in 0..n {
        let (u, m) = (users.intern(1000 + k % 7), movies.intern(50 + k % 5));
        ratings.push(u, m, 0.5 * f32::from((k % 10) as u8 + 1));
    }
    Arrays {
        users,
        movies,
        ratings,
    }
}

fn stamp(seed: u64) -> Stamp {
    Stamp([0, 1, 2, 3, 4, 5, seed])
}

fn same(a: &Arrays, b: &Arrays) {
    assert_eq!(a.users.ids(), b.users.ids());
    assert_eq!(a.movies.ids(), b.movies.ids());
    assert_eq!(a.ratings.users, b.ratings.users);
    assert_eq!(a.ratings.items, b.ratings.items);
    assert_eq!(a.ratings.values, b.ratings.values);
}

fn damage(e: Result<Arrays, Unusable>) -> String {
    match e {
        Err(Unusable::Damaged(what)) => what,
        Err(other) => panic!("expected damage, got {other}"),
        Ok(_) => panic!("a damaged copy was read"),
    }
}

#[test]
fn reads_back_what_it_wrote_for_the_same_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.cache");
    assert!(matches!(read(&path, stamp(1)), Err(Unusable::Missing)));
    let a = arrays(1000);
    write(&path, stamp(1), &a).unwrap();
    same(&read(&path, stamp(1)).unwrap(), &a);
    assert!(matches!(read(&path, stamp(2)), Err(Unusable::Stale)));
    // Nothing but the copy is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_changed_byte_or_a_cut_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.cache");
    write(&path, stamp(1), &arrays(1000)).unwrap();
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    assert_eq!(damage(read(&path, stamp(1))), "checksum mismatch");
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(damage(read(&path, stamp(1))).contains("length"));
    // Counts claiming more than the file holds allocate nothing.
    let mut huge = good.clone();
    huge[88..96].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &huge).unwrap();
    assert!(damage(read(&path, stamp(1))).contains("length"));
}

/// A copy whose checksum is right but whose contents are not (made by hand,
/// or by a bug) is refused before anything indexes with it.
#[test]
fn indices_ids_and_values_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.cache");
    let mut a = arrays(100);
    a.ratings.users[7] = a.users.len() as u32;
    write(&path, stamp(1), &a).unwrap();
    assert_eq!(damage(read(&path, stamp(1))), "an index out of range");

    let mut a = arrays(100);
    a.ratings.values[3] = 9.0;
    write(&path, stamp(1), &a).unwrap();
    assert_eq!(damage(read(&path, stamp(1))), "a rating off the scale");

    let a = arrays(100);
    let mut ids = a.movies.ids().to_vec();
    ids[1] = ids[0];
    // An interner cannot hold a repeat, so the file is patched instead.
    write(&path, stamp(1), &a).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let movies_at = 96 + 4 * a.users.len();
    bytes[movies_at + 4..movies_at + 8].copy_from_slice(&ids[1].to_le_bytes());
    let body = bytes.len() - 4;
    let sum = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(damage(read(&path, stamp(1))), "an id listed twice");
}

#[test]
fn a_fifo_or_a_directory_in_its_place_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.cache");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(damage(read(&fifo, stamp(1))), "not a regular file");
    assert_eq!(damage(read(dir.path(), stamp(1))), "not a regular file");
    // Writing replaces the FIFO with a copy.
    write(&fifo, stamp(1), &arrays(10)).unwrap();
    same(&read(&fifo, stamp(1)).unwrap(), &arrays(10));
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("dataset.cache");
    assert!(write(&path, stamp(1), &arrays(10)).is_err());
    assert!(!dir.path().join("missing").exists());
}

/// Through the dataset loader: parsed and written, then read back (also
/// through another path to the same file), then parsed again once the
/// ratings file changes.
#[test]
fn the_loader_uses_the_copy_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("movies.dat"),
        "1::A (1990)::Drama\n2::B (1991)::Comedy\n",
    )
    .unwrap();
    std::fs::write(
        data.join("ratings.dat"),
        "1::1::5::1\n1::2::3::2\n2::1::4::3\n",
    )
    .unwrap();
    let copy = dir.path().join("dataset.cache");
    let (first, note) = super::super::Dataset::load_cached(&data, Some(&copy)).unwrap();
    assert!(note.contains("binary copy absent: written to"), "{note}");
    let (second, note) = super::super::Dataset::load_cached(&data, Some(&copy)).unwrap();
    assert!(note.starts_with("read from the binary copy"), "{note}");
    assert_eq!(first.ratings.values, second.ratings.values);
    assert_eq!(first.users.ids(), second.users.ids());
    assert_eq!(second.catalogue.len(), 2);
    // The same file through a link to its directory is the same file.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let (_, note) = super::super::Dataset::load_cached(&link, Some(&copy)).unwrap();
    assert!(note.starts_with("read from the binary copy"), "{note}");

    std::fs::write(data.join("ratings.dat"), "1::1::5::1\n3::2::2::2\n").unwrap();
    let (third, note) = super::super::Dataset::load_cached(&data, Some(&copy)).unwrap();
    assert!(note.contains("another version"), "{note}");
    assert_eq!(third.ratings.values, [5.0, 2.0]);
    assert_eq!(third.users.ids(), [1, 3]);
}
