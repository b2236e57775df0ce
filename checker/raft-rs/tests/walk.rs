//! Random runs of a raft-rs cluster through the adapter alone (no model):
//! every state and message has a model form, no input the model could
//! give is refused by the adapter, and the abstract states keep Raft's
//! safety properties. A self-check of the adapter, not a conformance check.

use std::collections::BTreeMap;

use raft::eraftpb::Message;
use raft_spec::server::{Durable, Role, ServerState};
use raft_spec::types::{ServerId, Value};
use raft_spec::{Config, Profile, Variant};
use raftcheck_adapter::{AdapterError, Implementation, Input};
use raftcheck_raft_rs::RaftRs;

const RS: RaftRs = RaftRs;

/// SplitMix64: reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn check_safety(states: &[Option<ServerState>], leaders: &mut BTreeMap<u8, usize>) {
    let up: Vec<(usize, &ServerState)> = states
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .collect();
    for &(i, s) in &up {
        if s.role == Role::Leader {
            let first = *leaders.entry(s.term).or_insert(i);
            assert_eq!(first, i, "two leaders in term {}", s.term);
        }
        assert!(s.commit_index <= s.log.len(), "commit past the log: {s:?}");
    }
    for &(i, a) in &up {
        for &(j, b) in &up {
            // Log matching: an entry of the same index and term means the
            // same prefix.
            for n in 1..=a.log.len().min(b.log.len()) {
                if a.log.get(n).map(|e| e.term) == b.log.get(n).map(|e| e.term) {
                    assert_eq!(
                        a.log.slice_from(1, n),
                        b.log.slice_from(1, n),
                        "log matching, servers {i} and {j} at {n}"
                    );
                }
            }
            // Committed entries agree.
            let n = a.commit_index.min(b.commit_index);
            assert_eq!(
                a.log.slice_from(1, n),
                b.log.slice_from(1, n),
                "committed prefixes of {i} and {j}"
            );
        }
    }
}

/// One run; with `copy`, every node is replaced by its snapshot after
/// every step. Returns every step's node and message fingerprints.
fn run(cfg: &Config, seed: u64, steps: usize, copy: bool) -> Vec<u64> {
    let mut trace = Vec::new();
    let mut rng = Rng(seed);
    let mut nodes: Vec<_> = (0..cfg.servers)
        .map(|i| RS.fresh(cfg, ServerId(i)).unwrap())
        .collect();
    let mut up = vec![true; nodes.len()];
    let mut net: Vec<Message> = Vec::new();
    let mut leaders = BTreeMap::new();
    let mut crashes = 0;
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        let i = rng.below(nodes.len());
        let state = RS.state(&nodes[i]).unwrap();
        let sent = match (rng.below(8), state) {
            (0..=2, _) if !net.is_empty() => {
                let m = net.swap_remove(rng.below(net.len()));
                let to = RS.model_message(cfg, &m).unwrap().to.0 as usize;
                if !up[to] || rng.below(5) == 0 {
                    continue; // lost
                }
                RS.step(&mut nodes[to], Input::Deliver(&m))
                    .unwrap_or_else(|e| panic!("{ctx}: deliver {m:?}: {e}"))
            }
            (3, Some(s)) if s.role != Role::Leader && s.term < cfg.max_term => {
                RS.step(&mut nodes[i], Input::ElectionTimeout).unwrap()
            }
            (4, Some(s)) if s.role == Role::Leader => {
                RS.step(&mut nodes[i], Input::HeartbeatTimeout).unwrap()
            }
            (5, Some(s)) if s.role == Role::Leader && s.log.len() < cfg.max_log_len => {
                let v = Value(1 + rng.below(cfg.values.max(1) as usize) as u8);
                RS.step(&mut nodes[i], Input::Propose(v))
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"))
            }
            (6, Some(_)) if crashes < cfg.max_crashes => {
                crashes += 1;
                RS.crash(&mut nodes[i]);
                up[i] = false;
                Vec::new()
            }
            (7, None) => {
                RS.recover(&mut nodes[i]).unwrap();
                up[i] = true;
                Vec::new()
            }
            _ => continue,
        };
        for m in &sent {
            let image = RS
                .model_message(cfg, m)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert!(RS.fingerprint(&nodes[image.from.0 as usize]) != 0);
        }
        net.extend(sent.iter().cloned());
        let states: Vec<_> = nodes
            .iter()
            .map(|n| RS.state(n).unwrap_or_else(|e| panic!("{ctx}: {e}")))
            .collect();
        for (n, s) in nodes.iter().zip(&states) {
            let d = RS.storage(n).unwrap();
            if let Some(s) = s {
                let commit_index = if cfg.variant.persisted_commit {
                    s.commit_index
                } else {
                    0
                };
                let want = Durable {
                    commit_index,
                    ..s.durable()
                };
                assert_eq!(d, want, "{ctx}: storage is the state's durable part");
            }
        }
        check_safety(&states, &mut leaders);
        trace.extend(sent.iter().map(|m| RS.message_fingerprint(m)));
        trace.extend(nodes.iter().map(|n| RS.fingerprint(n)));
        if copy {
            for n in &mut nodes {
                let fp = RS.fingerprint(n);
                *n = RS
                    .snapshot(n)
                    .unwrap_or_else(|| panic!("{ctx}: no snapshot of {n:?}"));
                assert_eq!(RS.fingerprint(n), fp, "{ctx}");
            }
        }
    }
    trace
}

#[test]
fn random_runs_stay_representable_and_safe() {
    let cfg = Config {
        max_term: 4,
        max_log_len: 5,
        values: 2,
        max_crashes: 2,
        ..Profile::Quick.config()
    };
    for variant in [Variant::PAPER, Variant::RAFT_RS] {
        for max_batch in [1, 2, 7] {
            let cfg = Config {
                max_batch,
                variant,
                ..cfg.clone()
            };
            for seed in 0..150 {
                run(&cfg, seed, 120, false);
            }
        }
    }
}

#[test]
fn a_snapshot_behaves_as_its_original() {
    let cfg = Config {
        max_term: 4,
        max_log_len: 5,
        values: 2,
        max_crashes: 2,
        max_batch: 2,
        ..Profile::Quick.config()
    };
    for variant in [Variant::PAPER, Variant::RAFT_RS] {
        let cfg = Config {
            variant,
            ..cfg.clone()
        };
        for seed in 0..60 {
            assert_eq!(
                run(&cfg, seed, 120, true),
                run(&cfg, seed, 120, false),
                "{variant} seed {seed}"
            );
        }
    }
}

#[test]
fn a_snapshot_has_its_own_storage() {
    let cfg = Profile::Quick.config();
    let node = RS.fresh(&cfg, ServerId(0)).unwrap();
    let mut copy = RS.snapshot(&node).unwrap();
    let before = RS.fingerprint(&node);
    RS.step(&mut copy, Input::ElectionTimeout).unwrap();
    assert_eq!(RS.fingerprint(&node), before);
    assert_eq!(RS.storage(&node).unwrap().term, 0);
    assert_eq!(RS.storage(&copy).unwrap().term, 1);
}

#[test]
fn a_proposal_to_a_follower_is_refused() {
    let cfg = Profile::Quick.config();
    let mut node = RS.fresh(&cfg, ServerId(0)).unwrap();
    let err = RS.step(&mut node, Input::Propose(Value(1))).unwrap_err();
    assert!(matches!(err, AdapterError::Refused { .. }), "{err}");
}
