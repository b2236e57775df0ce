//! `raftcheck`: model-check the Raft spec, run the bug catalogue, and check
//! the production implementation conforms to the spec.

use std::process::ExitCode;

use clap::Parser;
use raftcheck::check;
use raftcheck::cli::{self, command_line, Cli, Command};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cli::check::run(&args),
        Command::Simulate(args) => cli::simulate::run(&args),
        Command::Availability(args) => raftcheck::availability::render(&args.options())
            .map(|report| {
                print!("{report}");
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
        Command::Bugs(args) => cli::bugs::run(&args),
        Command::Variants(args) => cli::variants::run(&args),
        Command::Show(args) => cli::show::run(&args),
        Command::Explore(args) => args
            .options()
            .map_err(anyhow::Error::from)
            .and_then(|opts| raftcheck::explore::run(&opts).map_err(anyhow::Error::from))
            .map(|()| ExitCode::SUCCESS),
        Command::Conform(args) => cli::conform::run_raft_core_conform(&args),
        Command::Replay(args) => cli::conform::run_raft_core_replay(&args),
        Command::Traces(args) => cli::traces::run(&raftcheck::conform::RaftCore::default(), &args),
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
