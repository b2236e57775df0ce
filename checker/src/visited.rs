//! The engine's visited set: each reached state's fingerprint with the
//! fingerprint of the state it was first reached from.
//!
//! Open addressing with the key and its parent side by side in one 16-byte
//! slot, so a lookup costs one cache miss (a general hash map keeps control
//! bytes apart from entries: two). 64 shards, picked by a fingerprint's top
//! bits, each behind its own lock: threads rarely meet, and a shard that
//! grows stops only the threads that need it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::engine::Fingerprint;

const SHARD_BITS: u32 = 6;
/// Slots a shard starts with (a power of two).
const INITIAL_SLOTS: usize = 1 << 10;
/// The empty slot's key: fingerprints are never 0.
const EMPTY: Fingerprint = 0;

pub struct Visited {
    shards: Box<[Padded]>,
    /// Where each shard's slots are and their mask, as of its last growth,
    /// read without the lock only to prefetch: a stale value costs a wasted
    /// prefetch, never a wrong answer. Apart from the locks, whose lines
    /// every insert writes, so that reading these stays cheap.
    hints: Box<[SlotsHint]>,
}

/// One shard's lock on a cache line of its own: threads taking
/// neighbouring locks would otherwise pass the line back and forth.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

#[derive(Default)]
struct SlotsHint {
    at: AtomicUsize,
    mask: AtomicUsize,
}

struct Shard {
    /// `[fingerprint, parent]`; the length is a power of two.
    slots: Vec<[Fingerprint; 2]>,
    len: usize,
}

impl Shard {
    fn new() -> Self {
        Shard {
            slots: empty_slots(INITIAL_SLOTS),
            len: 0,
        }
    }
}

impl SlotsHint {
    fn update(&self, shard: &Shard) {
        self.at
            .store(shard.slots.as_ptr() as usize, Ordering::Relaxed);
        self.mask.store(shard.slots.len() - 1, Ordering::Relaxed);
    }
}

impl Default for Visited {
    fn default() -> Self {
        let shards: Box<[Padded]> = (0..1 << SHARD_BITS)
            .map(|_| Padded(Mutex::new(Shard::new())))
            .collect();
        let hints: Box<[SlotsHint]> = (0..1 << SHARD_BITS).map(|_| SlotsHint::default()).collect();
        for (shard, hint) in shards.iter().zip(hints.iter()) {
            hint.update(&shard.0.lock().expect("visited shard lock"));
        }
        Visited { shards, hints }
    }
}

impl Visited {
    fn index(fp: Fingerprint) -> usize {
        (fp >> (64 - SHARD_BITS)) as usize
    }

    fn shard(&self, fp: Fingerprint) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[Self::index(fp)]
            .0
            .lock()
            .expect("visited shard lock")
    }

    /// Records `fp`, reached from `parent`, unless it is already known.
    /// True if it was new. `fp` must not be 0.
    pub fn insert_new(&self, fp: Fingerprint, parent: Fingerprint) -> bool {
        debug_assert_ne!(fp, EMPTY);
        let mut shard = self.shard(fp);
        let slots = shard.slots.len();
        let inserted = shard.insert_new(fp, parent);
        if shard.slots.len() != slots {
            self.hints[Self::index(fp)].update(&shard);
        }
        inserted
    }

    /// Starts loading the slot where `fp` would be found, so that a batch
    /// of lookups waits for memory once rather than once each.
    pub fn prefetch(&self, fp: Fingerprint) {
        let hint = &self.hints[Self::index(fp)];
        let mask = hint.mask.load(Ordering::Relaxed);
        let at = hint.at.load(Ordering::Relaxed);
        let slot = at.wrapping_add((fp as usize & mask) * std::mem::size_of::<[Fingerprint; 2]>());
        prefetch_line(slot);
    }

    /// The parent `fp` was first reached from.
    pub fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        let shard = self.shard(fp);
        let slot = shard.slot_of(fp);
        (shard.slots[slot][0] == fp).then_some(shard.slots[slot][1])
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().expect("visited shard lock").len)
            .sum()
    }
}

impl Shard {
    /// The slot holding `fp`, or the empty slot where it would go.
    fn slot_of(&self, fp: Fingerprint) -> usize {
        let mask = self.slots.len() - 1;
        // The low bits place a key; the top bits already chose the shard.
        let mut i = fp as usize & mask;
        loop {
            let key = self.slots[i][0];
            if key == fp || key == EMPTY {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert_new(&mut self, fp: Fingerprint, parent: Fingerprint) -> bool {
        // At most three quarters full, so probes stay short and end.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let i = self.slot_of(fp);
        if self.slots[i][0] == fp {
            return false;
        }
        self.slots[i] = [fp, parent];
        self.len += 1;
        true
    }

    fn grow(&mut self) {
        let doubled = empty_slots(self.slots.len() * 2);
        let old = std::mem::replace(&mut self.slots, doubled);
        for [fp, parent] in old.into_iter().filter(|s| s[0] != EMPTY) {
            let i = self.slot_of(fp);
            self.slots[i] = [fp, parent];
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn prefetch_line(address: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch is a hint: it never faults and never reads memory
    // visible to the program, so any address, even a stale or unmapped
    // one, is sound.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(address as *const i8) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_line(_: usize) {}

fn empty_slots(n: usize) -> Vec<[Fingerprint; 2]> {
    vec![[EMPTY; 2]; n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_parent_and_grows() {
        let v = Visited::default();
        // Keys that share low bits and shards, to exercise probing.
        let keys: Vec<u64> = (1..=20_000u64)
            .map(|k| k.wrapping_mul(1 << 40) | k)
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(v.insert_new(*k, i as u64));
        }
        for (i, k) in keys.iter().enumerate() {
            assert!(!v.insert_new(*k, 99));
            assert_eq!(v.parent(*k), Some(i as u64));
        }
        assert_eq!(v.len(), keys.len());
        assert_eq!(v.parent(7), None);
    }
}
