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

// ---------------------------------------------------------------- lexing --

/// The source with comments, string and char literals blanked out (newlines
/// kept, so line numbers stay right).
fn blank_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j.min(b.len()));
            i = j;
        } else if b[i] == b'r'
            && (i == 0 || !is_ident(b[i - 1]))
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
        {
            // A raw string r"..", r#".."#.
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.resize(1 + hashes, b'#');
            let start = i + 2 + hashes;
            let end = b[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| start + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, (j + 1).min(b.len()));
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                // A multi-byte char: find the quote within 5 bytes.
                b[i + 1..(i + 6).min(b.len())]
                    .iter()
                    .position(|&c| c == b'\'')
                    .filter(|_| b[i + 1] >= 0x80)
                    .map(|p| i + 2 + p)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(String),
}

/// Identifiers and punctuation with their line; `::` is one token.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), line));
        } else if b[i..].starts_with(b"::") {
            out.push((Tok::Punct("::".into()), line));
            i += 2;
        } else {
            let len = src[i..].chars().next().map_or(1, char::len_utf8);
            out.push((Tok::Punct(src[i..i + len].to_string()), line));
            i += len;
        }
    }
    out
}

fn is_punct(t: Option<&(Tok, usize)>, p: &str) -> bool {
    matches!(t, Some((Tok::Punct(q), _)) if q == p)
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// The tokens without `#[cfg(test)]` items, and the names of the
/// `#[cfg(test)] mod x;` file modules.
fn without_test_items(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut test_files = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let is_cfg_test = is_punct(toks.get(i), "#")
            && is_punct(toks.get(i + 1), "[")
            && ident(toks.get(i + 2)) == Some("cfg")
            && is_punct(toks.get(i + 3), "(")
            && ident(toks.get(i + 4)) == Some("test")
            && is_punct(toks.get(i + 5), ")")
            && is_punct(toks.get(i + 6), "]");
        if !is_cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        // Skip the item: to its `;` or its matching `}`.
        let mut j = i + 7;
        let is_mod = (j..toks.len())
            .take_while(|&k| !is_punct(toks.get(k), ";") && !is_punct(toks.get(k), "{"))
            .find(|&k| ident(toks.get(k)) == Some("mod"));
        let mut depth = 0;
        while j < toks.len() {
            if is_punct(toks.get(j), "{") {
                depth += 1;
            } else if is_punct(toks.get(j), "}") {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            } else if is_punct(toks.get(j), ";") && depth == 0 {
                if let Some(k) = is_mod {
                    if let Some(name) = ident(toks.get(k + 1)) {
                        test_files.insert(name.to_string());
                    }
                }
                break;
            }
            j += 1;
        }
        i = j + 1;
    }
    (out, test_files)
}

/// A path found in a file: its segments as written (first one `crate`,
/// `super`, `self` or a name) and the line.
#[derive(Debug, Clone)]
struct Found {
    segs: Vec<String>,
    line: usize,
    /// A `pub use`, and the name it exports (`None` for a glob).
    export: Option<Option<String>>,
}

/// Expands one use tree starting at `i` (after `use` or inside `{`), with
/// `prefix` already read. Returns the index after the tree.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    public: bool,
    found: &mut Vec<Found>,
) -> usize {
    let mut segs = prefix;
    let line = toks.get(i).map_or(0, |t| t.1);
    if is_punct(toks.get(i), "::") {
        i += 1;
    }
    loop {
        if is_punct(toks.get(i), "{") {
            i += 1;
            while !is_punct(toks.get(i), "}") && i < toks.len() {
                i = use_tree(toks, i, segs.clone(), public, found);
                if is_punct(toks.get(i), ",") {
                    i += 1;
                }
            }
            return i + 1;
        }
        if is_punct(toks.get(i), "*") {
            let export = public.then_some(None);
            found.push(Found { segs, line, export });
            return i + 1;
        }
        let Some(name) = ident(toks.get(i)) else {
            return i;
        };
        segs.push(name.to_string());
        i += 1;
        if is_punct(toks.get(i), "::") {
            i += 1;
            continue;
        }
        let mut exported = name.to_string();
        if ident(toks.get(i)) == Some("as") {
            if let Some(alias) = ident(toks.get(i + 1)) {
                exported = alias.to_string();
            }
            i += 2;
        }
        if segs.last().map(String::as_str) == Some("self") {
            segs.pop();
        }
        let export = public.then_some(Some(exported));
        found.push(Found { segs, line, export });
        return i;
    }
}

/// Every path in a file that may name an item of the crate.
fn paths(toks: &[(Tok, usize)]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if ident(toks.get(i)) == Some("use") {
            // `pub use`, `pub(crate) use`: a re-export.
            let public = (i >= 1 && ident(toks.get(i - 1)) == Some("pub"))
                || (i >= 4
                    && ident(toks.get(i - 4)) == Some("pub")
                    && is_punct(toks.get(i - 1), ")"));
            i = use_tree(toks, i + 1, Vec::new(), public, &mut found);
            continue;
        }
        let starts = matches!(ident(toks.get(i)), Some("crate" | "super"))
            && is_punct(toks.get(i + 1), "::")
            && !(i >= 1 && is_punct(toks.get(i - 1), "::"));
        if starts {
            let line = toks[i].1;
            let mut segs = vec![ident(toks.get(i)).unwrap_or_default().to_string()];
            let mut j = i + 1;
            while is_punct(toks.get(j), "::") {
                match ident(toks.get(j + 1)) {
                    Some(s) => segs.push(s.to_string()),
                    None => break,
                }
                j += 2;
            }
            found.push(Found {
                segs,
                line,
                export: None,
            });
            i = j;
            continue;
        }
        i += 1;
    }
    found
}

// --------------------------------------------------------------- the graph --

/// One source file of a crate, read.
struct File {
    name: String,
    module: Module,
    found: Vec<Found>,
}

/// The module a file path (relative to `src/`) is, or `None` for a binary.
fn module_of(rel: &Path, has_lib: bool) -> Option<Module> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.first().map(String::as_str) == Some("bin") {
        return None;
    }
    let mut module: Module = parts.clone();
    let last = module.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match (module.is_empty(), stem) {
        (true, "lib") => {}
        (true, "main") if has_lib => return None,
        (true, "main") => {}
        (_, "mod") => {}
        _ => module.push(stem.to_string()),
    }
    Some(module)
}

/// The cycles among the modules of one crate, given its files (path relative
/// to `src/`, contents).
fn cycles(files: &[(PathBuf, String)]) -> Vec<Cycle> {
    let has_lib = files.iter().any(|(p, _)| p == Path::new("lib.rs"));
    let mut read = Vec::new();
    let mut test_modules: BTreeSet<Module> = BTreeSet::new();
    for (rel, src) in files {
        let Some(module) = module_of(rel, has_lib) else {
            continue;
        };
        let (toks, tests) = without_test_items(tokens(&blank_comments_and_strings(src)));
        for t in tests {
            let mut m = module.clone();
            m.push(t);
            test_modules.insert(m);
        }
        read.push(File {
            name: rel.to_string_lossy().into_owned(),
            module,
            found: paths(&toks),
        });
    }
    read.retain(|f| !test_modules.iter().any(|t| f.module.starts_with(t)));
    let modules: BTreeSet<Module> = read.iter().map(|f| f.module.clone()).collect();

    // Absolute paths, then each module's re-exports: name -> target path.
    let absolute = |from: &Module, segs: &[String]| -> Option<Vec<String>> {
        let mut base = from.clone();
        let mut rest = segs;
        match segs.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &segs[1..];
            }
            Some("self") => rest = &segs[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                // A name: the module's own child, or another crate.
                let mut child = from.clone();
                child.push(first.to_string());
                if !modules.contains(&child) {
                    return None;
                }
            }
            None => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    };
    let mut exports: BTreeMap<(Module, String), Vec<String>> = BTreeMap::new();
    for f in &read {
        for found in &f.found {
            if let Some(Some(name)) = &found.export {
                if let Some(path) = absolute(&f.module, &found.segs) {
                    exports.insert((f.module.clone(), name.clone()), path);
                }
            }
        }
    }
    // The deepest module a path names, through re-exports.
    let target = |mut path: Vec<String>| -> Module {
        for _ in 0..8 {
            let depth = (0..=path.len())
                .rev()
                .find(|&n| modules.contains(&path[..n]))
                .unwrap_or(0);
            let module = path[..depth].to_vec();
            let Some(next) = path.get(depth) else {
                return module;
            };
            match exports.get(&(module.clone(), next.clone())) {
                Some(to) if to != &path[..=depth] => {
                    let mut p = to.clone();
                    p.extend(path[depth + 1..].iter().cloned());
                    path = p;
                }
                _ => return module,
            }
        }
        path
    };

    let mut levels: BTreeMap<Module, Level> = BTreeMap::new();
    for f in &read {
        for found in &f.found {
            let Some(path) = absolute(&f.module, &found.segs) else {
                continue;
            };
            let to = target(path);
            let common = f.module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == f.module.len() || common == to.len() {
                continue; // an ancestor or a descendant
            }
            levels
                .entry(f.module[..common].to_vec())
                .or_default()
                .edges
                .entry((f.module[common].clone(), to[common].clone()))
                .or_default()
                .push(Use {
                    file: f.name.clone(),
                    line: found.line,
                    path: found.segs.join("::"),
                });
        }
    }

    let mut out = Vec::new();
    for (parent, level) in levels {
        for scc in strongly_connected(&level.edges) {
            let uses = level
                .edges
                .iter()
                .filter(|((a, b), _)| scc.contains(a) && scc.contains(b))
                .flat_map(|((a, b), uses)| {
                    uses.iter().map(move |u| (a.clone(), b.clone(), u.clone()))
                })
                .collect();
            out.push(Cycle {
                parent: parent.clone(),
                modules: scc.into_iter().collect(),
                uses,
            });
        }
    }
    out
}

/// The strongly connected components with more than one node (Tarjan).
fn strongly_connected(edges: &BTreeMap<(String, String), Vec<Use>>) -> Vec<BTreeSet<String>> {
    let mut nodes: BTreeSet<&String> = BTreeSet::new();
    let mut succ: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        nodes.insert(a);
        nodes.insert(b);
        succ.entry(a).or_default().push(b);
    }
    struct State<'a> {
        index: BTreeMap<&'a String, usize>,
        low: BTreeMap<&'a String, usize>,
        stack: Vec<&'a String>,
        on_stack: BTreeSet<&'a String>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(v: &'a String, succ: &BTreeMap<&'a String, Vec<&'a String>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in succ.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, succ, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.insert(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(v, &succ, &mut s);
        }
    }
    s.out
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
