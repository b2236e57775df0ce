//! Layering: module imports inside every workspace crate point one way.
//!
//! Each crate's `src/` is read as a module graph. The rule, applied at every
//! level of the module tree (the crate root's modules, and the children of
//! every directory module):
//!
//! * A file belongs to the module its path names (`a/b.rs` and `a/b/mod.rs`
//!   are `a::b`; `lib.rs` is the root). Binaries (`main.rs` beside a
//!   `lib.rs`, `src/bin/`) are separate crates that use the library by name,
//!   so they are not read.
//! * Every path that names an item of the crate (`crate::a::b::X`,
//!   `super::X`, `self::x::Y`, a child's name in a `use`) is resolved to the
//!   deepest module it names, following the `pub use` re-exports of the
//!   module it lands in (so `crate::X` re-exported from `a::X` counts as a
//!   use of `a`).
//! * A use from module `P` of module `T` is an edge between the two children
//!   of their deepest common ancestor that contain them (`a::x` using `b::y`
//!   is `a -> b`; `a::x` using `a::y` is `x -> y` among `a`'s children).
//! * A module using its own ancestor (`super::X`) or its own descendant (a
//!   parent's `mod child;`, `pub use child::X` re-exports and calls into its
//!   children) is no edge: a module and its children are one layer seen
//!   from outside, and the parent is where the children's shared items live.
//! * `#[cfg(test)]` modules (inline `mod tests { .. }` or `mod tests;` files)
//!   are not read: tests may use anything. Comments and string literals are
//!   not read either (doc links are not imports).
//!
//! Any strongly connected set of sibling modules is a cycle, reported with
//! every file and line that makes one of its edges.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod graph;
mod lex;

use graph::*;
use lex::*;

type Module = Vec<String>;

/// One use of a module by another: the file, line and path that make it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    file: String,
    line: usize,
    path: String,
}

/// The sibling graph at one level of the module tree: `parent`'s children,
/// and which uses which.
#[derive(Debug, Default)]
struct Level {
    edges: BTreeMap<(String, String), Vec<Use>>,
}

/// A cycle: sibling modules under `parent`, and the uses among them.
#[derive(Debug)]
struct Cycle {
    parent: Module,
    modules: Vec<String>,
    uses: Vec<(String, String, Use)>,
}

impl Cycle {
    fn name(&self, krate: &str) -> String {
        let names: Vec<String> = self
            .modules
            .iter()
            .map(|m| {
                let mut path = self.parent.clone();
                path.push(m.clone());
                path.join("::")
            })
            .collect();
        format!("{krate}: {}", names.join(", "))
    }
}

// ----------------------------------------------------------------- tests --

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("checker/ has a parent")
        .to_path_buf()
}

/// Every crate's `src/` in the workspace (any directory with a Cargo.toml
/// and a src/), as a path relative to the workspace root.
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            out.push(dir.join("src"));
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let skip = name.starts_with('.') || name == "target" || name == "src";
            if !skip && e.path().is_dir() {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn rust_files(src: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir)
            .expect("a readable src dir")
            .flatten()
        {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                let rel = path.strip_prefix(src).expect("under src").to_path_buf();
                out.push((rel, text));
            }
        }
    }
    out.sort();
    out
}

fn report(krate: &str, cycle: &Cycle) -> String {
    let mut s = format!("cycle among {}\n", cycle.name(krate));
    for (a, b, u) in &cycle.uses {
        let _ = writeln!(
            s,
            "  {a} -> {b}: {krate}/{}:{} uses {}",
            u.file, u.line, u.path
        );
    }
    s
}

#[test]
fn no_module_import_cycles_in_the_workspace() {
    let root = workspace_root();
    let crates = crate_sources(&root);
    assert!(
        crates.len() >= 6,
        "expected the workspace's crates, found {crates:?}"
    );
    let mut failures = String::new();
    for src in crates {
        let krate = src
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        for cycle in cycles(&rust_files(&src)) {
            failures.push_str(&report(&krate, &cycle));
        }
    }
    assert!(
        failures.is_empty(),
        "module import cycles (move the shared item into a module both use):\n{failures}"
    );
}

fn planted(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, s)| (PathBuf::from(p), s.to_string()))
        .collect();
    cycles(&files).iter().map(|c| c.name("k")).collect()
}

#[test]
fn a_planted_cycle_is_found_with_its_lines() {
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub struct B;\nfn f() -> crate::c::C { todo!() }\n"),
        ("c.rs", "pub struct C;\nuse super::a::{self, A};\n"),
    ];
    let vec: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, s)| (PathBuf::from(p), s.to_string()))
        .collect();
    let found = cycles(&vec);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name("k"), "k: a, b, c");
    let text = report("k", &found[0]);
    assert!(text.contains("a -> b: k/a.rs:1 uses crate::b::B"), "{text}");
    assert!(text.contains("b -> c: k/b.rs:2 uses crate::c::C"), "{text}");
    assert!(text.contains("c -> a: k/c.rs:2 uses super::a::A"), "{text}");
}

#[test]
fn a_cycle_among_a_dir_modules_children_and_through_a_re_export() {
    // `x::p` uses `x::q` by a re-export at the root; `x::q` uses `x::p`.
    let found = planted(&[
        ("lib.rs", "pub mod x;\npub use x::q::Q;\n"),
        ("x/mod.rs", "pub mod p;\npub mod q;\n"),
        ("x/p.rs", "pub struct P;\nfn f(_: crate::Q) {}\n"),
        ("x/q.rs", "pub struct Q;\nuse super::p::P;\n"),
    ]);
    assert_eq!(found, ["k: x::p, x::q"]);
}

#[test]
fn parents_tests_comments_and_one_way_uses_are_not_cycles() {
    let found = planted(&[
        // The parent declares and re-exports its children and calls them.
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub use a::A;\npub use b::*;\nfn f() { a::g(); }\n",
        ),
        // The child uses its parent's items, and `b` (one way).
        (
            "a.rs",
            "use super::A as _;\nuse crate::b::B;\npub struct A;\n",
        ),
        // `b` names `a` only in tests, comments and strings.
        (
            "b.rs",
            "//! See [`crate::a::A`].\npub struct B;\nconst S: &str = \"crate::a::A\";\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n#[cfg(test)]\nmod more;\n",
        ),
        ("b/more.rs", "use crate::a::A;\n"),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

/// The walk over real files sees real edges: spec/src as it is has no
/// cycle, and one planted use back from `ghost` to `properties` (which
/// uses `ghost`) is found as one.
#[test]
fn a_use_planted_in_the_real_spec_sources_makes_a_cycle() {
    let src = workspace_root().join("spec/src");
    let mut files = rust_files(&src);
    assert!(files.len() > 10, "spec/src read as {} files", files.len());
    assert!(cycles(&files).is_empty());
    let ghost = files
        .iter_mut()
        .find(|(p, _)| p.ends_with("ghost.rs"))
        .expect("spec/src/ghost.rs");
    ghost.1.push_str("\nuse crate::properties::all;\n");
    let found: Vec<String> = cycles(&files).iter().map(|c| c.name("spec")).collect();
    assert!(
        found
            .iter()
            .any(|c| c.contains("ghost") && c.contains("properties")),
        "{found:?}"
    );
}
