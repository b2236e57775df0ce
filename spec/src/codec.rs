//! A compact byte encoding of whole model states.
//!
//! A breadth-first search keeps every state of its frontier; a
//! [`FlatState`] is about 700 bytes of fixed arrays, encoded here it costs a
//! few dozen. The engine also fingerprints states by hashing these bytes.
//! spec/tests/flat.rs round-trips every state reachable within several
//! bounds.

use std::hash::{Hash, Hasher};

use crate::flat::{FlatState, Packet, NETWORK_CAPACITY};
use crate::ghost::{Committed, Flags, Ghost};
use crate::message::{
    AppendEntries, AppendEntriesResponse, Heartbeat, HeartbeatResponse, Msg, RequestVote,
    RequestVoteResponse,
};
use crate::server::{Durable, Role, ServerState};
use crate::servers::Servers;
use crate::types::{
    Entry, Log, PeerMap, ServerId, ServerSet, Value, LOG_CAPACITY, MAX_SERVERS, MAX_TERM_BOUND,
};

const NONE: u8 = 0xff;
/// Where a server's `out_of_range` flag sits in its role byte.
const OUT_OF_RANGE_SHIFT: u8 = 7;
/// Where the role byte says the variants' fields follow (leader, refusals,
/// progress states): the paper's states never set it, so they encode (and
/// hash) as before variants existed.
const VARIANT_FIELDS_SHIFT: u8 = 6;
/// In the packet count: an overflow count follows.
const OVERFLOW_BIT: u8 = 0x80;

/// Encodes a state. `decode(&encode(s)) == s` for every model state.
pub fn encode(s: &FlatState) -> Box<[u8]> {
    let mut w = Vec::with_capacity(128);
    encode_into(s, &mut w);
    w.into_boxed_slice()
}

/// How a server's storage is written: most of the time it holds exactly
/// the server's own term, vote and log (every handler saves what it
/// changed), and one byte says so.
const NO_STORAGE: u8 = 0;
const STORAGE_MIRRORS_SERVER: u8 = 1;
const STORAGE_DIFFERS: u8 = 2;
/// The server's term, vote and log, and its commit index
/// (`Variant::persisted_commit`).
const STORAGE_MIRRORS_WITH_COMMIT: u8 = 3;

/// The longest encoding: every server with differing storage and full
/// logs, full ghost tables, a full network of AppendEntries.
const LOG_BYTES: usize = 1 + 2 * LOG_CAPACITY;
const SERVER_BYTES: usize = 3 + LOG_BYTES + 4 + 2 * MAX_SERVERS + 4;
const DURABLE_BYTES: usize = 2 + LOG_BYTES + 2;
const GHOST_BYTES: usize = 1 + (MAX_TERM_BOUND as usize + 1) + 1 + 4 * LOG_CAPACITY + 1;
const PACKET_BYTES: usize = 3 + 5 + LOG_BYTES;
const MAX_ENCODED: usize = 3
    + MAX_SERVERS * (SERVER_BYTES + 2 + DURABLE_BYTES)
    + GHOST_BYTES
    + 2
    + NETWORK_CAPACITY * PACKET_BYTES;

/// Appends a state's encoding to `w`. The search encodes every state it
/// reaches into one reused buffer: a fingerprint is the hash of these
/// bytes, so the fewer the better.
pub fn encode_into(s: &FlatState, w: &mut Vec<u8>) {
    // Written to a fixed array first: a write there is a store, where a
    // push onto a Vec also checks and updates its length.
    let mut out = Writer {
        buf: [0; MAX_ENCODED],
        at: 0,
    };
    let n = s.server_count();
    out.put([n as u8, s.crashed_mask(), u8::from(s.is_duplicating())]);
    for i in 0..n {
        let server_state = s.server(i);
        out.server(server_state, n);
        match s.storage(i) {
            None => out.put([s.timers(i), NO_STORAGE]),
            Some(d) if *d == server_state.durable() => {
                out.put([s.timers(i), STORAGE_MIRRORS_SERVER])
            }
            Some(d) if *d == with_commit(server_state) => {
                out.put([s.timers(i), STORAGE_MIRRORS_WITH_COMMIT])
            }
            Some(d) => {
                out.put([s.timers(i), STORAGE_DIFFERS]);
                out.durable(d);
            }
        }
    }
    out.ghost(&s.ghost);
    let packets = s.network.packets();
    // A network past its array (see `FlatNetwork::overflow`) says so in
    // the count's top bit; no state within any bound sets it.
    match s.network.overflow() {
        0 => out.put([packets.len() as u8]),
        n => out.put([packets.len() as u8 | OVERFLOW_BIT, n]),
    }
    for (p, count) in packets {
        out.packet(p, *count);
    }
    w.extend_from_slice(&out.buf[..out.at]);
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> FlatState {
    let mut r = Reader(bytes);
    let [n, crashed, duplicating] = r.array();
    let n = n as usize;
    let mut s = FlatState::empty(n, duplicating == 1);
    for i in 0..n {
        let server = r.server(n);
        let [timers, storage] = r.array();
        *s.server_mut(i) = server;
        *s.timers_mut(i) = timers;
        match storage {
            NO_STORAGE => {}
            STORAGE_MIRRORS_SERVER => s.set_storage(i, server.durable()),
            STORAGE_MIRRORS_WITH_COMMIT => s.set_storage(i, with_commit(&server)),
            _ => s.set_storage(i, r.durable()),
        }
        s.set_crashed(i, crashed & (1 << i) != 0);
    }
    s.ghost = r.ghost();
    let count = r.u8();
    if count & OVERFLOW_BIT != 0 {
        s.network.set_overflow(r.u8());
    }
    for _ in 0..count & !OVERFLOW_BIT {
        let (p, count) = r.packet();
        s.network.push_last(p, count);
    }
    s
}

/// What a server persisting its commit index saves.
fn with_commit(s: &ServerState) -> Durable {
    Durable {
        commit_index: s.commit_index,
        ..s.durable()
    }
}

fn opt_server(o: Option<ServerId>) -> u8 {
    o.map_or(NONE, |s| s.0)
}

struct Writer {
    buf: [u8; MAX_ENCODED],
    at: usize,
}

impl Writer {
    fn put<const K: usize>(&mut self, bytes: [u8; K]) {
        self.buf[self.at..self.at + K].copy_from_slice(&bytes);
        self.at += K;
    }

    fn log(&mut self, l: &Log) {
        self.put([l.len()]);
        for e in l.entries() {
            self.put([e.term, e.value.0]);
        }
    }

    /// A server's state. Only the first `n` peers are written: slots of
    /// servers that do not exist are always zero.
    fn server(&mut self, s: &ServerState, n: usize) {
        // The out-of-range flag rides in the role byte's top bit: correct
        // Raft never sets it, so its states encode (and hash) as before.
        let variant_fields = s.leader.is_some()
            || !s.votes_refused.is_empty()
            || !s.replicating.is_empty()
            || !s.paused.is_empty();
        let role = s.role as u8
            | (u8::from(s.out_of_range) << OUT_OF_RANGE_SHIFT)
            | (u8::from(variant_fields) << VARIANT_FIELDS_SHIFT);
        self.put([role, s.term, opt_server(s.voted_for)]);
        self.log(&s.log);
        self.put([
            s.commit_index,
            s.votes_granted.0,
            s.vote_responses,
            s.restarts,
        ]);
        for map in [&s.next_index, &s.match_index] {
            assert!(
                map.0[n..].iter().all(|&v| v == 0),
                "a peer index for a server beyond the cluster's {n}"
            );
            // A fixed-size copy (a variable one is a call to memcpy); only
            // the first n bytes count, the rest are overwritten next.
            self.buf[self.at..self.at + MAX_SERVERS].copy_from_slice(&map.0);
            self.at += n;
        }
        if variant_fields {
            self.put([
                opt_server(s.leader),
                s.votes_refused.0,
                s.replicating.0,
                s.paused.0,
            ]);
        }
    }

    fn durable(&mut self, d: &Durable) {
        self.put([d.term, opt_server(d.voted_for)]);
        self.log(&d.log);
        self.put([d.restarts, d.commit_index]);
    }

    /// The ghost history, without the empty tail of either table (terms
    /// not reached, indexes never committed).
    fn ghost(&mut self, g: &Ghost) {
        let terms = g
            .leaders
            .iter()
            .rposition(|l| l.0 != 0)
            .map_or(0, |t| t + 1);
        self.put([terms as u8]);
        for l in &g.leaders[..terms] {
            self.put([l.0]);
        }
        let indexes = g
            .committed
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        self.put([indexes as u8]);
        for c in &g.committed[..indexes] {
            match c {
                Some(c) => self.put([1, c.entry.term, c.entry.value.0, c.in_term]),
                None => self.put([0]),
            }
        }
        self.put([g.flags.0]);
    }

    fn packet(&mut self, e: &Packet, count: u8) {
        self.put([e.src.0, e.dst.0, count]);
        match e.msg {
            Msg::RequestVote(RequestVote {
                term,
                last_log_index,
                last_log_term,
                commit: 0,
                commit_term: 0,
            }) => self.put([0, term, last_log_index, last_log_term]),
            Msg::RequestVote(RequestVote {
                term,
                last_log_index,
                last_log_term,
                commit,
                commit_term,
            }) => self.put([4, term, last_log_index, last_log_term, commit, commit_term]),
            Msg::RequestVoteResponse(RequestVoteResponse {
                term,
                vote_granted,
                commit: 0,
                commit_term: 0,
            }) => self.put([1, term, u8::from(vote_granted)]),
            Msg::RequestVoteResponse(RequestVoteResponse {
                term,
                vote_granted,
                commit,
                commit_term,
            }) => self.put([5, term, u8::from(vote_granted), commit, commit_term]),
            Msg::AppendEntries(AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            }) => {
                self.put([2, term, prev_log_index, prev_log_term, leader_commit]);
                self.log(&entries);
            }
            Msg::AppendEntriesResponse(AppendEntriesResponse {
                term,
                success,
                match_index,
                prev_log_index: 0,
                conflict_term: 0,
            }) => self.put([3, term, u8::from(success), match_index]),
            Msg::AppendEntriesResponse(AppendEntriesResponse {
                term,
                success,
                match_index,
                prev_log_index,
                conflict_term,
            }) => self.put([
                6,
                term,
                u8::from(success),
                match_index,
                prev_log_index,
                conflict_term,
            ]),
            Msg::Heartbeat(Heartbeat {
                term,
                leader_commit,
            }) => self.put([7, term, leader_commit]),
            Msg::HeartbeatResponse(HeartbeatResponse { term }) => self.put([8, term]),
        }
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

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .expect("encoded state is truncated");
        self.0 = rest;
        *head
    }

    fn peer_map(&mut self, n: usize) -> PeerMap {
        let mut m = PeerMap::default();
        for slot in m.0.iter_mut().take(n) {
            *slot = self.u8();
        }
        m
    }

    fn server(&mut self, n: usize) -> ServerState {
        let role_byte = self.u8();
        let out_of_range = role_byte & (1 << OUT_OF_RANGE_SHIFT) != 0;
        let variant_fields = role_byte & (1 << VARIANT_FIELDS_SHIFT) != 0;
        let role = match role_byte & !(1 << OUT_OF_RANGE_SHIFT) & !(1 << VARIANT_FIELDS_SHIFT) {
            0 => Role::Follower,
            1 => Role::Candidate,
            _ => Role::Leader,
        };
        let term = self.u8();
        let voted_for = self.opt_server();
        let log = self.log();
        let (commit_index, votes, vote_responses, restarts) =
            (self.u8(), self.u8(), self.u8(), self.u8());
        let next_index = self.peer_map(n);
        let match_index = self.peer_map(n);
        let [leader, refused, replicating, paused] = if variant_fields {
            self.array()
        } else {
            [NONE, 0, 0, 0]
        };
        ServerState {
            role,
            term,
            voted_for,
            log,
            commit_index,
            votes_granted: ServerSet(votes),
            vote_responses,
            next_index,
            match_index,
            restarts,
            out_of_range,
            leader: (leader != NONE).then_some(ServerId(leader)),
            votes_refused: ServerSet(refused),
            replicating: ServerSet(replicating),
            paused: ServerSet(paused),
        }
    }

    fn durable(&mut self) -> Durable {
        Durable {
            term: self.u8(),
            voted_for: self.opt_server(),
            log: self.log(),
            restarts: self.u8(),
            commit_index: self.u8(),
        }
    }

    fn ghost(&mut self) -> Ghost {
        let mut g = Ghost::default();
        let terms = self.u8() as usize;
        for l in g.leaders.iter_mut().take(terms) {
            *l = ServerSet(self.u8());
        }
        let indexes = self.u8() as usize;
        for c in g.committed.iter_mut().take(indexes) {
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
            tag @ (0 | 4) => Msg::RequestVote(RequestVote {
                term: self.u8(),
                last_log_index: self.u8(),
                last_log_term: self.u8(),
                commit: if tag == 4 { self.u8() } else { 0 },
                commit_term: if tag == 4 { self.u8() } else { 0 },
            }),
            tag @ (1 | 5) => Msg::RequestVoteResponse(RequestVoteResponse {
                term: self.u8(),
                vote_granted: self.u8() == 1,
                commit: if tag == 5 { self.u8() } else { 0 },
                commit_term: if tag == 5 { self.u8() } else { 0 },
            }),
            2 => {
                let (term, prev_log_index, prev_log_term, leader_commit) =
                    (self.u8(), self.u8(), self.u8(), self.u8());
                Msg::AppendEntries(AppendEntries {
                    term,
                    prev_log_index,
                    prev_log_term,
                    entries: self.log(),
                    leader_commit,
                })
            }
            7 => Msg::Heartbeat(Heartbeat {
                term: self.u8(),
                leader_commit: self.u8(),
            }),
            8 => Msg::HeartbeatResponse(HeartbeatResponse { term: self.u8() }),
            tag => Msg::AppendEntriesResponse(AppendEntriesResponse {
                term: self.u8(),
                success: self.u8() == 1,
                match_index: self.u8(),
                prev_log_index: if tag == 6 { self.u8() } else { 0 },
                conflict_term: if tag == 6 { self.u8() } else { 0 },
            }),
        };
        (Packet { src, dst, msg }, count)
    }
}

/// Hashes the state's encoding (here, so that the flat state does not
/// depend on its codec), which (being one-to-one) separates exactly
/// what `Eq` does.
impl Hash for FlatState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write(&encode(self));
    }
}
