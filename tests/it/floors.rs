//! The import graph of `src/`: every top-level module imports only from
//! modules on floors below its own, so no two import each other. A new
//! top-level module must be given its floor here.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules by floor, lowest first (docs/architecture.md).
const FLOORS: &[&[&str]] = &[
    &[
        "rng",
        "clock",
        "numeric",
        "movielens",
        "notify",
        "signals",
        "schedule",
    ],
    &["model"],
    &["store"],
    &["notifications"],
    &["config"],
    &["train", "logging"],
    &["protocol"],
    &["serving", "client"],
    &["lifecycle", "ctl"],
    &["server"],
    &["metrics", "http"],
    &["daemon"],
    &["cli"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// The top-level modules a file's code names as `crate::NAME` (comments
/// left out), including grouped `use crate::{a, b::c}`.
fn imports(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "bin" {
            continue;
        }
        let own = floor_of(&top).unwrap_or_else(|| panic!("src/{top} has no floor in this test"));
        for target in imports(&std::fs::read_to_string(&path).unwrap()) {
            let Some(floor) = floor_of(&target) else {
                continue;
            };
            if target != top && floor >= own {
                wrong.insert(format!("{} -> {target}", rel.display()), ());
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that go up or sideways: {:?}",
        wrong.keys()
    );
}
