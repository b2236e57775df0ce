use raft_spec::{Config, NetworkKind, Profile, RaftModel};
use stateright::{Checker, Model};

#[test]
fn quick_profile_with_stateright_dfs() {
    let model = RaftModel::new(Profile::Quick.config()).unwrap();
    let t = std::time::Instant::now();
    let checker = model.checker().symmetry().threads(2).spawn_dfs().join();
    eprintln!(
        "unique={} states={} depth={} in {:?}",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        t.elapsed()
    );
    for (name, path) in checker.discoveries() {
        eprintln!("discovery {name}: {} steps", path.into_actions().len());
    }
    checker.assert_properties();
    let _ = (Config::clone, NetworkKind::Lossy);
}
