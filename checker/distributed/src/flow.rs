//! The exploration dataflow, one level per timestamp:
//!
//! ```text
//!  initial states (worker 0) ─┐
//!                             ├─► Record ──states──► Expand ──successors──┐
//!        feedback (depth + 1) ┘   (owner)  ─notes─►  (all)                │
//!                ▲                                                        │
//!                └────────────────────────────────────────────────────────┘
//! ```
//!
//! Record receives states exchanged by fingerprint, so each worker records
//! only its own, in its share of the visited set. When no worker can send it
//! more of a level, it tells every worker what the level came to (discovered
//! properties, states queued). Expand waits for every worker's note on a
//! level before expanding it: a safety violation anywhere stops the search
//! after that level on every worker, as the engine stops.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::rc::Rc;
use std::time::Instant;

use raftcheck_engine::{Fingerprint, LevelCut, Progress, Recorded, Share, StepInPlace, StopReason};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::ToStream;
use timely::dataflow::operators::{Capability, Concat, ConnectLoop, Feedback, OkErr, Probe};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use crate::{Ending, Shared};

/// A level's depth: the loop's timestamp.
pub(crate) type Depth = usize;
/// A state on its way to its owner: fingerprint, parent, canonical encoding.
type Candidate = (Fingerprint, Fingerprint, Vec<u8>);
/// A state recorded within the boundary, to expand.
type Queued = (Fingerprint, Box<[u8]>);

/// A level arriving at Record: its capability, the states not yet
/// recorded, and how many recorded states were queued.
type Arriving = (Capability<Depth>, Vec<Vec<Candidate>>, u64);

/// What one worker's share of a level came to, sent to every worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Note {
    /// The worker it is for.
    to: u64,
    /// Properties discovered so far (bit i: property i).
    found: u64,
    /// States recorded within the boundary, to expand.
    queued: u64,
    /// The run's time was up when the level ended.
    late: bool,
}

/// States expanded per activation: between chunks the worker records the
/// successors that arrived, so they do not pile up in its queues.
const CHUNK: usize = 512;

/// A level waiting at Expand: its states, and every worker's notes on it.
struct Level {
    cap: Capability<Depth>,
    states: Vec<Queued>,
    found: u64,
    queued: u64,
    late: bool,
    decided: bool,
}

impl Level {
    fn new(cap: Capability<Depth>) -> Level {
        Level {
            cap,
            states: Vec::new(),
            found: 0,
            queued: 0,
            late: false,
            decided: false,
        }
    }
}

/// Runs the exploration to its end on this worker: its share of the
/// visited set, and how the run ended.
pub(crate) fn explore<M>(
    worker: &mut Worker,
    shared: &'static Shared<M>,
) -> (Rc<Share<'static, M>>, Ending)
where
    M: StepInPlace + Sync + 'static,
    M::State: Hash + Clone,
{
    let progress: &'static Progress = Box::leak(Box::default());
    let share = Rc::new(Share::new(
        &shared.model,
        &shared.properties,
        shared.symmetry,
        &shared.codec,
        progress,
    ));
    let ending = Rc::new(Cell::new(Ending::default()));
    let index = worker.index();
    let peers = worker.peers() as u64;
    let probe = ProbeHandle::new();
    worker.dataflow::<Depth, _, _>(|scope| {
        let initial: Vec<Candidate> = if index == 0 {
            let roots = share.initial().into_iter();
            roots
                .map(|(fp, b)| (fp, Share::<M>::NO_PARENT, b))
                .collect()
        } else {
            Vec::new()
        };
        let (handle, cycle) = scope.feedback::<Vec<Candidate>>(1);
        let record = Rc::clone(&share);
        let recorded = initial
            .to_stream(scope)
            .concat(cycle)
            .unary_frontier::<CapacityContainerBuilder<Vec<Result<Queued, Note>>>, _, _, _>(
                Exchange::new(|c: &Candidate| c.0),
                "Record",
                move |_, _| {
                    let mut levels: BTreeMap<Depth, Arriving> = BTreeMap::new();
                    move |(input, frontier), output| {
                        input.for_each_stamp(|cap, data| {
                            let Some(cap) = cap.retain_least(0) else {
                                return;
                            };
                            let level = levels
                                .entry(*cap.time())
                                .or_insert_with(|| (cap, Vec::new(), 0));
                            level.1.extend(data.map(std::mem::take));
                        });
                        // Record states as they come, once no state of an
                        // earlier level can still arrive.
                        for (&depth, (cap, pending, queued)) in levels.iter_mut() {
                            if frontier.less_than(&depth) {
                                break;
                            }
                            let mut session = output.session(&*cap);
                            for (fp, parent, bytes) in pending.drain(..).flatten() {
                                if record.record(fp, parent, &bytes, depth) == Recorded::New {
                                    *queued += 1;
                                    session.give(Ok((fp, bytes.into_boxed_slice())));
                                }
                            }
                        }
                        // A level no worker can send more of: tell every
                        // worker what this share of it came to.
                        while let Some(entry) = levels.first_entry() {
                            if frontier.less_equal(entry.key()) {
                                break;
                            }
                            let (cap, _, queued) = entry.remove();
                            let late = shared.deadline.is_some_and(|d| Instant::now() >= d);
                            let found = record.found();
                            let mut session = output.session(&cap);
                            for to in 0..peers {
                                session.give(Err(Note {
                                    to,
                                    found,
                                    queued,
                                    late,
                                }));
                            }
                        }
                    }
                },
            );
        let (queued, notes) = recorded.ok_err::<Vec<Queued>, _, Vec<Note>, _, _>(|r| r);
        let expand = Rc::clone(&share);
        let ended = Rc::clone(&ending);
        queued
            .binary_frontier::<_, CapacityContainerBuilder<Vec<Candidate>>, _, _, _, _>(
                notes,
                Pipeline,
                Exchange::new(|n: &Note| n.to),
                "Expand",
                |_, info| {
                    let activator = scope.activator_for(info.address);
                    let mut levels: BTreeMap<Depth, Level> = BTreeMap::new();
                    move |(states_in, states_frontier), (notes_in, notes_frontier), output| {
                        states_in.for_each_stamp(|cap, data| {
                            let Some(cap) = cap.retain_least(0) else {
                                return;
                            };
                            let level =
                                levels.entry(*cap.time()).or_insert_with(|| Level::new(cap));
                            for batch in data {
                                level.states.append(batch);
                            }
                        });
                        notes_in.for_each_stamp(|cap, data| {
                            let Some(cap) = cap.retain_least(0) else {
                                return;
                            };
                            let level =
                                levels.entry(*cap.time()).or_insert_with(|| Level::new(cap));
                            for note in data.flat_map(|batch| batch.drain(..)) {
                                level.found |= note.found;
                                level.queued += note.queued;
                                level.late |= note.late;
                            }
                        });
                        let Some(mut entry) = levels.first_entry() else {
                            return;
                        };
                        let depth = *entry.key();
                        if states_frontier.less_equal(&depth) || notes_frontier.less_equal(&depth) {
                            return;
                        }
                        let level = entry.get_mut();
                        if !level.decided {
                            level.decided = true;
                            decide(&expand, shared, &ended, depth, level);
                        }
                        let chunk = level
                            .states
                            .split_off(level.states.len().saturating_sub(CHUNK));
                        if !chunk.is_empty() {
                            let mut session = output.session(&level.cap);
                            expand.expand(chunk, depth + 1, |fp, parent, bytes| {
                                session.give((fp, parent, bytes.to_vec()))
                            });
                        }
                        if level.states.is_empty() {
                            entry.remove();
                        }
                        if !levels.is_empty() {
                            activator.activate();
                        }
                    }
                },
            )
            .probe_with(&probe)
            .connect_loop(handle);
    });
    worker.step_or_park_while(None, || !probe.done());
    let ending = ending.get();
    (share, ending)
}

/// A level every worker has recorded: whether the search goes on past it,
/// decided alike on every worker from the same notes.
fn decide<M>(
    share: &Share<'static, M>,
    shared: &Shared<M>,
    ending: &Cell<Ending>,
    depth: Depth,
    level: &mut Level,
) where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    // Another worker's discovery is at this depth or less: not evaluated
    // here again.
    share.mark_found(level.found);
    let mut e = ending.get();
    if level.queued == 0 {
        // Nothing to expand: the search ends here by itself.
        return;
    }
    e.max_depth = e.max_depth.max(depth);
    let reason = if shared.stop_on_violation && share.any_violation(level.found) {
        Some(StopReason::Violation)
    } else if level.late {
        Some(StopReason::Timeout)
    } else {
        None
    };
    if let Some(reason) = reason {
        let cut = LevelCut {
            depth,
            states: level.queued,
            expanded: 0,
        };
        e.cut = Some((cut, reason));
        level.states.clear();
    }
    ending.set(e);
}
