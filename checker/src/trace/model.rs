//! The model queries on a trace: recording a behaviour of the model as a
//! trace, replaying a trace through the model (every state and send
//! checked), and the explorer's action-index paths. The verdicts are in
//! `verdict.rs`.

use std::borrow::Cow;

use stateright::actor::{Actor, ActorModelAction, Command, Out};
use stateright::Model;

use raft_spec::server::RaftServer;
use raft_spec::types::ServerId;
use raft_spec::{Action, Bug, Config, ConfigError, RaftModel, State};

use super::{Outcome, Sent, ServerView, Step, Trace, TraceAction, TRACE_VERSION};
use crate::behaviour::Behaviour;

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

/// Why an explorer path (`0/3/1`) leads to no state of the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplorerPathError {
    #[error("{index:?} in path {path:?} is not an index")]
    NotAnIndex { index: String, path: String },
    #[error("the model has no initial state {0}")]
    NoInitialState(usize),
    #[error("step {step}: only {enabled} actions are enabled, not action {action}")]
    NotEnabled {
        step: usize,
        enabled: usize,
        action: usize,
    },
    #[error("step {step}: action {action} changes nothing")]
    NoChange { step: usize, action: usize },
}

/// The behaviour an action-index path (`0/3/1`: an initial state's index,
/// then each action's index among the enabled ones) leads through, or why
/// it leads nowhere.
pub fn explorer_behaviour(
    model: &RaftModel,
    encoded: &str,
) -> Result<Behaviour, ExplorerPathError> {
    let number = |i: &str| {
        i.parse::<usize>()
            .map_err(|_| ExplorerPathError::NotAnIndex {
                index: i.to_string(),
                path: encoded.to_string(),
            })
    };
    let mut indices = encoded.split('/');
    let first = number(indices.next().unwrap_or_default())?;
    let init = model
        .init_states()
        .get(first)
        .cloned()
        .ok_or(ExplorerPathError::NoInitialState(first))?;
    let mut state = init.clone();
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for (k, i) in indices.enumerate() {
        let i = number(i)?;
        actions.clear();
        model.actions(&state, &mut actions);
        let action = actions
            .get(i)
            .cloned()
            .ok_or(ExplorerPathError::NotEnabled {
                step: k + 1,
                enabled: actions.len(),
                action: i,
            })?;
        state = model
            .next_state(&state, action.clone())
            .ok_or(ExplorerPathError::NoChange {
                step: k + 1,
                action: i,
            })?;
        steps.push((action, state.clone()));
    }
    Ok((init, steps))
}
