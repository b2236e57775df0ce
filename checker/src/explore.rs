//! `raftcheck explore`: the stateright web explorer, opened at a saved trace.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use clap::Args;
use stateright::{Checker, Model};

use raft_spec::{Config, RaftModel};

use crate::bounds::BoundsArgs;
use crate::trace::{follow_explorer_path, Trace};

#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    /// A saved trace (e.g. counterexamples/double-vote.json): the explorer
    /// runs its model and the printed URL opens its exact path. Without it,
    /// the model of the bounds below is explored from its initial state.
    pub file: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub bounds: BoundsArgs,
}

/// What to serve and which URL to print.
pub struct Target {
    pub config: Config,
    /// The URL path (after `http://addr/`), e.g. `#/steps/0/3/1`.
    pub fragment: String,
}

/// Loads and re-validates the trace (or takes the bounds) and checks its
/// explorer path still leads to its last state in this build's model.
pub fn target(args: &ExploreArgs) -> anyhow::Result<Target> {
    let Some(file) = &args.file else {
        return Ok(Target {
            config: args.bounds.config()?,
            fragment: "#/steps/0".to_string(),
        });
    };
    let trace = Trace::load(file)?;
    let model = RaftModel::new(trace.config.clone())?;
    let behaviour = trace
        .to_behaviour(&model)
        .map_err(|e| anyhow::anyhow!("{} does not replay in this model: {e}", file.display()))?;
    let last = behaviour.1.last().map_or(&behaviour.0, |(_, s)| s);
    if follow_explorer_path(&model, &trace.explorer_path).as_ref() != Some(last) {
        anyhow::bail!(
            "{}: its explorer path no longer leads to its last state (the model's action order changed): regenerate it with `raftcheck bugs --write`",
            file.display()
        );
    }
    Ok(Target {
        config: trace.config,
        fragment: format!("#/steps/{}", trace.explorer_path),
    })
}

/// Serves the explorer for `config` on `addr`; blocks for as long as it runs.
/// Fails (rather than panicking inside stateright) if the address is taken.
pub fn serve(config: Config, addr: SocketAddr) -> anyhow::Result<()> {
    drop(TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e} (choose another with --addr)")
    })?);
    let model = RaftModel::new(config)?;
    let checker = model.checker().serve(addr);
    tracing::info!(states = checker.unique_state_count(), "explorer stopped");
    Ok(())
}

/// `raftcheck explore`.
pub fn run(args: &ExploreArgs) -> anyhow::Result<()> {
    let target = target(args)?;
    println!(
        "explorer: http://{}/{}  ({})",
        args.addr,
        target.fragment,
        target.config.summary()
    );
    println!("press Ctrl-C to stop");
    serve(target.config, args.addr)
}
