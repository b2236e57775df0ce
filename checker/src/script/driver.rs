//! The script language, interpreted once over either backend: the network
//! (messages in flight, oldest first; partitions; delivery rounds), the
//! commands' parsing and the transcript's vocabulary live here, so the two
//! backends differ only in what a node does with an input.

use std::fmt::Write;

use raft_core::{DurableWrite, Entry, NodeId, Role};

/// What a node did with one input, in the implementation's vocabulary (the
/// model's backend maps its step into it).
#[derive(Debug)]
pub struct Effects<M> {
    /// Written to durable storage, in order, before anything is sent.
    pub writes: Vec<DurableWrite>,
    pub sent: Vec<M>,
    /// Entries handed to the state machine, in order.
    pub applied: Vec<Entry>,
}

impl<M> Default for Effects<M> {
    fn default() -> Self {
        Effects {
            writes: Vec::new(),
            sent: Vec::new(),
            applied: Vec::new(),
        }
    }
}

/// What a client proposal came to.
#[derive(Debug)]
pub enum Proposal<M> {
    /// Appended at `index`@`term`.
    Appended {
        index: u64,
        term: u64,
        effects: Effects<M>,
    },
    /// Not the leader.
    NotLeader,
}

/// One node as `status` prints it.
#[derive(Debug)]
pub enum Status {
    Up {
        role: Role,
        term: u64,
        vote: Option<NodeId>,
        commit: u64,
        log: Vec<Entry>,
        /// A candidate's voters, itself included.
        votes: Option<Vec<NodeId>>,
        /// A leader's (peer, next, match).
        progress: Vec<(NodeId, u64, u64)>,
    },
    /// Down; what its storage holds.
    Crashed {
        term: u64,
        vote: Option<NodeId>,
        log: Vec<Entry>,
    },
}

/// A cluster of nodes 1..=N that the script drives: the model's servers
/// or raft-core nodes. Errors are bad input or a bound the backend cannot
/// go past, never a skipped step.
pub trait Backend {
    /// A message in flight, as the backend holds it.
    type Msg: Clone;

    /// Nodes 1..=`servers`, AppendEntries carrying at most `batch` entries
    /// (`None`: no limit).
    fn start(&mut self, servers: usize, batch: Option<usize>) -> Result<(), String>;
    fn election_timeout(&mut self, n: NodeId) -> Result<Effects<Self::Msg>, String>;
    fn heartbeat_timeout(&mut self, n: NodeId) -> Result<Effects<Self::Msg>, String>;
    fn propose(&mut self, n: NodeId, value: &str) -> Result<Proposal<Self::Msg>, String>;
    /// Delivers `msg` to its (running) receiver.
    fn deliver(&mut self, msg: Self::Msg) -> Result<Effects<Self::Msg>, String>;
    /// The network loses `msg` (or its receiver is down).
    fn lose(&mut self, msg: Self::Msg) -> Result<(), String>;
    fn crash(&mut self, n: NodeId) -> Result<(), String>;
    fn restart(&mut self, n: NodeId) -> Result<(), String>;
    fn is_crashed(&self, n: NodeId) -> bool;
    fn status(&self, n: NodeId) -> Result<Status, String>;
    /// (from, to).
    fn endpoints(&self, msg: &Self::Msg) -> (NodeId, NodeId);
    /// The message as the transcript prints it.
    fn show(&self, msg: &Self::Msg) -> String;
}

/// Rounds `stabilize` delivers before it gives up: no script here needs
/// more than a few dozen, and a cluster that never settles would otherwise
/// grow its transcript until the machine runs out of memory.
pub const STABILIZE_ROUNDS: usize = 1000;

/// A `FROM->TO` filter; `None` matches any node.
type Link = (Option<NodeId>, Option<NodeId>);

pub struct Driver<B: Backend> {
    backend: B,
    servers: usize,
    in_flight: Vec<B::Msg>,
    /// Nodes whose election timer fires before every delivery round.
    campaigners: Vec<NodeId>,
    isolated: Option<NodeId>,
    out: String,
}

impl<B: Backend> Driver<B> {
    pub fn new(backend: B) -> Self {
        Driver {
            backend,
            servers: 0,
            in_flight: Vec::new(),
            campaigners: Vec::new(),
            isolated: None,
            out: String::new(),
        }
    }

    /// Runs one command; its transcript, ending in `error: ...` if it
    /// failed part way.
    pub fn run(&mut self, command: &str) -> Vec<String> {
        self.out.clear();
        if let Err(e) = self.command(command) {
            writeln!(self.out, "error: {e}").unwrap();
        }
        self.out.lines().map(str::to_string).collect()
    }

    fn id(&self, word: Option<&str>) -> Result<NodeId, String> {
        let word = word.ok_or("missing a node id")?;
        let n: NodeId = word
            .parse()
            .map_err(|_| format!("{word:?} is not a node id"))?;
        self.check_node(n)?;
        Ok(n)
    }

    fn check_node(&self, n: NodeId) -> Result<(), String> {
        if self.servers == 0 {
            return Err("no cluster yet: `start N` first".into());
        }
        if n == 0 || n > self.servers as NodeId {
            return Err(format!(
                "no node {n}: the cluster has nodes 1..={}",
                self.servers
            ));
        }
        Ok(())
    }

    /// `1->2`, `*->2`, `1->*`.
    fn link(&self, word: Option<&str>) -> Result<Link, String> {
        let word = word.ok_or("missing FROM->TO")?;
        let (from, to) = word
            .split_once("->")
            .ok_or_else(|| format!("{word:?} is not FROM->TO"))?;
        let side = |s: &str| -> Result<Option<NodeId>, String> {
            if s == "*" {
                return Ok(None);
            }
            let n = s
                .parse()
                .map_err(|_| format!("{s:?} is not a node id or *"))?;
            self.check_node(n)?;
            Ok(Some(n))
        };
        Ok((side(from)?, side(to)?))
    }

    fn matches(&self, msg: &B::Msg, (from, to): Link) -> bool {
        let (f, t) = self.backend.endpoints(msg);
        from.unwrap_or(f) == f && to.unwrap_or(t) == t
    }

    fn command(&mut self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        let name = words.next().ok_or("empty command")?;
        let result = match name {
            "start" => self.start(words.next(), words.next()),
            "campaign" => {
                let n = self.id(words.next())?;
                self.input(n, |b| b.election_timeout(n))
            }
            "heartbeat" => {
                let n = self.id(words.next())?;
                self.input(n, |b| b.heartbeat_timeout(n))
            }
            "propose" => {
                let n = self.id(words.next())?;
                let value = words.next().ok_or("missing a value to propose")?;
                self.propose(n, value)
            }
            "deliver" => {
                let filter = match words.next() {
                    Some(w) => self.link(Some(w))?,
                    None => (None, None),
                };
                self.deliver_round(filter)
            }
            "deliver-newest" => {
                let filter = self.link(words.next())?;
                match self.in_flight.iter().rposition(|m| self.matches(m, filter)) {
                    Some(i) => {
                        let msg = self.in_flight.remove(i);
                        self.deliver_one(msg, false)
                    }
                    None => Ok(()),
                }
            }
            "stabilize" => {
                let rounds = match words.next() {
                    Some(w) => w
                        .parse()
                        .map_err(|_| format!("{w:?} is not a round count"))?,
                    None => STABILIZE_ROUNDS,
                };
                self.stabilize(rounds)
            }
            "keep-campaigning" => {
                let n = self.id(words.next())?;
                self.campaigners.push(n);
                Ok(())
            }
            "drop" => {
                let filter = self.link(words.next())?;
                let (dropped, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                    .into_iter()
                    .partition(|m| self.matches(m, filter));
                self.in_flight = kept;
                writeln!(self.out, "  dropped {}", dropped.len()).unwrap();
                dropped.into_iter().try_for_each(|m| self.backend.lose(m))
            }
            "isolate" => {
                self.isolated = Some(self.id(words.next())?);
                Ok(())
            }
            "heal" => {
                self.isolated = None;
                Ok(())
            }
            "crash" => {
                let n = self.id(words.next())?;
                if self.backend.is_crashed(n) {
                    return Err(format!("node {n} is already crashed"));
                }
                self.backend.crash(n)
            }
            "restart" => {
                let n = self.id(words.next())?;
                if !self.backend.is_crashed(n) {
                    return Err(format!("node {n} is running: `crash {n}` first"));
                }
                self.backend.restart(n)
            }
            "status" => self.status(),
            other => return Err(format!("unknown command {other:?}")),
        };
        result?;
        match words.next() {
            Some(extra) => Err(format!("unexpected argument {extra:?} to {name}")),
            None => Ok(()),
        }
    }

    fn start(&mut self, servers: Option<&str>, batch: Option<&str>) -> Result<(), String> {
        if self.servers != 0 {
            return Err("the cluster is already started".into());
        }
        let servers = servers.ok_or("missing the number of nodes")?;
        let n: usize = servers
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{servers:?} is not a number of nodes"))?;
        let batch = batch
            .map(|b| {
                b.strip_prefix("batch=")
                    .and_then(|k| k.parse().ok())
                    .filter(|&k: &usize| k > 0)
                    .ok_or_else(|| format!("{b:?} is not batch=K (K >= 1)"))
            })
            .transpose()?;
        self.backend.start(n, batch)?;
        self.servers = n;
        Ok(())
    }

    /// An input to node `n`, unless it is down.
    fn input(
        &mut self,
        n: NodeId,
        input: impl FnOnce(&mut B) -> Result<Effects<B::Msg>, String>,
    ) -> Result<(), String> {
        if self.backend.is_crashed(n) {
            writeln!(self.out, "  {n} is crashed").unwrap();
            return Ok(());
        }
        let effects = input(&mut self.backend)?;
        self.release(n, effects);
        Ok(())
    }

    fn propose(&mut self, n: NodeId, value: &str) -> Result<(), String> {
        if self.backend.is_crashed(n) {
            writeln!(self.out, "  {n} is crashed").unwrap();
            return Ok(());
        }
        match self.backend.propose(n, value)? {
            Proposal::Appended {
                index,
                term,
                effects,
            } => {
                writeln!(self.out, "  {n} appended at {index}@{term}").unwrap();
                self.release(n, effects);
            }
            // The implementation also names the leader it knows of; the
            // model's servers keep no such hint, so neither side prints it.
            Proposal::NotLeader => writeln!(self.out, "  {n} refused: not leader").unwrap(),
        }
        Ok(())
    }

    /// Delivers `msg` (or loses it to a partition or a crashed receiver).
    fn deliver_one(&mut self, msg: B::Msg, partitioned: bool) -> Result<(), String> {
        let text = self.backend.show(&msg);
        let (_, to) = self.backend.endpoints(&msg);
        if partitioned {
            writeln!(self.out, "{text}  (lost: partition)").unwrap();
            return self.backend.lose(msg);
        }
        writeln!(self.out, "{text}").unwrap();
        if self.backend.is_crashed(to) {
            writeln!(self.out, "  {to} is crashed").unwrap();
            return self.backend.lose(msg);
        }
        let effects = self.backend.deliver(msg)?;
        self.release(to, effects);
        Ok(())
    }

    /// Delivers every message in flight at the start of the round (that
    /// matches), oldest first; replies wait for the next round.
    fn deliver_round(&mut self, filter: Link) -> Result<(), String> {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| self.matches(m, filter));
        self.in_flight = later;
        for msg in now {
            let (from, to) = self.backend.endpoints(&msg);
            let cut = self.isolated.is_some_and(|i| (i == from) != (i == to));
            self.deliver_one(msg, cut)?;
        }
        Ok(())
    }

    /// Delivery rounds until nothing is in flight, at most `rounds` of them.
    fn stabilize(&mut self, rounds: usize) -> Result<(), String> {
        for _ in 0..rounds {
            for n in self.campaigners.clone() {
                self.input(n, |b| b.election_timeout(n))?;
            }
            if self.in_flight.is_empty() {
                return Ok(());
            }
            self.deliver_round((None, None))?;
        }
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let oldest: Vec<String> = self
            .in_flight
            .iter()
            .take(4)
            .map(|m| self.backend.show(m))
            .collect();
        Err(format!(
            "stabilize did not settle in {rounds} rounds: {} messages still in flight (oldest: {})",
            self.in_flight.len(),
            oldest.join("; ")
        ))
    }

    /// Prints what node `n` persisted, sent and applied, in that order, and
    /// puts what it sent in flight.
    fn release(&mut self, n: NodeId, effects: Effects<B::Msg>) {
        for write in &effects.writes {
            let text = match write {
                DurableWrite::HardState { term, voted_for } => {
                    format!("term={term} vote={}", vote(*voted_for))
                }
                DurableWrite::TruncateFrom { index } => format!("truncate from {index}"),
                DurableWrite::Append { entries } => format!("append {}", entries_text(entries)),
            };
            writeln!(self.out, "  {n} persist {text}").unwrap();
        }
        for msg in effects.sent {
            writeln!(self.out, "  {n} send {}", self.backend.show(&msg)).unwrap();
            self.in_flight.push(msg);
        }
        for entry in effects.applied {
            writeln!(self.out, "  {n} apply {entry}").unwrap();
        }
    }

    fn status(&mut self) -> Result<(), String> {
        self.check_node(1)?;
        for n in 1..=self.servers as NodeId {
            match self.backend.status(n)? {
                Status::Crashed { term, vote: v, log } => writeln!(
                    self.out,
                    "  {n} crashed; durable term={term} vote={} log={}",
                    vote(v),
                    entries_text(&log)
                )
                .unwrap(),
                Status::Up {
                    role,
                    term,
                    vote: v,
                    commit,
                    log,
                    votes,
                    progress,
                } => {
                    let role = match role {
                        Role::Follower => "follower",
                        Role::Candidate => "candidate",
                        Role::Leader => "leader",
                    };
                    write!(
                        self.out,
                        "  {n} {role} term={term} vote={} commit={commit} log={}",
                        vote(v),
                        entries_text(&log)
                    )
                    .unwrap();
                    if let Some(votes) = votes {
                        let votes: Vec<String> = votes.iter().map(|v| v.to_string()).collect();
                        write!(self.out, " votes={{{}}}", votes.join(", ")).unwrap();
                    }
                    for (peer, next, matched) in progress {
                        write!(self.out, " {peer}:next={next},match={matched}").unwrap();
                    }
                    self.out.push('\n');
                }
            }
        }
        if !self.in_flight.is_empty() {
            writeln!(self.out, "  in flight: {}", self.in_flight.len()).unwrap();
        }
        Ok(())
    }
}

fn vote(v: Option<NodeId>) -> String {
    v.map_or("none".to_string(), |v| v.to_string())
}

fn entries_text(entries: &[Entry]) -> String {
    let items: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    format!("[{}]", items.join(", "))
}
