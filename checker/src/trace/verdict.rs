//! A trace's verdict, recomputed. The `property` and `outcome` stored in a
//! file are a claim: replaying the trace in the model says what the property
//! really is at every state, and a claim that disagrees is refused.

use serde::Serialize;
use stateright::{Expectation, Model};

use raft_spec::{RaftModel, State};

use super::{Outcome, ReplayError, Trace};
use crate::behaviour::Behaviour;

/// One property of the model, evaluated in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyVerdict {
    pub name: &'static str,
    /// `always` (safety) or `sometimes` (a state to reach).
    pub expectation: &'static str,
    pub holds: bool,
}

impl PropertyVerdict {
    /// An "always" property that fails here, or a "sometimes" one that holds:
    /// what a checker reports as a discovery.
    pub fn discovered(&self) -> bool {
        match self.expectation {
            "always" => !self.holds,
            _ => self.holds,
        }
    }

    /// What a person reads: "holds", "VIOLATED", "reached", "not reached".
    pub fn summary(&self) -> &'static str {
        match (self.expectation, self.holds) {
            ("always", true) => "holds",
            ("always", false) => "VIOLATED",
            (_, true) => "reached",
            (_, false) => "not reached",
        }
    }
}

fn expectation_name(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Sometimes => "sometimes",
        Expectation::Eventually => "eventually",
    }
}

/// Every property of `model` in `state`, in the model's order.
pub fn verdicts(model: &RaftModel, state: &State) -> Vec<PropertyVerdict> {
    model
        .properties()
        .into_iter()
        .map(|p| PropertyVerdict {
            name: p.name,
            expectation: expectation_name(&p.expectation),
            holds: (p.condition)(model, state),
        })
        .collect()
}

impl Trace {
    /// Replays the trace in the model of its own config (see
    /// [`Trace::to_behaviour`]) and recomputes its verdict (see
    /// [`Trace::check_verdict`]). What `show`, `replay` and `explore` use.
    pub fn replay(&self) -> Result<(RaftModel, Behaviour), ReplayError> {
        let model = RaftModel::new(self.config.clone())?;
        let behaviour = self.to_behaviour(&model)?;
        self.check_verdict(&model, &behaviour)?;
        Ok((model, behaviour))
    }

    /// Whether `property` names a property of `model`. Traces of random
    /// walks and of conformance divergences carry a label instead: the
    /// model has no verdict to recompute for them.
    pub fn has_model_property(&self, model: &RaftModel) -> bool {
        model.properties().iter().any(|p| p.name == self.property)
    }

    /// Checks the stored verdict against the model: a `violates` trace's
    /// "always" property must fail at its last step and not before, a
    /// `witnesses` trace's "sometimes" property must first hold at its last
    /// step. An error names the stored verdict and the recomputed one.
    pub fn check_verdict(
        &self,
        model: &RaftModel,
        behaviour: &Behaviour,
    ) -> Result<(), ReplayError> {
        let Some(p) = model
            .properties()
            .into_iter()
            .find(|p| p.name == self.property)
        else {
            return Ok(());
        };
        let last = behaviour.1.len();
        let name = &self.property;
        let stored = match self.outcome {
            Outcome::Violates => {
                format!("{name:?} is violated at its last step (step {last}) and not before")
            }
            Outcome::Witnesses => {
                format!("{name:?} first holds at its last step (step {last})")
            }
        };
        let always = matches!(p.expectation, Expectation::Always);
        let kind_mismatch = match (self.outcome, always) {
            (Outcome::Violates, false) => Some("violated"),
            (Outcome::Witnesses, true) => Some("witnessed"),
            _ => None,
        };
        if let Some(verb) = kind_mismatch {
            return Err(ReplayError::Verdict {
                stored,
                replayed: format!(
                    "{name:?} is an \"{}\" property, which a trace cannot have {verb}",
                    expectation_name(&p.expectation)
                ),
            });
        }
        let at = |k: usize| {
            if k == 0 {
                "in the initial state".to_string()
            } else {
                format!("at step {k}")
            }
        };
        let replayed = match (super::first_discovery(model, name, behaviour)?, always) {
            (Some(k), _) if k == last => return Ok(()),
            (Some(k), true) => format!("{name:?} is first violated {}", at(k)),
            (Some(k), false) => format!("{name:?} first holds {}", at(k)),
            (None, true) => format!("{name:?} holds in every state of the trace"),
            (None, false) => format!("{name:?} holds in no state of the trace"),
        };
        Err(ReplayError::Verdict { stored, replayed })
    }
}
