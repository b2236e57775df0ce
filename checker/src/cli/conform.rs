//! `conform`, `replay` (and `traces --replay`) for any implementation: their
//! arguments, and their reports on stdout. `raftcheck` runs them on
//! raft-core (with `--perturb`); a binary built on [`crate::adopt`] runs
//! them on its own adapter.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::bounds::{parse_threads, BoundsArgs};
use super::Format;
use crate::bounds::threads_or_all_cores;
use crate::check::{self, CheckOptions};
use crate::conform::exhaustive::{self, ExhaustiveOptions, ExhaustiveReport};
use crate::conform::product::Keying;
use crate::conform::{
    replay, traces, walks, Implementation, Loosen, Loosening, Perturbation, RaftCore,
};
use crate::trace::Trace;

/// A loosening by name (clap's parser).
pub fn parse_loosening(s: &str) -> Result<Loosening, String> {
    s.parse()
}

/// `conform`: drive the implementation along the model.
#[derive(Debug, Clone, Args)]
#[command(
    long_about = "Check the implementation under test against the model.\n\n\
    Without --traces: the product of the bounded model and the implementation is explored \
    breadth-first. A product state is a model state, every server's implementation node (told \
    apart by the adapter's fingerprint of its whole state, so state the abstraction does not \
    show is never merged away) and the implementation's own messages in flight. Every model \
    transition is also taken by the acting node: a message it was sent is stepped, a timer \
    fires, a value is proposed, the node crashes and restarts from the storage its acknowledged \
    writes built. After every step the node's abstract state (role, term, vote, log, commit \
    index, granted votes, next/match index), its storage and the messages it sent must equal \
    the model's. On a lossy network, a message the model sends and the implementation does not \
    is counted as lost rather than a divergence. Each (node state, input) pair runs on the \
    implementation once; symmetry reduction is off.\n\n\
    With --walks N: N random walks of --depth steps over the product (each step a uniformly \
    chosen action; the network holds only what the implementation sent), each compared step by \
    step; the report counts the walks that diverged, per field, and shows the first.\n\n\
    With --traces DIR: every trace file (*.json) in DIR drives fresh implementation nodes, \
    step by step. A file that cannot be read, or is not a behaviour of its model, is reported \
    and the other files are still checked; the last line counts traces, bad files and \
    divergences.\n\n\
    --loosen FIELD switches a comparison off where an implementation's design differs from \
    the one the model fixes: next-index, match-index, votes-granted, commit-index, \
    refused-candidate, messages-sent (the model's network then takes what the implementation \
    sent). An adapter declares the loosenings its design needs; --strict ignores them. Every \
    report lists the loosenings in effect.\n\n\
    Exit codes: 0 conforms, 1 diverged (or incomplete), 2 usage or input error (with \
    --traces: a bad file, when no trace diverged)."
)]
pub struct ConformArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Replay every trace (*.json) in this directory instead of exploring.
    #[arg(long, value_name = "DIR", conflicts_with = "walks")]
    pub traces: Option<std::path::PathBuf>,
    /// Instead of exploring: N random walks over the product (the
    /// implementation's own messages on the network), walk k seeded S + k.
    #[arg(long, value_name = "N")]
    pub walks: Option<usize>,
    /// With --walks: steps per walk.
    #[arg(long, value_name = "D", default_value_t = 40, requires = "walks")]
    pub depth: usize,
    /// With --walks: the seed of the first walk.
    #[arg(long, value_name = "S", default_value_t = 0, requires = "walks")]
    pub seed: u64,
    /// Do not compare FIELD (repeatable, or comma-separated): next-index,
    /// match-index, votes-granted, commit-index, refused-candidate,
    /// messages-sent.
    #[arg(long, value_name = "FIELD", value_parser = parse_loosening, value_delimiter = ',')]
    pub loosen: Vec<Loosening>,
    /// Ignore the adapter's own loosenings: compare every field the model
    /// fixes.
    #[arg(long)]
    pub strict: bool,
    /// How implementation nodes are told apart: by the adapter's
    /// fingerprint (sound), or by their abstract state only (unsound: to
    /// see what merging hidden state away misses).
    #[arg(long, value_enum, default_value_t = Keying::Fingerprint)]
    pub keying: Keying,
    /// Stop exploring at the adapter's known design differences (each
    /// counted, with its first occurrence) instead of stopping the run, so
    /// the rest of the product is still checked.
    #[arg(long)]
    pub past_known: bool,
    /// Also run the model checker at the same bounds (no symmetry, same
    /// threads) and print both rates and their ratio.
    #[arg(long)]
    pub bench: bool,
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

impl ConformArgs {
    pub fn loosen(&self) -> Loosen {
        Loosen {
            strict: self.strict,
            extra: self.loosen.clone(),
        }
    }
}

/// `raftcheck conform`: [`ConformArgs`] on raft-core, which can have a
/// fault planted in the harness.
#[derive(Debug, Clone, Args)]
pub struct RaftCoreConformArgs {
    #[command(flatten)]
    pub args: ConformArgs,
    /// Plant a fault in the harness (to see that it is reported).
    #[arg(long, value_enum)]
    pub perturb: Option<Perturbation>,
}

/// `raftcheck replay`: [`ReplayArgs`] on raft-core.
#[derive(Debug, Clone, Args)]
pub struct RaftCoreReplayArgs {
    #[command(flatten)]
    pub args: ReplayArgs,
    /// Plant a fault in the harness (to see that it is reported).
    #[arg(long, value_enum)]
    pub perturb: Option<Perturbation>,
}

/// The name of a planted fault, for reports.
fn planted(p: Option<Perturbation>) -> Option<String> {
    p.map(|p| {
        serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    })
}

pub fn run_raft_core_conform(a: &RaftCoreConformArgs) -> anyhow::Result<ExitCode> {
    run_conform(&RaftCore::perturbed(a.perturb), planted(a.perturb), &a.args)
}

pub fn run_raft_core_replay(a: &RaftCoreReplayArgs) -> anyhow::Result<ExitCode> {
    run_replay(&RaftCore::perturbed(a.perturb), &a.args)
}

/// `conform` on any implementation.
pub fn run_conform<I: Implementation>(
    imp: &I,
    planted: Option<String>,
    args: &ConformArgs,
) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.traces {
        let report = traces::check_traces_dir(imp, dir, &args.loosen())?;
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Text => print!("{}", report.render_text()),
        }
        return Ok(report.exit_code());
    }
    let cfg = args.bounds.config()?;
    if let Some(n) = args.walks {
        let report = walks::walks(imp, &cfg, &args.loosen(), n, args.depth, args.seed)?;
        match args.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Text => print!("{}", report.render_text()),
        }
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let threads = threads_or_all_cores(args.threads);
    let run = exhaustive::run(
        imp,
        &cfg,
        &ExhaustiveOptions {
            threads,
            timeout: args.timeout.map(std::time::Duration::from_secs),
            show_progress: !args.quiet,
            keying: args.keying,
            loosen: args.loosen(),
            planted,
            past_known: args.past_known,
        },
    )?;
    if let (Some(path), Some(d)) = (&args.save, &run.report.divergence) {
        match &run.behaviour {
            Some(b) => {
                replay::save_behaviour(path, &cfg, b, d)?;
                eprintln!("saved the behaviour to the divergence: {}", path.display());
            }
            None => eprintln!(
                "not saved: with messages-sent loosened the path to the divergence is no behaviour of the model"
            ),
        }
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
    if args.bench {
        print!("{}", bench(&run.report, args, threads)?);
    }
    Ok(if run.report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The model checker at the product's bounds, and the two rates.
fn bench(r: &ExhaustiveReport, args: &ConformArgs, threads: usize) -> anyhow::Result<String> {
    let checked = check::run(
        &r.config,
        &CheckOptions {
            threads,
            symmetry: false,
            show_progress: !args.quiet,
            ..CheckOptions::default()
        },
    )?;
    let c = &checked.report;
    let product = r.states_per_second();
    let model = c.unique_states_per_second;
    let flags = crate::bounds::flags_for(&r.config);
    Ok(format!(
        "\nbenchmark ({threads} threads, the same bounds, symmetry off in both)\n  \
         model checker:        {:>12} unique states in {:.2} s: {:>10.0} states/s\n  \
         product conformance:  {:>12} unique states in {:.2} s: {:>10.0} states/s ({})\n  \
         ratio: {:.2} of the model checker's states/s; product states / model states: {:.3}\n\
         reproduce: {} conform {flags} --threads {threads} --bench\n",
        crate::markup::grouped(c.unique_states),
        c.seconds,
        model,
        crate::markup::grouped(r.unique_states),
        r.seconds,
        product,
        r.implementation,
        product / model.max(1e-9),
        r.unique_states as f64 / (c.unique_states as f64).max(1.0),
        super::program_name(),
    ))
}

/// `replay FILE`: drive fresh implementation nodes along a trace.
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
    /// Do not compare FIELD (see `conform --help`).
    #[arg(long, value_name = "FIELD", value_parser = parse_loosening, value_delimiter = ',')]
    pub loosen: Vec<Loosening>,
    /// Ignore the adapter's own loosenings.
    #[arg(long)]
    pub strict: bool,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `replay FILE` on any implementation.
pub fn run_replay<I: Implementation>(imp: &I, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let loosen = Loosen {
        strict: args.strict,
        extra: args.loosen.clone(),
    };
    run_file(imp, &args.file, &loosen, args.format)
}

fn run_file<I: Implementation>(
    imp: &I,
    path: &Path,
    loosen: &Loosen,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let trace = Trace::load(path)?;
    let report = replay::replay_trace(imp, &trace, Some(path), loosen)?;
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
