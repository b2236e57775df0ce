//! The spec as a family of protocols: each design choice a production Raft
//! makes where Figure 2 leaves room (or where it departs from Figure 2
//! safely) is a named option; a [`Variant`] is one value of each.
//!
//! The default, [`Variant::PAPER`], is exactly the Raft paper's Figure 2,
//! so a config without a variant checks what it always did. [`Variant::RAFT_RS`]
//! is tikv/raft-rs 0.7 under its default configuration. Each option is
//! documented once, in [`OPTIONS`]: the section of the paper (or Ongaro's
//! dissertation) it departs from and why the departure is safe; the model
//! checker is what shows it. An option is applied at the one place of
//! `server/` it changes, marked `Variant::` there.
//!
//! On the command line and in reports a variant is written as a preset
//! followed by the options that differ from it: `paper`, `raft-rs`,
//! `paper,leader-stickiness`, `raft-rs,heartbeat=append-entries`.

use serde::{Deserialize, Serialize};

/// How a leader keeps its followers from starting elections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeartbeatKind {
    /// AppendEntries from each peer's nextIndex (Figure 2).
    #[default]
    AppendEntries,
    /// Its own RPC, Heartbeat(term, commit = min(matchIndex, commitIndex)):
    /// no log check, no entries; its response makes the leader send an
    /// append to a follower still behind.
    Rpc,
}

/// What a server does with a request of a term below its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaleTerm {
    /// Answers it "false, currentTerm" (Figure 2, receiver rule 1).
    #[default]
    Answer,
    /// Drops it unanswered.
    Ignore,
}

/// How a leader paces AppendEntries to each follower.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowControl {
    /// Every proposal and heartbeat sends to every peer from its nextIndex.
    #[default]
    Resend,
    /// raft-rs's progress states: a follower is probed (one non-empty
    /// append in flight, then paused until an answer or a heartbeat
    /// response) until an append succeeds; then replicated (appends
    /// pipelined, nextIndex advanced past what was sent as it is sent,
    /// every batch still to send sent at once); a rejection goes back to
    /// probing.
    ProbeReplicate,
}

/// What a follower answers an AppendEntries whose log check fails with,
/// and what the leader makes of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectionHint {
    /// `min(prevLogIndex - 1, lastIndex)`: the leader retries from there at
    /// most.
    #[default]
    Paper,
    /// raft-rs: the last index at or below `min(prevLogIndex, lastIndex)`
    /// whose term is at most prevLogTerm, with that term; the leader moves
    /// it back again to its own last index of a term at most that one. An
    /// append whose prevLogIndex is below the follower's commit index is
    /// answered "success, commitIndex" and its entries dropped.
    ConflictByTerm,
}

/// What the batch limit counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchLimit {
    /// At most `max_batch` entries.
    #[default]
    Entries,
    /// raft-rs's `max_size_per_msg`: at most `max_batch` times a value
    /// entry's size in bytes ([`VALUE_ENTRY_BYTES`]; a no-op takes
    /// [`NOOP_ENTRY_BYTES`]), and always at least one entry.
    Bytes,
}

/// Bytes one value entry takes in raft-rs's size accounting (protobuf:
/// term, index and one byte of data, each tagged).
pub const VALUE_ENTRY_BYTES: u32 = 7;
/// Bytes a no-op (no data) takes.
pub const NOOP_ENTRY_BYTES: u32 = 4;

/// One value of every option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Variant {
    pub heartbeat: HeartbeatKind,
    pub stale_term: StaleTerm,
    pub flow_control: FlowControl,
    /// A leader whose commit index advances on an append response sends an
    /// append to every peer (raft-rs: unless `skip_bcast_commit`), so
    /// followers learn the commit without waiting for a heartbeat.
    pub commit_broadcast: bool,
    /// A candidate refused by a majority becomes a follower of its term.
    pub refused_candidate_steps_down: bool,
    /// A server that knows the leader of its term refuses every vote it has
    /// not already cast (raft-rs's `can_vote`).
    pub leader_stickiness: bool,
    /// RequestVote and a refused vote carry the sender's commit index and
    /// its term; the receiver commits that far if its log holds that entry.
    pub votes_carry_commit: bool,
    /// The commit index is saved with term and vote, and restored on
    /// recovery (raft-rs's HardState).
    pub persisted_commit: bool,
    pub rejection_hint: RejectionHint,
    pub batch_limit: BatchLimit,
}

/// What the documentation says about one option.
#[derive(Clone, Copy, Debug)]
pub struct OptionInfo {
    pub name: &'static str,
    /// Its values, the paper's first.
    pub values: &'static [&'static str],
    /// The rule it replaces, with the paper's (or the dissertation's) section.
    pub departs_from: &'static str,
    /// Why the departure is safe, in a sentence.
    pub why_safe: &'static str,
}

const BOOL: &[&str] = &["false", "true"];

/// Every option, in the order reports write them: the one place each is
/// documented.
pub const OPTIONS: [OptionInfo; 10] = [
    OptionInfo {
        name: "heartbeat",
        values: &["append-entries", "rpc"],
        departs_from: "§5.2: heartbeats are AppendEntries RPCs that carry no log entries",
        why_safe: "a heartbeat changes no log and commits only up to the follower's match index, which the leader knows it holds from this leader",
    },
    OptionInfo {
        name: "stale-term",
        values: &["answer", "ignore"],
        departs_from: "Figure 2, receiver rule 1 (both RPCs): reply false if term < currentTerm",
        why_safe: "the reply only tells a stale sender of a newer term; a network may lose it anyway, so no safety argument rests on it",
    },
    OptionInfo {
        name: "flow-control",
        values: &["resend", "probe-replicate"],
        departs_from: "Figure 2 (Rules for Servers, leaders): send AppendEntries from nextIndex; §5.3: decrement nextIndex and retry",
        why_safe: "nextIndex is only a guess (§5.3): an optimistic one is corrected by the log check, and matchIndex still moves only on success",
    },
    OptionInfo {
        name: "commit-broadcast",
        values: BOOL,
        departs_from: "§5.3: followers learn the commit index from the next AppendEntries",
        why_safe: "it only sends more appends, each an ordinary AppendEntries",
    },
    OptionInfo {
        name: "refused-candidate-steps-down",
        values: BOOL,
        departs_from: "§5.2: a candidate stays candidate until it wins, hears of a leader, or times out",
        why_safe: "a follower of the same term has voted (for itself) and keeps that vote; it only stops counting votes it could no longer win with",
    },
    OptionInfo {
        name: "leader-stickiness",
        values: BOOL,
        departs_from: "Figure 2, RequestVote receiver rule 2: grant if votedFor is null or candidateId",
        why_safe: "refusing a vote is always safe: at most one vote per term is kept",
    },
    OptionInfo {
        name: "votes-carry-commit",
        values: BOOL,
        departs_from: "Figure 2: RequestVote carries term and last log entry only",
        why_safe: "an index committed by the sender is committed; by Log Matching, a receiver holding that entry (same index and term) holds the committed prefix",
    },
    OptionInfo {
        name: "persisted-commit",
        values: BOOL,
        departs_from: "Figure 2: commitIndex is volatile state (0 after a restart)",
        why_safe: "a committed index stays committed, and the log up to it is durable",
    },
    OptionInfo {
        name: "rejection-hint",
        values: &["paper", "conflict-by-term"],
        departs_from: "§5.3: after a rejection the leader decrements nextIndex (the optimisation at the end of §5.3 skips a term at a time)",
        why_safe: "the hint only chooses where the next log check is made; entries below the follower's commit index already match the leader's",
    },
    OptionInfo {
        name: "batch-limit",
        values: &["entries", "bytes"],
        departs_from: "Figure 2: entries[] (may send more than one for efficiency)",
        why_safe: "how many entries an AppendEntries carries changes no receiver rule",
    },
];

/// Why a variant cannot be checked or named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error("unknown variant option {0:?}: expected a preset (paper, raft-rs) or one of {list}", list = option_names())]
    UnknownOption(String),
    #[error("option {option} takes one of {values}, got {got:?}", values = values_of(option))]
    BadValue { option: &'static str, got: String },
    #[error("a variant starts with a preset (paper or raft-rs), got {0:?}")]
    NoPreset(String),
    #[error("{0} is a preset: a variant names one, first (then the options changed from it)")]
    LatePreset(String),
    #[error("option {0} is not on or off: write {0}=VALUE, VALUE one of {values}", values = values_of(.0))]
    NotBoolean(&'static str),
    #[error("option {0} is given twice")]
    Repeated(&'static str),
    #[error(
        "flow-control=probe-replicate needs heartbeat=rpc: a probe is paused until it is \
         answered or a heartbeat response arrives, so without the heartbeat RPC one lost \
         probe stops replication to that follower for the rest of the term"
    )]
    ProbeWithoutHeartbeat,
}

fn option_names() -> String {
    OPTIONS.map(|o| o.name).join(", ")
}

fn values_of(option: &str) -> String {
    OPTIONS
        .iter()
        .find(|o| o.name == option)
        .map_or_else(String::new, |o| o.values.join(" | "))
}

/// The named presets.
pub const PRESETS: [(&str, Variant); 2] =
    [("paper", Variant::PAPER), ("raft-rs", Variant::RAFT_RS)];

impl Variant {
    /// The Raft paper's Figure 2.
    pub const PAPER: Variant = Variant {
        heartbeat: HeartbeatKind::AppendEntries,
        stale_term: StaleTerm::Answer,
        flow_control: FlowControl::Resend,
        commit_broadcast: false,
        refused_candidate_steps_down: false,
        leader_stickiness: false,
        votes_carry_commit: false,
        persisted_commit: false,
        rejection_hint: RejectionHint::Paper,
        batch_limit: BatchLimit::Entries,
    };

    /// tikv/raft-rs 0.7 with its default configuration (pre-vote and
    /// check-quorum off, `skip_bcast_commit` off, `max_size_per_msg` in
    /// bytes, an in-flight window no model log fills).
    pub const RAFT_RS: Variant = Variant {
        heartbeat: HeartbeatKind::Rpc,
        stale_term: StaleTerm::Ignore,
        flow_control: FlowControl::ProbeReplicate,
        commit_broadcast: true,
        refused_candidate_steps_down: true,
        leader_stickiness: true,
        votes_carry_commit: true,
        persisted_commit: true,
        rejection_hint: RejectionHint::ConflictByTerm,
        batch_limit: BatchLimit::Bytes,
    };

    pub fn is_paper(&self) -> bool {
        *self == Variant::PAPER
    }

    /// Refuses combinations that make no sense.
    pub fn validate(&self) -> Result<(), VariantError> {
        if self.flow_control == FlowControl::ProbeReplicate && self.heartbeat != HeartbeatKind::Rpc
        {
            return Err(VariantError::ProbeWithoutHeartbeat);
        }
        Ok(())
    }

    /// Each option's value as the command line writes it, in [`OPTIONS`] order.
    pub fn values(&self) -> [&'static str; 10] {
        let b = |v: bool| if v { "true" } else { "false" };
        [
            match self.heartbeat {
                HeartbeatKind::AppendEntries => "append-entries",
                HeartbeatKind::Rpc => "rpc",
            },
            match self.stale_term {
                StaleTerm::Answer => "answer",
                StaleTerm::Ignore => "ignore",
            },
            match self.flow_control {
                FlowControl::Resend => "resend",
                FlowControl::ProbeReplicate => "probe-replicate",
            },
            b(self.commit_broadcast),
            b(self.refused_candidate_steps_down),
            b(self.leader_stickiness),
            b(self.votes_carry_commit),
            b(self.persisted_commit),
            match self.rejection_hint {
                RejectionHint::Paper => "paper",
                RejectionHint::ConflictByTerm => "conflict-by-term",
            },
            match self.batch_limit {
                BatchLimit::Entries => "entries",
                BatchLimit::Bytes => "bytes",
            },
        ]
    }

    /// Sets option `name` to `value` (a boolean option's bare name is
    /// `true`, `no-NAME` is `false`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), VariantError> {
        let info = OPTIONS
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| VariantError::UnknownOption(name.to_string()))?;
        let bad = || VariantError::BadValue {
            option: info.name,
            got: value.to_string(),
        };
        let pick = |i: usize| info.values.get(i).filter(|v| **v == value).is_some();
        let second = if pick(1) {
            true
        } else if pick(0) {
            false
        } else {
            return Err(bad());
        };
        match info.name {
            "heartbeat" => {
                self.heartbeat = if second {
                    HeartbeatKind::Rpc
                } else {
                    HeartbeatKind::AppendEntries
                }
            }
            "stale-term" => {
                self.stale_term = if second {
                    StaleTerm::Ignore
                } else {
                    StaleTerm::Answer
                }
            }
            "flow-control" => {
                self.flow_control = if second {
                    FlowControl::ProbeReplicate
                } else {
                    FlowControl::Resend
                }
            }
            "commit-broadcast" => self.commit_broadcast = second,
            "refused-candidate-steps-down" => self.refused_candidate_steps_down = second,
            "leader-stickiness" => self.leader_stickiness = second,
            "votes-carry-commit" => self.votes_carry_commit = second,
            "persisted-commit" => self.persisted_commit = second,
            "rejection-hint" => {
                self.rejection_hint = if second {
                    RejectionHint::ConflictByTerm
                } else {
                    RejectionHint::Paper
                }
            }
            "batch-limit" => {
                self.batch_limit = if second {
                    BatchLimit::Bytes
                } else {
                    BatchLimit::Entries
                }
            }
            _ => unreachable!("every option in OPTIONS is matched above"),
        }
        Ok(())
    }

    /// The variant with only option `name` (at its value in `from`)
    /// changed from the paper: the README's one row per option.
    pub fn paper_with(name: &str, from: &Variant) -> Result<Variant, VariantError> {
        let i = OPTIONS
            .iter()
            .position(|o| o.name == name)
            .ok_or_else(|| VariantError::UnknownOption(name.to_string()))?;
        let mut v = Variant::PAPER;
        v.set(name, from.values()[i])?;
        Ok(v)
    }

    /// The options where this variant differs from `base`, as `name=value`
    /// (a boolean as its bare name, or `no-NAME`).
    fn delta(&self, base: &Variant) -> Vec<String> {
        let (mine, theirs) = (self.values(), base.values());
        OPTIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| mine[*i] != theirs[*i])
            .map(|(i, o)| match mine[i] {
                "true" => o.name.to_string(),
                "false" => format!("no-{}", o.name),
                v => format!("{}={v}", o.name),
            })
            .collect()
    }

    /// The shortest name: the preset it differs least from, then what
    /// differs (see the module's documentation). Parses back to `self`.
    pub fn name(&self) -> String {
        let (preset, delta) = PRESETS
            .iter()
            .map(|(name, v)| (*name, self.delta(v)))
            .min_by_key(|(_, d)| d.len())
            .expect("there are presets");
        std::iter::once(preset.to_string())
            .chain(delta)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Each preset, then each option alone (the paper with just that option
/// as raft-rs has it; probe-replicate with the heartbeat RPC it needs): the
/// variants `raftcheck variants --bench` checks and the README tabulates.
pub fn each_preset_and_option() -> Vec<Variant> {
    let mut out: Vec<Variant> = PRESETS.iter().map(|(_, v)| *v).collect();
    for o in OPTIONS {
        let mut v =
            Variant::paper_with(o.name, &Variant::RAFT_RS).expect("every option is in OPTIONS");
        if v.validate().is_err() {
            v.heartbeat = Variant::RAFT_RS.heartbeat;
        }
        out.push(v);
    }
    out
}

impl std::str::FromStr for Variant {
    type Err = VariantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut items = s.split(',').map(str::trim);
        let first = items.next().unwrap_or_default();
        let mut v = PRESETS
            .iter()
            .find(|(name, _)| *name == first)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                if OPTIONS.iter().any(|o| first.starts_with(o.name)) || first.starts_with("no-") {
                    VariantError::NoPreset(s.to_string())
                } else {
                    VariantError::UnknownOption(first.to_string())
                }
            })?;
        let mut seen = Vec::new();
        for item in items {
            if PRESETS.iter().any(|(name, _)| *name == item) {
                return Err(VariantError::LatePreset(item.to_string()));
            }
            let (name, value) = match item.split_once('=') {
                Some((name, value)) => (name, value),
                None => match item.strip_prefix("no-") {
                    Some(name) if OPTIONS.iter().any(|o| o.name == name) => (name, "false"),
                    _ => (item, "true"),
                },
            };
            let info = OPTIONS
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| VariantError::UnknownOption(name.to_string()))?;
            if !item.contains('=') && info.values != BOOL {
                return Err(VariantError::NotBoolean(info.name));
            }
            if seen.contains(&info.name) {
                return Err(VariantError::Repeated(info.name));
            }
            seen.push(info.name);
            v.set(name, value)?;
        }
        v.validate()?;
        Ok(v)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_name_themselves_and_parse_back() {
        for (name, v) in PRESETS {
            assert_eq!(v.name(), name);
            assert_eq!(name.parse::<Variant>().unwrap(), v);
            v.validate().unwrap();
        }
        assert_eq!(Variant::default(), Variant::PAPER);
    }

    #[test]
    fn every_single_option_round_trips_through_its_name() {
        for (i, o) in OPTIONS.iter().enumerate() {
            let v = Variant::paper_with(o.name, &Variant::RAFT_RS).unwrap();
            assert_ne!(v, Variant::PAPER, "{}", o.name);
            assert_eq!(v.values()[i], Variant::RAFT_RS.values()[i]);
            if v.validate().is_ok() {
                assert_eq!(v.name().parse::<Variant>().unwrap(), v, "{}", v.name());
            }
        }
        let v: Variant = "raft-rs,heartbeat=append-entries,flow-control=resend"
            .parse()
            .unwrap();
        assert_eq!(
            v.name(),
            "raft-rs,heartbeat=append-entries,flow-control=resend"
        );
        let v: Variant = "paper,leader-stickiness".parse().unwrap();
        assert!(v.leader_stickiness);
        assert_eq!(v.name(), "paper,leader-stickiness");
        let v: Variant = "raft-rs,no-leader-stickiness".parse().unwrap();
        assert!(!v.leader_stickiness);
        assert_eq!(v.name(), "raft-rs,no-leader-stickiness");
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let err = |s: &str| s.parse::<Variant>().unwrap_err().to_string();
        assert!(err("bogus").starts_with("unknown variant option \"bogus\""));
        assert!(err("leader-stickiness").starts_with("a variant starts with a preset"));
        assert_eq!(
            err("paper,heartbeat=sometimes"),
            "option heartbeat takes one of append-entries | rpc, got \"sometimes\""
        );
        assert!(err("paper,flow-control=probe-replicate")
            .starts_with("flow-control=probe-replicate needs heartbeat=rpc"));
        assert!(err("raft-rs,heartbeat=append-entries").contains("needs heartbeat=rpc"));
        assert_eq!(
            err("paper,batch-limit"),
            "option batch-limit is not on or off: write batch-limit=VALUE, VALUE one of entries | bytes"
        );
        assert!(err("paper,no-heartbeat").starts_with("option heartbeat is not on or off"));
        assert!(err("raft-rs,paper").starts_with("paper is a preset"));
        assert_eq!(
            err("paper,leader-stickiness,no-leader-stickiness"),
            "option leader-stickiness is given twice"
        );
        assert!(err("paper,leader-stickness")
            .starts_with("unknown variant option \"leader-stickness\""));
    }

    /// A trace saved before variants existed has no variant: it is the paper's.
    #[test]
    fn a_missing_variant_is_the_papers() {
        let v: Variant = serde_json::from_str("{}").unwrap();
        assert_eq!(v, Variant::PAPER);
        let v: Variant = serde_json::from_str(r#"{"leader-stickiness": true}"#).unwrap();
        assert_eq!(v.name(), "paper,leader-stickiness");
        // A misspelt option in a trace is an error, not the paper's rule.
        assert!(serde_json::from_str::<Variant>(r#"{"leader-stickness": true}"#).is_err());
    }
}
