//! The saved counterexamples: each loads, replays under its bug to the
//! violation (at the last step, not before), is not a violating behaviour of
//! correct Raft, and renders to a reviewed Markdown page.

use std::path::PathBuf;

use raft_spec::{Bug, Config, RaftModel};
use raftcheck::bugs::{run_bug, BugOptions};
use raftcheck::trace::{first_discovery, property_holds, Outcome, Trace};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../counterexamples")
}

fn saved() -> Vec<(Bug, Trace)> {
    Bug::ALL
        .into_iter()
        .map(|b| {
            let path = dir().join(format!("{b}.json"));
            let t = Trace::load(&path).unwrap_or_else(|e| panic!("{e}"));
            (b, t)
        })
        .collect()
}

#[test]
fn every_catalogued_bug_has_a_saved_counterexample_that_loads() {
    let traces = saved();
    assert_eq!(traces.len(), Bug::ALL.len());
    for (bug, t) in &traces {
        assert_eq!(t.bug, Some(*bug));
        assert_eq!(t.property, bug.info().violates, "{bug}");
        assert!(dir().join(format!("{bug}.md")).exists(), "{bug}.md");
    }
}

#[test]
fn with_its_bug_on_each_trace_breaks_its_property_at_the_last_step_only() {
    for (bug, t) in saved()
        .into_iter()
        .filter(|(_, t)| t.outcome == Outcome::Violates)
    {
        assert_eq!(t.config, bug.config(), "{bug}: saved with other bounds");
        let model = RaftModel::new(t.config.clone()).unwrap();
        let b = t
            .to_behaviour(&model)
            .unwrap_or_else(|e| panic!("{bug}: {e}"));
        assert_eq!(
            first_discovery(&model, &t.property, &b).unwrap(),
            Some(t.steps.len()),
            "{bug}: the property must fail at the last step and not before"
        );
    }
}

#[test]
fn with_the_bug_off_no_trace_is_a_violating_behaviour() {
    for (bug, t) in saved()
        .into_iter()
        .filter(|(_, t)| t.outcome == Outcome::Violates)
    {
        let correct = RaftModel::new(Config {
            bug: None,
            ..t.config.clone()
        })
        .unwrap();
        match t.to_behaviour(&correct) {
            Err(_) => {} // an action is disabled or leads elsewhere
            Ok(b) => {
                let last = &b.1.last().unwrap().1;
                assert_eq!(
                    property_holds(&correct, &t.property, last),
                    Some(true),
                    "{bug}: correct Raft performs the trace and breaks {}",
                    t.property
                );
            }
        }
    }
}

/// vote-kept-on-new-term is a liveness bug: its trace is a behaviour of
/// correct Raft that reaches "a server votes for a new candidate in a later
/// term", which the buggy protocol cannot perform.
#[test]
fn the_liveness_witness_is_correct_raft_and_impossible_with_the_bug() {
    let (bug, t) = saved()
        .into_iter()
        .find(|(_, t)| t.outcome == Outcome::Witnesses)
        .unwrap();
    assert_eq!(bug, Bug::VoteKeptOnNewTerm);
    assert_eq!(t.config.bug, None);
    assert_eq!(
        Config {
            bug: Some(bug),
            ..t.config.clone()
        },
        bug.config()
    );
    let correct = RaftModel::new(t.config.clone()).unwrap();
    let b = t.to_behaviour(&correct).unwrap();
    assert_eq!(
        first_discovery(&correct, &t.property, &b).unwrap(),
        Some(t.steps.len())
    );
    let buggy = RaftModel::new(bug.config()).unwrap();
    match t.to_behaviour(&buggy) {
        Err(_) => {}
        Ok(b) => assert_eq!(
            property_holds(&buggy, &t.property, &b.1.last().unwrap().1),
            Some(false)
        ),
    }
}

#[test]
fn each_markdown_page_is_the_reviewed_rendering_of_its_trace() {
    for (bug, t) in saved() {
        let md = raftcheck::show::markdown(&t).unwrap();
        let on_disk = std::fs::read_to_string(dir().join(format!("{bug}.md"))).unwrap();
        assert_eq!(
            md, on_disk,
            "{bug}.md is stale: run `raftcheck bugs --write`"
        );
        insta::assert_snapshot!(bug.name(), md);
    }
}

/// The catalogue under raft-rs's preset: a cheap bug is still caught, and
/// its trace names the variant.
#[test]
fn a_bug_is_caught_under_the_raft_rs_preset_too() {
    let opts = BugOptions {
        threads: 2,
        timeout: None,
        show_progress: false,
        variant: raft_spec::Variant::RAFT_RS,
    };
    let run = run_bug(Bug::DoubleVote, &opts).unwrap();
    assert!(run.result.caught, "{:?}", run.result.problem);
    assert_eq!(run.result.config.variant, raft_spec::Variant::RAFT_RS);
    assert!(
        run.result.reproduce.contains("--variant raft-rs"),
        "{}",
        run.result.reproduce
    );
    let trace = run.trace.expect("a counterexample");
    assert!(trace.to_json().contains("\"stale-term\": \"ignore\""));
}

/// Small bugs re-run in the test profile: still caught at the saved depth.
#[test]
fn cheap_bugs_are_still_caught_at_the_saved_depth() {
    for bug in [Bug::DoubleVote, Bug::AppendEntriesElects, Bug::NoStepDown] {
        let opts = BugOptions {
            threads: 2,
            timeout: None,
            show_progress: false,
            variant: raft_spec::Variant::PAPER,
        };
        let run = run_bug(bug, &opts).unwrap();
        assert!(run.result.caught, "{bug}: {:?}", run.result.problem);
        let saved = Trace::load(dir().join(format!("{bug}.json"))).unwrap();
        assert_eq!(run.result.depth, Some(saved.steps.len()), "{bug}");
    }
}
