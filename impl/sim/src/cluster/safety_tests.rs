//! The safety checks, each shown to report a corrupted state as itself: the
//! state is planted behind the core's back (raft-core's `fault-injection`
//! hooks), so no step produced it and only the checker can notice.

use super::*;
use raft_safety::Breach;

/// Three nodes; node 1 leads term 1 and every node has committed its no-op.
fn settled() -> Cluster {
    let mut c = Cluster::new(SimConfig::new(3));
    c.election_timeout(1).unwrap();
    c.drain_network().unwrap();
    // The next heartbeat carries the leader's commit index to the followers.
    c.heartbeat_timeout(1).unwrap();
    c.drain_network().unwrap();
    for id in c.ids() {
        let n = c.node(id).unwrap();
        assert_eq!((n.term(), n.commit_index(), n.log().len()), (1, 1, 1));
    }
    c
}

fn raft(c: &mut Cluster, id: NodeId) -> &mut RaftNode {
    c.nodes[slot(id)].node_mut().unwrap()
}

fn entry(index: LogIndex, term: Term, value: &'static str) -> Entry {
    Entry {
        index,
        term,
        kind: EntryKind::Normal(Bytes::from(value)),
    }
}

fn breach(v: Result<(), Violation>) -> Breach<NodeId> {
    match v {
        Err(Violation::Safety(b)) => b,
        other => panic!("expected a safety breach, got {other:?}"),
    }
}

#[test]
fn a_second_leader_of_a_term_breaks_election_safety() {
    let mut c = settled();
    raft(&mut c, 2).inject_role(Role::Leader);
    assert_eq!(
        breach(c.check(2)),
        Breach::ElectionSafety {
            term: 1,
            first: 1,
            second: 2
        }
    );
}

#[test]
fn a_leader_dropping_its_own_entry_breaks_leader_append_only() {
    let mut c = settled();
    c.propose(1).unwrap();
    let noop = c.node(1).unwrap().log()[0].clone();
    raft(&mut c, 1).inject_log(vec![noop]);
    assert_eq!(
        breach(c.check(1)),
        Breach::LeaderAppendOnly {
            node: 1,
            term: 1,
            index: 2
        }
    );
}

/// Two current logs share entry 2@1 but differ at 1. Node 3's log is never
/// checked on its own (node 2 takes the step), so only the pairwise check
/// can see it.
#[test]
fn logs_sharing_an_entry_but_not_its_prefix_break_log_matching() {
    let mut c = settled();
    c.propose(1).unwrap();
    c.drain_network().unwrap();
    let mut log = c.node(3).unwrap().log().to_vec();
    assert_eq!(log.len(), 2);
    log[0] = entry(1, 1, "forged");
    raft(&mut c, 3).inject_log(log);
    assert_eq!(
        breach(c.check(2)),
        Breach::LogMatching {
            a: 2,
            b: 3,
            index: 2,
            term: 1
        }
    );
}

/// Entry 2@1 (v1) existed only in node 1's log, which a leader of term 2
/// then overwrote. A log holding another 2@1 agrees with every current log
/// (they all have 2@2), so only the history of entries seen catches it.
#[test]
fn an_entry_differing_from_one_truncated_away_breaks_log_matching() {
    let mut c = settled();
    c.propose(1).unwrap();
    while c.network.take_oldest().is_some() {}
    c.election_timeout(2).unwrap();
    c.drain_network().unwrap();
    assert_eq!(c.current_leader(), Some(2));
    for id in c.ids() {
        assert_eq!(
            c.node(id)
                .unwrap()
                .log()
                .iter()
                .map(|e| e.term)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }
    let noop = c.node(3).unwrap().log()[0].clone();
    let forged = raft(&mut c, 3);
    forged.inject_log(vec![noop, entry(2, 1, "forged")]);
    // Index 2 uncommitted on node 3, so State Machine Safety has nothing to say.
    forged.inject_commit_index(1);
    assert_eq!(
        breach(c.check(3)),
        Breach::LogMatching {
            a: 1,
            b: 3,
            index: 2,
            term: 1
        }
    );
}

#[test]
fn a_later_leader_lacking_a_committed_entry_breaks_leader_completeness() {
    let mut c = settled();
    c.election_timeout(2).unwrap();
    c.drain_network().unwrap();
    assert_eq!(c.current_leader(), Some(2));
    let leader = raft(&mut c, 2);
    leader.inject_log(Vec::new());
    leader.inject_commit_index(0);
    assert_eq!(
        breach(c.check(3)),
        Breach::LeaderCompleteness {
            node: 2,
            term: 2,
            index: 1,
            entry_term: 1,
            committed_in: 1
        }
    );
}

/// The model's Leader Completeness (the paper's) binds leaders of later
/// terms only; the simulator also holds a leader to what was committed in
/// its own term.
#[test]
fn a_leader_lacking_an_entry_committed_in_its_own_term_breaks_leader_completeness() {
    let mut c = settled();
    let leader = raft(&mut c, 1);
    leader.inject_log(Vec::new());
    leader.inject_commit_index(0);
    assert_eq!(
        breach(c.check(2)),
        Breach::LeaderCompleteness {
            node: 1,
            term: 1,
            index: 1,
            entry_term: 1,
            committed_in: 1
        }
    );
}

#[test]
fn a_committed_entry_other_than_the_first_breaks_state_machine_safety() {
    let mut c = settled();
    // Term 2: an (index, term) never seen, so Log Matching has nothing to say.
    raft(&mut c, 3).inject_log(vec![entry(1, 2, "forged")]);
    assert_eq!(
        breach(c.check(3)),
        Breach::StateMachineSafety {
            node: 3,
            index: 1,
            has: Some(2),
            first: Some(1)
        }
    );
}

#[test]
fn a_next_index_of_zero_breaks_indices_in_range() {
    let mut c = settled();
    let leader = raft(&mut c, 1);
    leader.inject_unfloored_next_index(2);
    leader.inject_unfloored_next_index(2);
    let Breach::IndexOutOfRange { node: 1, detail } = breach(c.check(1)) else {
        panic!("expected indices in range");
    };
    assert!(detail.contains("nextIndex 0 is below 1"), "{detail}");
}

/// A Ready releases entry 2 as committed, but the node's commit index is
/// (planted back to) 1: applying it would apply an entry no check holds to
/// the committed prefix.
#[test]
fn applying_beyond_the_commit_index_is_a_violation() {
    let mut c = settled();
    c.propose(1).unwrap();
    // The followers append entry 2; their acknowledgements are held back.
    let mut acks = Vec::new();
    while let Some(m) = c.network.take_oldest() {
        if m.to == 1 {
            acks.push(m);
        } else {
            c.deliver_message(m, false).unwrap();
        }
    }
    let ready = raft(&mut c, 1).step(acks.remove(0));
    raft(&mut c, 1).inject_commit_index(1);
    assert_eq!(
        c.persist_and_release(1, ready),
        Err(Violation::Apply {
            node: 1,
            detail: format!(
                "applied {} beyond its commit index 1",
                c.node(1).unwrap().log()[1]
            )
        })
    );
    assert!(c.acknowledged().is_empty(), "v1 must not count as applied");
}
