//! `raftkv bench`: load and failover measurements.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::CommandFactory;

use raftkv::bench::{self, Op, Target};
use raftkv::supervisor::Supervisor;

use crate::args::*;
use crate::cluster::*;
use crate::*;

pub(crate) fn run_bench(a: BenchArgs) -> Result<()> {
    install_signal_handlers();
    let target = match a.target {
        BenchTarget::Raftkv => Target::Raftkv,
        BenchTarget::Etcd => Target::Etcd,
    };
    let label = a.label.clone().unwrap_or_else(|| match target {
        Target::Raftkv => "raftkv".into(),
        Target::Etcd => "etcd".into(),
    });
    let mut progress = |line: &str| eprintln!("bench: {line}");
    if let Some(rounds) = a.failover {
        return run_failover(&a, target, &label, rounds, &mut progress);
    }
    progress(&format!(
        "looking for the leader among {}",
        a.ep.endpoints.join(",")
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = loop {
        if let Some(l) = bench::find_leader(target, &a.ep.endpoints) {
            break l;
        }
        if Instant::now() > deadline {
            bail!("no leader found among {:?}", a.ep.endpoints);
        }
        if !sleep_unless_signalled(Duration::from_millis(200)) {
            bail!("interrupted");
        }
    };
    let duration = Duration::from_secs(a.duration);
    let mut runs: Vec<(Op, usize)> = a
        .concurrency
        .iter()
        .map(|&c| (Op::Put, c as usize))
        .collect();
    if a.get_concurrency > 0 {
        runs.push((Op::Get, a.get_concurrency as usize));
    }
    progress(&format!(
        "leader {leader}; {} runs of {} s each",
        runs.len(),
        a.duration
    ));
    println!("| system | load | ops/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (op, c) in runs {
        let r = bench::run(
            target,
            &leader,
            op,
            c,
            duration,
            a.keyspace,
            &SIGNALLED,
            &mut progress,
        );
        if r.interrupted {
            bail!("interrupted");
        }
        println!(
            "| {label} | {}, {c} conn | {:.0} | {:.2} | {:.2} | {} |",
            op.name(),
            r.ops_per_sec(),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
    }
    Ok(())
}

/// `raftkv bench`'s clap command, for argument errors found after parsing.
pub(crate) fn bench_command() -> clap::Command {
    Cli::command()
        .find_subcommand("bench")
        .expect("raftkv has a bench subcommand")
        .clone()
}

/// `raftkv bench --failover ROUNDS`. The nodes it restarts are its
/// children and stop when it returns (normally, by error or signal).
pub(crate) fn run_failover(
    a: &BenchArgs,
    target: Target,
    label: &str,
    rounds: u64,
    progress: bench::Progress,
) -> Result<()> {
    let mut pids = a.pids.clone();
    if let Some(p) = &pids {
        if p.len() != a.ep.endpoints.len() {
            bench_command()
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!(
                        "--pids lists {} pids for {} endpoints: give one per endpoint, in order",
                        p.len(),
                        a.ep.endpoints.len()
                    ),
                )
                .exit();
        }
    } else if target == Target::Etcd {
        bench_command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--target etcd --failover needs --pids (one per endpoint, in order)",
            )
            .exit();
    }
    let mut restarted = Supervisor::new();
    let mut gaps = Vec::new();
    for round in 1..=rounds {
        progress(&format!("failover round {round} of {rounds}"));
        let f = bench::failover(
            target,
            &a.ep.endpoints,
            pids.as_deref(),
            &mut restarted,
            &SIGNALLED,
            progress,
        )
        .map_err(anyhow::Error::msg)?;
        println!(
            "{label} failover round {round}: killed pid {}, gap {} ms, restarted as pid {}",
            f.killed_pid,
            f.gap
                .map_or("none within 30 s".into(), |g| g.as_millis().to_string()),
            f.restarted_pid.map_or("-".into(), |p| p.to_string())
        );
        if let (Some(pids), Some(new)) = (pids.as_mut(), f.restarted_pid) {
            for p in pids.iter_mut().filter(|p| **p == f.killed_pid) {
                *p = new;
            }
        }
        let Some(gap) = f.gap else {
            bail!("no write was acknowledged within 30 s of killing the leader");
        };
        gaps.push(gap.as_millis());
        if round < rounds {
            progress("letting the restarted node rejoin (3 s)");
            if !sleep_unless_signalled(Duration::from_secs(3)) {
                bail!("interrupted");
            }
        }
    }
    gaps.sort_unstable();
    println!(
        "{label} failover gaps (ms): {gaps:?}, median {}",
        gaps[gaps.len() / 2]
    );
    let running = restarted.running();
    if !running.is_empty() {
        progress(&format!(
            "stopping the nodes this bench restarted (pids {running:?})"
        ));
    }
    Ok(())
}
