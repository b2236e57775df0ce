//! `raftcheck check`: exhaustive, bounded model checking of the Raft spec.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use stateright::{Checker, Model};

use raft_spec::flat::{FlatModel, FlatState};
use raft_spec::{Action, Config, RaftModel};

use crate::behaviour::Behaviour;
use crate::markup::grouped;
use raftcheck_engine::progress;
use raftcheck_engine::{self as engine, LevelCut, Options, Progress, StopReason, StopWhen};

/// How the state space is explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// This project's engine: parallel breadth-first search with symmetry
    /// reduction and fingerprint-only visited states; shortest counterexamples.
    Bfs,
    /// stateright's depth-first checker (symmetry, fingerprints).
    StaterightDfs,
    /// stateright's breadth-first checker (no symmetry; keeps full states).
    StaterightBfs,
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub strategy: Strategy,
    pub threads: usize,
    pub symmetry: bool,
    pub stop_when: StopWhen,
    pub show_progress: bool,
    pub timeout: Option<Duration>,
    /// Bytes the bfs engine's visited set and queued states may take.
    pub memory_budget: Option<u64>,
    /// Keep the bfs engine's visited set and frontier in files under this
    /// directory (bounds past memory), within the memory budget.
    pub disk: Option<std::path::PathBuf>,
}

impl Default for CheckOptions {
    /// What `raftcheck check` does with no flags: breadth-first on every
    /// core, with symmetry, stopping at the first violation, quietly, with
    /// no time or memory limit.
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            symmetry: true,
            stop_when: StopWhen::AnyViolation,
            show_progress: false,
            timeout: None,
            memory_budget: None,
            disk: None,
        }
    }
}

/// `raftcheck check`'s exit codes.
pub const EXIT_OK: u8 = 0;
/// A safety property was violated, or (in a complete run) a sometimes
/// property was not reached.
pub const EXIT_FAILED: u8 = 1;
/// Bad input: the command line or the bounds.
pub const EXIT_BAD_INPUT: u8 = 2;
/// The run stopped (timeout, memory budget) before exhausting the bounds,
/// with no property failed in the states it explored.
pub const EXIT_INCOMPLETE: u8 = 3;

mod bench;
mod distributed;
mod report;
mod status;
pub use bench::{bench, disk_bench, variants_bench};
pub use distributed::{distributed_bench, run_distributed};
pub use status::Status;

#[derive(Debug, Clone, Serialize)]
pub struct PropertyStatus {
    pub name: &'static str,
    pub kind: &'static str,
    /// always: holds | violated | no-violation-so-far (run incomplete);
    /// sometimes: reached | not-reached | not-reached-so-far (run
    /// incomplete); eventually: unknown (not checked)
    pub status: Status,
    /// Depth of the violation or first witness.
    pub depth: Option<usize>,
}

impl PropertyStatus {
    /// Whether this status is what the property asks for.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, Status::Holds | Status::Reached)
    }

    /// Whether the run stopped before this property was decided.
    pub fn is_undecided(&self) -> bool {
        matches!(
            self.status,
            Status::NoViolationSoFar | Status::NotReachedSoFar | Status::Unknown
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub config: Config,
    pub strategy: Strategy,
    pub threads: usize,
    pub symmetry: bool,
    /// Every state within the bounds was explored.
    pub complete: bool,
    /// Why an incomplete run stopped.
    pub stopped_by: Option<StopReason>,
    /// The level an incomplete run was expanding when it stopped (bfs only).
    pub stopped_in: Option<LevelCut>,
    pub unique_states: u64,
    pub boundary_states: u64,
    pub transitions: u64,
    pub max_depth: usize,
    pub seconds: f64,
    pub unique_states_per_second: f64,
    pub peak_memory_bytes: Option<u64>,
    pub bytes_per_unique_state: Option<f64>,
    pub properties: Vec<PropertyStatus>,
    /// Per rule of the spec: transitions that took it and the depth where
    /// it first fired (`None` for stateright's checkers, which record none).
    pub coverage: Option<Vec<raft_spec::coverage::RuleCoverage>>,
    /// What a run with `--disk` kept on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskReport>,
    /// How a `--distributed` run was spread (its peak memory is process 0's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedReport>,
}

/// How a distributed run was spread.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DistributedReport {
    pub processes: usize,
    /// Worker threads in each process.
    pub workers: usize,
}

/// The disk a `--disk` run used.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DiskReport {
    /// Bytes written: frontier, sorted runs and the visited set.
    pub written_bytes: u64,
    /// The most bytes its files held at once.
    pub peak_bytes: u64,
}

impl CheckReport {
    /// Every safety property holds and every sometimes property is reached.
    pub fn ok(&self) -> bool {
        self.complete && self.properties.iter().all(PropertyStatus::is_ok)
    }

    pub fn violations(&self) -> impl Iterator<Item = &PropertyStatus> {
        self.properties
            .iter()
            .filter(|p| p.status == Status::Violated)
    }

    /// The process exit code for this report: an incomplete run that found
    /// no violation has its own code, distinct from a failed property.
    pub fn exit_code(&self) -> u8 {
        if self.ok() {
            EXIT_OK
        } else if self.complete || self.violations().next().is_some() {
            EXIT_FAILED
        } else {
            EXIT_INCOMPLETE
        }
    }
}

/// A finished check: the report plus a concrete behaviour for each
/// discovered property (violations and witnesses).
pub struct CheckRun {
    pub report: CheckReport,
    pub behaviours: BTreeMap<&'static str, Behaviour>,
}

/// Runs one model check. The config must be valid.
pub fn run(cfg: &Config, opts: &CheckOptions) -> crate::error::Result<CheckRun> {
    if opts.memory_budget.is_some() && opts.strategy != Strategy::Bfs {
        return Err(crate::error::Error::Options(
            "a memory budget applies to the bfs strategy only",
        ));
    }
    if opts.disk.is_some() && opts.strategy != Strategy::Bfs {
        return Err(crate::error::Error::Options(
            "--disk applies to the bfs strategy only",
        ));
    }
    let model = RaftModel::new(cfg.clone())?;
    let progress = Progress::default();
    let result = std::thread::scope(|scope| {
        if opts.show_progress {
            scope.spawn(|| progress::report_until_done(&progress));
        }
        let result = match opts.strategy {
            Strategy::Bfs => run_engine(&model, opts, &progress),
            Strategy::StaterightDfs | Strategy::StaterightBfs => {
                Ok(run_stateright(&model, opts, &progress))
            }
        };
        progress
            .done
            .store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    let (outcome, behaviours, disk) = result?;
    Ok(report::finish(
        cfg, opts, &model, outcome, behaviours, disk, None,
    ))
}

/// Explores the flat representation of the model (the same states, without
/// stateright's per-step allocations), then replays each discovery's path
/// in `model`, the representation traces and the explorer use.
fn run_engine(
    model: &RaftModel,
    opts: &CheckOptions,
    progress: &Progress,
) -> crate::error::Result<EngineRun> {
    let flat = FlatModel::new(model.cfg.clone()).expect("the config was validated");
    let symmetry: engine::Symmetry<FlatState> =
        opts.symmetry.then_some(FlatState::representative_if_other);
    let codec = engine::Codec {
        encode: raft_spec::codec::encode_into,
        decode: raft_spec::codec::decode,
    };
    let options = Options {
        threads: opts.threads,
        symmetry,
        stop_when: opts.stop_when,
        timeout: opts.timeout,
        memory_budget: opts.memory_budget,
    };
    let (exploration, disk) = match &opts.disk {
        None => (
            engine::explore_with_codec(&flat, &options, Some(&codec), progress),
            None,
        ),
        Some(dir) => {
            // Within the budget, or (with none) a fixed few GiB.
            let memory = opts.memory_budget.unwrap_or(4 << 30);
            let disk = engine::DiskOptions::within(dir.clone(), memory);
            let (exploration, usage) = engine::explore_on_disk(
                &flat, &options, &codec, &disk, progress,
            )
            .map_err(|error| crate::error::Error::File {
                action: "explore on disk in",
                path: dir.clone(),
                error,
            })?;
            (exploration, Some(usage))
        }
    };
    let orbit_key = if symmetry.is_some() {
        FlatState::orbit_key
    } else {
        engine::fingerprint::<FlatState>
    };
    let behaviours = exploration
        .outcome
        .discoveries
        .iter()
        .filter_map(|(name, d)| {
            let behaviour = exploration
                .path(&flat, symmetry, orbit_key, Some(&codec), d.fingerprint)
                .and_then(|(_, steps)| replay(model, steps));
            if behaviour.is_none() {
                tracing::error!(property = name, "could not rebuild the path to a discovery");
            }
            Some((*name, behaviour?))
        })
        .collect();
    Ok((exploration.outcome, behaviours, disk))
}

/// An engine run: its outcome, a behaviour per discovery, and what it kept
/// on disk (with `--disk`).
type EngineRun = (
    engine::Outcome,
    BTreeMap<&'static str, Behaviour>,
    Option<engine::DiskUse>,
);

/// Takes a flat model's path in `model`, step by step, checking that each
/// step reaches the same state.
fn replay(model: &RaftModel, steps: Vec<(Action, FlatState)>) -> Option<Behaviour> {
    let init = model.init_states().into_iter().next()?;
    let mut current = init.clone();
    let mut out = Vec::new();
    for (action, flat) in steps {
        let next = model.next_state(&current, action.clone())?;
        if FlatState::from(&next) != flat {
            tracing::error!(
                ?action,
                "the flat model and the actor model disagree on a step"
            );
            return None;
        }
        out.push((action, next.clone()));
        current = next;
    }
    Some((init, out))
}

fn run_stateright(model: &RaftModel, opts: &CheckOptions, progress: &Progress) -> EngineRun {
    use std::sync::atomic::Ordering::Relaxed;
    let start = std::time::Instant::now();
    let mut builder = model.clone().checker().threads(opts.threads);
    if let Some(t) = opts.timeout {
        builder = builder.timeout(t);
    }
    let checker: Box<dyn Checker<RaftModel>> = match opts.strategy {
        Strategy::StaterightBfs => Box::new(builder.spawn_bfs()),
        _ => {
            let builder = if opts.symmetry {
                builder.symmetry()
            } else {
                builder
            };
            Box::new(builder.spawn_dfs())
        }
    };
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(50));
        progress
            .transitions
            .store(checker.state_count() as u64, Relaxed);
        progress
            .unique
            .store(checker.unique_state_count() as u64, Relaxed);
        progress.depth.store(checker.max_depth(), Relaxed);
    }
    let elapsed = start.elapsed();
    let complete = opts.timeout.is_none_or(|t| elapsed < t);
    let mut discoveries = BTreeMap::new();
    let mut behaviours = BTreeMap::new();
    for (name, path) in checker.discoveries() {
        let steps: Vec<_> = path.into_vec();
        let depth = steps.len() - 1;
        discoveries.insert(
            name,
            engine::Discovery {
                fingerprint: 0,
                depth,
            },
        );
        let init = steps[0].0.clone();
        let mut behaviour = Vec::new();
        for w in steps.windows(2) {
            if let Some(a) = &w[0].1 {
                behaviour.push((a.clone(), w[1].0.clone()));
            }
        }
        behaviours.insert(name, (init, behaviour));
    }
    let outcome = engine::Outcome {
        unique: checker.unique_state_count() as u64,
        transitions: checker.state_count() as u64,
        boundary: 0,
        max_depth: checker.max_depth(),
        elapsed,
        complete,
        stopped_by: (!complete).then_some(StopReason::Timeout),
        stopped_in: None,
        discoveries,
        rules: None,
    };
    (outcome, behaviours, None)
}

/// The report as text.
pub fn render_text(report: &CheckReport, command: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("raftcheck check: {}\n", report.config.summary()));
    out.push_str(&format!(
        "strategy {:?}, {} threads, symmetry {}\n",
        report.strategy,
        report.threads,
        if report.symmetry { "on" } else { "off" }
    ));
    if let Some(d) = report.distributed {
        out.push_str(&format!(
            "distributed: {} process(es) x {} worker(s), states partitioned by fingerprint \
             (timely dataflow)\n",
            d.processes, d.workers
        ));
    }
    out.push_str(&format!(
        "{} {} unique states ({} at the boundary), {} transitions, max depth {}\n",
        if report.complete {
            "explored all"
        } else {
            "stopped after"
        },
        grouped(report.unique_states),
        grouped(report.boundary_states),
        grouped(report.transitions),
        report.max_depth
    ));
    if let Some(cut) = report.stopped_in {
        out.push_str(&format!(
            "run incomplete ({}): {} of the {} at depth {} expanded; every state to depth {} \
             was reached and checked\n",
            stop_reason(report),
            grouped(cut.expanded),
            states(cut.states),
            cut.depth,
            cut.depth
        ));
        if let Some(hint) = what_to_try(report) {
            out.push_str(&hint);
        }
    }
    let mem = match (report.peak_memory_bytes, report.bytes_per_unique_state) {
        (Some(b), Some(per)) => format!(
            "; peak memory {:.1} MiB ({per:.0} bytes per unique state)",
            b as f64 / (1 << 20) as f64
        ),
        _ => String::new(),
    };
    out.push_str(&format!(
        "in {:.2} s: {} unique states/s{mem}\n\n",
        report.seconds,
        grouped(report.unique_states_per_second as u64)
    ));
    out.push_str("properties\n");
    for p in &report.properties {
        out.push_str(&format!(
            "  {:<9}  {:<52} {}\n",
            p.kind,
            p.name,
            property_verdict(report, p)
        ));
    }
    out.push('\n');
    out.push_str(&crate::coverage::render_text(
        report.coverage.as_deref(),
        report.complete,
    ));
    out.push('\n');
    if report.ok() {
        out.push_str(
            "result: OK: every safety property holds and every sometimes property is reached\n",
        );
    } else if report.exit_code() == EXIT_INCOMPLETE {
        out.push_str(&format!(
            "result: INCOMPLETE ({}): the run stopped before exhausting the bounds; \
             no property failed in the {} explored\n",
            stop_reason(report),
            states(report.unique_states)
        ));
    } else {
        out.push_str("result: FAILED\n");
    }
    out.push_str(&format!("reproduce: {command}\n"));
    out
}

/// For a run stopped by a limit, how to get further.
fn what_to_try(report: &CheckReport) -> Option<String> {
    match report.stopped_by? {
        StopReason::MemoryBudget => Some(
            "to go further: a larger --max-memory (if the machine has it), \
             --disk DIR (the visited set and the frontier on disk), \
             `raftcheck simulate` (random walks at these bounds), or smaller bounds\n"
                .to_string(),
        ),
        StopReason::Timeout => Some(
            "to go further: a longer --timeout, more --threads, or smaller bounds\n".to_string(),
        ),
        StopReason::Violation | StopReason::Discovery | StopReason::Interrupted => None,
    }
}

/// "1 state", "52,062 states".
fn states(n: u64) -> String {
    match n {
        1 => "1 state".to_string(),
        n => format!("{} states", grouped(n)),
    }
}

/// Why an incomplete run stopped, in words.
fn stop_reason(report: &CheckReport) -> String {
    report
        .stopped_by
        .map_or_else(|| "stopped early".to_string(), |r| r.to_string())
}

/// One property's verdict in words, with what it rests on: for a property
/// not decided, or a sometimes property never reached, how far the run got
/// and what stopped it.
pub fn property_verdict(report: &CheckReport, p: &PropertyStatus) -> String {
    let states = states(report.unique_states);
    let depth = report.max_depth;
    let at = p.depth.map_or(String::new(), |d| format!(" at depth {d}"));
    match p.status {
        Status::Violated | Status::Reached => format!("{}{at}", p.status),
        Status::NoViolationSoFar => format!("no violation in {states} to depth {depth}"),
        Status::NotReachedSoFar => format!(
            "not reached in {states} to depth {depth} (run incomplete: {})",
            stop_reason(report)
        ),
        Status::NotReached => format!(
            "not reached in all {states}: the bounds ({}) may be too small",
            limiting_bounds(&report.config, p.name)
        ),
        Status::Holds | Status::Unknown => p.status.to_string(),
    }
}

/// The bounds that can keep a sometimes property out of reach, as
/// `name=value` in `Config::summary`'s spelling.
fn limiting_bounds(cfg: &Config, property: &str) -> String {
    use raft_spec::properties as p;
    let term = format!("max-term={}", cfg.max_term);
    let log = format!("max-log={}", cfg.max_log_len);
    let crashes = format!("crashes={}", cfg.max_crashes);
    let in_flight = format!("in-flight={}", cfg.max_in_flight);
    let bounds = match property {
        p::LEADER_ELECTED | p::LATER_LEADER | p::VOTE_MOVES => vec![term, in_flight],
        p::VALUE_COMMITTED => vec![term, log, in_flight],
        p::COMMIT_SURVIVES_CRASH => vec![crashes, log, in_flight],
        _ => vec![term, log, crashes, in_flight],
    };
    bounds.join(", ")
}

/// A behaviour as numbered steps, each followed by every server's state.
pub fn render_behaviour(name: &str, behaviour: &Behaviour) -> String {
    let (init, steps) = behaviour;
    let mut out = format!("{name} ({} steps):\n  initial state\n", steps.len());
    out.push_str(&indent(&raft_spec::render::states(init)));
    for (i, (action, state)) in steps.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {}\n",
            i + 1,
            RaftModel::describe_action(action)
        ));
        out.push_str(&indent(&raft_spec::render::states(state)));
    }
    out
}

/// `check --save FILE`: writes the first violated property's counterexample
/// as a trace file; returns the property, or `None` (and writes nothing) if
/// no property is violated.
pub fn save_counterexample(
    cfg: &Config,
    run: &CheckRun,
    path: &std::path::Path,
) -> crate::error::Result<Option<&'static str>> {
    let Some((name, behaviour)) = run
        .report
        .violations()
        .find_map(|p| run.behaviours.get(p.name).map(|b| (p.name, b)))
    else {
        return Ok(None);
    };
    let trace = crate::trace::Trace::from_behaviour(
        cfg,
        cfg.bug,
        name,
        crate::trace::Outcome::Violates,
        behaviour,
    )?;
    crate::files::write(path, trace.to_json())?;
    Ok(Some(name))
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}
