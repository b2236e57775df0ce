//! `raftcheck-raft-rs`: tikv/raft-rs through the harness, end to end.

use std::process::{Command, Output};

fn raftcheck_raft_rs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftcheck-raft-rs"))
        .args(args)
        .output()
        .expect("raftcheck-raft-rs runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A single server has no vote to lose (raft-rs's one role divergence
/// from the model): every transition conforms, crash and recovery, three
/// terms and proposals included.
#[test]
fn a_single_raft_rs_server_conforms_exhaustively() {
    let o = raftcheck_raft_rs(&[
        "conform",
        "--profile",
        "quick",
        "--servers",
        "1",
        "--crashes",
        "1",
        "--max-term",
        "3",
        "--max-log",
        "3",
        "--values",
        "2",
        "--threads",
        "1",
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("raft-rs against the model"), "{out}");
    assert!(out.contains("loosened: next-index"), "{out}");
    assert!(out.contains("never diverged"), "{out}");
}

/// Three servers: raft-rs's candidate turns follower once a majority
/// refuses it (the model's stays a candidate); with every loosening of the
/// adapter but `refused-candidate`, the harness reports it.
#[test]
fn a_candidate_refused_by_a_majority_is_reported_without_its_loosening() {
    let o = raftcheck_raft_rs(&[
        "conform",
        "--profile",
        "quick",
        "--threads",
        "1",
        "--strict",
        "--loosen",
        "next-index,commit-index,messages-sent",
    ]);
    let out = stdout(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("RequestVoteResponse(t1, refused)"), "{out}");
    assert!(out.contains(".role"), "{out}");
    assert!(!out.contains("loosened: refused-candidate"), "{out}");
}

/// With raft-rs's loosenings (refused-candidate among them), three servers
/// conform on every transition of `quick`.
#[test]
fn three_raft_rs_servers_conform_at_quick_with_their_loosenings() {
    let o = raftcheck_raft_rs(&["conform", "--profile", "quick", "--threads", "2", "-q"]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("loosened: refused-candidate"), "{out}");
    assert!(out.contains("never diverged"), "{out}");
}

/// Under raft-rs's own variant nothing is loosened, and three servers
/// conform on every transition of `quick`.
#[test]
fn three_raft_rs_servers_conform_at_quick_under_the_raft_rs_variant() {
    let o = raftcheck_raft_rs(&[
        "conform",
        "--profile",
        "quick",
        "--variant",
        "raft-rs",
        "--threads",
        "2",
        "-q",
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("variant=raft-rs"), "{out}");
    assert!(!out.contains("loosened"), "{out}");
    assert!(out.contains("never diverged"), "{out}");
    // Every message the model sends, raft-rs sends: none counted as lost.
    assert!(!out.contains("messages lost"), "{out}");
}

/// raft-rs's known deviation from its model replays to its divergence:
/// nextIndex at matchIndex after a stale rejection.
#[test]
fn the_next_index_deviation_replays_to_its_divergence() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../counterexamples/raft-rs/next-index-below-match.json"
    );
    let o = raftcheck_raft_rs(&["replay", file]);
    let out = stdout(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("divergence at step 13"), "{out}");
    assert!(out.contains("s0.next_index"), "{out}");
    assert!(out.contains("variant=raft-rs"), "{out}");
}

/// raft-core implements only the paper: `raftcheck conform` refuses any
/// other variant up front, with a usage error (exit 2), not a divergence.
#[test]
fn raft_core_conformance_refuses_the_raft_rs_variant() {
    let o = Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .args(["conform", "--profile", "quick", "--variant", "raft-rs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("raft-core does not implement variant raft-rs"),
        "{err}"
    );
}
