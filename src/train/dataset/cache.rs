//! The binary copy of a base dataset's ratings: the arrays a parse
//! produces, written once to the state directory and read back by a later
//! retrain that finds the ratings file unchanged (same device, inode, size
//! and modification time: hashing gigabytes of text on every retrain would
//! cost more than parsing it).
//!
//! The copy is a cache and never a source of truth: anything wrong with it
//! (stale, truncated, a bad checksum, an index out of range, not a regular
//! file) makes the caller parse the text and write it again, and failing to
//! write it costs only the next retrain's time.
//!
//! Layout, little-endian: a header of twelve u64 (the magic `RECDDSC1`, the
//! version, the format, the ratings file's device, inode, size, mtime
//! seconds and nanoseconds, a hash of its path, then the counts of users,
//! movies and ratings), the users' and the movies' external ids, the
//! ratings' user indices, movie indices and values (u32, u32, f32), and a
//! CRC-32 of everything before it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{Format, Interner, Ratings};
use crate::movielens::ratings_file::check_rating;

const MAGIC: u64 = u64::from_le_bytes(*b"RECDDSC1");
const VERSION: u64 = 1;
const HEADER: usize = 12;

/// What identifies a ratings file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp([u64; 7]);

impl Stamp {
    pub fn of(ratings_file: &Path, format: Format) -> std::io::Result<Stamp> {
        let m = std::fs::metadata(ratings_file)?;
        // The same file named relative or absolute, or through a link, is
        // the same file.
        let path = std::fs::canonicalize(ratings_file)?;
        let path = path.as_os_str().as_encoded_bytes();
        Ok(Stamp([
            format as u64,
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime() as u64,
            m.mtime_nsec() as u64,
            crate::rng::fnv1a(path),
        ]))
    }
}

/// The arrays of a parsed dataset.
pub struct Arrays {
    pub users: Interner,
    pub movies: Interner,
    pub ratings: Ratings,
}

/// Why the copy was not used.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("absent")]
    Missing,
    #[error("made from another version of the ratings file")]
    Stale,
    #[error("damaged ({0})")]
    Damaged(String),
}

/// Read the copy at `path` if it was made from the file `stamp` describes.
pub fn read(path: &Path, stamp: Stamp) -> Result<Arrays, Unusable> {
    let damaged = |what: &str| Unusable::Damaged(what.to_owned());
    // Non-blocking and not following links: a FIFO or a device put in its
    // place is refused by the check below instead of hanging the open.
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(Unusable::Damaged(e.to_string())),
    };
    let meta = file
        .metadata()
        .map_err(|e| Unusable::Damaged(e.to_string()))?;
    if !meta.is_file() {
        return Err(damaged("not a regular file"));
    }
    let mut crc = crc32fast::Hasher::new();
    let mut header = [0u64; HEADER];
    fill(&mut file, bytemuck::cast_slice_mut(&mut header), &mut crc)?;
    let header = header.map(u64::from_le);
    if header[0] != MAGIC || header[1] != VERSION {
        return Err(damaged("not a dataset copy of this version"));
    }
    if header[2..9] != stamp.0 {
        return Err(Unusable::Stale);
    }
    let [n_users, n_movies, n] = [header[9], header[10], header[11]];
    let total_words = n_users
        .checked_add(n_movies)
        .and_then(|w| n.checked_mul(3).and_then(|r| r.checked_add(w)));
    let expected = total_words
        .and_then(|w| w.checked_mul(4))
        .and_then(|b| b.checked_add(8 * HEADER as u64 + 4));
    if expected != Some(meta.len())
        || n_users > u64::from(u32::MAX)
        || n_movies > u64::from(u32::MAX)
    {
        return Err(damaged("its length does not match its counts"));
    }
    // The length matched the counts, so these allocations are the file's size.
    let mut words = |count: u64| -> Result<Vec<u32>, Unusable> {
        let mut v = vec![0u32; count as usize];
        fill(&mut file, bytemuck::cast_slice_mut(&mut v), &mut crc)?;
        v.iter_mut().for_each(|x| *x = u32::from_le(*x));
        Ok(v)
    };
    let user_ids = words(n_users)?;
    let movie_ids = words(n_movies)?;
    let users = words(n)?;
    let items = words(n)?;
    let values: Vec<f32> = words(n)?.into_iter().map(f32::from_bits).collect();
    let mut stored = [0u8; 4];
    file.read_exact(&mut stored)
        .map_err(|e| Unusable::Damaged(e.to_string()))?;
    if u32::from_le_bytes(stored) != crc.finalize() {
        return Err(damaged("checksum mismatch"));
    }
    let in_range = |v: &[u32], n: u64| v.iter().all(|&x| u64::from(x) < n);
    if !in_range(&users, n_users) || !in_range(&items, n_movies) {
        return Err(damaged("an index out of range"));
    }
    if !values.iter().all(|&v| check_rating(v).is_ok()) {
        return Err(damaged("a rating off the scale"));
    }
    let (Some(users_in), Some(movies_in)) =
        (Interner::from_ids(user_ids), Interner::from_ids(movie_ids))
    else {
        return Err(damaged("an id listed twice"));
    };
    Ok(Arrays {
        users: users_in,
        movies: movies_in,
        ratings: Ratings {
            users,
            items,
            values,
        },
    })
}

fn fill(file: &mut File, into: &mut [u8], crc: &mut crc32fast::Hasher) -> Result<(), Unusable> {
    file.read_exact(into)
        .map_err(|e| Unusable::Damaged(e.to_string()))?;
    crc.update(into);
    Ok(())
}

/// Write the copy to `path` (through a temporary file renamed over it, so
/// a reader never sees half of one); on failure nothing is left behind.
pub fn write(path: &Path, stamp: Stamp, arrays: &Arrays) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = write_to(&tmp, stamp, arrays).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_to(tmp: &Path, stamp: Stamp, a: &Arrays) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(tmp)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut crc = crc32fast::Hasher::new();
    let mut put = |bytes: &[u8], out: &mut std::io::BufWriter<File>| {
        crc.update(bytes);
        out.write_all(bytes)
    };
    let r = &a.ratings;
    let mut header = vec![MAGIC, VERSION];
    header.extend(stamp.0);
    header.extend([a.users.len(), a.movies.len(), r.len()].map(|n| n as u64));
    for x in header {
        put(&x.to_le_bytes(), &mut out)?;
    }
    let values: &[u32] = bytemuck::cast_slice(&r.values);
    for words in [a.users.ids(), a.movies.ids(), &r.users, &r.items, values] {
        for chunk in words.chunks(1 << 16) {
            if cfg!(target_endian = "little") {
                put(bytemuck::cast_slice(chunk), &mut out)?;
            } else {
                let le: Vec<u32> = chunk.iter().map(|x| x.to_le()).collect();
                put(bytemuck::cast_slice(&le), &mut out)?;
            }
        }
    }
    let sum = crc.finalize();
    out.write_all(&sum.to_le_bytes())?;
    // Not synced: a copy cut short by a crash fails its length or checksum
    // and is rebuilt, which costs less than syncing a gigabyte every time.
    out.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

#[cfg(test)]
mod tests;
