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

use crate::fingerprint::Fingerprint;

pub(crate) const SHARD_BITS: u32 = 6;
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
    slots: Slots,
    len: usize,
}

/// A shard's slots, in anonymous memory of their own that asks the kernel
/// for 2 MiB pages. Lookups land at random across hundreds of megabytes:
/// with 4 KiB pages nearly every one also misses the TLB, and the page
/// walk, not the cache miss, was the largest cost of the search.
struct Slots {
    map: memmap2::MmapMut,
    /// Where the slots start in `map`: the first 2 MiB boundary.
    offset: usize,
    len: usize,
}

const SLOT_BYTES: usize = std::mem::size_of::<[Fingerprint; 2]>();
const HUGE_PAGE: usize = 2 << 20;

impl Slots {
    /// `len` empty slots (fresh anonymous memory reads as zeros: EMPTY).
    fn new(len: usize) -> Slots {
        let bytes = len * SLOT_BYTES;
        // Room to start on a huge-page boundary, wherever the map lands.
        let slack = if bytes >= HUGE_PAGE { HUGE_PAGE } else { 0 };
        let map = memmap2::MmapOptions::new()
            .len(bytes + slack)
            .map_anon()
            .unwrap_or_else(|e| panic!("cannot map {bytes} bytes for the visited set: {e}"));
        let at = map.as_ptr() as usize;
        let offset = at.next_multiple_of(slack.max(1)) - at;
        if slack != 0 {
            advise_huge_pages(&map, offset, bytes);
        }
        Slots { map, offset, len }
    }

    fn as_slice(&self) -> &[[Fingerprint; 2]] {
        bytemuck::cast_slice(&self.map[self.offset..self.offset + self.len * SLOT_BYTES])
    }

    fn as_mut_slice(&mut self) -> &mut [[Fingerprint; 2]] {
        let range = self.offset..self.offset + self.len * SLOT_BYTES;
        bytemuck::cast_slice_mut(&mut self.map[range])
    }
}

impl Shard {
    fn new() -> Self {
        Shard {
            slots: Slots::new(INITIAL_SLOTS),
            len: 0,
        }
    }
}

impl SlotsHint {
    fn update(&self, shard: &Shard) {
        self.at
            .store(shard.slots.as_slice().as_ptr() as usize, Ordering::Relaxed);
        self.mask.store(shard.slots.len - 1, Ordering::Relaxed);
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
        let slots = shard.slots.len;
        let inserted = shard.insert_new(fp, parent);
        if shard.slots.len != slots {
            self.hints[Self::index(fp)].update(&shard);
        }
        inserted
    }

    /// Whether `fp` is known; if not, records it (reached from `parent`)
    /// while its shard holds fewer than `room` entries. A set used as a
    /// bounded cache (the disk-backed search's) never grows past `room`
    /// per shard.
    pub fn seen_or_insert_within(&self, fp: Fingerprint, parent: Fingerprint, room: usize) -> bool {
        debug_assert_ne!(fp, EMPTY);
        let mut shard = self.shard(fp);
        let i = shard.slot_of(fp);
        if shard.slots.as_slice()[i][0] == fp {
            return true;
        }
        if shard.len < room {
            let slots = shard.slots.len;
            shard.insert_new(fp, parent);
            if shard.slots.len != slots {
                self.hints[Self::index(fp)].update(&shard);
            }
        }
        false
    }

    /// Entries a shard holds, at most, with `bytes` for the whole set,
    /// without outgrowing them (a shard doubles past three quarters full).
    pub fn room_per_shard(bytes: u64) -> usize {
        let slots = ((bytes / SLOT_BYTES as u64) >> SHARD_BITS).max(INITIAL_SLOTS as u64);
        let slots = if slots.is_power_of_two() {
            slots
        } else {
            slots.next_power_of_two() / 2
        };
        (slots as usize * 3 / 4).max(1)
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
        let [key, parent] = shard.slots.as_slice()[slot];
        (key == fp).then_some(parent)
    }

    /// The bytes the set's slots will take once it holds `entries`: its
    /// present slots, or more when its shards must soon grow. Fingerprints
    /// spread evenly, so the shards fill (and double) almost together; a
    /// little headroom counts a doubling a moment before it happens. Reads
    /// only the prefetch hints, so it takes no lock.
    pub fn bytes_for(&self, entries: u64) -> u64 {
        let present: u64 = self
            .hints
            .iter()
            .map(|h| h.mask.load(Ordering::Relaxed) as u64 + 1)
            .sum();
        let shards = 1u64 << SHARD_BITS;
        // A shard grows past three quarters full; headroom of 1/16.
        let per_shard = (entries + entries / 16).div_ceil(shards);
        let needed = (per_shard * 4)
            .div_ceil(3)
            .next_power_of_two()
            .max(INITIAL_SLOTS as u64);
        present.max(needed * shards) * SLOT_BYTES as u64
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
        let slots = self.slots.as_slice();
        let mask = slots.len() - 1;
        // The low bits place a key; the top bits already chose the shard.
        let mut i = fp as usize & mask;
        loop {
            let key = slots[i][0];
            if key == fp || key == EMPTY {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert_new(&mut self, fp: Fingerprint, parent: Fingerprint) -> bool {
        // At most three quarters full, so probes stay short and end.
        if (self.len + 1) * 4 > self.slots.len * 3 {
            self.grow();
        }
        let i = self.slot_of(fp);
        let slots = self.slots.as_mut_slice();
        if slots[i][0] == fp {
            return false;
        }
        slots[i] = [fp, parent];
        self.len += 1;
        true
    }

    fn grow(&mut self) {
        let doubled = Slots::new(self.slots.len * 2);
        let old = std::mem::replace(&mut self.slots, doubled);
        for &[fp, parent] in old.as_slice().iter().filter(|s| s[0] != EMPTY) {
            let i = self.slot_of(fp);
            self.slots.as_mut_slice()[i] = [fp, parent];
        }
    }
}

/// Only advice: without huge pages (another OS, or a kernel without
/// transparent huge pages) the set is as correct, and slower.
#[cfg(target_os = "linux")]
fn advise_huge_pages(map: &memmap2::MmapMut, offset: usize, bytes: usize) {
    let _ = map.advise_range(memmap2::Advice::HugePage, offset, bytes);
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &memmap2::MmapMut, _: usize, _: usize) {}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_slot_arrays_start_empty_on_a_huge_page_boundary() {
        let mut slots = Slots::new(HUGE_PAGE / SLOT_BYTES * 2);
        assert_eq!(slots.as_slice().as_ptr() as usize % HUGE_PAGE, 0);
        assert!(slots.as_slice().iter().all(|s| *s == [EMPTY; 2]));
        let last = slots.len - 1;
        slots.as_mut_slice()[last] = [7, 8];
        assert_eq!(slots.as_slice()[last], [7, 8]);
        let small = Slots::new(INITIAL_SLOTS);
        assert_eq!(small.as_slice().len(), INITIAL_SLOTS);
    }

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

    #[test]
    fn a_cache_with_room_keeps_its_size() {
        let v = Visited::default();
        let room = Visited::room_per_shard(1 << 20);
        // 1 MiB is the initial size: 1,024 slots per shard, 768 entries.
        assert_eq!(room, INITIAL_SLOTS * 3 / 4);
        let keys: Vec<u64> = (1..=200_000u64)
            .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
            .collect();
        for k in &keys {
            assert!(!v.seen_or_insert_within(*k, 1, room));
        }
        assert_eq!(v.len(), room << SHARD_BITS);
        assert_eq!(v.bytes_for(0), 1 << 20);
        // What it kept it knows; what it had no room for it does not.
        let known = keys
            .iter()
            .filter(|k| v.seen_or_insert_within(**k, 1, room))
            .count();
        assert_eq!(known, room << SHARD_BITS);
    }

    #[test]
    fn bytes_for_counts_present_slots_and_a_coming_doubling() {
        let v = Visited::default();
        let initial = (INITIAL_SLOTS << SHARD_BITS) as u64 * SLOT_BYTES as u64;
        assert_eq!(v.bytes_for(0), initial);
        // Near three quarters full every shard is about to double.
        let near_full = (INITIAL_SLOTS << SHARD_BITS) as u64 * 3 / 4 - 100;
        assert_eq!(v.bytes_for(near_full), 2 * initial);
        // Grown slots are counted as they are (some shards have grown).
        for k in 1..=near_full + 200 {
            v.insert_new(k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, 1);
        }
        assert!(v.bytes_for(0) > initial);
    }
}
