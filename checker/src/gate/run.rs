//! Running the gate: each part in turn, each check a case of the report.

use std::path::Path;
use std::time::{Duration, Instant};

use raft_spec::variant::PRESETS;
use raft_spec::{Bug, Profile};

use raft_spec::coverage::CoverageStatus;

use super::{Case, CaseStatus, GateConfig, GateReport, GateRun, Part};
use crate::check::{self, CheckOptions, Strategy};
use crate::conform::{exhaustive, replay, Loosen, RaftCore};
use crate::error::{Error, Result};
use crate::trace::{Outcome, Trace};
use crate::{bounds, bugs, files, show};
use raftcheck_adapter::Implementation;
use raftcheck_engine::StopReason;
use raftcheck_engine::StopWhen;

/// Runs the gate's parts in order and collects one report.
pub fn run(gc: &GateConfig) -> Result<GateReport> {
    let start = Instant::now();
    let mut cases = Vec::new();
    for part in &gc.parts {
        if gc.show_progress {
            eprintln!("== {}", part.title());
        }
        match part {
            Part::ModelCheck => {
                for r in &gc.model_checks {
                    model_check(gc, r, &mut cases)?;
                }
            }
            // Counted by the model checks and conformance runs themselves.
            Part::Coverage => {}
            Part::Bugs => bug_catalogue(gc, &mut cases)?,
            Part::Conformance => {
                for r in &gc.conformance_runs {
                    conformance(gc, r, &mut cases)?;
                }
            }
            Part::Replay => replay_counterexamples(gc, &mut cases)?,
            Part::RaftRs => super::raft_rs::run(gc, &mut cases)?,
            Part::StateSpace => state_space_guard(gc, &mut cases)?,
        }
    }
    Ok(GateReport {
        command: gc.command.clone(),
        config: gc.config.clone(),
        ok: !cases.iter().any(Case::failed),
        seconds: start.elapsed().as_secs_f64(),
        cases,
    })
}

pub(super) fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn model_check(gc: &GateConfig, run: &GateRun, cases: &mut Vec<Case>) -> Result<()> {
    let cfg = &run.config;
    let opts = CheckOptions {
        strategy: Strategy::Bfs,
        threads: gc.threads,
        symmetry: true,
        stop_when: StopWhen::AnyViolation,
        show_progress: gc.show_progress,
        timeout: None,
        // The deep profile outgrows a small machine: a clean stop (a
        // failed case saying so) rather than the out-of-memory killer.
        memory_budget: gc.memory_budget,
        disk: gc.disk.clone(),
    };
    let checked = check::run(cfg, &opts)?;
    let r = &checked.report;
    let reproduce = format!("raftcheck check {}", bounds::flags_for(cfg));
    for p in &r.properties {
        let detail = match p.depth {
            Some(d) => format!("{} {} at depth {d}", p.kind, p.status),
            None => format!("{} {}", p.kind, p.status),
        };
        let mut case = Case::new(Part::ModelCheck, run.named(p.name), p.is_ok(), detail);
        if p.is_undecided() {
            if r.stopped_by == Some(StopReason::Violation) {
                case.status = CaseStatus::Skipped;
                case.detail = format!(
                    "{} not determined: the run stopped at the first violation",
                    p.kind
                );
            } else {
                // A limit stopped the run: what it did not explore is not
                // checked, and the gate must not pass on it.
                case.status = CaseStatus::Fail;
                case.detail = format!(
                    "{} not determined: the run stopped ({}) after {} states, to depth {}",
                    p.kind,
                    r.stopped_by.map_or("early".to_string(), |s| s.to_string()),
                    r.unique_states,
                    r.max_depth
                );
            }
        }
        case.states = Some(r.unique_states);
        case.seconds = r.seconds;
        if !p.is_ok() {
            case.reproduce = Some(reproduce.clone());
            if let Some(b) = checked.behaviours.get(p.name) {
                let outcome = if p.kind == "always" {
                    Outcome::Violates
                } else {
                    Outcome::Witnesses
                };
                let trace = Trace::from_behaviour(cfg, cfg.bug, p.name, outcome, b)?;
                case.mermaid = Some(show::mermaid(&trace));
                files::create_dir_all(&gc.out_dir)?;
                let file = gc
                    .out_dir
                    .join(format!("{}.json", slug(&run.named(p.name))));
                files::write(&file, trace.to_json())?;
                case.explore = Some(format!("raftcheck explore {}", file.display()));
                case.detail
                    .push_str(&format!("\n\n{}", check::render_behaviour(p.name, b)));
            }
        }
        cases.push(case);
    }
    if !r.complete && r.violations().next().is_none() {
        cases.push(Case::new(
            Part::ModelCheck,
            run.named("exhausted the bounds"),
            false,
            "the run stopped before exploring every state",
        ));
    }
    if gc.parts.contains(&Part::Coverage) {
        coverage_cases(
            run,
            "",
            Covered {
                rows: r.coverage.as_deref(),
                complete: r.complete,
                unique_states: r.unique_states,
                reproduce: format!("raftcheck check {}", bounds::flags_for(&r.config)),
            },
            cases,
        );
    }
    Ok(())
}

/// One case per rule: pass if it fired, fail if the bounds allow it and it
/// never fired, skipped if the bounds exclude it (or the run stopped early).
/// What a run's rule coverage says, for its gate cases.
struct Covered<'a> {
    rows: Option<&'a [raft_spec::coverage::RuleCoverage]>,
    complete: bool,
    unique_states: u64,
    reproduce: String,
}

fn coverage_cases(run: &GateRun, what: &str, r: Covered<'_>, cases: &mut Vec<Case>) {
    let Some(rows) = r.rows else {
        return;
    };
    for row in rows {
        let mut case = Case::new(
            Part::Coverage,
            run.named(&format!("{what}{}", row.rule)),
            row.status != CoverageStatus::Uncovered,
            crate::coverage::describe(row),
        );
        if row.status == CoverageStatus::Excluded {
            case.status = CaseStatus::Skipped;
        } else if row.status == CoverageStatus::Uncovered && !r.complete {
            case.status = CaseStatus::Skipped;
            case.detail = "not determined: the run stopped before exhausting the bounds".into();
        } else if row.status == CoverageStatus::Uncovered {
            case.detail = format!(
                "never fired at these bounds ({}): a wrong {} rule would go unseen; raise the bounds",
                row.tla_operator, row.rule
            );
            case.reproduce = Some(r.reproduce.clone());
        }
        case.states = Some(r.unique_states);
        cases.push(case);
    }
}

/// The catalogue under each preset: every wrong rule is switched on in the
/// paper's protocol and in raft-rs's, and must be caught in both (a case
/// of the raft-rs preset is named `BUG (raft-rs)`).
fn bug_catalogue(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    for (preset, variant) in PRESETS {
        for bug in Bug::ALL {
            let name = if variant.is_paper() {
                bug.name().to_string()
            } else {
                format!("{} ({preset})", bug.name())
            };
            if gc.known_gaps.contains(&bug) {
                let mut case = Case::new(
                    Part::Bugs,
                    name,
                    true,
                    format!(
                        "not run: listed as a known gap (--known-gap); expected to break {}",
                        bug.info().violates
                    ),
                );
                case.status = CaseStatus::KnownGap;
                cases.push(case);
                continue;
            }
            // Generous: commit-beyond-new-entries takes about 40 s on a quiet 2-core
            // machine; the limit only stops a run that has lost its way.
            let opts = bugs::BugOptions {
                threads: gc.threads,
                timeout: Some(Duration::from_secs(600)),
                show_progress: gc.show_progress,
                variant,
            };
            let run = bugs::run_bug(bug, &opts)?;
            let r = &run.result;
            let detail = match (r.caught, &r.problem) {
                (true, _) if r.harmless.is_some() => format!(
                    "harmless under {preset}: every property holds in all {} states with it on ({})",
                    r.states,
                    r.harmless.unwrap_or_default()
                ),
                (true, _) => format!(
                    "breaks {} at depth {}",
                    r.property,
                    r.depth.map_or("-".into(), |d| d.to_string())
                ),
                (false, Some(p)) => p.clone(),
                (false, None) => format!("not caught breaking {}", r.property),
            };
            let mut case = Case::new(Part::Bugs, name, r.caught, detail);
            case.states = Some(r.states);
            case.seconds = r.seconds;
            if case.failed() {
                case.reproduce = Some(r.reproduce.clone());
            }
            cases.push(case);
        }
    }
    Ok(())
}

fn conformance(gc: &GateConfig, run: &GateRun, cases: &mut Vec<Case>) -> Result<()> {
    let cfg = &run.config;
    // raft-core implements the paper only: under another variant its
    // conformance is a skipped case, not an aborted gate.
    if let Err(why) = RaftCore::default().supports(&cfg.variant) {
        let mut case = Case::new(
            Part::Conformance,
            run.named("raft-core: exhaustive"),
            true,
            format!("not run under variant {}: {why}", cfg.variant),
        );
        case.status = CaseStatus::Skipped;
        cases.push(case);
        return Ok(());
    }
    let conformed = exhaustive::run(
        &RaftCore::default(),
        cfg,
        &exhaustive::ExhaustiveOptions {
            threads: gc.threads,
            show_progress: gc.show_progress,
            ..Default::default()
        },
    )?;
    let r = &conformed.report;
    let mut detail = format!(
        "{} product states, {} transitions checked on {} ({} distinct node states, {} steps run)",
        r.unique_states,
        r.transitions_checked,
        r.implementation,
        r.implementation_states,
        r.implementation_steps
    );
    // raft-core sends exactly what the model sends: a message it leaves
    // out is a defect even where the network could have lost it.
    let exact = r.messages_lost == 0;
    if r.divergence.is_some() || !exact {
        detail.push_str(&format!("\n\n{}", exhaustive::render_text(r)));
    }
    if !exact {
        detail.push_str(&format!(
            "\n{} messages the model sent were not sent by raft-core",
            r.messages_lost
        ));
    }
    let mut case = Case::new(
        Part::Conformance,
        run.named("exhaustive"),
        r.ok() && exact,
        detail,
    );
    case.states = Some(r.unique_states);
    case.seconds = r.seconds;
    if case.failed() {
        case.reproduce = Some(format!("raftcheck conform {}", bounds::flags_for(cfg)));
    }
    cases.push(case);
    if gc.parts.contains(&Part::Coverage) {
        // The product takes the model's transitions itself (without
        // symmetry): the rules it took on the implementation are counted
        // by the product run.
        coverage_cases(
            run,
            "conformance: ",
            Covered {
                rows: r.coverage.as_deref(),
                complete: r.complete,
                unique_states: r.unique_states,
                reproduce: format!("raftcheck conform {}", bounds::flags_for(cfg)),
            },
            cases,
        );
    }
    Ok(())
}

fn replay_counterexamples(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    let dir = gc.counterexamples.display().to_string();
    let files = match files::json_files(&gc.counterexamples) {
        Ok(files) => files,
        Err(e) => {
            let detail = format!("cannot read the counterexamples directory: {e:#}");
            cases.push(Case::new(Part::Replay, dir, false, detail));
            return Ok(());
        }
    };
    // Nothing replayed is not a pass: the directory is wrong or was emptied.
    if files.is_empty() {
        let detail = format!(
            "no counterexamples (*.json) in {dir} to replay: write them with \
             `raftcheck bugs --write --dir {dir}`, or pass --counterexamples DIR"
        );
        cases.push(Case::new(Part::Replay, dir, false, detail));
        return Ok(());
    }
    for file in files {
        let name = file.display().to_string();
        let start = Instant::now();
        let case = match Trace::load(&file) {
            Err(e) => Case::new(Part::Replay, name, false, e.to_string()),
            Ok(trace) => match replay::replay_trace(
                &RaftCore::default(),
                &trace,
                Some(&file),
                &Loosen::default(),
            ) {
                Err(e) => Case::new(Part::Replay, name, false, format!("{e:#}")),
                Ok(r) => {
                    let mut c = Case::new(Part::Replay, name, r.ok(), replay::render_text(&r));
                    if !r.ok() {
                        c.reproduce = Some(format!("raftcheck replay {}", file.display()));
                        c.explore = Some(format!("raftcheck explore {}", file.display()));
                        if trace.outcome == Outcome::Violates {
                            c.mermaid = Some(show::mermaid(&trace));
                        }
                    }
                    c
                }
            },
        };
        cases.push(Case {
            seconds: start.elapsed().as_secs_f64(),
            ..case
        });
    }
    Ok(())
}

/// Reads `"unique_states": N` from the reviewed insta snapshot.
pub fn snapshot_unique_states(path: &Path) -> Result<u64> {
    let snapshot = |detail| Error::Snapshot {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path)
        .map_err(files::error("read the state-space snapshot", path))?;
    let body = text
        .splitn(3, "---")
        .nth(2)
        .ok_or_else(|| snapshot("not an insta snapshot".into()))?;
    let json: serde_json::Value = serde_json::from_str(body.trim())
        .map_err(|e| snapshot(format!("unreadable snapshot body: {e}")))?;
    json["unique_states"]
        .as_u64()
        .ok_or_else(|| snapshot("no unique_states in the snapshot".into()))
}

fn state_space_guard(gc: &GateConfig, cases: &mut Vec<Case>) -> Result<()> {
    let expected = snapshot_unique_states(&gc.snapshot)?;
    let opts = CheckOptions {
        threads: gc.threads,
        stop_when: StopWhen::Exhausted,
        ..CheckOptions::default()
    };
    let run = check::run(&Profile::Quick.config(), &opts)?;
    let actual = run.report.unique_states;
    let detail = if actual == expected {
        format!("quick profile: {actual} unique states, as reviewed")
    } else {
        format!(
            "the quick profile's state space changed from {expected} to {actual} unique states \
             without a reviewed snapshot: a protocol change must be a reviewed change. Run \
             `cargo insta test -p raftcheck --test check` (or INSTA_UPDATE=always cargo test -p \
             raftcheck --test check), review the diff of {} and commit it.",
            gc.snapshot.display()
        )
    };
    let mut case = Case::new(
        Part::StateSpace,
        "quick profile",
        actual == expected,
        detail,
    );
    case.states = Some(actual);
    case.seconds = run.report.seconds;
    cases.push(case);
    Ok(())
}
