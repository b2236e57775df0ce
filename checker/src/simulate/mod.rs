//! `raftcheck simulate`: swarm simulation, for bounds no exhaustive run
//! finishes. Many random walks over the model, each with its own seed and
//! its own fault mix (see `swarm.rs`), run on every core; every safety
//! property is checked in every state a walk reaches or considers, the
//! "sometimes" properties reached are counted (so a swarm that never gets
//! anywhere interesting shows), and the first violation found is minimised
//! (`minimise.rs`) and saved as an ordinary trace file.
//!
//! Walk k of a run with base seed S uses seed S + k, and the seed alone
//! fixes the walk (its mix and its steps), so any walk reruns alone. Walks
//! are split between shards by index: shard i of n runs the walks k with
//! k mod n = i.

use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use raft_spec::{Config, RaftModel};

use crate::behaviour::Behaviour;
use crate::bounds::flags_for;
use crate::check::{EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK};
use crate::error::Result;
use crate::markup::grouped;

mod bench;
pub mod minimise;
pub mod swarm;

pub use bench::{bench, deep_bounds_for};
pub use swarm::{ActionKind, Swarm};

/// Shard `index` of `count`: the walks k with k mod count = index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Every walk: one shard of one.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The index of this shard's `j`th walk.
    pub fn walk(&self, j: u64) -> u64 {
        self.index.saturating_add(j.saturating_mul(self.count))
    }

    /// Whether walk `k` is this shard's.
    pub fn owns(&self, k: u64) -> bool {
        k % self.count == self.index
    }

    /// How many of the walks `0..n` are this shard's.
    pub fn walks_below(&self, n: u64) -> u64 {
        if n <= self.index {
            0
        } else {
            (n - self.index - 1) / self.count + 1
        }
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let expected = "expected I/N, shard I of N with 0 <= I < N (e.g. 0/4, 3/4)";
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: {expected}"))?;
        let number = |x: &str, what: &str| {
            x.trim().parse::<u64>().map_err(|e| {
                format!("{s:?}: the shard {what} {x:?} is not a number ({e}); {expected}")
            })
        };
        let (index, count) = (number(i, "index")?, number(n, "count")?);
        if count == 0 {
            return Err(format!(
                "{s:?}: the shard count must be at least 1; {expected}"
            ));
        }
        if index >= count {
            return Err(format!(
                "{s:?}: shard index {index} is not below the shard count {count} \
                 (the shards of {count} are 0/{count} to {}/{count})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How a simulation runs.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Steps per walk (fewer if a walk has nothing left to do).
    pub depth: usize,
    /// Run the walks 0..N (this shard's of them); `None`: until `time`.
    pub walks: Option<u64>,
    /// Stop starting walks after this long.
    pub time: Option<Duration>,
    /// Walk k uses seed `seed + k`.
    pub seed: u64,
    pub shard: Shard,
    pub threads: usize,
    /// A progress line on stderr.
    pub show_progress: bool,
}

/// One property over the whole swarm.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyReach {
    pub name: &'static str,
    /// always | sometimes
    pub kind: &'static str,
    /// always: violated | no-violation-seen; sometimes: reached | not-reached
    pub status: &'static str,
    /// sometimes: the walks that reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walks: Option<u64>,
}

/// The violation a simulation found (the lowest-numbered violating walk).
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub property: &'static str,
    /// The walk's index k and its seed (base + k).
    pub walk: u64,
    pub seed: u64,
    /// The walk's fault mix.
    pub swarm: String,
    /// Steps of the walk to the violation, and after minimising.
    pub steps: usize,
    pub minimised_steps: usize,
    /// Seconds from the start to the first violation seen.
    pub seconds_to_find: f64,
    /// Where the minimised trace was saved (set by the caller that saves it).
    pub saved: Option<std::path::PathBuf>,
    /// The command that reruns this walk alone.
    pub rerun: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimulateReport {
    pub config: Config,
    pub depth: usize,
    pub first_seed: u64,
    pub shard: String,
    pub threads: usize,
    pub walks: u64,
    pub steps: u64,
    pub seconds: f64,
    /// walks (all asked for were run) | time | violation
    pub stopped_by: &'static str,
    pub properties: Vec<PropertyReach>,
    pub violation: Option<Found>,
}

/// A finished simulation: the report and the minimised counterexample.
pub struct SimulateRun {
    pub report: SimulateReport,
    pub counterexample: Option<Behaviour>,
}

impl SimulateReport {
    /// 0: no violation and every sometimes property reached; 1: a
    /// violation; 3: no violation, but some sometimes property was never
    /// reached (the walks proved little: as an incomplete `check`).
    pub fn exit_code(&self) -> u8 {
        if self.violation.is_some() {
            EXIT_FAILED
        } else if self.properties.iter().any(|p| p.status == "not-reached") {
            EXIT_INCOMPLETE
        } else {
            EXIT_OK
        }
    }
}

/// The shared counters of a run's worker threads.
struct Tally {
    next: AtomicU64,
    walks: AtomicU64,
    steps: AtomicU64,
    stop: AtomicBool,
    timed_out: AtomicBool,
    reached: Vec<AtomicU64>,
    found: Mutex<Option<(u64, swarm::WalkRun, Duration)>>,
}

/// Runs the swarm on `cfg`.
pub fn run(cfg: &Config, o: &SimulateOptions) -> Result<SimulateRun> {
    let model = RaftModel::new(cfg.clone())?;
    let checks = swarm::Checks::of(&model);
    let start = Instant::now();
    let limit = o.walks.map(|n| o.shard.walks_below(n));
    let tally = Tally {
        next: AtomicU64::new(0),
        walks: AtomicU64::new(0),
        steps: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
        reached: checks.sometimes.iter().map(|_| AtomicU64::new(0)).collect(),
        found: Mutex::new(None),
    };
    let worker = || loop {
        if tally.stop.load(Ordering::Relaxed) {
            return;
        }
        if o.time.is_some_and(|t| start.elapsed() >= t) {
            tally.timed_out.store(true, Ordering::Relaxed);
            return;
        }
        // Walks are claimed in order, so once walk k violates, every walk
        // below k is already running: the lowest violating walk is the same
        // whatever the threads, and it is the one reported.
        let j = tally.next.fetch_add(1, Ordering::Relaxed);
        if limit.is_some_and(|l| j >= l) {
            return;
        }
        let k = o.shard.walk(j);
        let run = swarm::walk(&model, &checks, o.depth, o.seed.wrapping_add(k));
        tally.walks.fetch_add(1, Ordering::Relaxed);
        tally
            .steps
            .fetch_add(run.actions.len() as u64, Ordering::Relaxed);
        for (i, r) in tally.reached.iter().enumerate() {
            if run.reached & (1 << i) != 0 {
                r.fetch_add(1, Ordering::Relaxed);
            }
        }
        if run.violation.is_some() {
            tally.stop.store(true, Ordering::Relaxed);
            let mut found = tally.found.lock().expect("found lock");
            let first_seen = found.as_ref().map_or(start.elapsed(), |f| f.2);
            if found.as_ref().is_none_or(|f| k < f.0) {
                *found = Some((k, run, first_seen));
            }
        }
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        if o.show_progress {
            s.spawn(|| progress(&tally, &done, start));
        }
        let workers: Vec<_> = (0..o.threads.max(1)).map(|_| s.spawn(worker)).collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let walks = tally.walks.load(Ordering::Relaxed);
    let found = tally.found.into_inner().expect("found lock");
    let mut counterexample = None;
    let violation = match found {
        Some((k, run, at)) => {
            let property = run.violation.expect("a found walk violates");
            let small = minimise::minimise(&model, &checks, &run.actions, property)
                .expect("a walk's own path replays to its violation");
            let found = Found {
                property,
                walk: k,
                seed: run.seed,
                swarm: run.swarm.describe(),
                steps: run.actions.len(),
                minimised_steps: small.1.len(),
                seconds_to_find: at.as_secs_f64(),
                saved: None,
                rerun: rerun_command(cfg, o.depth, run.seed),
            };
            counterexample = Some(small);
            Some(found)
        }
        None => None,
    };
    let mut properties: Vec<PropertyReach> = checks
        .safety
        .iter()
        .map(|p| PropertyReach {
            name: p.name,
            kind: "always",
            status: if violation.as_ref().is_some_and(|v| v.property == p.name) {
                "violated"
            } else {
                "no-violation-seen"
            },
            walks: None,
        })
        .collect();
    properties.extend(checks.sometimes.iter().zip(&tally.reached).map(|(p, r)| {
        let n = r.load(Ordering::Relaxed);
        PropertyReach {
            name: p.name,
            kind: "sometimes",
            status: if n > 0 { "reached" } else { "not-reached" },
            walks: Some(n),
        }
    }));
    let stopped_by = if violation.is_some() {
        "violation"
    } else if tally.timed_out.load(Ordering::Relaxed) {
        "time"
    } else {
        "walks"
    };
    let report = SimulateReport {
        config: cfg.clone(),
        depth: o.depth,
        first_seed: o.seed,
        shard: o.shard.to_string(),
        threads: o.threads.max(1),
        walks,
        steps: tally.steps.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        stopped_by,
        properties,
        violation,
    };
    Ok(SimulateRun {
        report,
        counterexample,
    })
}

/// The command that reruns the walk of `seed` alone.
pub fn rerun_command(cfg: &Config, depth: usize, seed: u64) -> String {
    format!(
        "raftcheck simulate {} --depth {depth} --seed {seed} --walks 1",
        flags_for(cfg)
    )
}

/// Walks and steps so far, redrawn twice a second on a terminal, every ten
/// seconds in a log.
fn progress(tally: &Tally, done: &AtomicBool, start: Instant) {
    let tty = std::io::stderr().is_terminal();
    let every = Duration::from_millis(if tty { 500 } else { 10_000 });
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let walks = tally.walks.load(Ordering::Relaxed);
        let line = format!(
            "[{secs:>6.1}s] walks {} | steps {} | {:.0} walks/s",
            grouped(walks),
            grouped(tally.steps.load(Ordering::Relaxed)),
            walks as f64 / secs
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
    }
    if tty {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

/// The report as text (the counterexample itself is the caller's to print).
pub fn render_text(r: &SimulateReport, command: &str) -> String {
    let mut out = format!("raftcheck simulate: {}\n", r.config.summary());
    out.push_str(&format!(
        "swarm of random walks of up to {} steps; walk k uses seed {} + k; shard {}; {} threads\n",
        r.depth, r.first_seed, r.shard, r.threads
    ));
    let secs = r.seconds.max(1e-9);
    out.push_str(&format!(
        "{} walks, {} steps in {:.2} s ({} walks/s, {} steps/s); stopped by {}\n\nproperties\n",
        grouped(r.walks),
        grouped(r.steps),
        r.seconds,
        grouped((r.walks as f64 / secs) as u64),
        grouped((r.steps as f64 / secs) as u64),
        r.stopped_by
    ));
    for p in &r.properties {
        let verdict = match (p.status, p.walks) {
            ("violated", _) => "VIOLATED".to_string(),
            ("reached", Some(n)) => {
                format!("reached in {} of {} walks", grouped(n), grouped(r.walks))
            }
            ("not-reached", _) => format!(
                "NOT REACHED in {} walks (longer walks, --depth, or more of them may reach it)",
                grouped(r.walks)
            ),
            _ => format!("no violation in {} walks", grouped(r.walks)),
        };
        out.push_str(&format!("  {:<9}  {:<52} {verdict}\n", p.kind, p.name));
    }
    if let Some(v) = &r.violation {
        out.push_str(&format!(
            "\nviolation: {:?} in walk {} (seed {}), found after {:.2} s\n  fault mix: {}\n  \
             the walk's {} steps minimised to {}\n",
            v.property, v.walk, v.seed, v.seconds_to_find, v.swarm, v.steps, v.minimised_steps
        ));
        if let Some(path) = &v.saved {
            out.push_str(&format!(
                "  saved: {p} (raftcheck show {p}; raftcheck explore {p})\n",
                p = path.display()
            ));
        }
        out.push_str(&format!("  rerun this walk alone: {}\n", v.rerun));
    }
    out.push_str(match r.exit_code() {
        EXIT_OK => "\nresult: OK: no violation, and every sometimes property was reached\n",
        EXIT_FAILED => "\nresult: FAILED\n",
        _ => {
            "\nresult: INCONCLUSIVE: no violation, but some sometimes property was never reached\n"
        }
    });
    out.push_str(&format!("reproduce: {command}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_walks() {
        for n in 1..=5u64 {
            let shards: Vec<Shard> = (0..n).map(|i| Shard { index: i, count: n }).collect();
            let mut all: Vec<u64> = shards
                .iter()
                .flat_map(|s| (0..s.walks_below(23)).map(|j| s.walk(j)))
                .collect();
            // Each shard's walks are its own ...
            for s in &shards {
                assert!((0..s.walks_below(23)).all(|j| s.owns(s.walk(j))));
            }
            // ... and together they are every walk, once.
            all.sort_unstable();
            assert_eq!(all, (0..23).collect::<Vec<_>>(), "{n} shards");
        }
    }

    #[test]
    fn shard_parsing_names_what_is_wrong() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        let err = |s: &str| s.parse::<Shard>().unwrap_err();
        assert!(err("3/2").contains("shard index 3 is not below the shard count 2"));
        assert!(err("0/0").contains("at least 1"));
        assert!(err("2").contains("expected I/N"));
        assert!(err("a/2").contains("index \"a\" is not a number"));
    }
}
