//! `FlatModel` is `RaftModel` in another representation: on every state
//! reachable within several bounds (every network kind, crashes, five servers,
//! every bug), converting to a flat state commutes with every step, the
//! actions agree, and so do the bounds and every property. Each flat state
//! also survives the frontier codec's round trip.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use raft_spec::flat::{FlatModel, FlatState};
use raft_spec::servers::Servers;
use raft_spec::{codec, Bug, Config, NetworkKind, Profile, RaftModel, Variant};
use stateright::Model;

fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// Walks `RaftModel` breadth-first over up to `limit` states, checking the
/// flat model against it at each; returns the states visited.
fn agrees_breadth_first(cfg: Config, limit: usize) -> usize {
    let raft = RaftModel::new(cfg.clone()).unwrap();
    let flat = FlatModel::new(cfg).unwrap();
    let raft_props = raft.properties();
    let flat_props = flat.properties();
    assert_eq!(
        raft_props.iter().map(|p| p.name).collect::<Vec<_>>(),
        flat_props.iter().map(|p| p.name).collect::<Vec<_>>()
    );
    let inits = raft.init_states();
    assert_eq!(
        inits.iter().map(FlatState::from).collect::<Vec<_>>(),
        flat.init_states()
    );
    let mut seen = HashSet::new();
    let mut queue: VecDeque<_> = inits.into();
    while let Some(s) = queue.pop_front() {
        if seen.len() >= limit {
            break;
        }
        if !seen.insert(hash_of(&s)) {
            continue;
        }
        let f = FlatState::from(&s);
        assert_eq!(f.to_actor_state(), s, "flat state converts back");
        let decoded = codec::decode(&codec::encode(&f));
        assert_eq!(decoded, f, "codec round trip");
        assert_eq!(hash_of(&decoded), hash_of(&f));
        assert_eq!(raft.within_boundary(&s), flat.within_boundary(&f));
        for (rp, fp) in raft_props.iter().zip(&flat_props) {
            assert_eq!(
                (rp.condition)(&raft, &s),
                (fp.condition)(&flat, &f),
                "{}",
                rp.name
            );
        }
        let mut raft_actions = Vec::new();
        raft.actions(&s, &mut raft_actions);
        let mut flat_actions = Vec::new();
        flat.actions(&f, &mut flat_actions);
        let key = |a: &raft_spec::Action| format!("{a:?}");
        let mut r: Vec<_> = raft_actions.iter().map(key).collect();
        let mut l: Vec<_> = flat_actions.iter().map(key).collect();
        r.sort();
        l.sort();
        assert_eq!(r, l, "the same actions are enabled");
        for a in raft_actions {
            let next = raft.next_state(&s, a.clone());
            let flat_next = flat.next_state(&f, a.clone());
            assert_eq!(
                next.as_ref().map(FlatState::from),
                flat_next,
                "{a:?} leads to the same state"
            );
            if let Some(next) = next {
                // Symmetry: the representative is a renaming of the state.
                let fnext = flat_next.unwrap();
                assert_eq!(fnext.representative().orbit_key(), fnext.orbit_key());
                if raft.within_boundary(&next) {
                    queue.push_back(next);
                }
            }
        }
    }
    seen.len()
}

#[test]
fn agrees_on_the_quick_profile() {
    let n = agrees_breadth_first(Profile::Quick.config(), usize::MAX);
    assert!(n > 10_000, "explored only {n}");
}

#[test]
fn agrees_with_crashes_and_a_lossy_network() {
    agrees_breadth_first(Profile::Ci.config(), 20_000);
}

#[test]
fn agrees_on_a_duplicating_network_with_five_servers() {
    let cfg = Config {
        servers: 5,
        network: NetworkKind::LossyDuplicating,
        values: 2,
        bug: Some(Bug::VotesNotDeduplicated),
        ..Profile::Quick.config()
    };
    agrees_breadth_first(cfg, 5_000);
}

#[test]
fn agrees_on_a_reordering_network() {
    let cfg = Config {
        network: NetworkKind::Reordering,
        ..Profile::Quick.config()
    };
    agrees_breadth_first(cfg, 10_000);
}

/// The variants' fields (a known leader, refusals, progress states, a
/// persisted commit, the new RPCs) convert, encode and step alike too.
#[test]
fn agrees_under_the_raft_rs_variant() {
    let quick = Config {
        variant: Variant::RAFT_RS,
        ..Profile::Quick.config()
    };
    agrees_breadth_first(quick, 40_000);
    let ci = Config {
        variant: Variant::RAFT_RS,
        ..Profile::Ci.config()
    };
    agrees_breadth_first(ci, 20_000);
}

#[test]
fn agrees_under_each_option_alone() {
    for variant in raft_spec::variant::each_preset_and_option() {
        let cfg = Config {
            variant,
            ..Profile::Ci.config()
        };
        agrees_breadth_first(cfg, 5_000);
    }
}

#[test]
fn agrees_with_every_bug_switched_on() {
    for bug in Bug::ALL {
        agrees_breadth_first(bug.config(), 3_000);
    }
}

#[test]
fn equal_states_hash_alike_and_renamings_share_an_orbit() {
    let cfg = Profile::Ci.config();
    let raft = RaftModel::new(cfg).unwrap();
    let mut s = raft.init_states().remove(0);
    // A few steps in, so servers differ.
    for _ in 0..4 {
        s = raft.next_states(&s).remove(0);
    }
    let f = FlatState::from(&s);
    assert_eq!(hash_of(&f), hash_of(&FlatState::from(&f.to_actor_state())));
    for p in raft_spec::symmetry::permutations(f.server_count()) {
        let g = f.permute(&p);
        assert_eq!(g.orbit_key(), f.orbit_key());
        assert_eq!(g.representative().orbit_key(), f.orbit_key());
    }
}

/// A send to a full network is counted, not kept: the state is then past
/// every in-flight bound, and its encoding (so its hash) says so.
#[test]
fn a_send_to_a_full_network_is_counted_and_encoded() {
    use raft_spec::flat::{Packet, NETWORK_CAPACITY};
    use raft_spec::message::{Heartbeat, Msg};
    use raft_spec::types::ServerId;
    let flat = FlatModel::new(Profile::Quick.config()).unwrap();
    let mut s = flat.init_states().remove(0);
    let packet = |k: usize| Packet {
        src: ServerId(0),
        dst: ServerId(1),
        msg: Msg::Heartbeat(Heartbeat {
            term: k as u8,
            leader_commit: 0,
        }),
    };
    for k in 0..NETWORK_CAPACITY {
        s.network.send(packet(k), false);
    }
    let full = s;
    s.network.send(packet(NETWORK_CAPACITY), false);
    assert_eq!(s.network.overflow(), 1);
    assert_eq!(s.network.in_flight(), NETWORK_CAPACITY + 1);
    assert_ne!(s, full);
    let decoded = codec::decode(&codec::encode(&s));
    assert_eq!(decoded, s);
    assert_ne!(hash_of(&decoded), hash_of(&full));
    assert!(!flat.within_boundary(&s));
}
