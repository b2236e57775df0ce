//! Random walks over the product (`conform --walks N`): behaviours far
//! longer, and clusters larger, than the exhaustive mode reaches, taken by
//! the implementation with its own messages on the network.
//!
//! Unlike a walk over the model replayed on the implementation (`traces`,
//! `conform --traces`), a product walk delivers only what the
//! implementation sent, so an implementation whose messages differ from the
//! model's (with `messages-sent` loosened) can still be walked: each step
//! is a model action, the acting node takes it, and the two are compared.

use std::collections::BTreeMap;

use serde::Serialize;
use stateright::Model;

use raft_sim::SplitMix64;
use raft_spec::{Config, RaftModel};
use raftcheck_adapter::{Implementation, Loosening};

use super::divergence::Divergence;
use super::product::{Keying, ProductModel};
use super::Loosen;
use crate::error::Result;

/// The bounds of long walks at five servers (the gate's, and the tests'):
/// four terms, four entries, batches of two, two values, two crashes,
/// eight messages in flight.
pub fn five_servers() -> Config {
    Config {
        servers: 5,
        max_term: 4,
        max_log_len: 4,
        max_batch: 2,
        values: 2,
        max_crashes: 2,
        max_in_flight: 8,
        ..raft_spec::Profile::Quick.config()
    }
}

/// One walk's divergence.
#[derive(Clone, Debug, Serialize)]
pub struct WalkDivergence {
    pub seed: u64,
    pub divergence: Divergence,
    /// The walk to it, as `raftcheck` prints actions.
    pub actions: Vec<String>,
}

/// What `walks` found.
#[derive(Clone, Debug, Serialize)]
pub struct WalksReport {
    pub implementation: String,
    pub config: Config,
    pub loosened: Vec<(Loosening, String)>,
    pub walks: usize,
    pub depth: usize,
    pub first_seed: u64,
    /// Steps taken over all walks (a walk that can go nowhere ends early).
    pub steps: usize,
    pub divergences: Vec<WalkDivergence>,
    /// Divergences per field.
    pub by_field: BTreeMap<String, usize>,
    /// Messages the model sent that the implementation did not, counted as
    /// lost (a lossy network only; on another they are divergences).
    pub messages_lost: u64,
    pub seconds: f64,
}

impl WalksReport {
    pub fn ok(&self) -> bool {
        self.divergences.is_empty()
    }

    pub fn render_text(&self) -> String {
        let mut out = format!(
            "raftcheck conform --walks: {} random walks of up to {} steps over the product with {} (seeds {}..{}); {}\n",
            self.walks,
            self.depth,
            self.implementation,
            self.first_seed,
            self.first_seed.wrapping_add(self.walks as u64),
            self.config.summary()
        );
        for (l, why) in &self.loosened {
            out.push_str(&format!("loosened: {l} not compared ({why})\n"));
        }
        out.push_str(&format!(
            "{} steps taken in {:.2} s; {} walks diverged\n",
            self.steps,
            self.seconds,
            self.divergences.len()
        ));
        for (field, n) in &self.by_field {
            out.push_str(&format!("  {n:>5} on {field}\n"));
        }
        if self.messages_lost > 0 {
            out.push_str(&format!(
                "messages lost: {} sent by the model and not by the implementation (a lossy network may lose them)\n",
                self.messages_lost
            ));
        }
        if let Some(first) = self.divergences.first() {
            out.push_str(&format!(
                "\nfirst divergence: walk seed {}\n{}",
                first.seed, first.divergence
            ));
            for (k, a) in first.actions.iter().enumerate() {
                out.push_str(&format!("  {:>3}. {a}\n", k + 1));
            }
        }
        out.push_str(if self.ok() {
            "\nresult: OK: no walk diverged\n"
        } else {
            "\nresult: DIVERGED\n"
        });
        out
    }
}

/// `walks` random walks of `depth` steps from seed `seed` (walk k uses
/// `seed + k`): at each step, a uniformly chosen product action whose
/// successor diverges or stays within the bounds.
pub fn walks<I: Implementation>(
    imp: &I,
    cfg: &Config,
    loosen: &Loosen,
    walks: usize,
    depth: usize,
    seed: u64,
) -> Result<WalksReport> {
    let start = std::time::Instant::now();
    let loosened = loosen.resolve(imp, cfg);
    let pm = ProductModel::new(
        imp,
        cfg,
        Keying::Fingerprint,
        loosened.iter().map(|(l, _)| *l).collect(),
    )?;
    let init = pm.init_states().remove(0);
    let mut report = WalksReport {
        implementation: imp.name().to_string(),
        config: cfg.clone(),
        loosened,
        walks,
        depth,
        first_seed: seed,
        steps: 0,
        divergences: Vec::new(),
        by_field: BTreeMap::new(),
        messages_lost: 0,
        seconds: 0.0,
    };
    let mut actions = Vec::new();
    for k in 0..walks as u64 {
        let walk_seed = seed.wrapping_add(k);
        let mut rng = SplitMix64::new(walk_seed);
        let mut state = init.clone();
        let mut taken = Vec::new();
        for _ in 0..depth {
            actions.clear();
            pm.actions(&state, &mut actions);
            let choices: Vec<_> = actions
                .drain(..)
                .filter_map(|a| {
                    let next = pm.next_state(&state, a.clone())?;
                    (next.divergence.is_some() || pm.within_boundary(&next)).then_some((a, next))
                })
                .collect();
            if choices.is_empty() {
                break;
            }
            // Every successor was compared: a divergent one ends the walk
            // there, whichever the generator would have chosen.
            let (action, next) = choices
                .iter()
                .find(|(_, next)| next.divergence.is_some())
                .unwrap_or(&choices[rng.below(choices.len() as u64) as usize])
                .clone();
            taken.push(RaftModel::describe_action(&action.action));
            report.steps += 1;
            if let Some(m) = &next.divergence {
                *report.by_field.entry(m.field.clone()).or_default() += 1;
                report.divergences.push(WalkDivergence {
                    seed: walk_seed,
                    divergence: Divergence {
                        step: taken.len(),
                        action: taken.last().cloned().unwrap_or_default(),
                        mismatch: (**m).clone(),
                        bug: None,
                    },
                    actions: taken,
                });
                break;
            }
            state = next;
        }
    }
    report.messages_lost = pm.lost();
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
