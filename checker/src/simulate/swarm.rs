//! One walk of a swarm: its fault mix, drawn from its seed, and the walk
//! itself, checking every property in every state it reaches or considers.
//!
//! Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012; TigerBeetle's
//! VOPR) gives each run its own random configuration of which faults happen
//! and how often, rather than one uniform mix: a walk with no message loss
//! gets deeper into replication, one with many crashes into recovery, and
//! the swarm together covers more than any one mix would.

use serde::Serialize;
use stateright::actor::ActorModelAction;
use stateright::{Expectation, Model, Property};

use raft_sim::SplitMix64;
use raft_spec::server::Timer;
use raft_spec::{Action, RaftModel, State};

use crate::conform::walk::successors;

/// The kinds of step the model takes, each with its own weight in a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Deliver,
    Drop,
    ElectionTimeout,
    HeartbeatTimeout,
    Propose,
    Crash,
    Recover,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Deliver,
        ActionKind::Drop,
        ActionKind::ElectionTimeout,
        ActionKind::HeartbeatTimeout,
        ActionKind::Propose,
        ActionKind::Crash,
        ActionKind::Recover,
    ];

    /// The kind of a model action (`None` for stateright's random choices,
    /// which the model never takes and no trace records).
    pub fn of(action: &Action) -> Option<ActionKind> {
        Some(match action {
            ActorModelAction::Deliver { .. } => ActionKind::Deliver,
            ActorModelAction::Drop(_) => ActionKind::Drop,
            ActorModelAction::Timeout(_, Timer::Election) => ActionKind::ElectionTimeout,
            ActorModelAction::Timeout(_, Timer::Heartbeat) => ActionKind::HeartbeatTimeout,
            ActorModelAction::Timeout(_, Timer::Propose(_)) => ActionKind::Propose,
            ActorModelAction::Crash(_) => ActionKind::Crash,
            ActorModelAction::Recover(_) => ActionKind::Recover,
            ActorModelAction::SelectRandom { .. } => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Deliver => "deliver",
            ActionKind::Drop => "drop",
            ActionKind::ElectionTimeout => "election-timeout",
            ActionKind::HeartbeatTimeout => "heartbeat-timeout",
            ActionKind::Propose => "propose",
            ActionKind::Crash => "crash",
            ActionKind::Recover => "recover",
        }
    }
}

/// A walk's fault mix: a weight per kind of step (0: never taken). At each
/// step a kind is chosen among those with an enabled step, in proportion to
/// its weight, then one of its steps uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swarm {
    pub weights: [u32; ActionKind::ALL.len()],
}

impl Swarm {
    /// The mix of the walk seeded with `rng`'s seed. Delivery and election
    /// timeouts are always on (without them nothing happens); message loss,
    /// crashes and client proposals are each off in about one walk in four,
    /// so some walks go deep without that fault.
    pub fn draw(rng: &mut SplitMix64) -> Swarm {
        let mut pick = |choices: &[u32]| choices[rng.below(choices.len() as u64) as usize];
        let mut weights = [0; ActionKind::ALL.len()];
        for (w, kind) in weights.iter_mut().zip(ActionKind::ALL) {
            *w = match kind {
                ActionKind::Deliver => pick(&[8, 16, 32]),
                ActionKind::ElectionTimeout | ActionKind::HeartbeatTimeout => pick(&[1, 2, 4]),
                ActionKind::Recover => pick(&[1, 4]),
                ActionKind::Drop | ActionKind::Propose => pick(&[0, 1, 2, 4]),
                ActionKind::Crash => pick(&[0, 1, 1, 2]),
            };
        }
        Swarm { weights }
    }

    pub fn weight(&self, kind: ActionKind) -> u32 {
        self.weights[kind as usize]
    }

    /// `deliver=16 drop=0 ...`, for reports.
    pub fn describe(&self) -> String {
        ActionKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.name(), self.weight(*k)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The properties a walk checks: the model's, split by expectation.
pub struct Checks {
    pub safety: Vec<Property<RaftModel>>,
    pub sometimes: Vec<Property<RaftModel>>,
}

impl Checks {
    pub fn of(model: &RaftModel) -> Checks {
        let (safety, sometimes) = model
            .properties()
            .into_iter()
            .filter(|p| !matches!(p.expectation, Expectation::Eventually))
            .partition(|p| matches!(p.expectation, Expectation::Always));
        Checks { safety, sometimes }
    }

    /// The first safety property `state` violates.
    pub fn violated(&self, model: &RaftModel, state: &State) -> Option<&'static str> {
        self.safety
            .iter()
            .find(|p| !(p.condition)(model, state))
            .map(|p| p.name)
    }
}

/// What one walk did.
#[derive(Debug, Clone)]
pub struct WalkRun {
    pub seed: u64,
    pub swarm: Swarm,
    /// The path from the initial state: the steps taken, then, if a
    /// successor violated a property, the step to it. A walk with nothing
    /// left to do within the bounds ends early.
    pub actions: Vec<Action>,
    /// Bit i: `Checks::sometimes[i]` held in some state the walk reached.
    pub reached: u64,
    /// The safety property the path's last state violates.
    pub violation: Option<&'static str>,
}

/// Walk `seed`: up to `depth` steps from the initial state, each drawn with
/// the walk's fault mix among the steps that stay within the bounds. Every
/// successor considered at each step is checked, the ones beyond the bounds
/// too (as `raftcheck check` checks the states at its boundary without
/// expanding them); the walk ends at the first violation.
pub fn walk(model: &RaftModel, checks: &Checks, depth: usize, seed: u64) -> WalkRun {
    let mut rng = SplitMix64::new(seed);
    let swarm = Swarm::draw(&mut rng);
    let mut run = WalkRun {
        seed,
        swarm,
        actions: Vec::with_capacity(depth + 1),
        reached: 0,
        violation: None,
    };
    let Some(mut state) = model.init_states().into_iter().next() else {
        return run;
    };
    let mut buf = Vec::new();
    let on = |a: &Action| ActionKind::of(a).is_some_and(|k| swarm.weight(k) > 0);
    run.violation = checks.violated(model, &state);
    while run.violation.is_none() && run.actions.len() < depth {
        let mut within = Vec::new();
        for (action, next) in successors(model, &state, &mut buf, on) {
            for (i, p) in checks.sometimes.iter().enumerate() {
                if run.reached & (1 << i) == 0 && (p.condition)(model, &next) {
                    run.reached |= 1 << i;
                }
            }
            if let Some(p) = checks.violated(model, &next) {
                run.violation = Some(p);
                run.actions.push(action);
                return run;
            }
            if model.within_boundary(&next) {
                within.push((action, next));
            }
        }
        let Some((action, next)) = choose(&swarm, within, &mut rng) else {
            break;
        };
        run.actions.push(action);
        state = next;
    }
    run
}

/// A kind by weight among those present, then one of its steps uniformly.
fn choose(
    swarm: &Swarm,
    mut steps: Vec<(Action, State)>,
    rng: &mut SplitMix64,
) -> Option<(Action, State)> {
    let kind_of = |a: &Action| ActionKind::of(a).expect("successors are recordable");
    let mut present = [false; ActionKind::ALL.len()];
    for (a, _) in &steps {
        present[kind_of(a) as usize] = true;
    }
    let total: u64 = ActionKind::ALL
        .iter()
        .filter(|k| present[**k as usize])
        .map(|k| u64::from(swarm.weight(*k)))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.below(total);
    let kind = ActionKind::ALL
        .into_iter()
        .filter(|k| present[*k as usize])
        .find(|k| {
            let w = u64::from(swarm.weight(*k));
            if r < w {
                true
            } else {
                r -= w;
                false
            }
        })?;
    steps.retain(|(a, _)| kind_of(a) == kind);
    let i = rng.below(steps.len() as u64) as usize;
    Some(steps.swap_remove(i))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use raft_spec::{Bug, Config, Profile};

    #[test]
    fn a_walk_is_determined_by_its_seed() {
        let model = RaftModel::new(Profile::Ci.config()).unwrap();
        let checks = Checks::of(&model);
        let a = walk(&model, &checks, 40, 11);
        let b = walk(&model, &checks, 40, 11);
        assert_eq!((a.swarm, a.reached), (b.swarm, b.reached));
        assert_eq!(a.actions, b.actions);
        // Different seeds draw different mixes, some with a fault off.
        let mixes: Vec<Swarm> = (0..32)
            .map(|s| Swarm::draw(&mut SplitMix64::new(s)))
            .collect();
        assert!(mixes.iter().any(|m| m != &mixes[0]));
        assert!(mixes.iter().any(|m| m.weight(ActionKind::Crash) == 0));
        assert!(mixes.iter().all(|m| m.weight(ActionKind::Deliver) > 0));
    }

    #[test]
    fn a_mix_with_a_kind_off_never_takes_it() {
        let model = RaftModel::new(Profile::Ci.config()).unwrap();
        let checks = Checks::of(&model);
        let off = (0..)
            .filter(|s| Swarm::draw(&mut SplitMix64::new(*s)).weight(ActionKind::Crash) == 0)
            .take(20);
        for seed in off {
            let run = walk(&model, &checks, 60, seed);
            assert!(run
                .actions
                .iter()
                .all(|a| ActionKind::of(a) != Some(ActionKind::Crash)));
        }
        // And with crashes on, some walk does crash.
        let crashed = (0..)
            .filter(|s| Swarm::draw(&mut SplitMix64::new(*s)).weight(ActionKind::Crash) > 0)
            .take(20)
            .any(|seed| {
                walk(&model, &checks, 60, seed)
                    .actions
                    .iter()
                    .any(|a| ActionKind::of(a) == Some(ActionKind::Crash))
            });
        assert!(crashed);
    }

    /// The first violating walk at quick bounds with vote-without-log-check
    /// on (found within a few walks), with its model and checks.
    pub(in crate::simulate) fn violating_walk() -> (RaftModel, Checks, WalkRun) {
        let model = RaftModel::new(Config {
            bug: Some(Bug::VoteWithoutLogCheck),
            ..Profile::Quick.config()
        })
        .unwrap();
        let checks = Checks::of(&model);
        let run = (0..200)
            .map(|s| walk(&model, &checks, 40, s))
            .find(|r| r.violation.is_some())
            .expect("vote-without-log-check is found within 200 walks");
        (model, checks, run)
    }

    #[test]
    fn a_walk_stops_at_a_violation_and_records_the_path_to_it() {
        let (model, checks, run) = violating_walk();
        let mut state = model.init_states().remove(0);
        for a in &run.actions {
            state = model.next_state(&state, a.clone()).unwrap();
        }
        assert_eq!(checks.violated(&model, &state), run.violation);
    }
}
