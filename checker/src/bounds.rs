//! Bounds as command-line flags: the flags that reproduce a config (the
//! flags themselves are parsed by `crate::cli::BoundsArgs`).

use raft_spec::Config;

use crate::trace::Outcome;

// `raftcheck traces`' arguments (conform/walk.rs) still name the bounds here.

/// The command-line flags that reproduce `cfg` exactly.
pub fn flags_for(cfg: &Config) -> String {
    let mut s = format!(
        "--servers {} --max-term {} --max-log {} --batch {} --values {} --crashes {} --in-flight {} --network {}",
        cfg.servers,
        cfg.max_term,
        cfg.max_log_len,
        cfg.max_batch,
        cfg.values,
        cfg.max_crashes,
        cfg.max_in_flight,
        cfg.network
    );
    if let Some(bug) = cfg.bug {
        s.push_str(&format!(" --bug {bug}"));
    }
    if !cfg.variant.is_paper() {
        s.push_str(&format!(" --variant {}", cfg.variant));
    }
    s
}

/// The command that reproduces a counterexample (or, with `--keep-going`,
/// a witness) of a config with `raftcheck check`.
pub fn reproduce_command(cfg: &Config, outcome: Outcome) -> String {
    let mut s = format!("raftcheck check {}", flags_for(cfg));
    if outcome == Outcome::Witnesses {
        s.push_str(" --keep-going");
    }
    s
}

/// `--threads`, or every core when it is not given.
pub fn threads_or_all_cores(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
