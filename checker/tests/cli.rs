//! The `raftcheck` command line: bounds refused up front with the reason,
//! real ranges in `--help` and errors, errors said once and naming their
//! path, `conform --traces` checking every file, `bugs --list` and progress.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use raft_spec::config::limits;
use raft_spec::properties::LEADER_ELECTED;
use raft_spec::Bug;
use raftcheck::check::{self, CheckOptions};
use raftcheck::cli::BoundsArgs;
use raftcheck_engine::StopWhen;

fn raftcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .args(args)
        .output()
        .expect("raftcheck runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raftcheck-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn saved(bug: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../counterexamples/{bug}.json"))
}

#[derive(Parser)]
struct Bounds {
    #[command(flatten)]
    bounds: BoundsArgs,
}

fn bounds(args: &[&str]) -> raft_spec::Config {
    let argv = std::iter::once("raftcheck").chain(args.iter().copied());
    Bounds::try_parse_from(argv)
        .unwrap()
        .bounds
        .config()
        .unwrap()
}

/// The README's override example: five servers keep the ci profile's other
/// bounds, but in-flight grows to what a five-server election needs, so a
/// leader is elected (with the old default of 3, no state past the first
/// RequestVote broadcast was ever expanded).
#[test]
fn more_servers_raise_the_default_in_flight_bound_so_leaders_are_elected() {
    assert_eq!(bounds(&[]).max_in_flight, 3);
    assert_eq!(bounds(&["--profile", "quick"]).max_in_flight, 2);
    assert_eq!(bounds(&["--servers", "4"]).max_in_flight, 3);
    let five = bounds(&["--servers", "5"]);
    assert_eq!(five.max_in_flight, 4);
    assert_eq!(
        bounds(&["--servers", "5", "--in-flight", "6"]).max_in_flight,
        6
    );

    let opts = CheckOptions {
        threads: 2,
        stop_when: StopWhen::Discovered(LEADER_ELECTED),
        ..CheckOptions::default()
    };
    let run = check::run(&five, &opts).unwrap();
    let elected = run
        .report
        .properties
        .iter()
        .find(|p| p.name == LEADER_ELECTED)
        .unwrap();
    assert_eq!(elected.status, "reached", "{:?}", run.report.properties);
}

#[test]
fn bounds_that_cannot_elect_a_leader_are_refused_up_front() {
    let o = raftcheck(&["check", "--servers", "5", "--in-flight", "3", "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("max in flight 3 is below 4, what an election among 5 servers needs"),
        "{err}"
    );
    assert!(err.contains("use --in-flight 4 or more"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing is explored");
}

#[test]
fn help_and_errors_state_the_real_ranges() {
    let help = stdout(&raftcheck(&["check", "--help"]));
    let range = |r: std::ops::RangeInclusive<u8>| format!("{} to {}", r.start(), r.end());
    for (flag, r) in [
        ("Number of Raft servers: ", limits::SERVERS),
        ("Highest term any server may reach: ", limits::MAX_TERM),
        ("Longest log any server may hold: ", limits::MAX_LOG),
        ("Client proposals carry values 1..=VALUES: ", limits::VALUES),
        ("Crashes allowed over a whole run: ", limits::CRASHES),
        ("Most messages in flight at once: ", limits::IN_FLIGHT),
    ] {
        let line = format!("{flag}{}", range(r));
        assert!(help.contains(&line), "--help lacks {line:?}:\n{help}");
    }

    let too_high = limits::MAX_TERM.end() + 1;
    let o = raftcheck(&["check", "--max-term", &too_high.to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let expected = format!("{too_high} is not in 1..={}", limits::MAX_TERM.end());
    assert!(err.contains(&expected), "{err}");
    assert!(
        !err.contains("max term 0"),
        "the hint about 0 is for 0: {err}"
    );
    assert!(!err.contains("0..=255"), "{err}");

    let o = raftcheck(&["check", "--in-flight", "13"]);
    assert!(stderr(&o).contains("13 is not in 1..=12"), "{}", stderr(&o));
}

#[test]
fn zero_threads_is_refused() {
    // Each command line is cheap even if 0 were accepted.
    let skip_all =
        "--skip model-check --skip bugs --skip conformance --skip replay --skip state-space";
    for cmd in [
        "check --profile quick -q".to_string(),
        "bugs --only double-vote -q".to_string(),
        "conform --profile quick -q".to_string(),
        format!("gate --profile quick -q {skip_all}"),
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.extend(["--threads", "0"]);
        let o = raftcheck(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(
            stderr(&o).contains("must be at least 1"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn an_error_says_its_cause_once() {
    let o = raftcheck(&["show", "no/such/trace.json"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("cannot read trace no/such/trace.json"),
        "{err}"
    );
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn write_errors_name_the_path() {
    let dir = temp_dir("write-errors");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let target = file.join("counterexamples");
    let target = target.to_str().unwrap();
    let o = raftcheck(&[
        "bugs",
        "--only",
        "double-vote",
        "--write",
        "--dir",
        target,
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("cannot create directory {target}")),
        "{err}"
    );
}

/// A bad file is reported; the files after it are still replayed.
#[test]
fn conform_traces_checks_every_file_and_counts_the_bad_ones() {
    let dir = temp_dir("traces");
    std::fs::write(dir.join("a-truncated.json"), "{\"version\": 1").unwrap();
    std::fs::copy(saved("double-vote"), dir.join("b-double-vote.json")).unwrap();
    std::fs::copy(saved("no-step-down"), dir.join("c-no-step-down.json")).unwrap();
    let o = raftcheck(&["conform", "--traces", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{}", stderr(&o));
    assert!(out.contains("bad file: trace "), "{out}");
    assert!(out.contains("a-truncated.json is not valid JSON"), "{out}");
    for good in ["b-double-vote.json", "c-no-step-down.json"] {
        assert!(
            out.contains(&format!("{good}: ")),
            "{good} not replayed:\n{out}"
        );
    }
    assert_eq!(out.matches("result: OK").count(), 2, "{out}");
    assert!(
        out.ends_with("\n3 traces, 1 bad file, 0 divergences: FAILED\n"),
        "{out}"
    );

    std::fs::remove_file(dir.join("a-truncated.json")).unwrap();
    let o = raftcheck(&["conform", "--traces", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("2 traces, 0 bad files, 0 divergences: OK\n"));
}

#[test]
fn bugs_list_names_each_bug_its_property_and_wrong_rule() {
    let o = raftcheck(&["bugs", "--list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), Bug::ALL.len() + 1, "{out}");
    for bug in Bug::ALL {
        let info = bug.info();
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{} ", info.name)))
            .unwrap_or_else(|| panic!("no line for {bug}:\n{out}"));
        assert!(line.contains(info.violates), "{line}");
        assert!(line.ends_with(info.description), "{line}");
    }
}

#[test]
fn bugs_reports_progress_on_stderr() {
    let o = raftcheck(&["bugs", "--only", "double-vote", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("[1/1] double-vote: running (servers=3"),
        "{err}"
    );
    let end = lines.last().unwrap();
    assert!(
        end.starts_with("[1/1] double-vote: caught: violated; ") && end.ends_with(" s"),
        "{err}"
    );
    assert!(end.contains(" states in "), "{err}");
    let quiet = raftcheck(&["bugs", "--only", "double-vote", "--quiet"]);
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
}

/// Under a variant raft-core does not implement, the gate still runs: its
/// conformance is a skipped case that says why; and the catalogue refuses
/// a mix of options no preset has, naming the presets.
#[test]
fn a_variant_raft_core_lacks_skips_its_conformance_and_the_catalogue_wants_a_preset() {
    let o = raftcheck(&[
        "gate",
        "--profile",
        "quick",
        "--variant",
        "raft-rs",
        "-q",
        "--skip",
        "model-check",
        "--skip",
        "coverage",
        "--skip",
        "bugs",
        "--skip",
        "replay",
        "--skip",
        "raft-rs",
        "--skip",
        "state-space",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("not run under variant raft-rs"), "{out}");
    assert!(out.contains("raft-core implements only the paper"), "{out}");
    let o = raftcheck(&[
        "bugs",
        "--only",
        "double-vote",
        "--variant",
        "paper,leader-stickiness",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("runs under a preset only"),
        "{}",
        stderr(&o)
    );
    let o = raftcheck(&[
        "check",
        "--profile",
        "quick",
        "--variant",
        "paper,batch-limit",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("batch-limit is not on or off"),
        "{}",
        stderr(&o)
    );
}
