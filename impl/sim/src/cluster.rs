//! The simulated cluster: nodes, their durable storage, the network and the
//! safety checker, advanced one explicit step at a time.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::mem_node::MemNode;
use super::network::Network;
use super::safety::{SafetyChecker, Violation};
use raft_core::{
    Config, DurableState, DurableWrite, Entry, EntryKind, LogIndex, Message, MessageBody, NodeId,
    RaftNode, Ready, Role, Term,
};

/// A deliberately wrong behaviour, to show the safety checks catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedFault {
    /// Every refused vote leaves the voter as a grant: voters double-vote.
    ForgeVoteGrant,
    /// Every successful AppendEntriesResponse leaves its sender as a
    /// rejection (hint: the index it matched), so a leader retries forever
    /// and the network never quiesces.
    ForgeAppendReject,
    /// A leader that handles a rejection lowers that peer's nextIndex one
    /// more, with no floor (`next_index = next_index - 1`).
    UnflooredNextIndex,
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: usize,
    pub max_entries_per_message: usize,
    pub max_bytes_per_message: usize,
    pub fault: Option<PlantedFault>,
}

impl SimConfig {
    pub fn new(nodes: usize) -> Self {
        SimConfig {
            nodes,
            max_entries_per_message: 4,
            max_bytes_per_message: 64,
            fault: None,
        }
    }
}

/// Nodes are numbered `1..=n`; slot `i` holds node `i + 1`.
#[derive(Debug)]
pub struct Cluster {
    config: SimConfig,
    /// Each node with the storage its acknowledged durable writes built.
    nodes: Vec<MemNode>,
    /// Per node: the last index its state machine applied (volatile).
    applied: Vec<LogIndex>,
    pub network: Network,
    safety: SafetyChecker,
    next_proposal: u64,
    /// Payloads a state machine applied: acknowledged to the client.
    acknowledged: BTreeMap<Bytes, (LogIndex, Term)>,
    trace: Option<Vec<String>>,
    stats: SimStats,
}

/// What a run exercised, so tests can show the simulation is not vacuous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub elections_won: u64,
    pub truncations: u64,
    pub crashes: u64,
    pub messages_delivered: u64,
    pub rejected_appends: u64,
}

impl Cluster {
    pub fn new(config: SimConfig) -> Self {
        let n = config.nodes;
        let mut cluster = Cluster {
            nodes: Vec::with_capacity(n),
            applied: vec![0; n],
            network: Network::default(),
            safety: SafetyChecker::default(),
            next_proposal: 0,
            acknowledged: BTreeMap::new(),
            trace: None,
            stats: SimStats::default(),
            config,
        };
        for slot in 0..n {
            let node = MemNode::new(cluster.node_config(slot)).expect("valid sim config");
            cluster.nodes.push(node);
        }
        cluster
    }

    /// Record a line per step (for replaying a failing schedule).
    pub fn enable_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or(&[])
    }

    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        1..=self.config.nodes as NodeId
    }

    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        self.nodes.get(slot(id))?.node()
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = &RaftNode> {
        self.nodes.iter().filter_map(MemNode::node)
    }

    pub fn storage(&self, id: NodeId) -> &DurableState {
        self.nodes[slot(id)].durable()
    }

    pub fn stats(&self) -> SimStats {
        self.stats
    }

    pub fn acknowledged(&self) -> &BTreeMap<Bytes, (LogIndex, Term)> {
        &self.acknowledged
    }

    fn node_config(&self, slot: usize) -> Config {
        Config::new(slot as NodeId + 1, self.ids()).with_limits(
            self.config.max_entries_per_message,
            self.config.max_bytes_per_message,
        )
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(line());
        }
    }

    // ----- steps: each runs one input and checks every safety property -----

    pub fn election_timeout(&mut self, id: NodeId) -> Result<(), Violation> {
        self.log(|| format!("election-timeout {id}"));
        let Some(node) = self.nodes[slot(id)].node_mut() else {
            return Ok(());
        };
        let ready = node.election_timeout();
        self.persist_and_release(id, ready)
    }

    pub fn heartbeat_timeout(&mut self, id: NodeId) -> Result<(), Violation> {
        self.log(|| format!("heartbeat-timeout {id}"));
        let Some(node) = self.nodes[slot(id)].node_mut() else {
            return Ok(());
        };
        let ready = node.heartbeat_timeout();
        self.persist_and_release(id, ready)
    }

    /// Propose a fresh unique payload at `id`; refusals are fine.
    pub fn propose(&mut self, id: NodeId) -> Result<(), Violation> {
        self.next_proposal += 1;
        let payload = Bytes::from(format!("v{}", self.next_proposal));
        self.log(|| format!("propose {id} {payload:?}"));
        let Some(node) = self.nodes[slot(id)].node_mut() else {
            return Ok(());
        };
        match node.propose(payload) {
            Ok((_, ready)) => self.persist_and_release(id, ready),
            Err(_) => Ok(()),
        }
    }

    /// Deliver in-flight message `k` (mod the number in flight). With
    /// `crash_before_persist`, the receiver crashes after handling it but
    /// before its writes are durable: they and its replies are lost.
    pub fn deliver(&mut self, k: usize, crash_before_persist: bool) -> Result<(), Violation> {
        let Some(msg) = self.network.take(k) else {
            return Ok(());
        };
        self.deliver_message(msg, crash_before_persist)
    }

    pub fn deliver_message(
        &mut self,
        msg: Message,
        crash_before_persist: bool,
    ) -> Result<(), Violation> {
        let to = msg.to;
        if !self.network.connected(msg.from, to) {
            self.log(|| format!("lost (partition) {msg}"));
            return Ok(());
        }
        self.log(|| format!("deliver {msg}"));
        self.stats.messages_delivered += 1;
        if matches!(&msg.body, MessageBody::AppendEntriesResponse(r) if !r.success) {
            self.stats.rejected_appends += 1;
        }
        let Some(node) = self.nodes[slot(to)].node_mut() else {
            return Ok(());
        };
        let rejection = matches!(&msg.body, MessageBody::AppendEntriesResponse(r) if !r.success);
        let from = msg.from;
        let ready = node.step(msg);
        if rejection && self.config.fault == Some(PlantedFault::UnflooredNextIndex) {
            node.inject_unfloored_next_index(from);
        }
        if crash_before_persist {
            self.nodes[slot(to)].crash_before_persisting(ready);
            self.crash(to);
            return Ok(());
        }
        self.persist_and_release(to, ready)
    }

    /// Volatile state is lost; storage keeps what was acknowledged.
    pub fn crash(&mut self, id: NodeId) {
        self.log(|| format!("crash {id}"));
        self.stats.crashes += 1;
        self.nodes[slot(id)].crash();
        self.applied[slot(id)] = 0;
    }

    pub fn restart(&mut self, id: NodeId) -> Result<(), Violation> {
        if !self.is_crashed(id) {
            return Ok(());
        }
        self.log(|| format!("restart {id}"));
        self.nodes[slot(id)]
            .restart()
            .map_err(|e| Violation::Durability {
                node: id,
                detail: format!("cannot be restarted from: {e}"),
            })?;
        self.safety.on_restart(id);
        self.check(id)
    }

    pub fn is_crashed(&self, id: NodeId) -> bool {
        self.nodes[slot(id)].is_crashed()
    }

    /// Persist a Ready's writes to the node's storage, then release its
    /// messages to the network and its committed entries to the state machine.
    fn persist_and_release(&mut self, id: NodeId, ready: Ready) -> Result<(), Violation> {
        let s = slot(id);
        let leader = self.nodes[s]
            .node()
            .is_some_and(|n| n.role() == Role::Leader);
        for write in ready.durable_writes() {
            match write {
                DurableWrite::TruncateFrom { .. } => self.stats.truncations += 1,
                // Only a leader taking office appends a no-op of its own.
                DurableWrite::Append { entries }
                    if leader && entries.iter().any(|e| e.kind == EntryKind::Noop) =>
                {
                    self.stats.elections_won += 1
                }
                _ => {}
            }
        }
        let output = self.nodes[s].persist(ready);
        self.check_storage_matches(id)?;
        for mut msg in output.messages {
            self.plant_fault(&mut msg);
            self.log(|| format!("  send {msg}"));
            self.network.send(msg);
        }
        self.apply(id, &output.committed)?;
        self.check(id)
    }

    /// Hands `committed` to node `id`'s state machine. What is applied must
    /// be the next indices, the node's log's entries there, and within its
    /// commit index: the committed prefix that State Machine Safety holds
    /// to the first entry committed at each index, across nodes.
    fn apply(&mut self, id: NodeId, committed: &[Entry]) -> Result<(), Violation> {
        let s = slot(id);
        let commit_index = self.nodes[s].node().map_or(0, |n| n.commit_index());
        for entry in committed {
            let broken = if entry.index != self.applied[s] + 1 {
                Some(format!(
                    "applied {} after {} (gap)",
                    entry.index, self.applied[s]
                ))
            } else if entry.index > commit_index {
                Some(format!(
                    "applied {entry} beyond its commit index {commit_index}"
                ))
            } else {
                let logged = self.nodes[s]
                    .node()
                    .and_then(|n| n.log().get(entry.index as usize - 1));
                (logged != Some(entry))
                    .then(|| format!("applied {entry}, not its log's entry {logged:?}"))
            };
            if let Some(detail) = broken {
                return Err(Violation::Apply { node: id, detail });
            }
            self.applied[s] = entry.index;
            if let EntryKind::Normal(payload) = &entry.kind {
                self.acknowledged
                    .entry(payload.clone())
                    .or_insert((entry.index, entry.term));
            }
        }
        Ok(())
    }

    fn plant_fault(&self, msg: &mut Message) {
        match (self.config.fault, &mut msg.body) {
            (Some(PlantedFault::ForgeVoteGrant), MessageBody::RequestVoteResponse(r)) => {
                r.vote_granted = true;
            }
            (Some(PlantedFault::ForgeAppendReject), MessageBody::AppendEntriesResponse(r)) => {
                r.success = false;
            }
            _ => {}
        }
    }

    fn check_storage_matches(&self, id: NodeId) -> Result<(), Violation> {
        let node = self.nodes[slot(id)].node().expect("live node");
        let disk = self.nodes[slot(id)].durable();
        let detail = if disk.term != node.term() || disk.voted_for != node.voted_for() {
            Some(format!(
                "has term {} vote {:?}, node has term {} vote {:?}",
                disk.term,
                disk.voted_for,
                node.term(),
                node.voted_for()
            ))
        } else if disk.log != node.log() {
            Some(format!(
                "has {} entries, node has {}",
                disk.log.len(),
                node.log().len()
            ))
        } else {
            None
        };
        match detail {
            Some(detail) => Err(Violation::Durability { node: id, detail }),
            None => Ok(()),
        }
    }

    fn check(&mut self, id: NodeId) -> Result<(), Violation> {
        self.safety.check_step(&self.nodes[slot(id)], &self.nodes)
    }

    /// Every safety check on every live node. A run that fails to settle
    /// runs this first: a broken property is the real finding, and the
    /// liveness failure only its symptom.
    fn check_all(&mut self) -> Result<(), Violation> {
        for node in &self.nodes {
            self.safety.check_step(node, &self.nodes)?;
        }
        Ok(())
    }

    // ----- healing and liveness -----

    /// Heal the partition, restart every crashed node, then drive elections
    /// and heartbeats (delivering every message in order) until a leader is
    /// elected and every acknowledged proposal is committed on every server.
    pub fn heal_and_settle(&mut self) -> Result<(), Violation> {
        self.log(|| "heal".to_string());
        self.network.heal();
        for id in 1..=self.config.nodes as NodeId {
            self.restart(id)?;
        }
        for _round in 0..40 {
            self.drain_network()?;
            match self.current_leader() {
                Some(leader) if self.settled(leader) => return Ok(()),
                Some(leader) => self.heartbeat_timeout(leader)?,
                None => {
                    // A stale leader ignores election timeouts; a heartbeat
                    // makes it learn the higher term and step down.
                    let candidate = self.most_up_to_date();
                    if self
                        .node(candidate)
                        .is_some_and(|n| n.role() == Role::Leader)
                    {
                        self.heartbeat_timeout(candidate)?;
                    } else {
                        self.election_timeout(candidate)?;
                    }
                }
            }
        }
        self.check_all()?;
        Err(Violation::Liveness(format!(
            "no settled leader after healing; leader {:?}, {} acknowledged; {}",
            self.current_leader(),
            self.acknowledged.len(),
            self.in_flight_summary()
        )))
    }

    /// Deliver every in-flight message, oldest first (bounded, in case of a
    /// livelock bug).
    pub fn drain_network(&mut self) -> Result<(), Violation> {
        for _ in 0..DRAIN_LIMIT {
            let Some(msg) = self.network.take_oldest() else {
                return Ok(());
            };
            self.deliver_message(msg, false)?;
        }
        self.check_all()?;
        Err(Violation::Liveness(format!(
            "network never quiesced: after {DRAIN_LIMIT} deliveries, {}",
            self.in_flight_summary()
        )))
    }

    /// What is still in flight: a count per message kind and the oldest
    /// few messages.
    fn in_flight_summary(&self) -> String {
        let in_flight = self.network.in_flight();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for m in in_flight {
            *kinds.entry(kind(&m.body)).or_default() += 1;
        }
        let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let oldest: Vec<String> = in_flight.iter().take(4).map(|m| m.to_string()).collect();
        match in_flight.len() {
            0 => "nothing in flight".to_string(),
            n => format!(
                "{n} still in flight ({}); oldest: {}",
                counts.join(", "),
                oldest.join("; ")
            ),
        }
    }

    /// The leader of the highest term any node has, if that term has one.
    pub fn current_leader(&self) -> Option<NodeId> {
        let max_term = self.live_nodes().map(|n| n.term()).max()?;
        self.live_nodes()
            .find(|n| n.term() == max_term && n.role() == Role::Leader)
            .map(|n| n.id())
    }

    /// Every server has committed the leader's whole log (so its no-op of
    /// this term), and every acknowledged proposal is in it.
    fn settled(&self, leader: NodeId) -> bool {
        let last = self.node(leader).map_or(0, |l| l.last_log_index());
        self.live_nodes().all(|n| n.commit_index() >= last)
            && self.acknowledged.values().all(|&(index, term)| {
                self.live_nodes().all(|n| {
                    n.commit_index() >= index
                        && n.log().get(index as usize - 1).map(|e| e.term) == Some(term)
                })
            })
    }

    fn most_up_to_date(&self) -> NodeId {
        self.live_nodes()
            .max_by_key(|n| {
                let last = n.log().last().map_or((0, 0), |e| (e.term, e.index));
                (last, std::cmp::Reverse(n.id()))
            })
            .map(|n| n.id())
            .expect("every node was restarted")
    }
}

/// Deliveries a drain may take before the network counts as never quiescing.
const DRAIN_LIMIT: usize = 100_000;

fn kind(body: &MessageBody) -> &'static str {
    match body {
        MessageBody::RequestVote(_) => "RequestVote",
        MessageBody::RequestVoteResponse(_) => "RequestVoteResponse",
        MessageBody::AppendEntries(_) => "AppendEntries",
        MessageBody::AppendEntriesResponse(_) => "AppendEntriesResponse",
    }
}

fn slot(id: NodeId) -> usize {
    (id - 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A violation on a node that takes no step (so no step's check saw
    /// it) while the rest of the cluster never quiesces: the failure is the
    /// violation, found by the checks a drain runs before it gives up.
    #[test]
    fn a_drain_that_gives_up_reports_a_violation_first() {
        let mut config = SimConfig::new(3);
        config.fault = Some(PlantedFault::ForgeAppendReject);
        let mut cluster = Cluster::new(config);
        cluster.network.partition(vec![3]);
        cluster.election_timeout(1).unwrap();
        // Node 3 is cut off and never acts; its commit index is corrupted
        // behind every step's back.
        cluster.nodes[2].node_mut().unwrap().inject_commit_index(1);
        let violation = cluster.drain_network().unwrap_err();
        assert_eq!(
            violation,
            Violation::Safety(raft_safety::Breach::IndexOutOfRange {
                node: 3,
                detail: "has commit index 1 beyond last log index 0".to_string()
            })
        );
    }
}

#[cfg(test)]
mod safety_tests;
