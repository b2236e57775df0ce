//! Index and term arithmetic a peer's message can drive: extreme or
//! malformed values are handled without a panic (the test profile checks
//! overflow) and without wrapping.

use raft_core::{
    AppendEntries, AppendEntriesResponse, Config, Entry, EntryKind, Message, MessageBody, RaftNode,
    RequestVote, Role,
};

fn node(id: u64) -> RaftNode {
    RaftNode::new(Config::new(id, 1..=3)).unwrap()
}

fn messages(ready: raft_core::Ready) -> Vec<Message> {
    ready.persisted().messages
}

/// Node 1 leads term 1 with log [1:noop]; node 2 voted for it.
fn leader() -> RaftNode {
    let mut n1 = node(1);
    let rv = messages(n1.election_timeout())
        .into_iter()
        .find(|m| m.to == 2)
        .unwrap();
    let mut n2 = node(2);
    for reply in messages(n2.step(rv)) {
        messages(n1.step(reply));
    }
    assert_eq!(n1.role(), Role::Leader);
    n1
}

fn response(term: u64, success: bool, match_index: u64) -> Message {
    Message {
        from: 2,
        to: 1,
        body: MessageBody::AppendEntriesResponse(AppendEntriesResponse {
            term,
            success,
            match_index,
        }),
    }
}

fn append(prev_log_index: u64, prev_log_term: u64, entries: Vec<Entry>) -> Message {
    Message {
        from: 1,
        to: 2,
        body: MessageBody::AppendEntries(AppendEntries {
            term: 1,
            leader_id: 1,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: 0,
        }),
    }
}

fn prev_log_index(sent: &[Message]) -> u64 {
    match sent {
        [Message {
            body: MessageBody::AppendEntries(ae),
            ..
        }] => ae.prev_log_index,
        other => panic!("expected one AppendEntries, sent {other:?}"),
    }
}

#[test]
fn a_conflict_hint_of_u64_max_backs_off_without_overflow() {
    let mut leader = leader();
    let sent = messages(leader.step(response(1, false, u64::MAX)));
    // nextIndex was 1 (lastIndex 0 when elected) and cannot go lower.
    assert_eq!(leader.progress(2).unwrap().next_index, 1);
    assert_eq!(prev_log_index(&sent), 0);
}

#[test]
fn a_conflict_hint_of_0_backs_off_to_index_1() {
    let mut leader = leader();
    let sent = messages(leader.step(response(1, false, 0)));
    assert_eq!(leader.progress(2).unwrap().next_index, 1);
    assert_eq!(prev_log_index(&sent), 0);
}

#[test]
fn a_success_past_the_leaders_log_is_ignored() {
    let mut leader = leader();
    for claimed in [2, u64::MAX] {
        let before = leader.progress(2).unwrap();
        let sent = messages(leader.step(response(1, true, claimed)));
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(leader.progress(2).unwrap(), before);
        assert_eq!(leader.commit_index(), 0, "nothing is committed on its word");
    }
    // An honest acknowledgement still counts.
    messages(leader.step(response(1, true, 1)));
    assert_eq!(leader.progress(2).unwrap().match_index, 1);
    assert_eq!(leader.commit_index(), 1);
}

#[test]
fn a_prev_log_index_of_u64_max_is_rejected_with_an_in_range_hint() {
    let mut follower = node(2);
    let sent = messages(follower.step(append(u64::MAX, 1, vec![])));
    match &sent[..] {
        [Message {
            body: MessageBody::AppendEntriesResponse(r),
            ..
        }] => assert!(!r.success && r.match_index == 0, "{r:?}"),
        other => panic!("expected one rejection, sent {other:?}"),
    }
}

#[test]
fn entries_not_contiguous_after_prev_log_index_are_dropped() {
    let entry = |index| Entry {
        index,
        term: 1,
        kind: EntryKind::Noop,
    };
    let mut follower = node(2);
    for entries in [
        vec![entry(5)],
        vec![entry(1), entry(3)],
        vec![entry(u64::MAX)],
    ] {
        let sent = messages(follower.step(append(0, 0, entries.clone())));
        assert!(sent.is_empty(), "{entries:?}: {sent:?}");
        assert!(follower.log().is_empty(), "{entries:?}");
    }
    // Entries past u64::MAX cannot be contiguous either.
    let sent = messages(follower.step(append(u64::MAX, 1, vec![entry(0)])));
    assert!(sent.is_empty() && follower.log().is_empty());
    // The well-formed message is accepted.
    let sent = messages(follower.step(append(0, 0, vec![entry(1)])));
    assert_eq!(follower.log(), [entry(1)]);
    assert_eq!(sent.len(), 1);
}

#[test]
fn at_term_u64_max_an_election_timeout_starts_no_election() {
    let mut n2 = node(2);
    let rv = Message {
        from: 1,
        to: 2,
        body: MessageBody::RequestVote(RequestVote {
            term: u64::MAX,
            candidate_id: 1,
            last_log_index: 0,
            last_log_term: 0,
        }),
    };
    messages(n2.step(rv));
    assert_eq!(n2.term(), u64::MAX);
    let sent = messages(n2.election_timeout());
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!((n2.term(), n2.role()), (u64::MAX, Role::Follower));
}
