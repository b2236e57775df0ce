//! Conformance: the implementation takes every transition of the model, and
//! the harness reports every planted fault precisely.

use raft_spec::{Bug, Config, NetworkKind, Profile};
use raftcheck::check::{self, CheckOptions};
use raftcheck::conform::exhaustive::{self, ExhaustiveOptions};
use raftcheck::conform::product::Keying;
use raftcheck::conform::walk;
use raftcheck::conform::{replay, Implementation, Loosen, Perturbation, RaftCore};
use raftcheck_engine::StopWhen;

#[path = "conform/planted.rs"]
mod planted;

fn exhaustive_on<I: Implementation>(
    imp: &I,
    cfg: &Config,
    threads: usize,
    keying: Keying,
) -> exhaustive::ExhaustiveRun {
    exhaustive::run(
        imp,
        cfg,
        &ExhaustiveOptions {
            threads,
            keying,
            ..ExhaustiveOptions::default()
        },
    )
    .unwrap()
}

fn exhaustive(cfg: &Config, threads: usize, p: Option<Perturbation>) -> exhaustive::ExhaustiveRun {
    exhaustive_on(&RaftCore::perturbed(p), cfg, threads, Keying::Fingerprint)
}

fn model_check(cfg: &Config, symmetry: bool) -> check::CheckReport {
    check::run(
        cfg,
        &CheckOptions {
            threads: 2,
            symmetry,
            stop_when: StopWhen::Exhausted,
            ..CheckOptions::default()
        },
    )
    .unwrap()
    .report
}

#[test]
fn quick_profile_every_product_transition_is_checked_on_the_implementation() {
    let cfg = Profile::Quick.config();
    let run = exhaustive(&cfg, 2, None);
    let r = &run.report;
    assert!(r.divergence.is_none(), "{}", exhaustive::render_text(r));
    assert!(r.complete && r.ok());
    assert_eq!(r.messages_lost, 0, "raft-core sends what the model sends");
    // Every model state (without symmetry) has a product state over it, and
    // raft-core's hidden state (its leader hint, what it applied) splits
    // some: the product is at least as large as the model.
    let spec = model_check(&cfg, false);
    assert!(
        r.unique_states >= spec.unique_states,
        "{} < {}",
        r.unique_states,
        spec.unique_states
    );
    assert!(r.transitions_checked >= spec.transitions);
    // The product's rule coverage is the model's: every rule the bounds
    // allow fired on the implementation too.
    let covered = |rows: &[raft_spec::coverage::RuleCoverage]| {
        rows.iter()
            .map(|row| (row.rule, row.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        covered(r.coverage.as_deref().unwrap()),
        covered(spec.coverage.as_deref().unwrap())
    );
    // Each distinct (node state, input) pair ran once: far fewer steps than
    // transitions.
    assert!(r.implementation_steps * 10 < r.transitions_checked, "{r:?}");
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

/// Hidden state: an implementation whose candidate steps down after two
/// refusals (a tally the abstraction does not show) diverges from the
/// model, and the product finds it; keying nodes by abstract state merges
/// the candidate after one refusal with the one before and never sees two.
#[test]
fn hidden_state_is_never_merged_away() {
    let cfg = Profile::Quick.config();
    let imp = planted::StepsDownAfterTwoRefusals;
    let sound = exhaustive_on(&imp, &cfg, 2, Keying::Fingerprint);
    let d = sound
        .report
        .divergence
        .as_ref()
        .unwrap_or_else(|| panic!("{}", exhaustive::render_text(&sound.report)));
    assert!(d.mismatch.field.ends_with(".role"), "{d}");
    assert_eq!(d.mismatch.implementation, "follower", "{d}");
    let merged = exhaustive_on(&imp, &cfg, 2, Keying::AbstractState);
    assert!(
        merged.report.ok(),
        "keying by abstract state was expected to miss the hidden tally:\n{}",
        exhaustive::render_text(&merged.report)
    );
    assert!(merged.report.complete);
}

/// No `Clone` needed: without a snapshot the harness rebuilds nodes by
/// replaying their inputs, and explores exactly the same product.
#[test]
fn nodes_without_snapshots_are_rebuilt_by_replay() {
    let cfg = Profile::Quick.config();
    let with = exhaustive(&cfg, 2, None).report;
    let without = exhaustive_on(&planted::NO_SNAPSHOT, &cfg, 2, Keying::Fingerprint).report;
    assert!(without.ok(), "{}", exhaustive::render_text(&without));
    assert!(without.rebuilds > 0 && with.rebuilds == 0);
    assert_eq!(without.unique_states, with.unique_states);
    assert_eq!(without.transitions_checked, with.transitions_checked);
    assert_eq!(without.implementation_states, with.implementation_states);
}

/// The network carries the implementation's messages: one that sends less
/// than the model (no heartbeat to the last peer) is accepted where the
/// network may lose messages, with the losses counted, and diverges where
/// it may not.
#[test]
fn fewer_messages_are_losses_on_a_lossy_network_only() {
    let lossy = Profile::Quick.config();
    let imp = planted::SKIPS_LAST_HEARTBEAT;
    let r = exhaustive_on(&imp, &lossy, 2, Keying::Fingerprint).report;
    assert!(r.ok(), "{}", exhaustive::render_text(&r));
    assert!(r.messages_lost > 0);
    // A network that never loses a message, with room for an election.
    let reordering = Config {
        network: NetworkKind::Reordering,
        max_in_flight: 4,
        max_term: 1,
        ..lossy
    };
    let r = exhaustive_on(&imp, &reordering, 2, Keying::Fingerprint).report;
    let d = r
        .divergence
        .expect("a message left out on a network that never loses one");
    assert_eq!(d.mismatch.field, "messages sent", "{d}");
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
use raftcheck::conform::walks::five_servers;

#[test]
fn a_thousand_random_walks_over_five_servers_replay_without_divergence() {
    let cfg = five_servers();
    let mut steps = 0;
    for seed in 0..1000 {
        let (trace, _) = walk::walk_trace(&cfg, 40, seed).unwrap();
        // Through the file format, as `raftcheck conform --traces` reads it.
        let trace = raftcheck::trace::Trace::parse(&trace.to_json(), "walk.json".as_ref()).unwrap();
        let r =
            replay::replay_trace(&RaftCore::default(), &trace, None, &Loosen::default()).unwrap();
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
    let r = replay::replay_trace(
        &RaftCore::perturbed(Some(Perturbation::WrongPeer)),
        &trace,
        None,
        &Loosen::default(),
    )
    .unwrap();
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
        let d = replay::replay_behaviour(&RaftCore::default(), &cfg, behaviour, &Loosen::default())
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
        let r = replay::replay_trace(
            &RaftCore::default(),
            &trace,
            Some(&path),
            &Loosen::default(),
        )
        .unwrap();
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

/// Random walks over the product: raft-core conforms along a thousand at
/// five servers, and the hidden refusal tally is found by some.
#[test]
fn product_walks_conform_and_find_hidden_state() {
    use raftcheck::conform::walks::walks;
    let cfg = five_servers();
    let r = walks(&RaftCore::default(), &cfg, &Loosen::default(), 1000, 40, 1).unwrap();
    assert!(r.ok(), "{}", r.render_text());
    assert!(r.steps > 39_000, "{}", r.render_text());
    let three = Profile::Quick.config();
    let r = walks(
        &planted::StepsDownAfterTwoRefusals,
        &three,
        &Loosen::default(),
        1000,
        40,
        1,
    )
    .unwrap();
    assert!(!r.ok(), "{}", r.render_text());
    assert!(
        r.by_field.keys().all(|f| f.ends_with(".role")),
        "{:?}",
        r.by_field
    );
}

/// A product path with messages the implementation did not send is still
/// a behaviour of the model: the losses become the network's drops, and
/// the trace written from it replays in the model.
#[test]
fn a_product_path_with_losses_is_a_model_behaviour() {
    use raftcheck::conform::product::ProductModel;
    use raftcheck::trace::{Outcome, Trace};
    use stateright::Model;
    let cfg = Profile::Quick.config();
    let imp = planted::SKIPS_LAST_HEARTBEAT;
    let pm = ProductModel::new(&imp, &cfg, Keying::Fingerprint, Vec::new()).unwrap();
    let init = pm.init_states().remove(0);
    // A path that elects a leader and fires its heartbeat: a loss.
    let mut rng = raft_sim::SplitMix64::new(3);
    let mut checked = 0;
    for _ in 0..200 {
        let mut state = init.clone();
        let mut steps = Vec::new();
        for _ in 0..30 {
            let actions: Vec<_> = pm
                .next_steps(&state)
                .into_iter()
                .filter(|(_, next)| pm.within_boundary(next))
                .collect();
            if actions.is_empty() {
                break;
            }
            let (a, next) = actions[rng.below(actions.len() as u64) as usize].clone();
            steps.push((a, next.clone()));
            state = next;
        }
        // The leader's heartbeat leaves its last peer out: a loss.
        let heartbeat = steps.iter().any(|(a, _)| {
            matches!(
                a.action,
                stateright::actor::ActorModelAction::Timeout(
                    _,
                    raft_spec::server::Timer::Heartbeat
                )
            )
        });
        if !heartbeat {
            continue;
        }
        let behaviour = pm.behaviour(&init, &steps).expect("a model behaviour");
        assert!(behaviour.1.len() > steps.len(), "drops were added");
        let trace =
            Trace::from_behaviour(&cfg, None, "walk", Outcome::Witnesses, &behaviour).unwrap();
        let reread = Trace::parse(&trace.to_json(), "walk.json".as_ref()).unwrap();
        reread
            .to_behaviour(&raft_spec::RaftModel::new(cfg.clone()).unwrap())
            .unwrap();
        checked += 1;
    }
    assert!(checked > 0, "no walk lost a heartbeat");
}

/// On a duplicating network a message can be delivered again; the model
/// takes no step for one its server ignores, and the node, which receives
/// it too, must not change or answer either. raft-core conforms.
#[test]
fn a_duplicating_network_conforms() {
    let cfg = Config {
        network: NetworkKind::LossyDuplicating,
        max_term: 1,
        ..Profile::Quick.config()
    };
    let r = exhaustive(&cfg, 2, None).report;
    assert!(r.ok(), "{}", exhaustive::render_text(&r));
    assert!(r.transitions_checked > r.unique_states);
}

/// `past_known`: a divergence the implementation declares a known design
/// difference is counted and not explored further, and the rest of the
/// product is still checked to the end.
#[test]
fn known_differences_are_counted_and_the_rest_explored() {
    let cfg = Profile::Quick.config();
    let imp = planted::StepsDownAfterTwoRefusals;
    let r = exhaustive::run(
        &imp,
        &cfg,
        &ExhaustiveOptions {
            threads: 2,
            past_known: true,
            ..ExhaustiveOptions::default()
        },
    )
    .unwrap()
    .report;
    assert!(r.ok(), "{}", exhaustive::render_text(&r));
    let [k] = r.known_differences.as_slice() else {
        panic!("{}", exhaustive::render_text(&r));
    };
    assert_eq!(k.name, "steps-down-after-two-refusals");
    assert!(k.transitions > 0 && k.mismatch.field.ends_with(".role"));
    // Without it the run stops at the first such divergence, far earlier.
    let stopped = exhaustive_on(&imp, &cfg, 2, Keying::Fingerprint).report;
    assert!(stopped.divergence.is_some() && stopped.unique_states < r.unique_states);
}

/// raft-core implements only the paper: a run of any other variant is
/// refused before it starts, with a reason, in every mode.
#[test]
fn raft_core_refuses_a_variant_it_does_not_implement() {
    use raftcheck::conform::walks::walks;
    let cfg = Config {
        variant: raft_spec::Variant::RAFT_RS,
        ..Profile::Quick.config()
    };
    let core = RaftCore::default();
    let want = "raft-core does not implement variant raft-rs: raft-core implements only the paper's Figure 2 (variant paper)";
    let err = exhaustive::run(&core, &cfg, &ExhaustiveOptions::default())
        .err()
        .expect("refused");
    assert_eq!(err.to_string(), want);
    let err = walks(&core, &cfg, &Loosen::default(), 1, 1, 0).unwrap_err();
    assert_eq!(err.to_string(), want);
    let init = raft_spec::RaftModel::new(cfg.clone()).unwrap();
    let behaviour = (stateright::Model::init_states(&init).remove(0), Vec::new());
    let err = replay::replay_behaviour(&core, &cfg, &behaviour, &Loosen::default()).unwrap_err();
    assert_eq!(err.to_string(), want);
    // One option off the paper is refused too; the paper is not.
    let cfg = Config {
        variant: "paper,leader-stickiness".parse().unwrap(),
        ..cfg
    };
    assert!(walks(&core, &cfg, &Loosen::default(), 1, 1, 0).is_err());
    let paper = Profile::Quick.config();
    assert!(walks(&core, &paper, &Loosen::default(), 1, 1, 0).is_ok());
}
