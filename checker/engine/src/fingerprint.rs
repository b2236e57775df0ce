//! A state's identity: a 64-bit hash of its canonical form, used by the
//! search and the visited set alike.

use std::hash::Hash;

/// A state's identity: a 64-bit hash of its canonical form.
pub type Fingerprint = u64;

/// The parent of an initial state: [`fingerprint`] never returns it.
pub(crate) const NO_PARENT: Fingerprint = 0;

/// Fixed seeds, so a fingerprint is the same in every run and thread.
const FINGERPRINT_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Computes a fingerprint; never 0, which marks "no parent". aHash with
/// fixed seeds: it passes SMHasher, and unlike SipHash its cost does not
/// grow with the many one-byte writes a derived `Hash` of a Raft state makes.
pub fn fingerprint<T: Hash>(value: &T) -> Fingerprint {
    let [a, b, c, d] = FINGERPRINT_SEEDS;
    ahash::RandomState::with_seeds(a, b, c, d)
        .hash_one(value)
        .max(1)
}

/// [`fingerprint`] of an encoded state.
pub(crate) fn fingerprint_bytes(bytes: &[u8]) -> Fingerprint {
    fingerprint(&bytes)
}
