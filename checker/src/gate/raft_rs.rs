//! The gate's raft-rs part: tikv/raft-rs through its adapter, under its
//! own model (`Variant::RAFT_RS`) with nothing loosened: exhaustive at the
//! plan's profiles, random walks over the product at 5 servers, and the
//! raft-rs counterexamples (`counterexamples/raft-rs/`) replayed. The one
//! kind of divergence accepted is a known deviation of raft-rs from its
//! model (`raftcheck_raft_rs::differences::Deviation`, each with its saved
//! counterexample), reported as a known difference; any other fails the
//! gate. The paper's counterexamples are raft-core's (the replay part):
//! they are behaviours of the paper's model, not of raft-rs's.

use std::path::Path;
use std::time::Instant;

use raft_spec::{Config, Variant};
use raftcheck_raft_rs::differences::{classify_deviation, Deviation};
use raftcheck_raft_rs::RaftRs;

use super::{Case, CaseStatus, GateConfig, GateRun, Part};
use crate::conform::{exhaustive, replay, walks, Divergence, Loosen};
use crate::error::Result;
use crate::trace::Trace;
use crate::{bounds, files};

/// The directory, under the counterexamples, of raft-rs's own.
pub const RAFT_RS_COUNTEREXAMPLES: &str = "raft-rs";

/// `cfg` under raft-rs's own variant.
pub fn preset(cfg: &Config) -> Config {
    Config {
        variant: Variant::RAFT_RS,
        ..cfg.clone()
    }
}

fn deviation(d: &Divergence) -> Option<Deviation> {
    classify_deviation(
        &d.mismatch.field,
        &d.mismatch.model,
        &d.mismatch.implementation,
        &d.action,
    )
}

/// A known deviation is reported, not failed.
fn known(case: &mut Case, d: Deviation) {
    case.status = CaseStatus::KnownDifference;
    case.detail = format!(
        "known raft-rs deviation: {}\n\n{}",
        d.describe(),
        case.detail
    );
}

pub fn run(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    for run in &gc.raft_rs_runs {
        exhaustive_case(gc, run, cases)?;
    }
    walks_case(gc, cases)?;
    replay_cases(gc, cases)
}

fn exhaustive_case(gc: &GateConfig, run: &GateRun, cases: &mut Vec<Case>) -> Result<()> {
    let cfg = preset(&run.config);
    let conformed = exhaustive::run(
        &RaftRs,
        &cfg,
        &exhaustive::ExhaustiveOptions {
            threads: gc.threads,
            show_progress: gc.show_progress,
            // Past the known deviation (the only divergence the adapter
            // names under raft-rs's variant): the rest is still checked.
            past_known: true,
            ..Default::default()
        },
    )?;
    let r = &conformed.report;
    // Under its own variant raft-rs must send every message the model
    // sends: a lossy network would otherwise hide one it leaves out.
    let exact = r.messages_lost == 0;
    let mut case = Case::new(
        Part::RaftRs,
        run.named("raft-rs: exhaustive"),
        r.ok() && exact,
        exhaustive::render_text(r),
    );
    if !exact {
        case.detail = format!(
            "{} messages the model sent were not sent by raft-rs\n\n{}",
            r.messages_lost, case.detail
        );
    }
    if r.ok() && exact && !r.known_differences.is_empty() {
        let names: Vec<_> = r.known_differences.iter().map(|k| k.name).collect();
        case.status = CaseStatus::KnownDifference;
        case.detail = format!(
            "every transition but those reaching a known raft-rs deviation ({}) conforms\n\n{}",
            names.join(", "),
            case.detail
        );
    }
    case.states = Some(r.unique_states);
    case.seconds = r.seconds;
    if case.failed() {
        case.reproduce = Some(format!(
            "raftcheck-raft-rs conform --past-known {}",
            bounds::flags_for(&cfg)
        ));
    }
    cases.push(case);
    Ok(())
}

fn walks_case(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    let (count, cfg) = &gc.raft_rs_walks;
    let cfg = preset(cfg);
    let depth = 40;
    let r = walks::walks(&RaftRs, &cfg, &Loosen::default(), *count, depth, 1)?;
    let unknown = r
        .divergences
        .iter()
        .filter(|w| deviation(&w.divergence).is_none())
        .count()
        + usize::from(r.messages_lost > 0);
    let mut case = Case::new(
        Part::RaftRs,
        format!(
            "raft-rs: {count} random walks of {depth} steps, {} servers",
            cfg.servers
        ),
        unknown == 0,
        r.render_text(),
    );
    case.seconds = r.seconds;
    if !r.ok() && unknown == 0 {
        case.status = CaseStatus::KnownDifference;
        case.detail = format!(
            "{} walks reached a known raft-rs deviation (none other)\n\n{}",
            r.divergences.len(),
            case.detail
        );
    }
    if case.failed() {
        case.reproduce = Some(format!(
            "raftcheck-raft-rs conform --walks {count} --depth {depth} --seed 1 {}",
            bounds::flags_for(&cfg)
        ));
    }
    cases.push(case);
    Ok(())
}

/// raft-rs's counterexamples: each deviation's must diverge as that
/// deviation at its last step; any other trace must replay.
fn replay_cases(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    let dir = gc.counterexamples.join(RAFT_RS_COUNTEREXAMPLES);
    // No such directory (a gate given another counterexamples directory):
    // nothing of raft-rs's to replay, except each deviation's, reported
    // missing below.
    let mut traces = files::json_files(&dir).unwrap_or_default();
    for d in Deviation::ALL {
        let file = gc.counterexamples.join(d.trace());
        if !traces.contains(&file) {
            traces.push(file);
        }
    }
    for file in traces {
        let start = Instant::now();
        let expected = Deviation::ALL
            .into_iter()
            .find(|d| gc.counterexamples.join(d.trace()) == file);
        let mut case = replay_case(&file, expected);
        if case.failed() {
            case.reproduce = Some(format!("raftcheck-raft-rs replay {}", file.display()));
        }
        case.seconds = start.elapsed().as_secs_f64();
        cases.push(case);
    }
    Ok(())
}

fn replay_case(file: &Path, expected: Option<Deviation>) -> Case {
    let name = format!("raft-rs: replay {}", file.display());
    let trace = match Trace::load(file) {
        Ok(t) => t,
        Err(e) => return Case::new(Part::RaftRs, name, false, e.to_string()),
    };
    if trace.config.variant != Variant::RAFT_RS {
        let detail = format!(
            "a trace of variant {}: raft-rs's counterexamples are of its own, raft-rs",
            trace.config.variant
        );
        return Case::new(Part::RaftRs, name, false, detail);
    }
    let r = match replay::replay_trace(&RaftRs, &trace, Some(file), &Loosen::default()) {
        Ok(r) => r,
        Err(e) => return Case::new(Part::RaftRs, name, false, format!("{e:#}")),
    };
    let text = replay::render_text(&r);
    let Some(want) = expected else {
        return Case::new(Part::RaftRs, name, r.ok(), text);
    };
    // The deviation, exactly where its trace ends.
    let at_end = r
        .divergence
        .as_ref()
        .filter(|d| d.step == r.steps)
        .and_then(deviation);
    let mut case = Case::new(Part::RaftRs, name, at_end == Some(want), text);
    if at_end == Some(want) {
        known(&mut case, want);
    } else {
        case.detail = format!(
            "expected raft-rs's known deviation {} at the trace's last step (step {})\n\n{}",
            want.name(),
            r.steps,
            case.detail
        );
    }
    case
}
