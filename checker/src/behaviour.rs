//! What a check and a trace share: a behaviour of the model.

use raft_spec::{Action, State};

/// A behaviour: the initial state, then each action with the state after it.
pub type Behaviour = raftcheck_engine::Behaviour<State, Action>;
