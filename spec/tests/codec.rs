//! The frontier codec round-trips every state it meets.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use raft_spec::flat::FlatState;
use raft_spec::{codec, Bug, Config, NetworkKind, Profile, RaftModel};
use stateright::Model;

fn fingerprint(s: &impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn round_trips_breadth_first(cfg: Config, limit: usize) {
    let model = RaftModel::new(cfg).unwrap();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<_> = model.init_states().into();
    while let Some(s) = queue.pop_front() {
        if seen.len() >= limit {
            break;
        }
        if !seen.insert(fingerprint(&s)) {
            continue;
        }
        let flat = FlatState::from(&s);
        let back = codec::decode(&codec::encode(&flat));
        assert_eq!(back, flat);
        assert_eq!(fingerprint(&back), fingerprint(&flat));
        queue.extend(model.next_states(&s));
    }
    assert!(
        seen.len() >= limit.min(1000),
        "explored only {}",
        seen.len()
    );
}

#[test]
fn round_trips_ci_states() {
    round_trips_breadth_first(Profile::Ci.config(), 20_000);
}

#[test]
fn round_trips_duplicating_network_and_five_servers() {
    let cfg = Config {
        servers: 5,
        network: NetworkKind::LossyDuplicating,
        values: 2,
        bug: Some(Bug::VotesNotDeduplicated),
        ..Profile::Quick.config()
    };
    round_trips_breadth_first(cfg, 5_000);
}
