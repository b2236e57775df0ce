//! After the exploration: every worker's figures gathered at worker 0, and
//! the path to each discovery rebuilt by asking each state's owner for its
//! parent, one step of the path per round of a small dataflow loop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;
use std::time::Duration;

use raftcheck_engine::{Discovery, Fingerprint, Outcome, RuleCounts, Share, StepInPlace, Tally};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::Exchange as _;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::{Filter, Map, ToStream};
use timely::dataflow::operators::{Concat, ConnectLoop, Feedback, Inspect, Probe};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use crate::{Ending, Report, Shared};

/// A share's [`Tally`] as it travels: properties by index, not name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct WireTally {
    unique: u64,
    boundary: u64,
    transitions: u64,
    /// (property index, fingerprint, depth).
    discoveries: Vec<(usize, Fingerprint, usize)>,
    rules: Option<(Vec<u64>, Vec<Option<usize>>)>,
}

impl WireTally {
    fn from<M: stateright::Model>(tally: Tally, shared: &Shared<M>) -> WireTally {
        let index = |name: &str| shared.properties.iter().position(|p| p.name == name);
        WireTally {
            unique: tally.unique,
            boundary: tally.boundary,
            transitions: tally.transitions,
            discoveries: tally
                .discoveries
                .iter()
                .filter_map(|(name, d)| Some((index(name)?, d.fingerprint, d.depth)))
                .collect(),
            rules: tally.rules.map(|r| (r.transitions, r.first_depth)),
        }
    }

    fn into_tally<M: stateright::Model>(self, shared: &Shared<M>) -> Tally {
        Tally {
            unique: self.unique,
            boundary: self.boundary,
            transitions: self.transitions,
            discoveries: self
                .discoveries
                .into_iter()
                .map(|(i, fingerprint, depth)| {
                    (shared.properties[i].name, Discovery { fingerprint, depth })
                })
                .collect(),
            rules: self.rules.map(|(transitions, first_depth)| RuleCounts {
                transitions,
                first_depth,
            }),
        }
    }
}

/// Gathers every worker's figures and the paths to the discoveries at
/// worker 0, which reports; the other workers return `None`.
pub(crate) fn report<M>(
    worker: &mut Worker,
    shared: &'static Shared<M>,
    share: &Rc<Share<'static, M>>,
    ending: Ending,
) -> Option<Report>
where
    M: StepInPlace + Sync + 'static,
    M::State: Hash + Clone,
{
    let index = worker.index();
    let mine = WireTally::from(share.tally(), shared);
    let tallies = Rc::new(RefCell::new(Vec::new()));
    let probe = ProbeHandle::new();
    worker.dataflow::<usize, _, _>(|scope| {
        let tallies = Rc::clone(&tallies);
        vec![mine]
            .to_stream(scope)
            .exchange(|_| 0)
            .inspect(move |t: &WireTally| tallies.borrow_mut().push(t.clone()))
            .probe_with(&probe);
    });
    worker.step_or_park_while(None, || !probe.done());
    let total = (index == 0).then(|| {
        let mut total = Tally::default();
        for t in tallies.take() {
            total.merge(t.into_tally(shared));
        }
        total
    });
    let targets: Vec<Fingerprint> = total
        .iter()
        .flat_map(|t| t.discoveries.values().map(|d| d.fingerprint))
        .collect();
    let links = parents(worker, share, targets);
    let total = total?;
    let chains = total
        .discoveries
        .iter()
        .map(|(name, d)| {
            let mut chain = vec![d.fingerprint];
            while let Some(&parent) = links.get(chain.last().expect("not empty")) {
                if parent == Share::<M>::NO_PARENT || chain.len() > ending.max_depth + 2 {
                    break;
                }
                chain.push(parent);
            }
            chain.reverse();
            (*name, chain)
        })
        .collect();
    Some(Report {
        outcome: Outcome {
            unique: total.unique,
            transitions: total.transitions,
            boundary: total.boundary,
            max_depth: ending.max_depth,
            elapsed: Duration::ZERO,
            complete: ending.cut.is_none(),
            stopped_by: ending.cut.map(|(_, reason)| reason),
            stopped_in: ending.cut.map(|(cut, _)| cut),
            discoveries: total.discoveries,
            rules: total.rules,
        },
        chains,
    })
}

/// Each target's parent, its parent's parent, and so on to an initial
/// state, asked of their owners a step per round; worker 0 gets the links.
fn parents<M>(
    worker: &mut Worker,
    share: &Rc<Share<'static, M>>,
    targets: Vec<Fingerprint>,
) -> HashMap<Fingerprint, Fingerprint>
where
    M: StepInPlace + 'static,
    M::State: Hash + Clone,
{
    let links = Rc::new(RefCell::new(HashMap::new()));
    let probe = ProbeHandle::new();
    worker.dataflow::<usize, _, _>(|scope| {
        let (handle, cycle) = scope.feedback::<Vec<Fingerprint>>(1);
        let share = Rc::clone(share);
        let answers = targets.to_stream(scope).concat(cycle).unary(
            Exchange::new(|fp: &Fingerprint| *fp),
            "Parent",
            move |_, _| {
                move |input, output| {
                    input.for_each_stamp(|cap, data| {
                        let mut session = output.session(&cap);
                        for fp in data.flat_map(|batch| batch.drain(..)) {
                            let parent = share.parent(fp).unwrap_or(Share::<M>::NO_PARENT);
                            session.give((fp, parent));
                        }
                    });
                }
            },
        );
        answers
            .clone()
            .filter(|(_, parent)| *parent != Share::<M>::NO_PARENT)
            .map(|(_, parent)| parent)
            .connect_loop(handle);
        let links = Rc::clone(&links);
        answers
            .exchange(|_| 0)
            .inspect(move |&(fp, parent)| {
                links.borrow_mut().insert(fp, parent);
            })
            .probe_with(&probe);
    });
    worker.step_or_park_while(None, || !probe.done());
    links.take()
}
