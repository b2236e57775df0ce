//! The command line: every clap type of `raftcheck` (one file per
//! subcommand's arguments), each converted into the plain options its
//! library module takes. The library modules know nothing of clap.

use clap::ValueEnum;

pub mod availability;
pub mod bounds;
pub mod bugs;
pub mod check;
mod command;
pub mod conform;
pub mod distributed;
pub mod explore;
pub mod gate;
pub mod show;
pub mod simulate;
pub mod traces;
mod values;
pub mod variants;

pub use availability::AvailabilityArgs;
pub use bounds::{parse_threads, BoundsArgs};
pub use bugs::BugsArgs;
pub use check::CheckArgs;
pub use command::{Cli, Command};
pub use conform::{ConformArgs, RaftCoreConformArgs, RaftCoreReplayArgs, ReplayArgs};
pub use explore::ExploreArgs;
pub use gate::GateArgs;
pub use show::ShowArgs;
pub use simulate::SimulateArgs;
pub use traces::TracesArgs;
pub use variants::VariantsArgs;

/// How a subcommand reports on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The running binary's name (`raftcheck`, `raftcheck-raft-rs`, ...), for
/// "reproduce:" lines.
pub fn program_name() -> String {
    std::env::args()
        .next()
        .as_deref()
        .and_then(|p| {
            std::path::Path::new(p)
                .file_name()?
                .to_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "raftcheck".into())
}

/// The command line as typed, for "reproduce:" lines.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("raftcheck {}", args.join(" "))
}
