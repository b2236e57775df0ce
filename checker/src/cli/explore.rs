//! `raftcheck explore`'s arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use raft_spec::ConfigError;

use super::bounds::BoundsArgs;
use crate::explore::{ExploreOptions, Open};

#[derive(Debug, Clone, Args)]
pub struct ExploreArgs {
    /// A saved trace (e.g. counterexamples/double-vote.json, or one written
    /// by `raftcheck check --save`): the page opens its path, marks the
    /// state where its property fails, and shows every property's verdict
    /// at every state. Without it, the model of the bounds below is walked
    /// from its initial state.
    pub file: Option<PathBuf>,
    /// Address to serve on (port 0: any free port; the URL printed says which).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub bounds: BoundsArgs,
}

impl ExploreArgs {
    /// The options; the bounds are read (and checked) only when no trace
    /// is given.
    pub fn options(&self) -> Result<ExploreOptions, ConfigError> {
        let open = match &self.file {
            Some(file) => Open::Trace(file.clone()),
            None => Open::Model(self.bounds.config()?),
        };
        Ok(ExploreOptions {
            open,
            addr: self.addr,
        })
    }
}
