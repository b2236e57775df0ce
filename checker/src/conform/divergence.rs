//! What a divergence report says: the step, the action, the field that
//! differs, and the model's and the implementation's values.

use raft_spec::Bug;
use serde::Serialize;

/// One field where the implementation differs from the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `sN.field` for a server's state, `messages sent`, `sN.storage`, ...
    pub field: String,
    pub model: String,
    pub implementation: String,
}

impl Mismatch {
    pub fn new(
        field: impl Into<String>,
        model: impl Into<String>,
        implementation: impl Into<String>,
    ) -> Self {
        Mismatch {
            field: field.into(),
            model: model.into(),
            implementation: implementation.into(),
        }
    }

    /// The harness itself cannot map the step (a bug in the adapter).
    pub fn harness(reason: &str) -> Self {
        Mismatch::new("harness", "a step the adapter can map", reason)
    }
}

/// The first step where the implementation and the model disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// 1-based step number along the behaviour.
    pub step: usize,
    /// The action, as `raftcheck` prints actions.
    pub action: String,
    #[serde(flatten)]
    pub mismatch: Mismatch,
    /// The wrong rule switched on in the model, when this divergence is the
    /// implementation refusing it (replay sets it only at the step where the
    /// wrong rule fires; an earlier divergence is a conformance failure).
    pub bug: Option<Bug>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "divergence at step {}: {}", self.step, self.action)?;
        writeln!(f, "  field:          {}", self.mismatch.field)?;
        writeln!(f, "  model:          {}", self.mismatch.model)?;
        writeln!(f, "  implementation: {}", self.mismatch.implementation)?;
        if let Some(bug) = self.bug {
            let info = bug.info();
            writeln!(
                f,
                "  the implementation refuses bug `{}` ({}); it follows the correct rule: {}",
                info.name, info.description, info.correct_rule
            )?;
        }
        Ok(())
    }
}
