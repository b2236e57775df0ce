//! The disk-backed search's visited set: sorted runs of fingerprints, each
//! with the parent of each fingerprint beside it (in a file of its own, so
//! that the merge that finds new states reads 8 bytes a state, not 16).
//!
//! Each level adds one run (its new states, which the merge produces in
//! order); past [`MAX_RUNS`] runs they are merged into one, so a lookup
//! stream never compares against more than a few runs, and the bytes
//! rewritten stay a small multiple of the set (as in a log-structured
//! merge tree).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::fingerprint::Fingerprint;

const MAX_RUNS: usize = 6;

/// One sorted run: `len` fingerprints and their parents.
struct Run {
    fps: PathBuf,
    parents: PathBuf,
    len: u64,
}

pub(crate) struct DiskVisited {
    dir: PathBuf,
    runs: Vec<Run>,
    /// Names new files.
    next_id: u64,
    /// Bytes written to runs, compactions included.
    pub(crate) written: u64,
}

/// Writes one new run, in fingerprint order.
pub(crate) struct RunWriter {
    fps: BufWriter<File>,
    parents: BufWriter<File>,
    run: Run,
    last: Fingerprint,
}

impl RunWriter {
    pub(crate) fn push(&mut self, fp: Fingerprint, parent: Fingerprint) -> io::Result<()> {
        debug_assert!(
            self.run.len == 0 || fp > self.last,
            "a run is written in order"
        );
        self.last = fp;
        self.fps.write_all(&fp.to_le_bytes())?;
        self.parents.write_all(&parent.to_le_bytes())?;
        self.run.len += 1;
        Ok(())
    }
}

/// A run read in order, one fingerprint at a time.
struct RunReader {
    fps: BufReader<File>,
    parents: Option<BufReader<File>>,
    current: Option<Fingerprint>,
}

impl RunReader {
    fn open(run: &Run, with_parents: bool) -> io::Result<Self> {
        let mut r = RunReader {
            fps: BufReader::with_capacity(1 << 20, File::open(&run.fps)?),
            parents: if with_parents {
                Some(BufReader::with_capacity(1 << 20, File::open(&run.parents)?))
            } else {
                None
            },
            current: None,
        };
        r.advance()?;
        Ok(r)
    }

    fn advance(&mut self) -> io::Result<()> {
        self.current = read_u64(&mut self.fps)?;
        Ok(())
    }

    fn parent(&mut self) -> io::Result<Fingerprint> {
        let p = self.parents.as_mut().expect("opened with parents");
        read_u64(p)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "a run's parents file is short")
        })
    }
}

fn read_u64(r: &mut impl Read) -> io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(Some(u64::from_le_bytes(b))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Answers "visited?" for fingerprints asked in increasing order.
pub(crate) struct Lookup {
    readers: Vec<RunReader>,
}

impl Lookup {
    /// Whether `fp` is in the set; each call's `fp` must exceed the last.
    pub(crate) fn contains(&mut self, fp: Fingerprint) -> io::Result<bool> {
        let mut found = false;
        for r in &mut self.readers {
            while r.current.is_some_and(|c| c < fp) {
                r.advance()?;
            }
            found |= r.current == Some(fp);
        }
        Ok(found)
    }
}

impl DiskVisited {
    pub(crate) fn new(dir: &Path) -> Self {
        DiskVisited {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
            next_id: 0,
            written: 0,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.runs.iter().map(|r| r.len).sum()
    }

    fn paths(&mut self) -> (PathBuf, PathBuf) {
        self.next_id += 1;
        (
            self.dir.join(format!("visited-{}.fp", self.next_id)),
            self.dir.join(format!("visited-{}.parent", self.next_id)),
        )
    }

    pub(crate) fn writer(&mut self) -> io::Result<RunWriter> {
        let (fps, parents) = self.paths();
        Ok(RunWriter {
            fps: BufWriter::with_capacity(1 << 20, File::create(&fps)?),
            parents: BufWriter::with_capacity(1 << 20, File::create(&parents)?),
            run: Run {
                fps,
                parents,
                len: 0,
            },
            last: 0,
        })
    }

    /// Adds a finished run; merges the runs into one past [`MAX_RUNS`].
    pub(crate) fn add(&mut self, mut w: RunWriter) -> io::Result<()> {
        w.fps.flush()?;
        w.parents.flush()?;
        self.written += w.run.len * 16;
        if w.run.len > 0 {
            self.runs.push(w.run);
        }
        if self.runs.len() > MAX_RUNS {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let mut readers = self
            .runs
            .iter()
            .map(|r| RunReader::open(r, true))
            .collect::<io::Result<Vec<_>>>()?;
        let mut out = self.writer()?;
        // Runs are disjoint (a level's run holds only states no earlier run
        // has), so this is a plain merge.
        while let Some((i, fp)) = readers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.current.map(|c| (i, c)))
            .min_by_key(|&(_, c)| c)
        {
            let parent = readers[i].parent()?;
            out.push(fp, parent)?;
            readers[i].advance()?;
        }
        drop(readers);
        for run in std::mem::take(&mut self.runs) {
            let _ = std::fs::remove_file(&run.fps);
            let _ = std::fs::remove_file(&run.parents);
        }
        self.add(out)
    }

    /// A lookup stream over the runs as they are now.
    pub(crate) fn lookup(&self) -> io::Result<Lookup> {
        Ok(Lookup {
            readers: self
                .runs
                .iter()
                .map(|r| RunReader::open(r, false))
                .collect::<io::Result<_>>()?,
        })
    }

    /// The parent `fp` was first reached from: a binary search of each run
    /// (for rebuilding a path, a few dozen lookups).
    pub(crate) fn parent(&self, fp: Fingerprint) -> io::Result<Option<Fingerprint>> {
        for run in &self.runs {
            let fps = std::fs::read(&run.fps)?;
            let n = fps.len() / 8;
            let at = |i: usize| u64::from_le_bytes(fps[i * 8..i * 8 + 8].try_into().expect("8"));
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                match at(mid).cmp(&fp) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => {
                        let mut f = File::open(&run.parents)?;
                        std::io::Seek::seek(&mut f, io::SeekFrom::Start(mid as u64 * 8))?;
                        return read_u64(&mut f);
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_answer_lookups_and_parents_across_compactions() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = DiskVisited::new(dir.path());
        // Ten levels of disjoint fingerprints: level k holds k*7+1, +10, ...
        for k in 0..10u64 {
            let mut w = v.writer().unwrap();
            for i in 0..500u64 {
                let fp = i * 10 + k + 1;
                w.push(fp, fp * 3).unwrap();
            }
            v.add(w).unwrap();
            assert!(v.runs.len() <= MAX_RUNS);
        }
        assert_eq!(v.len(), 5000);
        let mut lookup = v.lookup().unwrap();
        for fp in 1..=5000u64 {
            assert!(lookup.contains(fp).unwrap(), "{fp}");
        }
        assert!(!v.lookup().unwrap().contains(5001).unwrap());
        assert_eq!(v.parent(4321).unwrap(), Some(4321 * 3));
        assert_eq!(v.parent(1).unwrap(), Some(3));
        assert_eq!(v.parent(6000).unwrap(), None);
    }
}
