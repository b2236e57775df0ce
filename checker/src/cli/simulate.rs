//! `raftcheck simulate`'s arguments, and its report on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::bounds::{parse_threads, BoundsArgs};
use super::{command_line, Format};
use crate::bounds::threads_or_all_cores;
use crate::check::render_behaviour;
use crate::simulate::{self, Shard, SimulateOptions};
use crate::trace::{Outcome, Trace};

#[derive(Debug, Clone, clap::Args)]
#[command(
    // `after_long_help`: the variant's doc comment in command.rs sets the
    // about and long about.
    after_long_help = "Swarm simulation: many random walks over the model, for bounds no exhaustive \
    `raftcheck check` finishes (the deep profile, by default).\n\n\
    Each walk starts in the initial state and takes up to --depth steps. At each step every \
    enabled step's successor is checked against every safety property (those beyond the \
    bounds too, as `check` checks its boundary), then one that stays within the bounds is \
    taken. Swarm: each walk draws its own fault mix from its seed, a weight for each kind of \
    step (deliver, drop, election timeout, heartbeat timeout, client proposal, crash, \
    recover), with message loss, crashes and proposals each switched off in about one walk \
    in four, so that some walks go deep without a fault and others are full of it. The \
    \"sometimes\" properties reached are counted, so a swarm that never reaches interesting \
    states shows (exit 3).\n\n\
    The first violation is minimised (steps removed while the rest still reaches the same \
    violation) and saved as a trace file, as `check --save` writes: open it with \
    `raftcheck show FILE` or `raftcheck explore FILE`.\n\n\
    Seeds: walk k uses seed --seed + k, and the seed alone fixes the walk (its fault mix and \
    its steps) at given bounds and --depth. The report prints a violating walk's seed S and \
    the command that reruns it alone: `raftcheck simulate BOUNDS --depth D --seed S --walks \
    1`.\n\n\
    Shards: `--shard I/N` runs only the walks k with k mod N = I, so N machines with the same \
    --seed and --shard 0/N .. N-1/N share the seeds without overlap (the scheduled CI runs \
    four).\n\n\
    Exit codes: 0 no violation, and every sometimes property reached in some walk; 1 a \
    safety property was violated; 2 bad input; 3 no violation, but some sometimes property \
    was never reached.",
    mut_arg("profile", |a| a.default_value("deep"))
)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Steps per walk (a walk with nothing left to do within the bounds
    /// ends early).
    #[arg(long, value_name = "N", default_value_t = 80,
        value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub depth: u64,
    /// Run the walks 0..N (this shard's share of them). With --time too,
    /// whichever ends first; with neither, --time 60.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub walks: Option<u64>,
    /// Stop starting walks after SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub time: Option<u64>,
    /// Walk k uses seed S + k.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Run only shard I of N: the walks k with k mod N = I (0 <= I < N).
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    pub shard: Shard,
    /// Worker threads, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Where to save the minimised counterexample (default:
    /// target/simulate/<property>.seed-<S>.json). Nothing is written if no
    /// violation is found.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// For every catalogued bug: the swarm's time to find it at the deep
    /// bounds (raised to what the bug needs; each capped at --time, default
    /// 60 s) beside the catalogue's exhaustive search at its own bounds, as
    /// a Markdown table with the commands that reproduce it.
    #[arg(long)]
    pub bench: bool,
}

/// `raftcheck simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let threads = threads_or_all_cores(args.threads);
    if args.bench {
        let cap = Duration::from_secs(args.time.unwrap_or(60));
        print!("{}", simulate::bench(args.depth as usize, cap, threads)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = args.bounds.config()?;
    let time = match (args.walks, args.time) {
        (None, None) => Some(60),
        (_, t) => t,
    };
    let opts = SimulateOptions {
        depth: args.depth as usize,
        walks: args.walks,
        time: time.map(Duration::from_secs),
        seed: args.seed,
        shard: args.shard,
        threads,
        show_progress: !args.quiet,
    };
    let mut run = simulate::run(&cfg, &opts)?;
    if let (Some(v), Some(behaviour)) = (&mut run.report.violation, &run.counterexample) {
        let path = args.save.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "target/simulate/{}.seed-{}.json",
                v.property.replace(' ', "-"),
                v.seed
            ))
        });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_dir_all(dir)?;
        }
        let trace = Trace::from_behaviour(&cfg, cfg.bug, v.property, Outcome::Violates, behaviour)?;
        crate::files::write(&path, trace.to_json())?;
        v.saved = Some(path);
    }
    let command = command_line();
    match args.format {
        Format::Json => {
            let mut value = serde_json::to_value(&run.report)?;
            value["command"] = command.into();
            value["ok"] = (run.report.exit_code() == crate::check::EXIT_OK).into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Text => {
            print!("{}", simulate::render_text(&run.report, &command));
            if let (Some(v), Some(b)) = (&run.report.violation, &run.counterexample) {
                println!();
                print!(
                    "{}",
                    render_behaviour(
                        &format!("counterexample (minimised): {} violated", v.property),
                        b
                    )
                );
            }
        }
    }
    Ok(ExitCode::from(run.report.exit_code()))
}
