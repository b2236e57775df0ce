//! The core must stay sans-IO: no clocks, threads, sockets, files or async
//! runtime, in its own source or in its dependencies. These checks read the
//! source and the manifest, so a forbidden import fails `cargo test`.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::time",
    "std::thread",
    "std::process",
    "std::env",
    "tokio",
    "async fn",
    "Instant",
    "SystemTime",
    "rand::",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read core dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_have_no_io_clock_or_thread_imports() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(
        files.len() >= 5,
        "expected the core's modules under {core:?}"
    );
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for word in FORBIDDEN {
                if line.contains(word) {
                    offenders.push(format!("{}: `{word}` in `{}`", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the core must stay sans-IO:\n{}",
        offenders.join("\n")
    );
}

/// The core's `use` declarations may only name the standard library's pure
/// modules, the core itself, and the pure-data crates `serde`, `thiserror` and
/// `bytes`. The crate as a whole also carries the runtime (storage, transport,
/// server) and its I/O dependencies; this check keeps them out of the core.
#[test]
fn core_imports_only_pure_crates() {
    const ALLOWED_ROOTS: &[&str] = &[
        "std",
        "core",
        "alloc",
        "super",
        "crate",
        "self",
        "serde",
        "thiserror",
        "bytes",
    ];
    const ALLOWED_STD: &[&str] = &[
        "collections",
        "fmt",
        "cmp",
        "mem",
        "ops",
        "iter",
        "slice",
        "convert",
        "hash",
        "borrow",
        "num",
        "error",
        "marker",
        "option",
        "result",
        "vec",
    ];
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    // The core's own submodules (`mod election;`) are fine roots too.
    let mut local_mods = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for line in text.lines().map(str::trim) {
            if let Some(name) = line
                .strip_prefix("mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .and_then(|rest| rest.strip_suffix(';'))
            {
                local_mods.push(name.to_string());
            }
        }
    }
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        // `use` declarations may span lines: join each one up to its `;`.
        let mut decl = String::new();
        for line in text.lines().map(str::trim) {
            if decl.is_empty() && !(line.starts_with("use ") || line.starts_with("pub use ")) {
                if line.starts_with("extern crate") {
                    offenders.push(format!("{}: `{line}`", file.display()));
                }
                continue;
            }
            decl.push_str(line);
            if !line.ends_with(';') {
                continue;
            }
            let path = decl
                .trim_start_matches("pub ")
                .trim_start_matches("use ")
                .trim_start_matches("::");
            let (root, rest) = path.split_once("::").unwrap_or((path, ""));
            let ok = if ["std", "core", "alloc"].contains(&root) {
                // `std::fmt;`, `std::collections::X;`, `std::{fmt, mem};`
                let rest = rest.trim_end_matches(';');
                let modules: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .trim_end_matches('}')
                        .split(',')
                        .map(|m| m.trim().split("::").next().unwrap_or(""))
                        .filter(|m| !m.is_empty())
                        .collect(),
                    None => vec![rest.split("::").next().unwrap_or("")],
                };
                modules.iter().all(|m| ALLOWED_STD.contains(m))
            } else {
                ALLOWED_ROOTS.contains(&root) || local_mods.iter().any(|m| m == root)
            };
            if !ok {
                offenders.push(format!("{}: `{decl}`", file.display()));
            }
            decl.clear();
        }
    }
    assert!(
        offenders.is_empty(),
        "the core may only import pure std modules, serde, thiserror and bytes:\n{}",
        offenders.join("\n")
    );
}
