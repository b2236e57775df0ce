//! A compact byte encoding of whole model states.
//!
//! A breadth-first search keeps every state of its frontier; as stateright
//! values (Arcs, hash maps, vectors) one costs close to a kilobyte, encoded
//! here it costs about a hundred bytes. Only the exploration engine uses this,
//! and a round-trip test over every reachable state of a profile keeps it
//! honest.

use std::sync::Arc;

use stateright::actor::{Envelope, Id, Network, RandomChoices, Timers};

use crate::ghost::{Committed, Flags, Ghost};
use crate::message::Msg;
use crate::model::State;
use crate::server::{Durable, Role, ServerState, Timer};
use crate::types::{Entry, Log, PeerMap, ServerId, ServerSet, Value, MAX_SERVERS};

const NONE: u8 = 0xff;

/// Encodes a state. `decode(&encode(s)) == s` for every model state.
pub fn encode(s: &State) -> Box<[u8]> {
    let mut w = Vec::with_capacity(128);
    let n = s.actor_states.len();
    w.push(n as u8);
    for i in 0..n {
        server(&mut w, &s.actor_states[i]);
        w.push(timers(&s.timers_set[i]));
        match &s.actor_storages[i] {
            Some(d) => {
                w.push(1);
                durable(&mut w, d);
            }
            None => w.push(0),
        }
    }
    w.push(
        s.crashed
            .iter()
            .enumerate()
            .fold(0, |m, (i, c)| m | (u8::from(*c) << i)),
    );
    ghost(&mut w, &s.history);
    match &s.network {
        Network::UnorderedDuplicating(set, _) => {
            w.push(0);
            let mut envs: Vec<_> = set.iter().collect();
            envs.sort();
            w.push(envs.len() as u8);
            for e in envs {
                envelope(&mut w, e, 1);
            }
        }
        Network::UnorderedNonDuplicating(multiset) => {
            w.push(1);
            let mut envs: Vec<_> = multiset.iter().collect();
            envs.sort();
            w.push(envs.len() as u8);
            for (e, count) in envs {
                envelope(&mut w, e, *count as u8);
            }
        }
        Network::Ordered(_) => unreachable!("the Raft model never uses an ordered network"),
    }
    w.into_boxed_slice()
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> State {
    let mut r = Reader(bytes);
    let n = r.u8() as usize;
    let mut actor_states = Vec::with_capacity(n);
    let mut timers_set = Vec::with_capacity(n);
    let mut actor_storages = Vec::with_capacity(n);
    for _ in 0..n {
        actor_states.push(Arc::new(r.server()));
        timers_set.push(r.timers());
        actor_storages.push(if r.u8() == 1 { Some(r.durable()) } else { None });
    }
    let crashed_mask = r.u8();
    let crashed = (0..n).map(|i| crashed_mask & (1 << i) != 0).collect();
    let history = r.ghost();
    let duplicating = r.u8() == 0;
    let count = r.u8() as usize;
    let mut envelopes = Vec::new();
    for _ in 0..count {
        let (env, times) = r.envelope();
        for _ in 0..times {
            envelopes.push(env);
        }
    }
    let network = if duplicating {
        Network::new_unordered_duplicating(envelopes)
    } else {
        Network::new_unordered_nonduplicating(envelopes)
    };
    State {
        actor_states,
        network,
        timers_set,
        random_choices: vec![RandomChoices::default(); n],
        crashed,
        history,
        actor_storages,
    }
}

fn opt_server(o: Option<ServerId>) -> u8 {
    o.map_or(NONE, |s| s.0)
}

fn log(w: &mut Vec<u8>, l: &Log) {
    w.push(l.len());
    for e in l.entries() {
        w.push(e.term);
        w.push(e.value.0);
    }
}

fn server(w: &mut Vec<u8>, s: &ServerState) {
    w.push(s.role as u8);
    w.push(s.term);
    w.push(opt_server(s.voted_for));
    log(w, &s.log);
    w.extend([
        s.commit_index,
        s.votes_granted.0,
        s.vote_responses,
        s.restarts,
    ]);
    w.extend(s.next_index.0);
    w.extend(s.match_index.0);
}

fn durable(w: &mut Vec<u8>, d: &Durable) {
    w.push(d.term);
    w.push(opt_server(d.voted_for));
    log(w, &d.log);
    w.push(d.restarts);
}

fn timers(t: &Timers<Timer>) -> u8 {
    // Election = bit 0, Heartbeat = bit 1, Propose(v) = bit 1 + v (v <= 6).
    t.iter().fold(0u8, |m, t| {
        m | match t {
            Timer::Election => 1,
            Timer::Heartbeat => 2,
            Timer::Propose(v) => 1 << (1 + v.0),
        }
    })
}

fn ghost(w: &mut Vec<u8>, g: &Ghost) {
    w.extend(g.leaders.iter().map(|l| l.0));
    for c in &g.committed {
        match c {
            Some(c) => w.extend([1, c.entry.term, c.entry.value.0, c.in_term]),
            None => w.push(0),
        }
    }
    w.push(g.flags.0);
}

fn envelope(w: &mut Vec<u8>, e: &Envelope<Msg>, count: u8) {
    w.push(usize::from(e.src) as u8);
    w.push(usize::from(e.dst) as u8);
    w.push(count);
    match e.msg {
        Msg::RequestVote {
            term,
            last_log_index,
            last_log_term,
        } => w.extend([0, term, last_log_index, last_log_term]),
        Msg::RequestVoteResponse { term, vote_granted } => {
            w.extend([1, term, u8::from(vote_granted)])
        }
        Msg::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => {
            w.extend([2, term, prev_log_index, prev_log_term, leader_commit]);
            log(w, &entries);
        }
        Msg::AppendEntriesResponse {
            term,
            success,
            match_index,
        } => w.extend([3, term, u8::from(success), match_index]),
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().expect("encoded state is truncated");
        self.0 = rest;
        *b
    }

    fn opt_server(&mut self) -> Option<ServerId> {
        match self.u8() {
            NONE => None,
            s => Some(ServerId(s)),
        }
    }

    fn log(&mut self) -> Log {
        let len = self.u8();
        let mut l = Log::default();
        for _ in 0..len {
            let term = self.u8();
            let value = Value(self.u8());
            l.push(Entry { term, value });
        }
        l
    }

    fn peer_map(&mut self) -> PeerMap {
        let mut m = PeerMap::default();
        for slot in m.0.iter_mut().take(MAX_SERVERS) {
            *slot = self.u8();
        }
        m
    }

    fn server(&mut self) -> ServerState {
        let role = match self.u8() {
            0 => Role::Follower,
            1 => Role::Candidate,
            _ => Role::Leader,
        };
        let term = self.u8();
        let voted_for = self.opt_server();
        let log = self.log();
        let (commit_index, votes, vote_responses, restarts) =
            (self.u8(), self.u8(), self.u8(), self.u8());
        ServerState {
            role,
            term,
            voted_for,
            log,
            commit_index,
            votes_granted: ServerSet(votes),
            vote_responses,
            next_index: self.peer_map(),
            match_index: self.peer_map(),
            restarts,
        }
    }

    fn durable(&mut self) -> Durable {
        Durable {
            term: self.u8(),
            voted_for: self.opt_server(),
            log: self.log(),
            restarts: self.u8(),
        }
    }

    fn timers(&mut self) -> Timers<Timer> {
        let mask = self.u8();
        let mut t = Timers::new();
        if mask & 1 != 0 {
            t.set(Timer::Election);
        }
        if mask & 2 != 0 {
            t.set(Timer::Heartbeat);
        }
        for v in 1..=6u8 {
            if mask & (1 << (1 + v)) != 0 {
                t.set(Timer::Propose(Value(v)));
            }
        }
        t
    }

    fn ghost(&mut self) -> Ghost {
        let mut g = Ghost::default();
        for l in g.leaders.iter_mut() {
            *l = ServerSet(self.u8());
        }
        for c in g.committed.iter_mut() {
            if self.u8() == 1 {
                let entry = Entry {
                    term: self.u8(),
                    value: Value(self.u8()),
                };
                *c = Some(Committed {
                    entry,
                    in_term: self.u8(),
                });
            }
        }
        g.flags = Flags(self.u8());
        g
    }

    fn envelope(&mut self) -> (Envelope<Msg>, u8) {
        let src = Id::from(self.u8() as usize);
        let dst = Id::from(self.u8() as usize);
        let count = self.u8();
        let msg = match self.u8() {
            0 => Msg::RequestVote {
                term: self.u8(),
                last_log_index: self.u8(),
                last_log_term: self.u8(),
            },
            1 => Msg::RequestVoteResponse {
                term: self.u8(),
                vote_granted: self.u8() == 1,
            },
            2 => {
                let (term, prev_log_index, prev_log_term, leader_commit) =
                    (self.u8(), self.u8(), self.u8(), self.u8());
                Msg::AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries: self.log(),
                    leader_commit,
                }
            }
            _ => Msg::AppendEntriesResponse {
                term: self.u8(),
                success: self.u8() == 1,
                match_index: self.u8(),
            },
        };
        (Envelope { src, dst, msg }, count)
    }
}
