//! `raftcheck conform` and `raftcheck replay`: their arguments, and their
//! reports on stdout.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::bounds::{parse_threads, BoundsArgs};
use super::Format;
use crate::bounds::threads_or_all_cores;
use crate::conform::exhaustive::{self, ExhaustiveOptions};
use crate::conform::{replay, traces, Perturbation};
use crate::trace::Trace;

/// `raftcheck conform`: drive the production implementation along the model.
#[derive(Debug, Clone, Args)]
#[command(
    long_about = "Check the production implementation (raft-core) against the model.\n\n\
    Without --traces: every transition of the bounded model (the same exploration as \
    `raftcheck check`, with symmetry reduction) is also taken by real implementation nodes \
    through their public API: a message is stepped, a timer fires, a value is proposed, a \
    node is dropped and restarted from the storage its acknowledged durable writes built. \
    After every step the acting server's abstract state (role, term, vote, log, commit index, \
    granted votes, next/match index), its storage, and the messages it sent must equal the \
    model's. The report gives the model's transitions and the transitions checked: they are \
    equal when the run is complete.\n\n\
    With --traces DIR: every trace file (*.json) in DIR drives fresh implementation nodes, \
    step by step. A file that cannot be read, or is not a behaviour of its model, is reported \
    and the other files are still checked; the last line counts traces, bad files and \
    divergences.\n\n\
    Exit codes: 0 conforms, 1 diverged (or incomplete), 2 usage or input error (with \
    --traces: a bad file, when no trace diverged)."
)]
pub struct ConformArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Replay every trace (*.json) in this directory instead of exploring.
    #[arg(long, value_name = "DIR")]
    pub traces: Option<std::path::PathBuf>,
    /// Plant a fault in the harness (to see that it is reported).
    #[arg(long, value_enum)]
    pub perturb: Option<Perturbation>,
    /// Worker threads, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Stop after this many seconds (the report then says the run is incomplete).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Save the behaviour up to the divergent step as a trace file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<std::path::PathBuf>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run_conform(args: &ConformArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.traces {
        let report = traces::check_traces_dir(dir, args.perturb)?;
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Text => print!("{}", report.render_text()),
        }
        return Ok(report.exit_code());
    }
    let cfg = args.bounds.config()?;
    let threads = threads_or_all_cores(args.threads);
    let run = exhaustive::run(
        &cfg,
        &ExhaustiveOptions {
            threads,
            perturbation: args.perturb,
            timeout: args.timeout.map(std::time::Duration::from_secs),
            show_progress: !args.quiet,
        },
    )?;
    if let (Some(path), Some(b), Some(d)) = (&args.save, &run.behaviour, &run.report.divergence) {
        replay::save_behaviour(path, &cfg, b, d)?;
        eprintln!("saved the behaviour to the divergence: {}", path.display());
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&run.report)?),
        Format::Text => {
            print!("{}", exhaustive::render_text(&run.report));
            if let Some(b) = &run.behaviour {
                println!();
                print!(
                    "{}",
                    crate::check::render_behaviour("behaviour to the divergence", b)
                );
            }
        }
    }
    Ok(if run.report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `raftcheck replay FILE`: drive fresh implementation nodes along a trace.
#[derive(Debug, Clone, Args)]
#[command(
    long_about = "Drive fresh implementation nodes along a saved trace, step by step, \
    and compare every step with the model.\n\n\
    The trace is first re-validated against the model of its own config. A trace of correct \
    Raft must replay without divergence. A trace of a catalogued bug (counterexamples/*.json) \
    runs the model with the wrong rule: the implementation must refuse it, diverging exactly \
    at the step where the wrong rule fires; the report names the bug and its correct rule.\n\n\
    Exit codes: 0 as expected, 1 diverged (or a bug not refused where it fires), 2 bad input."
)]
pub struct ReplayArgs {
    /// The trace file (JSON, as written by `raftcheck bugs --write` or `raftcheck traces`).
    pub file: std::path::PathBuf,
    /// Plant a fault in the harness (to see that it is reported).
    #[arg(long, value_enum)]
    pub perturb: Option<Perturbation>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run_replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    run_file(&args.file, args.perturb, args.format)
}

/// `raftcheck replay FILE`.
fn run_file(
    path: &Path,
    perturbation: Option<Perturbation>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let trace = Trace::load(path)?;
    let report = replay::replay_trace(&trace, Some(path), perturbation)?;
    let ok = report.ok();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&replay::to_json(&report))?
        ),
        Format::Text => print!("{}", replay::render_text(&report)),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
