//! What a raftcheck library call fails with: one enum, each variant naming
//! what failed. The CLI prints it and exits 2.
//!
//! As in [`TraceError`], a cause is a field the message already prints, not
//! a `source`: an error chain would otherwise say it twice ("X: X").

use std::path::PathBuf;

use raft_spec::config::ConfigError;

use crate::trace::{ExplorerPathError, ReplayError, TraceError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory the run reads or writes.
    #[error("cannot {action} {}: {error}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// Bounds the model refuses.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A trace file that cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A trace that is not a behaviour of this build's model.
    #[error("{}{error}", .file.as_ref().map(|f| format!("{} does not replay in this model: ", f.display())).unwrap_or_default())]
    Replay {
        file: Option<PathBuf>,
        error: ReplayError,
    },
    /// A saved explorer path that no longer leads to its trace's last state.
    #[error("{}: its explorer path no longer leads to its last state (the model's action order changed): regenerate it with `raftcheck bugs --write`", .file.display())]
    StaleExplorerPath { file: PathBuf },
    #[error(transparent)]
    ExplorerPath(#[from] ExplorerPathError),
    /// A model variant the implementation under test does not implement.
    #[error("{implementation} does not implement variant {variant}: {reason}")]
    Unsupported {
        implementation: String,
        variant: String,
        reason: String,
    },
    /// A distributed run that could not start (cluster, hosts, peers).
    #[error(transparent)]
    Distributed(#[from] raftcheck_distributed::Error),
    /// Options that do not go together.
    #[error("{0}")]
    Options(&'static str),
    /// A catalogued bug whose entry does not fit the model.
    #[error("{bug}: the catalogue names property {property:?}, which the model with bounds {bounds} does not check")]
    Catalogue {
        bug: &'static str,
        property: &'static str,
        bounds: String,
    },
    /// A catalogue page asked of a trace that names no bug.
    #[error("only a catalogue trace (one naming its bug) has a page")]
    NotACatalogueTrace,
    /// The state-space guard's insta snapshot.
    #[error("{}: {detail}", .path.display())]
    Snapshot { path: PathBuf, detail: String },
    /// A run's state count that disagrees with the model check's.
    #[error("{0}")]
    Mismatch(String),
    /// A child raftcheck (`check --bench`) that did not run or report.
    #[error("{what}: {error}")]
    Child { what: String, error: String },
    /// The explorer's listener.
    #[error("cannot listen on {addr}: {error} (choose another with --addr)")]
    Listen {
        addr: std::net::SocketAddr,
        error: String,
    },
    #[error("explorer: {0}")]
    Serve(std::io::Error),
    /// An implementation node with no counterpart in the model (the
    /// conformance adapter says why).
    #[error("{0}")]
    Abstraction(String),
    /// A fresh implementation node that is not the model's initial state.
    #[error("a fresh implementation node is not the model's initial state: {field} model {model} implementation {implementation}")]
    FreshNode {
        field: String,
        model: String,
        implementation: String,
    },
    /// A loaded trace that its own model does not produce.
    #[error("{file}: the trace is not a behaviour of its model: {error}")]
    NotABehaviour { file: String, error: ReplayError },
    #[error("cannot rebuild the path to the divergence")]
    NoPath,
    #[error("no trace files (*.json) in {}", .0.display())]
    NoTraceFiles(PathBuf),
    #[error("no walk of {depth} steps within these bounds (1000 tries, seed {seed})")]
    NoWalk { depth: usize, seed: u64 },
}

impl From<ReplayError> for Error {
    fn from(error: ReplayError) -> Self {
        Error::Replay { file: None, error }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
