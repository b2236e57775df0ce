//! A breadth-first exploration engine over stateright's public `Model` trait.
//!
//! Why not stateright's own checkers: its BFS queues every state with its
//! action path (0.75-3 KB per unique state) and ignores symmetry; its DFS
//! applies symmetry but gives long counterexamples. This engine explores level
//! by level on all threads, canonicalises every state under symmetry, keeps
//! only a 64-bit fingerprint and the parent's fingerprint per visited state,
//! and rebuilds a concrete shortest path on demand by replaying the model.
//!
//! Properties are evaluated on every newly discovered state, including states
//! outside the model's boundary (which are not expanded): a bound must never
//! hide the step that breaks a property.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stateright::Model;

use crate::search::{Batch, Search, Stored, Visit};
use crate::visited::Visited;

mod coverage;
mod disk;
mod fingerprint;
mod limits;
pub mod memory;
mod path;
pub mod progress;
mod search;
mod share;
mod visited;

use fingerprint::NO_PARENT;
pub use fingerprint::{fingerprint, Fingerprint};

pub use coverage::{RuleCounts, MAX_RULES};
pub use disk::{explore_on_disk, DiskOptions, DiskUse};
pub use limits::{interrupt_flag, LevelCut, StopReason};
pub use path::path_along;
pub use share::{Recorded, Share, Tally};

/// Maps a state to the representative of its symmetry class, or to `None`
/// when it is its own representative (sparing a copy).
pub type Symmetry<S> = Option<fn(&S) -> Option<S>>;

/// A behaviour: the initial state, then each action with the state after it.
pub type Behaviour<S, A> = (S, Vec<(A, S)>);

/// Frontier states a thread expands at a time.
const CHUNK: usize = 256;

/// How the engine takes a step: into a slot it reuses. The default goes
/// through [`Model::next_state`]; a model with large states overrides it to
/// write the successor in place, sparing the copies of returning it.
pub trait StepInPlace: Model {
    /// The successor of `last` under `action`, written into `next`; false
    /// (and `next` of no use) if the action is not enabled.
    fn next_state_into(
        &self,
        last: &Self::State,
        action: Self::Action,
        next: &mut Self::State,
    ) -> bool {
        match self.next_state(last, action) {
            Some(s) => {
                *next = s;
                true
            }
            None => false,
        }
    }

    /// How many rules a step can report taking (at most [`MAX_RULES`]); 0
    /// for a model that reports none (the run then has no coverage).
    fn rule_count(&self) -> usize {
        0
    }

    /// [`next_state_into`](Self::next_state_into), also setting bit i of
    /// `fired` for each rule i the step took.
    fn next_state_covered(
        &self,
        last: &Self::State,
        action: Self::Action,
        next: &mut Self::State,
        fired: &mut u64,
    ) -> bool {
        let _ = fired;
        self.next_state_into(last, action, next)
    }
}

/// Live counters, readable from another thread for a progress line.
#[derive(Default, Debug)]
pub struct Progress {
    pub transitions: AtomicU64,
    pub unique: AtomicU64,
    pub depth: AtomicUsize,
    pub done: AtomicBool,
}

/// When to stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopWhen {
    /// Explore everything within the bounds.
    Exhausted,
    /// Stop after the level where any safety property first fails.
    AnyViolation,
    /// Stop the moment this property is first discovered, mid-level: every
    /// state of a level is at one depth, so the discovery is still at the
    /// least depth (and the path to it a shortest one).
    Discovered(&'static str),
    /// For a bug expected to break this safety property: stop the moment it
    /// fails (as `Discovered`), or after the level where any other safety
    /// property first fails (as `AnyViolation`, so a property failing at a
    /// lesser depth is always seen).
    ViolationOf(&'static str),
}

impl StopWhen {
    /// The property whose discovery ends the search at once, if any.
    fn immediate(self) -> Option<&'static str> {
        match self {
            StopWhen::Discovered(name) | StopWhen::ViolationOf(name) => Some(name),
            StopWhen::Exhausted | StopWhen::AnyViolation => None,
        }
    }
}

/// Turns states into compact bytes, and back. With a codec, frontier states
/// are kept encoded and a state's fingerprint is the hash of its encoding
/// (one cheap hash of a few dozen bytes, and the bytes are then stored as
/// they are).
pub struct Codec<S> {
    /// Appends a state's encoding; equal states must encode alike and
    /// different ones differently.
    pub encode: fn(&S, &mut Vec<u8>),
    pub decode: fn(&[u8]) -> S,
}

pub struct Options<M: Model> {
    pub threads: usize,
    pub symmetry: Symmetry<M::State>,
    pub stop_when: StopWhen,
    /// Give up (reporting an incomplete run) after this long. Checked before
    /// each chunk, so a run stops within a chunk of it, mid-level.
    pub timeout: Option<Duration>,
    /// Give up (reporting an incomplete run) before the visited set and the
    /// queued states would take more than this many bytes. Checked before
    /// each chunk, like the timeout.
    pub memory_budget: Option<u64>,
}

/// A property's first discovery: a violation for "always", a witness for
/// "sometimes".
#[derive(Clone, Debug)]
pub struct Discovery {
    pub fingerprint: Fingerprint,
    pub depth: usize,
}

#[derive(Debug)]
pub struct Outcome {
    /// Distinct states reached (after symmetry), including boundary states.
    pub unique: u64,
    /// Successful transitions taken (edges), duplicates included.
    pub transitions: u64,
    /// Distinct states outside the boundary: checked, not expanded.
    pub boundary: u64,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// True when every state within the bounds was explored.
    pub complete: bool,
    /// Why an incomplete run stopped.
    pub stopped_by: Option<StopReason>,
    /// Where an incomplete run stopped.
    pub stopped_in: Option<LevelCut>,
    pub discoveries: BTreeMap<&'static str, Discovery>,
    /// Per rule, as the model numbers them (see [`StepInPlace::rule_count`]):
    /// `None` when the model reports no rules.
    pub rules: Option<RuleCounts>,
}

/// A finished (or stopped) exploration: its figures, and the visited set for
/// rebuilding paths.
pub struct Exploration {
    pub outcome: Outcome,
    parents: Parents,
}

/// Where each visited state's parent is kept.
enum Parents {
    Memory(Visited),
    Disk(disk::DiskParents),
}

impl Parents {
    /// The parent `fp` was first reached from (`None` if unknown, or if
    /// the disk cannot be read).
    fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        match self {
            Parents::Memory(v) => v.parent(fp),
            Parents::Disk(d) => d.visited.parent(fp).ok().flatten(),
        }
    }
}

/// Explores `model` breadth-first. `progress` is updated as it goes.
pub fn explore<M>(model: &M, opts: &Options<M>, progress: &Progress) -> Exploration
where
    M: StepInPlace + Sync,
    M::State: Hash + Send + Sync + Clone,
    M::Action: Send,
{
    explore_with_codec(model, opts, None, progress)
}

/// [`explore`], keeping frontier states encoded by `codec` (far less memory
/// for a little more time).
pub fn explore_with_codec<M>(
    model: &M,
    opts: &Options<M>,
    codec: Option<&Codec<M::State>>,
    progress: &Progress,
) -> Exploration
where
    M: StepInPlace + Sync,
    M::State: Hash + Send + Sync + Clone,
    M::Action: Send,
{
    let start = Instant::now();
    let properties = model.properties();
    let search = Search::new(model, opts, &properties, codec, start, progress);
    let rule_count = model.rule_count();
    assert!(rule_count <= MAX_RULES, "at most {MAX_RULES} rules");

    // Level 0: the initial states.
    let mut frontier: Vec<(Fingerprint, Stored<M::State>)> = Vec::new();
    for init in model.init_states() {
        let mut batch = Batch::new();
        search.reach(&init, &mut batch);
        if search.record(0, &mut batch, NO_PARENT, &init, 0, &mut frontier) == Visit::Boundary {
            search.boundary.fetch_add(1, Ordering::Relaxed);
        }
    }

    let mut depth = 0;
    let mut stopped_in = None;
    while !frontier.is_empty() {
        search.start_level(
            frontier.capacity() * std::mem::size_of::<(Fingerprint, Stored<M::State>)>(),
        );
        if let Some(reason) = search.should_stop(opts.stop_when) {
            search.stop(reason);
        }
        if search.stopping.load(Ordering::Relaxed) || search.over_limit() {
            stopped_in = Some(LevelCut {
                depth,
                states: frontier.len() as u64,
                expanded: 0,
            });
            break;
        }
        depth += 1;
        progress.depth.store(depth, Ordering::Relaxed);
        let unique_before = progress.unique.load(Ordering::Relaxed);
        let threads = opts.threads.max(1);
        // Threads take small chunks in turn, so none idles while another
        // still has half a level to expand.
        let taken = AtomicUsize::new(0);
        let (search, frontier_ref, taken) = (&search, &frontier, &taken);
        let next: Vec<Vec<(Fingerprint, Stored<M::State>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        loop {
                            if search.stopping.load(Ordering::Relaxed) || search.over_limit() {
                                break out;
                            }
                            let from = taken.fetch_add(CHUNK, Ordering::Relaxed);
                            if from >= frontier_ref.len() {
                                break out;
                            }
                            let to = (from + CHUNK).min(frontier_ref.len());
                            let (len, capacity) = (out.len(), out.capacity());
                            search.expand(&frontier_ref[from..to], depth, &mut out);
                            search.count_queued(&out[len..], out.capacity() - capacity);
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("explorer thread panicked"))
                .collect()
        });
        // A chunk taken is expanded whole, so the chunks taken are those done.
        let states = frontier.len();
        let expanded = taken.load(Ordering::Relaxed).min(states);
        if search.stopping.load(Ordering::Relaxed) && expanded < states {
            // The level was cut short: the next level's states are not all
            // known. (A stop after its last chunk ends the search at the
            // next level's start, or not at all if the space is exhausted.)
            stopped_in = Some(LevelCut {
                depth: depth - 1,
                states: states as u64,
                expanded: expanded as u64,
            });
            if progress.unique.load(Ordering::Relaxed) == unique_before {
                // It produced no state: the deepest states are a level up.
                depth -= 1;
            }
            break;
        }
        frontier = next.into_iter().flatten().collect();
    }
    let complete = stopped_in.is_none();
    progress.done.store(true, Ordering::Relaxed);
    let Search {
        visited,
        discoveries,
        boundary,
        limits,
        rules,
        ..
    } = search;
    Exploration {
        outcome: Outcome {
            unique: visited.len() as u64,
            transitions: progress.transitions.load(Ordering::Relaxed),
            boundary: boundary.into_inner(),
            // Depth counts levels that produced states; the last expanded
            // level of an exhausted space produced none.
            max_depth: if complete {
                depth.saturating_sub(1)
            } else {
                depth
            },
            elapsed: start.elapsed(),
            complete,
            stopped_by: limits.reason().filter(|_| !complete),
            stopped_in,
            discoveries: discoveries.into_inner().expect("discoveries lock"),
            rules: (rule_count > 0).then(|| rules.counts(rule_count)),
        },
        parents: Parents::Memory(visited),
    }
}
