//! `raftcheck check` end to end: the quick profile's state space is pinned,
//! and the crash lesson (persist the vote before answering) is shown.

use raft_spec::{Bug, Config, NetworkKind, Profile};
use raftcheck::check::{self, CheckOptions, Strategy};
use raftcheck::markup;
use raftcheck_engine::{StopReason, StopWhen};

fn options(stop_when: StopWhen) -> CheckOptions {
    CheckOptions {
        strategy: Strategy::Bfs,
        threads: 2,
        symmetry: true,
        stop_when,
        show_progress: false,
        timeout: None,
        memory_budget: None,
        disk: None,
    }
}

#[test]
fn quick_profile_state_space_is_pinned() {
    let run = check::run(&Profile::Quick.config(), &options(StopWhen::Exhausted)).unwrap();
    let r = &run.report;
    assert!(r.ok(), "{}", check::render_text(r, "test"));
    // A change to the model's state space must be a reviewed snapshot diff.
    let summary = serde_json::json!({
        "config": r.config,
        "unique_states": r.unique_states,
        "boundary_states": r.boundary_states,
        "transitions": r.transitions,
        "max_depth": r.max_depth,
        "properties": r.properties,
    });
    insta::assert_json_snapshot!("quick_profile", summary);
}

#[test]
fn symmetry_reduction_shrinks_the_space_without_changing_verdicts() {
    let cfg = Profile::Quick.config();
    let with = check::run(&cfg, &options(StopWhen::Exhausted))
        .unwrap()
        .report;
    let without = check::run(
        &cfg,
        &CheckOptions {
            symmetry: false,
            ..options(StopWhen::Exhausted)
        },
    )
    .unwrap()
    .report;
    assert!(with.unique_states * 2 < without.unique_states);
    let verdicts = |r: &check::CheckReport| {
        r.properties
            .iter()
            .map(|p| (p.name, p.status, p.depth))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&with), verdicts(&without));
}

/// Bounds small enough for a test, with one crash.
fn crash_config(bug: Option<Bug>) -> Config {
    Config {
        servers: 3,
        max_term: 1,
        max_log_len: 1,
        max_batch: 1,
        values: 1,
        max_crashes: 1,
        max_in_flight: 3,
        network: NetworkKind::Lossy,
        bug,
        variant: raft_spec::Variant::PAPER,
    }
}

#[test]
fn crash_lesson_an_unsaved_vote_elects_two_leaders_in_one_term() {
    let run = check::run(
        &crash_config(Some(Bug::VoteNotPersisted)),
        &options(StopWhen::AnyViolation),
    )
    .unwrap();
    let violated: Vec<_> = run.report.violations().map(|p| p.name).collect();
    assert!(violated.contains(&"election safety"), "{violated:?}");
    let (_, steps) = &run.behaviours["election safety"];
    let text: Vec<String> = steps
        .iter()
        .map(|(a, _)| raft_spec::RaftModel::describe_action(a))
        .collect();
    // The counterexample needs a crash and a recovery, and ends with two
    // leaders of term 1.
    assert!(text.iter().any(|a| a.ends_with("crashes")), "{text:?}");
    assert!(text.iter().any(|a| a.ends_with("recovers")), "{text:?}");
    let last = &steps.last().unwrap().1;
    assert_eq!(last.history.leaders[1].len(), 2);
    // A server granted two different votes in term 1: granted responses
    // from one voter to two candidates appear in the behaviour.
    let grants: std::collections::BTreeSet<(usize, usize)> = steps
        .iter()
        .filter_map(|(a, _)| match a {
            stateright::actor::ActorModelAction::Deliver {
                src,
                dst,
                msg:
                    raft_spec::message::Msg::RequestVoteResponse(
                        raft_spec::message::RequestVoteResponse {
                            term: 1,
                            vote_granted: true,
                            ..
                        },
                    ),
            } => Some((usize::from(*src), usize::from(*dst))),
            _ => None,
        })
        .collect();
    let voters: Vec<usize> = grants.iter().map(|(v, _)| *v).collect();
    let double = voters
        .iter()
        .any(|v| voters.iter().filter(|w| *w == v).count() == 2);
    assert!(double, "no server voted twice in term 1: {grants:?}");

    let safe = check::run(&crash_config(None), &options(StopWhen::Exhausted)).unwrap();
    assert!(
        safe.report.ok(),
        "{}",
        check::render_text(&safe.report, "test")
    );
}

/// Stopping the moment the expected property fails, mid-level, still finds
/// it at the least depth (every state of a level is at one depth), with a
/// path that replays, and explores no more than finishing the level does.
#[test]
fn stopping_mid_level_keeps_the_shortest_counterexample() {
    let cfg = crash_config(Some(Bug::VoteNotPersisted));
    let whole_level = check::run(&cfg, &options(StopWhen::AnyViolation)).unwrap();
    let at_once = check::run(&cfg, &options(StopWhen::ViolationOf("election safety"))).unwrap();
    let depth = |r: &check::CheckReport| {
        r.properties
            .iter()
            .find(|p| p.name == "election safety")
            .and_then(|p| p.depth)
    };
    assert!(depth(&whole_level.report).is_some());
    assert_eq!(depth(&at_once.report), depth(&whole_level.report));
    assert!(!at_once.report.complete);
    assert!(at_once.report.unique_states <= whole_level.report.unique_states);
    let (_, steps) = &at_once.behaviours["election safety"];
    assert_eq!(Some(steps.len()), depth(&at_once.report));
}

/// `raftcheck check` with these arguments (quiet): its exit code and stdout.
fn raftcheck_check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .arg("check")
        .args(args)
        .args(["--threads", "2", "--quiet"])
        .output()
        .expect("run raftcheck");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8 report"),
        String::from_utf8(out.stderr).expect("utf-8 errors"),
    )
}

/// A timeout on the ci profile (minutes in a debug build) stops the run
/// within a level, and the report says so: exit code 3, not 1; every
/// safety property "no violation in N states", none "unknown".
#[test]
fn a_timeout_gives_an_incomplete_report_and_exit_code_3() {
    let (code, stdout, _) =
        raftcheck_check(&["--profile", "ci", "--timeout", "1", "--format", "json"]);
    assert_eq!(code, Some(3), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["complete"], false);
    assert_eq!(report["ok"], false);
    assert_eq!(report["stopped_by"], "timeout");
    let cut = &report["stopped_in"];
    assert!(
        cut["expanded"].as_u64().unwrap() < cut["states"].as_u64().unwrap(),
        "{cut}"
    );
    assert!(report["unique_states"].as_u64().unwrap() < 14_405_051);
    for p in report["properties"].as_array().unwrap() {
        let want = if p["kind"] == "always" {
            "no-violation-so-far"
        } else if p["depth"].is_null() {
            "not-reached-so-far"
        } else {
            "reached"
        };
        assert_eq!(p["status"], want, "{p}");
    }

    // As text: each safety property with how far the run got, and the
    // reason; a timeout of 0 stops before the first level, so no sometimes
    // property is reached either.
    let (code, text, _) = raftcheck_check(&["--profile", "ci", "--timeout", "0"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(!text.contains("unknown"), "{text}");
    let always: Vec<&str> = text.lines().filter(|l| l.starts_with("  always")).collect();
    assert_eq!(always.len(), 8, "{text}");
    for line in always {
        assert!(
            line.ends_with(" no violation in 1 state to depth 0"),
            "{line}"
        );
    }
    assert!(
        text.contains("not reached in 1 state to depth 0 (run incomplete: timeout)"),
        "{text}"
    );
    assert!(
        text.contains("run incomplete (timeout): 0 of the 1 state at depth 0 expanded"),
        "{text}"
    );
    assert!(text.contains("result: INCOMPLETE (timeout)"), "{text}");
}

/// `--max-memory` stops the run before the visited set and queued states
/// outgrow it, with the same incomplete report and what to try.
#[test]
fn a_memory_budget_gives_an_incomplete_report_and_exit_code_3() {
    let (code, text, _) = raftcheck_check(&["--profile", "ci", "--max-memory", "4M"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("run incomplete (memory budget): "), "{text}");
    assert!(text.contains("was reached and checked"), "{text}");
    assert!(
        text.contains("to go further: a larger --max-memory"),
        "{text}"
    );
    assert!(
        text.contains("result: INCOMPLETE (memory budget)"),
        "{text}"
    );
    assert!(!text.contains("unknown"), "{text}");
    assert_eq!(text.matches("no violation in").count(), 8, "{text}");

    // In the library: the level it stopped in was not finished.
    let run = check::run(
        &Profile::Ci.config(),
        &CheckOptions {
            memory_budget: Some(4 << 20),
            disk: None,
            ..options(StopWhen::AnyViolation)
        },
    )
    .unwrap();
    let r = &run.report;
    assert_eq!(r.stopped_by, Some(StopReason::MemoryBudget));
    let cut = r.stopped_in.expect("where it stopped");
    assert!(cut.expanded < cut.states, "{cut:?}");
    assert_eq!(r.exit_code(), check::EXIT_INCOMPLETE);

    // The old flag still works, alone.
    let (code, text, _) = raftcheck_check(&["--profile", "ci", "--memory-budget-mib", "4"]);
    assert_eq!(code, Some(3), "{text}");

    // A budget of 0, or one for another strategy, is refused (exit code 2).
    let (code, _, err) = raftcheck_check(&["--profile", "quick", "--max-memory", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--max-memory") && err.contains("too small"),
        "{err}"
    );
    let (code, _, err) = raftcheck_check(&[
        "--profile",
        "quick",
        "--max-memory",
        "64M",
        "--strategy",
        "stateright-dfs",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bfs strategy only"), "{err}");
}

/// A complete run that never reaches a sometimes property names the bounds
/// that may be too small, and fails (exit code 1): the bug keeps votes from
/// ever moving.
#[test]
fn an_unreached_sometimes_property_names_the_bounds() {
    let cfg = Bug::VoteKeptOnNewTerm.config();
    let run = check::run(&cfg, &options(StopWhen::Exhausted)).unwrap();
    let r = &run.report;
    assert!(r.complete && r.violations().next().is_none());
    let p = r
        .properties
        .iter()
        .find(|p| p.name == raft_spec::properties::VOTE_MOVES)
        .unwrap();
    assert_eq!(p.status, "not-reached");
    assert_eq!(
        check::property_verdict(r, p),
        format!(
            "not reached in all {} states: the bounds (max-term={}, in-flight={}) may be too small",
            markup::grouped(r.unique_states),
            cfg.max_term,
            cfg.max_in_flight
        )
    );
    assert_eq!(r.exit_code(), check::EXIT_FAILED);
    let text = check::render_text(r, "test");
    assert!(text.contains(&check::property_verdict(r, p)), "{text}");
}

/// `--disk DIR`: the visited set and the frontier in files: the same states
/// and verdicts as in memory, the disk used in the JSON report, nothing left
/// in DIR; and a bug's shortest counterexample rebuilt from the parents on
/// disk. (The engine's own tests force a cache too small for the space, so
/// that duplicates are found by the merge on disk.)
#[test]
fn a_disk_backed_run_finds_what_an_in_memory_run_finds() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().to_str().unwrap();
    let json = |args: &[&str]| {
        let (code, stdout, err) = raftcheck_check(args);
        assert_eq!(code, Some(0), "{args:?}: {err}{stdout}");
        serde_json::from_str::<serde_json::Value>(&stdout).expect("a JSON report")
    };
    let memory = json(&["--profile", "quick", "--format", "json"]);
    let on_disk = json(&[
        "--profile",
        "quick",
        "--format",
        "json",
        "--disk",
        disk,
        "--max-memory",
        "256M",
    ]);
    for field in [
        "unique_states",
        "boundary_states",
        "transitions",
        "max_depth",
        "complete",
    ] {
        assert_eq!(memory[field], on_disk[field], "{field}");
    }
    assert_eq!(memory["properties"], on_disk["properties"]);
    assert!(memory.get("disk").is_none());
    assert!(on_disk["disk"]["written_bytes"].as_u64().unwrap() > 0);
    assert!(on_disk["disk"]["peak_bytes"].as_u64().unwrap() > 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let bug = ["--profile", "quick", "--bug", "double-vote"];
    let (_, in_memory, _) = raftcheck_check(&bug);
    let (code, text, _) = raftcheck_check(&[&bug[..], &["--disk", disk]].concat());
    assert_eq!(code, Some(1), "{text}");
    let counterexample = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("counterexample: "))
            .map(str::to_string)
    };
    assert_eq!(
        counterexample(&text).as_deref(),
        Some("counterexample: election safety violated (9 steps):"),
        "{text}"
    );
    assert_eq!(counterexample(&text), counterexample(&in_memory));

    // A directory that cannot be made is bad input, named.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let sub = file.join("sub");
    let (code, _, err) = raftcheck_check(&["--profile", "quick", "--disk", sub.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("explore on disk in") && err.contains("a-file"),
        "{err}"
    );
}

/// Ctrl-C (SIGINT) stops a long run as a limit does: the report is printed,
/// saying it was interrupted, with exit code 3.
#[test]
fn ctrl_c_stops_the_run_with_its_report() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .args(["check", "--profile", "ci", "--threads", "2", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run raftcheck");
    // The ci profile takes minutes in a test build: this lands mid-run.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("run incomplete (interrupted): "), "{text}");
    assert!(text.contains("result: INCOMPLETE (interrupted)"), "{text}");
}
