//! `raftcheck`: model-check the Raft spec, run the bug catalogue, and check
//! the production implementation conforms to the spec.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raftcheck::check;
use raftcheck::cli::{self, command_line};

#[derive(Parser)]
#[command(
    name = "raftcheck",
    version,
    about = "Model-check Raft and check an implementation conforms to the model",
    long_about = "Model-check Raft and check an implementation conforms to the model.\n\n\
        `raftcheck check` explores every reachable state of a small Raft cluster within \
        bounds (servers, terms, log length, crashes, messages in flight) and proves that \
        Raft's safety properties hold there: Election Safety, Leader Append-Only, Log \
        Matching, Leader Completeness, State Machine Safety. It also proves the interesting \
        states are reached (a leader is elected, a value is committed, ...), so a property \
        cannot hold vacuously. A violation prints the shortest counterexample, step by step."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exhaustively check the Raft spec within bounds.
    #[command(
        after_help = "Exit codes: 0 every safety property holds and every sometimes \
        property is reached; 1 a property failed (a violation, or a sometimes property not \
        reached in a complete run); 2 bad input; 3 incomplete (the timeout or the memory \
        budget stopped the run, with no violation in the states explored)."
    )]
    Check(cli::CheckArgs),
    /// Quorum availability of an n-server single-leader cluster.
    Availability(cli::AvailabilityArgs),
    /// Run the bug catalogue: every known wrong rule must be caught, with a
    /// shortest counterexample.
    Bugs(cli::BugsArgs),
    /// Print a saved trace as steps, or as a Mermaid sequence diagram.
    Show(cli::ShowArgs),
    /// Serve the explorer page for a saved trace: every state of its path with each property's verdict.
    Explore(cli::ExploreArgs),
    /// Check the production implementation takes every transition of the
    /// model (or replays trace files) without diverging.
    Conform(cli::ConformArgs),
    /// Drive fresh implementation nodes along a trace file.
    Replay(cli::ReplayArgs),
    /// Write random walks over the model as trace files.
    Traces(cli::TracesArgs),
    /// The CI gate: model check, bug catalogue, conformance, replay and the
    /// state-space guard, with one exit code (and Markdown / JUnit reports).
    Gate(cli::GateArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cli::check::run(&args),
        Command::Availability(args) => raftcheck::availability::render(&args.options())
            .map(|report| {
                print!("{report}");
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
        Command::Bugs(args) => cli::bugs::run(&args),
        Command::Show(args) => cli::show::run(&args),
        Command::Explore(args) => args
            .options()
            .map_err(anyhow::Error::from)
            .and_then(|opts| raftcheck::explore::run(&opts).map_err(anyhow::Error::from))
            .map(|()| ExitCode::SUCCESS),
        Command::Conform(args) => cli::conform::run_conform(&args),
        Command::Replay(args) => cli::conform::run_replay(&args),
        Command::Traces(args) => cli::traces::run(&args),
        Command::Gate(args) => cli::gate::run(&args, command_line()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(check::EXIT_BAD_INPUT)
        }
    }
}
