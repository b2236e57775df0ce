//! Durable storage for the core's [`DurableWrite`]s: a checksummed,
//! versioned write-ahead log with group commit.
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
//! The header checksum lets recovery tell a torn write (the tail of the file
//! is missing or zero: truncated, because an unsynced write was never
//! acknowledged) from real corruption in the middle of the log (refused with
//! an error naming the file and byte offset: acknowledged data is damaged and
//! an operator must decide).
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

use crate::core::{DurableState, DurableWrite, Entry, LogIndex, NodeId, Term};

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

/// What can go wrong opening, recovering or writing the WAL.
#[derive(Debug, Error)]
pub enum WalError {
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a raft WAL (bad magic in its 16-byte header); refusing to touch it")]
    BadMagic { path: PathBuf },
    #[error("{path} has WAL format version {found}; this build reads version {WAL_VERSION}")]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error(
        "WAL corruption in {path} at byte offset {offset}: {reason}; acknowledged data may be \
         damaged, so recovery stops here (restore this node's data dir from a replica or remove \
         it to rejoin as an empty node)"
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
    /// Open (or create) the WAL in `dir`, recover it, and return it ready for
    /// appends together with the recovered state.
    pub fn open(dir: &Path) -> Result<(Wal, Recovery), WalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(WAL_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        if !existed || bytes.len() < FILE_HEADER_LEN as usize {
            // New file, or a crash while writing the header (nothing was
            // ever acknowledged): write a fresh header.
            if bytes.iter().any(|&b| b != 0) && !MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
                return Err(WalError::BadMagic { path });
            }
            let mut header = Vec::with_capacity(FILE_HEADER_LEN as usize);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&WAL_VERSION.to_le_bytes());
            header.extend_from_slice(&0u32.to_le_bytes());
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(&header).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
            let wal = Wal {
                path,
                file,
                buf: Vec::new(),
                len: FILE_HEADER_LEN,
                last_index: 0,
            };
            let recovery = Recovery {
                state: DurableState::default(),
                records: 0,
                truncated_bytes: 0,
            };
            return Ok((wal, recovery));
        }
        if &bytes[..8] != MAGIC {
            return Err(WalError::BadMagic { path });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != WAL_VERSION {
            return Err(WalError::UnsupportedVersion {
                path,
                found: version,
            });
        }
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

fn encode_into<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    // Serializing plain data into a Vec cannot fail.
    bincode::serialize_into(buf, value).expect("bincode into a Vec");
}

/// Replay the records after the file header. Returns the state, the record
/// count and the end of the last valid record.
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
            break; // torn record header
        }
        let header = &rest[..RECORD_HEADER_LEN];
        let hcrc = u32::from_le_bytes(header[8..12].try_into().expect("4"));
        if crc32fast::hash(&header[0..8]) != hcrc {
            if rest.iter().all(|&b| b == 0) {
                break; // a zero-filled tail: the file grew but the data never landed
            }
            return Err(corrupt(pos, "record header checksum mismatch".into()));
        }
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4"));
        if len > MAX_RECORD_LEN {
            return Err(corrupt(pos, format!("record length {len} over the limit")));
        }
        if rest.len() - RECORD_HEADER_LEN < len {
            break; // torn payload: the write was cut short
        }
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
        let end = pos + RECORD_HEADER_LEN + len;
        if crc32fast::hash(payload) != crc {
            if end == bytes.len() {
                break; // the last record, partly written: torn
            }
            return Err(corrupt(
                pos,
                format!(
                    "payload checksum mismatch in a {len}-byte record followed by more records"
                ),
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
