//! `raftcheck check --distributed`: the same states, counts, verdicts and
//! discovery depths as the single-process engine, across timely workers in
//! one process and across processes on loopback; clear errors for a bad
//! cluster.

use raft_spec::{Bug, Config, Profile};
use raftcheck::check::{self, CheckOptions, CheckReport, Strategy};
use raftcheck_distributed::Cluster;
use raftcheck_engine::StopWhen;

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

/// What must agree between the engine and a distributed run.
type Figures = (
    bool,
    u64,
    u64,
    u64,
    usize,
    Vec<(&'static str, check::Status, Option<usize>)>,
);

fn figures(r: &CheckReport) -> Figures {
    (
        r.complete,
        r.unique_states,
        r.boundary_states,
        r.transitions,
        r.max_depth,
        r.properties
            .iter()
            .map(|p| (p.name, p.status, p.depth))
            .collect(),
    )
}

fn distributed(cfg: &Config, stop_when: StopWhen) -> check::CheckRun {
    check::run_distributed(cfg, &options(stop_when), &Cluster::local(2))
        .unwrap()
        .expect("process 0 reports")
}

#[test]
fn two_workers_explore_exactly_the_engines_space() {
    let cfg = Profile::Quick.config();
    let engine = check::run(&cfg, &options(StopWhen::Exhausted)).unwrap();
    let spread = distributed(&cfg, StopWhen::Exhausted);
    assert_eq!(figures(&spread.report), figures(&engine.report));
    assert_eq!(spread.report.unique_states, 52_062);
    // Rule coverage, summed over the workers: the same transitions per rule
    // and the same first depths.
    let coverage = |r: &CheckReport| serde_json::to_value(&r.coverage).unwrap();
    assert_eq!(coverage(&spread.report), coverage(&engine.report));
    assert!(spread.report.ok());
}

#[test]
fn a_catalogued_bug_is_found_at_the_engines_depth_with_a_shortest_counterexample() {
    let cfg = Config {
        bug: Some(Bug::DoubleVote),
        ..Profile::Quick.config()
    };
    let engine = check::run(&cfg, &options(StopWhen::AnyViolation)).unwrap();
    let spread = distributed(&cfg, StopWhen::AnyViolation);
    // Stopped after the same level: the same counts too.
    assert_eq!(figures(&spread.report), figures(&engine.report));
    assert_eq!(spread.report.stopped_in, engine.report.stopped_in);
    let violated: Vec<_> = spread
        .report
        .violations()
        .map(|p| (p.name, p.depth))
        .collect();
    assert_eq!(violated, [("election safety", Some(9))]);
    // The path, rebuilt from the owners' parent links, is a real behaviour
    // of the actor model ending in the violation.
    let (_, steps) = &spread.behaviours["election safety"];
    assert_eq!(steps.len(), 9);
    let last = &steps.last().unwrap().1;
    assert!(!raft_spec::properties::election_safety(last));
}

/// `raftcheck check ARGS`: exit code, stdout, stderr.
fn raftcheck_check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .arg("check")
        .args(args)
        .args(["--quiet"])
        .output()
        .expect("run raftcheck");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8 report"),
        String::from_utf8(out.stderr).expect("utf-8 errors"),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn two_processes_on_loopback_report_the_single_process_figures() {
    let (code, one, _) = raftcheck_check(&["--profile", "quick", "--format", "json"]);
    assert_eq!(code, Some(0));
    let (code, two, err) = raftcheck_check(&[
        "--profile",
        "quick",
        "--format",
        "json",
        "--distributed",
        "--processes",
        "2",
        "--workers",
        "1",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (one, two) = (json(&one), json(&two));
    for key in [
        "complete",
        "unique_states",
        "boundary_states",
        "transitions",
        "max_depth",
        "properties",
        "ok",
    ] {
        assert_eq!(two[key], one[key], "{key}");
    }
    assert_eq!(two["distributed"]["processes"], 2);
    // Reproduced by the command as typed, not the child's.
    assert!(!two["command"].as_str().unwrap().contains("--hosts"));
}

#[test]
fn a_bad_cluster_is_refused_with_exit_code_2_and_a_reason() {
    let quick = ["--profile", "quick", "--distributed", "--processes", "2"];
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let hosts_arg = hosts.to_str().unwrap();

    let (code, out, err) =
        raftcheck_check(&[&quick[..], &["--process", "2", "--hosts", hosts_arg]].concat());
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("--process 2 is out of range"), "{err}");

    let (code, _, err) =
        raftcheck_check(&[&quick[..], &["--process", "1", "--hosts", hosts_arg]].concat());
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read it"), "{err}");

    std::fs::write(&hosts, "127.0.0.1:2101\n").unwrap();
    let (code, _, err) =
        raftcheck_check(&[&quick[..], &["--process", "1", "--hosts", hosts_arg]].concat());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("lists 1 address(es), but there are 2 processes"),
        "{err}"
    );

    // A peer that never comes: process 1 gives up after the connect
    // timeout, naming it. (Port 1 is below 1024: nothing here listens on it.)
    let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let own_addr = own.local_addr().unwrap();
    drop(own);
    std::fs::write(&hosts, format!("127.0.0.1:1\n{own_addr}\n")).unwrap();
    let (code, out, err) = raftcheck_check(
        &[
            &quick[..],
            &[
                "--process",
                "1",
                "--hosts",
                hosts_arg,
                "--connect-timeout",
                "1",
            ],
        ]
        .concat(),
    );
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(
        err.contains("still no connection with process 0 at 127.0.0.1:1"),
        "{err}"
    );
}
