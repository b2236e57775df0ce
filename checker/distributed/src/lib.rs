//! Distributed breadth-first exploration on timely dataflow.
//!
//! One timely computation spans every worker of every process. A state's
//! fingerprint picks its owner (timely's `Exchange` pact): the owner keeps
//! the fingerprint in its share of the visited set, checks the state's
//! properties when it is new and expands it; its successors travel, encoded
//! by the model's codec, to their own owners. The loop's timestamp is the
//! depth: a level is recorded only once timely's progress tracking says no
//! worker can still send a state of it, and expanded only once every worker
//! has recorded it, so the counts, the depths of discoveries and the stop
//! at a violation are those of the single-process engine.
//!
//! Timely's operators must be `'static`, so the model, its properties and
//! each worker's counters are leaked: a few hundred bytes per run.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use raftcheck_engine::{
    Codec, Fingerprint, LevelCut, Outcome, StepInPlace, StopReason, StopWhen, Symmetry,
};
use stateright::{Model, Property};

mod flow;
mod gather;
mod net;

pub use net::{parse_address, read_hosts};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hosts file {path}: {reason}")]
    Hosts { path: PathBuf, reason: String },
    #[error("{0}")]
    Cluster(String),
    #[error("cannot listen on {address} (this process's address): {error}")]
    Listen { address: String, error: String },
    #[error("while greeting {address}: {error}")]
    Handshake { address: String, error: String },
    #[error("{0}")]
    Mismatch(String),
    #[error(
        "process {process}: after {waited:?}, still no connection with {}; start every process \
         (each with its own --process index and the same hosts file), or check the addresses",
        missing.join(", ")
    )]
    PeersMissing {
        process: usize,
        waited: Duration,
        missing: Vec<String>,
    },
    #[error("timely: {0}")]
    Timely(String),
}

/// Where this process stands in the computation.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Processes in all (each runs `workers` workers).
    pub processes: usize,
    /// This process's index, 0 to processes - 1 (process 0 reports).
    pub process: usize,
    /// Worker threads in each process.
    pub workers: usize,
    /// Each process's `host:port`, in process order (unused with one).
    pub addresses: Vec<String>,
    /// How long to wait for every peer to connect.
    pub connect_timeout: Duration,
    /// What is explored (a hash of the model's bounds and options, say):
    /// a peer with another tag is refused, not joined.
    pub tag: u64,
}

impl Cluster {
    /// One process with `workers` workers.
    pub fn local(workers: usize) -> Cluster {
        Cluster {
            processes: 1,
            process: 0,
            workers,
            addresses: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            tag: 0,
        }
    }

    /// Checks the shape, naming what is wrong.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |s: String| Err(Error::Cluster(s));
        if self.processes == 0 || self.workers == 0 {
            return bad("--processes and --workers must each be at least 1".into());
        }
        if self.process >= self.processes {
            return bad(format!(
                "--process {} is out of range: with --processes {} it must be 0 to {}",
                self.process,
                self.processes,
                self.processes - 1
            ));
        }
        if self.processes > 1 && self.addresses.len() != self.processes {
            return bad(format!(
                "{} processes need {} addresses, one each, but {} were given",
                self.processes,
                self.processes,
                self.addresses.len()
            ));
        }
        Ok(())
    }
}

pub struct Options<S> {
    pub symmetry: Symmetry<S>,
    /// `Exhausted`, or a stop after the level where a safety property
    /// first fails (every other kind of stop is taken as that, too).
    pub stop_when: StopWhen,
    /// Stop (reporting an incomplete run) after the first level that ends
    /// past this long.
    pub timeout: Option<Duration>,
}

/// What process 0 reports.
#[derive(Debug)]
pub struct Report {
    /// The figures of every worker, summed, as the engine reports them.
    pub outcome: Outcome,
    /// For each discovery, the fingerprints from an initial state to the
    /// discovered one, gathered from their owners (for
    /// [`raftcheck_engine::path_along`]).
    pub chains: BTreeMap<&'static str, Vec<Fingerprint>>,
}

/// What every worker reads: leaked, since timely's operators are `'static`.
pub(crate) struct Shared<M: Model> {
    pub(crate) model: M,
    pub(crate) properties: Vec<Property<M>>,
    pub(crate) codec: Codec<M::State>,
    pub(crate) symmetry: Symmetry<M::State>,
    pub(crate) stop_on_violation: bool,
    pub(crate) deadline: Option<Instant>,
}

/// How a worker's run ended, as every worker sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ending {
    /// The deepest level with states to expand.
    pub(crate) max_depth: usize,
    /// Where and why the run stopped early.
    pub(crate) cut: Option<(LevelCut, StopReason)>,
}

/// Explores `model` across `cluster`: `Some` report on process 0, `None`
/// on the others (once the computation is over).
pub fn explore<M>(
    model: M,
    codec: Codec<M::State>,
    opts: &Options<M::State>,
    cluster: &Cluster,
) -> Result<Option<Report>, Error>
where
    M: StepInPlace + Send + Sync + 'static,
    M::State: Hash + Clone + Send + Sync,
{
    cluster.validate()?;
    let start = Instant::now();
    let properties = model.properties();
    assert!(properties.len() <= 64, "at most 64 properties");
    let shared: &'static Shared<M> = Box::leak(Box::new(Shared {
        model,
        properties,
        codec,
        symmetry: opts.symmetry,
        stop_on_violation: opts.stop_when != StopWhen::Exhausted,
        deadline: opts.timeout.map(|t| start + t),
    }));
    let (builders, guard) = allocators(cluster)?;
    let guards = timely::execute::execute_from(
        builders,
        guard,
        timely::WorkerConfig::default(),
        move |worker| {
            let (share, ending) = flow::explore(worker, shared);
            gather::report(worker, shared, &share, ending)
        },
    )
    .map_err(Error::Timely)?;
    let mut report = None;
    for result in guards.join() {
        if let Some(r) = result.map_err(Error::Timely)? {
            report = Some(r);
        }
    }
    Ok(report.map(|mut report: Report| {
        report.outcome.elapsed = start.elapsed();
        report
    }))
}

type Builders = (
    Vec<timely::communication::AllocatorBuilder>,
    Box<dyn std::any::Any + Send>,
);

/// Timely's allocators: threads in this process, and with more than one
/// process, TCP to the others over the connections `net` made.
fn allocators(cluster: &Cluster) -> Result<Builders, Error> {
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    use timely::communication::allocator::ProcessBuilder;
    use timely::communication::{AllocatorBuilder, Hooks};
    if cluster.processes == 1 {
        let config = match cluster.workers {
            1 => timely::CommunicationConfig::Thread,
            n => timely::CommunicationConfig::Process(n),
        };
        return config.try_build().map_err(Error::Timely);
    }
    let sockets = net::connect(cluster)?;
    let hooks = Hooks::default();
    let local = ProcessBuilder::new_typed_vector(
        cluster.workers,
        hooks.refill.clone(),
        hooks.spill.clone(),
    );
    let (builders, guard) =
        initialize_networking_from_sockets(local, sockets, cluster.process, cluster.workers, hooks)
            .map_err(|e| Error::Timely(format!("cannot start networking: {e}")))?;
    Ok((
        builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
        Box::new(guard),
    ))
}
