//! The adapter under `Variant::RAFT_RS`, the model of raft-rs itself: a
//! heartbeat is raft-rs's own RPC, messages carry the fields only that
//! variant has, the abstraction shows its state, and nothing is loosened.

use raft::eraftpb::MessageType;
use raft_spec::message::Msg;
use raft_spec::server::Role;
use raft_spec::types::{ServerSet, Value};
use raft_spec::Variant;
use raftcheck_adapter::{Implementation, Input};
use raftcheck_raft_rs::LOOSENINGS;

mod common;
use common::*;

fn set(servers: &[raft_spec::types::ServerId]) -> ServerSet {
    let mut s = ServerSet::default();
    for &id in servers {
        s.insert(id);
    }
    s
}

#[test]
fn nothing_is_loosened_or_known_under_raft_rs() {
    let rs = raft_rs(cfg(1));
    assert!(RS.loosenings(&rs).is_empty());
    assert_eq!(RS.loosenings(&cfg(1)), LOOSENINGS.to_vec());
    // A divergence the paper's runs name as leader stickiness is real here.
    let args = (
        "s1.voted_for",
        "s2",
        "none",
        "s2 → s1 RequestVote(t2, last=1@t1)",
    );
    let known = |c| RS.known_difference(c, args.0, args.1, args.2, args.3);
    let paper = cfg(1);
    assert_eq!(known(&paper), Some("leader-stickiness"));
    assert_eq!(known(&rs), None);
    // Only raft-rs's deviation from its own model is named there.
    let reject = "s1 → s0 AppendEntriesResponse(t1, reject, match=1@t1, prev=2)";
    let below = |c| RS.known_difference(c, "s0.next_index", "[s0:0 s1:3]", "[s0:0 s1:2]", reject);
    assert_eq!(below(&rs), Some("next-index-below-match"));
    assert_eq!(below(&paper), None);
}

#[test]
fn a_heartbeat_is_a_real_msg_heartbeat() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    let appends = elect_s0(&mut c);
    // s1 acknowledges the no-op, which commits; s2 hears nothing.
    let (ae, _) = to_in(&rs, &appends, S1);
    let (ok, _) = to_in(&rs, &c.deliver(&ae), S0);
    c.deliver(&ok);
    assert_eq!(c.state(S0).commit_index, 1);

    let beats = c.input(S0, Input::HeartbeatTimeout);
    assert_eq!(beats.len(), 2);
    for (peer, commit) in [(S1, 1), (S2, 0)] {
        let (m, image) = to_in(&rs, &beats, peer);
        assert_eq!(m.get_msg_type(), MessageType::MsgHeartbeat);
        // The commit is min(matchIndex, commitIndex).
        assert!(
            matches!(image, Msg::Heartbeat(h) if h.term == 1 && h.leader_commit == commit),
            "{peer}: {image}"
        );
    }
    // s1 learns the commit from it, and answers.
    let (beat, _) = to_in(&rs, &beats, S1);
    let (resp, image) = to_in(&rs, &c.deliver(&beat), S0);
    assert_eq!(c.state(S1).commit_index, 1);
    assert!(
        matches!(image, Msg::HeartbeatResponse(r) if r.term == 1),
        "{image}"
    );
    // s1 holds the leader's whole log: the response sends nothing.
    assert!(c.deliver(&resp).is_empty());
    // s2's probe (the no-op) is paused; its heartbeat response resumes it
    // and sends the append again.
    assert_eq!(c.state(S0).paused, set(&[S2]));
    let (beat, _) = to_in(&rs, &beats, S2);
    let (resp, _) = to_in(&rs, &c.deliver(&beat), S0);
    let (again, image) = to_in(&rs, &c.deliver(&resp), S2);
    assert_eq!(again.get_msg_type(), MessageType::MsgAppend);
    assert!(
        matches!(image, Msg::AppendEntries(a) if a.prev_log_index == 0 && a.entries.len() == 1)
    );
    assert_eq!(c.state(S0).paused, set(&[S2]), "paused by the new probe");
    // A follower's heartbeat timeout does nothing.
    assert!(c.input(S1, Input::HeartbeatTimeout).is_empty());
}

#[test]
fn the_leader_and_its_peers_progress_are_shown() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    let appends = elect_s0(&mut c);
    let leader = c.state(S0);
    assert_eq!(leader.leader, None, "the leader does not name itself");
    assert_eq!(
        (leader.replicating, leader.paused),
        (set(&[]), set(&[S1, S2]))
    );
    let (ae, _) = to_in(&rs, &appends, S1);
    let (ok, _) = to_in(&rs, &c.deliver(&ae), S0);
    assert_eq!(c.state(S1).leader, Some(S0));
    assert_eq!(c.state(S2).leader, None, "s2 has not heard from s0");
    c.deliver(&ok);
    let leader = c.state(S0);
    assert_eq!(
        (leader.replicating, leader.paused),
        (set(&[S1]), set(&[S2]))
    );
    // Under the paper none of it is shown.
    let mut p = Cluster::new(&cfg(1));
    let appends = elect_s0(&mut p);
    let (ae, _) = to(&appends, S1);
    p.deliver(&ae);
    assert_eq!(p.state(S1).leader, None);
    assert_eq!(p.state(S0).paused, set(&[]));
}

#[test]
fn votes_carry_the_commit() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    let appends = elect_s0(&mut c);
    let (ae, _) = to_in(&rs, &appends, S1);
    let (ok, _) = to_in(&rs, &c.deliver(&ae), S0);
    // The commit of the no-op is broadcast; s1 learns it.
    let (bcast, _) = to_in(&rs, &c.deliver(&ok), S1);
    c.deliver(&bcast);
    assert_eq!(c.state(S1).commit_index, 1);
    // s1 campaigns in term 2 with its commit, 1@t1.
    let votes = c.input(S1, Input::ElectionTimeout);
    let (rv, image) = to_in(&rs, &votes, S2);
    assert!(
        matches!(image, Msg::RequestVote(r) if (r.commit, r.commit_term) == (1, 1)),
        "{image}"
    );
    // Under the paper the same message's image has no commit.
    assert!(matches!(to(&votes, S2).1, Msg::RequestVote(r) if r.commit == 0));
    // s2 (empty log) grants it: a grant carries no commit.
    let (grant, image) = to_in(&rs, &c.deliver(&rv), S1);
    assert!(matches!(image, Msg::RequestVoteResponse(r) if r.vote_granted && r.commit == 0));
    c.deliver(&grant);
    assert_eq!(c.state(S1).role, Role::Leader);
    // s2 campaigns in term 3; s0 (log [1:noop], commit 1) refuses it, with
    // its commit.
    let votes = c.input(S2, Input::ElectionTimeout);
    let (rv, _) = to_in(&rs, &votes, S0);
    let (refusal, image) = to_in(&rs, &c.deliver(&rv), S2);
    assert!(
        matches!(image, Msg::RequestVoteResponse(r) if !r.vote_granted && (r.commit, r.commit_term) == (1, 1)),
        "{image}"
    );
    assert!(matches!(to(&[refusal], S2).1, Msg::RequestVoteResponse(r) if r.commit == 0));
}

#[test]
fn a_rejection_carries_its_prev_index_and_conflict_term() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    let appends = elect_s0(&mut c);
    // s2 gets the no-op; s0 appends a value, then crashes and restarts.
    let (ae, _) = to_in(&rs, &appends, S2);
    c.deliver(&ae);
    c.input(S0, Input::Propose(Value(1)));
    RS.crash(c.node(S0));
    RS.recover(c.node(S0)).unwrap();
    // s0 leads term 2 with s1's vote: its log [1:noop 1:v1 2:noop].
    let votes = c.input(S0, Input::ElectionTimeout);
    let (rv, _) = to_in(&rs, &votes, S1);
    let (grant, _) = to_in(&rs, &c.deliver(&rv), S0);
    let appends = c.deliver(&grant);
    assert_eq!(c.state(S0).role, Role::Leader);
    // s2 (log [1:noop]) rejects the append after 2@t1.
    let (ae, image) = to_in(&rs, &appends, S2);
    assert!(
        matches!(image, Msg::AppendEntries(a) if (a.prev_log_index, a.prev_log_term) == (2, 1))
    );
    let (reject, image) = to_in(&rs, &c.deliver(&ae), S0);
    let Msg::AppendEntriesResponse(r) = image else {
        panic!("{image}")
    };
    assert!(!r.success);
    // The rejected prev index, and the hint: the last index at or below
    // min(prev, last) whose term is at most the prev term, with its term.
    assert_eq!(
        (r.prev_log_index, r.match_index, r.conflict_term),
        (2, 1, 1),
        "{image}"
    );
    // Under the paper neither is in the image.
    let Msg::AppendEntriesResponse(p) = to(&[reject], S0).1 else {
        panic!()
    };
    assert_eq!(
        (p.prev_log_index, p.match_index, p.conflict_term),
        (0, 1, 0)
    );
}

#[test]
fn the_commit_index_is_durable_under_raft_rs() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    let appends = elect_s0(&mut c);
    let (ae, _) = to_in(&rs, &appends, S1);
    let (ok, _) = to_in(&rs, &c.deliver(&ae), S0);
    c.deliver(&ok);
    assert_eq!(RS.storage(&c.nodes[0]).unwrap().commit_index, 1);
    RS.crash(c.node(S0));
    RS.recover(c.node(S0)).unwrap();
    assert_eq!(c.state(S0).commit_index, 1);
    // The same storage under the paper shows no commit.
    let mut p = Cluster::new(&cfg(1));
    let appends = elect_s0(&mut p);
    let (ae, _) = to(&appends, S1);
    let (ok, _) = to(&p.deliver(&ae), S0);
    p.deliver(&ok);
    assert_eq!(RS.storage(&p.nodes[0]).unwrap().commit_index, 0);
    assert_eq!(Variant::PAPER, cfg(1).variant);
}

#[test]
fn a_candidate_shows_its_refusers_and_steps_down_when_it_cannot_win() {
    let rs = raft_rs(cfg(1));
    let mut c = Cluster::new(&rs);
    c.input(S1, Input::ElectionTimeout);
    c.input(S2, Input::ElectionTimeout);
    let votes = c.input(S0, Input::ElectionTimeout);
    let (rv, _) = to_in(&rs, &votes, S1);
    let (refusal, _) = to_in(&rs, &c.deliver(&rv), S0);
    c.deliver(&refusal);
    let candidate = c.state(S0);
    assert_eq!(candidate.role, Role::Candidate);
    assert_eq!(candidate.votes_refused, set(&[S1]));
    assert_eq!(candidate.votes_granted, set(&[S0]));
    let (rv, _) = to_in(&rs, &votes, S2);
    let (refusal, _) = to_in(&rs, &c.deliver(&rv), S0);
    c.deliver(&refusal);
    let lost = c.state(S0);
    assert_eq!((lost.role, lost.voted_for), (Role::Follower, Some(S0)));
    assert_eq!(lost.votes_refused, set(&[]), "a follower shows no tally");
}
