//! A linearizability checker for recorded client histories of a key-value
//! store whose keys are compare-and-set registers.
//!
//! Record each operation as it happens: [`History::invoke`] before the
//! request is sent, then [`History::ret`] with the answer,
//! [`History::cancel`] when it definitely did not take effect, or
//! [`History::unknown`] when it may or may not have (it then stays in flight
//! forever: it may take effect at any later point, or never). The order of
//! the recording calls is the real-time order, so record under one lock.
//!
//! [`History::check`] checks every key on its own (linearizability is
//! local, so that checks the whole store) by the Wing & Gong search with
//! memoization of (linearized set, register value), as in Lowe's and
//! Knossos' checkers. On failure it returns a small non-linearizable piece
//! of the history: the shortest failing prefix, then with every operation
//! dropped that is not needed for the failure.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Write(String),
    Read,
    Cas {
        expected: Option<String>,
        new: String,
    },
}

/// What the store answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    Written,
    Read(Option<String>),
    Cased(bool),
}

/// The sequential specification: one register, absent at first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct CasRegister(Option<String>);

impl CasRegister {
    fn invoke(&mut self, op: &Op) -> Ret {
        match op {
            Op::Write(v) => {
                self.0 = Some(v.clone());
                Ret::Written
            }
            Op::Read => Ret::Read(self.0.clone()),
            Op::Cas { expected, new } => {
                let ok = self.0 == *expected;
                if ok {
                    self.0 = Some(new.clone());
                }
                Ret::Cased(ok)
            }
        }
    }
}

/// Identifies a recorded operation.
pub type OpId = usize;

#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    InFlight,
    Returned(usize, Ret),
    Cancelled,
    Unknown,
}

#[derive(Clone, Debug)]
struct Recorded {
    client: u64,
    key: String,
    op: Op,
    invoke: usize,
    end: End,
}

/// A recorded history of operations on many keys.
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Recorded>,
    clock: usize,
}

/// What a successful check covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub keys: usize,
    pub ops: usize,
    pub completed: usize,
    /// Outcome unknown (in the check: may or may not have taken effect).
    pub unknown: usize,
    /// Definitely not applied (left out of the check).
    pub cancelled: usize,
    /// Search states visited, all keys together.
    pub states: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations on {} keys: {} completed, {} unknown outcome, {} not applied; {} search states",
            self.ops, self.keys, self.completed, self.unknown, self.cancelled, self.states
        )
    }
}

/// One operation of a failing history, for printing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub client: u64,
    pub invoke: usize,
    /// Return time and answer; `None`: outcome unknown.
    pub ret: Option<(usize, Ret)>,
    pub op: Op,
}

/// A key whose history has no linearization.
#[derive(Clone, Debug)]
pub struct NonLinearizable {
    pub key: String,
    /// Operations on the key in the whole history.
    pub ops_on_key: usize,
    /// A small piece of the history that is itself not linearizable.
    pub minimal: Vec<Call>,
    /// Operations recorded as "not applied" (left out of the check) whose
    /// written value the piece reads or expects: often the culprit.
    pub cancelled_but_observed: Vec<Call>,
}

impl fmt::Display for NonLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "key {:?}: the history of {} operations is not linearizable; a failing piece of it \
             ([invoked..returned] at logical times, `?` = outcome unknown):",
            self.key, self.ops_on_key
        )?;
        for c in &self.minimal {
            let (end, ret) = match &c.ret {
                Some((t, r)) => (t.to_string(), format!("{r:?}")),
                None => ("?".into(), "unknown".into()),
            };
            writeln!(
                f,
                "  [{:>6}..{:>6}] client {:>3}: {:?} -> {ret}",
                c.invoke, end, c.client, c.op
            )?;
        }
        if !self.cancelled_but_observed.is_empty() {
            writeln!(f, "recorded as not applied, yet their values are observed:")?;
            for c in &self.cancelled_but_observed {
                writeln!(
                    f,
                    "  [{:>6}..     -] client {:>3}: {:?}",
                    c.invoke, c.client, c.op
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for NonLinearizable {}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    fn tick(&mut self) -> usize {
        self.clock += 1;
        self.clock
    }

    /// `client` is about to send `op` on `key`.
    pub fn invoke(&mut self, client: u64, key: &str, op: Op) -> OpId {
        let invoke = self.tick();
        self.ops.push(Recorded {
            client,
            key: key.to_string(),
            op,
            invoke,
            end: End::InFlight,
        });
        self.ops.len() - 1
    }

    fn end(&mut self, id: OpId, end: End) {
        assert_eq!(
            self.ops[id].end,
            End::InFlight,
            "operation {id} ended twice"
        );
        self.ops[id].end = end;
    }

    /// The operation took effect and answered `ret`.
    pub fn ret(&mut self, id: OpId, ret: Ret) {
        let t = self.tick();
        self.end(id, End::Returned(t, ret));
    }

    /// The operation definitely did not take effect.
    pub fn cancel(&mut self, id: OpId) {
        self.end(id, End::Cancelled);
    }

    /// The operation may or may not take effect (at any time from now on).
    pub fn unknown(&mut self, id: OpId) {
        self.end(id, End::Unknown);
    }

    /// The calls on each key (still-in-flight ones count as unknown).
    fn calls_by_key(&self) -> BTreeMap<&str, Vec<Call>> {
        let mut by_key: BTreeMap<&str, Vec<Call>> = BTreeMap::new();
        for r in &self.ops {
            let ret = match &r.end {
                End::Cancelled => continue,
                End::Returned(t, ret) => Some((*t, ret.clone())),
                End::InFlight | End::Unknown => None,
            };
            // A read that may not have happened constrains nothing.
            if ret.is_none() && r.op == Op::Read {
                continue;
            }
            by_key.entry(&r.key).or_default().push(Call {
                client: r.client,
                invoke: r.invoke,
                ret,
                op: r.op.clone(),
            });
        }
        by_key
    }

    fn cancelled_observed_by(&self, key: &str, piece: &[Call]) -> Vec<Call> {
        self.ops
            .iter()
            .filter(|r| r.key == key && r.end == End::Cancelled)
            .map(|r| Call {
                client: r.client,
                invoke: r.invoke,
                ret: None,
                op: r.op.clone(),
            })
            .filter(|c| {
                let mut with = piece.to_vec();
                with.push(c.clone());
                observed(&with, with.len() - 1)
            })
            .collect()
    }

    /// Check every key; on failure, the first failing key with a small
    /// failing piece of its history.
    pub fn check(&self) -> Result<Stats, NonLinearizable> {
        let by_key = self.calls_by_key();
        let mut stats = Stats {
            keys: by_key.len(),
            ops: self.ops.len(),
            ..Stats::default()
        };
        for r in &self.ops {
            match r.end {
                End::Returned(..) => stats.completed += 1,
                End::Cancelled => stats.cancelled += 1,
                End::InFlight | End::Unknown => stats.unknown += 1,
            }
        }
        for (key, calls) in by_key {
            match search(&calls) {
                Search::Linearizable { states } => stats.states += states,
                Search::NotLinearizable => {
                    let minimal = minimize(calls.clone(), Duration::from_secs(20));
                    return Err(NonLinearizable {
                        key: key.to_string(),
                        ops_on_key: calls.len(),
                        cancelled_but_observed: self.cancelled_observed_by(key, &minimal),
                        minimal,
                    });
                }
            }
        }
        Ok(stats)
    }
}

enum Search {
    Linearizable { states: usize },
    NotLinearizable,
}

fn is_linearizable(calls: &[Call]) -> bool {
    matches!(search(calls), Search::Linearizable { .. })
}

/// Is there a total order of the completed calls (plus any subset of the
/// unknown-outcome ones) that respects real time and the register's
/// semantics? Depth-first, memoizing (linearized set, register value).
fn search(calls: &[Call]) -> Search {
    let n = calls.len();
    let words = n.div_ceil(64).max(1);
    let must = calls.iter().filter(|c| c.ret.is_some()).count();
    let mut seen: HashSet<(Vec<u64>, CasRegister)> = HashSet::new();
    // (linearized set, completed calls among them, register)
    let mut stack = vec![(vec![0u64; words], 0usize, CasRegister::default())];
    while let Some((done, completed, reg)) = stack.pop() {
        if completed == must {
            return Search::Linearizable { states: seen.len() };
        }
        if !seen.insert((done.clone(), reg.clone())) {
            continue;
        }
        let is_done = |i: usize| done[i / 64] >> (i % 64) & 1 == 1;
        // A call may go next only if it was invoked before every
        // not-yet-linearized completed call returned.
        let horizon = (0..n)
            .filter(|&i| !is_done(i))
            .filter_map(|i| calls[i].ret.as_ref().map(|(t, _)| *t))
            .min()
            .unwrap_or(usize::MAX);
        // Pushed in reverse, so the earliest-invoked candidate is tried first.
        for i in (0..n)
            .rev()
            .filter(|&i| !is_done(i) && calls[i].invoke < horizon)
        {
            let mut next = reg.clone();
            let got = next.invoke(&calls[i].op);
            let completed = match &calls[i].ret {
                Some((_, want)) if *want != got => continue,
                Some(_) => completed + 1,
                None => completed,
            };
            let mut d = done.clone();
            d[i / 64] |= 1 << (i % 64);
            stack.push((d, completed, next));
        }
    }
    Search::NotLinearizable
}

/// The history as it looked at time `t`: calls invoked before it, and
/// those that returned after it still in flight (outcome unknown).
fn prefix(calls: &[Call], t: usize) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.invoke < t)
        .map(|c| Call {
            ret: c.ret.clone().filter(|(r, _)| *r < t),
            ..c.clone()
        })
        .collect()
}

/// A small non-linearizable piece of a non-linearizable history: the
/// shortest failing prefix (linearizability is prefix-closed, so a binary
/// search finds it), then without every run of calls whose removal keeps
/// it failing (runs halving in length, as in delta debugging; within
/// `budget`). A write whose value a remaining call reads or expects stays,
/// so the piece does not fail merely because a write was cut out.
fn minimize(calls: Vec<Call>, budget: Duration) -> Vec<Call> {
    let start = Instant::now();
    let end = calls
        .iter()
        .map(|c| c.ret.as_ref().map_or(c.invoke, |(t, _)| *t))
        .max()
        .unwrap_or(0)
        + 1;
    let (mut lo, mut hi) = (0, end); // prefix(lo) passes, prefix(hi) fails
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if is_linearizable(&prefix(&calls, mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut piece = prefix(&calls, hi);
    let mut run = piece.len().div_ceil(2).max(1);
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < piece.len() && start.elapsed() < budget {
            let cut: Vec<usize> = (i..(i + run).min(piece.len()))
                .filter(|&j| !observed(&piece, j))
                .collect();
            let without: Vec<Call> = (0..piece.len())
                .filter(|j| !cut.contains(j))
                .map(|j| piece[j].clone())
                .collect();
            if !cut.is_empty() && !is_linearizable(&without) {
                piece = without;
                changed = true;
            } else {
                i += run;
            }
        }
        if start.elapsed() >= budget || (run == 1 && !changed) {
            return piece;
        }
        if !changed {
            run = run.div_ceil(2);
        }
    }
}

/// Does another call of `piece` read or expect the value call `j` writes?
fn observed(piece: &[Call], j: usize) -> bool {
    let written = match &piece[j].op {
        Op::Write(v) | Op::Cas { new: v, .. } => v,
        Op::Read => return false,
    };
    piece.iter().enumerate().any(|(k, c)| {
        k != j
            && (matches!(&c.ret, Some((_, Ret::Read(Some(v))))  if v == written)
                || matches!(&c.op, Op::Cas { expected: Some(v), .. } if v == written))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &str) -> Op {
        Op::Write(v.into())
    }
    fn read(v: Option<&str>) -> Ret {
        Ret::Read(v.map(Into::into))
    }
    fn cas(expected: Option<&str>, new: &str) -> Op {
        Op::Cas {
            expected: expected.map(Into::into),
            new: new.into(),
        }
    }

    /// Sequential operations by one client each.
    fn sequential(ops: &[(Op, Ret)]) -> History {
        let mut h = History::new();
        for (op, ret) in ops {
            let id = h.invoke(1, "k", op.clone());
            h.ret(id, ret.clone());
        }
        h
    }

    #[test]
    fn a_concurrent_linearizable_history_passes() {
        let mut h = History::new();
        let a = h.invoke(1, "k", w("a"));
        let b = h.invoke(2, "k", w("b"));
        let r1 = h.invoke(3, "k", Op::Read);
        h.ret(r1, read(Some("b"))); // b went first...
        h.ret(b, Ret::Written);
        h.ret(a, Ret::Written); // ...then a
        let r2 = h.invoke(3, "k", Op::Read);
        h.ret(r2, read(Some("a")));
        let c = h.invoke(1, "k", cas(Some("a"), "c"));
        h.ret(c, Ret::Cased(true));
        let other = h.invoke(2, "other", Op::Read);
        h.ret(other, read(None));
        let stats = h.check().expect("linearizable");
        assert_eq!((stats.keys, stats.ops, stats.completed), (2, 6, 6));
    }

    #[test]
    fn a_read_of_a_value_never_written_fails() {
        let h = sequential(&[(w("a"), Ret::Written), (Op::Read, read(Some("z")))]);
        let err = h.check().unwrap_err();
        assert_eq!(err.key, "k");
    }

    #[test]
    fn a_stale_read_after_a_completed_write_fails() {
        let h = sequential(&[
            (w("a"), Ret::Written),
            (w("b"), Ret::Written),
            (Op::Read, read(Some("a"))),
        ]);
        assert!(h.check().is_err());
        // The same read overlapping the second write is fine.
        let mut h = History::new();
        let a = h.invoke(1, "k", w("a"));
        h.ret(a, Ret::Written);
        let b = h.invoke(1, "k", w("b"));
        let r = h.invoke(2, "k", Op::Read);
        h.ret(r, read(Some("a")));
        h.ret(b, Ret::Written);
        assert!(h.check().is_ok());
    }

    #[test]
    fn a_cas_cannot_succeed_twice_on_the_same_expected_value() {
        let h = sequential(&[
            (w("a"), Ret::Written),
            (cas(Some("a"), "b"), Ret::Cased(true)),
            (cas(Some("a"), "c"), Ret::Cased(true)),
        ]);
        assert!(h.check().is_err());
        // Nor fail when the value is the expected one.
        let h = sequential(&[
            (w("a"), Ret::Written),
            (cas(Some("a"), "b"), Ret::Cased(false)),
        ]);
        assert!(h.check().is_err());
    }

    #[test]
    fn an_unknown_write_may_or_may_not_take_effect_but_not_both() {
        for seen in [Some("x"), None] {
            let mut h = History::new();
            let x = h.invoke(1, "k", w("x"));
            h.unknown(x);
            let r = h.invoke(2, "k", Op::Read);
            h.ret(r, read(seen));
            assert!(h.check().is_ok(), "reading {seen:?} is fine");
        }
        // It can also take effect long after the client gave up.
        let mut h = History::new();
        let x = h.invoke(1, "k", w("x"));
        h.unknown(x);
        let r = h.invoke(2, "k", Op::Read);
        h.ret(r, read(None));
        let r = h.invoke(2, "k", Op::Read);
        h.ret(r, read(Some("x")));
        assert!(h.check().is_ok());
        // Once seen, it cannot be unseen.
        let r = h.invoke(2, "k", Op::Read);
        h.ret(r, read(None));
        assert!(h.check().is_err());
    }

    #[test]
    fn a_cancelled_write_must_not_take_effect() {
        let mut h = History::new();
        let x = h.invoke(1, "k", w("x"));
        h.cancel(x);
        let r = h.invoke(2, "k", Op::Read);
        h.ret(r, read(Some("x")));
        let err = h.check().unwrap_err();
        assert_eq!(err.minimal.len(), 1, "{err}");
        assert_eq!(err.cancelled_but_observed.len(), 1, "{err}");
        assert!(err.to_string().contains("not applied, yet"), "{err}");
    }

    #[test]
    fn a_failure_is_reported_as_a_small_piece_of_the_history() {
        let mut ops = Vec::new();
        for i in 0..500 {
            ops.push((w(&format!("v{i}")), Ret::Written));
            ops.push((Op::Read, read(Some(&format!("v{i}")))));
        }
        ops.push((Op::Read, read(Some("v3")))); // stale
        let h = sequential(&ops);
        let err = h.check().unwrap_err();
        assert_eq!(err.ops_on_key, 1001);
        // v3 written, another value written, then the stale read.
        assert_eq!(err.minimal.len(), 3, "{err}");
        assert_eq!(err.minimal[0].op, w("v3"));
        assert!(matches!(&err.minimal[1].op, Op::Write(v) if v != "v3"));
        assert_eq!(err.minimal[2].ret, Some((2002, read(Some("v3")))));
        assert!(err.to_string().contains("Write(\"v3\")"), "{err}");
    }
}
