//! The core's public contract, input by input: errors, the Ready's
//! persist-then-send order, batching limits and the observation API.

use raft_core::{
    Bytes, Config, ConfigError, DurableState, DurableWrite, Entry, EntryKind, Message, MessageBody,
    ProposeError, RaftNode, Role,
};

fn node(id: u64, n: u64) -> RaftNode {
    RaftNode::new(Config::new(id, 1..=n)).unwrap()
}

fn messages(ready: raft_core::Ready) -> Vec<Message> {
    ready.persisted().messages
}

/// Elect node 1 of 3 by hand; returns the leader and the two followers.
fn elect() -> (RaftNode, RaftNode, RaftNode) {
    let (mut n1, mut n2, mut n3) = (node(1, 3), node(2, 3), node(3, 3));
    for rv in messages(n1.election_timeout()) {
        let target = if rv.to == 2 { &mut n2 } else { &mut n3 };
        for reply in messages(target.step(rv)) {
            messages(n1.step(reply));
        }
    }
    assert_eq!(n1.role(), Role::Leader);
    (n1, n2, n3)
}

#[test]
fn proposals_on_followers_name_the_leader_or_say_it_is_unknown() {
    let mut fresh = node(2, 3);
    let err = fresh.propose(Bytes::from("x")).unwrap_err();
    assert_eq!(err, ProposeError::NoLeader);
    assert_eq!(
        err.to_string(),
        "not leader, leader unknown; retry after an election"
    );

    let (mut leader, mut follower, _) = elect();
    let ae = messages(leader.heartbeat_timeout())
        .into_iter()
        .find(|m| m.to == 2)
        .unwrap();
    messages(follower.step(ae));
    let err = follower.propose(Bytes::from("x")).unwrap_err();
    assert_eq!(err.to_string(), "not leader, leader is 1");
}

#[test]
fn a_vote_is_written_in_the_same_ready_that_carries_it() {
    let mut candidate = node(1, 3);
    let rv = messages(candidate.election_timeout()).remove(0);
    let mut voter = node(2, 3);
    let ready = voter.step(rv);
    assert_eq!(
        ready.durable_writes(),
        [DurableWrite::HardState {
            term: 1,
            voted_for: Some(1)
        }]
    );
    // Only by acknowledging the write does the caller get the grant to send.
    let out = ready.persist_with(|_| Ok::<(), ()>(())).unwrap();
    assert!(matches!(&out.messages[0].body, MessageBody::RequestVoteResponse(r) if r.vote_granted));
    // A failed persist releases nothing.
    let mut other = node(3, 3);
    let rv = messages(candidate.election_timeout()).remove(0);
    let failed = other
        .step(Message { to: 3, ..rv })
        .persist_with(|_| Err("disk full"));
    assert_eq!(failed.unwrap_err(), "disk full");
}

/// Batch sizes a leader with these limits sends for a fresh log of
/// [noop, 8 B, 8 B, 20 B] to each peer.
fn batch_sizes(max_entries: usize, max_bytes: usize) -> Vec<usize> {
    let (mut n2, mut n3) = (node(2, 3), node(3, 3));
    let mut leader =
        RaftNode::new(Config::new(1, 1..=3).with_limits(max_entries, max_bytes)).unwrap();
    for rv in messages(leader.election_timeout()) {
        let target = if rv.to == 2 { &mut n2 } else { &mut n3 };
        for reply in messages(target.step(rv)) {
            messages(leader.step(reply));
        }
    }
    let payloads = ["aaaaaaaa", "bbbbbbbb", "cccccccccccccccccccc"].map(Bytes::from);
    let (_, ready) = leader.propose_batch(payloads).unwrap();
    assert_eq!(
        leader.progress(2).unwrap().next_index,
        1,
        "next does not move on send"
    );
    messages(ready)
        .iter()
        .map(|m| match &m.body {
            MessageBody::AppendEntries(ae) => ae.entries.len(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn append_entries_respect_entry_and_byte_limits() {
    assert_eq!(batch_sizes(2, usize::MAX), [2, 2], "entry cap");
    assert_eq!(
        batch_sizes(4, 10),
        [2, 2],
        "byte cap: noop + 8 B fit, 16 B would not"
    );
    assert_eq!(batch_sizes(4, 36), [4, 4], "everything fits");
    // The first entry is never held back, however small the byte limit.
    assert_eq!(batch_sizes(4, 0), [1, 1]);
}

#[test]
fn observation_reports_votes_only_for_candidates_and_progress_only_for_leaders() {
    let mut n = node(1, 3);
    assert_eq!(n.granted_votes(), None);
    assert_eq!(n.progress(2), None);
    messages(n.election_timeout());
    assert_eq!(
        n.granted_votes()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1]
    );
    let (leader, _, _) = elect();
    assert_eq!(leader.granted_votes(), None);
    assert_eq!(leader.progresses().len(), 2);
    assert_eq!(leader.log()[0].kind, EntryKind::Noop);
}

#[test]
fn restart_refuses_bad_config_and_inconsistent_durable_state() {
    assert_eq!(
        RaftNode::new(Config::new(4, 1..=3)).unwrap_err(),
        ConfigError::NotAVoter { id: 4 }
    );
    let entry = |index, term| Entry {
        index,
        term,
        kind: EntryKind::Noop,
    };
    let gap = DurableState {
        term: 1,
        voted_for: None,
        log: vec![entry(1, 1), entry(3, 1)],
    };
    assert!(matches!(
        RaftNode::restart(Config::new(1, 1..=3), gap),
        Err(ConfigError::LogNotContiguous {
            position: 2,
            found: 3
        })
    ));
    let future = DurableState {
        term: 1,
        voted_for: None,
        log: vec![entry(1, 2)],
    };
    assert!(RaftNode::restart(Config::new(1, 1..=3), future).is_err());
    let ok = DurableState {
        term: 2,
        voted_for: Some(1),
        log: vec![entry(1, 2)],
    };
    let n = RaftNode::restart(Config::new(1, 1..=3), ok).unwrap();
    assert_eq!(
        (n.role(), n.term(), n.voted_for(), n.commit_index()),
        (Role::Follower, 2, Some(1), 0)
    );
}
