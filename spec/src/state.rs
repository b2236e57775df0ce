//! The model's state, as stateright's actor model holds it: the servers,
//! the network and the ghost history. Its own module so that what reads a
//! state (the properties, rendering, the flat representation) need not
//! depend on the model that steps it.

use stateright::actor::ActorModelState;

use crate::ghost::Ghost;
use crate::server::RaftServer;

pub type State = ActorModelState<RaftServer, Ghost>;
