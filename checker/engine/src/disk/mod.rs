//! Breadth-first search past memory: delayed duplicate detection per
//! level, as in external-memory BFS and TLC's disk fingerprint set.
//!
//! A level's frontier is a file of compressed blocks; threads take a block
//! at a time and expand it as the in-memory search expands a chunk. A
//! successor is first looked up in a bounded in-memory cache of recent
//! fingerprints (most duplicates are a level or two apart); one the cache
//! does not know is checked against the properties and kept, with its
//! encoding, in the thread's buffer, which is sorted and written to a run
//! file when it outgrows its share of memory. When the level is expanded
//! the runs (and the buffers still in memory) are merged in fingerprint
//! order against the sorted runs of the visited set on disk: what is not
//! there is new, and goes to the visited set (with its parent, for
//! shortest counterexamples) and to the next level's frontier.

mod runs;
mod visited;

use std::hash::Hash;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::fingerprint::NO_PARENT;
use crate::search::{Batch, Search, Stored, Visit};
use crate::visited::Visited;
use crate::{
    Codec, Exploration, LevelCut, Options, Outcome, Parents, Progress, StepInPlace, StopReason,
};
use runs::{BlockReader, BlockWriter, Buffer, Cursor, Merge, Record};
pub(crate) use visited::DiskVisited;

/// Where and with how much memory the disk-backed search runs.
#[derive(Clone, Debug)]
pub struct DiskOptions {
    /// The search's files go in a fresh directory under this one, removed
    /// when the exploration is dropped.
    pub dir: PathBuf,
    /// Bytes for the in-memory cache of recent fingerprints.
    pub cache_bytes: u64,
    /// Bytes of reached states all threads together keep in memory before
    /// writing them to sorted runs.
    pub buffer_bytes: u64,
}

impl DiskOptions {
    /// Splits a memory budget: 40% for the cache, 25% for buffers (the
    /// rest is the process's own, the merge's and the blocks in flight).
    pub fn within(dir: PathBuf, memory: u64) -> Self {
        DiskOptions {
            dir,
            cache_bytes: (memory / 5 * 2).max(1 << 20),
            buffer_bytes: (memory / 4).max(1 << 20),
        }
    }
}

/// What the disk-backed search read and wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUse {
    /// Bytes written: frontier, runs and the visited set.
    pub written: u64,
    /// The most bytes its files held at once.
    pub peak: u64,
}

/// The disk-backed search's files and the visited set they hold.
pub(crate) struct DiskParents {
    pub(crate) visited: DiskVisited,
    /// Removed (with every file in it) when the exploration is dropped.
    _dir: tempfile::TempDir,
}

/// [`crate::explore_with_codec`] with the visited set and the frontier on
/// disk. The same states, counts and discoveries (at the same depths) as
/// the in-memory search; an I/O error (a full disk) ends it with the error.
pub fn explore_on_disk<M>(
    model: &M,
    opts: &Options<M>,
    codec: &Codec<M::State>,
    disk: &DiskOptions,
    progress: &Progress,
) -> io::Result<(Exploration, DiskUse)>
where
    M: StepInPlace + Sync,
    M::State: Hash + Send + Sync + Clone,
    M::Action: Send,
{
    let start = Instant::now();
    std::fs::create_dir_all(&disk.dir)?;
    let dir = tempfile::Builder::new()
        .prefix("raftcheck-bfs-")
        .tempdir_in(&disk.dir)?;
    let properties = model.properties();
    let mut search = Search::new(model, opts, &properties, Some(codec), start, progress);
    search.visited_is_cache = true;
    let threads = opts.threads.max(1);
    let room = Visited::room_per_shard(disk.cache_bytes);
    let spill_at = (disk.buffer_bytes / threads as u64) as usize;
    let mut files = Files {
        dir: dir.path().to_path_buf(),
        visited: DiskVisited::new(dir.path()),
        next: AtomicUsize::new(0),
        runs: Mutex::new(Vec::new()),
        usage: DiskUse::default(),
    };
    let rule_count = model.rule_count();

    // Level 0: the initial states.
    let mut buffer = Buffer::default();
    for init in model.init_states() {
        let mut batch = Batch::new();
        search.reach(&init, &mut batch);
        if keep(
            &search,
            room,
            0,
            &mut batch,
            NO_PARENT,
            &init,
            0,
            &mut buffer,
        ) == Visit::Seen
        {
            continue;
        }
    }
    let mut counts = Counts::default();
    let mut frontier = files.merge(vec![Cursor::memory(buffer)], &mut counts)?;
    search.set_exact(counts.unique, counts.boundary);

    let mut depth = 0;
    let mut stopped_in = None;
    while frontier.states > 0 {
        search.start_level(0);
        if let Some(reason) = search.should_stop(opts.stop_when) {
            search.stop(reason);
        }
        if search.stopping.load(Ordering::Relaxed) || search.over_limit() {
            stopped_in = Some(LevelCut {
                depth,
                states: frontier.states,
                expanded: 0,
            });
            break;
        }
        depth += 1;
        progress.depth.store(depth, Ordering::Relaxed);
        let unique_before = counts.unique;
        let discoveries_before = search.discoveries.lock().expect("discoveries lock").len();
        let states = frontier.states;
        let reader = Mutex::new(BlockReader::open(&frontier.path, 1 << 20)?);
        let expanded = AtomicU64::new(0);
        let spilled: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        let failed: Mutex<Option<io::Error>> = Mutex::new(None);
        let (search_ref, files_ref) = (&search, &files);
        let buffers: Vec<Buffer> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (reader, expanded, spilled, failed) =
                        (&reader, &expanded, &spilled, &failed);
                    scope.spawn(move || {
                        let mut buffer = Buffer::with_capacity(spill_at);
                        let spill = |b: &mut Buffer| -> io::Result<()> {
                            let path = files_ref.run_path();
                            b.spill(&path)?;
                            spilled.lock().expect("spilled lock").push(path);
                            Ok(())
                        };
                        let level = Level {
                            search: search_ref,
                            reader,
                            expanded,
                            room,
                            depth,
                        };
                        if let Err(e) = level.expand_blocks(&mut buffer, spill) {
                            failed.lock().expect("error lock").get_or_insert(e);
                            search_ref.stopping.store(true, Ordering::Relaxed);
                        }
                        buffer
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("explorer thread panicked"))
                .collect()
        });
        if let Some(e) = failed.into_inner().expect("error lock") {
            return Err(e);
        }
        let expanded = expanded.into_inner().min(states);
        let cut_short = search.stopping.load(Ordering::Relaxed) && expanded < states;
        let limited = matches!(
            search.limits.reason(),
            Some(StopReason::Timeout | StopReason::MemoryBudget | StopReason::Interrupted)
        );
        let discovered = search.discoveries.lock().expect("discoveries lock").len();
        if cut_short && limited && discovered == discoveries_before {
            // A limit stopped the level and it discovered nothing whose
            // path needs its parents: stop now rather than after merging
            // (minutes at large bounds). The report counts the states to
            // the depth being expanded; the next level's found so far are
            // dropped unmerged.
            files.remove_runs();
            stopped_in = Some(LevelCut {
                depth: depth - 1,
                states,
                expanded,
            });
            depth -= 1;
            break;
        }
        let mut cursors: Vec<Cursor> = spilled
            .into_inner()
            .expect("spilled lock")
            .iter()
            .map(|p| Cursor::disk(p))
            .collect::<io::Result<_>>()?;
        cursors.extend(buffers.into_iter().map(Cursor::memory));
        // Even a level cut short is merged: its discoveries must be in the
        // visited set for their paths to be rebuilt.
        let next = files.merge(cursors, &mut counts)?;
        files.remove_runs();
        let _ = std::fs::remove_file(&frontier.path);
        frontier = next;
        search.set_exact(counts.unique, counts.boundary);
        // A cache full of old states filters little: start it afresh with
        // the next level's.
        if search.visited.len() >= room << crate::visited::SHARD_BITS {
            search.visited = Visited::default();
        }
        if cut_short {
            stopped_in = Some(LevelCut {
                depth: depth - 1,
                states,
                expanded,
            });
            if counts.unique == unique_before {
                depth -= 1;
            }
            break;
        }
    }
    let complete = stopped_in.is_none();
    progress.done.store(true, Ordering::Relaxed);
    let usage = files.usage;
    files.remove_runs();
    let Search {
        discoveries,
        limits,
        rules,
        ..
    } = search;
    Ok((
        Exploration {
            outcome: Outcome {
                unique: counts.unique,
                transitions: progress.transitions.load(Ordering::Relaxed),
                boundary: counts.boundary,
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
            parents: Parents::Disk(DiskParents {
                visited: files.visited,
                _dir: dir,
            }),
        },
        usage,
    ))
}

/// Exact figures, from the merges (the threads' counts are of states the
/// cache did not know, some of them old).
#[derive(Default)]
struct Counts {
    unique: u64,
    boundary: u64,
}

/// The next level's frontier file.
struct Frontier {
    path: PathBuf,
    states: u64,
}

/// The search's files.
struct Files {
    dir: PathBuf,
    visited: DiskVisited,
    /// Names run and frontier files.
    next: AtomicUsize,
    /// Run files of the level being merged.
    runs: Mutex<Vec<PathBuf>>,
    usage: DiskUse,
}

impl Files {
    fn path(&self, kind: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{kind}-{n}"))
    }

    fn run_path(&self) -> PathBuf {
        let path = self.path("run");
        self.runs.lock().expect("runs lock").push(path.clone());
        path
    }

    fn remove_runs(&self) {
        for path in self.runs.lock().expect("runs lock").drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Merges a level's sorted runs against the visited set: each state
    /// not yet visited joins it (a new run) and, within the boundary, the
    /// next frontier.
    fn merge(&mut self, cursors: Vec<Cursor>, counts: &mut Counts) -> io::Result<Frontier> {
        let path = self.path("frontier");
        let mut frontier = BlockWriter::create(&path)?;
        let mut states = 0;
        let mut lookup = self.visited.lookup()?;
        let mut run = self.visited.writer()?;
        Merge::new(cursors).for_each(|r: Record<'_>| {
            if lookup.contains(r.fp)? {
                return Ok(());
            }
            run.push(r.fp, r.parent)?;
            counts.unique += 1;
            if r.within_boundary {
                frontier.push(r)?;
                states += 1;
            } else {
                counts.boundary += 1;
            }
            Ok(())
        })?;
        drop(lookup);
        let frontier_bytes = frontier.finish()?;
        let runs_bytes = dir_bytes(&self.dir);
        self.usage.peak = self.usage.peak.max(runs_bytes);
        self.usage.written += frontier_bytes;
        let before = self.visited.written;
        self.visited.add(run)?;
        self.usage.written += self.visited.written - before;
        debug_assert_eq!(self.visited.len(), counts.unique);
        Ok(Frontier { path, states })
    }
}

/// Bytes of the files in `dir` (what the search holds on disk now).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// One thread's share of a level.
struct Level<'a, 's, M: StepInPlace> {
    search: &'a Search<'s, M>,
    reader: &'a Mutex<BlockReader>,
    expanded: &'a AtomicU64,
    room: usize,
    depth: usize,
}

impl<M> Level<'_, '_, M>
where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    /// Takes blocks of the frontier until none is left (or the search
    /// stops), keeping what the cache does not know in `buffer`, spilled
    /// to a sorted run when it outgrows its share.
    fn expand_blocks(
        &self,
        buffer: &mut Buffer,
        mut spill: impl FnMut(&mut Buffer) -> io::Result<()>,
    ) -> io::Result<()> {
        let (mut compressed, mut raw) = (Vec::new(), Vec::new());
        let mut chunk: Vec<(crate::Fingerprint, Stored<M::State>)> = Vec::new();
        loop {
            if self.search.stopping.load(Ordering::Relaxed) || self.search.over_limit() {
                return Ok(());
            }
            let raw_len = match self
                .reader
                .lock()
                .expect("frontier lock")
                .next_compressed(&mut compressed)?
            {
                Some(n) => n,
                None => return Ok(()),
            };
            runs::decompress(&compressed, raw_len, &mut raw)?;
            chunk.clear();
            for r in runs::records(&raw) {
                let r = r?;
                chunk.push((r.fp, Stored::Bytes(r.bytes.into())));
            }
            self.search.expand_into(
                &chunk,
                self.depth,
                |search, k, batch, parent, state, depth| {
                    keep(search, self.room, k, batch, parent, state, depth, buffer)
                },
            );
            self.expanded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if buffer.is_full() {
                spill(buffer)?;
            }
        }
    }
}

/// Records the batch's `k`th successor unless the cache knows it: checks
/// its properties (a state seen before but forgotten by the cache is
/// checked again, to no effect: it was checked when first reached) and
/// keeps it for the level's merge.
#[allow(clippy::too_many_arguments)]
fn keep<M>(
    search: &Search<'_, M>,
    room: usize,
    k: usize,
    batch: &mut Batch<M::State>,
    parent: crate::Fingerprint,
    state: &M::State,
    depth: usize,
    buffer: &mut Buffer,
) -> Visit
where
    M: StepInPlace,
    M::State: Hash + Clone,
{
    let (fp, ref range) = batch.reached[k];
    if search.visited.seen_or_insert_within(fp, parent, room) {
        return Visit::Seen;
    }
    search.check_properties(state, fp, depth);
    let within_boundary = search.model.within_boundary(state);
    buffer.push(Record {
        fp,
        parent,
        within_boundary,
        bytes: &batch.bytes[range.clone()],
    });
    if within_boundary {
        Visit::New
    } else {
        Visit::Boundary
    }
}

#[cfg(test)]
mod tests {
    use stateright::{Model, Property};

    use super::*;
    use crate::{explore_with_codec, StopWhen};

    /// A graph of `n` states with cycles and states reached again from far
    /// levels: from s, 3s+1, s+7 and s/2 (mod n). Multiples of 97 are beyond
    /// the boundary.
    struct Graph {
        n: u32,
        /// Initial states 1..=init.
        init: u32,
        /// How long a step takes.
        step: std::time::Duration,
    }

    impl Model for Graph {
        type State = u32;
        type Action = u8;

        fn init_states(&self) -> Vec<u32> {
            (1..=self.init).collect()
        }

        fn actions(&self, _: &u32, actions: &mut Vec<u8>) {
            actions.extend([0, 1, 2]);
        }

        fn next_state(&self, s: &u32, a: u8) -> Option<u32> {
            std::thread::sleep(self.step);
            let s = u64::from(*s);
            let next = match a {
                0 => s * 3 + 1,
                1 => s + 7,
                _ => s / 2,
            };
            Some((next % u64::from(self.n)) as u32)
        }

        fn within_boundary(&self, s: &u32) -> bool {
            !s.is_multiple_of(97)
        }

        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("not 123456", |_: &Graph, s: &u32| *s != 123_456),
                Property::sometimes("reaches 5", |_: &Graph, s: &u32| *s == 5),
            ]
        }
    }

    impl StepInPlace for Graph {}

    fn codec() -> Codec<u32> {
        Codec {
            encode: |s, out| out.extend_from_slice(&s.to_le_bytes()),
            decode: |b| u32::from_le_bytes(b.try_into().expect("4 bytes")),
        }
    }

    fn options(stop_when: StopWhen) -> Options<Graph> {
        Options {
            threads: 2,
            symmetry: None,
            stop_when,
            timeout: None,
            memory_budget: None,
        }
    }

    /// The smallest cache (some 49,000 states) and buffers spilled after
    /// every block: nearly every duplicate is found by the merge on disk.
    fn tight(dir: &Path) -> DiskOptions {
        DiskOptions {
            dir: dir.to_path_buf(),
            cache_bytes: 1 << 20,
            buffer_bytes: 1,
        }
    }

    #[test]
    fn the_disk_search_finds_what_the_memory_search_finds() {
        let model = Graph {
            n: 400_000,
            init: 2,
            step: std::time::Duration::ZERO,
        };
        let codec = codec();
        let dir = tempfile::tempdir().unwrap();
        for stop_when in [StopWhen::Exhausted, StopWhen::Discovered("not 123456")] {
            let opts = options(stop_when);
            let memory = explore_with_codec(&model, &opts, Some(&codec), &Progress::default());
            let (disk, usage) = explore_on_disk(
                &model,
                &opts,
                &codec,
                &tight(dir.path()),
                &Progress::default(),
            )
            .unwrap();
            let (m, d) = (&memory.outcome, &disk.outcome);
            if stop_when == StopWhen::Exhausted {
                assert!(m.unique > 100_000, "{}", m.unique);
                assert_eq!(
                    (m.unique, m.boundary, m.transitions, m.max_depth, m.complete),
                    (d.unique, d.boundary, d.transitions, d.max_depth, d.complete),
                );
            } else {
                // Stopped mid-level, where the threads happened to be.
                assert!(!m.complete && !d.complete);
                assert_eq!(m.max_depth, d.max_depth);
            }
            let depths = |o: &Outcome| {
                o.discoveries
                    .iter()
                    .map(|(k, v)| (*k, v.depth))
                    .collect::<Vec<_>>()
            };
            assert_eq!(depths(m), depths(d));
            assert!(usage.written > 0 && usage.peak > 0);
            // The violation's shortest path, from the parents on disk.
            let target = d.discoveries["not 123456"].fingerprint;
            let (_, steps) = disk
                .path(&model, None, crate::fingerprint, Some(&codec), target)
                .expect("a path from the disk's parents");
            assert_eq!(steps.len(), d.discoveries["not 123456"].depth);
            assert_eq!(steps.last().unwrap().1, 123_456);
        }
        // Every file is removed with the explorations.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A timeout mid-level with nothing discovered in it stops without the
    /// level's merge: the states counted are those to the depth being
    /// expanded. Level 0 is 8 blocks of up to 256 states whose 3 steps take 1 ms
    /// each, so each thread's first block takes 768 ms, and the 200 ms run
    /// out before either can take a second one, however slow the machine.
    #[test]
    fn a_limit_stops_without_merging_the_level_it_cut() {
        let model = Graph {
            n: 400_000,
            init: 2048,
            step: std::time::Duration::from_millis(1),
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            timeout: Some(std::time::Duration::from_millis(200)),
            ..options(StopWhen::Exhausted)
        };
        let (disk, _) = explore_on_disk(
            &model,
            &opts,
            &codec(),
            &tight(dir.path()),
            &Progress::default(),
        )
        .unwrap();
        let o = &disk.outcome;
        assert_eq!(o.stopped_by, Some(StopReason::Timeout));
        assert!(!o.complete);
        assert_eq!((o.unique, o.max_depth), (2048, 0));
        let cut = o.stopped_in.expect("where it stopped");
        // 21 of the 2,048 are beyond the boundary (multiples of 97).
        assert_eq!((cut.depth, cut.states, cut.expanded), (0, 2027, 512));
        // The initial states' own discovery stands.
        assert_eq!(o.discoveries["reaches 5"].depth, 0);
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_an_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let model = Graph {
            n: 100,
            init: 2,
            step: std::time::Duration::ZERO,
        };
        let err = explore_on_disk(
            &model,
            &options(StopWhen::Exhausted),
            &codec(),
            &tight(&file.path().join("sub")),
            &Progress::default(),
        )
        .err()
        .expect("a file is not a directory");
        // Which kind depends on the OS; that it is an error does not.
        assert!(!err.to_string().is_empty());
    }
}
