//! Helpers shared by the tests: a cluster of nodes, messages routed by hand.
#![allow(dead_code)]

use raft::eraftpb::Message;
use raft_spec::message::Msg;
use raft_spec::server::ServerState;
use raft_spec::types::{Entry, ServerId, Value};
use raft_spec::{Config, Profile, Variant};
use raftcheck_adapter::{Implementation, Input};
use raftcheck_raft_rs::{Node, RaftRs};

pub const RS: RaftRs = RaftRs;
pub const S0: ServerId = ServerId(0);
pub const S1: ServerId = ServerId(1);
pub const S2: ServerId = ServerId(2);

pub fn cfg(max_batch: u8) -> Config {
    Config {
        max_batch,
        ..Profile::Quick.config()
    }
}

/// `cfg` under raft-rs's own variant.
pub fn raft_rs(cfg: Config) -> Config {
    Config {
        variant: Variant::RAFT_RS,
        ..cfg
    }
}

pub struct Cluster {
    pub cfg: Config,
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn new(cfg: &Config) -> Self {
        let nodes = (0..cfg.servers)
            .map(|i| RS.fresh(cfg, ServerId(i)).unwrap())
            .collect();
        Cluster {
            cfg: cfg.clone(),
            nodes,
        }
    }

    /// The image of `m` under the cluster's variant.
    pub fn image(&self, m: &Message) -> Msg {
        RS.model_message(&self.cfg, m).unwrap().msg
    }

    pub fn node(&mut self, s: ServerId) -> &mut Node {
        &mut self.nodes[s.0 as usize]
    }

    pub fn state(&self, s: ServerId) -> ServerState {
        RS.state(&self.nodes[s.0 as usize]).unwrap().unwrap()
    }

    pub fn input(&mut self, s: ServerId, input: Input<'_, Message>) -> Vec<Message> {
        RS.step(self.node(s), input).unwrap()
    }

    /// Delivers `m` to its receiver.
    pub fn deliver(&mut self, m: &Message) -> Vec<Message> {
        let to = RS.model_message(&self.cfg, m).unwrap().to;
        self.input(to, Input::Deliver(m))
    }
}

/// The one message of `sent` to `to`, with its image under the paper.
pub fn to(sent: &[Message], to: ServerId) -> (Message, Msg) {
    to_in(&cfg(1), sent, to)
}

/// The one message of `sent` to `to`, with its image under `cfg`.
pub fn to_in(cfg: &Config, sent: &[Message], to: ServerId) -> (Message, Msg) {
    let mut hits = sent
        .iter()
        .filter(|m| RS.model_message(cfg, m).unwrap().to == to);
    let m = hits.next().expect("a message to the server").clone();
    assert!(hits.next().is_none(), "one message to {to}: {sent:?}");
    let image = RS.model_message(cfg, &m).unwrap().msg;
    (m, image)
}

pub fn entry(term: u8, value: Value) -> Entry {
    Entry { term, value }
}

/// s0 elected in term 1 with s1's vote; returns what the new leader sent.
pub fn elect_s0(c: &mut Cluster) -> Vec<Message> {
    let votes = c.input(S0, Input::ElectionTimeout);
    let (rv, _) = to(&votes, S1);
    let replies = c.deliver(&rv);
    let (grant, _) = to(&replies, S0);
    c.deliver(&grant)
}
