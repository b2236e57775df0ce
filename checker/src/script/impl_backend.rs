//! The implementation's backend: raft-core nodes in memory. Each `Ready`'s
//! writes go to the node's storage before its messages are released (the
//! persistence contract); a crash keeps only that storage.

use raft_core::{Bytes, Config, DurableState, Message, NodeId, ProposeError, RaftNode, Ready};

use super::driver::{Backend, Effects, Proposal, Status};

/// One node: running (or down) and the storage its writes built.
struct MemNode {
    node: Option<RaftNode>,
    storage: DurableState,
}

#[derive(Default)]
pub struct ImplBackend {
    nodes: Vec<MemNode>,
    batch: usize,
}

impl ImplBackend {
    fn config(&self, n: NodeId) -> Config {
        Config::new(n, 1..=self.nodes.len() as NodeId).with_limits(self.batch, usize::MAX)
    }

    fn slot(&mut self, n: NodeId) -> &mut MemNode {
        &mut self.nodes[n as usize - 1]
    }

    fn running(&mut self, n: NodeId) -> Result<&mut RaftNode, String> {
        self.slot(n)
            .node
            .as_mut()
            .ok_or_else(|| format!("node {n} is crashed"))
    }

    /// Persists a `Ready` into `n`'s storage, then releases the rest.
    fn release(&mut self, n: NodeId, ready: Ready) -> Effects<Message> {
        let (writes, unpersisted) = ready.into_writes();
        let slot = self.slot(n);
        for w in &writes {
            slot.storage.apply(w);
        }
        let output = unpersisted.persisted();
        Effects {
            writes,
            sent: output.messages,
            applied: output.committed,
        }
    }
}

impl Backend for ImplBackend {
    type Msg = Message;

    fn start(&mut self, servers: usize, batch: Option<usize>) -> Result<(), String> {
        self.batch = batch.unwrap_or(usize::MAX);
        self.nodes = (0..servers)
            .map(|_| MemNode {
                node: None,
                storage: DurableState::default(),
            })
            .collect();
        for n in 1..=servers as NodeId {
            let node = RaftNode::new(self.config(n)).map_err(|e| e.to_string())?;
            self.slot(n).node = Some(node);
        }
        Ok(())
    }

    fn election_timeout(&mut self, n: NodeId) -> Result<Effects<Message>, String> {
        let ready = self.running(n)?.election_timeout();
        Ok(self.release(n, ready))
    }

    fn heartbeat_timeout(&mut self, n: NodeId) -> Result<Effects<Message>, String> {
        let ready = self.running(n)?.heartbeat_timeout();
        Ok(self.release(n, ready))
    }

    fn propose(&mut self, n: NodeId, value: &str) -> Result<Proposal<Message>, String> {
        match self
            .running(n)?
            .propose(Bytes::copy_from_slice(value.as_bytes()))
        {
            Ok((p, ready)) => Ok(Proposal::Appended {
                index: p.index,
                term: p.term,
                effects: self.release(n, ready),
            }),
            Err(ProposeError::NotLeader { .. } | ProposeError::NoLeader) => Ok(Proposal::NotLeader),
        }
    }

    fn deliver(&mut self, msg: Message) -> Result<Effects<Message>, String> {
        let to = msg.to;
        let ready = self.running(to)?.step(msg);
        Ok(self.release(to, ready))
    }

    fn lose(&mut self, _msg: Message) -> Result<(), String> {
        Ok(())
    }

    fn crash(&mut self, n: NodeId) -> Result<(), String> {
        self.slot(n).node = None;
        Ok(())
    }

    fn restart(&mut self, n: NodeId) -> Result<(), String> {
        let durable = self.slot(n).storage.clone();
        let node = RaftNode::restart(self.config(n), durable).map_err(|e| e.to_string())?;
        self.slot(n).node = Some(node);
        Ok(())
    }

    fn is_crashed(&self, n: NodeId) -> bool {
        self.nodes[n as usize - 1].node.is_none()
    }

    fn status(&self, n: NodeId) -> Result<Status, String> {
        let slot = &self.nodes[n as usize - 1];
        let Some(node) = &slot.node else {
            let d = &slot.storage;
            return Ok(Status::Crashed {
                term: d.term,
                vote: d.voted_for,
                log: d.log.clone(),
            });
        };
        Ok(Status::Up {
            role: node.role(),
            term: node.term(),
            vote: node.voted_for(),
            commit: node.commit_index(),
            log: node.log().to_vec(),
            votes: node.granted_votes().map(|v| v.iter().copied().collect()),
            progress: node
                .progresses()
                .into_iter()
                .map(|(peer, p)| (peer, p.next_index, p.match_index))
                .collect(),
        })
    }

    fn endpoints(&self, msg: &Message) -> (NodeId, NodeId) {
        (msg.from, msg.to)
    }

    fn show(&self, msg: &Message) -> String {
        msg.to_string()
    }
}
