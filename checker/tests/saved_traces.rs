//! The commands that read and write trace files, run as a person runs them:
//! `replay` (its verdict wording and JSON) and `check --save`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn raftcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raftcheck-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn replay_json_has_ok_matching_the_exit_code() {
    let out = raftcheck(&[
        "replay",
        "counterexamples/double-vote.json",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    // A planted fault: the replay fails, and `ok` says so.
    let out = raftcheck(&[
        "replay",
        "counterexamples/double-vote.json",
        "--perturb",
        "wrong-peer",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
}

#[test]
fn a_divergence_before_the_wrong_rule_fires_is_a_conformance_failure() {
    // The harness fault makes the implementation diverge at step 1, long
    // before double-vote's wrong rule fires at step 8.
    let out = raftcheck(&[
        "replay",
        "counterexamples/double-vote.json",
        "--perturb",
        "wrong-peer",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("divergence at step 1"), "{text}");
    assert!(!text.contains("follows the correct rule"), "{text}");
    assert!(!text.contains("refuses"), "{text}");
    assert!(
        text.contains(
            "result: DIVERGED at step 1, before the wrong rule `double-vote` fires (step 8): \
             a conformance failure"
        ),
        "{text}"
    );
    // Where the wrong rule does fire, the refusal is reported as such.
    let out = raftcheck(&["replay", "counterexamples/double-vote.json"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("divergence at step 8"), "{text}");
    assert!(text.contains("it follows the correct rule"), "{text}");
}

#[test]
fn replay_refuses_an_empty_trace_instead_of_printing_two_verdicts() {
    let dir = temp_dir("empty");
    let file = dir.join("empty.json");
    let mut t = raftcheck::trace::Trace::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../counterexamples/double-vote.json"),
    )
    .unwrap();
    t.steps.clear();
    std::fs::write(&file, t.to_json()).unwrap();
    let out = raftcheck(&["replay", file.to_str().unwrap()]);
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("never diverged"), "{text}");
    assert!(err.contains("stored verdict is wrong"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_save_writes_a_trace_that_explore_and_replay_accept() {
    let dir = temp_dir("save");
    let file = dir.join("cx.json");
    let f = file.to_str().unwrap();
    let bounds = [
        "--servers",
        "3",
        "--max-term",
        "2",
        "--max-log",
        "2",
        "--batch",
        "1",
        "--values",
        "0",
        "--crashes",
        "0",
        "--in-flight",
        "2",
        "--network",
        "lossy",
    ];
    let mut args = vec!["check", "--quiet", "--threads", "2"];
    args.extend(bounds);
    let out = raftcheck(&[&args[..], &["--bug", "double-vote", "--save", f]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let saved = raftcheck::trace::Trace::load(&file).unwrap();
    assert_eq!(saved.property, raft_spec::properties::ELECTION_SAFETY);
    assert_eq!(saved.config.bug, Some(raft_spec::Bug::DoubleVote));
    assert!(saved.replay().is_ok());
    // The same shortest counterexample as the shipped one.
    let shipped = raftcheck::trace::Trace::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../counterexamples/double-vote.json"),
    )
    .unwrap();
    assert_eq!(saved.steps.len(), shipped.steps.len());
    assert_eq!(raftcheck(&["replay", f]).status.code(), Some(0));

    // Correct Raft: nothing to save, and nothing written.
    std::fs::remove_file(&file).unwrap();
    let out = raftcheck(&[&args[..], &["--save", f]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no counterexample to save"));
    assert!(!file.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
