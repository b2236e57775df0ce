//! raft-rs 0.7's known design differences from the model (the Raft paper's
//! Figure 2), each shown by hand through the adapter, beside what the
//! model does on the same message. They are why the adapter's loosenings
//! exist, or (role, log) divergences no loosening hides.

use std::borrow::Cow;

use raft_spec::message::{Msg, RequestVote};
use raft_spec::server::{Durable, Effects, RaftServer, Role, ServerState, Timer};
use raft_spec::types::{ServerId, Value};
use raftcheck_adapter::{Implementation, Input};

mod common;
use common::*;

/// What a model handler sent.
#[derive(Default)]
struct Sends(Vec<(ServerId, Msg)>);

impl Effects for Sends {
    fn send(&mut self, to: ServerId, msg: Msg) {
        self.0.push((to, msg));
    }
    fn save(&mut self, _: Durable) {}
    fn set_timer(&mut self, _: Timer) {}
    fn cancel_timer(&mut self, _: Timer) {}
}

/// The model server `me` in `state` receiving `msg` from `from`.
fn model_receive(
    max_batch: u8,
    me: ServerId,
    state: ServerState,
    from: ServerId,
    msg: Msg,
) -> (ServerState, Vec<(ServerId, Msg)>) {
    let server = RaftServer {
        cfg: cfg(max_batch),
    };
    let mut state = Cow::Owned(state);
    let mut sends = Sends::default();
    server.receive(me, &mut state, from, msg, &mut sends);
    (state.into_owned(), sends.0)
}

#[test]
fn a_candidate_refused_by_a_majority_becomes_a_follower() {
    let mut c = Cluster::new(&cfg(1));
    c.input(S1, Input::ElectionTimeout);
    c.input(S2, Input::ElectionTimeout);
    let votes = c.input(S0, Input::ElectionTimeout);
    let (rv, _) = to(&votes, S1);
    let (refusal, _) = to(&c.deliver(&rv), S0);
    let candidate = c.state(S0);
    let image = RS.model_message(&cfg(1), &refusal).unwrap();
    c.deliver(&refusal);
    let (rv, _) = to(&votes, S2);
    let (refusal2, _) = to(&c.deliver(&rv), S0);
    let image2 = RS.model_message(&cfg(1), &refusal2).unwrap();
    c.deliver(&refusal2);
    assert_eq!(
        c.state(S0).role,
        Role::Follower,
        "raft-rs: lost, so a follower"
    );
    let (model, _) = model_receive(1, S0, candidate, image.from, image.msg);
    let (model, _) = model_receive(1, S0, model, image2.from, image2.msg);
    assert_eq!(
        model.role,
        Role::Candidate,
        "the model: a candidate until it times out"
    );
}

#[test]
fn a_stale_term_request_vote_gets_no_reply() {
    let mut c = Cluster::new(&cfg(1));
    let (rv1, _) = to(&c.input(S0, Input::ElectionTimeout), S1);
    let (rv2, _) = to(&c.input(S0, Input::ElectionTimeout), S1);
    c.deliver(&rv2);
    let voter = c.state(S1);
    assert_eq!(voter.term, 2);
    assert!(
        c.deliver(&rv1).is_empty(),
        "raft-rs ignores the term-1 request"
    );
    let (_, sends) = model_receive(
        1,
        S1,
        voter,
        S0,
        RS.model_message(&cfg(1), &rv1).unwrap().msg,
    );
    assert_eq!(sends.len(), 1, "the model refuses it: {sends:?}");
    assert!(matches!(
        RS.model_message(&cfg(1), &rv1).unwrap().msg,
        Msg::RequestVote(RequestVote { term: 1, .. })
    ));
}

#[test]
fn an_append_below_the_commit_index_drops_its_new_entries() {
    // max batch 2: one append carries the no-op and a value.
    let mut c = Cluster::new(&cfg(2));
    let appends = elect_s0(&mut c);
    let (a1, _) = to(&appends, S1);
    let (ok, _) = to(&c.deliver(&a1), S0);
    c.deliver(&ok);
    assert_eq!(c.state(S0).commit_index, 1);
    // A heartbeat brings s2 the no-op and commit 1.
    let (h1, _) = to(&c.input(S0, Input::HeartbeatTimeout), S2);
    c.deliver(&h1);
    assert_eq!(c.state(S2).commit_index, 1);
    // s0 still probes s2 from index 1 (no response came back).
    c.input(S0, Input::Propose(Value(1)));
    let (h2, image) = to(&c.input(S0, Input::HeartbeatTimeout), S2);
    let Msg::AppendEntries(ae) = image else {
        panic!("{image}")
    };
    assert_eq!(
        (ae.prev_log_index, ae.entries.len(), ae.leader_commit),
        (0, 2, 1)
    );
    let follower = c.state(S2);
    let (reply, _) = to(&c.deliver(&h2), S0);
    assert_eq!(
        c.state(S2).log.len(),
        1,
        "raft-rs: prev 0 < commit 1, entries dropped"
    );
    assert!(matches!(
        RS.model_message(&cfg(1), &reply).unwrap().msg,
        Msg::AppendEntriesResponse(r) if r.success && r.match_index == 1
    ));
    let (model, _) = model_receive(2, S2, follower, S0, image);
    assert_eq!(
        model.log.len(),
        2,
        "the model appends the value: {}",
        model.log
    );
}
