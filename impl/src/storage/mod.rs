//! Durable storage for the core's [`DurableWrite`]s: a checksummed,
//! versioned write-ahead log with group commit, in a locked data directory
//! (see [`data_dir`] for the lock, atomic creation, and when a directory counts as
//! new).
//!
//! # File format (version 1)
//!
//! ```text
//! header:  b"RAFTWAL\0"  u32 LE version  u32 LE flags (0)        16 bytes
//! record:  u32 LE len    u32 LE crc32(payload)  u32 LE crc32(len ++ crc)
//!          payload: u8 kind, then bincode body
//!            kind 1 HardState { term, voted_for }
//!            kind 2 TruncateFrom { index }
//!            kind 3 Append { entries }
//!            kind 4 reserved for snapshots (a later version)
//! ```
//!
//! A `wal.log` shorter than its header, with another magic, another version
//! or non-zero flags is refused.
//!
//! # Torn tail or corruption
//!
//! A crash can only cut the file short (writes append; a record is
//! acknowledged only after its `fdatasync`). So recovery truncates exactly
//! what a crash can leave, and refuses everything else, naming the file and
//! the byte offset of the record: acknowledged data is damaged and an
//! operator must decide. Reading from a record boundary:
//!
//! * fewer than 12 bytes left (a cut record header): torn, truncated;
//! * only zero bytes left (the file grew but the data never landed): torn;
//! * a record header whose checksum fails: corruption;
//! * a length over [`MAX_RECORD_LEN`]: corruption;
//! * a length saying more bytes than the file has left: torn (the write was
//!   cut short);
//! * the last record, complete in length, whose payload checksum fails and
//!   which covers a whole 512-byte sector (aligned by file offset) of zeros:
//!   torn (some filesystems extend a file before its data lands, so a crash
//!   in an unsynced write can leave zeroed sectors; a bit flip zeroes none);
//! * any other complete record whose payload checksum fails, **the last one
//!   included**: corruption (a crash did not cut it, so its bytes changed
//!   after they were written, and it may have been acknowledged);
//! * an undecodable payload or an append that does not continue the log:
//!   corruption.
//!
//! # Group commit
//!
//! [`Wal::append`] only encodes into a buffer; [`Wal::sync`] writes the buffer
//! with one `write` and one `fdatasync`. The server appends the writes of
//! every `Ready` of a batch of inputs, syncs once, and only then releases the
//! batch's messages and committed entries.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub mod data_dir;
use data_dir::DirLock;
pub use data_dir::{reset, LOCK_FILE, WAL_TMP_FILE};

use raft_core::{DurableState, DurableWrite, Entry, LogIndex, NodeId, Term};

/// The WAL's file name inside a data directory.
pub const WAL_FILE: &str = "wal.log";
const MAGIC: &[u8; 8] = b"RAFTWAL\0";
/// The on-disk format version this build writes and reads.
pub const WAL_VERSION: u32 = 1;
const FILE_HEADER_LEN: u64 = 16;
const RECORD_HEADER_LEN: usize = 12;
/// A single record larger than this is refused on write and treated as
/// corruption on read.
pub const MAX_RECORD_LEN: usize = 256 << 20;

const KIND_HARD_STATE: u8 = 1;
const KIND_TRUNCATE: u8 = 2;
const KIND_APPEND: u8 = 3;

/// How an operator starts a node over; quoted by the errors that need it.
const START_OVER: &str = "restore this node's data directory from a backup, or see \
                          `raftkv reset-data --help` to start it over as an empty node";

/// What can go wrong opening, recovering or writing the WAL.
#[derive(Debug, Error)]
pub enum WalError {
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {dir} is in use by another process ({}); two nodes on one WAL would \
         corrupt it",
        holder.map_or("pid unknown".to_string(), |p| format!("pid {p}, per its LOCK file"))
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error(
        "{path} is missing, but this data directory was initialised (its LOCK file names pid \
         {}): the node's term, vote and log are lost, and starting it as a fresh node could let \
         it vote twice in one term; {START_OVER}",
        holder.map_or("?".to_string(), |p| p.to_string())
    )]
    MissingWal { path: PathBuf, holder: Option<u32> },
    #[error(
        "{dir} has no {WAL_FILE} but is not empty (it holds {entry:?}): not a raftkv data \
         directory; use an empty or new directory for a new node"
    )]
    NotADataDir { dir: PathBuf, entry: String },
    #[error(
        "{path} holds {len} bytes, less than its {FILE_HEADER_LEN}-byte header: the WAL was \
         wiped or cut, so the node's term, vote and log are lost, and starting it as a fresh \
         node could let it vote twice in one term; {START_OVER}"
    )]
    TruncatedHeader { path: PathBuf, len: u64 },
    #[error("{path} is not a raft WAL (bad magic in its 16-byte header); refusing to touch it")]
    BadMagic { path: PathBuf },
    #[error("{path} has WAL format version {found}; this build reads version {WAL_VERSION}")]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error(
        "{path} sets reserved header flags {flags:#010x}; this build knows none (written by a \
         newer raftkv, or damaged)"
    )]
    ReservedFlags { path: PathBuf, flags: u32 },
    #[error(
        "WAL corruption in {path} at byte offset {offset}: {reason}; acknowledged data may be \
         damaged, so recovery stops here ({START_OVER})"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("a WAL record of {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit")]
    RecordTooLarge { len: usize },
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The durable state to restart the core from.
    pub state: DurableState,
    /// Records replayed.
    pub records: u64,
    /// Bytes of a torn tail that were cut off (0 after a clean shutdown).
    pub truncated_bytes: u64,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    /// Held for as long as the WAL is open.
    _lock: DirLock,
    buf: Vec<u8>,
    /// Bytes on disk (written and synced).
    len: u64,
    /// Last log index written (for checking the contiguity of appends).
    last_index: LogIndex,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Wal {
    /// Lock the data directory `dir` (creating it if needed), create its WAL
    /// if the directory was never initialised, recover the WAL, and return
    /// it ready for appends together with the recovered state. The lock is
    /// held until the `Wal` is dropped.
    pub fn open(dir: &Path) -> Result<(Wal, Recovery), WalError> {
        let mut lock = DirLock::acquire(dir)?;
        if lock.is_uninitialised()? {
            data_dir::create_wal(dir, &file_header())?;
        }
        lock.record_holder()?;
        let path = dir.join(WAL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        check_file_header(&path, &bytes)?;
        let (state, records, valid_end) = replay(&path, &bytes)?;
        let truncated_bytes = bytes.len() as u64 - valid_end;
        if truncated_bytes > 0 {
            tracing::warn!(
                file = %path.display(),
                offset = valid_end,
                bytes = truncated_bytes,
                "truncating a torn WAL tail (an unacknowledged write cut short by a crash)"
            );
            file.set_len(valid_end).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        file.seek(SeekFrom::Start(valid_end))
            .map_err(io_err(&path))?;
        let wal = Wal {
            path,
            file,
            _lock: lock,
            buf: Vec::new(),
            len: valid_end,
            last_index: state.log.len() as LogIndex,
        };
        Ok((
            wal,
            Recovery {
                state,
                records,
                truncated_bytes,
            },
        ))
    }

    /// The WAL file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes durably in the file (excluding buffered, unsynced appends).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if no record was ever written.
    pub fn is_empty(&self) -> bool {
        self.len == FILE_HEADER_LEN && self.buf.is_empty()
    }

    /// True if appends are buffered and waiting for [`Wal::sync`].
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Encode `writes` (in order) into the group-commit buffer. Nothing is
    /// durable until [`Wal::sync`] returns.
    pub fn append(&mut self, writes: &[DurableWrite]) -> Result<(), WalError> {
        for write in writes {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
            match write {
                DurableWrite::HardState { term, voted_for } => {
                    self.buf.push(KIND_HARD_STATE);
                    encode_into(&mut self.buf, &(*term, *voted_for));
                }
                DurableWrite::TruncateFrom { index } => {
                    self.buf.push(KIND_TRUNCATE);
                    encode_into(&mut self.buf, index);
                    self.last_index = self.last_index.min(index.saturating_sub(1));
                }
                DurableWrite::Append { entries } => {
                    self.buf.push(KIND_APPEND);
                    encode_into(&mut self.buf, entries);
                    if let Some(last) = entries.last() {
                        self.last_index = last.index;
                    }
                }
            }
            let payload_len = self.buf.len() - start - RECORD_HEADER_LEN;
            if payload_len > MAX_RECORD_LEN {
                self.buf.truncate(start);
                return Err(WalError::RecordTooLarge { len: payload_len });
            }
            let crc = crc32fast::hash(&self.buf[start + RECORD_HEADER_LEN..]);
            let mut header = [0u8; RECORD_HEADER_LEN];
            header[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
            header[4..8].copy_from_slice(&crc.to_le_bytes());
            let hcrc = crc32fast::hash(&header[0..8]);
            header[8..12].copy_from_slice(&hcrc.to_le_bytes());
            self.buf[start..start + RECORD_HEADER_LEN].copy_from_slice(&header);
        }
        Ok(())
    }

    /// Write every buffered record with one `write` and make it durable with
    /// one `fdatasync` (group commit). A failure here is fatal for the node:
    /// the caller must not release anything that depended on these writes.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf).map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Last log index in the WAL (including buffered appends).
    pub fn last_index(&self) -> LogIndex {
        self.last_index
    }
}

fn file_header() -> Vec<u8> {
    let mut header = Vec::with_capacity(FILE_HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&WAL_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header
}

/// Refuse a file header that is short, foreign, from another version or
/// with flags this build does not know.
fn check_file_header(path: &Path, bytes: &[u8]) -> Result<(), WalError> {
    let path = || path.to_path_buf();
    if bytes.len() < FILE_HEADER_LEN as usize {
        return Err(WalError::TruncatedHeader {
            path: path(),
            len: bytes.len() as u64,
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(WalError::BadMagic { path: path() });
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if word(8) != WAL_VERSION {
        return Err(WalError::UnsupportedVersion {
            path: path(),
            found: word(8),
        });
    }
    if word(12) != 0 {
        return Err(WalError::ReservedFlags {
            path: path(),
            flags: word(12),
        });
    }
    Ok(())
}

/// The disk sector size recovery assumes: a write lands in whole sectors.
const SECTOR: usize = 512;

/// Whether `bytes[start..end]` covers a whole sector (aligned by file
/// offset) of zeros: what a crash leaves where a filesystem had extended the
/// file but not yet written that part of it (the write was never synced, so
/// never acknowledged). A bit flip does not zero a sector.
fn has_zeroed_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let first = start.div_ceil(SECTOR) * SECTOR;
    (first..end)
        .step_by(SECTOR)
        .take_while(|s| s + SECTOR <= end)
        .any(|s| bytes[s..s + SECTOR].iter().all(|&b| b == 0))
}

fn encode_into<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    // Serializing plain data into a Vec cannot fail.
    bincode::serialize_into(buf, value).expect("bincode into a Vec");
}

/// Replay the records after the file header. Returns the state, the record
/// count and the end of the last valid record. Where a torn tail ends and
/// corruption begins is the rule in the module docs.
fn replay(path: &Path, bytes: &[u8]) -> Result<(DurableState, u64, u64), WalError> {
    let mut state = DurableState::default();
    let mut records = 0u64;
    let mut pos = FILE_HEADER_LEN as usize;
    let corrupt = |offset: usize, reason: String| WalError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            break;
        }
        if rest.len() < RECORD_HEADER_LEN {
            break; // torn: the record header was cut
        }
        if rest.iter().all(|&b| b == 0) {
            break; // torn: the file grew but the data never landed
        }
        let header = &rest[..RECORD_HEADER_LEN];
        let hcrc = u32::from_le_bytes(header[8..12].try_into().expect("4"));
        if crc32fast::hash(&header[0..8]) != hcrc {
            return Err(corrupt(pos, "record header checksum mismatch".into()));
        }
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4"));
        if len > MAX_RECORD_LEN {
            return Err(corrupt(pos, format!("record length {len} over the limit")));
        }
        if rest.len() - RECORD_HEADER_LEN < len {
            break; // torn: the length says more bytes than the file has
        }
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
        let end = pos + RECORD_HEADER_LEN + len;
        if crc32fast::hash(payload) != crc {
            if end == bytes.len() && has_zeroed_sector(bytes, pos, end) {
                break; // torn: the file grew but part of the write never landed
            }
            let place = match end == bytes.len() {
                true => "the last record, complete, so not torn by a crash",
                false => "a record followed by more records",
            };
            return Err(corrupt(
                pos,
                format!("payload checksum mismatch in {place} ({len}-byte payload)"),
            ));
        }
        let write = decode_record(payload).map_err(|reason| corrupt(pos, reason))?;
        if let DurableWrite::Append { entries } = &write {
            let expected = state.log.len() as LogIndex + 1;
            if let Some(first) = entries.first() {
                if first.index != expected {
                    return Err(corrupt(
                        pos,
                        format!(
                            "append starts at index {} but the log so far ends at {}",
                            first.index,
                            expected - 1
                        ),
                    ));
                }
            }
        }
        state.apply(&write);
        records += 1;
        pos = end;
    }
    Ok((state, records, pos as u64))
}

fn decode_record(payload: &[u8]) -> Result<DurableWrite, String> {
    let (&kind, body) = payload
        .split_first()
        .ok_or_else(|| "empty record".to_string())?;
    let bad = |e: bincode::Error| format!("undecodable record of kind {kind}: {e}");
    Ok(match kind {
        KIND_HARD_STATE => {
            let (term, voted_for): (Term, Option<NodeId>) =
                bincode::deserialize(body).map_err(bad)?;
            DurableWrite::HardState { term, voted_for }
        }
        KIND_TRUNCATE => DurableWrite::TruncateFrom {
            index: bincode::deserialize(body).map_err(bad)?,
        },
        KIND_APPEND => DurableWrite::Append {
            entries: bincode::deserialize::<Vec<Entry>>(body).map_err(bad)?,
        },
        other => return Err(format!("unknown record kind {other}")),
    })
}

#[cfg(test)]
mod tests;
