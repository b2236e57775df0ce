//! Messages in flight as a sorted array of distinct packets with counts.

use std::hash::{Hash, Hasher};

use crate::message::{Msg, RequestVoteResponse};
use crate::types::{ServerId, MAX_IN_FLIGHT_BOUND, MAX_SERVERS};

/// One message on the wire: an envelope with its sender and receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    pub src: ServerId,
    pub dst: ServerId,
    pub msg: Msg,
}

/// Distinct packets a network can hold: a state within the in-flight bound
/// plus what one step can send (a leader or candidate writes to every peer).
pub const NETWORK_CAPACITY: usize = MAX_IN_FLIGHT_BOUND as usize + MAX_SERVERS;

const UNUSED: (Packet, u8) = (
    Packet {
        src: ServerId(0),
        dst: ServerId(0),
        msg: Msg::RequestVoteResponse(RequestVoteResponse {
            term: 0,
            vote_granted: false,
            commit: 0,
            commit_term: 0,
        }),
    },
    0,
);

/// A multiset of packets (a set, with every count 1, on a duplicating
/// network).
///
/// Invariant: the first `len` slots are distinct packets in ascending order,
/// each with a count of at least 1; the rest are `UNUSED`. So equal networks
/// are equal arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatNetwork {
    len: u8,
    /// Messages sent to a full array (under flow-control=probe-replicate a
    /// step may send a batch per entry): counted in flight, so the state is
    /// past every in-flight bound and never expanded, but not kept.
    overflow: u8,
    slots: [(Packet, u8); NETWORK_CAPACITY],
}

impl Default for FlatNetwork {
    fn default() -> Self {
        FlatNetwork {
            len: 0,
            overflow: 0,
            slots: [UNUSED; NETWORK_CAPACITY],
        }
    }
}

impl FlatNetwork {
    /// The distinct packets, in order, with how many copies are in flight.
    pub fn packets(&self) -> &[(Packet, u8)] {
        &self.slots[..self.len as usize]
    }

    /// Messages sent to a full array and not kept (see the field).
    pub fn overflow(&self) -> u8 {
        self.overflow
    }

    /// Restores the overflow count (the decoder).
    pub fn set_overflow(&mut self, n: u8) {
        self.overflow = n;
    }

    /// Messages in flight, each copy counted.
    pub fn in_flight(&self) -> usize {
        self.overflow as usize
            + self
                .packets()
                .iter()
                .map(|(_, c)| *c as usize)
                .sum::<usize>()
    }

    /// Puts a packet on the wire. A duplicating network holds each packet
    /// once (sending it again changes nothing).
    pub fn send(&mut self, p: Packet, duplicating: bool) {
        match self.packets().binary_search_by(|(q, _)| q.cmp(&p)) {
            Ok(k) => {
                if !duplicating {
                    self.slots[k].1 += 1;
                }
            }
            Err(k) => {
                let len = self.len as usize;
                if len == NETWORK_CAPACITY {
                    self.overflow = self.overflow.saturating_add(1);
                    return;
                }
                self.slots.copy_within(k..len, k + 1);
                self.slots[k] = (p, 1);
                self.len += 1;
            }
        }
    }

    /// Appends `count` copies of a packet that sorts after every packet in
    /// flight (the decoder, which reads packets in order).
    pub fn push_last(&mut self, p: Packet, count: u8) {
        let len = self.len as usize;
        assert!(
            len < NETWORK_CAPACITY && count > 0,
            "at most {NETWORK_CAPACITY} distinct packets, each in flight at least once"
        );
        debug_assert!(
            len == 0 || self.slots[len - 1].0 < p,
            "packets must be appended in ascending order"
        );
        self.slots[len] = (p, count);
        self.len += 1;
    }

    /// Takes one copy of a packet off the wire; false if none is in flight.
    pub fn remove_one(&mut self, p: &Packet) -> bool {
        let Ok(k) = self.packets().binary_search_by(|(q, _)| q.cmp(p)) else {
            return false;
        };
        if self.slots[k].1 > 1 {
            self.slots[k].1 -= 1;
        } else {
            let len = self.len as usize;
            self.slots.copy_within(k + 1..len, k);
            self.slots[len - 1] = UNUSED;
            self.len -= 1;
        }
        true
    }

    /// The same network with every server renamed by `rename`.
    pub fn renamed(&self, rename: impl Fn(ServerId) -> ServerId) -> Self {
        let mut out = *self;
        for (p, _) in &mut out.slots[..self.len as usize] {
            p.src = rename(p.src);
            p.dst = rename(p.dst);
        }
        // Renaming keeps packets distinct; only their order changes.
        out.slots[..self.len as usize].sort_unstable_by_key(|(p, _)| *p);
        out
    }
}

/// Hashes the packets in flight only.
impl Hash for FlatNetwork {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.packets().hash(h);
    }
}
