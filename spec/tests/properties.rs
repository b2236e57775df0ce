//! Each safety property is able to fail: a state that breaks it is reported,
//! and the same state without the breakage is not.

use std::borrow::Cow;
use std::sync::Arc;

use raft_spec::ghost::{Committed, Flags};
use raft_spec::message::{AppendEntriesResponse, Msg};
use raft_spec::properties::{self, State};
use raft_spec::server::{Durable, Effects, RaftServer, Role, ServerState, Timer};
use raft_spec::types::{Entry, Log, PeerMap, ServerId, Value};
use raft_spec::{Bug, Config, Profile, RaftModel};
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

/// A leader of term 1 with log [1:noop] whose peers are in step.
fn leader_in_range(state: &mut State) {
    with_server(state, 0, |s| {
        s.role = Role::Leader;
        s.term = 1;
        s.log = Log::from_entries(&[e(1, 0)]);
        s.commit_index = 1;
        for p in [ServerId(1), ServerId(2)] {
            s.next_index.set(p, 2);
            s.match_index.set(p, 1);
        }
    });
}

/// One way to put a server's indices out of range.
type Breakage = fn(&mut ServerState);

#[test]
fn indices_in_range_fails_on_each_index_out_of_its_range() {
    let (model, mut state) = init();
    leader_in_range(&mut state);
    assert!(holds(&model, &state, properties::INDEX_RANGE));
    let breakages: [(&str, Breakage); 6] = [
        ("nextIndex below 1", |s| s.next_index.set(ServerId(1), 0)),
        ("nextIndex past lastIndex + 1", |s| {
            s.next_index.set(ServerId(2), 3)
        }),
        ("matchIndex not below nextIndex", |s| {
            s.match_index.set(ServerId(1), 2)
        }),
        ("commitIndex past the log", |s| s.commit_index = 2),
        ("a wrapped value", |s| s.next_index.set(ServerId(1), 255)),
        ("clamped arithmetic", |s| s.out_of_range = true),
    ];
    for (what, break_it) in breakages {
        let mut bad = state.clone();
        with_server(&mut bad, 0, break_it);
        assert!(!holds(&model, &bad, properties::INDEX_RANGE), "{what}");
    }
    // A follower keeps no next/match indices: zeros are not out of range.
    with_server(&mut state, 0, |s| {
        s.role = Role::Follower;
        s.next_index = PeerMap::default();
        s.match_index = PeerMap::default();
    });
    assert!(holds(&model, &state, properties::INDEX_RANGE));
}

/// What a handler sends, in order.
#[derive(Default)]
struct Sent(Vec<(ServerId, Msg)>);

impl Effects for Sent {
    fn send(&mut self, to: ServerId, msg: Msg) {
        self.0.push((to, msg));
    }
    fn save(&mut self, _: Durable) {}
    fn set_timer(&mut self, _: Timer) {}
    fn cancel_timer(&mut self, _: Timer) {}
}

/// `Bug::NextIndexNoFloor` on a leader whose nextIndex for s1 is 1: a
/// rejection takes it to 0 (reported by "indices in range"), and a second
/// one, which plain u8 arithmetic in a release build would wrap to 255, is
/// clamped at 0 and flagged; the AppendEntries sent claims prevLogIndex 0,
/// not 255. Correct Raft keeps nextIndex at 1 throughout.
#[test]
fn next_index_below_one_is_reported_and_clamped_not_wrapped() {
    let reject = Msg::AppendEntriesResponse(AppendEntriesResponse {
        term: 2,
        success: false,
        match_index: 0,
        ..Default::default()
    });
    let run = |bug: Option<Bug>| {
        let cfg = Config {
            bug,
            ..Profile::Quick.config()
        };
        let (model, mut state) = init();
        let server = RaftServer { cfg };
        with_server(&mut state, 2, |s| {
            s.role = Role::Leader;
            s.term = 2;
            s.log = Log::from_entries(&[e(1, 0), e(2, 0)]);
            s.next_index.set(ServerId(0), 3);
            s.match_index.set(ServerId(0), 2);
            s.next_index.set(ServerId(1), 1);
        });
        let mut steps = Vec::new();
        for _ in 0..2 {
            let mut s = Cow::Borrowed(&*state.actor_states[2]);
            let mut sent = Sent::default();
            server.receive(ServerId(2), &mut s, ServerId(1), reject, &mut sent);
            let after = s.into_owned();
            with_server(&mut state, 2, |s| *s = after);
            steps.push((
                after,
                sent.0,
                holds(&model, &state, properties::INDEX_RANGE),
            ));
        }
        steps
    };
    let prev = |sent: &[(ServerId, Msg)]| match sent {
        [(ServerId(1), Msg::AppendEntries(ae))] => ae.prev_log_index,
        other => panic!("expected one AppendEntries to s1, sent {other:?}"),
    };
    let buggy = run(Some(Bug::NextIndexNoFloor));
    let (first, second) = (&buggy[0], &buggy[1]);
    assert_eq!(first.0.next_index.get(ServerId(1)), 0);
    assert!(!first.2, "nextIndex 0 must be reported");
    assert_eq!(prev(&first.1), 0, "prevLogIndex clamped, not 255");
    assert_eq!(second.0.next_index.get(ServerId(1)), 0, "clamped, not 255");
    assert!(second.0.out_of_range, "0 - 1 is flagged on the server");
    assert!(!second.2);
    assert_eq!(prev(&second.1), 0);
    for (after, sent, in_range) in run(None) {
        assert_eq!(after.next_index.get(ServerId(1)), 1);
        assert!(!after.out_of_range && in_range);
        assert_eq!(prev(&sent), 0);
    }
}
