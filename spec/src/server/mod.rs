//! One Raft server as a stateright actor: the receiver rules of the Raft
//! paper's Figure 2. Each action is one function named after its raft.tla
//! operator in snake_case (`update_term`, `timeout`, `request_vote`,
//! `handle_request_vote_request`, ...), as in raft-core; each receiver rule
//! is marked `[RequestVote receiver N]` / `[AppendEntries receiver N]` where
//! it is implemented, here and in raft-core (docs/rules.md).
//!
//! A step of the model is atomic: what a handler saves (`Effects::save`) and sends
//! happen together. The persistence contract (save before send) is what the
//! implementation must honour; here it is written in that order for readers.
//! Wrong rules from the bug catalogue are switched on per config and marked
//! `Bug::` at the one place each changes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Actor, Id, Out};
use stateright::{Rewrite, RewritePlan};

use crate::bug::Bug;
use crate::config::Config;
use crate::coverage::Rule;
use crate::message::Msg;
mod election;
mod replication;

use crate::types::{
    Checked, Index, Log, PeerMap, ServerId, ServerSet, Term, Value, LOG_CAPACITY, MAX_SERVERS,
};
use crate::variant::StaleTerm;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Role {
    #[default]
    Follower,
    Candidate,
    Leader,
}

/// Timers are flags in stateright: any timer that is set may fire next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// A follower or candidate starts an election.
    Election,
    /// A leader sends AppendEntries to every peer.
    Heartbeat,
    /// A client proposes a value to the leader.
    Propose(Value),
}

/// A server's whole state: persistent (term, vote, log) and volatile. The
/// default is a follower that has never started (an abstraction fills in
/// what it knows, the rest default).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerState {
    pub role: Role,
    pub term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Log,
    pub commit_index: Index,
    /// A candidate's voters, itself included.
    pub votes_granted: ServerSet,
    /// Granted responses counted without regard to the voter: used only by
    /// `Bug::VotesNotDeduplicated`, zero otherwise.
    pub vote_responses: u8,
    /// A leader's next index per peer (zero when not leader).
    pub next_index: PeerMap,
    /// A leader's match index per peer (zero when not leader).
    pub match_index: PeerMap,
    /// Ghost: recoveries so far, so the model can bound crashes over a run.
    pub restarts: u8,
    /// Ghost: an index or term this server computed fell out of its range
    /// and was clamped rather than wrapped (see [`Checked`]); the "indices in
    /// range" property fails on it. Never set by correct Raft.
    pub out_of_range: bool,
    /// `Variant::leader_stickiness`: the leader of the current term this
    /// server has heard from (always `None` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<ServerId>,
    /// `Variant::refused_candidate_steps_down`: a candidate's refusers.
    #[serde(default, skip_serializing_if = "no_servers")]
    pub votes_refused: ServerSet,
    /// `FlowControl::ProbeReplicate`: a leader's peers in the replicate
    /// state (the others are probed).
    #[serde(default, skip_serializing_if = "no_servers")]
    pub replicating: ServerSet,
    /// `FlowControl::ProbeReplicate`: probed peers with a probe in flight,
    /// sent nothing until it is answered or a heartbeat response arrives.
    #[serde(default, skip_serializing_if = "no_servers")]
    pub paused: ServerSet,
}

/// What survives a crash: Figure 2's persistent state.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Durable {
    pub term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Log,
    /// Ghost (see `ServerState::restarts`).
    pub restarts: u8,
    /// `Variant::persisted_commit`: the commit index (0 otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit_index: Index,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

fn no_servers(s: &ServerSet) -> bool {
    s.is_empty()
}

impl ServerState {
    /// A server just (re)started from its storage: a follower with no
    /// volatile state.
    pub fn recovered(d: &Durable) -> Self {
        ServerState {
            role: Role::Follower,
            term: d.term,
            voted_for: d.voted_for,
            log: d.log,
            commit_index: d.commit_index,
            votes_granted: ServerSet::default(),
            vote_responses: 0,
            next_index: PeerMap::default(),
            match_index: PeerMap::default(),
            restarts: d.restarts,
            out_of_range: false,
            leader: None,
            votes_refused: ServerSet::default(),
            replicating: ServerSet::default(),
            paused: ServerSet::default(),
        }
    }

    /// Figure 2's persistent state (term, vote, log): what a server saves
    /// unless its variant persists the commit index too
    /// ([`RaftServer::saved`]).
    pub fn durable(&self) -> Durable {
        Durable {
            term: self.term,
            voted_for: self.voted_for,
            log: self.log,
            restarts: self.restarts,
            commit_index: 0,
        }
    }
}

impl ServerState {
    /// The same state with every server id in it renamed by `rename`
    /// (symmetry).
    pub fn renamed(&self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        ServerState {
            voted_for: self.voted_for.map(&rename),
            votes_granted: self.votes_granted.renamed(&rename),
            next_index: self.next_index.renamed(&rename),
            match_index: self.match_index.renamed(&rename),
            leader: self.leader.map(&rename),
            votes_refused: self.votes_refused.renamed(&rename),
            replicating: self.replicating.renamed(&rename),
            paused: self.paused.renamed(&rename),
            ..*self
        }
    }
}

impl Durable {
    /// The same storage with its vote renamed by `rename` (symmetry).
    pub fn renamed(&self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        Durable {
            voted_for: self.voted_for.map(rename),
            ..*self
        }
    }
}

impl Rewrite<Id> for ServerState {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        self.renamed(|s| s.rewrite(plan))
    }
}

impl Rewrite<Id> for Durable {
    fn rewrite<S>(&self, plan: &RewritePlan<Id, S>) -> Self {
        self.renamed(|s| s.rewrite(plan))
    }
}

/// Takes the value of checked index or term arithmetic, recording on the
/// server when it was out of range. A `Cow` is cloned only then, so the
/// check costs nothing on the correct model's path.
pub(crate) trait RecordRange {
    fn checked(&mut self, c: Checked) -> u8;
}

impl RecordRange for ServerState {
    fn checked(&mut self, c: Checked) -> u8 {
        if !c.in_range {
            self.out_of_range = true;
        }
        c.value
    }
}

impl RecordRange for Cow<'_, ServerState> {
    fn checked(&mut self, c: Checked) -> u8 {
        if !c.in_range && !self.out_of_range {
            self.to_mut().out_of_range = true;
        }
        c.value
    }
}

/// The actor. Every server runs the same value; its identity comes from the
/// `id` stateright passes in, which symmetry reduction requires.
#[derive(Clone, Debug)]
pub struct RaftServer {
    pub cfg: Config,
}

/// Where a handler's effects go, in the order it makes them: stateright's
/// `Out` when the actor model runs a server, straight into the next state
/// when the flat model does (no allocation per step).
pub trait Effects {
    fn send(&mut self, to: ServerId, msg: Msg);
    fn save(&mut self, durable: Durable);
    /// Sets (or renews) a timer; timers have no duration in the model.
    fn set_timer(&mut self, timer: Timer);
    fn cancel_timer(&mut self, timer: Timer);
    /// Records that the step took `rule` (see [`crate::coverage`]). Not an
    /// effect: a step that only covers rules changes nothing.
    fn cover(&mut self, _rule: Rule) {}
}

impl Effects for Out<RaftServer> {
    fn send(&mut self, to: ServerId, msg: Msg) {
        Out::send(self, to.into(), msg);
    }

    fn save(&mut self, durable: Durable) {
        Out::save(self, durable);
    }

    fn set_timer(&mut self, timer: Timer) {
        Out::set_timer(self, timer, model_timeout());
    }

    fn cancel_timer(&mut self, timer: Timer) {
        Out::cancel_timer(self, timer);
    }
}

/// Messages a handler wants sent, emitted after the durable write.
pub(crate) struct Outbox {
    messages: [Option<(ServerId, Msg)>; OUTBOX_CAPACITY],
    len: usize,
}

/// A handler sends at most one message to each peer and one reply, and
/// under `FlowControl::ProbeReplicate` every batch still to send to one
/// peer (at most one per entry).
const OUTBOX_CAPACITY: usize = MAX_SERVERS + LOG_CAPACITY + 1;

impl Outbox {
    pub(crate) fn new() -> Self {
        Outbox {
            messages: [None; OUTBOX_CAPACITY],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, message: (ServerId, Msg)) {
        assert!(
            self.len < OUTBOX_CAPACITY,
            "a handler sent more than {OUTBOX_CAPACITY} messages"
        );
        self.messages[self.len] = Some(message);
        self.len += 1;
    }
}

impl RaftServer {
    /// raft.tla's Restart: a server (re)starting from its storage (`None`:
    /// the very first start, from empty storage).
    pub fn restart(&self, storage: &Option<Durable>, o: &mut impl Effects) -> ServerState {
        // Saving at the first start too means every recovery finds storage,
        // so the restart count (and with it the crash budget) is exact.
        let durable = match storage {
            Some(d) => Durable {
                restarts: d.restarts + 1,
                ..*d
            },
            None => Durable::default(),
        };
        if storage.is_some() {
            o.cover(Rule::Restart);
        }
        o.save(durable);
        o.set_timer(Timer::Election);
        ServerState::recovered(&durable)
    }

    /// Server `me` receives `msg` from `from`.
    pub fn receive(
        &self,
        me: ServerId,
        state: &mut Cow<ServerState>,
        from: ServerId,
        msg: Msg,
        o: &mut impl Effects,
    ) {
        let before = self.saved(state);
        let mut outbox = Outbox::new();
        if msg.term() > state.term {
            self.update_term(state, msg.term(), o);
        }
        // Variant::stale_term: a request of an older term goes unanswered.
        if msg.term() < state.term
            && msg.is_request()
            && self.cfg.variant.stale_term == StaleTerm::Ignore
        {
            o.cover(Rule::IgnoreStaleRequest);
            return;
        }
        match msg {
            Msg::RequestVote(req) => {
                self.handle_request_vote_request(state, from, req, &mut outbox, o)
            }
            Msg::RequestVoteResponse(resp) => {
                self.handle_request_vote_response(state, me, from, resp, &mut outbox, o)
            }
            Msg::AppendEntries(req) => {
                self.handle_append_entries_request(state, me, from, req, &mut outbox, o)
            }
            Msg::AppendEntriesResponse(resp) => {
                self.handle_append_entries_response(state, me, from, resp, &mut outbox, o)
            }
            Msg::Heartbeat(req) => self.handle_heartbeat_request(state, from, req, &mut outbox, o),
            Msg::HeartbeatResponse(resp) => {
                self.handle_heartbeat_response(state, from, resp, &mut outbox, o)
            }
        }
        // Bug::VoteNotPersisted: the vote (and the term it was cast in) is
        // answered without being saved, so a crash forgets it.
        let skip_save =
            self.cfg.has_bug(Bug::VoteNotPersisted) && matches!(msg, Msg::RequestVote(_));
        if !skip_save {
            self.save_if_changed(&before, state, o);
        }
        send_all(outbox, o);
    }

    /// Server `me`'s `timer` fires.
    pub fn fire(
        &self,
        me: ServerId,
        state: &mut Cow<ServerState>,
        timer: Timer,
        o: &mut impl Effects,
    ) {
        let before = self.saved(state);
        let mut outbox = Outbox::new();
        match timer {
            Timer::Election => self.timeout(state, me, &mut outbox, o),
            Timer::Heartbeat => {
                if state.role == Role::Leader {
                    o.cover(Rule::Heartbeat);
                    self.heartbeat(state, me, &mut outbox, o);
                }
                o.set_timer(Timer::Heartbeat);
            }
            Timer::Propose(value) => {
                self.client_request(state, me, value, &mut outbox, o);
                o.set_timer(Timer::Propose(value));
            }
        }
        self.save_if_changed(&before, state, o);
        send_all(outbox, o);
    }

    /// What a server saves: Figure 2's persistent state, and its commit
    /// index under `Variant::persisted_commit`.
    pub fn saved(&self, s: &ServerState) -> Durable {
        Durable {
            commit_index: if self.cfg.variant.persisted_commit {
                s.commit_index
            } else {
                0
            },
            ..s.durable()
        }
    }

    fn save_if_changed(&self, before: &Durable, state: &ServerState, o: &mut impl Effects) {
        let now = self.saved(state);
        if now != *before {
            o.save(now);
        }
    }
}

impl Actor for RaftServer {
    type Msg = Msg;
    type Timer = Timer;
    type State = ServerState;
    type Storage = Durable;
    type Random = ();

    fn on_start(&self, _id: Id, storage: &Option<Durable>, o: &mut Out<Self>) -> ServerState {
        self.restart(storage, o)
    }

    fn on_msg(&self, id: Id, state: &mut Cow<ServerState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        self.receive(id.into(), state, src.into(), msg, o);
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<ServerState>, timer: &Timer, o: &mut Out<Self>) {
        self.fire(id.into(), state, *timer, o);
    }
}

fn send_all(outbox: Outbox, o: &mut impl Effects) {
    for (to, msg) in outbox.messages.into_iter().take(outbox.len).flatten() {
        o.send(to, msg);
    }
}
