//! `raftcheck bugs`: run the bug catalogue. Each wrong rule is switched on
//! under its own smallest bounds and explored breadth-first, so the
//! counterexample found is a shortest one; the run fails if a bug goes
//! undetected or if the property broken at the minimal depth is not the one
//! the catalogue names.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use stateright::{Expectation, Model};

use raft_spec::{Bug, Config, RaftModel};

use crate::bounds::BoundsArgs;
use crate::check::{self, Behaviour, CheckOptions, CheckRun, Strategy};
use crate::engine::StopWhen;
use crate::trace::{Outcome, Trace};

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
}

/// One bug's result and the trace to save, if one was found.
pub struct BugRun {
    pub result: BugResult,
    pub trace: Option<Trace>,
    pub behaviour: Option<Behaviour>,
}

fn options(threads: usize, stop_when: StopWhen, timeout: Option<Duration>) -> CheckOptions {
    CheckOptions {
        strategy: Strategy::Bfs,
        threads,
        symmetry: true,
        stop_when,
        show_progress: false,
        timeout,
        memory_budget: None,
    }
}

/// The command that reproduces a bug's counterexample with `raftcheck check`.
pub fn reproduce_command(cfg: &Config, outcome: Outcome) -> String {
    let mut s = format!("raftcheck check {}", BoundsArgs::flags_for(cfg));
    if outcome == Outcome::Witnesses {
        s.push_str(" --keep-going");
    }
    s
}

/// Runs one bug of the catalogue with its own bounds.
pub fn run_bug(bug: Bug, threads: usize, timeout: Option<Duration>) -> anyhow::Result<BugRun> {
    let info = bug.info();
    let cfg = bug.config();
    let model = RaftModel::new(cfg.clone())?;
    let expected = model
        .properties()
        .into_iter()
        .find(|p| p.name == info.violates)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{bug}: the catalogue names property {:?}, which the model with bounds {} does not check",
                info.violates,
                cfg.summary()
            )
        })?;
    let start = Instant::now();
    let run = match expected.expectation {
        Expectation::Always => run_safety_bug(bug, &cfg, threads, timeout)?,
        _ => run_liveness_bug(bug, &cfg, threads, timeout)?,
    };
    let mut result = run.result;
    result.seconds = start.elapsed().as_secs_f64();
    Ok(BugRun { result, ..run })
}

fn run_safety_bug(
    bug: Bug,
    cfg: &Config,
    threads: usize,
    timeout: Option<Duration>,
) -> anyhow::Result<BugRun> {
    let info = bug.info();
    let CheckRun { report, behaviours } = check::run(
        cfg,
        &options(threads, StopWhen::ViolationOf(info.violates), timeout),
    )?;
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
        let CheckRun { report: r2, .. } = check::run(
            cfg,
            &options(threads, StopWhen::Discovered(info.violates), timeout),
        )?;
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
fn run_liveness_bug(
    bug: Bug,
    cfg: &Config,
    threads: usize,
    timeout: Option<Duration>,
) -> anyhow::Result<BugRun> {
    let info = bug.info();
    let buggy = check::run(cfg, &options(threads, StopWhen::Exhausted, timeout))?.report;
    let correct_cfg = Config {
        bug: None,
        ..cfg.clone()
    };
    let CheckRun {
        report: correct,
        behaviours,
    } = check::run(
        &correct_cfg,
        &options(threads, StopWhen::Discovered(info.violates), timeout),
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
    };
    let witness = behaviours.get(info.violates).cloned();
    result.problem = match (status(&buggy), &witness) {
        (Some("not-reached"), Some(_)) => None,
        (Some("reached"), _) => Some(format!(
            "undetected: {:?} is reached with the bug on",
            info.violates
        )),
        (_, None) => Some(format!(
            "correct Raft never reaches {:?} within these bounds, so its absence proves nothing",
            info.violates
        )),
        (other, _) => Some(format!(
            "the run with the bug on did not finish ({other:?})"
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
pub fn write(dir: &Path, trace: &Trace) -> anyhow::Result<Vec<PathBuf>> {
    let bug = trace
        .bug
        .ok_or_else(|| anyhow::anyhow!("a catalogue trace names its bug"))?;
    std::fs::create_dir_all(dir)?;
    let json = dir.join(format!("{bug}.json"));
    let md = dir.join(format!("{bug}.md"));
    std::fs::write(&json, trace.to_json())?;
    std::fs::write(&md, crate::show::markdown(trace)?)?;
    Ok(vec![json, md])
}

/// The results as a table, with the commands that reproduce them.
pub fn render_table(results: &[BugResult]) -> String {
    let mut out = format!(
        "{:<26} {:<30} {:>5} {:>9} {:>7}  {}\n",
        "bug", "property", "depth", "states", "seconds", "result"
    );
    for r in results {
        let depth = r.depth.map_or("-".to_string(), |d| d.to_string());
        let verdict = match (r.caught, r.outcome) {
            (true, Outcome::Violates) => "caught: violated".to_string(),
            (true, Outcome::Witnesses) => "caught: never reached (liveness)".to_string(),
            (false, _) => format!("FAILED: {}", r.problem.as_deref().unwrap_or("?")),
        };
        out.push_str(&format!(
            "{:<26} {:<30} {:>5} {:>9} {:>7.2}  {verdict}\n",
            r.bug,
            r.property,
            depth,
            check::grouped(r.states),
            r.seconds
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

/// How `raftcheck bugs` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[command(
    long_about = "Run the bug catalogue. Each known wrong Raft rule (see `--only` for the names) \
    is switched on under its own smallest bounds and explored breadth-first, so the first \
    counterexample found is a shortest one. The run fails (exit 1) if a bug goes undetected, \
    or if the property broken at the minimal depth is not the one the catalogue names. \
    `--write` saves each counterexample as counterexamples/<bug>.json (open it with \
    `raftcheck show` or `raftcheck explore`) and counterexamples/<bug>.md (the wrong rule \
    explained, with a sequence diagram)."
)]
pub struct BugsArgs {
    /// Run only this bug (e.g. double-vote).
    #[arg(long)]
    pub only: Option<Bug>,
    /// Save counterexamples/<bug>.json and counterexamples/<bug>.md.
    #[arg(long)]
    pub write: bool,
    /// Where --write saves.
    #[arg(long, default_value = "counterexamples")]
    pub dir: PathBuf,
    /// Worker threads per run (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Give up on a bug after this many seconds (it then counts as not
    /// caught).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Report as a text table or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `raftcheck bugs`: exit 0 if every bug is caught as catalogued, 1 if not.
pub fn run(args: &BugsArgs) -> anyhow::Result<std::process::ExitCode> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bugs: Vec<Bug> = match args.only {
        Some(b) => vec![b],
        None => Bug::ALL.to_vec(),
    };
    let mut results = Vec::new();
    for bug in bugs {
        tracing::info!(%bug, "running");
        let run = run_bug(bug, threads, Some(Duration::from_secs(args.timeout)))?;
        if args.write {
            if let Some(trace) = &run.trace {
                for path in write(&args.dir, trace)? {
                    eprintln!("wrote {}", path.display());
                }
            }
        }
        results.push(run.result);
    }
    match args.format {
        Format::Text => print!("{}", render_table(&results)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&results)?),
    }
    Ok(if results.iter().all(|r| r.caught) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
