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

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Out};
use stateright::Model;

use raft_spec::message::Msg;
use raft_spec::server::{RaftServer, Role, ServerState, Timer};
use raft_spec::types::{Entry, Index, ServerId, Term, Value};
use raft_spec::{Action, Bug, Config, ConfigError, RaftModel, State};

use crate::check::Behaviour;

mod verdict;
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

/// A message a server sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sent {
    pub from: ServerId,
    pub to: ServerId,
    pub msg: Msg,
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {} {}", self.from, self.to, self.msg)
    }
}

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
    Inconsistent { path: PathBuf, reason: String },
}

/// Why a trace is not a behaviour of a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("the trace has {trace} servers but the model has {model}")]
    Servers { trace: usize, model: usize },
    #[error("the recorded initial state is not an initial state of the model")]
    Initial,
    #[error("step {step} ({action}) is not enabled in the model at that point")]
    Disabled { step: usize, action: String },
    #[error("step {step} ({action}) changes nothing in the model (the server ignores it)")]
    NoOp { step: usize, action: String },
    #[error("step {step} ({action}): {server} is {replayed:?} in the model but the trace records {recorded:?}")]
    State {
        step: usize,
        action: String,
        server: ServerId,
        recorded: Box<ServerView>,
        replayed: Box<ServerView>,
    },
    #[error(
        "step {step} ({action}): the model sends {replayed:?} but the trace records {recorded:?}"
    )]
    Sent {
        step: usize,
        action: String,
        recorded: Vec<Sent>,
        replayed: Vec<Sent>,
    },
    #[error("a step takes an action no trace can record (random choice)")]
    Unrecordable,
    #[error("the model has no property named {0:?}")]
    UnknownProperty(String),
    #[error("the trace's config is invalid: {0}")]
    Config(ConfigError),
    #[error(
        "its stored verdict is wrong: the file says {stored}, but replayed in the model {replayed}"
    )]
    Verdict { stored: String, replayed: String },
}

// Not `#[from]`: that would also make the error its source, printed twice.
impl From<ConfigError> for ReplayError {
    fn from(e: ConfigError) -> Self {
        ReplayError::Config(e)
    }
}

impl Trace {
    /// Records a behaviour of the model with bounds `cfg`. The behaviour
    /// must be one of that model (the engine's paths are).
    pub fn from_behaviour(
        cfg: &Config,
        bug: Option<Bug>,
        property: &str,
        outcome: Outcome,
        behaviour: &Behaviour,
    ) -> Result<Trace, ReplayError> {
        let model = RaftModel::new(cfg.clone())?;
        let server = RaftServer { cfg: cfg.clone() };
        let (init, steps) = behaviour;
        let n = cfg.servers;
        let mut prev = init;
        let mut out = Vec::with_capacity(steps.len());
        for (action, next) in steps {
            let trace_action = TraceAction::from_action(action).ok_or(ReplayError::Unrecordable)?;
            out.push(Step {
                action: trace_action,
                sent: sent_by(&server, prev, action),
                servers: ServerView::all(next, n),
            });
            prev = next;
        }
        let actions: Vec<Action> = steps.iter().map(|(a, _)| a.clone()).collect();
        let explorer_path = explorer_path(&model, init, &actions).ok_or(ReplayError::Initial)?;
        Ok(Trace {
            version: TRACE_VERSION,
            bug,
            property: property.to_string(),
            outcome,
            config: cfg.clone(),
            explorer_path,
            initial: ServerView::all(init, n),
            steps: out,
        })
    }

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
    fn check_shape(&self) -> Result<(), String> {
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
                return Err(format!(
                    "{at} lists {} servers but the config has {n}",
                    servers.len()
                ));
            }
            for (i, v) in servers.iter().enumerate() {
                if v.voted_for.is_some_and(|s| !id_ok(s))
                    || v.votes.iter().flatten().any(|s| !id_ok(*s))
                {
                    return Err(format!("{at}: s{i} names a server outside the cluster"));
                }
                if let Some(l) = &v.leader {
                    if l.next_index.len() != n || l.match_index.len() != n {
                        return Err(format!(
                            "{at}: s{i}'s next/match index lists are not one per server"
                        ));
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
                return Err(format!(
                    "step {}: names a server outside the cluster",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    /// Replays the trace's actions through `model` from its initial state,
    /// checking each step is enabled, changes the state, sends what the trace
    /// records and leads to the recorded state of every server. Returns the
    /// concrete behaviour. Use a model of `self.config` to re-validate the
    /// trace, or another config (the bug off) to ask whether correct Raft can
    /// do the same.
    pub fn to_behaviour(&self, model: &RaftModel) -> Result<Behaviour, ReplayError> {
        let n = model.cfg.servers;
        if self.initial.len() != n as usize {
            return Err(ReplayError::Servers {
                trace: self.initial.len(),
                model: n as usize,
            });
        }
        let init = model
            .init_states()
            .into_iter()
            .find(|s| ServerView::all(s, n) == self.initial)
            .ok_or(ReplayError::Initial)?;
        let server = RaftServer {
            cfg: model.cfg.clone(),
        };
        let mut state = init.clone();
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut enabled = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let number = i + 1;
            let action = step.action.to_action();
            let describe = || step.action.to_string();
            enabled.clear();
            model.actions(&state, &mut enabled);
            if !enabled.contains(&action) {
                return Err(ReplayError::Disabled {
                    step: number,
                    action: describe(),
                });
            }
            let sent = sent_by(&server, &state, &action);
            let next =
                model
                    .next_state(&state, action.clone())
                    .ok_or_else(|| ReplayError::NoOp {
                        step: number,
                        action: describe(),
                    })?;
            let replayed = ServerView::all(&next, n);
            if let Some(k) = (0..n as usize).find(|&k| step.servers.get(k) != replayed.get(k)) {
                return Err(ReplayError::State {
                    step: number,
                    action: describe(),
                    server: ServerId(k as u8),
                    recorded: Box::new(
                        step.servers
                            .get(k)
                            .cloned()
                            .unwrap_or_else(|| replayed[k].clone()),
                    ),
                    replayed: Box::new(replayed[k].clone()),
                });
            }
            if sent != step.sent {
                return Err(ReplayError::Sent {
                    step: number,
                    action: describe(),
                    recorded: step.sent.clone(),
                    replayed: sent,
                });
            }
            steps.push((action, next.clone()));
            state = next;
        }
        Ok((init, steps))
    }

    /// The explorer link for this trace on a server at `addr` (host:port).
    pub fn explorer_url(&self, addr: &str) -> String {
        format!("http://{addr}/steps/{}", self.explorer_path)
    }
}

/// Whether `property` holds in `state` (`None` if the model has no such
/// property).
pub fn property_holds(model: &RaftModel, property: &str, state: &State) -> Option<bool> {
    model
        .properties()
        .into_iter()
        .find(|p| p.name == property)
        .map(|p| (p.condition)(model, state))
}

/// The first step (1-based; 0 is the initial state) at which `property`
/// is discovered: violated for an "always", true for a "sometimes" property.
pub fn first_discovery(
    model: &RaftModel,
    property: &str,
    behaviour: &Behaviour,
) -> Result<Option<usize>, ReplayError> {
    let p = model
        .properties()
        .into_iter()
        .find(|p| p.name == property)
        .ok_or_else(|| ReplayError::UnknownProperty(property.to_string()))?;
    let discovered = |s: &State| {
        let holds = (p.condition)(model, s);
        match p.expectation {
            stateright::Expectation::Always => !holds,
            _ => holds,
        }
    };
    let (init, steps) = behaviour;
    Ok(std::iter::once(init)
        .chain(steps.iter().map(|(_, s)| s))
        .position(discovered))
}

/// The messages the acting server sends in one step, computed by running its
/// handler (exact even on a duplicating network, where a diff of the network
/// would miss a message already in flight).
pub fn sent_by(server: &RaftServer, before: &State, action: &Action) -> Vec<Sent> {
    let mut out = Out::<RaftServer>::new();
    let me = match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            let Some(s) = before.actor_states.get(usize::from(*dst)) else {
                return Vec::new();
            };
            if before
                .crashed
                .get(usize::from(*dst))
                .copied()
                .unwrap_or(true)
            {
                return Vec::new();
            }
            let mut state = Cow::Borrowed(&**s);
            server.on_msg(*dst, &mut state, *src, *msg, &mut out);
            *dst
        }
        ActorModelAction::Timeout(id, timer) => {
            let Some(s) = before.actor_states.get(usize::from(*id)) else {
                return Vec::new();
            };
            let mut state = Cow::Borrowed(&**s);
            server.on_timeout(*id, &mut state, timer, &mut out);
            *id
        }
        _ => return Vec::new(),
    };
    out.iter()
        .filter_map(|c| match c {
            Command::Send(to, msg) => Some(Sent {
                from: me.into(),
                to: (*to).into(),
                msg: *msg,
            }),
            _ => None,
        })
        .collect()
}

/// The explorer's action-index path for a behaviour, checked by replaying
/// the indices (as the explorer does) to the behaviour's last state.
pub fn explorer_path(model: &RaftModel, init: &State, actions: &[Action]) -> Option<String> {
    let path = stateright::Path::from_actions(model, init.clone(), actions)?;
    let encoded = path.encode(model);
    let last = follow_explorer_path(model, &encoded)?;
    (&last == path.last_state()).then_some(encoded)
}

/// The state the explorer shows for an action-index path.
pub fn follow_explorer_path(model: &RaftModel, encoded: &str) -> Option<State> {
    let (init, steps) = explorer_behaviour(model, encoded).ok()?;
    Some(steps.last().map_or(init, |(_, s)| s.clone()))
}

/// The behaviour an action-index path (`0/3/1`: an initial state's index,
/// then each action's index among the enabled ones) leads through, or why
/// it leads nowhere.
pub fn explorer_behaviour(model: &RaftModel, encoded: &str) -> Result<Behaviour, String> {
    let number = |i: &str| {
        i.parse::<usize>()
            .map_err(|_| format!("{i:?} in path {encoded:?} is not an index"))
    };
    let mut indices = encoded.split('/');
    let first = number(indices.next().unwrap_or_default())?;
    let init = model
        .init_states()
        .get(first)
        .cloned()
        .ok_or_else(|| format!("the model has no initial state {first}"))?;
    let mut state = init.clone();
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for (k, i) in indices.enumerate() {
        let i = number(i)?;
        actions.clear();
        model.actions(&state, &mut actions);
        let action = actions.get(i).cloned().ok_or_else(|| {
            format!(
                "step {}: only {} actions are enabled, not action {i}",
                k + 1,
                actions.len()
            )
        })?;
        state = model
            .next_state(&state, action.clone())
            .ok_or_else(|| format!("step {}: action {i} changes nothing", k + 1))?;
        steps.push((action, state.clone()));
    }
    Ok((init, steps))
}
