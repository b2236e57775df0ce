//! Random walks over the model, written as trace files: behaviours far
//! longer (and clusters larger) than exhaustive checking can reach, for
//! replay against the implementation.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use stateright::Model;

use raft_sim::SplitMix64;
use raft_spec::{Action, Config, RaftModel};

use super::replay;
use crate::bounds::BoundsArgs;
use crate::check::Behaviour;
use crate::trace::{Outcome, Trace, TraceAction};

/// One random walk of exactly `depth` steps: at each step, a uniformly
/// chosen enabled action whose successor stays within the bounds. A walk
/// that gets stuck (nothing enabled) is restarted; `None` after 1000 tries.
/// The simulator's generator: walks are reproducible from their seed on
/// every platform.
pub fn random_walk(model: &RaftModel, depth: usize, rng: &mut SplitMix64) -> Option<Behaviour> {
    let init = model.init_states().into_iter().next()?;
    let mut actions: Vec<Action> = Vec::new();
    'attempt: for _ in 0..1000 {
        let mut state = init.clone();
        let mut steps = Vec::with_capacity(depth);
        while steps.len() < depth {
            actions.clear();
            model.actions(&state, &mut actions);
            let choices: Vec<_> = actions
                .drain(..)
                .filter(|a| TraceAction::from_action(a).is_some())
                .filter_map(|a| {
                    let next = model.next_state(&state, a.clone())?;
                    model.within_boundary(&next).then_some((a, next))
                })
                .collect();
            if choices.is_empty() {
                continue 'attempt;
            }
            let (a, next) = choices[rng.below(choices.len() as u64) as usize].clone();
            steps.push((a, next.clone()));
            state = next;
        }
        return Some((init, steps));
    }
    None
}

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
}

/// The trace of walk `seed`.
pub fn walk_trace(cfg: &Config, depth: usize, seed: u64) -> anyhow::Result<(Trace, Behaviour)> {
    let model = RaftModel::new(cfg.clone())?;
    let mut rng = SplitMix64::new(seed);
    let behaviour = random_walk(&model, depth, &mut rng).ok_or_else(|| {
        anyhow::anyhow!("no walk of {depth} steps within these bounds (1000 tries, seed {seed})")
    })?;
    let trace = Trace::from_behaviour(
        cfg,
        cfg.bug,
        &format!("random walk (seed {seed})"),
        Outcome::Witnesses,
        &behaviour,
    )?;
    Ok((trace, behaviour))
}

pub fn run(args: &TracesArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.bounds.config()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let mut diverged = 0;
    for k in 0..args.random as u64 {
        let seed = args.seed.wrapping_add(k);
        let (trace, behaviour) = walk_trace(&cfg, args.depth, seed)?;
        let path: PathBuf = Path::new(&args.out).join(format!("walk-{seed}.json"));
        std::fs::write(&path, trace.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        if args.replay {
            if let Some(d) =
                replay::replay_behaviour(&cfg, &behaviour, None).map_err(anyhow::Error::msg)?
            {
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
