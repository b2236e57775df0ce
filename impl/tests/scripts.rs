//! Scripted interaction tests: each `testdata/*.txt` is a short script whose
//! printed message flow and states are a golden snapshot, one readable
//! example per Figure-2 rule. See `script/mod.rs` for the commands.

mod script;

fn check(name: &str) {
    let path = format!("{}/tests/testdata/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let transcript = script::run(&text);
    insta::assert_snapshot!(name, transcript);
}

#[test]
fn election() {
    check("election");
}

#[test]
fn vote_rules() {
    check("vote_rules");
}

#[test]
fn replication() {
    check("replication");
}

#[test]
fn log_conflict() {
    check("log_conflict");
}

#[test]
fn stale_append() {
    check("stale_append");
}

#[test]
fn crash_restart() {
    check("crash_restart");
}

#[test]
fn previous_term_commit() {
    check("previous_term_commit");
}

#[test]
fn single_node() {
    check("single_node");
}
