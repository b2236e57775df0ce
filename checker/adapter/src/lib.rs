//! The contract between raftcheck and a Raft implementation under test.
//!
//! An implementation is checked against the model by driving its nodes with
//! the model's inputs and comparing what they show with what the model
//! does. [`Implementation`] is all raftcheck needs for that:
//!
//! - create a node ([`Implementation::fresh`]), step it with one model
//!   input ([`Implementation::step`]: deliver one of the messages it sent,
//!   fire a timer, propose a value), crash it (volatile state lost, durable
//!   storage kept) and recover it from that storage;
//! - show a node as the model's server state and its storage as the
//!   model's durable state (the *abstraction function*), and each message
//!   it sent as the model's message (its *image*);
//! - fingerprint a node's whole state, hidden state included, so that the
//!   exhaustive mode never merges two nodes that may still behave
//!   differently; and fingerprint a message.
//!
//! No `Clone` is required: the harness rebuilds a node by replaying the
//! inputs that derived it on a fresh node. An implementation that can copy
//! a node cheaply offers [`Implementation::snapshot`], which saves those
//! replays.
//!
//! The network carries the implementation's own messages: the harness only
//! ever delivers a message some node sent, exactly as it was sent. Their
//! images are what is compared with the model's.
//!
//! Implementations must be deterministic: the same inputs from the same
//! state give the same state and messages (a sans-IO core is; a node that
//! reads a clock or a random generator must take them from the adapter).

use std::fmt;
use std::hash::Hash;

pub use raft_spec::message::Msg;
pub use raft_spec::server::{Durable, ServerState};
pub use raft_spec::types::{ServerId, Value};
pub use raft_spec::variant::Variant;
pub use raft_spec::Config;

/// A message a server sent, in the model's vocabulary.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Sent {
    pub from: ServerId,
    pub to: ServerId,
    pub msg: Msg,
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} {}", self.from, self.to, self.msg)
    }
}

/// One model input to a running node.
#[derive(Debug)]
pub enum Input<'a, M> {
    /// The network delivers a message that a node of this cluster sent
    /// (exactly as the implementation released it).
    Deliver(&'a M),
    /// The election timer fires: a follower or candidate starts an
    /// election.
    ElectionTimeout,
    /// The heartbeat timer fires: a leader replicates to every peer.
    HeartbeatTimeout,
    /// A client proposes a value (the model proposes only to leaders).
    Propose(Value),
}

/// Why a node could not take an input or show its state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The implementation refused an input the model accepts: a proposal
    /// its leader turned down, a restart from its own storage that failed.
    /// A divergence, not a harness fault.
    #[error("{input} refused: {reason}")]
    Refused { input: String, reason: String },
    /// A state, storage or message with no form in the model (a term or
    /// index beyond the model's range, an entry payload that is no model
    /// value, an unknown node id). A divergence.
    #[error("{what} has no model form: {reason}")]
    Unrepresentable { what: String, reason: String },
    /// The adapter cannot map the input at all (stepping a node that is
    /// down, a message type it does not know): a bug in the adapter.
    #[error("adapter: {0}")]
    Adapter(String),
}

impl AdapterError {
    pub fn refused(input: impl Into<String>, reason: impl fmt::Display) -> Self {
        AdapterError::Refused {
            input: input.into(),
            reason: reason.to_string(),
        }
    }

    pub fn unrepresentable(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        AdapterError::Unrepresentable {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub fn adapter(reason: impl fmt::Display) -> Self {
        AdapterError::Adapter(reason.to_string())
    }
}

/// A field of the comparison an adapter may switch off, where the
/// implementation's design differs from the one the model fixes. Each is
/// named for what it stops seeing; reports list the ones in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loosening {
    /// A leader's `next_index` is not compared (an implementation that
    /// advances it optimistically as it sends, or probes differently).
    NextIndex,
    /// A leader's `match_index` is not compared.
    MatchIndex,
    /// A candidate's granted votes are not compared.
    VotesGranted,
    /// The commit index is not compared (an implementation that learns the
    /// leader's commit index by other messages, or later).
    CommitIndex,
    /// A candidate shown as a follower of the same term that still votes
    /// for itself is compared as the model's candidate (role and granted
    /// votes not compared): an implementation whose candidate steps down
    /// once a majority refuses it, where the model's stays a candidate
    /// that can no longer win.
    RefusedCandidate,
    /// The messages a step sends are not compared with the model's: the
    /// model's network takes what the implementation sent instead (their
    /// images are still delivered to the model, so every later state is
    /// still compared).
    MessagesSent,
}

impl Loosening {
    pub const ALL: [Loosening; 6] = [
        Loosening::NextIndex,
        Loosening::MatchIndex,
        Loosening::VotesGranted,
        Loosening::CommitIndex,
        Loosening::RefusedCandidate,
        Loosening::MessagesSent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Loosening::NextIndex => "next-index",
            Loosening::MatchIndex => "match-index",
            Loosening::VotesGranted => "votes-granted",
            Loosening::CommitIndex => "commit-index",
            Loosening::RefusedCandidate => "refused-candidate",
            Loosening::MessagesSent => "messages-sent",
        }
    }
}

impl fmt::Display for Loosening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Loosening {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Loosening::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Loosening::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown loosening {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A Raft implementation under test. See the crate docs.
///
/// Model server `ServerId(i)` of a cluster of `cfg.servers` is one node of
/// the implementation; which id the implementation gives it is the
/// adapter's choice (the images must name model servers).
pub trait Implementation: Sync {
    /// One server: a running node with its storage, or the storage a
    /// crashed node left.
    type Node: Send;
    /// A message as the implementation sends and receives it.
    type Message: Clone + fmt::Debug + Send + Sync;

    /// The implementation's name in reports ("raft-core", "raft-rs").
    fn name(&self) -> &str;

    /// Whether the adapter can run nodes of `variant` (see
    /// [`raft_spec::variant`]): `Err` says why not, and the harness refuses
    /// the run before it starts. The default accepts every variant.
    fn supports(&self, _variant: &Variant) -> Result<(), String> {
        Ok(())
    }

    /// The comparisons this adapter switches off when checked against the
    /// model `cfg` (its variant, mostly), and why (shown in every report).
    /// Empty: everything the model fixes is compared.
    fn loosenings(&self, _cfg: &Config) -> Vec<(Loosening, &'static str)> {
        Vec::new()
    }

    /// A brand-new server `id` of the cluster `cfg`, with empty storage.
    fn fresh(&self, cfg: &Config, id: ServerId) -> Result<Self::Node, AdapterError>;

    /// Takes one input on a running node: the node's new state is
    /// persisted as the implementation's persistence contract requires
    /// before the messages it releases are returned.
    fn step(
        &self,
        node: &mut Self::Node,
        input: Input<'_, Self::Message>,
    ) -> Result<Vec<Self::Message>, AdapterError>;

    /// The node crashes: its volatile state is lost, its durable storage
    /// (what its acknowledged writes left) is kept.
    fn crash(&self, node: &mut Self::Node);

    /// A crashed node restarts from its durable storage.
    fn recover(&self, node: &mut Self::Node) -> Result<(), AdapterError>;

    /// The abstraction function: a running node as the model's server
    /// state, or `None` for a crashed one. The model's ghost fields
    /// (`restarts`, `vote_responses`, `out_of_range`) are left 0 (false):
    /// they are never compared.
    fn state(&self, node: &Self::Node) -> Result<Option<ServerState>, AdapterError>;

    /// The node's durable storage as the model's (ghost `restarts` 0).
    fn storage(&self, node: &Self::Node) -> Result<Durable, AdapterError>;

    /// A message the implementation sent, as the model `cfg`'s (whose
    /// variant decides which fields its messages have).
    fn model_message(&self, cfg: &Config, m: &Self::Message) -> Result<Sent, AdapterError>;

    /// A fingerprint of the node's whole state: everything that can change
    /// what a later input does (hidden state included: refusal tallies,
    /// probe state, a known leader, storage). Two nodes with the same
    /// fingerprint must behave the same from then on. Use [`fingerprint`].
    fn fingerprint(&self, node: &Self::Node) -> u64;

    /// A fingerprint of a message, of everything in it (not only what its
    /// image shows): two messages that may make a node behave differently
    /// must have different fingerprints. Hash the whole message (its wire
    /// encoding, say).
    fn message_fingerprint(&self, m: &Self::Message) -> u64;

    /// A divergence that is a known design difference of this
    /// implementation (safe, and not expressible in the model), by name:
    /// `conform --past-known` stops exploring there instead of stopping
    /// the run. Given the model's config, the divergence's field, the
    /// model's and the implementation's values, and the action as
    /// raftcheck prints it. `None` (the default): every divergence stops
    /// the run.
    fn known_difference(
        &self,
        _cfg: &Config,
        _field: &str,
        _model: &str,
        _implementation: &str,
        _action: &str,
    ) -> Option<&'static str> {
        None
    }

    /// A copy of the node, if the implementation can make one; `None`
    /// makes the harness rebuild it from its inputs.
    fn snapshot(&self, _node: &Self::Node) -> Option<Self::Node> {
        None
    }
}

/// A number as the model's (its terms and indices are bytes), or why not:
/// `what` names it in the error.
pub fn small(n: u64, what: &str) -> Result<u8, String> {
    u8::try_from(n).map_err(|_| format!("{what} {n} is beyond the model's range"))
}

/// Entries as the model's log: `(index, term, value)` in order, the first
/// at `first_index`; they must be contiguous and fit the model's capacity.
/// An entry whose value has no model form is its `Err`.
pub fn model_log(
    entries: impl ExactSizeIterator<Item = Result<(u64, u64, Value), String>>,
    first_index: u64,
) -> Result<raft_spec::types::Log, String> {
    use raft_spec::types::{Entry, Log, LOG_CAPACITY};
    if entries.len() > LOG_CAPACITY {
        return Err(format!(
            "{} entries exceed the model's log capacity {LOG_CAPACITY}",
            entries.len()
        ));
    }
    let mut log = Log::default();
    for (k, e) in entries.enumerate() {
        let (index, term, value) = e?;
        let want = first_index + k as u64;
        if index != want {
            return Err(format!("entry at position {want} has index {index}"));
        }
        log.push(Entry {
            term: small(term, "entry term")?,
            value,
        });
    }
    Ok(log)
}

/// The harness's fingerprint of any hashable value: 64 bits, fixed seeds
/// (the same in every run and on every platform of one build).
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    ahash::RandomState::with_seeds(0x5241_4654, 0x4348_4543, 0x4b5f_4144, 0x4150_5445)
        .hash_one(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loosenings_parse_by_name() {
        for l in Loosening::ALL {
            assert_eq!(l.name().parse::<Loosening>(), Ok(l));
        }
        let err = "next".parse::<Loosening>().unwrap_err();
        assert!(err.contains("next-index"), "{err}");
    }

    #[test]
    fn fingerprints_tell_values_apart() {
        assert_eq!(fingerprint(&(1u8, 2u64)), fingerprint(&(1u8, 2u64)));
        assert_ne!(fingerprint(&(1u8, 2u64)), fingerprint(&(2u8, 1u64)));
    }
}
