//! The `raftcheck` command line itself: its subcommands, each with the
//! arguments of its file in `cli/`. `main.rs` parses it and dispatches.

use clap::{Parser, Subcommand};

use super::conform::{RaftCoreConformArgs, RaftCoreReplayArgs};
use super::{
    AvailabilityArgs, BugsArgs, CheckArgs, ExploreArgs, GateArgs, ShowArgs, SimulateArgs,
    TracesArgs, VariantsArgs,
};

/// The parsed command line.
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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Exhaustively check the Raft spec within bounds.
    #[command(
        after_help = "Exit codes: 0 every safety property holds and every sometimes \
        property is reached; 1 a property failed (a violation, or a sometimes property not \
        reached in a complete run); 2 bad input; 3 incomplete (the timeout or the memory \
        budget stopped the run, with no violation in the states explored)."
    )]
    Check(CheckArgs),
    /// Swarm simulation: random walks, each with its own fault mix, for
    /// bounds no exhaustive check finishes; a violation is minimised and saved.
    Simulate(SimulateArgs),
    /// Quorum availability of an n-server single-leader cluster.
    Availability(AvailabilityArgs),
    /// Run the bug catalogue: every known wrong rule must be caught, with a
    /// shortest counterexample.
    Bugs(BugsArgs),
    /// The spec's protocol options (heartbeat RPC, flow control, leader
    /// stickiness, ...) and presets (paper, raft-rs); --bench checks each.
    Variants(VariantsArgs),
    /// Print a saved trace as steps, or as a Mermaid sequence diagram.
    Show(ShowArgs),
    /// Serve the explorer page for a saved trace: every state of its path with each property's verdict.
    Explore(ExploreArgs),
    /// Check the production implementation (raft-core) takes every
    /// transition of the model (or replays trace files) without diverging.
    Conform(RaftCoreConformArgs),
    /// Drive fresh raft-core nodes along a trace file.
    Replay(RaftCoreReplayArgs),
    /// Write random walks over the model as trace files.
    Traces(TracesArgs),
    /// The CI gate: model check, bug catalogue, conformance, replay and the
    /// state-space guard, with one exit code (and Markdown / JUnit reports).
    Gate(GateArgs),
}
