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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model};

use crate::visited::Visited;

mod coverage;
mod limits;
mod path;
pub mod progress;
mod visited;

pub use coverage::{RuleCounts, MAX_RULES};
use limits::Limits;
pub use limits::{LevelCut, StopReason};

/// A state's identity: a 64-bit hash of its canonical form.
pub type Fingerprint = u64;

/// Maps a state to the representative of its symmetry class, or to `None`
/// when it is its own representative (sparing a copy).
pub type Symmetry<S> = Option<fn(&S) -> Option<S>>;

/// A behaviour: the initial state, then each action with the state after it.
pub type Behaviour<S, A> = (S, Vec<(A, S)>);

const NO_PARENT: Fingerprint = 0;

/// Frontier states a thread expands at a time.
const CHUNK: usize = 256;

/// Fixed seeds, so a fingerprint is the same in every run and thread.
const FINGERPRINT_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Computes a fingerprint; never 0, which marks "no parent". aHash with
/// fixed seeds: it passes SMHasher, and unlike SipHash its cost does not
/// grow with the many one-byte writes a derived `Hash` of a Raft state makes.
pub fn fingerprint<T: Hash>(value: &T) -> Fingerprint {
    let [a, b, c, d] = FINGERPRINT_SEEDS;
    ahash::RandomState::with_seeds(a, b, c, d)
        .hash_one(value)
        .max(1)
}

/// [`fingerprint`] of an encoded state.
fn fingerprint_bytes(bytes: &[u8]) -> Fingerprint {
    fingerprint(&bytes)
}

/// A state's fingerprint: of its encoding when there is a codec (`buf` is
/// left holding the encoding), else of its `Hash`.
fn fingerprint_with<S: Hash>(s: &S, codec: Option<&Codec<S>>, buf: &mut Vec<u8>) -> Fingerprint {
    match codec {
        Some(codec) => {
            buf.clear();
            (codec.encode)(s, buf);
            fingerprint_bytes(buf)
        }
        None => fingerprint(s),
    }
}

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
    parents: Visited,
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
    assert!(properties.len() <= 64, "at most 64 properties");
    let stop_at_once = opts
        .stop_when
        .immediate()
        .and_then(|name| properties.iter().position(|p| p.name == name))
        .map_or(0, |i| 1 << i);
    let search = Search {
        model,
        properties: &properties,
        stop_at_once,
        stopping: AtomicBool::new(false),
        limits: Limits::new(opts.timeout.map(|t| start + t), opts.memory_budget),
        symmetry: opts.symmetry,
        codec,
        visited: Visited::default(),
        found: AtomicU64::new(0),
        discoveries: Mutex::new(BTreeMap::new()),
        boundary: AtomicU64::new(0),
        rules: coverage::SharedCounts::new(),
        progress,
    };
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
        parents: visited,
    }
}

/// What a reached state turned out to be.
#[derive(PartialEq, Eq)]
enum Visit {
    Seen,
    /// New and within the boundary: queued for expansion.
    New,
    /// New and beyond the boundary: checked only.
    Boundary,
}

/// One state's successors, fingerprinted, waiting to be looked up. Kept
/// small per successor: a batch entry is written for every transition.
struct Batch<S> {
    /// Each successor's fingerprint, and where its encoding is in `bytes`.
    reached: Vec<(Fingerprint, std::ops::Range<usize>)>,
    /// The successors' encodings, end to end, when there is a codec.
    bytes: Vec<u8>,
    /// The successors' canonical forms (one per entry of `reached`), to
    /// queue, when there is no codec.
    canonical: Vec<Option<S>>,
}

impl<S> Batch<S> {
    fn new() -> Self {
        Batch {
            reached: Vec::new(),
            bytes: Vec::new(),
            canonical: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.reached.clear();
        self.bytes.clear();
        self.canonical.clear();
    }
}

/// A frontier state, as it is or encoded.
enum Stored<S> {
    /// Boxed, so a frontier entry stays small whatever the state's size.
    State(Box<S>),
    Bytes(Box<[u8]>),
}

/// Shared state of one exploration.
struct Search<'a, M: Model> {
    model: &'a M,
    properties: &'a [stateright::Property<M>],
    /// Bit i: discovering property i ends the search mid-level.
    stop_at_once: u64,
    /// Set when such a property is discovered, or a limit is reached:
    /// threads take no more work.
    stopping: AtomicBool,
    /// The timeout and memory budget, and why `stopping` was set.
    limits: Limits,
    symmetry: Symmetry<M::State>,
    codec: Option<&'a Codec<M::State>>,
    visited: Visited,
    /// Bit i: property i has been discovered (so it is not evaluated again).
    found: AtomicU64,
    discoveries: Mutex<BTreeMap<&'static str, Discovery>>,
    boundary: AtomicU64,
    rules: coverage::SharedCounts,
    progress: &'a Progress,
}

impl<M> Search<'_, M>
where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    fn canonical<'s>(&self, s: &'s M::State) -> Cow<'s, M::State> {
        match self.symmetry.and_then(|f| f(s)) {
            Some(representative) => Cow::Owned(representative),
            None => Cow::Borrowed(s),
        }
    }

    /// Expands one chunk of the frontier, adding the new states to `out`.
    ///
    /// A state's successors are fingerprinted first, with their visited
    /// slots prefetched, and only then looked up: the lookups, which miss
    /// the cache, then wait for memory together rather than in turn.
    fn expand(
        &self,
        states: &[(Fingerprint, Stored<M::State>)],
        depth: usize,
        out: &mut Vec<(Fingerprint, Stored<M::State>)>,
    ) {
        let mut actions = Vec::new();
        let mut batch = Batch::new();
        // Slots for one state's successors, reused: `used` hold successors.
        let mut successors: Vec<M::State> = Vec::new();
        let (mut taken, mut new, mut boundary) = (0, 0, 0);
        let mut rules = coverage::LocalCounts::new();
        for (parent, stored) in states {
            let decoded;
            let state = match (stored, self.codec) {
                (Stored::State(s), _) => s,
                (Stored::Bytes(b), Some(codec)) => {
                    decoded = (codec.decode)(b);
                    &decoded
                }
                (Stored::Bytes(_), None) => unreachable!("bytes are stored only with a codec"),
            };
            self.model.actions(state, &mut actions);
            let mut used = 0;
            for action in actions.drain(..) {
                if used == successors.len() {
                    successors.push(state.clone());
                }
                let mut fired = 0;
                if self
                    .model
                    .next_state_covered(state, action, &mut successors[used], &mut fired)
                {
                    taken += 1;
                    rules.add(fired);
                    self.reach(&successors[used], &mut batch);
                    used += 1;
                }
            }
            for (k, state) in successors[..used].iter().enumerate() {
                // Two actions often reach one state (a message dropped, or
                // delivered and ignored): look it up once.
                let fp = batch.reached[k].0;
                if batch.reached[..k].iter().any(|r| r.0 == fp) {
                    continue;
                }
                match self.record(k, &mut batch, *parent, state, depth, out) {
                    Visit::Seen => {}
                    Visit::New => new += 1,
                    Visit::Boundary => {
                        new += 1;
                        boundary += 1;
                    }
                }
            }
            batch.clear();
        }
        // Shared counters once per chunk: threads updating them per state
        // would pass their cache line back and forth.
        self.progress
            .transitions
            .fetch_add(taken, Ordering::Relaxed);
        self.progress.unique.fetch_add(new, Ordering::Relaxed);
        self.boundary.fetch_add(boundary, Ordering::Relaxed);
        self.rules.merge(&rules, depth);
    }

    /// Canonicalises and fingerprints a reached state, adds it to `batch`
    /// and prefetches its slot.
    fn reach(&self, state: &M::State, batch: &mut Batch<M::State>) {
        let canonical = self.canonical(state);
        let start = batch.bytes.len();
        let fp = match self.codec {
            Some(codec) => {
                (codec.encode)(&canonical, &mut batch.bytes);
                fingerprint_bytes(&batch.bytes[start..])
            }
            None => {
                let fp = fingerprint(&canonical);
                batch.canonical.push(Some(canonical.into_owned()));
                fp
            }
        };
        self.visited.prefetch(fp);
        batch.reached.push((fp, start..batch.bytes.len()));
    }

    /// Records the batch's `k`th successor, `state`, reached from `parent`;
    /// if new, checks it and queues it for expansion (if within the
    /// boundary).
    fn record(
        &self,
        k: usize,
        batch: &mut Batch<M::State>,
        parent: Fingerprint,
        state: &M::State,
        depth: usize,
        out: &mut Vec<(Fingerprint, Stored<M::State>)>,
    ) -> Visit {
        let (fp, ref encoding) = batch.reached[k];
        // Insert only if absent: the first parent found is on a shortest path.
        if !self.visited.insert_new(fp, parent) {
            return Visit::Seen;
        }
        self.check_properties(state, fp, depth);
        if !self.model.within_boundary(state) {
            return Visit::Boundary;
        }
        let stored = match batch.canonical.get_mut(k).and_then(Option::take) {
            Some(canonical) => Stored::State(Box::new(canonical)),
            None => Stored::Bytes(batch.bytes[encoding.clone()].into()),
        };
        out.push((fp, stored));
        Visit::New
    }

    fn check_properties(&self, state: &M::State, fp: Fingerprint, depth: usize) {
        let found = self.found.load(Ordering::Relaxed);
        for (i, p) in self.properties.iter().enumerate() {
            if found & (1 << i) != 0 {
                continue;
            }
            let holds = (p.condition)(self.model, state);
            let discovered = match p.expectation {
                Expectation::Always => !holds,
                Expectation::Sometimes => holds,
                // Liveness needs whole paths; this engine checks states only.
                Expectation::Eventually => false,
            };
            if discovered {
                self.found.fetch_or(1 << i, Ordering::Relaxed);
                if self.stop_at_once & (1 << i) != 0 {
                    self.stop(match p.expectation {
                        Expectation::Always => StopReason::Violation,
                        _ => StopReason::Discovery,
                    });
                }
                self.discoveries
                    .lock()
                    .expect("discoveries lock")
                    .entry(p.name)
                    .or_insert(Discovery {
                        fingerprint: fp,
                        depth,
                    });
            }
        }
    }
}
