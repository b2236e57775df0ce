//! The replicated key-value state machine: commands carried in log entries
//! and their deterministic application.
//!
//! A command is the payload of a `Normal` entry (bincode of [`Command`]).
//! Every node applies committed entries in log order, so every node's
//! [`KvStore`] passes through the same states. Linearizable reads are
//! commands too (`Get` through the log): the answer is the state at the
//! read's position in the log.
//!
//! Writes may carry a client session ([`Command::Session`]), which makes
//! them exactly-once: see [`session`].

pub mod session;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use raft_core::LogIndex;
pub use session::{ClientId, SessionCheck, SessionLimits, Sessions};

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
    /// `command` (a write) as request `seq` of client `client`: applied at
    /// most once per (client, seq); a duplicate gets the first result.
    /// (The last variant, so logs written before sessions still decode.)
    Session {
        client: ClientId,
        seq: u64,
        command: Box<Command>,
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
    /// A session's request older than its last applied one: not applied.
    Stale {
        seq: u64,
        last_seq: u64,
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

/// The in-memory store (data and client sessions), rebuilt from the log on
/// restart.
#[derive(Clone, Debug, Default)]
pub struct KvStore {
    data: HashMap<String, String>,
    sessions: Sessions,
    applied: LogIndex,
}

impl KvStore {
    /// A store whose session table keeps at most `limits` (the default is
    /// [`SessionLimits::default`]; every node must use the same).
    pub fn with_session_limits(limits: SessionLimits) -> Self {
        KvStore {
            sessions: Sessions::new(limits),
            ..KvStore::default()
        }
    }

    /// Apply the command at log position `index`.
    pub fn apply(&mut self, index: LogIndex, cmd: Command) -> CommandResult {
        self.applied = index;
        self.execute(index, cmd)
    }

    fn execute(&mut self, index: LogIndex, cmd: Command) -> CommandResult {
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
            Command::Session {
                client,
                seq,
                command,
            } => match self.sessions.check(client, seq) {
                SessionCheck::New => {
                    let result = self.execute(index, *command);
                    self.sessions.record(client, seq, index, result.clone());
                    result
                }
                SessionCheck::Duplicate(result) => {
                    tracing::debug!(index, client, seq, "duplicate request: cached result");
                    result
                }
                SessionCheck::Stale { last_seq } => CommandResult::Stale { seq, last_seq },
            },
        }
    }

    /// The client session table.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
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

#[cfg(test)]
mod session_tests {
    use super::*;

    fn put(key: &str, value: &str) -> Command {
        Command::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn tagged(client: ClientId, seq: u64, command: Command) -> Command {
        Command::Session {
            client,
            seq,
            command: Box::new(command),
        }
    }

    fn get(kv: &mut KvStore, index: LogIndex, key: &str) -> Option<String> {
        match kv.apply(index, Command::Get { key: key.into() }) {
            CommandResult::Get { value } => value,
            other => panic!("a read answered {other:?}"),
        }
    }

    #[test]
    fn a_duplicate_write_gets_the_first_result_and_is_not_applied_again() {
        let mut kv = KvStore::default();
        assert_eq!(
            kv.apply(1, tagged(7, 1, put("k", "a"))),
            CommandResult::Put { prev: None }
        );
        // Another client's write lands between the first try and the retry.
        assert_eq!(
            kv.apply(2, put("k", "b")),
            CommandResult::Put {
                prev: Some("a".into())
            }
        );
        // The retry answers what the first try answered and leaves "b" alone.
        assert_eq!(
            kv.apply(3, tagged(7, 1, put("k", "a"))),
            CommandResult::Put { prev: None }
        );
        assert_eq!(get(&mut kv, 4, "k").as_deref(), Some("b"));
        // The client's next request is new.
        assert_eq!(
            kv.apply(5, tagged(7, 2, put("k", "c"))),
            CommandResult::Put {
                prev: Some("b".into())
            }
        );
        assert_eq!(kv.applied(), 5);
    }

    #[test]
    fn a_cas_that_succeeded_cannot_succeed_again_on_retry() {
        let mut kv = KvStore::default();
        let cas = Command::Cas {
            key: "k".into(),
            expected: None,
            value: Some("mine".into()),
        };
        let first = kv.apply(1, tagged(9, 1, cas.clone()));
        assert_eq!(
            first,
            CommandResult::Cas {
                succeeded: true,
                current: Some("mine".into())
            }
        );
        kv.apply(2, Command::Delete { key: "k".into() });
        // Without a session the same CAS would succeed again (the key is
        // absent); as a retry it answers the cached success and does nothing.
        assert_eq!(kv.apply(3, tagged(9, 1, cas)), first);
        assert_eq!(get(&mut kv, 4, "k"), None);
    }

    #[test]
    fn a_request_older_than_the_last_applied_one_is_refused() {
        let mut kv = KvStore::default();
        kv.apply(1, tagged(3, 1, put("k", "a")));
        kv.apply(2, tagged(3, 2, put("k", "b")));
        assert_eq!(
            kv.apply(3, tagged(3, 1, put("k", "a"))),
            CommandResult::Stale {
                seq: 1,
                last_seq: 2
            }
        );
        assert_eq!(get(&mut kv, 4, "k").as_deref(), Some("b"));
    }

    #[test]
    fn untagged_writes_are_applied_every_time() {
        let mut kv = KvStore::default();
        kv.apply(1, put("k", "a"));
        assert_eq!(
            kv.apply(2, put("k", "a")),
            CommandResult::Put {
                prev: Some("a".into())
            }
        );
        assert!(kv.sessions().is_empty());
    }

    #[test]
    fn eviction_drops_the_session_written_longest_ago_in_the_log() {
        let limits = SessionLimits {
            max_sessions: 2,
            max_result_bytes: 1 << 20,
        };
        let mut kv = KvStore::with_session_limits(limits);
        kv.apply(1, tagged(1, 1, put("a", "1")));
        kv.apply(2, tagged(2, 1, put("b", "1")));
        kv.apply(3, tagged(1, 2, put("a", "2"))); // client 1 is now the newer
        kv.apply(4, tagged(3, 1, put("c", "1"))); // evicts client 2
        let s = kv.sessions();
        assert_eq!(s.len(), 2);
        assert!(s.contains(1) && s.contains(3) && !s.contains(2));
        // An evicted client's retry is applied again (the documented limit).
        assert_eq!(
            kv.apply(5, tagged(2, 1, put("b", "again"))),
            CommandResult::Put {
                prev: Some("1".into())
            }
        );
        assert!(!kv.sessions().contains(1), "client 1 was oldest now");
    }

    #[test]
    fn the_byte_budget_bounds_cached_results() {
        let limits = SessionLimits {
            max_sessions: 100,
            max_result_bytes: 10,
        };
        let mut kv = KvStore::with_session_limits(limits);
        kv.apply(1, put("k", "0123456789"));
        // This result caches prev = 10 bytes: within budget.
        kv.apply(2, tagged(1, 1, put("k", "abcdefgh")));
        assert!(kv.sessions().contains(1));
        // 10 + 8 bytes: the oldest session goes.
        kv.apply(3, tagged(2, 1, put("k", "x")));
        assert!(!kv.sessions().contains(1) && kv.sessions().contains(2));
    }

    /// Nodes apply the same log, so they must end with the same sessions
    /// and give the same answers, evictions included.
    #[test]
    fn replaying_a_log_gives_every_node_the_same_answers_and_sessions() {
        let limits = SessionLimits {
            max_sessions: 5,
            max_result_bytes: 64,
        };
        let mut rng = fastrand::Rng::with_seed(42);
        let log: Vec<Command> = (0..2000)
            .map(|i| {
                let key = format!("k{}", rng.u8(0..4));
                let write = match rng.u8(0..3) {
                    0 => put(&key, &format!("v{i}")),
                    1 => Command::Delete { key },
                    _ => Command::Cas {
                        key,
                        expected: None,
                        value: Some(format!("v{i}")),
                    },
                };
                match rng.u8(0..4) {
                    0 => write,
                    _ => tagged(rng.u64(0..12), rng.u64(0..6), write),
                }
            })
            .collect();
        let run = || {
            let mut kv = KvStore::with_session_limits(limits);
            let answers: Vec<CommandResult> = log
                .iter()
                .enumerate()
                .map(|(i, c)| kv.apply(i as LogIndex + 1, c.clone()))
                .collect();
            let sessions: Vec<ClientId> = (0..12).filter(|c| kv.sessions().contains(*c)).collect();
            (answers, sessions)
        };
        let (a, sa) = run();
        let (b, sb) = run();
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert!(sa.len() <= 5);
        assert!(a.iter().any(|r| matches!(r, CommandResult::Stale { .. })));
    }

    #[test]
    fn logs_written_before_sessions_still_decode() {
        // bincode of `Put { key: "k", value: "v" }`: variant 0, then two
        // length-prefixed strings. Adding `Session` last must not move it.
        let old = [
            0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'k', 1, 0, 0, 0, 0, 0, 0, 0, b'v',
        ];
        assert_eq!(Command::decode(&old).unwrap(), put("k", "v"));
        let t = tagged(1, 2, put("k", "v"));
        assert_eq!(Command::decode(&t.encode()).unwrap(), t);
    }
}
