//! The scripted tests: every `testdata/*.txt` runs on the model and on the
//! implementation, which must print the same transcript, the one the file
//! expects. `REWRITE=1 cargo test -p raftcheck --test scripts` writes the
//! transcripts into the files instead (review the diff before committing).
//! See `raftcheck::script` for the format and the commands.

use std::path::Path;

#[test]
fn scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let rewrite = std::env::var_os("REWRITE").is_some_and(|v| !v.is_empty() && v != "0");
    match raftcheck::script::walk(&dir, rewrite) {
        Ok(files) => assert!(files >= 8, "only {files} scripts in {}", dir.display()),
        Err(report) => panic!("{report}"),
    }
}
