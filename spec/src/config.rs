//! Every bound of the model in one type, with named profiles and validation.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::bug::Bug;
use crate::types::{LOG_CAPACITY, MAX_IN_FLIGHT_BOUND, MAX_SERVERS, MAX_TERM_BOUND};
use crate::variant::{Variant, VariantError};

/// The range each bound may take: the one source for validation, its error
/// messages and the command line's parsers and help.
pub mod limits {
    use super::*;

    pub const SERVERS: RangeInclusive<u8> = 1..=MAX_SERVERS as u8;
    pub const MAX_TERM: RangeInclusive<u8> = 1..=MAX_TERM_BOUND;
    /// One slot of the log's capacity is kept for a new leader's no-op.
    pub const MAX_LOG: RangeInclusive<u8> = 1..=(LOG_CAPACITY - 1) as u8;
    pub const BATCH: RangeInclusive<u8> = 1..=u8::MAX;
    pub const VALUES: RangeInclusive<u8> = 0..=6;
    /// At most the number of servers (checked against it separately).
    pub const CRASHES: RangeInclusive<u8> = 0..=MAX_SERVERS as u8;
    pub const IN_FLIGHT: RangeInclusive<u8> = 1..=MAX_IN_FLIGHT_BOUND;
}

/// A range as errors print it.
fn between(r: &RangeInclusive<u8>) -> String {
    format!("between {} and {}", r.start(), r.end())
}

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
    /// Which protocol of the family (see [`crate::variant`]): the paper's
    /// unless a config says otherwise (saved traces from before variants
    /// load as the paper's).
    #[serde(default)]
    pub variant: Variant,
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
    /// The gate's model check: a third term and a third log entry at once,
    /// with a crash (`ci-log3` with a third term; in flight 2).
    CiTerm3Log3,
    /// The gate's conformance: `quick` with a third term and a third log
    /// entry (it holds `quick-term3` and `quick-log3`).
    QuickTerm3Log3,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Quick,
        Profile::Ci,
        Profile::Deep,
        Profile::CiTerm3,
        Profile::CiLog3,
        Profile::QuickTerm3,
        Profile::QuickLog3,
        Profile::CiTerm3Log3,
        Profile::QuickTerm3Log3,
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
            Profile::CiTerm3Log3 => "ci-term3-log3",
            Profile::QuickTerm3Log3 => "quick-term3-log3",
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
                variant: Variant::PAPER,
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
                variant: Variant::PAPER,
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
                variant: Variant::PAPER,
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
            Profile::CiTerm3Log3 => Config {
                max_term: 3,
                ..Profile::CiLog3.config()
            },
            Profile::QuickTerm3Log3 => Config {
                max_term: 3,
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
    #[error("servers must be {r}, got {0}", r = between(&limits::SERVERS))]
    Servers(u8),
    #[error("max term must be {r}, got {0}{hint}", r = between(&limits::MAX_TERM),
        hint = if *.0 == 0 { " (with max term 0 no election can happen)" } else { "" })]
    MaxTerm(u8),
    #[error("max log length must be {r}, got {0}", r = between(&limits::MAX_LOG))]
    MaxLogLen(u8),
    #[error("max batch must be at least 1 (AppendEntries could carry no entry), got 0")]
    Batch,
    #[error("values must be {r}, got {0}", r = between(&limits::VALUES))]
    Values(u8),
    #[error("max crashes ({crashes}) cannot exceed the number of servers ({servers})")]
    Crashes { crashes: u8, servers: u8 },
    #[error("max in flight must be {r}, got {0}{hint}", r = between(&limits::IN_FLIGHT),
        hint = if *.0 == 0 { " (0: no message could ever be sent)" } else { "" })]
    InFlight(u8),
    #[error(
        "max in flight {in_flight} is below {needed}, what an election among {servers} servers \
         needs (a candidate sends its {needed} RequestVotes at once): no leader could ever be \
         elected, so no \"sometimes\" property could be reached; use --in-flight {needed} or more"
    )]
    InFlightBelowElection {
        in_flight: u8,
        servers: u8,
        needed: u8,
    },
    #[error("unknown profile {0:?}: expected one of quick, ci, deep, ci-term3, ci-log3, quick-term3, quick-log3, ci-term3-log3, quick-term3-log3")]
    UnknownProfile(String),
    #[error("unknown network {0:?}: expected one of reordering, lossy, lossy-duplicating")]
    UnknownNetwork(String),
    #[error(transparent)]
    Variant(#[from] VariantError),
}

impl Config {
    /// Checks that the bounds describe a model that can be built and explored.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !limits::SERVERS.contains(&self.servers) {
            return Err(ConfigError::Servers(self.servers));
        }
        if !limits::MAX_TERM.contains(&self.max_term) {
            return Err(ConfigError::MaxTerm(self.max_term));
        }
        if !limits::MAX_LOG.contains(&self.max_log_len) {
            return Err(ConfigError::MaxLogLen(self.max_log_len));
        }
        if !limits::BATCH.contains(&self.max_batch) {
            return Err(ConfigError::Batch);
        }
        if !limits::VALUES.contains(&self.values) {
            return Err(ConfigError::Values(self.values));
        }
        if self.max_crashes > self.servers {
            return Err(ConfigError::Crashes {
                crashes: self.max_crashes,
                servers: self.servers,
            });
        }
        if !limits::IN_FLIGHT.contains(&self.max_in_flight) {
            return Err(ConfigError::InFlight(self.max_in_flight));
        }
        self.variant.validate()?;
        Ok(())
    }

    /// Messages in flight an election needs: a candidate sends a RequestVote
    /// to every peer in one step, and a state past the in-flight bound is
    /// not expanded, so below this no vote is ever granted.
    pub fn election_in_flight(servers: u8) -> u8 {
        servers.saturating_sub(1).max(1)
    }

    /// [`validate`](Self::validate), and also refuses bounds under which a
    /// leader can never be elected: every "sometimes" property needs one, so
    /// a check of them could only fail. (A model with such bounds is still
    /// well-formed: trace files and walks may use it.)
    pub fn validate_reachable(&self) -> Result<(), ConfigError> {
        self.validate()?;
        let needed = Self::election_in_flight(self.servers);
        if self.max_in_flight < needed {
            return Err(ConfigError::InFlightBelowElection {
                in_flight: self.max_in_flight,
                servers: self.servers,
                needed,
            });
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
        s.push_str(&format!(" variant={}", self.variant));
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
        // The hint about 0 belongs to 0 only.
        let too_high = Config {
            max_term: 8,
            ..base.clone()
        };
        let err = too_high.validate().unwrap_err().to_string();
        assert_eq!(err, "max term must be between 1 and 7, got 8");
        let err = Config {
            max_in_flight: 13,
            ..base.clone()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(!err.contains("(0:"), "{err}");
        assert!("bogus".parse::<Profile>().is_err());
        assert!("bogus".parse::<NetworkKind>().is_err());
    }

    /// A candidate of N servers sends N - 1 RequestVotes in one step: with
    /// fewer allowed in flight no leader is ever elected.
    #[test]
    fn bounds_that_cannot_elect_a_leader_are_refused() {
        let five = Config {
            servers: 5,
            ..Profile::Ci.config()
        };
        five.validate().unwrap();
        let err = five.validate_reachable().unwrap_err().to_string();
        assert!(
            err.starts_with("max in flight 3 is below 4, what an election among 5 servers needs"),
            "{err}"
        );
        assert!(err.contains("--in-flight 4"), "{err}");
        Config {
            max_in_flight: 4,
            ..five
        }
        .validate_reachable()
        .unwrap();
        for p in Profile::ALL {
            p.config().validate_reachable().unwrap();
        }
        for bug in Bug::ALL {
            bug.config().validate_reachable().unwrap();
        }
        let one = Config {
            servers: 1,
            max_crashes: 0,
            max_in_flight: 1,
            ..Profile::Quick.config()
        };
        one.validate_reachable().unwrap();
    }
}
