//! The movie catalogue of a MovieLens set: `movies.dat`, `movies.csv` or
//! `u.item` with `u.genre`, decoded to UTF-8 (ISO-8859-1 files included).
//!
//! A missing movie file is an empty catalogue (titles are optional in a
//! model); a malformed line is an error naming the file and line, never a
//! guess.

use std::collections::HashMap;
use std::path::Path;

use super::Format;
use crate::movielens::DatasetError;

/// A catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movie {
    pub title: String,
    pub genres: String,
}

/// Only the movie catalogue of the MovieLens set in `dir`.
pub fn load_catalogue(dir: &Path) -> Result<HashMap<u32, Movie>, DatasetError> {
    load_catalogue_of(dir, Format::detect(dir)?)
}

pub(super) fn load_catalogue_of(
    dir: &Path,
    format: Format,
) -> Result<HashMap<u32, Movie>, DatasetError> {
    match format {
        Format::Dat => read_catalogue(&dir.join("movies.dat"), parse_dat_movie),
        Format::Csv => read_catalogue(&dir.join("movies.csv"), parse_csv_movie),
        Format::Ml100k => read_100k_catalogue(dir),
    }
}

/// Decode a text file: UTF-8 when it is valid UTF-8, else ISO-8859-1 (which
/// maps every byte to the code point of the same value).
pub fn decode_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// A missing movie file is not an error: titles are optional in the model.
fn read_catalogue(
    path: &Path,
    parse: impl Fn(&str) -> Result<(u32, Movie), String>,
) -> Result<HashMap<u32, Movie>, DatasetError> {
    let Some(text) = read_optional(path)? else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (n == 0 && path.extension().is_some_and(|e| e == "csv")) {
            continue;
        }
        let (id, movie) =
            parse(line.trim_end_matches('\r')).map_err(|what| DatasetError::Malformed {
                path: path.to_owned(),
                line: n as u64 + 1,
                what,
            })?;
        out.insert(id, movie);
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, DatasetError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(decode_text(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DatasetError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse_movie_id(field: &str) -> Result<u32, String> {
    field
        .trim()
        .parse()
        .map_err(|_| format!("movie id '{field}' is not a whole number"))
}

fn parse_dat_movie(line: &str) -> Result<(u32, Movie), String> {
    let mut parts = line.splitn(3, "::");
    let id = parse_movie_id(parts.next().unwrap_or_default())?;
    let title = parts
        .next()
        .ok_or("missing field 'title' (expected id::title::genres)")?;
    let genres = parts
        .next()
        .ok_or("missing field 'genres' (expected id::title::genres)")?;
    Ok((id, movie(title, genres)))
}

fn parse_csv_movie(line: &str) -> Result<(u32, Movie), String> {
    let fields = split_csv(line)?;
    let [id, title, genres] = fields.as_slice() else {
        return Err(format!(
            "expected 3 fields (movieId,title,genres), found {}",
            fields.len()
        ));
    };
    Ok((parse_movie_id(id)?, movie(title, genres)))
}

fn movie(title: &str, genres: &str) -> Movie {
    let genres = if genres == "(no genres listed)" {
        ""
    } else {
        genres
    };
    Movie {
        title: title.trim().to_owned(),
        genres: genres.trim().to_owned(),
    }
}

/// Split one CSV line (RFC 4180 quoting, `""` for a quote inside quotes).
pub fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote".into());
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

/// An index is a position among `u.item`'s genre flags (MovieLens has 19);
/// a larger one is damage, and would size the table of names by itself.
const MAX_GENRE_INDEX: usize = 1023;

/// `u.item` is `id|title|release|video release|url|19 genre flags`; the
/// genre names come from `u.genre` (`name|index`).
fn read_100k_catalogue(dir: &Path) -> Result<HashMap<u32, Movie>, DatasetError> {
    let genre_path = dir.join("u.genre");
    let mut genre_names: Vec<String> = Vec::new();
    if let Some(text) = read_optional(&genre_path)? {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (name, index) = line
                .rsplit_once('|')
                .ok_or_else(|| DatasetError::Malformed {
                    path: genre_path.clone(),
                    line: n as u64 + 1,
                    what: "expected name|index".into(),
                })?;
            let index: usize = index.trim().parse().map_err(|_| DatasetError::Malformed {
                path: genre_path.clone(),
                line: n as u64 + 1,
                what: format!("genre index '{index}' is not a whole number"),
            })?;
            if index > MAX_GENRE_INDEX {
                return Err(DatasetError::Malformed {
                    path: genre_path.clone(),
                    line: n as u64 + 1,
                    what: format!(
                        "genre index {index} is out of range (at most {MAX_GENRE_INDEX})"
                    ),
                });
            }
            if genre_names.len() <= index {
                genre_names.resize(index + 1, String::new());
            }
            genre_names[index] = name.to_owned();
        }
    }
    read_catalogue(&dir.join("u.item"), |line| {
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() < 2 {
            return Err("expected id|title|release date|...".into());
        }
        let id = parse_movie_id(fields[0])?;
        let flags = fields.get(5..).unwrap_or_default();
        let genres: Vec<&str> = flags
            .iter()
            .enumerate()
            .filter(|(_, f)| f.trim() == "1")
            .filter_map(|(i, _)| genre_names.get(i).map(String::as_str))
            .filter(|g| !g.is_empty() && *g != "unknown")
            .collect();
        Ok((id, movie(fields[1], &genres.join("|"))))
    })
}
