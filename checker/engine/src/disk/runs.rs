//! The disk-backed search's files: reached states as records, in blocks
//! compressed with LZ4 (fast enough to keep up with the search; the
//! encodings of Raft states halve), and sorted runs of them.
//!
//! A record is a state's fingerprint, the fingerprint of the state it was
//! reached from, whether it is within the boundary, and its encoding. A
//! block holds up to [`BLOCK_RECORDS`] records: a thread takes a whole
//! block of the frontier at a time, as the in-memory search takes a chunk.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::fingerprint::Fingerprint;

/// Records per block: the in-memory search's chunk.
pub(crate) const BLOCK_RECORDS: usize = crate::CHUNK;

/// One reached state, borrowing its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub fp: Fingerprint,
    pub parent: Fingerprint,
    pub within_boundary: bool,
    pub bytes: &'a [u8],
}

impl Record<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fp.to_le_bytes());
        out.extend_from_slice(&self.parent.to_le_bytes());
        out.push(u8::from(self.within_boundary));
        out.extend_from_slice(&(self.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(self.bytes);
    }
}

const HEADER: usize = 8 + 8 + 1 + 4;

/// Reads the record at the start of `raw`, and its length; an error if the
/// block is cut short (a file damaged under a running search).
fn read_record(raw: &[u8]) -> io::Result<(Record<'_>, usize)> {
    let short = || io::Error::new(io::ErrorKind::InvalidData, "a record is cut short");
    let head = raw.get(..HEADER).ok_or_else(short)?;
    let u64_at = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(head[17..21].try_into().expect("4 bytes")) as usize;
    let bytes = raw.get(HEADER..HEADER + len).ok_or_else(short)?;
    let record = Record {
        fp: u64_at(0),
        parent: u64_at(8),
        within_boundary: head[16] != 0,
        bytes,
    };
    Ok((record, HEADER + len))
}

/// Records, block by block, to a file.
pub(crate) struct BlockWriter {
    file: BufWriter<File>,
    raw: Vec<u8>,
    records: u32,
    compressed: Vec<u8>,
    /// Bytes written so far.
    pub(crate) written: u64,
}

impl BlockWriter {
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        Ok(BlockWriter {
            file: BufWriter::with_capacity(1 << 20, File::create(path)?),
            raw: Vec::new(),
            records: 0,
            compressed: Vec::new(),
            written: 0,
        })
    }

    pub(crate) fn push(&mut self, record: Record<'_>) -> io::Result<()> {
        record.write(&mut self.raw);
        self.records += 1;
        if self.records as usize == BLOCK_RECORDS {
            self.flush_block()?;
        }
        Ok(())
    }

    /// A block: its raw and compressed lengths and record count, then the
    /// compressed bytes.
    fn flush_block(&mut self) -> io::Result<()> {
        if self.records == 0 {
            return Ok(());
        }
        self.compressed
            .resize(lz4_flex::block::get_maximum_output_size(self.raw.len()), 0);
        let n = lz4_flex::block::compress_into(&self.raw, &mut self.compressed)
            .map_err(|e| io::Error::other(format!("lz4: {e}")))?;
        for word in [self.raw.len() as u32, n as u32, self.records] {
            self.file.write_all(&word.to_le_bytes())?;
        }
        self.file.write_all(&self.compressed[..n])?;
        self.written += 12 + n as u64;
        self.raw.clear();
        self.records = 0;
        Ok(())
    }

    /// Writes the last block and flushes the file; the bytes written.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        self.flush_block()?;
        self.file.flush()?;
        Ok(self.written)
    }
}

/// Blocks of records from a file, in the order written.
pub(crate) struct BlockReader {
    file: BufReader<File>,
}

impl BlockReader {
    /// `buffer` bytes of read-ahead: a megabyte for the frontier, less for
    /// each of a merge's many runs.
    pub(crate) fn open(path: &Path, buffer: usize) -> io::Result<Self> {
        Ok(BlockReader {
            file: BufReader::with_capacity(buffer, File::open(path)?),
        })
    }

    /// The next block's compressed bytes (into `compressed`) and its raw
    /// length, or `None` at the end. Cheap: a thread holds the reader's
    /// lock only for this, and decompresses on its own.
    pub(crate) fn next_compressed(
        &mut self,
        compressed: &mut Vec<u8>,
    ) -> io::Result<Option<usize>> {
        let mut head = [0u8; 12];
        match self.file.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        compressed.resize(word(4) as usize, 0);
        self.file.read_exact(compressed)?;
        Ok(Some(word(0) as usize))
    }
}

/// Decompresses a block read by [`BlockReader::next_compressed`] into `raw`.
pub(crate) fn decompress(compressed: &[u8], raw_len: usize, raw: &mut Vec<u8>) -> io::Result<()> {
    raw.resize(raw_len, 0);
    let n = lz4_flex::block::decompress_into(compressed, raw)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("lz4: {e}")))?;
    if n != raw_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a block is shorter than its header says",
        ));
    }
    Ok(())
}

/// The records of a decompressed block, in order.
pub(crate) fn records(raw: &[u8]) -> impl Iterator<Item = io::Result<Record<'_>>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= raw.len() {
            return None;
        }
        Some(read_record(&raw[at..]).map(|(r, len)| {
            at += len;
            r
        }))
    })
}

const INDEX_ENTRY: usize = std::mem::size_of::<(u64, u64, bool, u32, u32)>();
/// Room a block's successors may need: 256 states of up to 64 successors
/// each (a Raft state at the spec's bounds has a few dozen at most).
const BLOCK_SLACK_ENTRIES: usize = BLOCK_RECORDS * 64;
const BLOCK_SLACK_BYTES: usize = BLOCK_SLACK_ENTRIES * 128;

/// A thread's reached states in memory, until they are sorted into a run.
#[derive(Default)]
pub(crate) struct Buffer {
    /// Fingerprint, parent, within the boundary, and where the encoding is.
    index: Vec<(Fingerprint, Fingerprint, bool, u32, u32)>,
    bytes: Vec<u8>,
}

impl Buffer {
    pub(crate) fn push(&mut self, r: Record<'_>) {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(r.bytes);
        self.index
            .push((r.fp, r.parent, r.within_boundary, at, r.bytes.len() as u32));
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// A buffer of about `bytes`, allocated at once so it never grows (a
    /// doubling vector would hold up to twice what it counts).
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let entries = (bytes / 4 / INDEX_ENTRY).max(BLOCK_SLACK_ENTRIES * 2);
        Buffer {
            index: Vec::with_capacity(entries),
            bytes: Vec::with_capacity((bytes / 4 * 3).max(BLOCK_SLACK_BYTES * 2)),
        }
    }

    /// Whether another block's successors might not fit without growing.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes.len() + BLOCK_SLACK_BYTES > self.bytes.capacity()
            || self.index.len() + BLOCK_SLACK_ENTRIES > self.index.capacity()
    }

    fn get(&self, i: usize) -> Record<'_> {
        let (fp, parent, within_boundary, at, len) = self.index[i];
        Record {
            fp,
            parent,
            within_boundary,
            bytes: &self.bytes[at as usize..(at + len) as usize],
        }
    }

    /// Sorts by fingerprint (an unstable sort: duplicates were all reached
    /// at one depth, so any of them will do).
    pub(crate) fn sort(&mut self) {
        self.index.sort_unstable_by_key(|e| e.0);
    }

    /// Writes the sorted buffer as a run file, and empties it.
    pub(crate) fn spill(&mut self, path: &Path) -> io::Result<u64> {
        self.sort();
        let mut w = BlockWriter::create(path)?;
        for i in 0..self.index.len() {
            w.push(self.get(i))?;
        }
        self.index.clear();
        self.bytes.clear();
        w.finish()
    }
}

/// A sorted run being read: a sorted buffer, or a run file.
pub(crate) enum Cursor {
    Memory {
        buffer: Buffer,
        at: usize,
    },
    Disk {
        reader: BlockReader,
        compressed: Vec<u8>,
        raw: Vec<u8>,
        /// Offset of the current record in `raw`, and its length.
        at: usize,
        len: usize,
    },
}

impl Cursor {
    pub(crate) fn memory(mut buffer: Buffer) -> Cursor {
        buffer.sort();
        Cursor::Memory { buffer, at: 0 }
    }

    pub(crate) fn disk(path: &Path) -> io::Result<Cursor> {
        let mut c = Cursor::Disk {
            reader: BlockReader::open(path, 128 << 10)?,
            compressed: Vec::new(),
            raw: Vec::new(),
            at: 0,
            len: 0,
        };
        c.load_block()?;
        Ok(c)
    }

    /// For a disk cursor past its block's end: the next block's first record.
    fn load_block(&mut self) -> io::Result<()> {
        if let Cursor::Disk {
            reader,
            compressed,
            raw,
            at,
            len,
        } = self
        {
            *at = 0;
            *len = 0;
            raw.clear();
            if let Some(raw_len) = reader.next_compressed(compressed)? {
                decompress(compressed, raw_len, raw)?;
                *len = read_record(raw)?.1;
            }
        }
        Ok(())
    }

    /// The record under the cursor, if any.
    pub(crate) fn current(&self) -> Option<Record<'_>> {
        match self {
            Cursor::Memory { buffer, at } => (*at < buffer.len()).then(|| buffer.get(*at)),
            Cursor::Disk { raw, at, len, .. } => {
                (*len > 0).then(|| read_record(&raw[*at..]).expect("checked when loaded").0)
            }
        }
    }

    pub(crate) fn advance(&mut self) -> io::Result<()> {
        match self {
            Cursor::Memory { at, .. } => *at += 1,
            Cursor::Disk { raw, at, len, .. } => {
                *at += *len;
                if *at < raw.len() {
                    *len = read_record(&raw[*at..])?.1;
                } else {
                    self.load_block()?;
                }
            }
        }
        Ok(())
    }
}

/// Sorted runs merged into one stream in fingerprint order, each
/// fingerprint once (its first record).
pub(crate) struct Merge {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(Fingerprint, usize)>>,
    last: Option<Fingerprint>,
}

impl Merge {
    pub(crate) fn new(cursors: Vec<Cursor>) -> Self {
        let heap = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.current().map(|r| Reverse((r.fp, i))))
            .collect();
        Merge {
            cursors,
            heap,
            last: None,
        }
    }

    /// Calls `f` with each distinct fingerprint's record, in order.
    pub(crate) fn for_each(
        mut self,
        mut f: impl FnMut(Record<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        while let Some(Reverse((fp, i))) = self.heap.pop() {
            if self.last != Some(fp) {
                self.last = Some(fp);
                f(self.cursors[i]
                    .current()
                    .expect("a cursor in the heap has a record"))?;
            }
            let c = &mut self.cursors[i];
            c.advance()?;
            if let Some(r) = c.current() {
                self.heap.push(Reverse((r.fp, i)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fp: u64, bytes: &[u8]) -> Record<'_> {
        Record {
            fp,
            parent: fp + 1000,
            within_boundary: !fp.is_multiple_of(3),
            bytes,
        }
    }

    #[test]
    fn blocks_round_trip_and_runs_merge_in_order_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        // Two runs on disk (over several blocks) and one in memory, with
        // fingerprints shared between them.
        let payload = |fp: u64| vec![fp as u8; (fp % 50) as usize];
        let mut cursors = Vec::new();
        for (k, range) in [(0u64, 0..2000u64), (1, 1000..3000), (2, 2500..2600)] {
            let mut b = Buffer::default();
            for fp in range.rev() {
                b.push(record(fp * 2 + 1, &payload(fp * 2 + 1)));
            }
            if k < 2 {
                let path = dir.path().join(format!("run{k}"));
                b.spill(&path).unwrap();
                assert_eq!(b.len(), 0);
                cursors.push(Cursor::disk(&path).unwrap());
            } else {
                cursors.push(Cursor::memory(b));
            }
        }
        let mut seen = Vec::new();
        Merge::new(cursors)
            .for_each(|r| {
                assert_eq!(r.bytes, &payload(r.fp)[..]);
                assert_eq!(r.parent, r.fp + 1000);
                assert_eq!(r.within_boundary, !r.fp.is_multiple_of(3));
                seen.push(r.fp);
                Ok(())
            })
            .unwrap();
        let want: Vec<u64> = (0..3000).map(|fp| fp * 2 + 1).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run");
        let mut b = Buffer::default();
        for fp in 1..=10u64 {
            b.push(record(fp, b"state"));
        }
        b.spill(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // Claim a longer raw block than the data holds.
        bytes[0] = bytes[0].wrapping_add(7);
        std::fs::write(&path, &bytes).unwrap();
        assert!(Cursor::disk(&path).is_err());
        // Cut the file inside its block.
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert!(Cursor::disk(&path).is_err());
    }
}
