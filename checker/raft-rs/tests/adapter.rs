//! The adapter driven through the trait alone, messages routed by hand.

use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use raft_spec::message::Msg;
use raft_spec::server::Role;
use raft_spec::types::{Log, ServerId, ServerSet, Value};
use raft_spec::RaftModel;
use raftcheck_adapter::{AdapterError, Implementation, Input};
use stateright::Model;

mod common;
use common::*;

#[test]
fn a_fresh_node_is_the_models_initial_server_state() {
    let cfg = cfg(1);
    let init = RaftModel::new(cfg.clone())
        .unwrap()
        .init_states()
        .into_iter()
        .next()
        .unwrap();
    for i in 0..cfg.servers {
        let node = RS.fresh(&cfg, ServerId(i)).unwrap();
        let model = *init.actor_states[i as usize];
        assert_eq!(RS.state(&node).unwrap(), Some(model), "server {i}");
        assert_eq!(RS.storage(&node).unwrap(), model.durable(), "server {i}");
    }
}

#[test]
fn an_election_by_hand_elects_s0_with_its_noop() {
    let mut c = Cluster::new(&cfg(1));
    let votes = c.input(S0, Input::ElectionTimeout);
    assert_eq!(votes.len(), 2);
    let candidate = c.state(S0);
    assert_eq!(
        (candidate.role, candidate.term, candidate.voted_for),
        (Role::Candidate, 1, Some(S0))
    );
    assert_eq!(candidate.votes_granted.iter().collect::<Vec<_>>(), vec![S0]);
    let (rv, image) = to(&votes, S1);
    assert!(
        matches!(image, Msg::RequestVote(r) if r.term == 1 && r.last_log_index == 0),
        "{image}"
    );

    let replies = c.deliver(&rv);
    assert_eq!(c.state(S1).voted_for, Some(S0));
    let (grant, image) = to(&replies, S0);
    assert!(matches!(image, Msg::RequestVoteResponse(r) if r.vote_granted && r.term == 1));

    let appends = c.deliver(&grant);
    let leader = c.state(S0);
    assert_eq!((leader.role, leader.term), (Role::Leader, 1));
    assert_eq!(leader.log, Log::from_entries(&[entry(1, Value::NOOP)]));
    assert_eq!(leader.commit_index, 0);
    assert_eq!(leader.votes_granted, ServerSet::default());
    for peer in [S1, S2] {
        assert_eq!(leader.next_index.get(peer), 1, "{peer}");
        assert_eq!(leader.match_index.get(peer), 0, "{peer}");
        let (_, image) = to(&appends, peer);
        let Msg::AppendEntries(ae) = image else {
            panic!("{image}")
        };
        assert_eq!((ae.term, ae.prev_log_index, ae.leader_commit), (1, 0, 0));
        assert_eq!(ae.entries, leader.log);
    }
    assert_eq!(leader.next_index.get(S0), 0, "the leader's own entry is 0");
    // The vote and term were persisted before the grant was released.
    assert_eq!(RS.storage(&c.nodes[1]).unwrap().voted_for, Some(S0));
}

#[test]
fn a_proposal_is_replicated_and_committed() {
    let mut c = Cluster::new(&cfg(1));
    let appends = elect_s0(&mut c);
    let (ae, _) = to(&appends, S1);
    let (resp, image) = to(&c.deliver(&ae), S0);
    assert!(matches!(image, Msg::AppendEntriesResponse(r) if r.success && r.match_index == 1));
    c.deliver(&resp);
    assert_eq!(c.state(S0).commit_index, 1, "the noop commits on s0 and s1");

    let sent = c.input(S0, Input::Propose(Value(1)));
    let want = Log::from_entries(&[entry(1, Value::NOOP), entry(1, Value(1))]);
    assert_eq!(c.state(S0).log, want);
    let (ae, _) = to(&sent, S1);
    let (resp, _) = to(&c.deliver(&ae), S0);
    assert_eq!(c.state(S1).log, want);
    let commit_bcast = c.deliver(&resp);
    let leader = c.state(S0);
    assert_eq!(leader.commit_index, 2);
    assert_eq!(leader.match_index.get(S1), 2);
    // raft-rs broadcasts the commit advance; s1 learns it from that.
    let (bcast, _) = to(&commit_bcast, S1);
    c.deliver(&bcast);
    assert_eq!(c.state(S1).commit_index, 2);
}

#[test]
fn a_heartbeat_sends_each_peer_one_batch_of_at_most_max_batch_entries() {
    for (max_batch, entries) in [(1, 1), (7, 2)] {
        let mut c = Cluster::new(&cfg(max_batch));
        elect_s0(&mut c);
        c.input(S0, Input::Propose(Value(1)));
        // s2's probe is paused (its first append unanswered): the heartbeat
        // resumes it and sends from its next index, 1.
        let sent = c.input(S0, Input::HeartbeatTimeout);
        let (_, image) = to(&sent, S2);
        let Msg::AppendEntries(ae) = image else {
            panic!("{image}")
        };
        assert_eq!(ae.prev_log_index, 0);
        assert_eq!(ae.entries.len(), entries, "max batch {max_batch}");
        // A follower's heartbeat timeout does nothing.
        assert!(c.input(S1, Input::HeartbeatTimeout).is_empty());
    }
}

#[test]
fn crash_and_recover_keep_term_vote_and_log_and_lose_volatile_state() {
    let mut c = Cluster::new(&cfg(1));
    let appends = elect_s0(&mut c);
    let (ae, _) = to(&appends, S1);
    let (resp, _) = to(&c.deliver(&ae), S0);
    c.deliver(&resp);
    let before = c.state(S0);
    assert_eq!((before.role, before.commit_index), (Role::Leader, 1));

    RS.crash(c.node(S0));
    assert_eq!(RS.state(&c.nodes[0]).unwrap(), None);
    let durable = RS.storage(&c.nodes[0]).unwrap();
    assert_eq!(durable, before.durable());
    let err = RS.step(c.node(S0), Input::ElectionTimeout).unwrap_err();
    assert!(matches!(err, AdapterError::Adapter(_)), "{err}");

    RS.recover(c.node(S0)).unwrap();
    let after = c.state(S0);
    assert_eq!(
        (after.term, after.voted_for, after.log),
        (before.term, before.voted_for, before.log)
    );
    assert_eq!(after.role, Role::Follower);
    assert_eq!(after.match_index, Default::default());
    // raft-rs restores its persisted commit index (the model: 0).
    assert_eq!(after.commit_index, 1);
    // It no longer leads: a proposal is refused (no leader known).
    let err = RS.step(c.node(S0), Input::Propose(Value(1))).unwrap_err();
    assert!(matches!(err, AdapterError::Refused { .. }), "{err}");
}

#[test]
fn the_fingerprint_sees_a_refusal_the_abstraction_does_not() {
    let mut c = Cluster::new(&cfg(1));
    // s1 votes for s2 in term 1, so it refuses s0 in term 1.
    let votes = c.input(S2, Input::ElectionTimeout);
    let (rv, _) = to(&votes, S1);
    c.deliver(&rv);
    let votes = c.input(S0, Input::ElectionTimeout);
    let before_state = c.state(S0);
    let before = RS.fingerprint(&c.nodes[0]);
    assert_eq!(before, RS.fingerprint(&c.nodes[0]), "deterministic");
    let (rv, _) = to(&votes, S1);
    let (refusal, image) = to(&c.deliver(&rv), S0);
    assert!(matches!(image, Msg::RequestVoteResponse(r) if !r.vote_granted));
    c.deliver(&refusal);
    assert_eq!(
        c.state(S0),
        before_state,
        "one refusal of three: still a candidate"
    );
    assert_ne!(RS.fingerprint(&c.nodes[0]), before);
}

#[test]
fn equal_nodes_have_equal_fingerprints() {
    let (mut a, mut b) = (Cluster::new(&cfg(1)), Cluster::new(&cfg(1)));
    assert_eq!(RS.fingerprint(&a.nodes[0]), RS.fingerprint(&b.nodes[0]));
    assert_ne!(RS.fingerprint(&a.nodes[0]), RS.fingerprint(&a.nodes[1]));
    elect_s0(&mut a);
    elect_s0(&mut b);
    for i in 0..3 {
        assert_eq!(RS.fingerprint(&a.nodes[i]), RS.fingerprint(&b.nodes[i]));
    }
}

#[test]
fn a_message_fingerprint_is_its_encoding() {
    let mut c = Cluster::new(&cfg(1));
    let appends = elect_s0(&mut c);
    let (m, _) = to(&appends, S1);
    let decoded = Message::parse_from_bytes(&m.write_to_bytes().unwrap()).unwrap();
    assert_eq!(RS.message_fingerprint(&m), RS.message_fingerprint(&decoded));
    assert_eq!(
        RS.message_fingerprint(&m),
        RS.message_fingerprint(&m.clone())
    );
    let (other, _) = to(&appends, S2);
    assert_ne!(RS.message_fingerprint(&m), RS.message_fingerprint(&other));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut c = Cluster::new(&cfg(1));
    let votes = c.input(S0, Input::ElectionTimeout);
    let (mut rv, _) = to(&votes, S1);
    let before = RS.fingerprint(&c.nodes[1]);

    rv.from = 9;
    let err = RS.step(c.node(S1), Input::Deliver(&rv)).unwrap_err();
    assert!(err.to_string().contains("from node 9"), "{err}");
    assert!(matches!(
        RS.model_message(&cfg(1), &rv),
        Err(AdapterError::Unrepresentable { .. })
    ));
    rv.from = 1;
    rv.to = 3;
    let err = RS.step(c.node(S1), Input::Deliver(&rv)).unwrap_err();
    assert!(err.to_string().contains("delivered to node 2"), "{err}");
    assert_eq!(RS.fingerprint(&c.nodes[1]), before, "nothing stepped");

    let mut beat = Message::default();
    beat.set_msg_type(MessageType::MsgHeartbeat);
    (beat.from, beat.to, beat.term) = (1, 2, 1);
    let err = RS.model_message(&cfg(1), &beat).unwrap_err();
    assert!(err.to_string().contains("MsgHeartbeat"), "{err}");
    let mut local = beat.clone();
    local.set_msg_type(MessageType::MsgHup);
    assert!(RS.step(c.node(S1), Input::Deliver(&local)).is_err());

    assert!(RS.fresh(&cfg(1), ServerId(3)).is_err());
    assert!(RS.recover(c.node(S1)).is_err(), "recovering a running node");
}

#[test]
fn a_raft_rs_panic_fails_the_node_and_is_reported() {
    let mut c = Cluster::new(&cfg(1));
    // A heartbeat committing past the follower's log: raft-rs's fatal!.
    let mut beat = Message::default();
    beat.set_msg_type(MessageType::MsgHeartbeat);
    (beat.from, beat.to, beat.term, beat.commit) = (1, 2, 1, 5);
    let err = RS.step(c.node(S1), Input::Deliver(&beat)).unwrap_err();
    assert!(
        matches!(&err, AdapterError::Refused { reason, .. } if reason.contains("raft-rs panicked")),
        "{err}"
    );
    let err = RS.step(c.node(S1), Input::ElectionTimeout).unwrap_err();
    assert!(err.to_string().contains("failed earlier"), "{err}");
    let err = RS.state(&c.nodes[1]).unwrap_err();
    assert!(err.to_string().contains("raft-rs panicked"), "{err}");
    assert_eq!(RS.storage(&c.nodes[1]).unwrap(), Default::default());
}
