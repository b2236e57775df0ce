//! `raftkv serve --trace-file`: every core input and output of a real run,
//! as NDJSON in the core's vocabulary (`input`, `durable_writes`,
//! `messages` + `committed`), so the run can later be checked against the
//! spec. Here: a 3-node cluster elects a leader and commits one put; each
//! node's trace must show its part of that.

mod common;

use common::cluster::{wait_until, Cluster};
use raft_core::{Entry, EntryKind, Input};
use raftkv::kv::Command;
use serde_json::Value;
use std::time::Duration;

/// Every line of node `id`'s trace, parsed (each must be one JSON object).
fn records(c: &Cluster, id: usize) -> Vec<Value> {
    let text = std::fs::read_to_string(c.trace_path(id)).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("node {id} trace line {}: {e}: {line}", n + 1))
        })
        .collect()
}

fn inputs(records: &[Value]) -> Vec<Input> {
    records
        .iter()
        .filter_map(|r| r.get("input"))
        .map(|i| serde_json::from_value(i.clone()).expect("an Input"))
        .collect()
}

/// Entries of one kind of record (`durable_writes` hold entries among other
/// writes; `committed` is a list of entries).
fn committed(records: &[Value]) -> Vec<Entry> {
    records
        .iter()
        .filter_map(|r| r.get("committed"))
        .flat_map(|c| serde_json::from_value::<Vec<Entry>>(c.clone()).expect("entries"))
        .collect()
}

/// The payload of our put (sent in the client's session, so wrapped).
fn is_put(payload: &[u8]) -> bool {
    let put = |c: &Command| matches!(c, Command::Put { key, value } if key == "traced-key" && value == "traced-value");
    match Command::decode(payload) {
        Ok(Command::Session { command, .. }) => put(&command),
        Ok(c) => put(&c),
        Err(_) => false,
    }
}

#[test]
fn each_node_traces_the_election_and_the_committed_put() {
    let c = Cluster::start_traced(3);
    let leader = c.leader();
    c.client_of(leader)
        .put("traced-key", "traced-value")
        .expect("put acknowledged");
    // Every node applies it (the trace is flushed every turn).
    wait_until(
        Duration::from_secs(10),
        || {
            c.ids().all(|id| {
                committed(&records(&c, id))
                    .iter()
                    .any(|e| matches!(&e.kind, EntryKind::Normal(p) if is_put(p)))
            })
        },
        || "every node's trace shows the put committed".into(),
    );
    // Someone's election timeout started the first election.
    assert!(c
        .ids()
        .any(|id| inputs(&records(&c, id)).contains(&Input::ElectionTimeout)));
    // The leader took the put as a proposal; the followers received it in
    // an AppendEntries and made it durable before answering.
    let leader_inputs = inputs(&records(&c, leader));
    assert!(leader_inputs
        .iter()
        .any(|i| matches!(i, Input::Propose(p) if is_put(p))));
    for id in c.ids().filter(|&id| id != leader) {
        let recs = records(&c, id);
        assert!(inputs(&recs).iter().any(|i| matches!(i, Input::Message(_))));
        assert!(
            recs.iter()
                .filter_map(|r| r.get("durable_writes"))
                .any(|w| w.to_string().contains("\"Normal\"")),
            "node {id} traced no durable write of a normal entry"
        );
    }
}
