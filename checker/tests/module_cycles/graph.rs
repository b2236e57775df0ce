//! The module graph of a crate and its cycles.

use super::*;

/// One source file of a crate, read.
pub(super) struct File {
    name: String,
    module: Module,
    found: Vec<Found>,
}

/// The module a file path (relative to `src/`) is, or `None` for a binary.
pub(super) fn module_of(rel: &Path, has_lib: bool) -> Option<Module> {
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
pub(super) fn cycles(files: &[(PathBuf, String)]) -> Vec<Cycle> {
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
pub(super) fn strongly_connected(
    edges: &BTreeMap<(String, String), Vec<Use>>,
) -> Vec<BTreeSet<String>> {
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
