//! The replicated key-value state machine: commands carried in log entries
//! and their deterministic application.
//!
//! A command is the payload of a `Normal` entry (bincode of [`Command`]).
//! Every node applies committed entries in log order, so every node's
//! [`KvStore`] passes through the same states. Linearizable reads are
//! commands too (`Get` through the log): the answer is the state at the
//! read's position in the log.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::LogIndex;

/// A client operation, as replicated in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// Set `key` to `value` (or delete it if `None`) iff its current value
    /// equals `expected` (`None`: the key is absent).
    Cas {
        key: String,
        expected: Option<String>,
        value: Option<String>,
    },
    /// A linearizable read: answered when applied.
    Get {
        key: String,
    },
}

/// The result of applying a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Put {
        prev: Option<String>,
    },
    Delete {
        prev: Option<String>,
    },
    Cas {
        succeeded: bool,
        current: Option<String>,
    },
    Get {
        value: Option<String>,
    },
}

#[derive(Debug, Error)]
#[error("undecodable command in a log entry: {0}")]
pub struct DecodeError(String);

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("bincode into a Vec")
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
        bincode::deserialize(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

/// The in-memory store, rebuilt from the log on restart.
#[derive(Clone, Debug, Default)]
pub struct KvStore {
    data: HashMap<String, String>,
    applied: LogIndex,
}

impl KvStore {
    /// Apply the command at log position `index`.
    pub fn apply(&mut self, index: LogIndex, cmd: Command) -> CommandResult {
        self.applied = index;
        match cmd {
            Command::Put { key, value } => CommandResult::Put {
                prev: self.data.insert(key, value),
            },
            Command::Delete { key } => CommandResult::Delete {
                prev: self.data.remove(&key),
            },
            Command::Cas {
                key,
                expected,
                value,
            } => {
                let current = self.data.get(&key).cloned();
                if current == expected {
                    match value.clone() {
                        Some(v) => self.data.insert(key, v),
                        None => self.data.remove(&key),
                    };
                    CommandResult::Cas {
                        succeeded: true,
                        current: value,
                    }
                } else {
                    CommandResult::Cas {
                        succeeded: false,
                        current,
                    }
                }
            }
            Command::Get { key } => CommandResult::Get {
                value: self.data.get(&key).cloned(),
            },
        }
    }

    /// Record that a non-command entry (a leader's no-op) was applied.
    pub fn skip(&mut self, index: LogIndex) {
        self.applied = index;
    }

    /// A local (possibly stale) read.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key)
    }

    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_apply() {
        let mut kv = KvStore::default();
        let put = Command::Put {
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(Command::decode(&put.encode()).unwrap(), put);
        assert_eq!(kv.apply(1, put), CommandResult::Put { prev: None });
        let cas = |e: Option<&str>, v: Option<&str>| Command::Cas {
            key: "k".into(),
            expected: e.map(Into::into),
            value: v.map(Into::into),
        };
        assert_eq!(
            kv.apply(2, cas(Some("x"), Some("y"))),
            CommandResult::Cas {
                succeeded: false,
                current: Some("v".into())
            }
        );
        assert_eq!(
            kv.apply(3, cas(Some("v"), Some("w"))),
            CommandResult::Cas {
                succeeded: true,
                current: Some("w".into())
            }
        );
        assert_eq!(
            kv.apply(4, Command::Get { key: "k".into() }),
            CommandResult::Get {
                value: Some("w".into())
            }
        );
        assert_eq!(
            kv.apply(5, Command::Delete { key: "k".into() }),
            CommandResult::Delete {
                prev: Some("w".into())
            }
        );
        assert_eq!(
            kv.apply(6, cas(None, Some("n"))).clone(),
            CommandResult::Cas {
                succeeded: true,
                current: Some("n".into())
            }
        );
        assert_eq!(kv.applied(), 6);
        assert!(Command::decode(b"\xff\xff\xff\xff\xff").is_err());
    }
}
