//! `raftcheck bugs`: run the bug catalogue. Each wrong rule is switched on
//! under its own smallest bounds and explored breadth-first, so the
//! counterexample found is a shortest one; the run fails if a bug goes
//! undetected or if the property broken at the minimal depth is not the one
//! the catalogue names.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use stateright::{Expectation, Model};

use raft_spec::variant::PRESETS;
use raft_spec::{Bug, Config, RaftModel, Variant};

use crate::behaviour::Behaviour;
use crate::bounds::reproduce_command;
use crate::check::{self, CheckOptions, CheckRun, Status, Strategy};
use crate::error::{Error, Result};
use crate::files;
use crate::markup;
use crate::trace::{Outcome, Trace};
use raftcheck_engine::StopWhen;

/// What one bug's run found.
#[derive(Debug, Clone, Serialize)]
pub struct BugResult {
    pub bug: &'static str,
    /// The property the catalogue says the bug breaks.
    pub property: &'static str,
    /// violates: a safety property fails; witnesses: a "sometimes" property
    /// that correct Raft reaches is never reached with the bug (liveness).
    pub outcome: Outcome,
    /// The bug was caught as the catalogue says.
    pub caught: bool,
    /// Every safety property violated at the minimal violating depth.
    pub violated_at_min_depth: Vec<&'static str>,
    /// Depth of the saved trace (steps from the initial state).
    pub depth: Option<usize>,
    /// Unique states explored (after symmetry), all runs of this bug.
    pub states: u64,
    pub seconds: f64,
    pub config: Config,
    /// The command that shows the counterexample.
    pub reproduce: String,
    /// Why the run failed, if it did.
    pub problem: Option<String>,
    /// Why the variant makes the wrong rule harmless, if it does: then
    /// caught means every property holds with it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harmless: Option<&'static str>,
}

/// One bug's result and the trace to save, if one was found.
pub struct BugRun {
    pub result: BugResult,
    pub trace: Option<Trace>,
    pub behaviour: Option<Behaviour>,
}

/// How each bug is run.
#[derive(Debug, Clone, Copy)]
pub struct BugOptions {
    pub threads: usize,
    /// Give up on a bug after this long (it then counts as not caught).
    pub timeout: Option<Duration>,
    /// The engine's progress line on stderr while a search runs.
    pub show_progress: bool,
    /// The protocol each wrong rule is switched on in (the paper's unless
    /// asked): see `Bug::config_under`.
    pub variant: Variant,
}

impl Default for BugOptions {
    /// What `raftcheck bugs` does with no flags: every core, 120 s a bug,
    /// quietly.
    fn default() -> Self {
        BugOptions {
            threads: crate::bounds::threads_or_all_cores(None),
            timeout: Some(Duration::from_secs(120)),
            show_progress: false,
            variant: Variant::PAPER,
        }
    }
}

/// A run of the catalogue (`raftcheck bugs`).
#[derive(Debug, Clone, Default)]
pub struct CatalogueOptions {
    pub bug: BugOptions,
    /// Run only this bug (else every bug of the catalogue).
    pub only: Option<Bug>,
    /// Save each counterexample (`<bug>.json` and `<bug>.md`) here.
    pub write: Option<PathBuf>,
}

fn options(o: &BugOptions, stop_when: StopWhen) -> CheckOptions {
    CheckOptions {
        strategy: Strategy::Bfs,
        threads: o.threads,
        symmetry: true,
        stop_when,
        show_progress: o.show_progress,
        timeout: o.timeout,
        memory_budget: None,
        disk: None,
    }
}

/// Runs one bug of the catalogue with its own bounds.
pub fn run_bug(bug: Bug, o: &BugOptions) -> Result<BugRun> {
    // What each bug must break is set for the presets (and checked there);
    // under another mix of options a bug may break something else first.
    if !PRESETS.iter().any(|(_, v)| *v == o.variant) {
        return Err(Error::Options(
            "the bug catalogue runs under a preset only: --variant paper or --variant raft-rs \
             (under another mix of options a wrong rule may break another property first; \
             check one with `raftcheck check --bug BUG --variant ...`)",
        ));
    }
    let cfg = bug.config_under(o.variant);
    let info = bug.info_under(&cfg.variant);
    let model = RaftModel::new(cfg.clone())?;
    let expected = model
        .properties()
        .into_iter()
        .find(|p| p.name == info.violates)
        .ok_or_else(|| Error::Catalogue {
            bug: info.name,
            property: info.violates,
            bounds: cfg.summary(),
        })?;
    let start = Instant::now();
    let run = match (bug.harmless_under(&cfg.variant), expected.expectation) {
        (Some(why), _) => run_harmless_bug(bug, why, &cfg, o)?,
        (None, Expectation::Always) => run_safety_bug(bug, &cfg, o)?,
        (None, _) => run_liveness_bug(bug, &cfg, o)?,
    };
    let mut result = run.result;
    result.seconds = start.elapsed().as_secs_f64();
    Ok(BugRun { result, ..run })
}

/// A wrong rule the variant makes harmless (`Bug::harmless_under`): the
/// whole space at the bug's bounds is explored with it on, and it counts as
/// caught as catalogued only if every property holds there.
fn run_harmless_bug(bug: Bug, why: &'static str, cfg: &Config, o: &BugOptions) -> Result<BugRun> {
    let info = bug.info_under(&cfg.variant);
    let report = check::run(cfg, &options(o, StopWhen::AnyViolation))?.report;
    let violated: Vec<&'static str> = report.violations().map(|p| p.name).collect();
    let result = BugResult {
        bug: info.name,
        property: info.violates,
        outcome: Outcome::Violates,
        caught: report.ok(),
        violated_at_min_depth: violated.clone(),
        depth: None,
        states: report.unique_states,
        seconds: 0.0,
        config: cfg.clone(),
        reproduce: reproduce_command(cfg, Outcome::Violates),
        problem: (!report.ok()).then(|| {
            if violated.is_empty() {
                "the run did not complete: harmlessness not shown".to_string()
            } else {
                format!(
                    "catalogued as harmless under {} ({why}), yet it violates {}",
                    cfg.variant,
                    violated.join(", ")
                )
            }
        }),
        harmless: Some(why),
    };
    Ok(BugRun {
        result,
        trace: None,
        behaviour: None,
    })
}

fn run_safety_bug(bug: Bug, cfg: &Config, o: &BugOptions) -> Result<BugRun> {
    let info = bug.info_under(&cfg.variant);
    let CheckRun { report, behaviours } =
        check::run(cfg, &options(o, StopWhen::ViolationOf(info.violates)))?;
    let violated: Vec<&'static str> = report.violations().map(|p| p.name).collect();
    let min_depth = report.violations().filter_map(|p| p.depth).min();
    let mut result = BugResult {
        bug: info.name,
        property: info.violates,
        outcome: Outcome::Violates,
        caught: false,
        violated_at_min_depth: violated.clone(),
        depth: min_depth,
        states: report.unique_states,
        seconds: 0.0,
        config: cfg.clone(),
        reproduce: reproduce_command(cfg, Outcome::Violates),
        problem: None,
        harmless: None,
    };
    if violated.is_empty() && !report.complete {
        result.problem = Some(format!(
            "undetected within the time limit ({} states explored, run incomplete)",
            report.unique_states
        ));
        return Ok(BugRun {
            result,
            trace: None,
            behaviour: None,
        });
    }
    if violated.is_empty() {
        result.problem = Some(format!(
            "undetected: every safety property holds in all {} states within the bounds",
            report.unique_states
        ));
        return Ok(BugRun {
            result,
            trace: None,
            behaviour: None,
        });
    }
    let Some(behaviour) = behaviours.get(info.violates).cloned() else {
        // Find how deep the catalogue's property does break, for the report.
        let CheckRun { report: r2, .. } =
            check::run(cfg, &options(o, StopWhen::Discovered(info.violates)))?;
        result.states += r2.unique_states;
        let at = r2
            .properties
            .iter()
            .find(|p| p.name == info.violates)
            .and_then(|p| p.depth)
            .map_or("never".to_string(), |d| format!("at depth {d}"));
        result.problem = Some(format!(
            "the shortest counterexample (depth {}) violates {} but not {:?} (violated {at}): fix the catalogue",
            min_depth.unwrap_or(0),
            violated.join(", "),
            info.violates
        ));
        return Ok(BugRun {
            result,
            trace: None,
            behaviour: None,
        });
    };
    let trace =
        Trace::from_behaviour(cfg, Some(bug), info.violates, Outcome::Violates, &behaviour)?;
    result.caught = true;
    Ok(BugRun {
        result,
        trace: Some(trace),
        behaviour: Some(behaviour),
    })
}

/// A liveness bug: with the bug on, the whole space is explored and the
/// "sometimes" property is never reached; correct Raft under the same bounds
/// reaches it, and its shortest witness is the saved trace (a behaviour the
/// buggy protocol cannot perform).
fn run_liveness_bug(bug: Bug, cfg: &Config, o: &BugOptions) -> Result<BugRun> {
    let info = bug.info_under(&cfg.variant);
    let buggy = check::run(cfg, &options(o, StopWhen::Exhausted))?.report;
    let correct_cfg = Config {
        bug: None,
        ..cfg.clone()
    };
    let CheckRun {
        report: correct,
        behaviours,
    } = check::run(
        &correct_cfg,
        &options(o, StopWhen::Discovered(info.violates)),
    )?;
    let status = |r: &check::CheckReport| {
        r.properties
            .iter()
            .find(|p| p.name == info.violates)
            .map(|p| p.status)
    };
    let mut result = BugResult {
        bug: info.name,
        property: info.violates,
        outcome: Outcome::Witnesses,
        caught: false,
        violated_at_min_depth: buggy.violations().map(|p| p.name).collect(),
        depth: None,
        states: buggy.unique_states + correct.unique_states,
        seconds: 0.0,
        config: cfg.clone(),
        reproduce: reproduce_command(cfg, Outcome::Witnesses),
        problem: None,
        harmless: None,
    };
    let witness = behaviours.get(info.violates).cloned();
    result.problem = match (status(&buggy), &witness) {
        (Some(Status::NotReached), Some(_)) => None,
        (Some(Status::Reached), _) => Some(format!(
            "undetected: {:?} is reached with the bug on",
            info.violates
        )),
        (_, None) => Some(format!(
            "correct Raft never reaches {:?} within these bounds, so its absence proves nothing",
            info.violates
        )),
        // As the status's JSON spelling, as before the status was an enum.
        (other, _) => Some(format!(
            "the run with the bug on did not finish ({:?})",
            other.map(Status::as_str)
        )),
    };
    let (trace, behaviour) = match (result.problem.is_none(), witness) {
        (true, Some(b)) => {
            result.depth = Some(b.1.len());
            let t = Trace::from_behaviour(
                &correct_cfg,
                Some(bug),
                info.violates,
                Outcome::Witnesses,
                &b,
            )?;
            (Some(t), Some(b))
        }
        _ => (None, None),
    };
    result.caught = trace.is_some();
    Ok(BugRun {
        result,
        trace,
        behaviour,
    })
}

/// Writes `<dir>/<bug>.json` and `<dir>/<bug>.md`; returns the paths.
pub fn write(dir: &Path, trace: &Trace) -> Result<Vec<PathBuf>> {
    let bug = trace.bug.ok_or(Error::NotACatalogueTrace)?;
    files::create_dir_all(dir)?;
    // The paper's traces are the catalogue's own; another variant's are
    // named after it (`commit-regresses.raft-rs.json`).
    let stem = match trace.config.variant {
        v if v.is_paper() => bug.to_string(),
        v => format!("{bug}.{}", v.name().replace([',', '='], "_")),
    };
    let json = dir.join(format!("{stem}.json"));
    let md = dir.join(format!("{stem}.md"));
    files::write(&json, trace.to_json())?;
    files::write(&md, crate::show::markdown(trace)?)?;
    Ok(vec![json, md])
}

/// Whether the bug was caught as catalogued, in a few words.
fn verdict(r: &BugResult) -> String {
    match (r.caught, r.outcome) {
        (true, _) if r.harmless.is_some() => "harmless here: every property holds".to_string(),
        (true, Outcome::Violates) => "caught: violated".to_string(),
        (true, Outcome::Witnesses) => "caught: never reached (liveness)".to_string(),
        (false, _) => format!("FAILED: {}", r.problem.as_deref().unwrap_or("?")),
    }
}

/// One line of `raftcheck bugs --list`.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueEntry {
    pub bug: &'static str,
    /// The property the bug breaks (a "sometimes" property for a liveness
    /// bug: correct Raft reaches it, the bug never does).
    pub property: &'static str,
    pub liveness: bool,
    pub wrong_rule: &'static str,
    pub correct_rule: &'static str,
}

/// The catalogue, without running anything.
pub fn catalogue() -> Result<Vec<CatalogueEntry>> {
    Bug::ALL
        .into_iter()
        .map(|bug| {
            let info = bug.info();
            let model = RaftModel::new(bug.config())?;
            let liveness = model
                .properties()
                .iter()
                .any(|p| p.name == info.violates && !matches!(p.expectation, Expectation::Always));
            Ok(CatalogueEntry {
                bug: info.name,
                property: info.violates,
                liveness,
                wrong_rule: info.description,
                correct_rule: info.correct_rule,
            })
        })
        .collect()
}

/// `raftcheck bugs --list`: name, the property broken, the wrong rule.
pub fn render_list(entries: &[CatalogueEntry]) -> String {
    let breaks = |e: &CatalogueEntry| {
        if e.liveness {
            format!("never reaches \"{}\" (liveness)", e.property)
        } else {
            e.property.to_string()
        }
    };
    let bug_width = entries
        .iter()
        .map(|e| e.bug.len())
        .max()
        .unwrap_or(0)
        .max(3);
    // A long liveness property overflows its column rather than widen it
    // for every line.
    let prop_width = entries
        .iter()
        .filter(|e| !e.liveness)
        .map(|e| e.property.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!(
        "{:<bug_width$}  {:<prop_width$}  wrong rule\n",
        "bug", "breaks"
    );
    for e in entries {
        out.push_str(&format!(
            "{:<bug_width$}  {:<prop_width$}  {}\n",
            e.bug,
            breaks(e),
            e.wrong_rule
        ));
    }
    out
}

/// The results as a table, with the commands that reproduce them.
pub fn render_table(results: &[BugResult]) -> String {
    let mut out = format!(
        "{:<26} {:<30} {:>5} {:>9} {:>7}  {}\n",
        "bug", "property", "depth", "states", "seconds", "result"
    );
    for r in results {
        let depth = r.depth.map_or("-".to_string(), |d| d.to_string());
        out.push_str(&format!(
            "{:<26} {:<30} {:>5} {:>9} {:>7.2}  {}\n",
            r.bug,
            r.property,
            depth,
            markup::grouped(r.states),
            r.seconds,
            verdict(r)
        ));
    }
    out.push_str("\nreproduce:\n");
    for r in results {
        out.push_str(&format!("  {:<26} {}\n", r.bug, r.reproduce));
    }
    let caught = results.iter().filter(|r| r.caught).count();
    out.push_str(&format!(
        "\n{caught} of {} bugs caught{}\n",
        results.len(),
        if caught == results.len() {
            ""
        } else {
            ": FAILED"
        }
    ));
    out
}

/// Runs the catalogue (or one bug of it), with a progress line on stderr as
/// each bug starts and ends, saving counterexamples if asked. Every bug is
/// caught as catalogued when every result's `caught` is true.
pub fn run_catalogue(o: &CatalogueOptions) -> Result<Vec<BugResult>> {
    let opts = &o.bug;
    let bugs: Vec<Bug> = match o.only {
        Some(b) => vec![b],
        None => Bug::ALL.to_vec(),
    };
    let mut results = Vec::new();
    for (i, bug) in bugs.iter().enumerate() {
        let at = format!("[{}/{}] {bug}", i + 1, bugs.len());
        if opts.show_progress {
            eprintln!(
                "{at}: running ({})",
                bug.config_under(opts.variant).summary()
            );
        }
        let run = run_bug(*bug, opts)?;
        if opts.show_progress {
            let r = &run.result;
            eprintln!(
                "{at}: {}; {} states in {:.1} s",
                verdict(r),
                markup::grouped(r.states),
                r.seconds
            );
        }
        if let Some(dir) = &o.write {
            if let Some(trace) = &run.trace {
                for path in write(dir, trace)? {
                    eprintln!("wrote {}", path.display());
                }
            }
        }
        results.push(run.result);
    }
    Ok(results)
}
