use super::*;
use bytes::Bytes;
use raft_core::{Entry, EntryKind};

fn entry(index: u64, term: u64, payload: &str) -> Entry {
    Entry {
        index,
        term,
        kind: EntryKind::Normal(Bytes::from(payload.to_string())),
    }
}

/// A realistic sequence: vote, appends, a conflicting suffix replaced.
fn writes() -> Vec<Vec<DurableWrite>> {
    vec![
        vec![DurableWrite::HardState {
            term: 1,
            voted_for: Some(2),
        }],
        vec![DurableWrite::Append {
            entries: vec![
                Entry {
                    index: 1,
                    term: 1,
                    kind: EntryKind::Noop,
                },
                entry(2, 1, "a"),
            ],
        }],
        vec![DurableWrite::Append {
            entries: vec![entry(3, 1, "b"), entry(4, 1, "c")],
        }],
        vec![
            DurableWrite::HardState {
                term: 2,
                voted_for: None,
            },
            DurableWrite::TruncateFrom { index: 3 },
            DurableWrite::Append {
                entries: vec![entry(3, 2, "x")],
            },
        ],
        vec![DurableWrite::Append {
            entries: vec![entry(4, 2, "y")],
        }],
    ]
}

fn expected(batches: &[Vec<DurableWrite>]) -> DurableState {
    let mut s = DurableState::default();
    for w in batches.iter().flatten() {
        s.apply(w);
    }
    s
}

/// Write each batch with one sync; return the file offsets where each
/// record starts (plus the end).
fn write_all(dir: &Path, batches: &[Vec<DurableWrite>]) -> Vec<u64> {
    let (mut wal, rec) = Wal::open(dir).unwrap();
    assert_eq!(rec.records, 0);
    let mut offsets = vec![wal.len()];
    for batch in batches {
        for w in batch {
            wal.append(std::slice::from_ref(w)).unwrap();
            wal.sync().unwrap();
            offsets.push(wal.len());
        }
    }
    offsets
}

#[test]
fn round_trip_and_appends_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let batches = writes();
    {
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        for b in &batches[..3] {
            wal.append(b).unwrap();
        }
        wal.sync().unwrap(); // group commit: three batches, one fsync
    }
    {
        let (mut wal, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(rec.state, expected(&batches[..3]));
        assert_eq!(rec.truncated_bytes, 0);
        for b in &batches[3..] {
            wal.append(b).unwrap();
        }
        wal.sync().unwrap();
    }
    let (_, rec) = Wal::open(dir.path()).unwrap();
    assert_eq!(rec.state, expected(&batches));
    assert_eq!(rec.records, 7);
    assert_eq!(rec.state.log.len(), 4);
    assert_eq!(rec.state.term, 2);
}

#[test]
fn unsynced_appends_are_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&writes()[0]).unwrap();
        wal.sync().unwrap();
        wal.append(&writes()[1]).unwrap();
        assert!(wal.has_pending());
        // dropped without sync, like a crash before fsync
    }
    let (_, rec) = Wal::open(dir.path()).unwrap();
    assert_eq!(rec.state, expected(&writes()[..1]));
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_is_truncated() {
    let batches = writes();
    let src = tempfile::tempdir().unwrap();
    let offsets = write_all(src.path(), &batches);
    let full = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    let last_start = offsets[offsets.len() - 2] as usize;
    let all_but_last = {
        let mut s = DurableState::default();
        let flat: Vec<_> = batches.iter().flatten().collect();
        for w in &flat[..flat.len() - 1] {
            s.apply(w);
        }
        s
    };
    for cut in last_start..full.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(WAL_FILE), &full[..cut]).unwrap();
        let (mut wal, rec) = Wal::open(dir.path()).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        assert_eq!(rec.state, all_but_last, "cut at {cut}");
        assert_eq!(rec.truncated_bytes, (cut - last_start) as u64);
        // The log is usable again: re-append the lost record.
        wal.append(batches.last().unwrap()).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(rec.state, expected(&batches), "cut at {cut}");
    }
    // A zero-filled tail (file extended, data lost) is also a torn tail.
    let dir = tempfile::tempdir().unwrap();
    let mut zeroed = full.clone();
    zeroed.extend_from_slice(&[0u8; 100]);
    std::fs::write(dir.path().join(WAL_FILE), &zeroed).unwrap();
    let (_, rec) = Wal::open(dir.path()).unwrap();
    assert_eq!(rec.state, expected(&batches));
    assert_eq!(rec.truncated_bytes, 100);
}

#[test]
fn a_flipped_byte_in_any_record_is_refused_with_file_and_offset() {
    let batches = writes();
    let src = tempfile::tempdir().unwrap();
    let offsets = write_all(src.path(), &batches);
    let full = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    // Every byte of every record, the last one included: a complete record
    // whose checksum fails was not cut by a crash and may be acknowledged.
    for pos in FILE_HEADER_LEN as usize..full.len() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = full.clone();
        bad[pos] ^= 0x40;
        let path = dir.path().join(WAL_FILE);
        std::fs::write(&path, &bad).unwrap();
        let err = Wal::open(dir.path()).expect_err(&format!("flip at {pos} accepted"));
        let record_start = *offsets.iter().rfind(|&&o| o as usize <= pos).unwrap();
        match &err {
            WalError::Corrupt {
                path: p, offset, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(*offset, record_start, "flip at {pos}");
            }
            other => panic!("flip at {pos}: unexpected {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("byte offset {record_start}")),
            "{msg}"
        );
        // The file is left untouched for the operator.
        assert_eq!(std::fs::read(&path).unwrap(), bad);
    }
}

#[test]
fn a_flipped_payload_byte_in_the_last_record_is_corruption_not_a_torn_tail() {
    let batches = writes();
    let src = tempfile::tempdir().unwrap();
    let offsets = write_all(src.path(), &batches);
    let mut bytes = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    let last_start = offsets[offsets.len() - 2];
    // The last payload byte: bincode data of the final entry.
    let n = bytes.len();
    bytes[n - 1] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(WAL_FILE);
    std::fs::write(&path, &bytes).unwrap();
    let msg = Wal::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("byte offset {last_start}")), "{msg}");
    assert!(msg.contains("the last record"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing truncated");
}

/// A filesystem may extend the file before the data lands: a crash in the
/// last, never-synced write can leave it full length with a sector of
/// zeros. That is a torn tail, not corruption (a flip of one byte, as in
/// the test above, zeroes no sector).
#[test]
fn a_last_record_with_a_zeroed_sector_is_a_torn_tail() {
    let mut batches = writes();
    let big = "v".repeat(3000);
    batches.push(vec![DurableWrite::Append {
        entries: vec![entry(5, 2, &big)],
    }]);
    let src = tempfile::tempdir().unwrap();
    let offsets = write_all(src.path(), &batches);
    let mut bytes = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    let last_start = offsets[offsets.len() - 2] as usize;
    let sector = last_start.div_ceil(512) * 512 + 512;
    assert!(
        sector + 512 <= bytes.len(),
        "the last record spans whole sectors"
    );
    bytes[sector..sector + 512].fill(0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(WAL_FILE), &bytes).unwrap();
    let (_, rec) = Wal::open(dir.path()).unwrap();
    assert_eq!(rec.state, expected(&batches[..batches.len() - 1]));
    assert_eq!(rec.truncated_bytes, (bytes.len() - last_start) as u64);

    // The same zeroed sector in a record that is not the last: corruption.
    let mut middle = bytes.clone();
    middle.extend_from_slice(&std::fs::read(src.path().join(WAL_FILE)).unwrap()[last_start..]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(WAL_FILE), &middle).unwrap();
    let msg = Wal::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains(&format!("byte offset {last_start}")), "{msg}");
}

#[test]
fn bad_magic_and_future_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(WAL_FILE), b"not a wal at all, clearly").unwrap();
    assert!(matches!(
        Wal::open(dir.path()),
        Err(WalError::BadMagic { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&9u32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    std::fs::write(dir.path().join(WAL_FILE), &header).unwrap();
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}

#[test]
fn nothing_acknowledged_is_lost_across_many_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = DurableState::default();
    let mut index = 0;
    for round in 0..20u64 {
        let (mut wal, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(rec.state, acked, "round {round}");
        let hs = DurableWrite::HardState {
            term: round + 1,
            voted_for: Some(round % 3),
        };
        let entries: Vec<_> = (0..5)
            .map(|i| entry(index + i + 1, round + 1, &format!("r{round}e{i}")))
            .collect();
        index += 5;
        let ws = [hs, DurableWrite::Append { entries }];
        wal.append(&ws).unwrap();
        wal.sync().unwrap();
        for w in &ws {
            acked.apply(w);
        }
        // an unacknowledged write left half-done
        wal.append(&[DurableWrite::Append {
            entries: vec![entry(index + 1, round + 1, "lost")],
        }])
        .unwrap();
    }
}

#[test]
fn reserved_header_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &writes());
    let path = dir.path().join(WAL_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12..16].copy_from_slice(&4u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, WalError::ReservedFlags { path: p, flags: 4 } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x00000004"), "{err}");
}

/// Wiped or cut to less than its header: lost state, never a fresh node.
#[test]
fn an_empty_or_header_cut_wal_is_refused_naming_the_file() {
    for len in [0, 1, 8, FILE_HEADER_LEN as usize - 1] {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &writes());
        let path = dir.path().join(WAL_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = Wal::open(dir.path()).expect_err(&format!("{len}-byte WAL accepted"));
        assert!(
            matches!(&err, WalError::TruncatedHeader { path: p, len: l } if p == &path && *l == len as u64),
            "{len}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("reset-data"), "{msg}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &bytes[..len],
            "left as found"
        );
    }
}

#[test]
fn a_deleted_wal_in_an_initialised_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &writes());
    std::fs::remove_file(dir.path().join(WAL_FILE)).unwrap();
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, WalError::MissingWal { holder: Some(pid), .. } if *pid == std::process::id()),
        "{err:?}"
    );
    assert!(!dir.path().join(WAL_FILE).exists(), "no WAL created");
}

#[test]
fn a_new_node_starts_on_an_absent_or_empty_dir_and_refuses_a_foreign_one() {
    let (absent, empty) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A new filesystem's root counts as empty.
    std::fs::create_dir(empty.path().join("lost+found")).unwrap();
    for dir in [
        absent.path().join("absent/nested"),
        empty.path().to_path_buf(),
    ] {
        let (wal, rec) = Wal::open(&dir).unwrap();
        assert_eq!(rec.state, DurableState::default());
        assert!(wal.is_empty());
        // Created complete: its header is there, the temporary file is not.
        assert_eq!(
            std::fs::metadata(wal.path()).unwrap().len(),
            FILE_HEADER_LEN
        );
        assert!(!dir.join(WAL_TMP_FILE).exists());
    }
    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("notes.txt"), "mine").unwrap();
    let err = Wal::open(foreign.path()).unwrap_err();
    assert!(
        matches!(&err, WalError::NotADataDir { entry, .. } if entry == "notes.txt"),
        "{err:?}"
    );
    assert!(!foreign.path().join(WAL_FILE).exists());
}

/// Every state a crash can leave while the first WAL is being created (see
/// `data_dir::create_wal`): each starts a fresh node, none is refused.
#[test]
fn a_crash_while_creating_the_first_wal_leaves_a_startable_dir() {
    let header = file_header();
    let leftovers: Vec<Option<&[u8]>> = vec![
        None,               // LOCK created, nothing else
        Some(&[]),          // wal.log.tmp created, empty
        Some(&header[..5]), // header half written
        Some(&header[..]),  // header written, not yet renamed
    ];
    for tmp in leftovers {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "").unwrap();
        if let Some(bytes) = tmp {
            std::fs::write(dir.path().join(WAL_TMP_FILE), bytes).unwrap();
        }
        let (mut wal, rec) = Wal::open(dir.path()).unwrap_or_else(|e| panic!("{tmp:?}: {e}"));
        assert_eq!(rec.state, DurableState::default());
        assert!(!dir.path().join(WAL_TMP_FILE).exists());
        wal.append(&writes()[0]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(rec.state, expected(&writes()[..1]));
    }
}

#[test]
fn a_locked_dir_is_refused_with_the_holder_pid_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = Wal::open(dir.path()).unwrap();
    // flock conflicts between two opens even within one process.
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, WalError::Locked { dir: d, holder: Some(pid) } if d == dir.path() && *pid == std::process::id()),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(matches!(reset(dir.path()), Err(WalError::Locked { .. })));
    drop(first);
    Wal::open(dir.path()).unwrap();
}

#[test]
fn reset_starts_a_refused_dir_over_as_a_fresh_node() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &writes());
    let path = dir.path().join(WAL_FILE);
    std::fs::write(&path, b"").unwrap();
    assert!(Wal::open(dir.path()).is_err());
    assert_eq!(reset(dir.path()).unwrap(), vec![path.clone()]);
    let (_, rec) = Wal::open(dir.path()).unwrap();
    assert_eq!(rec.state, DurableState::default());
    // A missing directory is an error, not silently created.
    let err = reset(&dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("no such data directory"), "{err}");
}

/// A lock released while a copy of its fd lives on for a moment (a child
/// forked by another thread, between fork and exec) is taken once the copy
/// goes, not reported as held. The copy here is a dup of the lock file's fd
/// (the same open file, as a forked child's is), closed 50 ms after the WAL.
/// Without the retry the second open fails at once with `Locked`.
#[test]
fn a_lock_held_briefly_by_a_copy_of_its_fd_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = Wal::open(dir.path()).unwrap();
    let copy = first._lock.fd_copy();
    drop(first);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(copy);
    });
    Wal::open(dir.path()).expect("the lock, once the copy is closed");
    releaser.join().unwrap();
}
