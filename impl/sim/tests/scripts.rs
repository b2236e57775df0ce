//! Scripted interaction tests: each `testdata/*.txt` is a short script whose
//! printed message flow and states are a golden snapshot, one readable
//! example per Figure-2 rule. See `script/mod.rs` for the commands.

mod script;

fn check(name: &str) {
    let path = format!("{}/tests/testdata/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let transcript = script::run(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
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

/// A node whose election timer fires before every round keeps the cluster
/// from settling: `stabilize` fails after its bound with what is in flight,
/// rather than delivering until the machine runs out of memory.
#[test]
fn stabilize_that_cannot_settle_fails_with_a_message() {
    let err = script::run("start 3\nkeep-campaigning 3\nstabilize 50\n").unwrap_err();
    assert!(
        err.contains("script failed at `stabilize 50`: stabilize did not settle in 50 rounds: "),
        "{err}"
    );
    // Node 3 campaigned every round, 50 elections, and never counted the
    // votes of the last one.
    let left = "2 messages still in flight (oldest: 1->3 RequestVoteResponse term=50 granted";
    assert!(err.contains(left), "{err}");
    // The default bound applies without a count too.
    let err = script::run("start 3\nkeep-campaigning 3\nstabilize\n").unwrap_err();
    assert!(err.contains("did not settle in 1000 rounds"), "{err}");
}
