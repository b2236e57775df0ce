//! `raftcheck traces`: random walks over the model as trace files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::conform::parse_loosening;
use super::BoundsArgs;
use crate::conform::{replay, walk, Implementation, Loosen, Loosening};
use crate::files;

/// `raftcheck traces`: write random walks as trace files.
#[derive(Debug, Clone, Args)]
#[command(long_about = "Write random walks over the model as trace files.\n\n\
    Each walk starts in the initial state and takes --depth steps, each a uniformly chosen \
    enabled action whose successor stays within the bounds (a walk that gets stuck is \
    restarted). Walk k of seed S is reproducible: it uses the generator seeded with S + k. \
    Replay them against the implementation with `raftcheck conform --traces DIR`.\n\n\
    Example (5 servers, long behaviours):\n  \
    raftcheck traces --random 1000 --depth 40 --seed 1 --out walks --servers 5 --max-term 4 \
    --max-log 4 --batch 2 --values 2 --crashes 2 --in-flight 8")]
pub struct TracesArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// How many random walks to write.
    #[arg(long, value_name = "N")]
    pub random: usize,
    /// Steps per walk.
    #[arg(long, value_name = "D", default_value_t = 40)]
    pub depth: usize,
    /// Seed of the first walk (walk k uses seed + k).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Directory to write walk-<seed>.json files to (created if missing).
    #[arg(long, value_name = "DIR", default_value = "walks")]
    pub out: PathBuf,
    /// Also replay each walk against the implementation now.
    #[arg(long)]
    pub replay: bool,
    /// With --replay: do not compare FIELD (see `conform --help`).
    #[arg(long, value_name = "FIELD", value_parser = parse_loosening, value_delimiter = ',')]
    pub loosen: Vec<Loosening>,
    /// With --replay: ignore the adapter's own loosenings.
    #[arg(long)]
    pub strict: bool,
}

/// `traces`, replaying on `imp` with --replay.
pub fn run<I: Implementation>(imp: &I, args: &TracesArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.bounds.config()?;
    files::create_dir_all(&args.out)?;
    let mut diverged = 0;
    let loosen = Loosen {
        strict: args.strict,
        extra: args.loosen.clone(),
    };
    for k in 0..args.random as u64 {
        let seed = args.seed.wrapping_add(k);
        let (trace, behaviour) = walk::walk_trace(&cfg, args.depth, seed)?;
        let path: PathBuf = Path::new(&args.out).join(format!("walk-{seed}.json"));
        files::write(&path, trace.to_json())?;
        if args.replay {
            if let Some(d) = replay::replay_behaviour(imp, &cfg, &behaviour, &loosen)? {
                diverged += 1;
                println!("{}: diverged\n{d}", path.display());
            }
        }
    }
    println!(
        "wrote {} walks of {} steps to {} ({}){}",
        args.random,
        args.depth,
        args.out.display(),
        cfg.summary(),
        if args.replay {
            format!("; replayed: {diverged} diverged")
        } else {
            String::new()
        }
    );
    Ok(if diverged == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
