//! The gate's raft-rs part: tikv/raft-rs through its adapter, exhaustive
//! at the plan's profiles, random walks over the product at 5 servers, and
//! every counterexample replayed. A divergence the adapter names as a
//! design difference (`raftcheck_raft_rs::differences`) is reported as
//! one; any other fails the gate.

use std::time::Instant;

use raftcheck_raft_rs::differences::{classify, DesignDifference};
use raftcheck_raft_rs::RaftRs;

use super::{Case, CaseStatus, GateConfig, GateRun, Part};
use crate::conform::{exhaustive, replay, walks, Divergence, Loosen};
use crate::error::Result;
use crate::trace::Trace;
use crate::{bounds, files};

fn difference(d: &Divergence) -> Option<DesignDifference> {
    classify(
        &d.mismatch.field,
        &d.mismatch.model,
        &d.mismatch.implementation,
        &d.action,
    )
}

/// A known difference is reported, not failed.
fn known(case: &mut Case, d: DesignDifference) {
    case.status = CaseStatus::KnownDifference;
    case.detail = format!(
        "known design difference: {}\n\n{}",
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
    let conformed = exhaustive::run(
        &RaftRs,
        &run.config,
        &exhaustive::ExhaustiveOptions {
            threads: gc.threads,
            show_progress: gc.show_progress,
            // Not past known differences: at `ci` the rest of raft-rs's
            // product is over 146 M states by depth 24 of 49 (300 s), far
            // beyond the gate's budget; the run stops at the first.
            past_known: false,
            ..Default::default()
        },
    )?;
    let r = &conformed.report;
    let mut case = Case::new(
        Part::RaftRs,
        run.named("raft-rs: exhaustive"),
        r.ok(),
        exhaustive::render_text(r),
    );
    if r.ok() && !r.known_differences.is_empty() {
        let names: Vec<_> = r.known_differences.iter().map(|k| k.name).collect();
        case.status = CaseStatus::KnownDifference;
        case.detail = format!(
            "every transition but those reaching a known design difference ({}) conforms\n\n{}",
            names.join(", "),
            case.detail
        );
    }
    case.states = Some(r.unique_states);
    case.seconds = r.seconds;
    if let Some(d) = r.divergence.as_ref().and_then(difference) {
        known(&mut case, d);
    }
    if case.failed() {
        case.reproduce = Some(format!(
            "raftcheck-raft-rs conform {}",
            bounds::flags_for(&run.config)
        ));
    }
    cases.push(case);
    Ok(())
}

fn walks_case(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    let (count, cfg) = &gc.raft_rs_walks;
    let depth = 40;
    let r = walks::walks(&RaftRs, cfg, &Loosen::default(), *count, depth, 1)?;
    let unknown = r
        .divergences
        .iter()
        .filter(|w| difference(&w.divergence).is_none())
        .count();
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
            "{} walks reached a known design difference (none other)\n\n{}",
            r.divergences.len(),
            case.detail
        );
    }
    if case.failed() {
        case.reproduce = Some(format!(
            "raftcheck-raft-rs conform --walks {count} --depth {depth} --seed 1 {}",
            bounds::flags_for(cfg)
        ));
    }
    cases.push(case);
    Ok(())
}

fn replay_cases(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    // An unreadable or empty directory fails the replay part already.
    let Ok(files) = files::json_files(&gc.counterexamples) else {
        return Ok(());
    };
    for file in files {
        let start = Instant::now();
        let name = format!("raft-rs: replay {}", file.display());
        let mut case = match Trace::load(&file) {
            Err(e) => Case::new(Part::RaftRs, name, false, e.to_string()),
            Ok(trace) => {
                match replay::replay_trace(&RaftRs, &trace, Some(&file), &Loosen::default()) {
                    Err(e) => Case::new(Part::RaftRs, name, false, format!("{e:#}")),
                    Ok(r) => {
                        let mut c = Case::new(Part::RaftRs, name, r.ok(), replay::render_text(&r));
                        if !r.ok() {
                            classify_replay(&trace, &file, &r, &mut c)?;
                        }
                        c
                    }
                }
            }
        };
        if case.failed() {
            case.reproduce = Some(format!("raftcheck-raft-rs replay {}", file.display()));
        }
        case.seconds = start.elapsed().as_secs_f64();
        cases.push(case);
    }
    Ok(())
}

/// A replay that is not as expected: a named difference, a wrong rule
/// whose effect only a loosened field shows (found by comparing that field
/// again), or a failure.
fn classify_replay(
    trace: &Trace,
    file: &std::path::Path,
    r: &replay::ReplayReport,
    case: &mut Case,
) -> Result<()> {
    // A named difference, reached no later than the wrong rule fires (a
    // later one would hide a wrong rule raft-rs took).
    let in_time = |d: &&Divergence| r.wrong_rule_fires_at.is_none_or(|fires| d.step <= fires);
    if let Some(d) = r.divergence.as_ref().filter(in_time).and_then(difference) {
        known(case, d);
        return Ok(());
    }
    // The wrong rule taken (no divergence where it fires): does comparing
    // every field (`--strict`) see it there?
    let Some(fires) = r.wrong_rule_fires_at else {
        return Ok(());
    };
    let took_it = r.divergence.as_ref().is_none_or(|d| d.step > fires);
    if !took_it {
        return Ok(());
    }
    // Each of the adapter's loosenings in turn compared again.
    let all = Loosen::default().names(&RaftRs, &trace.config);
    for l in &all {
        let without = Loosen {
            strict: true,
            extra: all.iter().copied().filter(|m| m != l).collect(),
        };
        let s = replay::replay_trace(&RaftRs, trace, Some(file), &without)?;
        if let Some(d) = s.divergence.as_ref().filter(|d| d.step == fires) {
            case.status = CaseStatus::KnownDifference;
            case.detail = format!(
                "hidden by the loosening {l}: the wrong rule's effect at step {fires} is only in what it does not compare (compared, it diverges there on {})\n\n{}",
                d.mismatch.field, case.detail
            );
            return Ok(());
        }
    }
    Ok(())
}
