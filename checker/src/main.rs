//! `raftcheck`: model-check the Raft spec, run the bug catalogue, and check
//! the production implementation conforms to the spec.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use raftcheck::bounds::{parse_threads, threads_or_all_cores, BoundsArgs};
use raftcheck::check::{self, CheckOptions, Strategy};
use raftcheck_engine::StopWhen;

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
    Check(CheckArgs),
    /// Quorum availability of an n-server single-leader cluster.
    Availability(raftcheck::availability::AvailabilityArgs),
    /// Run the bug catalogue: every known wrong rule must be caught, with a
    /// shortest counterexample.
    Bugs(raftcheck::bugs::BugsArgs),
    /// Print a saved trace as steps, or as a Mermaid sequence diagram.
    Show(raftcheck::show::ShowArgs),
    /// Serve the explorer page for a saved trace: every state of its path with each property's verdict.
    Explore(raftcheck::explore::ExploreArgs),
    /// Check the production implementation takes every transition of the
    /// model (or replays trace files) without diverging.
    Conform(raftcheck::conform::cli::ConformArgs),
    /// Drive fresh implementation nodes along a trace file.
    Replay(raftcheck::conform::cli::ReplayArgs),
    /// Write random walks over the model as trace files.
    Traces(raftcheck::conform::walk::TracesArgs),
    /// The CI gate: model check, bug catalogue, conformance, replay and the
    /// state-space guard, with one exit code (and Markdown / JUnit reports).
    Gate(raftcheck::gate::GateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    bounds: BoundsArgs,
    /// How to explore: bfs (this project's parallel engine; shortest
    /// counterexamples), stateright-dfs, stateright-bfs (stateright's own
    /// checkers, for comparison).
    #[arg(long, value_enum, default_value_t = Strategy::Bfs)]
    strategy: Strategy,
    /// Worker threads, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    threads: Option<usize>,
    /// Explore without symmetry reduction (servers are interchangeable, so
    /// reduction is sound; turning it off is for measuring it).
    #[arg(long)]
    no_symmetry: bool,
    /// Keep exploring after a property fails, to report every property.
    #[arg(long)]
    keep_going: bool,
    /// Stop after this many seconds (the report then says the run is
    /// incomplete; exit code 3 unless a property failed). Checked within a
    /// level, so the run stops within a fraction of a second of it.
    #[arg(long)]
    timeout: Option<u64>,
    /// Stop before the bfs engine's visited set and queued states would take
    /// more than this many MiB (an estimate; the process peak is somewhat
    /// higher). The run is then incomplete, as with --timeout.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    memory_budget_mib: Option<u64>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Save the counterexample (the first violated property's shortest
    /// behaviour) as a trace file, the format `bugs --write` writes; open it
    /// with `raftcheck explore FILE`. Nothing is written if none is found.
    #[arg(long, value_name = "FILE")]
    save: Option<std::path::PathBuf>,
    /// Benchmark: run the quick and ci profiles, each in a fresh process,
    /// and print unique states/s and peak bytes per unique state.
    #[arg(long)]
    bench: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Availability(args) => raftcheck::availability::run(&args),
        Command::Bugs(args) => raftcheck::bugs::run(&args),
        Command::Show(args) => raftcheck::show::run(&args),
        Command::Explore(args) => raftcheck::explore::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Conform(args) => raftcheck::conform::cli::run_conform(&args),
        Command::Replay(args) => raftcheck::conform::cli::run_replay(&args),
        Command::Traces(args) => raftcheck::conform::walk::run(&args),
        Command::Gate(args) => raftcheck::gate::run_cli(&args, command_line()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(check::EXIT_BAD_INPUT)
        }
    }
}

/// The command line as typed, for "reproduce:" lines.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("raftcheck {}", args.join(" "))
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.bounds.config()?;
    let threads = threads_or_all_cores(args.threads);
    if args.bench {
        let profiles = [raft_spec::Profile::Quick, raft_spec::Profile::Ci];
        print!("{}", check::bench(&profiles, threads)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opts = CheckOptions {
        strategy: args.strategy,
        threads,
        symmetry: !args.no_symmetry,
        stop_when: if args.keep_going {
            StopWhen::Exhausted
        } else {
            StopWhen::AnyViolation
        },
        show_progress: !args.quiet,
        timeout: args.timeout.map(std::time::Duration::from_secs),
        memory_budget: args.memory_budget_mib.map(|m| m.saturating_mul(1 << 20)),
    };
    let run = check::run(&cfg, &opts)?;
    if let Some(path) = &args.save {
        match check::save_counterexample(&cfg, &run, path)? {
            Some(property) => eprintln!(
                "saved the counterexample ({property} violated) to {}",
                path.display()
            ),
            None => eprintln!(
                "no counterexample to save: nothing written to {}",
                path.display()
            ),
        }
    }
    let command = command_line();
    match args.format {
        Format::Json => {
            let mut value = serde_json::to_value(&run.report)?;
            value["command"] = command.clone().into();
            value["ok"] = run.report.ok().into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Text => {
            print!("{}", check::render_text(&run.report, &command));
            for v in run.report.violations() {
                if let Some(b) = run.behaviours.get(v.name) {
                    println!();
                    print!(
                        "{}",
                        check::render_behaviour(&format!("counterexample: {} violated", v.name), b)
                    );
                }
            }
        }
    }
    Ok(ExitCode::from(run.report.exit_code()))
}
