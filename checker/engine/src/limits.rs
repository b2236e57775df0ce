//! When a search stops early: the timeout and the memory budget, checked
//! before each chunk so that a run stops within a chunk of either, mid-level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;
use stateright::{Expectation, Model};

use crate::fingerprint::Fingerprint;
use crate::search::{Search, Stored};
use crate::StopWhen;

/// Why a run ended before exploring every state within the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// A safety property failed (and the run was told to stop at that).
    Violation,
    /// The property the run looked for was discovered.
    Discovery,
    Timeout,
    MemoryBudget,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Violation => "stopped at the first violation",
            StopReason::Discovery => "stopped at the discovery it looked for",
            StopReason::Timeout => "timeout",
            StopReason::MemoryBudget => "memory budget",
        })
    }
}

/// The level a stopped run was expanding: how much of it was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LevelCut {
    /// The depth of the states being expanded.
    pub depth: usize,
    /// States at that depth, queued for expansion.
    pub states: u64,
    /// Of those, how many were expanded before the stop.
    pub expanded: u64,
}

/// A search's limits, and why it stopped.
pub(super) struct Limits {
    /// The first reason to stop (later ones are ignored).
    reason: OnceLock<StopReason>,
    deadline: Option<Instant>,
    memory_budget: Option<u64>,
    /// Estimated bytes of the level being expanded (kept with a budget only).
    current_bytes: AtomicU64,
    /// Estimated bytes of the next level's states so far, and of the
    /// threads' lists of them (kept with a budget only).
    queued_heap: AtomicU64,
    queued_lists: AtomicU64,
}

impl Limits {
    pub(super) fn new(deadline: Option<Instant>, memory_budget: Option<u64>) -> Self {
        Limits {
            reason: OnceLock::new(),
            deadline,
            memory_budget,
            current_bytes: AtomicU64::new(0),
            queued_heap: AtomicU64::new(0),
            queued_lists: AtomicU64::new(0),
        }
    }

    pub(super) fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }
}

impl<S> Stored<S> {
    /// The heap block behind the box, as a typical allocator sizes it (an
    /// 8-byte header, rounded up to 16, at least 32).
    fn heap_bytes(&self) -> u64 {
        let len = match self {
            Stored::State(_) => std::mem::size_of::<S>(),
            Stored::Bytes(b) => b.len(),
        };
        (len + 8).next_multiple_of(16).max(32) as u64
    }
}

impl<M: Model> Search<'_, M> {
    /// Whether the discoveries so far end the search (at a level's end).
    pub(super) fn should_stop(&self, stop: StopWhen) -> Option<StopReason> {
        let found = self.discoveries.lock().expect("discoveries lock");
        let violation = || {
            self.properties
                .iter()
                .any(|p| p.expectation == Expectation::Always && found.contains_key(p.name))
        };
        match stop {
            StopWhen::Exhausted => None,
            StopWhen::AnyViolation | StopWhen::ViolationOf(_) => {
                violation().then_some(StopReason::Violation)
            }
            StopWhen::Discovered(name) => found.contains_key(name).then(|| {
                if violation() {
                    StopReason::Violation
                } else {
                    StopReason::Discovery
                }
            }),
        }
    }

    pub(super) fn stop(&self, reason: StopReason) {
        let _ = self.limits.reason.set(reason);
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether the time or the memory budget is spent (then stops the
    /// search). Once per chunk: a clock read, and with a budget a few dozen
    /// relaxed loads.
    pub(super) fn over_limit(&self) -> bool {
        let reason = if self.limits.deadline.is_some_and(|d| Instant::now() >= d) {
            StopReason::Timeout
        } else if self
            .limits
            .memory_budget
            .is_some_and(|b| self.bytes_needed() > b)
        {
            StopReason::MemoryBudget
        } else {
            return false;
        };
        self.stop(reason);
        true
    }

    /// The search's memory, estimated: the visited set (with a doubling
    /// that is due) and the queued states of this level and the next.
    fn bytes_needed(&self) -> u64 {
        let unique = self.progress.unique.load(Ordering::Relaxed);
        self.visited.bytes_for(unique)
            + self.limits.current_bytes.load(Ordering::Relaxed)
            + self.limits.queued_heap.load(Ordering::Relaxed)
            + self.limits.queued_lists.load(Ordering::Relaxed)
    }

    /// A level starts: the queued states, gathered into one list of
    /// `list_bytes`, become the level being expanded.
    pub(super) fn start_level(&self, list_bytes: usize) {
        if self.limits.memory_budget.is_none() {
            return;
        }
        // The threads' own lists were freed once gathered.
        self.limits.queued_lists.store(0, Ordering::Relaxed);
        let heap = self.limits.queued_heap.swap(0, Ordering::Relaxed);
        self.limits
            .current_bytes
            .store(list_bytes as u64 + heap, Ordering::Relaxed);
    }

    /// Adds a chunk's newly queued states to the next level's estimate;
    /// `grown` is how many entries the thread's list grew by.
    pub(super) fn count_queued(&self, new: &[(Fingerprint, Stored<M::State>)], grown: usize) {
        if self.limits.memory_budget.is_none() {
            return;
        }
        let heap: u64 = new.iter().map(|(_, s)| s.heap_bytes()).sum();
        let list = grown * std::mem::size_of::<(Fingerprint, Stored<M::State>)>();
        self.limits.queued_heap.fetch_add(heap, Ordering::Relaxed);
        self.limits
            .queued_lists
            .fetch_add(list as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stateright::Property;

    use super::super::{explore, Options, Progress, StepInPlace, StopWhen, CHUNK};
    use super::*;

    /// Level 1 holds `width` states; each has `fan` successors (level 2),
    /// and taking such a step sleeps `step` (so a level can outlast a
    /// timeout by far). State `width + 1` (at level 2) breaks "small".
    struct Wide {
        width: u32,
        fan: u32,
        step: Duration,
    }

    impl Model for Wide {
        type State = u32;
        type Action = u32;

        fn init_states(&self) -> Vec<u32> {
            vec![0]
        }

        fn actions(&self, s: &u32, actions: &mut Vec<u32>) {
            if *s == 0 {
                actions.extend(1..=self.width);
            } else if *s <= self.width {
                actions.extend((0..self.fan).map(|k| self.width * (k + 1) + s));
            }
        }

        fn next_state(&self, s: &u32, action: u32) -> Option<u32> {
            if *s != 0 {
                std::thread::sleep(self.step);
            }
            Some(action)
        }

        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("small", |m: &Wide, s: &u32| *s != m.width + 1),
                // Beyond the largest state.
                Property::sometimes("huge", |m: &Wide, s: &u32| *s > m.width * (m.fan + 1)),
            ]
        }
    }

    impl StepInPlace for Wide {}

    fn options(timeout: Option<Duration>, memory_budget: Option<u64>) -> Options<Wide> {
        Options {
            threads: 2,
            symmetry: None,
            stop_when: StopWhen::Exhausted,
            timeout,
            memory_budget,
        }
    }

    /// Level 0 takes milliseconds; level 1 is 8 chunks of 256 steps of
    /// 2 ms, so each thread's first chunk takes 512 ms, and the 200 ms run
    /// out before any thread can take a second one: the search must stop
    /// there, within level 1, however slow the machine, not at its end.
    #[test]
    fn a_timeout_stops_the_search_within_a_level() {
        let model = Wide {
            width: 8 * CHUNK as u32,
            fan: 1,
            step: Duration::from_millis(2),
        };
        let progress = Progress::default();
        let e = explore(
            &model,
            &options(Some(Duration::from_millis(200)), None),
            &progress,
        );
        let o = &e.outcome;
        assert!(!o.complete);
        assert_eq!(o.stopped_by, Some(StopReason::Timeout));
        let cut = o.stopped_in.expect("where it stopped");
        assert_eq!((cut.depth, cut.states), (1, model.width as u64));
        assert!(cut.expanded > 0 && cut.expanded < cut.states, "{cut:?}");
        // The violation, at level 2, is found by the first chunk, at the
        // least depth, and its path rebuilds from the parents kept.
        assert_eq!(o.discoveries["small"].depth, 2);
        assert_eq!(o.max_depth, 2);
        let fp = o.discoveries["small"].fingerprint;
        let (_, steps) = e
            .path(&model, None, crate::fingerprint, None, fp)
            .expect("a path to the violation");
        assert_eq!(steps.len(), 2);
        assert!(!o.discoveries.contains_key("huge"));
    }

    /// 2,048 states at level 1 (8 chunks), each with 64 successors: level
    /// 2 needs a visited set past its initial 1 MiB and some 8 MiB queued,
    /// so a budget of 2 MiB stops the search within level 1, once the
    /// first chunks have queued their 16,384 states each.
    #[test]
    fn a_memory_budget_stops_the_search_within_a_level() {
        let model = Wide {
            width: 8 * CHUNK as u32,
            fan: 64,
            step: Duration::ZERO,
        };
        let all = 1 + u64::from(model.width) * 65;
        let budget = 2 << 20;
        let progress = Progress::default();
        let e = explore(&model, &options(None, Some(budget)), &progress);
        let o = &e.outcome;
        assert!(!o.complete);
        assert_eq!(o.stopped_by, Some(StopReason::MemoryBudget));
        let cut = o.stopped_in.expect("where it stopped");
        assert_eq!((cut.depth, cut.states), (1, model.width as u64));
        assert!(cut.expanded > 0 && cut.expanded < cut.states, "{cut:?}");
        assert!(o.unique < all);
        assert!(e.parents.bytes_for(o.unique) <= budget * 2);

        // Without a budget the same space is explored whole.
        let whole = explore(&model, &options(None, None), &Progress::default());
        assert!(whole.outcome.complete && whole.outcome.stopped_by.is_none());
        assert_eq!(whole.outcome.unique, all);
    }
}
