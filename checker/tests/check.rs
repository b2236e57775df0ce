//! `raftcheck check` end to end: the quick profile's state space is pinned,
//! and the crash lesson (persist the vote before answering) is shown.

use raft_spec::{Bug, Config, NetworkKind, Profile};
use raftcheck::check::{self, CheckOptions, Strategy};
use raftcheck::engine::StopWhen;

fn options(stop_when: StopWhen) -> CheckOptions {
    CheckOptions {
        strategy: Strategy::Bfs,
        threads: 2,
        symmetry: true,
        stop_when,
        show_progress: false,
        timeout: None,
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
                    raft_spec::message::Msg::RequestVoteResponse {
                        term: 1,
                        vote_granted: true,
                    },
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
