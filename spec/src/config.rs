//! Every bound of the model in one type, with named profiles and validation.

use serde::{Deserialize, Serialize};

use crate::bug::Bug;
use crate::types::{LOG_CAPACITY, MAX_IN_FLIGHT_BOUND, MAX_SERVERS, MAX_TERM_BOUND};

/// What the network may do to a message besides delivering it in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// Reorders, never loses or duplicates.
    Reordering,
    /// Reorders and loses messages.
    Lossy,
    /// Reorders, loses, and may deliver any message again any number of times.
    LossyDuplicating,
}

impl NetworkKind {
    pub const ALL: [NetworkKind; 3] = [
        NetworkKind::Reordering,
        NetworkKind::Lossy,
        NetworkKind::LossyDuplicating,
    ];

    pub fn is_lossy(self) -> bool {
        !matches!(self, NetworkKind::Reordering)
    }

    pub fn is_duplicating(self) -> bool {
        matches!(self, NetworkKind::LossyDuplicating)
    }

    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Reordering => "reordering",
            NetworkKind::Lossy => "lossy",
            NetworkKind::LossyDuplicating => "lossy-duplicating",
        }
    }
}

impl std::str::FromStr for NetworkKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ConfigError::UnknownNetwork(s.to_string()))
    }
}

impl std::fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bounds of one model check. Bounds make the state space finite; a
/// property proven here holds for every behaviour within them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// Number of Raft servers.
    pub servers: u8,
    /// No server starts an election past this term.
    pub max_term: u8,
    /// No log grows past this length (a leader stops taking proposals; states
    /// where a new leader's no-op would exceed it are not explored).
    pub max_log_len: u8,
    /// Most entries one AppendEntries carries (a production leader batches
    /// up to a limit; a limit below the log length exposes more behaviours).
    pub max_batch: u8,
    /// Client proposals carry values 1..=values; 0 means no client proposals
    /// (leaders replicate only their no-op entries).
    pub values: u8,
    /// Crashes allowed over a whole behaviour (each crash may be followed by a
    /// recovery from durable state).
    pub max_crashes: u8,
    /// Most messages in flight at once; states beyond it are not explored.
    pub max_in_flight: u8,
    /// What the network may do.
    pub network: NetworkKind,
    /// A wrong rule to switch on (see the bug catalogue), or none for Raft.
    pub bug: Option<Bug>,
}

/// A named set of bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Seconds: for tests and a first look.
    Quick,
    /// The CI gate: crash-recovery and a lossy network, minutes on 2 cores.
    Ci,
    /// Larger bounds for a scheduled run.
    Deep,
    /// The gate's model check: `ci` with a third term (counterexamples that
    /// need three leaderships).
    CiTerm3,
    /// The gate's model check: a third log entry, with a crash (in flight 2,
    /// as `quick`, to stay small).
    CiLog3,
    /// The gate's conformance: `quick` with a third term.
    QuickTerm3,
    /// The gate's conformance: `quick` with a third log entry.
    QuickLog3,
}

impl Profile {
    pub const ALL: [Profile; 7] = [
        Profile::Quick,
        Profile::Ci,
        Profile::Deep,
        Profile::CiTerm3,
        Profile::CiLog3,
        Profile::QuickTerm3,
        Profile::QuickLog3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Ci => "ci",
            Profile::Deep => "deep",
            Profile::CiTerm3 => "ci-term3",
            Profile::CiLog3 => "ci-log3",
            Profile::QuickTerm3 => "quick-term3",
            Profile::QuickLog3 => "quick-log3",
        }
    }

    pub fn config(self) -> Config {
        match self {
            Profile::Quick => Config {
                servers: 3,
                max_term: 2,
                max_log_len: 2,
                max_batch: 1,
                values: 1,
                max_crashes: 0,
                max_in_flight: 2,
                network: NetworkKind::Lossy,
                bug: None,
            },
            Profile::Ci => Config {
                servers: 3,
                max_term: 2,
                max_log_len: 2,
                max_batch: 1,
                values: 1,
                max_crashes: 1,
                max_in_flight: 3,
                network: NetworkKind::Lossy,
                bug: None,
            },
            Profile::Deep => Config {
                servers: 3,
                max_term: 3,
                max_log_len: 3,
                max_batch: 2,
                values: 1,
                max_crashes: 1,
                max_in_flight: 3,
                network: NetworkKind::Lossy,
                bug: None,
            },
            Profile::CiTerm3 => Config {
                max_term: 3,
                ..Profile::Ci.config()
            },
            Profile::CiLog3 => Config {
                max_log_len: 3,
                max_crashes: 1,
                ..Profile::Quick.config()
            },
            Profile::QuickTerm3 => Config {
                max_term: 3,
                ..Profile::Quick.config()
            },
            Profile::QuickLog3 => Config {
                max_log_len: 3,
                ..Profile::Quick.config()
            },
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ConfigError::UnknownProfile(s.to_string()))
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a config cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("servers must be between 1 and {MAX_SERVERS}, got {0}")]
    Servers(u8),
    #[error("max term must be between 1 and {MAX_TERM_BOUND}, got {0} (with max term 0 no election can happen)")]
    MaxTerm(u8),
    #[error("max log length must be between 1 and {max}, got {0}", max = LOG_CAPACITY - 1)]
    MaxLogLen(u8),
    #[error("max batch must be at least 1 (AppendEntries could carry no entry), got 0")]
    Batch,
    #[error("values must be between 0 and 6, got {0}")]
    Values(u8),
    #[error("max crashes ({crashes}) cannot exceed the number of servers ({servers})")]
    Crashes { crashes: u8, servers: u8 },
    #[error("max in flight must be between 1 and {MAX_IN_FLIGHT_BOUND}, got {0} (0: no message could ever be sent)")]
    InFlight(u8),
    #[error("unknown profile {0:?}: expected one of quick, ci, deep, ci-term3, ci-log3, quick-term3, quick-log3")]
    UnknownProfile(String),
    #[error("unknown network {0:?}: expected one of reordering, lossy, lossy-duplicating")]
    UnknownNetwork(String),
}

impl Config {
    /// Checks that the bounds describe a model that can be built and explored.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.servers == 0 || self.servers as usize > MAX_SERVERS {
            return Err(ConfigError::Servers(self.servers));
        }
        if self.max_term == 0 || self.max_term > MAX_TERM_BOUND {
            return Err(ConfigError::MaxTerm(self.max_term));
        }
        if self.max_log_len == 0 || self.max_log_len as usize >= LOG_CAPACITY {
            return Err(ConfigError::MaxLogLen(self.max_log_len));
        }
        if self.max_batch == 0 {
            return Err(ConfigError::Batch);
        }
        if self.values > 6 {
            return Err(ConfigError::Values(self.values));
        }
        if self.max_crashes > self.servers {
            return Err(ConfigError::Crashes {
                crashes: self.max_crashes,
                servers: self.servers,
            });
        }
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT_BOUND {
            return Err(ConfigError::InFlight(self.max_in_flight));
        }
        Ok(())
    }

    /// Votes needed to win an election; replicas needed to commit.
    pub fn majority(&self) -> usize {
        self.servers as usize / 2 + 1
    }

    /// Whether a wrong rule is switched on.
    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// A one-line summary of the bounds, for reports.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "servers={} max-term={} max-log={} batch={} values={} crashes={} in-flight={} network={}",
            self.servers,
            self.max_term,
            self.max_log_len,
            self.max_batch,
            self.values,
            self.max_crashes,
            self.max_in_flight,
            self.network
        );
        if let Some(bug) = self.bug {
            s.push_str(&format!(" bug={}", bug.name()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_valid() {
        for p in Profile::ALL {
            p.config().validate().unwrap();
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
    }

    /// No client values is a bound, not an error: leaders still append
    /// no-ops, so elections, replication and commits all happen.
    #[test]
    fn no_client_values_is_valid() {
        Config {
            values: 0,
            ..Profile::Quick.config()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn impossible_bounds_are_refused_with_a_reason() {
        let base = Profile::Quick.config();
        let cases = [
            (
                Config {
                    servers: 0,
                    ..base.clone()
                },
                "servers must be between 1 and 5, got 0",
            ),
            (
                Config {
                    max_term: 0,
                    ..base.clone()
                },
                "max term must be between 1 and 7, got 0",
            ),
            (
                Config {
                    max_crashes: 4,
                    ..base.clone()
                },
                "max crashes (4) cannot exceed the number of servers (3)",
            ),
            (
                Config {
                    max_log_len: 9,
                    ..base.clone()
                },
                "max log length must be between 1 and 6, got 9",
            ),
            (
                Config {
                    max_in_flight: 0,
                    ..base.clone()
                },
                "max in flight must be between 1 and 12, got 0",
            ),
            (
                Config {
                    max_in_flight: 13,
                    ..base.clone()
                },
                "max in flight must be between 1 and 12, got 13",
            ),
            (
                Config {
                    values: 7,
                    ..base.clone()
                },
                "values must be between 0 and 6, got 7",
            ),
        ];
        for (cfg, msg) in cases {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.starts_with(msg), "{err:?} should start with {msg:?}");
        }
        assert!("bogus".parse::<Profile>().is_err());
        assert!("bogus".parse::<NetworkKind>().is_err());
    }
}
