//! Base datasets: a MovieLens directory turned into dense-indexed ratings and a
//! movie catalogue.
//!
//! It owns format detection (1M/10M `.dat`, 100K `u.data`, the CSV sets), text
//! decoding (ISO-8859-1 movie files come out as UTF-8) and the mapping of
//! external ids to dense indices. It never guesses silently: a directory with
//! no ratings file, an empty set or a malformed line is an error naming the
//! file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::movielens::ratings_file::{self, Layout, Record};
use crate::movielens::DatasetError;

/// Which MovieLens layout a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `ratings.dat` + `movies.dat` (1M, 10M).
    Dat,
    /// `u.data` + `u.item` (100K).
    Ml100k,
    /// `ratings.csv` + `movies.csv` (latest, 20M, 25M, 32M).
    Csv,
}

impl Format {
    pub fn detect(dir: &Path) -> Result<Format, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            });
        }
        [
            ("ratings.dat", Format::Dat),
            ("u.data", Format::Ml100k),
            ("ratings.csv", Format::Csv),
        ]
        .into_iter()
        .find(|(name, _)| dir.join(name).is_file())
        .map(|(_, f)| f)
        .ok_or_else(|| DatasetError::NotFound {
            dir: dir.to_owned(),
        })
    }

    fn ratings_file(self) -> (&'static str, Layout) {
        match self {
            Format::Dat => ("ratings.dat", Layout::DoubleColon),
            Format::Ml100k => ("u.data", Layout::Tab),
            Format::Csv => ("ratings.csv", Layout::Csv),
        }
    }
}

/// A catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movie {
    pub title: String,
    pub genres: String,
}

/// Ratings as parallel arrays of dense indices (12 bytes a rating).
#[derive(Debug, Default, Clone)]
pub struct Ratings {
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    pub values: Vec<f32>,
}

impl Ratings {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn push(&mut self, user: u32, item: u32, value: f32) {
        self.users.push(user);
        self.items.push(item);
        self.values.push(value);
    }
}

/// Maps sparse external numeric ids to dense indices in first-seen order.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    // Ids below DENSE_LIMIT use a direct table: MovieLens ids are small and
    // this is the hot path of loading (a hash lookup costs 3x as much).
    table: Vec<u32>,
    spill: HashMap<u32, u32>,
    ids: Vec<u32>,
}

const DENSE_LIMIT: u32 = 1 << 24;
const ABSENT: u32 = u32::MAX;

impl Interner {
    pub fn intern(&mut self, id: u32) -> u32 {
        if id < DENSE_LIMIT {
            let slot = id as usize;
            if slot >= self.table.len() {
                self.table
                    .resize((slot + 1).max(self.table.len() * 2), ABSENT);
            }
            if self.table[slot] == ABSENT {
                self.table[slot] = self.ids.len() as u32;
                self.ids.push(id);
            }
            self.table[slot]
        } else {
            let next = self.ids.len() as u32;
            let idx = *self.spill.entry(id).or_insert(next);
            if idx == next {
                self.ids.push(id);
            }
            idx
        }
    }

    pub fn get(&self, id: u32) -> Option<u32> {
        if id < DENSE_LIMIT {
            self.table
                .get(id as usize)
                .copied()
                .filter(|&i| i != ABSENT)
        } else {
            self.spill.get(&id).copied()
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// External ids by dense index.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

/// A loaded base dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dir: PathBuf,
    pub format: Format,
    pub users: Interner,
    pub movies: Interner,
    pub ratings: Ratings,
    /// Catalogue entries by movie id; movies nobody rated are kept too.
    pub catalogue: HashMap<u32, Movie>,
}

/// Only the movie catalogue of the MovieLens set in `dir`.
pub fn load_catalogue(dir: &Path) -> Result<HashMap<u32, Movie>, DatasetError> {
    load_catalogue_of(dir, Format::detect(dir)?)
}

fn load_catalogue_of(dir: &Path, format: Format) -> Result<HashMap<u32, Movie>, DatasetError> {
    match format {
        Format::Dat => read_catalogue(&dir.join("movies.dat"), parse_dat_movie),
        Format::Csv => read_catalogue(&dir.join("movies.csv"), parse_csv_movie),
        Format::Ml100k => read_100k_catalogue(dir),
    }
}

impl Dataset {
    /// Load the MovieLens set in `dir`, detected by its files.
    pub fn load(dir: &Path) -> Result<Dataset, DatasetError> {
        let format = Format::detect(dir)?;
        let catalogue = load_catalogue_of(dir, format)?;
        let (name, layout) = format.ratings_file();
        let mut users = Interner::default();
        let mut movies = Interner::default();
        let mut ratings = Ratings::default();
        ratings_file::read_path(&dir.join(name), Some(layout), |r: Record| {
            ratings.push(users.intern(r.user), movies.intern(r.movie), r.rating);
        })?;
        Ok(Dataset {
            dir: dir.to_owned(),
            format,
            users,
            movies,
            ratings,
            catalogue,
        })
    }

    /// Load a single ratings file (any layout, sniffed), for `recd eval`.
    pub fn load_ratings_file(path: &Path) -> Result<Dataset, DatasetError> {
        let mut users = Interner::default();
        let mut movies = Interner::default();
        let mut ratings = Ratings::default();
        ratings_file::read_path(path, None, |r: Record| {
            ratings.push(users.intern(r.user), movies.intern(r.movie), r.rating);
        })?;
        Ok(Dataset {
            dir: path.to_owned(),
            format: Format::Dat,
            users,
            movies,
            ratings,
            catalogue: HashMap::new(),
        })
    }
}

impl Dataset {
    /// The ratings as training input, in this dataset's index space.
    pub fn train_data(&self) -> super::sgd::TrainData<'_> {
        super::sgd::TrainData {
            n_users: self.users.len(),
            n_items: self.movies.len(),
            users: &self.ratings.users,
            items: &self.ratings.items,
            values: &self.ratings.values,
        }
    }

    /// `other`'s ratings in this dataset's index space; a user or movie this
    /// dataset lacks becomes `u32::MAX` (unknown to a model trained on it).
    pub fn reindex(&self, other: &Dataset) -> Ratings {
        let (users, movies) = (other.users.ids(), other.movies.ids());
        let r = &other.ratings;
        let mut out = Ratings::default();
        for ((&u, &i), &v) in r.users.iter().zip(&r.items).zip(&r.values) {
            let u = self.users.get(users[u as usize]).unwrap_or(u32::MAX);
            let i = self.movies.get(movies[i as usize]).unwrap_or(u32::MAX);
            out.push(u, i, v);
        }
        out
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

#[cfg(test)]
mod tests {
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
}
