//! A check's report, from an exploration's outcome: each property's
//! status and the figures, as every strategy and mode reports them.

use std::collections::BTreeMap;

use stateright::{Expectation, Model};

use raft_spec::{Config, RaftModel};
use raftcheck_engine::{self as engine, progress};

use super::{
    CheckOptions, CheckReport, CheckRun, DiskReport, DistributedReport, PropertyStatus, Status,
    Strategy,
};
use crate::behaviour::Behaviour;

/// The report on an exploration's outcome, with its behaviours.
pub(super) fn finish(
    cfg: &Config,
    opts: &CheckOptions,
    model: &RaftModel,
    outcome: engine::Outcome,
    behaviours: BTreeMap<&'static str, Behaviour>,
    disk: Option<engine::DiskUse>,
    distributed: Option<DistributedReport>,
) -> CheckRun {
    let peak = progress::peak_rss_bytes();
    let secs = outcome.elapsed.as_secs_f64();
    let properties = model
        .properties()
        .iter()
        .map(|p| {
            let found = outcome.discoveries.get(p.name);
            let (kind, status) = match (p.expectation.clone(), found, outcome.complete) {
                (Expectation::Always, Some(_), _) => ("always", Status::Violated),
                (Expectation::Always, None, true) => ("always", Status::Holds),
                (Expectation::Sometimes, Some(_), _) => ("sometimes", Status::Reached),
                (Expectation::Sometimes, None, true) => ("sometimes", Status::NotReached),
                (Expectation::Always, None, false) => ("always", Status::NoViolationSoFar),
                (Expectation::Sometimes, None, false) => ("sometimes", Status::NotReachedSoFar),
                (Expectation::Eventually, _, _) => ("eventually", Status::Unknown),
            };
            PropertyStatus {
                name: p.name,
                kind,
                status,
                depth: found.map(|d| d.depth),
            }
        })
        .collect();
    let report = CheckReport {
        config: cfg.clone(),
        strategy: opts.strategy,
        threads: opts.threads,
        symmetry: opts.symmetry && opts.strategy != Strategy::StaterightBfs,
        complete: outcome.complete,
        stopped_by: outcome.stopped_by,
        stopped_in: outcome.stopped_in,
        unique_states: outcome.unique,
        boundary_states: outcome.boundary,
        transitions: outcome.transitions,
        max_depth: outcome.max_depth,
        seconds: secs,
        unique_states_per_second: outcome.unique as f64 / secs.max(1e-9),
        peak_memory_bytes: peak,
        bytes_per_unique_state: peak.map(|b| b as f64 / outcome.unique.max(1) as f64),
        properties,
        coverage: crate::coverage::from_counts(cfg, outcome.rules.as_ref()),
        disk: disk.map(|d| DiskReport {
            written_bytes: d.written,
            peak_bytes: d.peak,
        }),
        distributed,
    };
    CheckRun { report, behaviours }
}
