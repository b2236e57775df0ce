//! The implementation's backend: raft-core nodes, each driven by raft-sim's
//! [`MemNode`] (each `Ready`'s writes go to its in-memory storage before
//! its messages are released; a crash keeps only that storage).

use raft_core::{Bytes, Config, Message, NodeId, ProposeError, RaftNode, Ready};
use raft_sim::MemNode;

use super::driver::{Backend, Effects, Proposal, Status};

#[derive(Default)]
pub struct ImplBackend {
    nodes: Vec<MemNode>,
}

impl ImplBackend {
    fn slot(&mut self, n: NodeId) -> &mut MemNode {
        &mut self.nodes[n as usize - 1]
    }

    fn running(&mut self, n: NodeId) -> Result<&mut RaftNode, String> {
        self.slot(n)
            .node_mut()
            .ok_or_else(|| format!("node {n} is crashed"))
    }

    /// Persists a `Ready` into `n`'s storage, then releases the rest; the
    /// writes are kept for the transcript.
    fn release(&mut self, n: NodeId, ready: Ready) -> Effects<Message> {
        let mut writes = Vec::new();
        let output = self.slot(n).persist_with(ready, |durable, w| {
            durable.apply(w);
            writes.push(w.clone());
        });
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
        let batch = batch.unwrap_or(usize::MAX);
        let ids = 1..=servers as NodeId;
        self.nodes = ids
            .clone()
            .map(|n| {
                MemNode::new(Config::new(n, ids.clone()).with_limits(batch, usize::MAX))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
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
        self.slot(n).crash();
        Ok(())
    }

    fn restart(&mut self, n: NodeId) -> Result<(), String> {
        self.slot(n).restart().map_err(|e| e.to_string())?;
        Ok(())
    }

    fn is_crashed(&self, n: NodeId) -> bool {
        self.nodes[n as usize - 1].is_crashed()
    }

    fn status(&self, n: NodeId) -> Result<Status, String> {
        let slot = &self.nodes[n as usize - 1];
        let Some(node) = slot.node() else {
            let d = slot.durable();
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
