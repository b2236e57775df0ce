//! A compact byte encoding of whole model states.
//!
//! A breadth-first search keeps every state of its frontier; a
//! [`FlatState`] is about 700 bytes of fixed arrays, encoded here it costs a
//! few dozen. The engine also fingerprints states by hashing these bytes.
//! spec/tests/flat.rs round-trips every state reachable within several
//! bounds.

use crate::cluster::Cluster;
use crate::flat::{FlatNetwork, FlatState, Packet};
use crate::ghost::{Committed, Flags, Ghost};
use crate::message::Msg;
use crate::server::{Durable, Role, ServerState};
use crate::types::{Entry, Log, PeerMap, ServerId, ServerSet, Value, MAX_SERVERS};

const NONE: u8 = 0xff;

/// Encodes a state. `decode(&encode(s)) == s` for every model state.
pub fn encode(s: &FlatState) -> Box<[u8]> {
    let mut w = Vec::with_capacity(128);
    encode_into(s, &mut w);
    w.into_boxed_slice()
}

/// Appends a state's encoding to `w`. The search encodes every state it
/// reaches into one reused buffer: a fingerprint is the hash of these bytes.
pub fn encode_into(s: &FlatState, w: &mut Vec<u8>) {
    let n = s.server_count();
    w.push(n as u8);
    for i in 0..n {
        server(w, s.server(i));
        w.push(s.timers(i));
        match s.storage(i) {
            Some(d) => {
                w.push(1);
                durable(w, d);
            }
            None => w.push(0),
        }
    }
    w.push(s.crashed_mask());
    ghost(w, &s.ghost);
    w.push(u8::from(s.is_duplicating()));
    let packets = s.network.packets();
    w.push(packets.len() as u8);
    for (p, count) in packets {
        packet(w, p, *count);
    }
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> FlatState {
    let mut r = Reader(bytes);
    let n = r.u8() as usize;
    let mut servers = [(ServerState::recovered(&Durable::default()), None, 0); MAX_SERVERS];
    for slot in servers.iter_mut().take(n) {
        let server = r.server();
        let timers = r.u8();
        let storage = if r.u8() == 1 { Some(r.durable()) } else { None };
        *slot = (server, storage, timers);
    }
    let crashed = r.u8();
    let history = r.ghost();
    let duplicating = r.u8() == 1;
    let mut network = FlatNetwork::default();
    for _ in 0..r.u8() {
        let (p, times) = r.packet();
        for _ in 0..times {
            network.send(p, duplicating);
        }
    }
    FlatState::from_parts(duplicating, &servers[..n], crashed, network, history)
}

fn opt_server(o: Option<ServerId>) -> u8 {
    o.map_or(NONE, |s| s.0)
}

fn log(w: &mut Vec<u8>, l: &Log) {
    w.push(l.len());
    for e in l.entries() {
        w.extend([e.term, e.value.0]);
    }
}

fn server(w: &mut Vec<u8>, s: &ServerState) {
    w.extend([s.role as u8, s.term, opt_server(s.voted_for)]);
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
    w.extend([d.term, opt_server(d.voted_for)]);
    log(w, &d.log);
    w.push(d.restarts);
}

fn ghost(w: &mut Vec<u8>, g: &Ghost) {
    w.extend(g.leaders.map(|l| l.0));
    for c in &g.committed {
        match c {
            Some(c) => w.extend([1, c.entry.term, c.entry.value.0, c.in_term]),
            None => w.push(0),
        }
    }
    w.push(g.flags.0);
}

fn packet(w: &mut Vec<u8>, e: &Packet, count: u8) {
    w.extend([e.src.0, e.dst.0, count]);
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

    fn packet(&mut self) -> (Packet, u8) {
        let src = ServerId(self.u8());
        let dst = ServerId(self.u8());
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
        (Packet { src, dst, msg }, count)
    }
}
