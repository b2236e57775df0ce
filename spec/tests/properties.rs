//! Each safety property is able to fail: a state that breaks it is reported,
//! and the same state without the breakage is not.

use std::sync::Arc;

use raft_spec::ghost::{Committed, Flags};
use raft_spec::properties::{self, State};
use raft_spec::server::Role;
use raft_spec::types::{Entry, Log, ServerId, Value};
use raft_spec::{Profile, RaftModel};
use stateright::Model;

fn init() -> (RaftModel, State) {
    let model = RaftModel::new(Profile::Quick.config()).unwrap();
    let state = model.init_states().remove(0);
    (model, state)
}

fn e(term: u8, value: u8) -> Entry {
    Entry {
        term,
        value: Value(value),
    }
}

fn with_server(state: &mut State, i: usize, f: impl FnOnce(&mut raft_spec::server::ServerState)) {
    let mut s = *state.actor_states[i];
    f(&mut s);
    state.actor_states[i] = Arc::new(s);
}

fn holds(model: &RaftModel, state: &State, name: &str) -> bool {
    let p = model
        .properties()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no property {name}"));
    (p.condition)(model, state)
}

#[test]
fn every_safety_property_holds_initially() {
    let (model, state) = init();
    for p in model.properties() {
        if properties::is_safety(&p) {
            assert!((p.condition)(&model, &state), "{} fails initially", p.name);
        }
    }
}

#[test]
fn election_safety_fails_with_two_leaders_in_one_term_even_after_one_steps_down() {
    let (model, mut state) = init();
    state.history.leaders[1].insert(ServerId(0));
    assert!(holds(&model, &state, properties::ELECTION_SAFETY));
    state.history.leaders[1].insert(ServerId(2));
    assert!(!holds(&model, &state, properties::ELECTION_SAFETY));
}

#[test]
fn log_matching_fails_when_equal_entries_have_different_prefixes() {
    let (model, mut state) = init();
    with_server(&mut state, 0, |s| {
        s.log = Log::from_entries(&[e(1, 0), e(2, 0)])
    });
    with_server(&mut state, 1, |s| {
        s.log = Log::from_entries(&[e(1, 0), e(2, 0), e(2, 1)])
    });
    assert!(holds(&model, &state, properties::LOG_MATCHING));
    with_server(&mut state, 1, |s| {
        s.log = Log::from_entries(&[e(1, 1), e(2, 0)])
    });
    assert!(!holds(&model, &state, properties::LOG_MATCHING));
}

#[test]
fn leader_completeness_fails_when_a_later_leader_lacks_a_committed_entry() {
    let (model, mut state) = init();
    state.history.committed[0] = Some(Committed {
        entry: e(1, 0),
        in_term: 1,
    });
    with_server(&mut state, 2, |s| {
        s.role = Role::Leader;
        s.term = 2;
        s.log = Log::from_entries(&[e(1, 0), e(2, 0)]);
    });
    assert!(holds(&model, &state, properties::LEADER_COMPLETENESS));
    with_server(&mut state, 2, |s| s.log = Log::from_entries(&[e(2, 0)]));
    assert!(!holds(&model, &state, properties::LEADER_COMPLETENESS));
    // A crashed server is no leader, whatever its last state says.
    state.crashed[2] = true;
    assert!(holds(&model, &state, properties::LEADER_COMPLETENESS));
}

#[test]
fn state_machine_safety_fails_when_a_server_commits_a_different_entry() {
    let (model, mut state) = init();
    state.history.committed[0] = Some(Committed {
        entry: e(1, 1),
        in_term: 1,
    });
    with_server(&mut state, 1, |s| {
        s.log = Log::from_entries(&[e(1, 1)]);
        s.commit_index = 1;
    });
    assert!(holds(&model, &state, properties::STATE_MACHINE_SAFETY));
    with_server(&mut state, 1, |s| s.log = Log::from_entries(&[e(2, 1)]));
    assert!(!holds(&model, &state, properties::STATE_MACHINE_SAFETY));
}

#[test]
fn transition_properties_fail_on_their_ghost_flags() {
    let cases = [
        (Flags::LEADER_LOG_REWRITTEN, properties::LEADER_APPEND_ONLY),
        (Flags::COMMIT_DECREASED, properties::COMMIT_MONOTONIC),
        (Flags::MATCH_DECREASED, properties::MATCH_MONOTONIC),
    ];
    for (flag, name) in cases {
        let (model, mut state) = init();
        assert!(holds(&model, &state, name));
        state.history.flags.0 |= flag;
        assert!(!holds(&model, &state, name), "{name}");
    }
}

#[test]
fn leader_append_only_flag_is_set_when_a_leader_rewrites_its_log() {
    // The flag is computed from a step: a leader whose log loses an entry
    // within its term.
    let (_, before) = init();
    let mut after = before.clone();
    with_server(&mut after, 0, |s| {
        s.role = Role::Leader;
        s.term = 1;
        s.log = Log::from_entries(&[e(1, 0)]);
    });
    let mut mid = after.clone();
    let mut ghost = mid.history;
    ghost.observe(&before, &after);
    mid.history = ghost;
    assert!(!mid.history.flags.has(Flags::LEADER_LOG_REWRITTEN));
    let mut later = mid.clone();
    with_server(&mut later, 0, |s| s.log = Log::default());
    let mut ghost = later.history;
    ghost.observe(&mid, &later);
    assert!(ghost.flags.has(Flags::LEADER_LOG_REWRITTEN));
    assert!(ghost.leaders[1].contains(ServerId(0)));
}

/// Without client values a client value can never be committed: that
/// "sometimes" property is left out rather than reported as never reached.
#[test]
fn no_values_leaves_out_the_value_committed_property() {
    let names = |values| {
        let model = RaftModel::new(raft_spec::Config {
            values,
            ..Profile::Quick.config()
        })
        .unwrap();
        model
            .properties()
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
    };
    assert!(names(1).contains(&properties::VALUE_COMMITTED));
    assert!(!names(0).contains(&properties::VALUE_COMMITTED));
    assert!(names(0).contains(&properties::STATE_MACHINE_SAFETY));
}
