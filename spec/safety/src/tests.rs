use super::*;

/// A toy server: entries are (term, value).
#[derive(Clone, Default)]
struct S {
    id: u8,
    term: u64,
    leader: bool,
    commit: u64,
    log: Vec<(u64, u8)>,
    progress: Vec<(u8, u64, u64)>,
}

impl ServerView for S {
    type Id = u8;
    type Entry = (u64, u8);
    fn id(&self) -> u8 {
        self.id
    }
    fn term(&self) -> u64 {
        self.term
    }
    fn is_leader(&self) -> bool {
        self.leader
    }
    fn commit_index(&self) -> u64 {
        self.commit
    }
    fn log(&self) -> &[(u64, u8)] {
        &self.log
    }
    fn entry_term(e: &(u64, u8)) -> u64 {
        e.0
    }
    fn progress(&self) -> impl Iterator<Item = (u8, u64, u64)> {
        self.progress.iter().copied()
    }
}

#[derive(Default)]
struct H {
    leaders: Vec<(u64, Vec<u8>)>,
    committed: Vec<(u64, (u64, u8), u64)>,
}

impl History for H {
    type Id = u8;
    type Entry = (u64, u8);
    fn leaders(&self) -> impl Iterator<Item = (u64, impl Iterator<Item = u8>)> {
        self.leaders
            .iter()
            .map(|(t, ids)| (*t, ids.iter().copied()))
    }
    fn committed_at(&self, index: u64) -> Option<(&(u64, u8), u64)> {
        self.committed
            .iter()
            .find(|c| c.0 == index)
            .map(|c| (&c.1, c.2))
    }
    fn committed(&self) -> impl Iterator<Item = (u64, &(u64, u8), u64)> {
        self.committed.iter().map(|c| (c.0, &c.1, c.2))
    }
    fn add_leader(&mut self, term: u64, id: u8) {
        match self.leaders.iter_mut().find(|(t, _)| *t == term) {
            Some((_, ids)) if ids.contains(&id) => {}
            Some((_, ids)) => ids.push(id),
            None => self.leaders.push((term, vec![id])),
        }
    }
    fn add_committed(&mut self, index: u64, entry: &(u64, u8), in_term: u64) -> bool {
        self.committed.push((index, *entry, in_term));
        true
    }
}

fn leader(id: u8, term: u64, log: &[(u64, u8)]) -> S {
    S {
        id,
        term,
        leader: true,
        log: log.to_vec(),
        ..S::default()
    }
}

#[test]
fn election_safety_reports_the_second_leader_of_a_term() {
    let mut h = H::default();
    record(&mut h, &leader(1, 2, &[]), 1);
    record(&mut h, &leader(1, 2, &[]), 1);
    record(&mut h, &leader(2, 3, &[]), 1);
    assert_eq!(election_safety(&h), Ok(()));
    record(&mut h, &leader(3, 2, &[]), 1);
    assert_eq!(
        election_safety(&h),
        Err(Breach::ElectionSafety {
            term: 2,
            first: 1,
            second: 3
        })
    );
}

#[test]
fn leader_append_only_allows_appends_within_a_term_only() {
    let old = leader(1, 2, &[(1, 1), (2, 2)]);
    assert_eq!(
        leader_append_only(&old, &leader(1, 2, &[(1, 1), (2, 2), (2, 3)])),
        Ok(())
    );
    // A new term (or a follower) may have any log.
    assert_eq!(leader_append_only(&old, &leader(1, 3, &[(1, 1)])), Ok(()));
    let err = |index| {
        Err(Breach::LeaderAppendOnly {
            node: 1,
            term: 2,
            index,
        })
    };
    assert_eq!(
        leader_append_only(&old, &leader(1, 2, &[(1, 1), (2, 9)])),
        err(2)
    );
    assert_eq!(leader_append_only(&old, &leader(1, 2, &[(1, 1)])), err(2));
}

#[test]
fn log_matching_compares_the_prefix_up_to_the_last_shared_term() {
    let a = leader(1, 2, &[(1, 1), (2, 2)]);
    // Different terms at every shared index: nothing to match.
    assert_eq!(log_matching(&a, &leader(2, 3, &[(3, 1)])), Ok(()));
    // Agree at index 1, differ after: fine.
    assert_eq!(log_matching(&a, &leader(2, 3, &[(1, 1), (3, 7)])), Ok(()));
    // Same term at index 2, different entry at 1.
    assert_eq!(
        log_matching(&a, &leader(2, 3, &[(1, 5), (2, 2)])),
        Err(Breach::LogMatching {
            a: 1,
            b: 2,
            index: 2,
            term: 2
        })
    );
}

#[test]
fn leader_completeness_needs_entries_committed_in_earlier_terms() {
    let mut h = H::default();
    let follower = S {
        id: 2,
        term: 2,
        commit: 1,
        log: vec![(2, 4)],
        ..S::default()
    };
    record(&mut h, &follower, 1);
    assert_eq!(h.committed_at(1), Some((&(2, 4), 2)));
    // A leader of the same term is not bound by it; one of a later term is.
    assert_eq!(leader_completeness(&leader(1, 2, &[]), &h), Ok(()));
    assert_eq!(leader_completeness(&leader(1, 3, &[(2, 4)]), &h), Ok(()));
    assert_eq!(
        leader_completeness(&leader(1, 3, &[(2, 5)]), &h),
        Err(Breach::LeaderCompleteness {
            node: 1,
            term: 3,
            index: 1,
            entry_term: 2,
            committed_in: 2
        })
    );
    // A follower lacking it is not a leader: nothing to check.
    assert_eq!(leader_completeness(&S::default(), &h), Ok(()));
}

#[test]
fn leader_completeness_through_own_term_binds_the_committing_term_too() {
    let mut h = H::default();
    let follower = S {
        id: 2,
        term: 2,
        commit: 1,
        log: vec![(2, 4)],
        ..S::default()
    };
    record(&mut h, &follower, 1);
    let lacking = leader(1, 2, &[]);
    assert_eq!(leader_completeness(&lacking, &h), Ok(()));
    assert_eq!(
        leader_completeness_through_own_term(&lacking, &h),
        Err(Breach::LeaderCompleteness {
            node: 1,
            term: 2,
            index: 1,
            entry_term: 2,
            committed_in: 2
        })
    );
    let holding = leader(1, 2, &[(2, 4)]);
    assert_eq!(leader_completeness_through_own_term(&holding, &h), Ok(()));
}

#[test]
fn entries_seen_hold_a_log_to_entries_no_current_log_has() {
    let mut seen = EntriesSeen::default();
    assert_eq!(seen.log_matching(&leader(1, 1, &[(1, 1), (1, 2)])), Ok(()));
    // The same entries, and a log that diverges at a new term: fine.
    assert_eq!(seen.log_matching(&leader(2, 2, &[(1, 1), (2, 9)])), Ok(()));
    let err = |index, term| {
        Err(Breach::LogMatching {
            a: 1,
            b: 3,
            index,
            term,
        })
    };
    // Another payload at 2@1, though server 1's log is not compared.
    assert_eq!(
        seen.log_matching(&leader(3, 2, &[(1, 1), (1, 7)])),
        err(2, 1)
    );
    // 2@1 after a different predecessor term (0, as if 1@1 were 1@0).
    assert_eq!(
        seen.log_matching(&leader(3, 2, &[(0, 1), (1, 2)])),
        err(2, 1)
    );
}

#[test]
fn state_machine_safety_compares_with_the_first_commit() {
    let mut h = H::default();
    let a = S {
        id: 1,
        term: 1,
        commit: 1,
        log: vec![(1, 1)],
        ..S::default()
    };
    record(&mut h, &a, 1);
    let b = S {
        id: 2,
        log: vec![(1, 2)],
        ..a.clone()
    };
    // Recording b does not replace a's entry, and b breaks the property.
    record(&mut h, &b, 1);
    assert_eq!(state_machine_safety(&a, &h), Ok(()));
    assert_eq!(
        state_machine_safety(&b, &h),
        Err(Breach::StateMachineSafety {
            node: 2,
            index: 1,
            has: Some(1),
            first: Some(1)
        })
    );
}

#[test]
fn indices_in_range_checks_commit_and_progress() {
    let ok = S {
        commit: 1,
        log: vec![(1, 1)],
        progress: vec![(2, 2, 1), (3, 1, 0)],
        leader: true,
        ..S::default()
    };
    assert_eq!(indices_in_range(&ok), Ok(()));
    let bad = |s: S, needle: &str| {
        let e = indices_in_range(&s).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    };
    bad(
        S {
            commit: 2,
            ..ok.clone()
        },
        "commit index 2 beyond last log index 1",
    );
    bad(
        S {
            progress: vec![(2, 0, 0)],
            ..ok.clone()
        },
        "nextIndex 0 is below 1",
    );
    bad(
        S {
            progress: vec![(2, 3, 0)],
            ..ok.clone()
        },
        "past lastIndex + 1",
    );
    bad(
        S {
            progress: vec![(2, 2, 2)],
            ..ok.clone()
        },
        "matchIndex is not below nextIndex",
    );
}
