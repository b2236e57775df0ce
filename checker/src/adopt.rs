//! The command line for any implementation: a third party's binary is
//! its adapter and a few lines (`checker/src/bin/raftcheck-raft-rs.rs` is
//! one):
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     raftcheck::adopt::main("raftcheck-myraft", &MyRaft::default())
//! }
//! ```
//!
//! It gives the implementation `conform` (exhaustive, or `--traces DIR`),
//! `replay FILE` and `traces --random N [--replay]`, with the same
//! arguments, reports and exit codes as `raftcheck`'s.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{conform, traces, ConformArgs, ReplayArgs, TracesArgs};
use crate::conform::Implementation;

/// The subcommands every implementation gets.
#[derive(Parser)]
#[command(
    version,
    about = "Check a Raft implementation against the raft-spec model",
    long_about = "Check a Raft implementation against the raft-spec model, through its \
    adapter (the raftcheck-adapter Implementation trait).\n\n\
    `conform` explores the product of the bounded model and the implementation (every \
    transition, nodes told apart by their whole state); `conform --traces DIR` and `replay FILE` \
    drive fresh nodes along saved traces (the bug catalogue's counterexamples, random walks); \
    `traces` writes random walks over the model."
)]
pub struct AdoptCli {
    #[command(subcommand)]
    pub command: AdoptCommand,
}

#[derive(Subcommand)]
pub enum AdoptCommand {
    /// Check the implementation takes every transition of the model (or
    /// replays trace files) without diverging.
    Conform(ConformArgs),
    /// Drive fresh implementation nodes along a trace file.
    Replay(ReplayArgs),
    /// Write random walks over the model as trace files (and replay them).
    Traces(TracesArgs),
}

/// Parses the command line as `name` and runs it on `imp`.
pub fn main<I: Implementation>(name: &'static str, imp: &I) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    use clap::CommandFactory;
    let matches = AdoptCli::command().name(name).get_matches();
    let cli = match <AdoptCli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    run(imp, cli.command)
}

/// Runs one subcommand on `imp`; errors print and exit 2.
pub fn run<I: Implementation>(imp: &I, command: AdoptCommand) -> ExitCode {
    let result = match command {
        AdoptCommand::Conform(args) => conform::run_conform(imp, None, &args),
        AdoptCommand::Replay(args) => conform::run_replay(imp, &args),
        AdoptCommand::Traces(args) => traces::run(imp, &args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(crate::check::EXIT_BAD_INPUT)
        }
    }
}
