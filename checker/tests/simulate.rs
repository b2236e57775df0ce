//! `raftcheck simulate`: a catalogued bug is found, minimised and saved as a
//! trace that `show` and replay load; correct Raft shows no violation and
//! reaches every sometimes property; a seed reruns alone; shards are
//! checked. Each run is small (catalogue bounds, a few hundred walks).

use std::path::PathBuf;
use std::process::{Command, Output};

use raft_spec::{Bug, RaftModel};
use raftcheck::trace::{property_holds, Trace};

fn raftcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .args(args)
        .output()
        .expect("raftcheck runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raftcheck-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `simulate` at the quick profile's bounds with `bug` on, JSON report
/// parsed.
fn simulate_bug(bug: Bug, extra: &[&str]) -> (Output, serde_json::Value) {
    let name = bug.to_string();
    let mut args = vec!["simulate", "--quiet", "--format", "json", "--depth", "40"];
    args.extend(["--profile", "quick", "--bug", &name]);
    args.extend(extra);
    let out = raftcheck(&args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

#[test]
fn a_catalogued_bug_is_found_minimised_and_saved_as_a_trace_show_loads() {
    let dir = temp_dir("found");
    let file = dir.join("found.json");
    let file_arg = file.to_str().unwrap();
    let (out, report) = simulate_bug(
        Bug::VoteWithoutLogCheck,
        &[
            "--walks",
            "300",
            "--seed",
            "0",
            "--threads",
            "1",
            "--save",
            file_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{report}");
    let v = &report["violation"];
    let property = v["property"].as_str().unwrap();
    assert_eq!(property, Bug::VoteWithoutLogCheck.info().violates);
    let (steps, minimised) = (
        v["steps"].as_u64().unwrap(),
        v["minimised_steps"].as_u64().unwrap(),
    );
    assert!(minimised <= steps, "{v}");
    assert_eq!(v["saved"].as_str(), Some(file_arg));

    // The file is a trace like `check --save` writes: it replays, its stored
    // verdict is the model's, and its last state violates the property.
    let trace = Trace::load(&file).unwrap();
    assert_eq!(trace.property, property);
    assert_eq!(trace.steps.len() as u64, minimised);
    let (model, behaviour): (RaftModel, _) = trace.replay().unwrap();
    let last = &behaviour.1.last().unwrap().1;
    assert_eq!(property_holds(&model, property, last), Some(false));
    let show = raftcheck(&["show", file_arg]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );

    // The seed printed reruns that walk alone, to the same violation.
    let seed = v["seed"].as_u64().unwrap().to_string();
    let rerun = v["rerun"].as_str().unwrap();
    assert!(
        rerun.contains(&format!("--seed {seed} --walks 1")),
        "{rerun}"
    );
    let (out, again) = simulate_bug(
        Bug::VoteWithoutLogCheck,
        &[
            "--seed",
            &seed,
            "--walks",
            "1",
            "--save",
            dir.join("again.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(again["violation"]["steps"], v["steps"]);
    assert_eq!(again["violation"]["minimised_steps"], v["minimised_steps"]);
    assert_eq!(again["walks"], 1);
}

/// Walks are claimed in index order, so the lowest violating walk, the one
/// reported, does not depend on the number of threads (double-vote is
/// first found past walk 1000, so the threads race for a while).
#[test]
fn the_walk_reported_does_not_depend_on_the_threads() {
    let dir = temp_dir("threads");
    let run = |threads: &str| {
        let save = dir.join(format!("t{threads}.json"));
        let args = [
            "--walks",
            "2000",
            "--threads",
            threads,
            "--save",
            save.to_str().unwrap(),
        ];
        simulate_bug(Bug::DoubleVote, &args).1["violation"].clone()
    };
    let one = run("1");
    assert!(one["seed"].is_u64(), "{one}");
    assert_eq!(one["seed"], run("2")["seed"]);
}

#[test]
fn correct_raft_at_quick_bounds_shows_no_violation_and_reaches_every_sometimes_property() {
    let out = raftcheck(&[
        "simulate",
        "--profile",
        "quick",
        "--walks",
        "200",
        "--depth",
        "60",
        "--threads",
        "1",
        "--quiet",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["violation"].is_null(), "{report}");
    assert_eq!(report["walks"], 200);
    let props = report["properties"].as_array().unwrap();
    let sometimes: Vec<_> = props.iter().filter(|p| p["kind"] == "sometimes").collect();
    assert!(sometimes.len() >= 3, "{report}");
    for p in &sometimes {
        assert_eq!(p["status"], "reached", "{p}");
    }
    assert!(props
        .iter()
        .filter(|p| p["kind"] == "always")
        .all(|p| p["status"] == "no-violation-seen"));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_shard_outside_its_count_is_refused_naming_it() {
    for (shard, says) in [
        ("3/2", "shard index 3 is not below the shard count 2"),
        ("0/0", "at least 1"),
        ("two", "expected I/N"),
    ] {
        let out = raftcheck(&["simulate", "--shard", shard, "--walks", "1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--shard") && err.contains(says), "{err}");
    }
    // Shards of one run share out the walks: 0/2 and 1/2 run 3 and 2 of 5.
    let walks = |shard: &str| {
        let out = raftcheck(&[
            "simulate",
            "--profile",
            "quick",
            "--walks",
            "5",
            "--depth",
            "5",
            "--shard",
            shard,
            "--quiet",
            "--format",
            "json",
        ]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["walks"].clone()
    };
    assert_eq!((walks("0/2"), walks("1/2")), (3.into(), 2.into()));
}

#[test]
fn help_teaches_swarm_seeds_and_shards() {
    let out = raftcheck(&["simulate", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Swarm",
        "--seed S --walks",
        "--shard I/N",
        "[default: deep]",
        "Exit codes",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}

/// A swarm that reaches no interesting state proves little: exit 3, and
/// the report says which sometimes property was never reached.
#[test]
fn a_swarm_that_reaches_nothing_interesting_exits_3() {
    let out = raftcheck(&[
        "simulate",
        "--profile",
        "quick",
        "--walks",
        "1",
        "--depth",
        "1",
        "--quiet",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("NOT REACHED") && text.contains("INCONCLUSIVE"),
        "{text}"
    );
}
