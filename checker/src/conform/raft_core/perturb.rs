//! Faults the harness can plant in the implementation's inputs, outputs or
//! storage, to show that it reports them: a harness that never fails proves
//! nothing.

use raft_core::{Message, MessageBody};

/// One planted fault. Each is applied where a faulty runtime or a faulty
/// implementation would produce it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Perturbation {
    /// A refused vote goes out as granted.
    GrantRefusedVote,
    /// Storage skips the truncation of a conflicting suffix.
    SkipTruncation,
    /// A restarted node gets its storage without the vote it cast.
    ForgetVoteOnRestart,
    /// A successful AppendEntries response acknowledges one entry more than
    /// the message carried.
    AckPastMessage,
    /// The leader commit of a delivered AppendEntries is lowered by one, so
    /// the follower's commit index stays behind.
    CommitBehind,
    /// The first message of a step goes to the wrong peer.
    WrongPeer,
}

impl Perturbation {
    pub const ALL: [Perturbation; 6] = [
        Perturbation::GrantRefusedVote,
        Perturbation::SkipTruncation,
        Perturbation::ForgetVoteOnRestart,
        Perturbation::AckPastMessage,
        Perturbation::CommitBehind,
        Perturbation::WrongPeer,
    ];

    /// Changes a message before the implementation receives it.
    pub fn perturb_input(self, m: &mut Message) {
        if let (Perturbation::CommitBehind, MessageBody::AppendEntries(ae)) = (self, &mut m.body) {
            ae.leader_commit = ae.leader_commit.saturating_sub(1);
        }
    }

    /// Changes the messages a node released.
    pub fn perturb_messages(self, messages: &mut [Message], servers: u8) {
        match self {
            Perturbation::GrantRefusedVote => {
                for m in messages.iter_mut() {
                    if let MessageBody::RequestVoteResponse(r) = &mut m.body {
                        r.vote_granted = true;
                    }
                }
            }
            Perturbation::AckPastMessage => {
                for m in messages.iter_mut() {
                    if let MessageBody::AppendEntriesResponse(r) = &mut m.body {
                        if r.success {
                            r.match_index += 1;
                        }
                    }
                }
            }
            Perturbation::WrongPeer => {
                // Node ids are 1..=n (see the adapter): the next peer in
                // turn that is neither the sender nor the receiver.
                if let Some(m) = messages.first_mut() {
                    let n = u64::from(servers);
                    let mut to = m.to % n + 1;
                    if to == m.from {
                        to = to % n + 1;
                    }
                    m.to = to;
                }
            }
            _ => {}
        }
    }
}
