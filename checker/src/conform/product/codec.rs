//! Product states as compact bytes for the engine's frontier: the node
//! keys, the wires and a divergence flag, then the model state in the
//! model checker's own encoding. (A product state in memory is near a
//! kilobyte; encoded, about a hundred bytes, and the frontier of a `ci`
//! run holds millions.)

use std::sync::Arc;

use raft_spec::types::MAX_SERVERS;
use raftcheck_engine::Codec;

use super::{ProductState, Wires};
use crate::conform::divergence::Mismatch;

pub fn codec() -> Codec<ProductState> {
    Codec { encode, decode }
}

fn encode(s: &ProductState, w: &mut Vec<u8>) {
    let n = s.nodes.iter().rposition(|&k| k != 0).map_or(0, |i| i + 1);
    w.push(u8::from(s.divergence.is_some()) | (u8::from(s.known) << 1));
    w.push(n as u8);
    for k in &s.nodes[..n] {
        w.extend_from_slice(&k.to_le_bytes());
    }
    w.push(s.wires.len);
    for fp in s.wires.iter() {
        w.extend_from_slice(&fp.to_le_bytes());
    }
    raft_spec::codec::encode_into(&s.spec, w);
}

fn word(bytes: &[u8], at: &mut usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[*at..*at + 8]);
    *at += 8;
    u64::from_le_bytes(b)
}

fn decode(bytes: &[u8]) -> ProductState {
    let divergent = bytes[0] & 1 == 1;
    let known = bytes[0] & 2 == 2;
    let n = bytes[1] as usize;
    let mut at = 2;
    let mut nodes = [0; MAX_SERVERS];
    for k in nodes.iter_mut().take(n) {
        *k = word(bytes, &mut at);
    }
    let len = bytes[at];
    at += 1;
    let mut wires = Wires::default();
    for k in 0..len as usize {
        wires.fps[k] = word(bytes, &mut at);
    }
    wires.len = len;
    ProductState {
        spec: raft_spec::codec::decode(&bytes[at..]),
        nodes,
        wires,
        // What diverged is not kept in the frontier: a divergent state is
        // never expanded, and the path to it is rebuilt (with the mismatch)
        // by stepping again.
        divergence: divergent.then(|| {
            Arc::new(Mismatch::harness(
                "(a divergent state read back from the frontier)",
            ))
        }),
        known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_spec::flat::FlatModel;
    use raft_spec::Profile;
    use stateright::Model;

    #[test]
    fn a_product_state_round_trips() {
        let model = FlatModel::new(Profile::Quick.config()).unwrap();
        let mut s = ProductState {
            spec: model.init_states()[0],
            nodes: [7, 8, u64::MAX, 0, 0],
            wires: Wires::default(),
            divergence: None,
            known: false,
        };
        s.wires.add(42, false);
        s.wires.add(3, false);
        s.wires.add(42, false);
        let mut bytes = Vec::new();
        encode(&s, &mut bytes);
        assert_eq!(decode(&bytes), s);
        s.divergence = Some(Arc::new(Mismatch::harness("x")));
        bytes.clear();
        encode(&s, &mut bytes);
        assert!(decode(&bytes).divergence.is_some());
        s.divergence = None;
        s.known = true;
        bytes.clear();
        encode(&s, &mut bytes);
        assert_eq!(decode(&bytes), s);
    }
}
