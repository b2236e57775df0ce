//! Committed entries per second for a 3-node in-memory cluster, single
//! threaded, with batched proposals: the core's own cost, no I/O.
//!
//! Reproduce: `CARGO_TARGET_DIR=target-impl cargo bench -p raft-core --bench throughput`

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use raft_core::{Bytes, Config, Message, NodeId, Ready, Role};
// The one in-memory node driver (a dev-dependency: raft-sim depends on
// raft-core, which cargo allows for benches and tests).
use raft_sim::MemNode;

const NODES: u64 = 3;
const BATCH: usize = 4096;
const PAYLOAD: usize = 16;

struct Bench {
    nodes: Vec<MemNode>,
    network: VecDeque<Message>,
    committed_at_leader: u64,
    next_value: u64,
}

impl Bench {
    fn new() -> Self {
        let nodes = (1..=NODES)
            .map(|id| MemNode::new(Config::new(id, 1..=NODES).with_limits(BATCH, 1 << 20)).unwrap())
            .collect();
        let mut bench = Bench {
            nodes,
            network: VecDeque::new(),
            committed_at_leader: 0,
            next_value: 0,
        };
        let ready = bench.node(1).election_timeout();
        bench.release(1, ready);
        bench.drain();
        assert_eq!(bench.node(1).role(), Role::Leader);
        bench
    }

    fn node(&mut self, id: NodeId) -> &mut raft_core::RaftNode {
        self.nodes[id as usize - 1]
            .node_mut()
            .expect("no node crashes")
    }

    /// Persist to the in-memory "disk", then send and apply.
    fn release(&mut self, id: NodeId, ready: Ready) {
        let output = self.nodes[id as usize - 1].persist(ready);
        self.network.extend(output.messages);
        if id == 1 {
            self.committed_at_leader += output.committed.len() as u64;
        }
    }

    fn drain(&mut self) {
        while let Some(msg) = self.network.pop_front() {
            let to = msg.to;
            let ready = self.node(to).step(msg);
            self.release(to, ready);
        }
    }

    /// One round: a batch of proposals, replicated and committed.
    fn round(&mut self) {
        let start = self.next_value;
        self.next_value += BATCH as u64;
        // Payloads are slices of one receive buffer, as a server batching
        // client requests off the wire would have them.
        let mut buffer = vec![0u8; BATCH * PAYLOAD];
        for (i, chunk) in buffer.chunks_mut(PAYLOAD).enumerate() {
            chunk[..8].copy_from_slice(&(start + i as u64).to_le_bytes());
        }
        let buffer = Bytes::from(buffer);
        let payloads = (0..BATCH).map(|i| buffer.slice(i * PAYLOAD..(i + 1) * PAYLOAD));
        let (_, ready) = self.node(1).propose_batch(payloads).unwrap();
        self.release(1, ready);
        self.drain();
    }
}

fn committed_entries_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("three_node_cluster");
    group.throughput(Throughput::Elements(BATCH as u64));
    // A fresh cluster per sample keeps logs (and memory) bounded.
    group.bench_function("commit_batches_of_4096", |b| {
        b.iter_batched_ref(
            Bench::new,
            |bench| {
                let before = bench.committed_at_leader;
                bench.round();
                assert_eq!(bench.committed_at_leader - before, BATCH as u64);
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, committed_entries_per_second);
criterion_main!(benches);
