//! Seeded cluster simulation: thousands of schedules of faults and inputs,
//! with the five Raft safety properties checked after every step and
//! liveness checked once the faults heal.
//!
//! Replay one seed with a readable trace:
//! `RAFT_SIM_SEED=1234 cargo test -p raft-sim --test simulation replay_seed -- --nocapture`

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use raft_sim::{
    random_schedule, run_schedule, Action, Breach, PlantedFault, SimConfig, SimStats, Violation,
};

fn action() -> impl Strategy<Value = Action> {
    let k = any::<usize>();
    prop_oneof![
        600 => k.prop_map(Action::Deliver),
        15 => k.prop_map(Action::DeliverThenCrash),
        50 => k.prop_map(Action::Drop),
        50 => k.prop_map(Action::Duplicate),
        50 => k.prop_map(Action::ElectionTimeout),
        70 => k.prop_map(Action::HeartbeatTimeout),
        100 => k.prop_map(Action::Propose),
        15 => k.prop_map(Action::Crash),
        20 => k.prop_map(Action::Restart),
        15 => any::<u8>().prop_map(Action::Partition),
        15 => Just(Action::Heal),
    ]
}

/// Shrinking stops after this many steps or this long, whichever comes
/// first: a failure is reported minimal enough rather than after an hour.
/// (proptest's default is 4 steps per case, 16,000 here, with no time limit.)
const MAX_SHRINK_ITERS: u32 = 1024;
const MAX_SHRINK_TIME_MS: u32 = 60_000;

/// Failing cases are saved next to this file and replayed first next time.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/simulation.proptest-regressions",
        ))),
        max_shrink_iters: MAX_SHRINK_ITERS,
        max_shrink_time: MAX_SHRINK_TIME_MS,
        ..ProptestConfig::default()
    }
}

fn check(config: SimConfig, actions: &[Action]) -> Result<(), TestCaseError> {
    match run_schedule(config.clone(), actions, false) {
        Ok(_) => Ok(()),
        // Re-run with tracing only to explain the (already minimal) failure.
        Err(_) => {
            let failure =
                run_schedule(config, actions, true).expect_err("a failing schedule replays");
            Err(TestCaseError::fail(failure.to_string()))
        }
    }
}

proptest! {
    #![proptest_config(config(4000))]

    /// Three nodes with small batches, so capped AppendEntries and
    /// backtracking are exercised constantly.
    #[test]
    fn three_nodes_stay_safe_and_live(actions in prop::collection::vec(action(), 1..300)) {
        check(SimConfig::new(3), &actions)?;
    }

    /// Five nodes, larger quorums and more room for split votes.
    #[test]
    fn five_nodes_stay_safe_and_live(actions in prop::collection::vec(action(), 1..300)) {
        check(SimConfig::new(5), &actions)?;
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Uncapped batches (the conformance configuration) on three nodes.
    #[test]
    fn uncapped_batches_stay_safe_and_live(actions in prop::collection::vec(action(), 1..300)) {
        let mut config = SimConfig::new(3);
        config.max_entries_per_message = usize::MAX;
        config.max_bytes_per_message = usize::MAX;
        check(config, &actions)?;
    }
}

/// Plain seeded schedules: long runs driven by one `u64` each. Also shows
/// the runs are not vacuous: leaders change, logs get truncated, entries
/// commit, nodes crash.
#[test]
fn seeded_schedules_stay_safe_and_live() {
    let mut total = SimStats::default();
    let mut acknowledged = 0;
    for seed in 0..2000u64 {
        let nodes = 3 + 2 * (seed % 2) as usize;
        match run_schedule(SimConfig::new(nodes), &random_schedule(seed, 300), false) {
            Ok(cluster) => {
                let s = cluster.stats();
                total.elections_won += s.elections_won;
                total.truncations += s.truncations;
                total.crashes += s.crashes;
                total.messages_delivered += s.messages_delivered;
                total.rejected_appends += s.rejected_appends;
                acknowledged += cluster.acknowledged().len();
            }
            Err(_) => {
                let failure =
                    run_schedule(SimConfig::new(nodes), &random_schedule(seed, 300), true)
                        .expect_err("replays");
                panic!("seed {seed} ({nodes} nodes): {failure}");
            }
        }
    }
    println!("{total:?}, {acknowledged} acknowledged proposals");
    assert!(total.elections_won > 4000, "{total:?}");
    assert!(total.truncations > 100, "{total:?}");
    assert!(total.rejected_appends > 1000, "{total:?}");
    assert!(total.crashes > 1000, "{total:?}");
    assert!(
        acknowledged > 4_000,
        "only {acknowledged} proposals were acknowledged"
    );
}

/// The harness must catch a planted fault: voters whose refusals are forged
/// into grants end up electing two leaders in one term.
#[test]
fn planted_double_vote_is_caught_by_election_safety() {
    let mut config = SimConfig::new(3);
    config.fault = Some(PlantedFault::ForgeVoteGrant);
    let caught: Vec<(u64, Violation)> = (0..500u64)
        .filter_map(|seed| {
            run_schedule(config.clone(), &random_schedule(seed, 300), false)
                .err()
                .map(|f| (seed, f.violation))
        })
        .collect();
    assert!(
        !caught.is_empty(),
        "the forged votes went unnoticed in 500 schedules"
    );
    assert!(
        caught
            .iter()
            .any(|(_, v)| matches!(v, Violation::Safety(Breach::ElectionSafety { .. }))),
        "expected an Election Safety violation, got {caught:?}"
    );
    // And the smallest direct case: two candidates in term 1, both "granted".
    let actions = [
        Action::ElectionTimeout(0),
        Action::ElectionTimeout(1),
        // 1->2, 1->3, 2->1, 2->3 are in flight; deliver 2's request to 1 first
        // (1 refuses, forged to a grant), then everything else.
        Action::Deliver(2),
        Action::Deliver(0),
        Action::Deliver(0),
        Action::Deliver(0),
        Action::Deliver(0),
        Action::Deliver(0),
        Action::Deliver(0),
        Action::Deliver(0),
    ];
    let failure = run_schedule(config, &actions, true).expect_err("double vote must be caught");
    assert!(
        matches!(
            failure.violation,
            Violation::Safety(Breach::ElectionSafety { term: 1, .. })
        ),
        "{failure}"
    );
    // The same schedule without the fault is safe.
    run_schedule(SimConfig::new(3), &actions, false).expect("correct protocol is safe");
}

/// A seed replays exactly: same trace, same outcome.
#[test]
fn seeds_replay_deterministically() {
    for seed in [7u64, 42, 1234] {
        let actions = random_schedule(seed, 300);
        let a = run_schedule(SimConfig::new(3), &actions, true).expect("safe");
        let b = run_schedule(SimConfig::new(3), &actions, true).expect("safe");
        assert_eq!(a.trace(), b.trace());
        assert!(
            a.trace().iter().any(|l| l.starts_with("deliver")),
            "trace records steps"
        );
        let logs =
            |c: &raft_sim::Cluster| c.live_nodes().map(|n| n.log().to_vec()).collect::<Vec<_>>();
        assert_eq!(logs(&a), logs(&b));
    }
}

/// Replay `RAFT_SIM_SEED` with a printed trace (no-op without the variable).
#[test]
fn replay_seed() {
    let Ok(seed) = std::env::var("RAFT_SIM_SEED") else {
        return;
    };
    let seed: u64 = seed.parse().expect("RAFT_SIM_SEED is a u64");
    let nodes = std::env::var("RAFT_SIM_NODES").map_or(3, |n| n.parse().expect("node count"));
    match run_schedule(SimConfig::new(nodes), &random_schedule(seed, 300), true) {
        Ok(cluster) => {
            for line in cluster.trace() {
                println!("{line}");
            }
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// Shrinking a failure runs the schedule at most `MAX_SHRINK_ITERS` more
/// times: a planted fault fails the property, and the runner gives up
/// shrinking at the bound rather than running until it is done.
#[test]
fn shrinking_a_failure_is_bounded() {
    use proptest::test_runner::TestRunner;
    use std::cell::Cell;
    let runs = Cell::new(0u32);
    let first_failure = Cell::new(None);
    let mut fault = SimConfig::new(3);
    fault.fault = Some(PlantedFault::ForgeVoteGrant);
    let mut runner = TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..config(500)
    });
    let result = runner.run(&prop::collection::vec(action(), 1..300), |actions| {
        runs.set(runs.get() + 1);
        let failed = run_schedule(fault.clone(), &actions, false).is_err();
        if failed && first_failure.get().is_none() {
            first_failure.set(Some(runs.get()));
        }
        prop_assert!(!failed);
        Ok(())
    });
    assert!(result.is_err(), "the planted fault was not found");
    // The suites' configs carry the bounds (proptest's defaults: 4 steps
    // per case and no time limit).
    assert_eq!(config(4000).max_shrink_iters(), MAX_SHRINK_ITERS);
    assert_eq!(config(4000).max_shrink_time, MAX_SHRINK_TIME_MS);
    let first = first_failure.get().expect("a failing run");
    let shrink_runs = runs.get() - first;
    assert!(
        shrink_runs <= MAX_SHRINK_ITERS,
        "shrinking ran {shrink_runs} schedules, more than {MAX_SHRINK_ITERS}"
    );
}

/// A leader whose nextIndex drops below the range (a planted
/// `next_index = next_index - 1` with no floor) is reported as the index
/// violation it is, naming the node and the index, not as a network that
/// never quiesced.
#[test]
fn planted_unfloored_next_index_is_reported_as_an_index_violation() {
    let mut config = SimConfig::new(3);
    config.fault = Some(PlantedFault::UnflooredNextIndex);
    let failures: Vec<Violation> = (0..300u64)
        .filter_map(|seed| {
            run_schedule(config.clone(), &random_schedule(seed, 300), false)
                .err()
                .map(|f| f.violation)
        })
        .collect();
    let index = failures
        .iter()
        .find(|v| matches!(v, Violation::Safety(Breach::IndexOutOfRange { .. })))
        .unwrap_or_else(|| panic!("no index violation in 300 schedules: {failures:?}"));
    let text = index.to_string();
    assert!(text.starts_with("indices in range: node "), "{text}");
    assert!(text.contains("nextIndex"), "{text}");
    assert!(
        !failures
            .iter()
            .any(|v| v.to_string().contains("never quiesced")),
        "{failures:?}"
    );
}

/// A leader whose every acknowledgement comes back as a rejection retries
/// forever: the drain gives up and says what was still in flight.
#[test]
fn a_network_that_never_quiesces_says_what_is_in_flight() {
    let mut config = SimConfig::new(3);
    config.fault = Some(PlantedFault::ForgeAppendReject);
    let failure = run_schedule(config, &[Action::ElectionTimeout(0)], false)
        .expect_err("forged rejections never settle");
    let Violation::Liveness(text) = &failure.violation else {
        panic!("expected a liveness failure, got {}", failure.violation);
    };
    assert!(
        text.starts_with("network never quiesced: after 100000 deliveries, "),
        "{text}"
    );
    assert!(text.contains("still in flight ("), "{text}");
    assert!(text.contains("AppendEntries term=1"), "{text}");
}
