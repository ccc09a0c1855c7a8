//! The synthetic sets of real shapes the scale benches train on, generated
//! by `recd synth --seed 1` and reused when present.

use std::path::{Path, PathBuf};

use super::run::recd;

/// A synthetic set's shape: the real set whose counts it copies.
#[derive(Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    pub users: u32,
    pub items: u32,
    pub ratings: u64,
}

pub const SHAPES: [Shape; 5] = [
    Shape::of("ml-100k", 943, 1_682, 100_000),
    Shape::of("ml-1m", 6_040, 3_706, 1_000_209),
    Shape::of("ml-10m", 69_878, 10_677, 10_000_054),
    Shape::of("ml-25m", 162_541, 59_047, 25_000_095),
    Shape::of("netflix", 480_189, 17_770, 100_480_507),
];

impl Shape {
    const fn of(name: &'static str, users: u32, items: u32, ratings: u64) -> Shape {
        Shape {
            name,
            users,
            items,
            ratings,
        }
    }

    /// The shapes named in a comma-separated `list`, in size order; panics
    /// naming an unknown one.
    pub fn list(list: &str) -> Vec<Shape> {
        let names: Vec<&str> = list.split(',').filter(|s| !s.is_empty()).collect();
        for n in &names {
            assert!(
                SHAPES.iter().any(|s| s.name == *n),
                "unknown shape {n}: one of {}",
                SHAPES.map(|s| s.name).join(", ")
            );
        }
        SHAPES
            .into_iter()
            .filter(|s| names.contains(&s.name))
            .collect()
    }

    /// The shape called `name`; panics naming the known ones.
    pub fn named(name: &str) -> Shape {
        Shape::list(name)[0]
    }

    /// The set under `root`, generated unless already there.
    pub fn synth(&self, root: &Path) -> PathBuf {
        let data = root.join(self.name);
        if !data.join("ratings.dat").exists() {
            let (u, i, r) = (
                self.users.to_string(),
                self.items.to_string(),
                self.ratings.to_string(),
            );
            let out = data.to_str().expect("a UTF-8 path");
            let args = [
                "synth",
                "--users",
                &u,
                "--items",
                &i,
                "--ratings",
                &r,
                "--seed",
                "1",
                "--out",
                out,
            ];
            let ran = recd(&args);
            eprintln!("{}: generated in {:.1} s", self.name, ran.wall);
        }
        data
    }
}
