//! Each option of the spec's variants, one handler step at a time: what the
//! option changes against the paper's rule on the same state, and the rule
//! it records. (The model checker shows each is safe; these show each does
//! what `spec/src/variant.rs` says.)

use std::borrow::Cow;

use raft_spec::coverage::Rule;
use raft_spec::message::{
    AppendEntries, AppendEntriesResponse, Heartbeat, HeartbeatResponse, Msg, RequestVote,
    RequestVoteResponse,
};
use raft_spec::server::{Durable, Effects, RaftServer, Role, ServerState, Timer};
use raft_spec::types::{Entry, Log, ServerId, Value};
use raft_spec::{Config, Profile, Variant};

const S0: ServerId = ServerId(0);
const S1: ServerId = ServerId(1);
const S2: ServerId = ServerId(2);

/// What one handler step did.
#[derive(Default)]
struct Step {
    sent: Vec<(ServerId, Msg)>,
    saved: Option<Durable>,
    rules: Vec<Rule>,
}

impl Effects for Step {
    fn send(&mut self, to: ServerId, msg: Msg) {
        self.sent.push((to, msg));
    }
    fn save(&mut self, durable: Durable) {
        self.saved = Some(durable);
    }
    fn set_timer(&mut self, _: Timer) {}
    fn cancel_timer(&mut self, _: Timer) {}
    fn cover(&mut self, rule: Rule) {
        self.rules.push(rule);
    }
}

fn server(variant: &str) -> RaftServer {
    let cfg = Config {
        variant: variant.parse::<Variant>().unwrap(),
        max_batch: 2,
        max_log_len: 4,
        ..Profile::Ci.config()
    };
    cfg.validate().unwrap();
    RaftServer { cfg }
}

fn log(terms: &[u8]) -> Log {
    Log::from_entries(
        &terms
            .iter()
            .map(|&term| Entry {
                term,
                value: Value::NOOP,
            })
            .collect::<Vec<_>>(),
    )
}

fn follower(term: u8, terms: &[u8]) -> ServerState {
    ServerState {
        term,
        log: log(terms),
        ..ServerState::default()
    }
}

/// A leader of `term` over `terms`, every peer at nextIndex last + 1 and
/// matchIndex 0 (as just elected), probed and not paused.
fn leader(term: u8, terms: &[u8]) -> ServerState {
    let mut s = ServerState {
        role: Role::Leader,
        term,
        voted_for: Some(S0),
        log: log(terms),
        ..ServerState::default()
    };
    for p in [S1, S2] {
        s.next_index.set(p, s.log.last_index() + 1);
    }
    s
}

fn receive(
    srv: &RaftServer,
    me: ServerId,
    s: &ServerState,
    from: ServerId,
    msg: Msg,
) -> (ServerState, Step) {
    let mut state = Cow::Borrowed(s);
    let mut step = Step::default();
    srv.receive(me, &mut state, from, msg, &mut step);
    (state.into_owned(), step)
}

fn fire(srv: &RaftServer, s: &ServerState, timer: Timer) -> (ServerState, Step) {
    let mut state = Cow::Borrowed(s);
    let mut step = Step::default();
    srv.fire(S0, &mut state, timer, &mut step);
    (state.into_owned(), step)
}

fn append_response(term: u8, success: bool, match_index: u8, prev: u8) -> Msg {
    Msg::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success,
        match_index,
        prev_log_index: prev,
        conflict_term: 0,
    })
}

#[test]
fn heartbeat_rpc_carries_the_commit_index_up_to_each_match_index() {
    let mut l = leader(1, &[1, 1]);
    l.commit_index = 2;
    l.match_index.set(S1, 1);
    l.match_index.set(S2, 2);
    let (_, paper) = fire(&server("paper"), &l, Timer::Heartbeat);
    assert!(paper
        .sent
        .iter()
        .all(|(_, m)| matches!(m, Msg::AppendEntries(_))));
    let rpc = server("paper,heartbeat=rpc");
    let (_, step) = fire(&rpc, &l, Timer::Heartbeat);
    let hb = |commit| {
        Msg::Heartbeat(Heartbeat {
            term: 1,
            leader_commit: commit,
        })
    };
    assert_eq!(step.sent, [(S1, hb(1)), (S2, hb(2))]);
    // A follower takes the commit without a log check, up to its log.
    let (f, step) = receive(&rpc, S1, &follower(1, &[1]), S0, hb(2));
    assert_eq!(f.commit_index, 1);
    assert_eq!(
        step.sent,
        [(S0, Msg::HeartbeatResponse(HeartbeatResponse { term: 1 }))]
    );
    assert!(step.rules.contains(&Rule::AcceptHeartbeat));
    // The leader answers a response from a follower behind with an append.
    let resp = Msg::HeartbeatResponse(HeartbeatResponse { term: 1 });
    let (_, step) = receive(&rpc, S0, &l, S1, resp);
    assert!(step.rules.contains(&Rule::HeartbeatResponse));
    assert!(matches!(step.sent[..], [(S1, Msg::AppendEntries(_))]));
    let (_, step) = receive(&rpc, S0, &l, S2, resp);
    assert!(step.sent.is_empty(), "s2 holds the whole log");
}

#[test]
fn stale_term_ignore_leaves_a_stale_request_unanswered() {
    let f = follower(2, &[]);
    let vote = Msg::RequestVote(RequestVote {
        term: 1,
        ..Default::default()
    });
    let (_, paper) = receive(&server("paper"), S1, &f, S0, vote);
    assert!(matches!(
        paper.sent[..],
        [(
            S0,
            Msg::RequestVoteResponse(RequestVoteResponse {
                term: 2,
                vote_granted: false,
                ..
            })
        )]
    ));
    assert_eq!(paper.rules, [Rule::RefuseVoteStaleTerm]);
    let ignore = server("paper,stale-term=ignore");
    let (after, step) = receive(&ignore, S1, &f, S0, vote);
    assert!(step.sent.is_empty());
    assert_eq!(step.rules, [Rule::IgnoreStaleRequest]);
    assert_eq!(after, f);
    // A stale response is no request: it is still handled (and ignored).
    let (_, step) = receive(&ignore, S1, &f, S0, append_response(1, true, 0, 0));
    assert_eq!(step.rules, [Rule::IgnoreAppendResponse]);
}

#[test]
fn probe_replicate_pauses_a_probe_and_pipelines_a_replicated_follower() {
    let srv = server("paper,heartbeat=rpc,flow-control=probe-replicate");
    let l = leader(1, &[1]);
    // The first append to a probed peer pauses it...
    let (l, step) = fire(&srv, &l, Timer::Heartbeat);
    assert!(step
        .sent
        .iter()
        .all(|(_, m)| matches!(m, Msg::Heartbeat(_))));
    let (l, step) = fire(&srv, &l, Timer::Propose(Value(1)));
    assert_eq!(step.sent.len(), 2, "both probes go out");
    assert!(l.paused.contains(S1) && l.paused.contains(S2));
    // ...so the next proposal sends it nothing; the paper resends.
    let (l2, step) = fire(&srv, &l, Timer::Propose(Value(1)));
    assert!(step.sent.is_empty());
    assert!(step.rules.contains(&Rule::SkipPausedProbe));
    let (_, paper) = fire(&server("paper"), &l, Timer::Propose(Value(1)));
    assert_eq!(paper.sent.len(), 2);
    // A success makes s1 replicated; what is left goes at once, and its
    // nextIndex moves past what was sent.
    let (l3, step) = receive(&srv, S0, &l2, S1, append_response(1, true, 1, 0));
    assert!(step.rules.contains(&Rule::ReplicateFollower));
    assert!(l3.replicating.contains(S1) && !l3.paused.contains(S1));
    assert_eq!(l3.match_index.get(S1), 1);
    assert_eq!(l3.next_index.get(S1), l3.log.last_index() + 1, "optimistic");
    assert!(step
        .sent
        .iter()
        .any(|(to, m)| *to == S1 && matches!(m, Msg::AppendEntries(ae) if ae.prev_log_index == 1)));
    // A rejection of an index past matchIndex probes it again from there.
    let (l4, step) = receive(&srv, S0, &l3, S1, append_response(1, false, 1, 2));
    assert_eq!(step.rules, [Rule::RetryAfterRejection]);
    assert!(!l4.replicating.contains(S1));
    assert_eq!(l4.next_index.get(S1), 2);
    // A rejection of an index at or below matchIndex is stale.
    let (l5, step) = receive(&srv, S0, &l3, S1, append_response(1, false, 0, 1));
    assert_eq!(step.rules, [Rule::IgnoreAppendResponse]);
    assert_eq!(l5, l3);
}

/// A probe answered by a reordered rejection of the very index it probes,
/// with a hint below matchIndex: the spec backs off to matchIndex + 1 at
/// the lowest (raft-rs 0.7 goes to the hint, leaving nextIndex at
/// matchIndex).
#[test]
fn probe_back_off_never_goes_to_or_below_match_index() {
    let srv = server("raft-rs");
    let mut l = leader(2, &[1, 2]);
    l.match_index.set(S1, 1);
    l.next_index.set(S1, 2);
    let (l, step) = receive(&srv, S0, &l, S1, append_response(2, false, 0, 1));
    assert_eq!(step.rules, [Rule::RetryAfterRejection]);
    assert_eq!(l.next_index.get(S1), 2, "floored at matchIndex + 1");
}

#[test]
fn commit_broadcast_sends_the_new_commit_to_every_peer() {
    let mut l = leader(1, &[1]);
    l.next_index.set(S1, 1);
    l.next_index.set(S2, 2);
    let resp = append_response(1, true, 1, 0);
    let (after, paper) = receive(&server("paper"), S0, &l, S1, resp);
    assert_eq!(after.commit_index, 1);
    assert!(
        paper.sent.is_empty(),
        "the paper waits for the next heartbeat"
    );
    let (_, step) = receive(&server("paper,commit-broadcast"), S0, &l, S1, resp);
    assert!(step.rules.contains(&Rule::BroadcastCommit));
    let to: Vec<ServerId> = step.sent.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, [S1, S2]);
    assert!(step
        .sent
        .iter()
        .all(|(_, m)| matches!(m, Msg::AppendEntries(ae) if ae.leader_commit == 1)));
}

#[test]
fn a_refused_candidate_steps_down_once_it_cannot_win() {
    let mut c = follower(1, &[]);
    c.role = Role::Candidate;
    c.voted_for = Some(S0);
    c.votes_granted.insert(S0);
    let refusal = Msg::RequestVoteResponse(RequestVoteResponse {
        term: 1,
        vote_granted: false,
        ..Default::default()
    });
    let (paper, _) = receive(&server("paper"), S0, &c, S1, refusal);
    assert_eq!(paper.role, Role::Candidate);
    let srv = server("paper,refused-candidate-steps-down");
    let (one, step) = receive(&srv, S0, &c, S1, refusal);
    assert_eq!(step.rules, [Rule::CountRefusal]);
    assert_eq!(one.role, Role::Candidate, "s2 may still grant");
    // The same refusal again counts once.
    let (again, step) = receive(&srv, S0, &one, S1, refusal);
    assert_eq!(step.rules, [Rule::IgnoreVoteResponse]);
    assert_eq!(again, one);
    let (two, step) = receive(&srv, S0, &one, S2, refusal);
    assert_eq!(step.rules, [Rule::CandidateLoses]);
    assert_eq!(two.role, Role::Follower);
    assert_eq!(two.voted_for, Some(S0), "its own vote stays cast");
    assert_eq!(two.term, 1);
}

#[test]
fn leader_stickiness_refuses_even_the_leaders_own_delayed_vote_request() {
    let srv = server("paper,leader-stickiness");
    let append = Msg::AppendEntries(AppendEntries {
        term: 1,
        ..Default::default()
    });
    let (f, _) = receive(&srv, S1, &follower(0, &[]), S0, append);
    assert_eq!(f.leader, Some(S0));
    assert_eq!(f.voted_for, None);
    let vote = Msg::RequestVote(RequestVote {
        term: 1,
        ..Default::default()
    });
    let (after, step) = receive(&srv, S1, &f, S0, vote);
    assert_eq!(step.rules, [Rule::RefuseVoteLeaderKnown]);
    assert_eq!(after.voted_for, None);
    let (paper_f, _) = receive(&server("paper"), S1, &follower(0, &[]), S0, append);
    assert_eq!(paper_f.leader, None, "the paper keeps no leader");
    let (after, step) = receive(&server("paper"), S1, &paper_f, S0, vote);
    assert_eq!(step.rules, [Rule::GrantVote]);
    assert_eq!(after.voted_for, Some(S0));
    // A new term forgets the leader.
    let vote2 = Msg::RequestVote(RequestVote {
        term: 2,
        ..Default::default()
    });
    let (after, step) = receive(&srv, S1, &f, S2, vote2);
    assert!(step.rules.contains(&Rule::GrantVote));
    assert_eq!((after.leader, after.voted_for), (None, Some(S2)));
}

#[test]
fn votes_carry_commit_and_a_voter_holding_the_entry_commits_it() {
    let srv = server("paper,votes-carry-commit");
    let mut c = leader(1, &[1]);
    c.role = Role::Follower;
    c.commit_index = 1;
    let (_, step) = fire(&srv, &c, Timer::Election);
    let Some((_, Msg::RequestVote(rv))) = step.sent.first() else {
        panic!("no RequestVote: {:?}", step.sent);
    };
    assert_eq!((rv.commit, rv.commit_term), (1, 1));
    // A voter that refuses (it voted already) learns the commit.
    let mut voter = follower(2, &[1]);
    voter.voted_for = Some(S2);
    let req = Msg::RequestVote(RequestVote { term: 2, ..*rv });
    let (after, step) = receive(&srv, S1, &voter, S0, req);
    assert!(step.rules.contains(&Rule::CommitByVote));
    assert_eq!(after.commit_index, 1);
    // Not an entry it holds with that term: no commit.
    let (after, _) = receive(&srv, S1, &follower(2, &[2]), S0, req);
    assert_eq!(after.commit_index, 0);
    // The paper's RequestVote carries none.
    let (_, step) = fire(&server("paper"), &c, Timer::Election);
    assert!(matches!(
        step.sent[0].1,
        Msg::RequestVote(RequestVote {
            commit: 0,
            commit_term: 0,
            ..
        })
    ));
}

#[test]
fn persisted_commit_is_saved_and_restored() {
    let srv = server("paper,persisted-commit");
    let ae = Msg::AppendEntries(AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: log(&[1]),
        leader_commit: 1,
    });
    let (f, step) = receive(&srv, S1, &follower(1, &[]), S0, ae);
    assert_eq!(f.commit_index, 1);
    let saved = step.saved.expect("the append is saved");
    assert_eq!(saved.commit_index, 1);
    let mut o = Step::default();
    let back = srv.restart(&Some(saved), &mut o);
    assert_eq!(back.commit_index, 1);
    let (_, paper) = receive(&server("paper"), S1, &follower(1, &[]), S0, ae);
    assert_eq!(
        paper.saved.unwrap().commit_index,
        0,
        "the paper saves no commit"
    );
}

#[test]
fn conflict_by_term_hints_skip_a_term_and_answer_below_commit() {
    let ae = |prev_log_index, prev_log_term| {
        Msg::AppendEntries(AppendEntries {
            term: 3,
            prev_log_index,
            prev_log_term,
            ..Default::default()
        })
    };
    let f = follower(3, &[1, 1, 1]);
    let reply = |step: &Step| match step.sent[..] {
        [(_, Msg::AppendEntriesResponse(r))] => r,
        ref other => panic!("{other:?}"),
    };
    let (_, paper) = receive(&server("paper"), S1, &f, S0, ae(3, 2));
    assert_eq!(
        (reply(&paper).match_index, reply(&paper).conflict_term),
        (2, 0)
    );
    let srv = server("paper,rejection-hint=conflict-by-term");
    let (_, step) = receive(&srv, S1, &f, S0, ae(3, 2));
    let r = reply(&step);
    assert_eq!((r.success, r.match_index, r.conflict_term), (false, 3, 1));
    // The leader moves the hint back to its last entry of a term <= 1.
    let mut l = leader(3, &[1, 2, 2]);
    l.next_index.set(S1, 4);
    let (l2, _) = receive(&srv, S0, &l, S1, Msg::AppendEntriesResponse(r));
    assert_eq!(l2.next_index.get(S1), 2);
    // Below the commit index: success at the commit index, entries dropped.
    let mut committed = f;
    committed.commit_index = 2;
    let (after, step) = receive(&srv, S1, &committed, S0, ae(1, 1));
    assert_eq!(step.rules, [Rule::AnswerBelowCommit]);
    assert_eq!((reply(&step).success, reply(&step).match_index), (true, 2));
    assert_eq!(after.log, committed.log);
}

#[test]
fn a_byte_batch_limit_counts_no_ops_as_smaller_than_values() {
    let l = leader(1, &[1, 1, 1]);
    let mut l = l;
    l.next_index.set(S1, 1);
    let batch = |srv: &RaftServer| {
        let (_, step) = fire(srv, &l, Timer::Heartbeat);
        match step.sent.iter().find(|(to, _)| *to == S1) {
            Some((_, Msg::AppendEntries(ae))) => ae.entries.len(),
            other => panic!("{other:?}"),
        }
    };
    // max_batch 2: two entries, or 2 x 7 bytes, which three 4-byte no-ops fit.
    assert_eq!(batch(&server("paper")), 2);
    assert_eq!(batch(&server("paper,batch-limit=bytes")), 3);
}
