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

/// The crate's normal dependencies are exactly these pure-data crates; an
/// async runtime, clock or I/O crate would have to be added here on purpose.
#[test]
fn core_dependencies_are_pure() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("read Cargo.toml");
    let deps: Vec<&str> = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.split(['=', '.']).next().unwrap().trim())
        .collect();
    assert_eq!(deps, ["serde", "thiserror", "bytes"]);
}
