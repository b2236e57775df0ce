//! Exhaustive conformance: every transition of the bounded model is also
//! taken by the implementation.
//!
//! [`ConformModel`] wraps [`RaftModel`]. Its `next_state` computes the spec
//! successor and takes the same action on the implementation, then compares
//! the acting server's abstract state, its storage and the messages it sent
//! ([`compare_step`]). A divergent transition leads to a state
//! marked divergent, which violates the always-property `conforms`, so the
//! engine stops and rebuilds the shortest behaviour to it.
//!
//! Implementation nodes are not kept in the model state. A step changes one
//! server only, so they are kept per server: one implementation server
//! (node + storage) per (server, crashed, model server state), the one the
//! implementation itself reached by the first transition checked into that
//! state, with the actions that led there. The exploration is exactly that
//! of `raftcheck check` (same engine, same symmetry reduction, same states
//! expanded), so the transition counts are the same. Symmetry expands a
//! renamed state (servers permuted): a server state met only under another
//! name is obtained by replaying the actions that led to it with the
//! servers renamed, on a fresh node, which must then abstract to the
//! renamed state (otherwise the implementation is not symmetric: reported
//! as a divergence).
//!
//! What this does not see: implementation state outside the abstraction
//! (a follower's leader hint, a non-leader's stale peer progress, what was
//! already applied). None of it changes what a model input produces; the
//! replay mode, which drives fresh nodes along whole traces, covers it.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::Serialize;
use stateright::actor::{ActorModelAction, Id};
use stateright::util::DenseNatMap;
use stateright::{Model, Property, Representative, Rewrite, RewritePlan};

use raft_spec::server::{RaftServer, ServerState};
use raft_spec::types::ServerId;
use raft_spec::{Action, Config, RaftModel, State};

use raft_sim::MemNode;

use super::abstraction::abstract_state;
use super::adapter::fresh_server;
use super::compare::{compare_server, compare_step};
use super::divergence::{Divergence, Mismatch};
use super::perturb::Perturbation;
use super::step::{acting_server, impl_step, model_sent};
use crate::error::{Error, Result};
use raftcheck_engine::{self as engine, Options, Progress, StepInPlace, StopWhen};

/// The name of the conformance property.
pub const CONFORMS: &str = "conforms";

/// A model state, marked if the transition into it diverged.
#[derive(Clone, Debug, PartialEq)]
pub struct ConformState {
    pub spec: State,
    pub divergence: Option<Arc<Mismatch>>,
}

impl Hash for ConformState {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.spec.hash(h);
        self.divergence.is_some().hash(h);
    }
}

fn representative(s: &ConformState) -> ConformState {
    ConformState {
        spec: s.spec.representative(),
        divergence: s.divergence.clone(),
    }
}

fn orbit_key(s: &ConformState) -> u64 {
    raft_spec::symmetry::orbit_key(&s.spec) ^ u64::from(s.divergence.is_some())
}

type Key = (u8, bool, ServerState);

/// The actions a server took since it was fresh (newest first).
struct Derivation {
    action: Action,
    before: Option<Arc<Derivation>>,
}

/// An implementation server and how it was reached.
struct Reached {
    server: MemNode,
    path: Option<Arc<Derivation>>,
}

/// The product of the model and the implementation (see the module docs).
pub struct ConformModel {
    pub model: RaftModel,
    server: RaftServer,
    perturbation: Option<Perturbation>,
    impls: DashMap<Key, Arc<Reached>>,
    checked: AtomicU64,
}

impl ConformModel {
    /// Builds the product and checks the initial states: a fresh node must
    /// abstract to the model's initial server state.
    pub fn new(cfg: Config, perturbation: Option<Perturbation>) -> Result<Self> {
        let model = RaftModel::new(cfg.clone())?;
        let cm = ConformModel {
            server: RaftServer { cfg: cfg.clone() },
            model,
            perturbation,
            impls: DashMap::new(),
            checked: AtomicU64::new(0),
        };
        for init in cm.model.init_states() {
            for (i, s) in init.actor_states.iter().enumerate() {
                let id = ServerId(i as u8);
                let fresh = fresh_server(&cfg, id).map_err(Error::Abstraction)?;
                let node = fresh.node().expect("a fresh node runs");
                let abs = abstract_state(node, cfg.servers).map_err(Error::Abstraction)?;
                if let Some(m) = compare_server(id, s, &abs, cfg.servers) {
                    return Err(Error::FreshNode {
                        field: m.field,
                        model: m.model,
                        implementation: m.implementation,
                    });
                }
                cm.impls.insert(
                    (i as u8, init.crashed[i], **s),
                    Arc::new(Reached {
                        server: fresh,
                        path: None,
                    }),
                );
            }
        }
        Ok(cm)
    }

    pub fn cfg(&self) -> &Config {
        &self.model.cfg
    }

    /// Transitions checked on the implementation so far.
    pub fn checked(&self) -> u64 {
        self.checked.load(Ordering::Relaxed)
    }

    /// Distinct implementation servers kept (one per server and state).
    pub fn impl_states(&self) -> usize {
        self.impls.len()
    }

    /// Takes `action` on the implementation and compares.
    fn check(&self, last: &State, action: &Action, next: &State) -> Result<(), Mismatch> {
        let Some(s) = acting_server(action) else {
            // A network drop: no server acts, nothing is sent.
            return Ok(());
        };
        let i = s.0 as usize;
        let key = (s.0, last.crashed[i], *last.actor_states[i]);
        let before = match self.impls.get(&key).map(|r| Arc::clone(&r)) {
            Some(r) => r,
            None => self.renamed(&key)?,
        };
        let step = impl_step(self.cfg(), action, &before.server, self.perturbation)?;
        let sent = model_sent(&self.server, last, action);
        if let Some(m) = compare_step(self.cfg(), next, Some(s), &step, &sent) {
            return Err(m);
        }
        if let Some(after) = step.server {
            self.impls
                .entry((s.0, next.crashed[i], *next.actor_states[i]))
                .or_insert_with(|| {
                    Arc::new(Reached {
                        server: after,
                        path: Some(Arc::new(Derivation {
                            action: action.clone(),
                            before: before.path.clone(),
                        })),
                    })
                });
        }
        Ok(())
    }

    /// An implementation server for `key` that symmetry reached only under
    /// another name: the actions that led to the renamed one, renamed back,
    /// replayed on a fresh node.
    fn renamed(&self, key: &Key) -> Result<Arc<Reached>, Mismatch> {
        let (j, crashed, state) = key;
        let n = self.cfg().servers as usize;
        for perm in raft_spec::symmetry::permutations(n) {
            let targets: DenseNatMap<Id, usize> = perm.clone().into();
            let plan = RewritePlan::<Id, _>::from(targets);
            let other = (perm[*j as usize] as u8, *crashed, state.rewrite(&plan));
            let Some(found) = self.impls.get(&other).map(|r| Arc::clone(&r)) else {
                continue;
            };
            let mut inverse = vec![0; n];
            for (from, to) in perm.iter().enumerate() {
                inverse[*to] = from;
            }
            let back = |id: Id| Id::from(inverse[usize::from(id)]);
            let mut actions = Vec::new();
            let mut d = found.path.as_deref();
            while let Some(step) = d {
                actions.push(match &step.action {
                    ActorModelAction::Deliver { src, dst, msg } => ActorModelAction::Deliver {
                        src: back(*src),
                        dst: back(*dst),
                        msg: *msg,
                    },
                    ActorModelAction::Timeout(id, t) => ActorModelAction::Timeout(back(*id), *t),
                    ActorModelAction::Crash(id) => ActorModelAction::Crash(back(*id)),
                    ActorModelAction::Recover(id) => ActorModelAction::Recover(back(*id)),
                    other => other.clone(),
                });
                d = step.before.as_deref();
            }
            actions.reverse();
            let me = ServerId(*j);
            let mut server = fresh_server(self.cfg(), me).map_err(|e| Mismatch::harness(&e))?;
            let mut path = None;
            for a in actions {
                let step = impl_step(self.cfg(), &a, &server, self.perturbation)?;
                server = step
                    .server
                    .ok_or_else(|| Mismatch::harness("a replayed step lost its server"))?;
                path = Some(Arc::new(Derivation {
                    action: a,
                    before: path,
                }));
            }
            if let Some(node) = server.node() {
                let abs = abstract_state(node, n as u8)
                    .map_err(|e| Mismatch::new(format!("{me}.state"), "a model state", e))?;
                if let Some(m) = compare_server(me, state, &abs, n as u8) {
                    return Err(Mismatch {
                        field: format!(
                            "{} (symmetry: the same steps with servers renamed end elsewhere)",
                            m.field
                        ),
                        ..m
                    });
                }
            }
            let reached = Arc::new(Reached { server, path });
            self.impls.insert(*key, Arc::clone(&reached));
            return Ok(reached);
        }
        Err(Mismatch::harness(
            "no implementation node was reached in this server state under any renaming",
        ))
    }
}

impl StepInPlace for ConformModel {}

impl Model for ConformModel {
    type State = ConformState;
    type Action = Action;

    fn init_states(&self) -> Vec<ConformState> {
        self.model
            .init_states()
            .into_iter()
            .map(|spec| ConformState {
                spec,
                divergence: None,
            })
            .collect()
    }

    fn actions(&self, state: &ConformState, actions: &mut Vec<Action>) {
        if state.divergence.is_none() {
            self.model.actions(&state.spec, actions);
        }
    }

    fn next_state(&self, last: &ConformState, action: Action) -> Option<ConformState> {
        let next = self.model.next_state(&last.spec, action.clone())?;
        self.checked.fetch_add(1, Ordering::Relaxed);
        let divergence = self.check(&last.spec, &action, &next).err().map(Arc::new);
        Some(ConformState {
            spec: next,
            divergence,
        })
    }

    fn format_action(&self, action: &Action) -> String {
        RaftModel::describe_action(action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always(CONFORMS, |_, s: &ConformState| {
            s.divergence.is_none()
        })]
    }

    fn within_boundary(&self, state: &ConformState) -> bool {
        state.divergence.is_none() && self.model.within_boundary(&state.spec)
    }
}

/// How to run an exhaustive conformance check.
#[derive(Clone, Debug)]
pub struct ExhaustiveOptions {
    pub threads: usize,
    pub perturbation: Option<Perturbation>,
    pub timeout: Option<Duration>,
    pub show_progress: bool,
}

/// The figures of one exhaustive run.
#[derive(Clone, Debug, Serialize)]
pub struct ExhaustiveReport {
    pub config: Config,
    pub perturbation: Option<Perturbation>,
    pub threads: usize,
    /// Every state within the bounds was explored.
    pub complete: bool,
    pub unique_states: u64,
    /// Transitions of the model the exploration took (as `raftcheck check`
    /// counts them).
    pub model_transitions: u64,
    /// Transitions also taken by the implementation and compared.
    pub transitions_checked: u64,
    /// Distinct implementation servers (server, crashed, state) reached.
    pub implementation_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    pub divergence: Option<Divergence>,
}

impl ExhaustiveReport {
    pub fn ok(&self) -> bool {
        self.complete
            && self.divergence.is_none()
            && self.model_transitions == self.transitions_checked
    }
}

/// A finished run: the report and, on divergence, the shortest behaviour
/// that ends with the divergent step.
pub struct ExhaustiveRun {
    pub report: ExhaustiveReport,
    pub behaviour: Option<crate::behaviour::Behaviour>,
}

/// Runs the product exploration.
pub fn run(cfg: &Config, opts: &ExhaustiveOptions) -> Result<ExhaustiveRun> {
    let cm = ConformModel::new(cfg.clone(), opts.perturbation)?;
    let progress = Progress::default();
    let exploration = std::thread::scope(|scope| {
        if opts.show_progress {
            scope.spawn(|| raftcheck_engine::progress::report_until_done(&progress));
        }
        let e = engine::explore(
            &cm,
            &Options {
                threads: opts.threads,
                symmetry: Some(|s| Some(representative(s))),
                stop_when: StopWhen::AnyViolation,
                timeout: opts.timeout,
                memory_budget: None,
            },
            &progress,
        );
        progress.done.store(true, Ordering::Relaxed);
        e
    });
    let outcome = &exploration.outcome;
    // Counted before rebuilding a path (which takes steps again).
    let transitions_checked = cm.checked();
    let mut divergence = None;
    let mut behaviour = None;
    if let Some(d) = outcome.discoveries.get(CONFORMS) {
        let (init, steps) = exploration
            .path(
                &cm,
                Some(|s| Some(representative(s))),
                orbit_key,
                None,
                d.fingerprint,
            )
            .ok_or(Error::NoPath)?;
        let (action, last) = steps.last().expect("a divergence is after a step");
        let mismatch = last
            .divergence
            .as_deref()
            .cloned()
            .expect("the path ends in the divergent state");
        divergence = Some(Divergence {
            step: steps.len(),
            action: RaftModel::describe_action(action),
            mismatch,
            bug: cfg.bug,
        });
        behaviour = Some((
            init.spec,
            steps.into_iter().map(|(a, s)| (a, s.spec)).collect(),
        ));
    }
    let report = ExhaustiveReport {
        config: cfg.clone(),
        perturbation: opts.perturbation,
        threads: opts.threads,
        complete: outcome.complete,
        unique_states: outcome.unique,
        model_transitions: outcome.transitions,
        transitions_checked,
        implementation_states: cm.impl_states(),
        max_depth: outcome.max_depth,
        seconds: outcome.elapsed.as_secs_f64(),
        divergence,
    };
    Ok(ExhaustiveRun { report, behaviour })
}

/// The report as text.
pub fn render_text(r: &ExhaustiveReport) -> String {
    use crate::markup::grouped;
    let mut out = format!("raftcheck conform: {}\n", r.config.summary());
    if let Some(p) = r.perturbation {
        out.push_str(&format!(
            "perturbation planted in the harness: {}\n",
            serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "{} {} unique states, max depth {}, {} threads, {:.2} s\n",
        if r.divergence.is_some() {
            "stopped at the first divergence after"
        } else if r.complete {
            "explored all"
        } else {
            "stopped after"
        },
        grouped(r.unique_states),
        r.max_depth,
        r.threads,
        r.seconds
    ));
    out.push_str(&format!(
        "model transitions:    {}\ntransitions checked:  {} (on {} distinct implementation server states)\n",
        grouped(r.model_transitions),
        grouped(r.transitions_checked),
        grouped(r.implementation_states as u64)
    ));
    match &r.divergence {
        Some(d) => {
            out.push('\n');
            out.push_str(&d.to_string());
            out.push_str("\nresult: DIVERGED\n");
        }
        None if r.ok() => out.push_str(
            "\nresult: OK: the implementation took every transition of the model and never diverged\n",
        ),
        None => out.push_str("\nresult: INCOMPLETE: the run stopped before exhausting the bounds\n"),
    }
    out
}
