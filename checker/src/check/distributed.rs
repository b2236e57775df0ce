//! `raftcheck check --distributed`: the flat model explored across timely
//! workers and processes (crate `raftcheck-distributed`), reported as any
//! check, with each discovery's shortest path rebuilt from its owners'
//! parent links and replayed in the actor model.

use std::collections::BTreeMap;

use raft_spec::flat::{FlatModel, FlatState};
use raft_spec::{Config, RaftModel};
use raftcheck_distributed::Cluster;
use raftcheck_engine as engine;

use super::{
    bench::check_json, replay, report::finish, CheckOptions, CheckRun, DistributedReport, Strategy,
};
use crate::error::{Error, Result};
use crate::markup::grouped;

/// Runs this process's part of a distributed check: the report on process
/// 0, `None` on the others.
pub fn run_distributed(
    cfg: &Config,
    opts: &CheckOptions,
    cluster: &Cluster,
) -> Result<Option<CheckRun>> {
    if opts.strategy != Strategy::Bfs || opts.disk.is_some() {
        return Err(Error::Options(
            "--distributed explores with the bfs strategy, in memory (not with --disk)",
        ));
    }
    let model = RaftModel::new(cfg.clone())?;
    let flat = FlatModel::new(cfg.clone()).expect("the config was validated");
    let symmetry: engine::Symmetry<FlatState> =
        opts.symmetry.then_some(FlatState::representative_if_other);
    let codec = || engine::Codec {
        encode: raft_spec::codec::encode_into,
        decode: raft_spec::codec::decode,
    };
    let options = raftcheck_distributed::Options {
        symmetry,
        stop_when: opts.stop_when,
        timeout: opts.timeout,
    };
    let mut cluster = cluster.clone();
    // Peers must explore the same model with the same options.
    cluster.tag = engine::fingerprint(&(
        cfg.summary(),
        opts.symmetry,
        format!("{:?}", opts.stop_when),
    ));
    let Some(report) = raftcheck_distributed::explore(flat.clone(), codec(), &options, &cluster)?
    else {
        return Ok(None);
    };
    let orbit_key = if symmetry.is_some() {
        FlatState::orbit_key
    } else {
        engine::fingerprint::<FlatState>
    };
    let behaviours = report
        .chains
        .iter()
        .filter_map(|(name, chain)| {
            let behaviour = engine::path_along(&flat, symmetry, orbit_key, Some(&codec()), chain)
                .and_then(|(_, steps)| replay(&model, steps));
            if behaviour.is_none() {
                tracing::error!(property = name, "could not rebuild the path to a discovery");
            }
            Some((*name, behaviour?))
        })
        .collect::<BTreeMap<_, _>>();
    let spread = DistributedReport {
        processes: cluster.processes,
        workers: cluster.workers,
    };
    let mut opts = opts.clone();
    opts.threads = cluster.processes * cluster.workers;
    Ok(Some(finish(
        cfg,
        &opts,
        &model,
        report.outcome,
        behaviours,
        None,
        Some(spread),
    )))
}

/// `raftcheck check --distributed --bench`: at `profile`'s bounds, the
/// in-memory engine on `workers` threads, then distributed with one
/// process of `workers` workers and with `workers` processes of one worker
/// each, every run in a fresh process; a table of their figures and times.
/// Fails if the runs disagree on any count.
pub fn distributed_bench(profile: raft_spec::Profile, workers: usize) -> Result<String> {
    let p = profile.name();
    let w = workers.to_string();
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "engine (in memory)",
            vec!["check", "--profile", p, "--threads", &w],
        ),
        (
            "1 process x W workers",
            vec![
                "check",
                "--profile",
                p,
                "--distributed",
                "--processes",
                "1",
                "--workers",
                &w,
            ],
        ),
        (
            "W processes x 1 worker",
            vec![
                "check",
                "--profile",
                p,
                "--distributed",
                "--processes",
                &w,
                "--workers",
                "1",
            ],
        ),
    ];
    let mut out = format!(
        "profile {p}, W = {workers}\n\
         | run | unique states | boundary | transitions | max depth | seconds | vs 1 process |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    let mut first: Option<[u64; 4]> = None;
    let mut one_process = f64::NAN;
    for (i, (name, args)) in runs.iter().enumerate() {
        let report = check_json(args, name)?;
        let num = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
        let counts = [
            num("unique_states"),
            num("boundary_states"),
            num("transitions"),
            num("max_depth"),
        ];
        if *first.get_or_insert(counts) != counts {
            return Err(Error::Mismatch(format!(
                "{name} counted {counts:?} (unique, boundary, transitions, max depth), \
                 the engine {:?}: `raftcheck {}`",
                first.expect("set"),
                args.join(" ")
            )));
        }
        let seconds = report["seconds"].as_f64().unwrap_or(f64::NAN);
        if i == 1 {
            one_process = seconds;
        }
        let ratio = if i == 2 {
            format!("{:.2}x", one_process / seconds)
        } else {
            "-".to_string()
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {seconds:.1} | {ratio} |\n",
            grouped(counts[0]),
            grouped(counts[1]),
            grouped(counts[2]),
            counts[3],
        ));
    }
    out.push_str(&format!(
        "reproduce: raftcheck check --distributed --bench --profile {p} --workers {workers} \
         (each row: raftcheck ARGS --format json --quiet, as listed in this function)\n"
    ));
    Ok(out)
}
