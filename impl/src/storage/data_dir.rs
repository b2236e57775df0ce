//! The data directory around the WAL: its `LOCK`, and how a node tells a
//! directory it may initialise from one whose durable state is lost.
//!
//! # Rules
//!
//! * **One node at a time.** `LOCK` is held with `flock(LOCK_EX | LOCK_NB)`
//!   for as long as the [`Wal`](super::Wal) is open. The kernel releases it
//!   when the holder exits, however it exits (SIGKILL included), so a
//!   restarted node is never locked out. The holder writes its pid into
//!   `LOCK`, which a refused second process reports.
//! * **Never initialised** means: no `wal.log`, an empty (or no) `LOCK`, and
//!   nothing else but perhaps a `wal.log.tmp` left by a crash during
//!   creation (and `lost+found`). Only then does a fresh node (term 0, no
//!   vote) start; any other file there says it is not a raftkv directory.
//! * **Initialised** means `wal.log` exists, or `LOCK` holds a pid: the pid is
//!   written only once `wal.log` exists, so a `LOCK` with a pid beside a
//!   missing `wal.log` means the WAL was deleted. Such a directory, or one
//!   whose `wal.log` is empty or unreadable, is refused: a node that forgot
//!   its vote could vote twice in one term. Starting over is an explicit
//!   operator act ([`reset`], `raftkv reset-data`).
//! * **Atomic creation.** `wal.log` is born complete: its header goes to
//!   `wal.log.tmp`, which is fsynced, renamed to `wal.log`, and the directory
//!   fsynced. A crash at any point leaves either no `wal.log` (still never
//!   initialised) or one with its whole header, never a short one that would
//!   be refused forever.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{io_err, WalError, WAL_FILE};

/// The lock file's name inside a data directory.
pub const LOCK_FILE: &str = "LOCK";
/// Where a new `wal.log` is written before its atomic rename.
pub const WAL_TMP_FILE: &str = "wal.log.tmp";

/// An exclusive lock on a data directory, held until dropped (closing the
/// file releases the `flock`).
/// How long a held lock is retried before it is reported as held.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Debug)]
pub(super) struct DirLock {
    dir: PathBuf,
    file: File,
}

impl DirLock {
    /// Create `dir` if needed and lock it, or fail with
    /// [`WalError::Locked`] if another process (or another open in this
    /// one) holds it.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, WalError> {
        let existed = dir.exists();
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        if !existed {
            // Make the new directory's own entry durable, or a crash could
            // lose the whole directory after its WAL was acknowledged.
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            sync_dir(parent)?;
        }
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        // A lock just released can still look held for a moment: a child
        // this process forked keeps a copy of every fd (and so of the
        // lock's open file) until it execs, which closes them. So a held
        // lock is retried for a short while before it is reported.
        let deadline = std::time::Instant::now() + LOCK_RETRY;
        loop {
            // SAFETY: flock takes a plain fd and touches no memory; `file`
            // owns that fd and stays open across the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != ErrorKind::WouldBlock {
                return Err(WalError::Io { path, source: err });
            }
            if std::time::Instant::now() >= deadline {
                return Err(WalError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder_pid(&file),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(DirLock {
            dir: dir.to_path_buf(),
            file,
        })
    }

    /// A second fd on the lock's open file, as a forked child holds one.
    #[cfg(test)]
    pub(super) fn fd_copy(&self) -> File {
        self.file.try_clone().unwrap()
    }

    /// True if the directory was never initialised (see the module rules);
    /// `Ok(false)` if `wal.log` exists; an error if the state is lost.
    pub(super) fn is_uninitialised(&self) -> Result<bool, WalError> {
        let wal = self.dir.join(WAL_FILE);
        match std::fs::symlink_metadata(&wal) {
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(WalError::Io {
                    path: wal,
                    source: e,
                })
            }
        }
        let lock_len = self
            .file
            .metadata()
            .map_err(io_err(&self.dir.join(LOCK_FILE)))?
            .len();
        if lock_len > 0 {
            return Err(WalError::MissingWal {
                path: wal,
                holder: holder_pid(&self.file),
            });
        }
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let name = entry.map_err(io_err(&self.dir))?.file_name();
            // lost+found: the directory is the root of a new filesystem.
            if name != LOCK_FILE && name != WAL_TMP_FILE && name != "lost+found" {
                return Err(WalError::NotADataDir {
                    dir: self.dir.clone(),
                    entry: name.to_string_lossy().into_owned(),
                });
            }
        }
        Ok(true)
    }

    /// Record this process as the holder. Call only once `wal.log` exists:
    /// a pid here marks the directory initialised.
    pub(super) fn record_holder(&mut self) -> Result<(), WalError> {
        let path = self.dir.join(LOCK_FILE);
        let pid = format!("{}\n", std::process::id());
        // Overwrite, then cut: the file never passes through empty.
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(pid.as_bytes()))
            .and_then(|_| self.file.set_len(pid.len() as u64))
            .and_then(|_| self.file.sync_data())
            .map_err(io_err(&path))
    }
}

/// The pid a lock holder wrote into `LOCK`, if any.
fn holder_pid(file: &File) -> Option<u32> {
    let mut text = String::new();
    // A fresh handle on the same file: reading moves no offset of the
    // caller's.
    let mut f = file.try_clone().ok()?;
    f.seek(SeekFrom::Start(0)).ok()?;
    f.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Create `dir/wal.log` holding just `header`, atomically (see the module
/// rules).
pub(super) fn create_wal(dir: &Path, header: &[u8]) -> Result<(), WalError> {
    let tmp = dir.join(WAL_TMP_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(header)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp))?;
    drop(f);
    let wal = dir.join(WAL_FILE);
    std::fs::rename(&tmp, &wal).map_err(io_err(&wal))?;
    sync_dir(dir)
}

/// fsync a directory, making the entries created or renamed in it durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Discard a node's durable state so that it next starts as a fresh node:
/// removes `wal.log` (and a leftover `wal.log.tmp`) and clears `LOCK`.
/// Refused while a node holds the directory. Returns the files removed.
///
/// The node forgets its term, its vote and its log. It may then vote a
/// second time in a term it already voted in (two leaders in one term), and
/// entries that only it and a minority held may be overwritten although they
/// were acknowledged. Prefer restoring the directory from a backup.
pub fn reset(dir: &Path) -> Result<Vec<PathBuf>, WalError> {
    if !dir.is_dir() {
        return Err(WalError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(ErrorKind::NotFound, "no such data directory"),
        });
    }
    let lock = DirLock::acquire(dir)?;
    let mut removed = Vec::new();
    for name in [WAL_FILE, WAL_TMP_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(WalError::Io { path, source: e }),
        }
    }
    // Removal first: a crash before the LOCK is cleared leaves a directory
    // that is refused (and can be reset again), never a half-reset one that
    // starts.
    sync_dir(dir)?;
    let lock_path = dir.join(LOCK_FILE);
    lock.file
        .set_len(0)
        .and_then(|_| lock.file.sync_data())
        .map_err(io_err(&lock_path))?;
    Ok(removed)
}
