//! `raftcheck check`'s arguments, and its report on stdout.

use std::process::ExitCode;

use raftcheck_engine::StopWhen;

use super::bounds::{parse_threads, BoundsArgs};
use super::distributed::{spawn_local, DistributedArgs, Plan};
use super::{command_line, Format};
use crate::bounds::threads_or_all_cores;
use crate::check::{self, CheckOptions, Strategy};
use crate::memory::{parse_max_memory, MaxMemory, DEFAULT_MAX_MEMORY};

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// How to explore: bfs (this project's parallel engine; shortest
    /// counterexamples), stateright-dfs, stateright-bfs (stateright's own
    /// checkers, for comparison).
    #[arg(long, value_enum, default_value_t = Strategy::Bfs)]
    pub strategy: Strategy,
    /// Worker threads, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Explore without symmetry reduction (servers are interchangeable, so
    /// reduction is sound; turning it off is for measuring it).
    #[arg(long)]
    pub no_symmetry: bool,
    /// Keep exploring after a property fails, to report every property.
    #[arg(long)]
    pub keep_going: bool,
    /// Stop after this many seconds (the report then says the run is
    /// incomplete; exit code 3 unless a property failed). Checked within a
    /// level, so the run stops within a fraction of a second of it.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Stop cleanly, with an incomplete report (levels finished, states,
    /// what to try next), before the run takes more memory than this:
    /// `20G`, `512M`, `75%` (of the machine's memory, or of its cgroup's
    /// limit when lower) or `none`. Checked against the engine's estimate
    /// (visited set and queued states) and the process's resident memory.
    /// Default: 80% with the bfs strategy, none with stateright's.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_memory)]
    pub max_memory: Option<MaxMemory>,
    /// The same limit in MiB (kept for old scripts; use --max-memory).
    #[arg(long, hide = true, conflicts_with = "max_memory", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget_mib: Option<u64>,
    /// Explore past memory: keep the visited set (fingerprints and
    /// parents) and the frontier (compressed) in files under DIR, removed
    /// at the end. Duplicates are found per level by merging sorted runs,
    /// so the run needs disk, not memory, in proportion to the states:
    /// about 16 bytes a state plus two levels' frontiers. --max-memory
    /// then bounds the in-memory cache and buffers. Same states, verdicts
    /// and shortest counterexamples as in memory, somewhat slower.
    #[arg(long, value_name = "DIR")]
    pub disk: Option<std::path::PathBuf>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Save the counterexample (the first violated property's shortest
    /// behaviour) as a trace file, the format `bugs --write` writes; open it
    /// with `raftcheck explore FILE`. Nothing is written if none is found.
    #[arg(long, value_name = "FILE")]
    pub save: Option<std::path::PathBuf>,
    /// Benchmark: run the quick and ci profiles, each in a fresh process,
    /// and print unique states/s and peak bytes per unique state. With
    /// --disk: the profile (default ci) in memory, on disk, and on disk
    /// within 256M, with each speed as a ratio to the in-memory run.
    /// With --distributed: at --profile's bounds, the engine on W threads, one
    /// process of W workers and W processes of one worker (W: --workers,
    /// default 2), with their times; fails if their counts differ.
    #[arg(long)]
    pub bench: bool,
    #[command(flatten)]
    pub distributed: DistributedArgs,
}

/// The memory limit in bytes: as given, else the default for the bfs
/// engine (stateright's checkers have no limit to apply).
fn memory_budget(args: &CheckArgs) -> Option<u64> {
    if let Some(mib) = args.memory_budget_mib {
        return Some(mib.saturating_mul(1 << 20));
    }
    match args.max_memory {
        Some(limit) => limit.bytes(),
        None if args.strategy == Strategy::Bfs => parse_max_memory(DEFAULT_MAX_MEMORY)
            .expect("the default parses")
            .bytes(),
        None => None,
    }
}

/// Ctrl-C stops the run as a limit does, with its report (exit code 3); a
/// second Ctrl-C exits at once (130, as a shell reports SIGINT).
pub(crate) fn stop_on_ctrl_c() {
    let flag = raftcheck_engine::interrupt_flag();
    let sigint = signal_hook::consts::SIGINT;
    // Registration fails only for a signal that cannot be caught; SIGINT
    // can, so an error leaves the default (an immediate exit).
    let _ = signal_hook::flag::register_conditional_shutdown(sigint, 130, flag.clone());
    let _ = signal_hook::flag::register(sigint, flag);
}

/// `raftcheck check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.bounds.config()?;
    let threads = threads_or_all_cores(args.threads);
    if args.bench && args.distributed.distributed {
        let workers = args.distributed.workers.unwrap_or(2);
        print!(
            "{}",
            check::distributed_bench(args.bounds.profile, workers)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let (true, Some(dir)) = (args.bench, &args.disk) {
        let profile = args.bounds.profile;
        let (table, same) = check::disk_bench(profile, threads, dir, "256M")?;
        print!("{table}");
        if !same {
            eprintln!("error: the runs did not all explore the same states completely");
            return Ok(ExitCode::from(check::EXIT_FAILED));
        }
        return Ok(ExitCode::SUCCESS);
    }
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
        memory_budget: memory_budget(args),
        disk: args.disk.clone(),
    };
    stop_on_ctrl_c();
    let run = if args.distributed.distributed {
        match args.distributed.plan()? {
            Plan::Spawn { processes } => return spawn_local(processes),
            Plan::Join(cluster) => match check::run_distributed(&cfg, &opts, &cluster)? {
                Some(run) => run,
                // Process 0 reports; the others have done their part.
                None => return Ok(ExitCode::SUCCESS),
            },
        }
    } else {
        check::run(&cfg, &opts)?
    };
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
    let command = std::env::var(super::distributed::COMMAND_ENV).unwrap_or_else(|_| command_line());
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
