//! The gate fails on a broken protocol rule, and its Markdown and JUnit
//! reports name the broken property and carry the sequence diagram.

use raft_spec::{Bug, Profile};
use raftcheck::gate::{self, GateConfig, GateRun, Part};

fn gate_with(bug: Option<Bug>, out_dir: &std::path::Path) -> gate::GateReport {
    let mut config = Profile::Quick.config();
    config.bug = bug;
    let gc = GateConfig {
        model_checks: GateRun::single(config.clone()),
        conformance_runs: GateRun::single(config.clone()),
        config,
        parts: vec![Part::ModelCheck, Part::Coverage, Part::StateSpace],
        counterexamples: "../counterexamples".into(),
        snapshot: "tests/snapshots/check__quick_profile.snap".into(),
        out_dir: out_dir.to_path_buf(),
        // One thread: the shortest counterexample found is then always the same.
        threads: 1,
        show_progress: false,
        command: "raftcheck gate --profile quick".into(),
        ..GateConfig::default()
    };
    let mut report = gate::run(&gc).unwrap();
    // Timings vary from run to run; the snapshots pin everything else.
    report.seconds = 0.0;
    for c in &mut report.cases {
        c.seconds = 0.0;
    }
    report
}

#[test]
fn a_broken_rule_fails_the_gate_with_readable_reports() {
    let dir = tempfile_dir("broken");
    let report = gate_with(Some(Bug::DoubleVote), &dir);
    assert!(!report.ok);
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["election safety"]);

    let markdown = gate::render_markdown(&report);
    assert!(markdown.contains("❌ FAILED"));
    assert!(markdown.contains("#### model check: election safety"));
    assert!(markdown.contains("```mermaid\nsequenceDiagram"));
    assert!(markdown.contains("Reproduce locally: `raftcheck check --servers 3"));
    assert!(markdown.contains("--bug double-vote"));
    let trace = dir.join("election-safety.json");
    assert!(markdown.contains(&format!("raftcheck explore {}", trace.display())));
    // The saved trace loads and is the counterexample.
    let loaded = raftcheck::trace::Trace::load(&trace).unwrap();
    assert_eq!(loaded.property, "election safety");

    let junit = gate::render_junit(&report);
    assert!(
        junit.contains("<testcase classname=\"raftcheck.model-check\" name=\"election safety\"")
    );
    assert!(junit.contains("<failure message=\"always violated at depth"));
    assert!(junit.contains("sequenceDiagram"));

    let stable = |s: &str| s.replace(&dir.display().to_string(), "OUT");
    insta::assert_snapshot!("broken_rule_markdown", stable(&markdown));
    insta::assert_snapshot!("broken_rule_junit", stable(&junit));
}

#[test]
fn correct_raft_passes_the_gate() {
    let dir = tempfile_dir("correct");
    let report = gate_with(None, &dir);
    assert!(report.ok, "{}", gate::render_text(&report));
    let junit = gate::render_junit(&report);
    assert!(junit.contains("failures=\"0\""));
}

#[test]
fn the_state_space_guard_reads_the_reviewed_snapshot() {
    let n =
        gate::snapshot_unique_states("tests/snapshots/check__quick_profile.snap".as_ref()).unwrap();
    assert!(n > 10_000);
    let err = gate::snapshot_unique_states("tests/no-such.snap".as_ref()).unwrap_err();
    assert!(err
        .to_string()
        .contains("cannot read the state-space snapshot"));
}

fn replay_part(counterexamples: &std::path::Path) -> gate::GateReport {
    let config = Profile::Quick.config();
    let gc = GateConfig {
        model_checks: GateRun::single(config.clone()),
        conformance_runs: GateRun::single(config.clone()),
        config,
        parts: vec![Part::Replay],
        counterexamples: counterexamples.to_path_buf(),
        snapshot: "tests/snapshots/check__quick_profile.snap".into(),
        out_dir: tempfile_dir("replay-out"),
        threads: 1,
        show_progress: false,
        command: "raftcheck gate --skip model-check".into(),
        ..GateConfig::default()
    };
    gate::run(&gc).unwrap()
}

/// A counterexample directory with nothing in it replays nothing: that is a
/// failure saying so, not a silent pass.
#[test]
fn an_empty_counterexample_directory_fails_the_replay_part() {
    let empty = tempfile_dir("empty-counterexamples");
    let report = replay_part(&empty);
    assert!(!report.ok);
    let case = &report.cases[0];
    assert!(case.failed());
    assert!(
        case.detail.starts_with(&format!(
            "no counterexamples (*.json) in {} to replay",
            empty.display()
        )),
        "{}",
        case.detail
    );

    // The same directory holding one saved counterexample passes.
    let one = tempfile_dir("one-counterexample");
    std::fs::copy(
        "../counterexamples/double-vote.json",
        one.join("double-vote.json"),
    )
    .unwrap();
    let report = replay_part(&one);
    assert!(report.ok, "{}", gate::render_text(&report));
    assert_eq!(report.cases.len(), 1);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("raftcheck-gate-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A rule the bounds allow but that never fires fails the gate: with a log
/// of one entry a leader's no-op fills it, so no client request is ever
/// appended, and a wrong client-request rule would go unseen.
#[test]
fn a_rule_that_never_fires_fails_the_gate() {
    let dir = tempfile_dir("uncovered");
    let config = raft_spec::Config {
        max_log_len: 1,
        ..Profile::Quick.config()
    };
    let gc = GateConfig {
        model_checks: GateRun::single(config.clone()),
        conformance_runs: GateRun::single(config.clone()),
        config,
        parts: vec![Part::ModelCheck, Part::Coverage],
        counterexamples: "../counterexamples".into(),
        snapshot: "tests/snapshots/check__quick_profile.snap".into(),
        out_dir: dir,
        threads: 2,
        show_progress: false,
        command: "raftcheck gate --profile quick --max-log 1".into(),
        ..GateConfig::default()
    };
    let report = gate::run(&gc).unwrap();
    assert!(!report.ok);
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.name.as_str())
        .collect();
    assert!(failed.contains(&"client-request"), "{failed:?}");
    // Every property still holds: only coverage fails.
    assert!(report
        .cases
        .iter()
        .all(|c| c.part == Part::Coverage || !c.failed()));
    let text = gate::render_text(&report);
    assert!(
        text.contains("FAIL      rule coverage          client-request"),
        "{text}"
    );
    let markdown = gate::render_markdown(&report);
    assert!(markdown.contains("| client-request | ❌ FAIL | never fired at these bounds"));
    assert!(markdown.contains("| crash | ➖ excluded | excluded by the bounds: no crash budget"));
    let junit = gate::render_junit(&report);
    assert!(junit.contains("name=\"client-request\""));
    assert!(junit.contains("<failure message=\"never fired at these bounds"));
}

/// A model check stopped by the memory budget does not pass the gate: what
/// it did not explore was not checked, so each property's case fails and
/// says why (on disk too, where the budget bounds the cache and buffers).
#[test]
fn a_model_check_stopped_by_memory_fails_the_gate() {
    let disk = tempfile_dir("memory-disk");
    for disk in [None, Some(disk)] {
        let config = Profile::Ci.config();
        let gc = GateConfig {
            model_checks: GateRun::single(config.clone()),
            config,
            parts: vec![Part::ModelCheck],
            out_dir: tempfile_dir("memory"),
            threads: 2,
            show_progress: false,
            memory_budget: Some(4 << 20),
            disk: disk.clone(),
            ..GateConfig::default()
        };
        let report = gate::run(&gc).unwrap();
        assert!(!report.ok, "{disk:?}");
        let case = report
            .cases
            .iter()
            .find(|c| c.name.contains("election safety"))
            .expect("an election safety case");
        assert!(case.failed(), "{disk:?}: {case:?}");
        assert!(
            case.detail
                .starts_with("always not determined: the run stopped (memory budget) after "),
            "{}",
            case.detail
        );
    }
}

fn raft_rs_part(counterexamples: &std::path::Path) -> gate::GateReport {
    let small = raft_spec::Config {
        servers: 2,
        ..Profile::Quick.config()
    };
    let gc = GateConfig {
        raft_rs_runs: GateRun::single(small.clone()),
        raft_rs_walks: (20, raftcheck::conform::walks::five_servers()),
        config: small,
        parts: vec![Part::RaftRs],
        counterexamples: counterexamples.to_path_buf(),
        out_dir: tempfile_dir("raft-rs-part"),
        threads: 1,
        show_progress: false,
        ..GateConfig::default()
    };
    gate::run(&gc).unwrap()
}

/// raft-rs is checked under its own variant with nothing loosened, and its
/// one known deviation is accepted at its saved counterexample only.
#[test]
fn the_raft_rs_part_runs_raft_rs_under_its_own_variant() {
    let report = raft_rs_part(std::path::Path::new("../counterexamples"));
    assert!(report.ok, "{}", gate::render_text(&report));
    for c in &report.cases {
        assert_eq!(c.part, Part::RaftRs);
        assert!(c.detail.contains("variant=raft-rs"), "{}", c.detail);
        assert!(!c.detail.contains("loosened"), "{}", c.detail);
    }
    let deviation = report
        .cases
        .iter()
        .find(|c| c.name.contains("next-index-below-match.json"))
        .expect("the deviation's counterexample is replayed");
    assert_eq!(deviation.status, gate::CaseStatus::KnownDifference);
    assert!(
        deviation.detail.contains("maybe_decr_to"),
        "{}",
        deviation.detail
    );
    // Without it the gate fails: the deviation's trace is missing.
    let empty = tempfile_dir("no-raft-rs-counterexamples");
    let report = raft_rs_part(&empty);
    assert!(!report.ok);
    let failed: Vec<_> = report.cases.iter().filter(|c| c.failed()).collect();
    assert_eq!(failed.len(), 1, "{}", gate::render_text(&report));
    assert!(failed[0].name.contains("next-index-below-match"));
}
