//! When a search stops early: the timeout and the memory budget, checked
//! before each chunk so that a run stops within a chunk of either, mid-level.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;

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
    /// The interrupt flag was set (Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Violation => "stopped at the first violation",
            StopReason::Discovery => "stopped at the discovery it looked for",
            StopReason::Timeout => "timeout",
            StopReason::MemoryBudget => "memory budget",
            StopReason::Interrupted => "interrupted",
        })
    }
}

static INTERRUPT: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process's interrupt flag: once set (by a Ctrl-C handler), every
/// search stops as at a limit, within a chunk, and reports what it did.
/// Process-wide, as the signal that sets it is.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    INTERRUPT.get_or_init(Default::default).clone()
}

fn interrupted() -> bool {
    INTERRUPT.get().is_some_and(|f| f.load(Ordering::Relaxed))
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
    /// When the resident memory was last read, in ms since `born`.
    born: Instant,
    rss_read_at_ms: AtomicU64,
}

/// How often the resident memory is read (a /proc read, too dear per chunk).
const RSS_EVERY_MS: u64 = 100;

impl Limits {
    pub(super) fn new(deadline: Option<Instant>, memory_budget: Option<u64>) -> Self {
        Limits {
            reason: OnceLock::new(),
            deadline,
            memory_budget,
            current_bytes: AtomicU64::new(0),
            queued_heap: AtomicU64::new(0),
            queued_lists: AtomicU64::new(0),
            born: Instant::now(),
            rss_read_at_ms: AtomicU64::new(0),
        }
    }

    pub(super) fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }
}

impl Limits {
    /// Records why the search stops (the first reason wins).
    pub(super) fn set_reason(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
    }

    /// Whether the time or the memory budget is spent, given the visited
    /// set's bytes. Once per chunk: a clock read, and with a budget a few
    /// relaxed loads (and every 100 ms the resident memory).
    pub(super) fn over(&self, visited_bytes: impl FnOnce() -> u64) -> Option<StopReason> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(StopReason::Timeout);
        }
        if interrupted() {
            return Some(StopReason::Interrupted);
        }
        let budget = self.memory_budget?;
        // The estimate sees a doubling of the visited set coming; the
        // resident memory also sees what it misses (allocator slack, the
        // model's own memory), which the kernel's out-of-memory killer counts.
        if self.bytes_needed(visited_bytes()) > budget || self.resident_over(budget) {
            Some(StopReason::MemoryBudget)
        } else {
            None
        }
    }

    /// Whether the process's resident memory is past `budget`, read by one
    /// thread at most every [`RSS_EVERY_MS`].
    fn resident_over(&self, budget: u64) -> bool {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.rss_read_at_ms.load(Ordering::Relaxed);
        if now < last + RSS_EVERY_MS
            || self
                .rss_read_at_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        crate::memory::rss_bytes().is_some_and(|rss| rss > budget)
    }

    /// The search's memory, estimated: the visited set (with a doubling
    /// that is due) and the queued states of this level and the next.
    fn bytes_needed(&self, visited_bytes: u64) -> u64 {
        // The threads' lists twice: gathering them into the next level's
        // one list holds both for a moment.
        visited_bytes
            + self.current_bytes.load(Ordering::Relaxed)
            + self.queued_heap.load(Ordering::Relaxed)
            + 2 * self.queued_lists.load(Ordering::Relaxed)
    }

    /// A level starts: the queued states, gathered into one list of
    /// `list_bytes`, become the level being expanded.
    pub(super) fn start_level(&self, list_bytes: usize) {
        if self.memory_budget.is_none() {
            return;
        }
        // The threads' own lists were freed once gathered.
        self.queued_lists.store(0, Ordering::Relaxed);
        let heap = self.queued_heap.swap(0, Ordering::Relaxed);
        self.current_bytes
            .store(list_bytes as u64 + heap, Ordering::Relaxed);
    }

    /// Whether queued states are counted at all (only with a budget).
    pub(super) fn counts_queued(&self) -> bool {
        self.memory_budget.is_some()
    }

    /// Adds a chunk's newly queued states to the next level's estimate: the
    /// states' heap blocks and the bytes the thread's list grew by.
    pub(super) fn count_queued(&self, heap: u64, list: u64) {
        self.queued_heap.fetch_add(heap, Ordering::Relaxed);
        self.queued_lists.fetch_add(list, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stateright::{Model, Property};

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
        let crate::Parents::Memory(visited) = &e.parents else {
            panic!("an in-memory search keeps its parents in memory")
        };
        assert!(visited.bytes_for(o.unique) <= budget * 2);

        // Without a budget the same space is explored whole.
        let whole = explore(&model, &options(None, None), &Progress::default());
        assert!(whole.outcome.complete && whole.outcome.stopped_by.is_none());
        assert_eq!(whole.outcome.unique, all);
    }
}
