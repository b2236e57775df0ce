//! An interpreter for etcd-raft-style interaction scripts. Each command's
//! effects (durable writes, messages sent, entries applied, errors) are
//! printed, so the whole transcript can be a golden snapshot.
//!
//! Commands (one per line; `#` lines are echoed as comments):
//! - `start N [batch=K]`       nodes 1..=N, at most K entries per AppendEntries
//! - `campaign ID`             election timeout at ID
//! - `heartbeat ID`            heartbeat timeout at ID
//! - `propose ID VALUE`        client proposal at ID
//! - `deliver [FROM->TO]`      deliver the messages in flight now (matching), oldest first
//! - `deliver-newest FROM->TO` deliver only the newest matching message (reordering)
//! - `stabilize [ROUNDS]`       deliver rounds until nothing is in flight; fails after
//!   ROUNDS rounds (default 1000) with what is still in flight
//! - `keep-campaigning ID`     ID's election timer fires before every later round
//!   (a node that never settles)
//! - `drop FROM->TO`           drop in-flight messages (`*` matches any node)
//! - `isolate ID` / `heal`     cut ID off from everyone / reconnect everyone
//! - `crash ID` / `restart ID` lose volatile state / come back from durable state
//! - `status`                  every node's role, term, vote, commit, log, progress

use std::fmt::Write;

use raft_core::{Bytes, Config, DurableWrite, Message, NodeId, RaftNode, Ready, Role};
use raft_sim::MemNode;

#[derive(Default)]
pub struct Script {
    nodes: Vec<MemNode>,
    /// Nodes whose election timer fires before every delivery round.
    campaigners: Vec<NodeId>,
    batch: usize,
    in_flight: Vec<Message>,
    isolated: Option<NodeId>,
    out: String,
}

/// Rounds `stabilize` delivers before it gives up: no script here needs
/// more than a few dozen, and a cluster that never settles would otherwise
/// grow its transcript until the machine runs out of memory.
pub const STABILIZE_ROUNDS: usize = 1000;

/// Runs a script; `Err` carries the transcript so far and why it stopped.
pub fn run(script: &str) -> Result<String, String> {
    let mut s = Script::default();
    for line in script.lines() {
        let line = line.trim();
        if line.is_empty() {
            s.out.push('\n');
            continue;
        }
        if line.starts_with('#') {
            writeln!(s.out, "{line}").unwrap();
            continue;
        }
        writeln!(s.out, "> {line}").unwrap();
        if let Err(e) = s.command(line) {
            return Err(format!("{}\nscript failed at `{line}`: {e}", s.out));
        }
    }
    Ok(s.out)
}

fn id(word: Option<&str>) -> NodeId {
    word.and_then(|w| w.parse().ok()).expect("a node id")
}

/// `1->2`, `*->2`, `1->*`.
fn link(word: &str) -> (Option<NodeId>, Option<NodeId>) {
    let (from, to) = word.split_once("->").expect("FROM->TO");
    let side = |s: &str| (s != "*").then(|| s.parse().expect("node id or *"));
    (side(from), side(to))
}

fn matches(msg: &Message, (from, to): (Option<NodeId>, Option<NodeId>)) -> bool {
    from.unwrap_or(msg.from) == msg.from && to.unwrap_or(msg.to) == msg.to
}

impl Script {
    fn command(&mut self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        match words.next().expect("a command") {
            "start" => self.start(id(words.next()) as usize, words.next()),
            "campaign" => {
                let n = id(words.next());
                self.with_node(n, |node| node.election_timeout());
            }
            "heartbeat" => {
                let n = id(words.next());
                self.with_node(n, |node| node.heartbeat_timeout());
            }
            "propose" => {
                let n = id(words.next());
                let value = words.next().expect("a value").to_string();
                let Some(node) = self.nodes[n as usize - 1].node_mut() else {
                    writeln!(self.out, "  {n} is crashed").unwrap();
                    return Ok(());
                };
                match node.propose(Bytes::from(value)) {
                    Ok((p, ready)) => {
                        writeln!(self.out, "  {n} appended at {}@{}", p.index, p.term).unwrap();
                        self.release(n, ready);
                    }
                    Err(e) => writeln!(self.out, "  {n} refused: {e}").unwrap(),
                }
            }
            "deliver" => {
                let filter = words.next().map_or((None, None), link);
                self.deliver_round(filter);
            }
            "deliver-newest" => {
                let filter = link(words.next().expect("FROM->TO"));
                if let Some(i) = self.in_flight.iter().rposition(|m| matches(m, filter)) {
                    let msg = self.in_flight.remove(i);
                    writeln!(self.out, "{msg}").unwrap();
                    let to = msg.to;
                    self.with_node(to, |node| node.step(msg));
                }
            }
            "stabilize" => {
                let rounds = match words.next() {
                    Some(w) => w
                        .parse()
                        .map_err(|_| format!("{w:?} is not a round count"))?,
                    None => STABILIZE_ROUNDS,
                };
                self.stabilize(rounds)?;
            }
            "keep-campaigning" => self.campaigners.push(id(words.next())),
            "drop" => {
                let filter = link(words.next().expect("FROM->TO"));
                let before = self.in_flight.len();
                self.in_flight.retain(|m| !matches(m, filter));
                writeln!(self.out, "  dropped {}", before - self.in_flight.len()).unwrap();
            }
            "isolate" => self.isolated = Some(id(words.next())),
            "heal" => self.isolated = None,
            "crash" => {
                let n = id(words.next());
                self.nodes[n as usize - 1].crash();
            }
            "restart" => {
                let n = id(words.next());
                self.nodes[n as usize - 1]
                    .restart()
                    .map_err(|e| format!("{n} cannot restart: {e}"))?;
            }
            "status" => self.status(),
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }

    /// Delivery rounds until nothing is in flight, at most `rounds` of them.
    fn stabilize(&mut self, rounds: usize) -> Result<(), String> {
        for _ in 0..rounds {
            for n in self.campaigners.clone() {
                self.with_node(n, |node| node.election_timeout());
            }
            if self.in_flight.is_empty() {
                return Ok(());
            }
            self.deliver_round((None, None));
        }
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let oldest: Vec<String> = self
            .in_flight
            .iter()
            .take(4)
            .map(|m| m.to_string())
            .collect();
        Err(format!(
            "stabilize did not settle in {rounds} rounds: {} messages still in flight (oldest: {})",
            self.in_flight.len(),
            oldest.join("; ")
        ))
    }

    fn start(&mut self, n: usize, batch: Option<&str>) {
        self.batch = batch
            .and_then(|b| b.strip_prefix("batch="))
            .map_or(usize::MAX, |k| k.parse().expect("batch=K"));
        self.nodes = (1..=n as NodeId)
            .map(|i| MemNode::new(self.config_for(i, n)).expect("config"))
            .collect();
    }

    fn config_for(&self, id: NodeId, n: usize) -> Config {
        Config::new(id, 1..=n as NodeId).with_limits(self.batch, usize::MAX)
    }

    fn with_node(&mut self, n: NodeId, input: impl FnOnce(&mut RaftNode) -> Ready) {
        match self.nodes[n as usize - 1].node_mut() {
            Some(node) => {
                let ready = input(node);
                self.release(n, ready);
            }
            None => writeln!(self.out, "  {n} is crashed").unwrap(),
        }
    }

    /// Deliver every message in flight at the start of the round (that
    /// matches), oldest first; replies wait for the next round.
    fn deliver_round(&mut self, filter: (Option<NodeId>, Option<NodeId>)) {
        let (now, later): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| matches(m, filter));
        self.in_flight = later;
        for msg in now {
            let cut = self
                .isolated
                .is_some_and(|i| (i == msg.from) != (i == msg.to));
            if cut {
                writeln!(self.out, "{msg}  (lost: partition)").unwrap();
                continue;
            }
            writeln!(self.out, "{msg}").unwrap();
            let to = msg.to;
            self.with_node(to, |node| node.step(msg));
        }
    }

    /// Persist, print, then release messages and committed entries.
    fn release(&mut self, n: NodeId, ready: Ready) {
        for write in ready.durable_writes() {
            let text = match write {
                DurableWrite::HardState { term, voted_for } => {
                    format!("term={term} vote={}", vote(*voted_for))
                }
                DurableWrite::TruncateFrom { index } => format!("truncate from {index}"),
                DurableWrite::Append { entries } => format!("append {}", entries_text(entries)),
            };
            writeln!(self.out, "  {n} persist {text}").unwrap();
        }
        let output = self.nodes[n as usize - 1].persist(ready);
        for msg in output.messages {
            writeln!(self.out, "  {n} send {msg}").unwrap();
            self.in_flight.push(msg);
        }
        for entry in output.committed {
            writeln!(self.out, "  {n} apply {entry}").unwrap();
        }
    }

    fn status(&mut self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let n = i + 1;
            let Some(node) = node.node() else {
                let d = node.durable();
                let log = entries_text(&d.log);
                writeln!(
                    self.out,
                    "  {n} crashed; durable term={} vote={} log={log}",
                    d.term,
                    vote(d.voted_for)
                )
                .unwrap();
                continue;
            };
            let role = match node.role() {
                Role::Follower => "follower",
                Role::Candidate => "candidate",
                Role::Leader => "leader",
            };
            write!(
                self.out,
                "  {n} {role} term={} vote={} commit={} log={}",
                node.term(),
                vote(node.voted_for()),
                node.commit_index(),
                entries_text(node.log())
            )
            .unwrap();
            if let Some(votes) = node.granted_votes() {
                write!(self.out, " votes={votes:?}").unwrap();
            }
            for (peer, p) in node.progresses() {
                write!(
                    self.out,
                    " {peer}:next={},match={}",
                    p.next_index, p.match_index
                )
                .unwrap();
            }
            self.out.push('\n');
        }
        if !self.in_flight.is_empty() {
            writeln!(self.out, "  in flight: {}", self.in_flight.len()).unwrap();
        }
    }
}

fn vote(v: Option<NodeId>) -> String {
    v.map_or("none".to_string(), |v| v.to_string())
}

fn entries_text(entries: &[raft_core::Entry]) -> String {
    let items: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    format!("[{}]", items.join(", "))
}
