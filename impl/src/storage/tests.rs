use super::*;
use crate::core::{Entry, EntryKind};
use bytes::Bytes;

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
fn a_flipped_byte_mid_log_is_refused_with_file_and_offset() {
    let batches = writes();
    let src = tempfile::tempdir().unwrap();
    let offsets = write_all(src.path(), &batches);
    let full = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    let last_start = offsets[offsets.len() - 2] as usize;
    // Every byte of every record but the last (whose damage is
    // indistinguishable from a torn write).
    for pos in FILE_HEADER_LEN as usize..last_start {
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
