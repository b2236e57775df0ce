//! `raftcheck simulate --bench`: for every catalogued bug, the time the
//! swarm takes to find it at the deep bounds, beside the time the bug
//! catalogue's exhaustive search takes at the bug's own smallest bounds.

use std::time::Duration;

use raft_spec::{Bug, Config, Profile, Variant};

use super::{Shard, SimulateOptions};
use crate::bounds::flags_for;
use crate::bugs::{self, BugOptions};
use crate::error::Result;
use crate::markup::grouped;

/// The deep profile with one bug on, each bound raised to what the bug's
/// catalogue entry needs (five servers for votes-not-deduplicated, four
/// terms for commit-previous-term, a duplicating network where the entry
/// has one): the swarm then searches a space holding the catalogue's.
pub fn deep_bounds_for(bug: Bug) -> Config {
    let deep = Profile::Deep.config();
    let own = bug.config();
    Config {
        servers: deep.servers.max(own.servers),
        max_term: deep.max_term.max(own.max_term),
        max_log_len: deep.max_log_len.max(own.max_log_len),
        max_batch: deep.max_batch.max(own.max_batch),
        values: deep.values.max(own.values),
        max_crashes: deep.max_crashes.max(own.max_crashes),
        max_in_flight: deep.max_in_flight.max(own.max_in_flight),
        network: if own.network.is_duplicating() {
            own.network
        } else {
            deep.network
        },
        bug: Some(bug),
        variant: Variant::PAPER,
    }
}

/// One bug's row.
struct Row {
    bug: Bug,
    exhaustive: String,
    simulation: String,
    /// None for a liveness bug, which the swarm cannot show.
    rerun: Option<String>,
}

/// The table (Markdown) and the commands that reproduce each row. Each
/// simulation runs at most `cap`, from seed 0, on `threads` threads; each
/// exhaustive search is `raftcheck bugs --only BUG`'s, with its 120 s limit.
pub fn bench(depth: usize, cap: Duration, threads: usize) -> Result<String> {
    let mut rows = Vec::new();
    // The catalogue lists Bug::ALL in order.
    for (bug, entry) in Bug::ALL.into_iter().zip(bugs::catalogue()?) {
        eprintln!("simulate --bench: {bug}");
        let exhaustive = bugs::run_bug(
            bug,
            &BugOptions {
                threads,
                ..BugOptions::default()
            },
        )?
        .result;
        let exhaustive_cell = match (exhaustive.caught, exhaustive.depth) {
            (true, Some(d)) => format!("{:.2} s, {d} steps", exhaustive.seconds),
            (true, None) => format!("{:.2} s", exhaustive.seconds),
            (false, _) => format!("not caught ({:.0} s)", exhaustive.seconds),
        };
        let cfg = deep_bounds_for(bug);
        let info = bug.info();
        let opts = SimulateOptions {
            depth,
            walks: None,
            time: Some(cap),
            seed: 0,
            shard: Shard::WHOLE,
            threads,
            show_progress: false,
        };
        let rerun = format!(
            "raftcheck simulate {} --depth {depth} --seed 0 --time {}",
            flags_for(&cfg),
            cap.as_secs()
        );
        let simulation = if entry.liveness {
            format!(
                "n/a: liveness (\"{}\" never reached); a walk cannot show a state is never reached",
                info.violates
            )
        } else {
            let report = super::run(&cfg, &opts)?.report;
            match &report.violation {
                Some(v) => format!(
                    "{:.2} s, walk {} ({} run), {} steps minimised to {}{}",
                    v.seconds_to_find,
                    grouped(v.walk),
                    grouped(report.walks),
                    v.steps,
                    v.minimised_steps,
                    if v.property == info.violates {
                        String::new()
                    } else {
                        format!(" (violates {:?} first)", v.property)
                    }
                ),
                None => format!(
                    "not found in {} s ({} walks)",
                    cap.as_secs(),
                    grouped(report.walks)
                ),
            }
        };
        rows.push(Row {
            bug,
            exhaustive: exhaustive_cell,
            rerun: (!entry.liveness).then_some(rerun),
            simulation,
        });
    }
    let mut out = format!(
        "| bug | property | exhaustive, catalogue bounds (`bugs --only`) | swarm, deep bounds (cap {} s, depth {depth}) |\n\
         | --- | --- | --- | --- |\n",
        cap.as_secs()
    );
    for r in &rows {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.bug,
            r.bug.info().violates,
            r.exhaustive,
            r.simulation
        ));
    }
    out.push_str(&format!(
        "\nreproduce: raftcheck simulate --bench --depth {depth} --time {} --threads {threads}\n\
         each row: raftcheck bugs --only BUG --threads {threads}, and\n",
        cap.as_secs()
    ));
    for r in &rows {
        if let Some(rerun) = &r.rerun {
            out.push_str(&format!("  {:<26} {rerun} --threads {threads}\n", r.bug));
        }
    }
    Ok(out)
}
