//! Replay: a trace file drives fresh implementation nodes, through their
//! adapter, step by step ([`Cluster`]).
//!
//! The trace is first re-validated against the model of its own config
//! (`Trace::to_behaviour`): every recorded state and send must be what the
//! model produces. Then each step's action is taken on the implementation
//! and compared with the model's step. For a trace of a catalogued bug the
//! model runs the wrong rule, and the implementation must refuse it: it
//! diverges exactly at the step where the wrong rule fires, which is the
//! first step where the correct rule, from the same state, does something
//! else.

use std::path::{Path, PathBuf};

use serde::Serialize;
use stateright::Model;

use raft_spec::server::RaftServer;
use raft_spec::{Bug, Config, RaftModel};
use raftcheck_adapter::{Implementation, Loosening};

use super::Loosen;

use super::cluster::Cluster;
use super::divergence::{Divergence, Mismatch};
use crate::behaviour::Behaviour;
use crate::trace::{sent_by as model_sent, Outcome, Trace};

/// The outcome of replaying one trace.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    pub implementation: String,
    /// Comparisons switched off.
    pub loosened: Vec<Loosening>,
    pub file: Option<PathBuf>,
    pub config: Config,
    pub bug: Option<Bug>,
    pub steps: usize,
    /// The first step where the implementation differs from the model.
    pub divergence: Option<Divergence>,
    /// For a bug trace: the first step where the correct rule, from the
    /// same model state, differs from the wrong one.
    pub wrong_rule_fires_at: Option<usize>,
}

impl ReplayReport {
    /// Correct Raft: no divergence. A bug trace: the implementation
    /// diverges exactly where the wrong rule fires.
    pub fn ok(&self) -> bool {
        match self.bug {
            None => self.divergence.is_none(),
            Some(_) => {
                self.wrong_rule_fires_at.is_some()
                    && self.divergence.as_ref().map(|d| d.step) == self.wrong_rule_fires_at
            }
        }
    }
}

/// Drives fresh implementation nodes along a behaviour of the model `cfg`.
/// Returns the first divergence, if any (step 0: the initial state), and
/// the messages the implementation did not send where the model did.
pub fn replay_behaviour<I: Implementation>(
    imp: &I,
    cfg: &Config,
    behaviour: &Behaviour,
    loosen: &Loosen,
) -> crate::error::Result<Option<Divergence>> {
    let (init, steps) = behaviour;
    let diverge = |step: usize, action: String, mismatch: Mismatch| {
        Some(Divergence {
            step,
            action,
            mismatch,
            bug: cfg.bug,
        })
    };
    super::check_supported(imp, cfg)?;
    let mut cluster = match Cluster::new(imp, cfg, init, loosen.names(imp, cfg)) {
        Ok(c) => c,
        Err(m) => return Ok(diverge(0, "initial state".into(), m)),
    };
    let mut last = init;
    for (k, (action, next)) in steps.iter().enumerate() {
        if let Err(m) = cluster.step(last, action, next) {
            return Ok(diverge(k + 1, RaftModel::describe_action(action), m));
        }
        last = next;
    }
    Ok(None)
}

/// The first step (1-based) where the correct rules, from the state the
/// buggy model reached, do something else than the wrong rule did.
pub fn wrong_rule_step(cfg: &Config, behaviour: &Behaviour) -> Option<usize> {
    cfg.bug?;
    let correct_cfg = Config {
        bug: None,
        ..cfg.clone()
    };
    let correct = RaftModel::new(correct_cfg.clone()).ok()?;
    let buggy_server = RaftServer { cfg: cfg.clone() };
    let correct_server = RaftServer { cfg: correct_cfg };
    let (init, steps) = behaviour;
    let mut last = init;
    for (k, (action, next)) in steps.iter().enumerate() {
        let differs = match correct.next_state(last, action.clone()) {
            None => true,
            Some(c) => {
                c.actor_states != next.actor_states
                    || c.actor_storages != next.actor_storages
                    || c.crashed != next.crashed
                    || model_sent(&correct_server, last, action)
                        != model_sent(&buggy_server, last, action)
            }
        };
        if differs {
            return Some(k + 1);
        }
        last = next;
    }
    None
}

/// Replays a loaded trace.
pub fn replay_trace<I: Implementation>(
    imp: &I,
    trace: &Trace,
    file: Option<&Path>,
    loosen: &Loosen,
) -> crate::error::Result<ReplayReport> {
    let (_, behaviour) = trace
        .replay()
        .map_err(|error| crate::error::Error::NotABehaviour {
            file: file.map_or("trace".into(), |p| p.display().to_string()),
            error,
        })?;
    let mut divergence = replay_behaviour(imp, &trace.config, &behaviour, loosen)?;
    let wrong_rule_fires_at = wrong_rule_step(&trace.config, &behaviour);
    if let Some(d) = &mut divergence {
        // Only a divergence where the wrong rule fires is its refusal; any
        // other is the implementation failing to follow the model.
        if Some(d.step) != wrong_rule_fires_at {
            d.bug = None;
        }
    }
    Ok(ReplayReport {
        implementation: imp.name().to_string(),
        loosened: loosen.names(imp, &trace.config),
        file: file.map(Path::to_path_buf),
        config: trace.config.clone(),
        bug: trace.config.bug,
        steps: behaviour.1.len(),
        divergence,
        wrong_rule_fires_at,
    })
}

/// The report as JSON, with `ok` (what the command's exit code says).
pub fn to_json(r: &ReplayReport) -> serde_json::Value {
    let mut value = serde_json::to_value(r).expect("a replay report always serializes");
    value["ok"] = r.ok().into();
    value
}

/// The result line: what the replay shows, in words that match `ok()`.
fn result_line(r: &ReplayReport) -> String {
    let diverged_at = r.divergence.as_ref().map(|d| d.step);
    match (r.bug, r.wrong_rule_fires_at, diverged_at) {
        (None, _, None) => "result: OK: conforms".into(),
        (None, _, Some(k)) => format!("result: DIVERGED at step {k}"),
        (Some(_), Some(at), Some(k)) if k == at => {
            "result: OK: the implementation refuses the wrong rule at the step where it fires"
                .into()
        }
        (Some(bug), Some(at), Some(k)) if k < at => format!(
            "result: DIVERGED at step {k}, before the wrong rule `{bug}` fires (step {at}): \
             a conformance failure, not the refusal of the wrong rule"
        ),
        (Some(bug), Some(at), Some(k)) => format!(
            "result: DIVERGED at step {k}: the implementation took the wrong rule `{bug}` at step {at}"
        ),
        (Some(bug), Some(at), None) => format!(
            "result: FAILED: the implementation took the wrong rule `{bug}` at step {at} instead of refusing it"
        ),
        (Some(bug), None, Some(k)) => format!(
            "result: DIVERGED at step {k}: a conformance failure (the wrong rule `{bug}` never fires along this trace)"
        ),
        (Some(bug), None, None) => format!(
            "result: FAILED: the wrong rule `{bug}` never fires along this trace, so it cannot show the implementation refuses it"
        ),
    }
}

/// The report as text.
pub fn render_text(r: &ReplayReport) -> String {
    let name = r
        .file
        .as_ref()
        .map_or("trace".to_string(), |p| p.display().to_string());
    let mut out = format!(
        "replay {name}: {} steps on {}; {}\n",
        r.steps,
        r.implementation,
        r.config.summary()
    );
    if !r.loosened.is_empty() {
        let names: Vec<_> = r.loosened.iter().map(|l| l.name()).collect();
        out.push_str(&format!(
            "  loosened (not compared): {}\n",
            names.join(", ")
        ));
    }
    match &r.divergence {
        None => out.push_str(&format!(
            "  the implementation took all {} steps and never diverged\n",
            r.steps
        )),
        Some(d) => {
            for line in d.to_string().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    if let (Some(bug), Some(at)) = (r.bug, r.wrong_rule_fires_at) {
        out.push_str(&format!(
            "  the wrong rule `{bug}` fires at step {at} (the correct rule does something else there)\n"
        ));
    }
    out.push_str(&format!("  {}\n", result_line(r)));
    out
}

/// Saves a behaviour ending in a divergence as a trace file.
pub fn save_behaviour(
    path: &Path,
    cfg: &Config,
    behaviour: &Behaviour,
    _divergence: &Divergence,
) -> crate::error::Result<()> {
    let trace = Trace::from_behaviour(
        cfg,
        cfg.bug,
        super::product::CONFORMS,
        Outcome::Violates,
        behaviour,
    )?;
    crate::files::write(path, trace.to_json())
}
