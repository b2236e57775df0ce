//! Schedules: sequences of abstract actions that are valid in any state
//! (indices are taken modulo what exists), so proptest can shrink them freely
//! and a seed or a printed schedule replays the exact same run.

use super::cluster::{Cluster, SimConfig};
use super::rng::SplitMix64;
use super::safety::Violation;
use raft_core::NodeId;

/// One fault or input. `usize` fields pick a message (mod in-flight count)
/// or a node (mod cluster size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver one in-flight message; picking any one models delay and reordering.
    Deliver(usize),
    /// Deliver it, then crash the receiver before its writes are durable.
    DeliverThenCrash(usize),
    Drop(usize),
    Duplicate(usize),
    ElectionTimeout(usize),
    HeartbeatTimeout(usize),
    Propose(usize),
    Crash(usize),
    Restart(usize),
    /// Cut the nodes in this bit set off from the rest.
    Partition(u8),
    Heal,
}

impl Action {
    /// Apply to `cluster`; every step is safety-checked inside the cluster.
    pub fn apply(&self, cluster: &mut Cluster, nodes: usize) -> Result<(), Violation> {
        let node = |k: usize| (k % nodes) as NodeId + 1;
        match *self {
            Action::Deliver(k) => cluster.deliver(k, false),
            Action::DeliverThenCrash(k) => cluster.deliver(k, true),
            Action::Drop(k) => {
                cluster.network.take(k);
                Ok(())
            }
            Action::Duplicate(k) => {
                cluster.network.duplicate(k);
                Ok(())
            }
            Action::ElectionTimeout(k) => cluster.election_timeout(node(k)),
            Action::HeartbeatTimeout(k) => cluster.heartbeat_timeout(node(k)),
            Action::Propose(k) => cluster.propose(node(k)),
            Action::Crash(k) => {
                cluster.crash(node(k));
                Ok(())
            }
            Action::Restart(k) => cluster.restart(node(k)),
            Action::Partition(mask) => {
                let isolated = (0..nodes)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| i as NodeId + 1);
                cluster.network.partition(isolated.collect());
                Ok(())
            }
            Action::Heal => {
                cluster.network.heal();
                Ok(())
            }
        }
    }
}

/// A failed run: the step that broke a property, and the run's trace.
#[derive(Debug)]
pub struct Failure {
    /// Index into the schedule, or `None` if it failed while settling.
    pub step: Option<usize>,
    pub violation: Violation,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(step) => writeln!(f, "{} (at step {step})", self.violation)?,
            None => writeln!(f, "{} (after healing)", self.violation)?,
        }
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Run `actions`, checking safety after every step, then heal and check
/// liveness. With `trace`, the failure carries a readable step log.
pub fn run_schedule(
    config: SimConfig,
    actions: &[Action],
    trace: bool,
) -> Result<Cluster, Failure> {
    let nodes = config.nodes;
    let mut cluster = Cluster::new(config);
    if trace {
        cluster.enable_trace();
    }
    for (step, action) in actions.iter().enumerate() {
        if let Err(violation) = action.apply(&mut cluster, nodes) {
            return Err(Failure {
                step: Some(step),
                violation,
                trace: cluster.trace().to_vec(),
            });
        }
    }
    match cluster.heal_and_settle() {
        Ok(()) => Ok(cluster),
        Err(violation) => Err(Failure {
            step: None,
            violation,
            trace: cluster.trace().to_vec(),
        }),
    }
}

/// A schedule of `len` actions drawn from `seed`: mostly deliveries, with
/// timeouts, proposals and every kind of fault mixed in.
pub fn random_schedule(seed: u64, len: usize) -> Vec<Action> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| {
            let k = rng.next_u64() as usize;
            match rng.below(1000) {
                0..=689 => Action::Deliver(k),
                690..=699 => Action::DeliverThenCrash(k),
                700..=739 => Action::Drop(k),
                740..=779 => Action::Duplicate(k),
                780..=819 => Action::ElectionTimeout(k),
                820..=879 => Action::HeartbeatTimeout(k),
                880..=959 => Action::Propose(k),
                960..=969 => Action::Crash(k),
                970..=984 => Action::Restart(k),
                985..=992 => Action::Partition(k as u8),
                _ => Action::Heal,
            }
        })
        .collect()
}
