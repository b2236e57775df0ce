//! Conformance: the implementation takes every transition of the model, and
//! the harness reports every planted fault precisely.

use raft_spec::{Bug, Config, Profile};
use raftcheck::check::{self, CheckOptions};
use raftcheck::conform::exhaustive::{self, ExhaustiveOptions};
use raftcheck::conform::replay;
use raftcheck::conform::walk;
use raftcheck::conform::Perturbation;
use raftcheck_engine::StopWhen;

fn exhaustive(cfg: &Config, threads: usize, p: Option<Perturbation>) -> exhaustive::ExhaustiveRun {
    exhaustive::run(
        cfg,
        &ExhaustiveOptions {
            threads,
            perturbation: p,
            timeout: None,
            show_progress: false,
        },
    )
    .unwrap()
}

#[test]
fn quick_profile_every_model_transition_is_checked_on_the_implementation() {
    let cfg = Profile::Quick.config();
    let run = exhaustive(&cfg, 2, None);
    let r = &run.report;
    assert!(r.divergence.is_none(), "{}", exhaustive::render_text(r));
    assert!(r.complete && r.ok());
    assert_eq!(r.model_transitions, r.transitions_checked);
    // The same exploration as `raftcheck check`: same states, same transitions.
    let spec = check::run(
        &cfg,
        &CheckOptions {
            threads: 2,
            stop_when: StopWhen::Exhausted,
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.unique_states, spec.report.unique_states);
    assert_eq!(r.model_transitions, spec.report.transitions);
}

#[test]
fn quick_profile_with_a_crash_and_batches_of_two_conforms() {
    let cfg = Config {
        max_crashes: 1,
        max_batch: 2,
        ..Profile::Quick.config()
    };
    let run = exhaustive(&cfg, 2, None);
    assert!(run.report.ok(), "{}", exhaustive::render_text(&run.report));
}

/// A planted fault, found by the exhaustive check (one thread, so the first
/// divergence found is always the same), rendered as the report prints it.
fn perturbed(p: Perturbation) -> String {
    let cfg = Config {
        max_crashes: u8::from(p == Perturbation::ForgetVoteOnRestart),
        ..Profile::Quick.config()
    };
    let run = exhaustive(&cfg, 1, Some(p));
    let d = run
        .report
        .divergence
        .as_ref()
        .unwrap_or_else(|| panic!("{p:?} was not reported"));
    // The saved behaviour ends with the divergent step.
    let (_, steps) = run.behaviour.as_ref().unwrap();
    assert_eq!(steps.len(), d.step);
    d.to_string()
}

#[test]
fn perturbation_grant_refused_vote() {
    insta::assert_snapshot!(perturbed(Perturbation::GrantRefusedVote));
}

#[test]
fn perturbation_skip_truncation() {
    insta::assert_snapshot!(perturbed(Perturbation::SkipTruncation));
}

#[test]
fn perturbation_forget_vote_on_restart() {
    insta::assert_snapshot!(perturbed(Perturbation::ForgetVoteOnRestart));
}

#[test]
fn perturbation_ack_past_message() {
    insta::assert_snapshot!(perturbed(Perturbation::AckPastMessage));
}

#[test]
fn perturbation_commit_behind() {
    insta::assert_snapshot!(perturbed(Perturbation::CommitBehind));
}

#[test]
fn perturbation_wrong_peer() {
    insta::assert_snapshot!(perturbed(Perturbation::WrongPeer));
}

/// The walks of the done-when: 5 servers, 40 steps each.
fn five_servers() -> Config {
    Config {
        servers: 5,
        max_term: 4,
        max_log_len: 4,
        max_batch: 2,
        values: 2,
        max_crashes: 2,
        max_in_flight: 8,
        ..Profile::Quick.config()
    }
}

#[test]
fn a_thousand_random_walks_over_five_servers_replay_without_divergence() {
    let cfg = five_servers();
    let mut steps = 0;
    for seed in 0..1000 {
        let (trace, _) = walk::walk_trace(&cfg, 40, seed).unwrap();
        // Through the file format, as `raftcheck conform --traces` reads it.
        let trace = raftcheck::trace::Trace::parse(&trace.to_json(), "walk.json".as_ref()).unwrap();
        let r = replay::replay_trace(&trace, None, None).unwrap();
        assert!(r.ok(), "seed {seed}:\n{}", replay::render_text(&r));
        assert_eq!(r.steps, 40);
        steps += r.steps;
    }
    assert_eq!(steps, 40_000);
}

#[test]
fn a_perturbed_walk_diverges() {
    let cfg = five_servers();
    let (trace, _) = walk::walk_trace(&cfg, 40, 7).unwrap();
    let r = replay::replay_trace(&trace, None, Some(Perturbation::WrongPeer)).unwrap();
    assert!(!r.ok() && r.divergence.is_some());
}

/// A catalogued bug: its shortest counterexample (found here, not read
/// from a file) replayed against the implementation diverges exactly at the
/// step where the wrong rule fires, and the report names the rule.
fn refused_where_it_fires(bugs: &[Bug]) {
    for &bug in bugs {
        let cfg = bug.config();
        let run = check::run(
            &cfg,
            &CheckOptions {
                threads: 2,
                stop_when: StopWhen::AnyViolation,
                ..CheckOptions::default()
            },
        )
        .unwrap();
        // The catalogue's property, or (should the catalogue's bounds move)
        // whichever safety property the wrong rule broke first.
        let behaviour = run
            .behaviours
            .get(bug.info().violates)
            .or_else(|| {
                let v = run.report.violations().next()?;
                run.behaviours.get(v.name)
            })
            .unwrap_or_else(|| panic!("{bug}: no counterexample"));
        let fires = replay::wrong_rule_step(&cfg, behaviour)
            .unwrap_or_else(|| panic!("{bug}: the wrong rule never fires"));
        let d = replay::replay_behaviour(&cfg, behaviour, None)
            .unwrap()
            .unwrap_or_else(|| panic!("{bug}: the implementation follows the wrong rule"));
        assert_eq!(d.step, fires, "{bug}: {d}");
        let text = d.to_string();
        assert!(text.contains(bug.name()) && text.contains(bug.info().correct_rule));
    }
}

/// Minutes in the test profile (the saved counterexamples below are the
/// fast check): run with `--ignored`.
#[test]
#[ignore]
fn the_implementation_refuses_wrong_rules_where_they_fire() {
    // Bugs whose counterexamples the checker finds in seconds.
    refused_where_it_fires(&[
        Bug::DoubleVote,
        Bug::StaleVoteCounted,
        Bug::AppendEntriesElects,
        Bug::NoStepDown,
    ]);
}

/// The whole catalogue but `vote-kept-on-new-term` (whose property is a
/// "sometimes" the wrong rule makes unreachable: it has no violating
/// trace). About 17 minutes in the test profile: run with `--ignored`.
#[test]
#[ignore]
fn the_implementation_refuses_every_catalogued_bug_where_it_fires() {
    let bugs: Vec<Bug> = Bug::ALL
        .into_iter()
        .filter(|b| *b != Bug::VoteKeptOnNewTerm)
        .collect();
    refused_where_it_fires(&bugs);
}

/// The saved counterexamples (`raftcheck bugs --write`): each bug trace is
/// refused exactly where its wrong rule fires, each correct-Raft trace
/// replays without divergence.
#[test]
fn saved_counterexamples_are_refused_where_the_wrong_rule_fires() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../counterexamples");
    let mut bugs = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let trace = raftcheck::trace::Trace::load(&path).unwrap();
        let r = replay::replay_trace(&trace, Some(&path), None).unwrap();
        assert!(r.ok(), "{}", replay::render_text(&r));
        if let Some(bug) = r.bug {
            bugs += 1;
            let d = r.divergence.as_ref().unwrap();
            assert_eq!(Some(d.step), r.wrong_rule_fires_at);
            assert!(d.to_string().contains(bug.info().correct_rule));
        }
    }
    assert!(bugs >= 10, "only {bugs} bug traces in {}", dir.display());
}
