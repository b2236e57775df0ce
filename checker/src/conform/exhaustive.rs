//! Exhaustive conformance (`raftcheck conform`): every transition of the
//! product of the bounded model and the implementation (see
//! [`product`](super::product)) is taken and compared.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use raft_spec::coverage::RuleCoverage;
use raft_spec::Config;
use raftcheck_adapter::{Implementation, Loosening};
use raftcheck_engine::{self as engine, Options, Progress, StopWhen};

use super::divergence::Divergence;
use super::product::{Keying, ProductModel, ProductState, CONFORMS};
use crate::error::{Error, Result};

/// How to run an exhaustive conformance check.
#[derive(Clone, Debug, Default)]
pub struct ExhaustiveOptions {
    pub threads: usize,
    pub timeout: Option<Duration>,
    pub show_progress: bool,
    /// How nodes are told apart (the default is the sound one).
    pub keying: Keying,
    /// The comparisons switched off.
    pub loosen: super::Loosen,
    /// A fault planted in the harness, for the report.
    pub planted: Option<String>,
    /// Stop exploring at the implementation's known design differences
    /// (`Implementation::known_difference`) instead of stopping the run.
    pub past_known: bool,
}

/// A known design difference the product reached (with `past_known`).
#[derive(Clone, Debug, Serialize)]
pub struct KnownReached {
    pub name: &'static str,
    /// Transitions that reached it (not explored further).
    pub transitions: u64,
    /// The first seen.
    pub action: String,
    #[serde(flatten)]
    pub mismatch: super::Mismatch,
}

/// The figures of one exhaustive run.
#[derive(Clone, Debug, Serialize)]
pub struct ExhaustiveReport {
    pub implementation: String,
    pub config: Config,
    /// A fault planted in the harness, if any.
    pub perturbation: Option<String>,
    /// Comparisons switched off, with why.
    pub loosened: Vec<(Loosening, String)>,
    pub keying: Keying,
    pub threads: usize,
    /// Every state within the bounds was explored.
    pub complete: bool,
    /// Distinct product states (model state × node states × messages).
    pub unique_states: u64,
    /// Transitions taken, each checked on the implementation.
    pub transitions_checked: u64,
    /// Distinct (server, node state) pairs reached.
    pub implementation_states: usize,
    /// Steps the implementation actually ran (each distinct (node, input)
    /// pair once, plus the replays that rebuilt nodes).
    pub implementation_steps: u64,
    /// Nodes rebuilt by replaying their inputs (no snapshot).
    pub rebuilds: u64,
    /// Messages the model sent that the implementation did not, accepted as
    /// losses of a lossy network.
    pub messages_lost: u64,
    pub max_depth: usize,
    pub seconds: f64,
    /// The rules the model's side of the product took.
    pub coverage: Option<Vec<RuleCoverage>>,
    /// With `past_known`: the known design differences reached, where the
    /// exploration stopped going deeper.
    pub known_differences: Vec<KnownReached>,
    pub divergence: Option<Divergence>,
}

impl ExhaustiveReport {
    pub fn ok(&self) -> bool {
        self.complete && self.divergence.is_none()
    }

    pub fn states_per_second(&self) -> f64 {
        self.unique_states as f64 / self.seconds.max(1e-9)
    }
}

/// A finished run: the report and, on divergence, the shortest behaviour
/// that ends with the divergent step (`None` also when that path is no
/// behaviour of the model: with messages loosened).
pub struct ExhaustiveRun {
    pub report: ExhaustiveReport,
    pub behaviour: Option<crate::behaviour::Behaviour>,
}

fn orbit_key(s: &ProductState) -> u64 {
    raftcheck_engine::fingerprint(s)
}

/// Runs the product exploration.
pub fn run<I: Implementation>(
    imp: &I,
    cfg: &Config,
    opts: &ExhaustiveOptions,
) -> Result<ExhaustiveRun> {
    let loosened = opts.loosen.resolve(imp, cfg);
    let pm = ProductModel::new(
        imp,
        cfg,
        opts.keying,
        loosened.iter().map(|(l, _)| *l).collect(),
    )?
    .past_known(opts.past_known);
    let progress = Progress::default();
    let codec = super::product::codec();
    let exploration = std::thread::scope(|scope| {
        if opts.show_progress {
            scope.spawn(|| raftcheck_engine::progress::report_until_done(&progress));
        }
        let e = engine::explore_with_codec(
            &pm,
            &Options {
                threads: opts.threads,
                symmetry: None,
                stop_when: StopWhen::AnyViolation,
                timeout: opts.timeout,
                memory_budget: None,
            },
            Some(&codec),
            &progress,
        );
        progress.done.store(true, Ordering::Relaxed);
        e
    });
    let outcome = &exploration.outcome;
    let mut divergence = None;
    let mut behaviour = None;
    if let Some(d) = outcome.discoveries.get(CONFORMS) {
        let (init, steps) = exploration
            .path(&pm, None, orbit_key, Some(&codec), d.fingerprint)
            .ok_or(Error::NoPath)?;
        let (action, last) = steps.last().expect("a divergence is after a step");
        let mismatch = last
            .divergence
            .as_deref()
            .cloned()
            .expect("the path ends in the divergent state");
        divergence = Some(Divergence {
            step: steps.len(),
            action: raft_spec::RaftModel::describe_action(&action.action),
            mismatch,
            bug: cfg.bug,
        });
        behaviour = pm.behaviour(&init, &steps);
    }
    let counts = &pm.memo().counts;
    let report = ExhaustiveReport {
        implementation: imp.name().to_string(),
        config: cfg.clone(),
        perturbation: opts.planted.clone(),
        loosened,
        keying: opts.keying,
        threads: opts.threads,
        complete: outcome.complete,
        unique_states: outcome.unique,
        transitions_checked: outcome.transitions,
        implementation_states: pm.memo().node_states(),
        implementation_steps: counts.steps_run.load(Ordering::Relaxed),
        rebuilds: counts.rebuilds.load(Ordering::Relaxed),
        messages_lost: pm.lost(),
        max_depth: outcome.max_depth,
        seconds: outcome.elapsed.as_secs_f64(),
        coverage: crate::coverage::from_counts(cfg, outcome.rules.as_ref()),
        known_differences: {
            let mut k: Vec<KnownReached> = pm
                .known
                .iter()
                .map(|e| KnownReached {
                    name: e.key(),
                    transitions: e.value().0,
                    action: e.value().1.clone(),
                    mismatch: e.value().2.clone(),
                })
                .collect();
            k.sort_by_key(|k| k.name);
            k
        },
        divergence,
    };
    Ok(ExhaustiveRun { report, behaviour })
}

/// The report as text.
pub fn render_text(r: &ExhaustiveReport) -> String {
    use crate::markup::grouped;
    let mut out = format!(
        "raftcheck conform: {} against the model; {}\n",
        r.implementation,
        r.config.summary()
    );
    if let Some(p) = &r.perturbation {
        out.push_str(&format!("perturbation planted in the harness: {p}\n"));
    }
    for (l, why) in &r.loosened {
        out.push_str(&format!("loosened: {l} not compared ({why})\n"));
    }
    if r.keying == Keying::AbstractState {
        out.push_str(
            "keying: nodes merged by abstract state (UNSOUND: hidden state is merged away)\n",
        );
    }
    out.push_str(&format!(
        "{} {} unique product states, max depth {}, {} threads, {:.2} s ({} states/s)\n",
        if r.divergence.is_some() {
            "stopped at the first divergence after"
        } else if r.complete {
            "explored all"
        } else {
            "stopped after"
        },
        grouped(r.unique_states),
        r.max_depth,
        r.threads,
        r.seconds,
        grouped(r.states_per_second() as u64),
    ));
    out.push_str(&format!(
        "transitions checked:  {}\nimplementation:       {} distinct node states, {} steps run ({} nodes rebuilt by replay)\n",
        grouped(r.transitions_checked),
        grouped(r.implementation_states as u64),
        grouped(r.implementation_steps),
        grouped(r.rebuilds),
    ));
    for k in &r.known_differences {
        out.push_str(&format!(
            "known difference:     {} reached by {} transitions, not explored further (first: {}: {} model {} implementation {})\n",
            k.name,
            grouped(k.transitions),
            k.action,
            k.mismatch.field,
            k.mismatch.model,
            k.mismatch.implementation
        ));
    }
    if r.messages_lost > 0 {
        out.push_str(&format!(
            "messages lost:        {} (the model sent them and the implementation did not; accepted on a lossy network)\n",
            grouped(r.messages_lost)
        ));
    }
    match &r.divergence {
        Some(d) => {
            out.push('\n');
            out.push_str(&d.to_string());
            out.push_str("\nresult: DIVERGED\n");
        }
        None if r.ok() && !r.known_differences.is_empty() => out.push_str(
            "\nresult: OK past known differences: every other transition of the product was taken without divergence\n",
        ),
        None if r.ok() => out.push_str(
            "\nresult: OK: the implementation took every transition of the product and never diverged\n",
        ),
        None => out.push_str("\nresult: INCOMPLETE: the run stopped before exhausting the bounds\n"),
    }
    out
}
