//! The trace format: a behaviour of the Raft model as versioned JSON.
//!
//! A trace is what `raftcheck bugs --write` saves in `counterexamples/`, what
//! `raftcheck show` renders and `raftcheck explore` opens, and what the
//! conformance harness drives the implementation along. It records:
//!
//! - `version` (always [`TRACE_VERSION`]; other versions are refused),
//! - `bug`: the catalogue entry the trace documents, if any,
//! - `property` and `outcome`: the property the last step violates (or, for a
//!   witness of a "sometimes" property, first makes true),
//! - `config`: the bounds (and wrong rule) the trace runs under,
//! - `explorer_path`: the action indices that open the last state in the
//!   explorer (`raftcheck explore`, `http://ADDR/steps/<explorer_path>`; the
//!   same action indices as stateright's explorer),
//! - `initial`: every server's abstract state before the first step,
//! - `steps`: each action, the messages it sent, and every server's abstract
//!   state after it.
//!
//! Field order is fixed (struct order), so traces diff well. A loaded trace is
//! not trusted: [`Trace::to_behaviour`] replays its actions through the model
//! and checks that every recorded state and every recorded send is what the
//! model produces, and [`Trace::replay`] also recomputes the verdict (see
//! `verdict.rs`). Files over [`MAX_TRACE_BYTES`] are refused unread.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModelAction, Envelope, Id};

use raft_spec::message::Msg;
use raft_spec::server::{Role, ServerState, Timer};
use raft_spec::types::{Entry, Index, ServerId, Term, Value};
use raft_spec::{Action, Bug, Config, ConfigError, RaftModel, State};

mod model;
mod verdict;
pub use model::{
    explorer_behaviour, explorer_path, first_discovery, follow_explorer_path, property_holds,
    sent_by, ExplorerPathError, ReplayError,
};
pub use verdict::{verdicts, PropertyVerdict};

/// The trace format version this raftcheck writes and reads.
pub const TRACE_VERSION: u32 = 1;

/// The largest trace file read (16 MiB). Parsing takes many times a file's
/// size in memory, so a bigger file is refused before it is read; the
/// longest catalogue trace is a few tens of KiB.
pub const MAX_TRACE_BYTES: u64 = 16 * 1024 * 1024;

/// A saved behaviour of the model. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    pub version: u32,
    /// The catalogued wrong rule this trace documents, if any.
    pub bug: Option<Bug>,
    /// The property the trace is about (a name from `raft_spec::properties`).
    pub property: String,
    pub outcome: Outcome,
    /// The bounds the trace runs under; `config.bug` is the wrong rule that
    /// is switched on while replaying (none for a witness in correct Raft).
    pub config: Config,
    /// Action indices from the initial state, `/`-separated: the
    /// explorer's deep link (`/steps/<explorer_path>`). Valid only for the
    /// same config and the same model (action order) that wrote it.
    pub explorer_path: String,
    /// Every server's state before the first step.
    pub initial: Vec<ServerView>,
    pub steps: Vec<Step>,
}

/// What the last step of a trace shows about its property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// An "always" (safety) property fails at the last step and not before.
    Violates,
    /// A "sometimes" property first becomes true at the last step.
    Witnesses,
}

/// One step: an action, what it sent, and every server's state after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub action: TraceAction,
    /// Messages the acting server sent in this step, in sending order.
    pub sent: Vec<Sent>,
    /// Every server's state after the step, indexed by server id.
    pub servers: Vec<ServerView>,
}

/// A message a server sent (the adapter crate's: the images adapters give).
pub use raftcheck_adapter::Sent;

/// Which timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeoutKind {
    /// A follower or candidate starts an election.
    Election,
    /// A leader sends AppendEntries to every peer.
    Heartbeat,
}

/// One step of the model, in the vocabulary of Raft rather than of
/// stateright: the conformance harness maps each to an implementation input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TraceAction {
    /// The network delivers `msg` from `from` to `to`.
    Deliver {
        from: ServerId,
        to: ServerId,
        msg: Msg,
    },
    /// The network loses `msg` from `from` to `to`.
    Drop {
        from: ServerId,
        to: ServerId,
        msg: Msg,
    },
    /// A timer of `server` fires.
    Timeout { server: ServerId, kind: TimeoutKind },
    /// A client proposes `value` to `server` (which ignores it unless leader).
    Propose { server: ServerId, value: u8 },
    /// `server` crashes: volatile state is lost, durable state kept.
    Crash { server: ServerId },
    /// `server` restarts from its durable state.
    Recover { server: ServerId },
}

impl TraceAction {
    /// The model action, or `None` for a stateright action no trace records.
    pub fn from_action(action: &Action) -> Option<TraceAction> {
        let s = |id: Id| ServerId::from(id);
        Some(match action {
            ActorModelAction::Deliver { src, dst, msg } => TraceAction::Deliver {
                from: s(*src),
                to: s(*dst),
                msg: *msg,
            },
            ActorModelAction::Drop(Envelope { src, dst, msg }) => TraceAction::Drop {
                from: s(*src),
                to: s(*dst),
                msg: *msg,
            },
            ActorModelAction::Timeout(id, Timer::Election) => TraceAction::Timeout {
                server: s(*id),
                kind: TimeoutKind::Election,
            },
            ActorModelAction::Timeout(id, Timer::Heartbeat) => TraceAction::Timeout {
                server: s(*id),
                kind: TimeoutKind::Heartbeat,
            },
            ActorModelAction::Timeout(id, Timer::Propose(v)) => TraceAction::Propose {
                server: s(*id),
                value: v.0,
            },
            ActorModelAction::Crash(id) => TraceAction::Crash { server: s(*id) },
            ActorModelAction::Recover(id) => TraceAction::Recover { server: s(*id) },
            ActorModelAction::SelectRandom { .. } => return None,
        })
    }

    /// The model action this step takes.
    pub fn to_action(&self) -> Action {
        let id = |s: ServerId| Id::from(s);
        match *self {
            TraceAction::Deliver { from, to, msg } => ActorModelAction::Deliver {
                src: id(from),
                dst: id(to),
                msg,
            },
            TraceAction::Drop { from, to, msg } => ActorModelAction::Drop(Envelope {
                src: id(from),
                dst: id(to),
                msg,
            }),
            TraceAction::Timeout { server, kind } => ActorModelAction::Timeout(
                id(server),
                match kind {
                    TimeoutKind::Election => Timer::Election,
                    TimeoutKind::Heartbeat => Timer::Heartbeat,
                },
            ),
            TraceAction::Propose { server, value } => {
                ActorModelAction::Timeout(id(server), Timer::Propose(Value(value)))
            }
            TraceAction::Crash { server } => ActorModelAction::Crash(id(server)),
            TraceAction::Recover { server } => ActorModelAction::Recover(id(server)),
        }
    }

    /// The server whose handler runs (the receiver of a delivery), if any.
    pub fn server(&self) -> Option<ServerId> {
        match *self {
            TraceAction::Deliver { to, .. } => Some(to),
            TraceAction::Drop { .. } => None,
            TraceAction::Timeout { server, .. }
            | TraceAction::Propose { server, .. }
            | TraceAction::Crash { server }
            | TraceAction::Recover { server } => Some(server),
        }
    }
}

impl std::fmt::Display for TraceAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&RaftModel::describe_action(&self.to_action()))
    }
}

/// A server's abstract state: what the conformance harness compares with the
/// implementation after every step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerView {
    pub role: Role,
    pub term: Term,
    pub voted_for: Option<ServerId>,
    /// The log as (term, value) pairs; value 0 is a leader's no-op.
    pub log: Vec<(Term, u8)>,
    pub commit_index: Index,
    /// A crashed server's other fields are its state when it crashed.
    pub crashed: bool,
    /// A leader's next and match index per server (its own slot is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderView>,
    /// A candidate's granted voters, itself included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<ServerId>>,
}

/// A leader's per-server replication progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderView {
    pub next_index: Vec<Index>,
    pub match_index: Vec<Index>,
}

impl ServerView {
    /// The abstract state of one model server in a cluster of `servers`.
    pub fn of(s: &ServerState, crashed: bool, servers: u8) -> ServerView {
        let per_server = |m: &raft_spec::types::PeerMap| {
            (0..servers).map(|i| m.get(ServerId(i))).collect::<Vec<_>>()
        };
        ServerView {
            role: s.role,
            term: s.term,
            voted_for: s.voted_for,
            log: s
                .log
                .entries()
                .iter()
                .map(|e| (e.term, e.value.0))
                .collect(),
            commit_index: s.commit_index,
            crashed,
            leader: (s.role == Role::Leader).then(|| LeaderView {
                next_index: per_server(&s.next_index),
                match_index: per_server(&s.match_index),
            }),
            votes: (s.role == Role::Candidate).then(|| s.votes_granted.iter().collect()),
        }
    }

    /// Every server of a model state.
    pub fn all(state: &State, servers: u8) -> Vec<ServerView> {
        state
            .actor_states
            .iter()
            .zip(&state.crashed)
            .map(|(s, c)| ServerView::of(s, *c, servers))
            .collect()
    }

    /// The log as model entries.
    pub fn entries(&self) -> Vec<Entry> {
        self.log
            .iter()
            .map(|&(term, v)| Entry {
                term,
                value: Value(v),
            })
            .collect()
    }
}

/// Why a trace file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    // The causes below are fields not named `source`: the message already
    // says them, and a `source` would repeat them in an error chain ("X: X").
    #[error("cannot read trace {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("trace {path} is not valid JSON at line {line}, column {column}: {message}{hint}",
        hint = if *truncated { " (the file looks truncated: regenerate it with `raftcheck bugs --write`)" } else { "" })]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        truncated: bool,
    },
    #[error("trace {path} is {size} bytes, over the {MAX_TRACE_BYTES}-byte (16 MiB) limit for trace files")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("trace {path} has no \"version\" field: is it a raftcheck trace?")]
    MissingVersion { path: PathBuf },
    #[error("trace {path}: trace version {found} is not supported; this raftcheck reads version {TRACE_VERSION}")]
    Version { path: PathBuf, found: String },
    #[error(
        "trace {path} does not match the trace format at line {line}, column {column}: {message}"
    )]
    Schema {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("trace {path} has impossible bounds: {error}")]
    Config { path: PathBuf, error: ConfigError },
    #[error("trace {path} is inconsistent: {reason}")]
    Inconsistent { path: PathBuf, reason: ShapeError },
}

/// What serde cannot check in a trace: a state that does not list every
/// server, or a server id outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("{at} lists {listed} servers but the config has {servers}")]
    ServerCount {
        at: String,
        listed: usize,
        servers: usize,
    },
    #[error("{at}: s{server} names a server outside the cluster")]
    UnknownServer { at: String, server: usize },
    #[error("{at}: s{server}'s next/match index lists are not one per server")]
    LeaderLists { at: String, server: usize },
    #[error("step {step}: names a server outside the cluster")]
    StepNamesUnknownServer { step: usize },
}

impl Trace {
    /// Reads and checks a trace file: JSON syntax, version, format, bounds
    /// and the shape of every state. Never panics on bad input.
    pub fn load(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let io = |error| TraceError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let too_large = |size| TraceError::TooLarge {
            path: path.to_path_buf(),
            size,
        };
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_TRACE_BYTES {
            return Err(too_large(size));
        }
        // The length can lie (a pipe, a growing file): never read past the cap.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(MAX_TRACE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_TRACE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text: {e}"),
            ))
        })?;
        Trace::parse(&text, path)
    }

    /// [`Trace::load`] on text already read; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Trace, TraceError> {
        let path_buf = || path.to_path_buf();
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| TraceError::Json {
                path: path_buf(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
                truncated: e.is_eof(),
            })?;
        match value.get("version") {
            None => return Err(TraceError::MissingVersion { path: path_buf() }),
            Some(v) if v.as_u64() == Some(u64::from(TRACE_VERSION)) => {}
            Some(v) => {
                return Err(TraceError::Version {
                    path: path_buf(),
                    found: v.to_string(),
                })
            }
        }
        let trace: Trace = serde_json::from_str(text).map_err(|e| TraceError::Schema {
            path: path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        trace
            .config
            .validate()
            .map_err(|error| TraceError::Config {
                path: path_buf(),
                error,
            })?;
        trace
            .check_shape()
            .map_err(|reason| TraceError::Inconsistent {
                path: path_buf(),
                reason,
            })?;
        Ok(trace)
    }

    /// The trace as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a trace always serializes");
        s.push('\n');
        s
    }

    /// Checks what serde cannot: every state names every server, and every
    /// server id is in the cluster.
    fn check_shape(&self) -> Result<(), ShapeError> {
        let n = self.config.servers as usize;
        let id_ok = |s: ServerId| (s.0 as usize) < n;
        let views = std::iter::once(("the initial state".to_string(), &self.initial)).chain(
            self.steps
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("step {}", i + 1), &s.servers)),
        );
        for (at, servers) in views {
            if servers.len() != n {
                return Err(ShapeError::ServerCount {
                    at,
                    listed: servers.len(),
                    servers: n,
                });
            }
            for (i, v) in servers.iter().enumerate() {
                if v.voted_for.is_some_and(|s| !id_ok(s))
                    || v.votes.iter().flatten().any(|s| !id_ok(*s))
                {
                    return Err(ShapeError::UnknownServer { at, server: i });
                }
                if let Some(l) = &v.leader {
                    if l.next_index.len() != n || l.match_index.len() != n {
                        return Err(ShapeError::LeaderLists { at, server: i });
                    }
                }
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let ids = match step.action {
                TraceAction::Deliver { from, to, .. } | TraceAction::Drop { from, to, .. } => {
                    vec![from, to]
                }
                TraceAction::Timeout { server, .. }
                | TraceAction::Propose { server, .. }
                | TraceAction::Crash { server }
                | TraceAction::Recover { server } => vec![server],
            };
            let sent = step.sent.iter().flat_map(|s| [s.from, s.to]);
            if ids.into_iter().chain(sent).any(|s| !id_ok(s)) {
                return Err(ShapeError::StepNamesUnknownServer { step: i + 1 });
            }
        }
        Ok(())
    }
}
