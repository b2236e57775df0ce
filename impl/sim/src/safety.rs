//! The five safety properties of the Raft paper (Figure 3), checked against
//! ghost history after every simulator step.
//!
//! Ghost state records what happened (who led each term, every entry ever
//! seen, everything ever committed or applied) so properties that talk about
//! history can be checked on the current state alone.

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

use raft_core::{Entry, EntryKind, LogIndex, NodeId, RaftNode, Role, Term};

/// A broken property, with enough detail to read the failing run.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Violation {
    #[error("Election Safety: term {term} has two leaders, {first} and {second}")]
    ElectionSafety {
        term: Term,
        first: NodeId,
        second: NodeId,
    },
    #[error("Leader Append-Only: leader {node} of term {term} changed or removed entry {index}")]
    LeaderAppendOnly {
        node: NodeId,
        term: Term,
        index: LogIndex,
    },
    #[error("Log Matching: entry {index}@{term} differs between logs (payload or predecessor)")]
    LogMatching { index: LogIndex, term: Term },
    #[error("Leader Completeness: leader {node} of term {term} lacks committed entry {index}@{entry_term}")]
    LeaderCompleteness {
        node: NodeId,
        term: Term,
        index: LogIndex,
        entry_term: Term,
    },
    #[error("State Machine Safety: node {node} applied {applied} at index {index}, another applied {other}")]
    StateMachineSafety {
        node: NodeId,
        index: LogIndex,
        applied: String,
        other: String,
    },
    #[error("indices in range: node {node} {detail}")]
    IndexOutOfRange { node: NodeId, detail: String },
    #[error("persistence contract: node {node}'s storage {detail} after its Ready was persisted")]
    Durability { node: NodeId, detail: String },
    #[error("liveness: {0}")]
    Liveness(String),
}

#[derive(Debug, Default)]
pub struct SafetyChecker {
    /// Who led each term (Election Safety).
    leaders: BTreeMap<Term, NodeId>,
    /// Per node: the term it last led in and its log's terms then (Leader Append-Only).
    led: HashMap<NodeId, (Term, Vec<Term>)>,
    /// Every (index, term) ever seen in any log -> (payload, predecessor's term).
    /// With one leader per term creating each index once, Log Matching holds
    /// iff every log agrees with this map.
    seen: HashMap<(LogIndex, Term), (EntryKind, Term)>,
    /// Every committed index -> (entry term, the term in which it was seen committed).
    committed: BTreeMap<LogIndex, (Term, Term)>,
    /// Per node: highest commit index already recorded.
    commit_seen: HashMap<NodeId, LogIndex>,
    /// Every applied index -> the entry applied there (State Machine Safety).
    applied: BTreeMap<LogIndex, Entry>,
}

impl SafetyChecker {
    /// Check one node whose state may have changed this step.
    pub fn check_node(&mut self, node: &RaftNode) -> Result<(), Violation> {
        self.check_log_matching(node)?;
        if node.role() == Role::Leader {
            self.check_election_safety(node)?;
            self.check_leader_append_only(node)?;
            check_progress_in_range(node)?;
        }
        self.record_commits(node)
    }

    /// Leader Completeness for every live leader (after commits were recorded).
    pub fn check_leaders<'a>(
        &self,
        nodes: impl Iterator<Item = &'a RaftNode>,
    ) -> Result<(), Violation> {
        for node in nodes.filter(|n| n.role() == Role::Leader) {
            for (&index, &(entry_term, seen_in)) in &self.committed {
                if seen_in > node.term() {
                    continue;
                }
                let has = node.log().get(index as usize - 1).map(|e| e.term);
                if has != Some(entry_term) {
                    return Err(Violation::LeaderCompleteness {
                        node: node.id(),
                        term: node.term(),
                        index,
                        entry_term,
                    });
                }
            }
        }
        Ok(())
    }

    /// A node handed `entry` to its state machine.
    pub fn on_apply(&mut self, node: NodeId, entry: &Entry) -> Result<(), Violation> {
        match self.applied.get(&entry.index) {
            Some(other) if other != entry => Err(Violation::StateMachineSafety {
                node,
                index: entry.index,
                applied: entry.to_string(),
                other: other.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                self.applied.insert(entry.index, entry.clone());
                Ok(())
            }
        }
    }

    /// A node restarted: its commit index is 0 again.
    pub fn on_restart(&mut self, node: NodeId) {
        self.commit_seen.remove(&node);
        self.led.remove(&node);
    }

    pub fn applied(&self) -> &BTreeMap<LogIndex, Entry> {
        &self.applied
    }

    fn check_election_safety(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let first = *self.leaders.entry(node.term()).or_insert(node.id());
        if first != node.id() {
            return Err(Violation::ElectionSafety {
                term: node.term(),
                first,
                second: node.id(),
            });
        }
        Ok(())
    }

    fn check_leader_append_only(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let terms: Vec<Term> = node.log().iter().map(|e| e.term).collect();
        if let Some((term, before)) = self.led.get(&node.id()) {
            if *term == node.term() {
                let changed = before.iter().zip(&terms).position(|(a, b)| a != b);
                let index = match changed {
                    Some(i) => Some(i as LogIndex + 1),
                    None if terms.len() < before.len() => Some(terms.len() as LogIndex + 1),
                    None => None,
                };
                if let Some(index) = index {
                    return Err(Violation::LeaderAppendOnly {
                        node: node.id(),
                        term: node.term(),
                        index,
                    });
                }
            }
        }
        self.led.insert(node.id(), (node.term(), terms));
        Ok(())
    }

    fn check_log_matching(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let mut prev_term = 0;
        for entry in node.log() {
            let value = (entry.kind.clone(), prev_term);
            match self.seen.get(&(entry.index, entry.term)) {
                Some(known) if *known != value => {
                    return Err(Violation::LogMatching {
                        index: entry.index,
                        term: entry.term,
                    })
                }
                Some(_) => {}
                None => {
                    self.seen.insert((entry.index, entry.term), value);
                }
            }
            prev_term = entry.term;
        }
        Ok(())
    }

    fn record_commits(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let seen = self.commit_seen.entry(node.id()).or_insert(0);
        if node.commit_index() > node.last_log_index() {
            return Err(Violation::Durability {
                node: node.id(),
                detail: format!(
                    "commit index {} beyond last log index {}",
                    node.commit_index(),
                    node.last_log_index()
                ),
            });
        }
        for index in *seen + 1..=node.commit_index() {
            let term = node.log()[index as usize - 1].term;
            match self.committed.get(&index) {
                Some(&(known, _)) if known != term => {
                    return Err(Violation::LeaderCompleteness {
                        node: node.id(),
                        term: node.term(),
                        index,
                        entry_term: known,
                    })
                }
                Some(_) => {}
                None => {
                    self.committed.insert(index, (term, node.term()));
                }
            }
        }
        *seen = (*seen).max(node.commit_index());
        Ok(())
    }
}

/// A leader's progress per peer: 1 <= nextIndex <= lastIndex + 1 and
/// matchIndex < nextIndex (so matchIndex <= lastIndex). An index out of
/// this range is a bug even before any other property notices: the
/// AppendEntries it leads to claims a prefix that does not exist.
fn check_progress_in_range(node: &RaftNode) -> Result<(), Violation> {
    let last = node.last_log_index();
    for (peer, p) in node.progresses() {
        let broken = if p.next_index == 0 {
            Some("nextIndex 0 is below 1")
        } else if p.next_index > last.saturating_add(1) {
            Some("nextIndex is past lastIndex + 1")
        } else if p.match_index >= p.next_index {
            Some("matchIndex is not below nextIndex")
        } else {
            None
        };
        if let Some(why) = broken {
            return Err(Violation::IndexOutOfRange {
                node: node.id(),
                detail: format!(
                    "has nextIndex {} and matchIndex {} for peer {peer} with lastIndex {last}: {why}",
                    p.next_index, p.match_index
                ),
            });
        }
    }
    Ok(())
}
