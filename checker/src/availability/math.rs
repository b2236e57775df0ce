//! The closed forms behind `raftcheck availability`.
//!
//! Model: `n` servers fail and recover independently; each is up a fraction
//! `a` of the time (its *availability*) and down a fraction `u = 1 − a`. The
//! number of servers up at a random instant is then `K ~ Binomial(n, a)`.
//!
//! A single-leader cluster that replicates through majorities (Raft, Multi-
//! Paxos, ZAB, ...) accepts writes only while at least `q = ⌊n/2⌋ + 1` servers
//! are up, so its write availability is `P(K ≥ q)`. The popular figure
//! `1 − u^n` is `P(K ≥ 1)`: "at least one server is up", which is what a
//! read-any, write-nowhere system would deliver, not a consensus cluster.
//!
//! Numerics: both `P(K ≥ q)` and `P(K < q)` are computed as direct sums of
//! their own terms (never as `1 − the other`), from `a` *and* `u` as given, so
//! an unavailability of 1e-10 keeps all its significant digits and
//! `mttr / (mtbf + mttr)` is not rounded through `1 − a`.

/// The largest cluster size accepted. `C(n, k)` stays finite in `f64` well
/// beyond this, and no single-leader group is anywhere near it in practice.
pub const MAX_SERVERS: u32 = 1000;

/// Hours in a year, counting a year as 365.25 days.
pub const HOURS_PER_YEAR: f64 = 365.25 * 24.0;

/// Minutes in a year, counting a year as 365.25 days.
pub const MINUTES_PER_YEAR: f64 = HOURS_PER_YEAR * 60.0;

/// How available one server is: the fraction of time it is up and the
/// fraction it is down, kept separately so that neither is computed as
/// `1 − the other` when the caller knows it more precisely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeAvailability {
    up: f64,
    down: f64,
}

impl NodeAvailability {
    /// From the fraction of time a server is up, `0 < a ≤ 1`.
    pub fn from_availability(a: f64) -> Option<Self> {
        if a.is_finite() && a > 0.0 && a <= 1.0 {
            Some(Self {
                up: a,
                down: decimal_complement(a),
            })
        } else {
            None
        }
    }

    /// From mean time between failures and mean time to repair, in the same
    /// unit: `a = mtbf / (mtbf + mttr)`, `u = mttr / (mtbf + mttr)`.
    /// Requires `mtbf > 0`, `mttr ≥ 0`, both finite.
    pub fn from_mtbf_mttr(mtbf: f64, mttr: f64) -> Option<Self> {
        if mtbf.is_finite() && mttr.is_finite() && mtbf > 0.0 && mttr >= 0.0 {
            let cycle = mtbf + mttr;
            Some(Self {
                up: mtbf / cycle,
                down: mttr / cycle,
            })
        } else {
            None
        }
    }

    /// The fraction of time the server is up.
    pub fn up(self) -> f64 {
        self.up
    }

    /// The fraction of time the server is down.
    pub fn down(self) -> f64 {
        self.down
    }
}

/// `1 − a` for `0 ≤ a ≤ 1`, computed on the shortest decimal that reads back
/// as `a` (what the user typed, e.g. `0.99`), so the result is the double
/// nearest to the decimal complement (`0.01`) rather than the exact binary
/// complement of `a` (`0.010000000000000009`).
pub fn decimal_complement(a: f64) -> f64 {
    // Rust's `Display` for f64 prints the shortest round-tripping decimal,
    // never in exponent notation.
    let text = a.to_string();
    let Some(fraction) = text.strip_prefix("0.") else {
        return 1.0 - a;
    };
    let digits = fraction.as_bytes();
    let Some(last) = digits.iter().rposition(|&d| d != b'0') else {
        return 1.0 - a;
    };
    // 1 − 0.d₁…d_L: nines' complement of every digit but the last non-zero
    // one, which takes the ten's complement.
    let mut out = String::with_capacity(last + 3);
    out.push_str("0.");
    for (i, &d) in digits[..=last].iter().enumerate() {
        let digit = if i < last {
            9 - (d - b'0')
        } else {
            10 - (d - b'0')
        };
        out.push(char::from(b'0' + digit));
    }
    out.parse().unwrap_or(1.0 - a)
}

/// The size of a majority of `n` servers: `⌊n/2⌋ + 1`.
pub fn quorum_size(n: u32) -> u32 {
    n / 2 + 1
}

/// How many servers may be down while a majority remains: `n − quorum`,
/// i.e. `⌊(n − 1)/2⌋`.
pub fn failures_tolerated(n: u32) -> u32 {
    n - quorum_size(n)
}

/// `C(n, k)` as `f64`, by the multiplicative formula (exact while the value
/// fits in 53 bits, correctly rounded to a few ulps beyond).
fn binomial(n: u32, k: u32) -> f64 {
    let k = k.min(n - k);
    let mut c = 1.0_f64;
    for i in 0..k {
        c = c * f64::from(n - i) / f64::from(i + 1);
    }
    c
}

/// `P(K = k)` for `K ~ Binomial(n, node.up)`.
fn term(n: u32, k: u32, node: NodeAvailability) -> f64 {
    // powi(0) is 1 even for a base of 0, which is what 0^0 must be here.
    binomial(n, k) * node.up.powi(k as i32) * node.down.powi((n - k) as i32)
}

/// `P(lo ≤ K ≤ hi)`, summing the terms from the smallest end first.
fn sum_terms(n: u32, lo: u32, hi: u32, node: NodeAvailability) -> f64 {
    if lo > hi {
        return 0.0;
    }
    // Terms grow towards the mode; add the tail farther from it first so
    // small terms are not swamped before they accumulate.
    let mode = (f64::from(n + 1) * node.up).floor() as u32;
    let mut terms: Vec<f64> = (lo..=hi).map(|k| term(n, k, node)).collect();
    if mode <= lo {
        terms.reverse();
    }
    // Rounding may carry a full sum a few ulps past 1.
    terms.iter().sum::<f64>().clamp(0.0, 1.0)
}

/// `P(K ≥ k)`: the probability that at least `k` of the `n` servers are up.
pub fn at_least_up(n: u32, k: u32, node: NodeAvailability) -> f64 {
    sum_terms(n, k, n, node)
}

/// `P(K < k)`: the probability that fewer than `k` of the `n` servers are up.
pub fn fewer_than_up(n: u32, k: u32, node: NodeAvailability) -> f64 {
    if k == 0 {
        0.0
    } else {
        sum_terms(n, 0, k - 1, node)
    }
}

/// Write availability of a majority-quorum cluster: `P(K ≥ ⌊n/2⌋ + 1)`.
pub fn quorum_availability(n: u32, node: NodeAvailability) -> f64 {
    at_least_up(n, quorum_size(n), node)
}

/// Write unavailability of a majority-quorum cluster, summed directly:
/// `P(K ≤ ⌊n/2⌋)`.
pub fn quorum_unavailability(n: u32, node: NodeAvailability) -> f64 {
    fewer_than_up(n, quorum_size(n), node)
}

/// The naive "any server is up" figure `1 − (1 − a)^n`.
pub fn naive_availability(n: u32, node: NodeAvailability) -> f64 {
    1.0 - naive_unavailability(n, node)
}

/// `(1 − a)^n`: the probability that every server is down.
pub fn naive_unavailability(n: u32, node: NodeAvailability) -> f64 {
    node.down.powi(n as i32)
}

/// "Nines" of an unavailability `u`: `−log10(u)` (2 nines = 99%). `None`
/// when `u` is 0 (infinitely many nines).
pub fn nines(unavailability: f64) -> Option<f64> {
    if unavailability > 0.0 {
        Some(-unavailability.log10())
    } else {
        None
    }
}

/// `log10 P(K < k)`, summed in log space (log-sum-exp), so it stays exact
/// where `P(K < k)` itself underflows `f64` (below about 1e-308, e.g. a
/// thousand servers). `−∞` when the probability is exactly 0.
pub fn fewer_than_up_log10(n: u32, k: u32, node: NodeAvailability) -> f64 {
    let (ln_up, ln_down) = (node.up.ln(), node.down.ln());
    // ln C(n, j), stepped from ln C(n, 0) = 0.
    let mut ln_binomial = 0.0_f64;
    let mut ln_terms = Vec::with_capacity(k as usize);
    for j in 0..k {
        if j > 0 {
            ln_binomial += f64::from(n - j + 1).ln() - f64::from(j).ln();
        }
        // A zero factor (a = 1, or 0^0 aside) makes the term exactly 0.
        let up = if j == 0 { 0.0 } else { f64::from(j) * ln_up };
        let down = if n == j {
            0.0
        } else {
            f64::from(n - j) * ln_down
        };
        ln_terms.push(ln_binomial + up + down);
    }
    let max = ln_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let scaled: f64 = ln_terms.iter().map(|t| (t - max).exp()).sum();
    (max + scaled.ln()) / std::f64::consts::LN_10
}

/// Nines of a majority-quorum cluster, `−log10 P(K ≤ ⌊n/2⌋)`: from the
/// direct sum while it is a normal `f64`, from the log-space sum below that
/// (where the direct sum loses digits, then underflows to 0). `None` only
/// when the unavailability is exactly 0 (servers that are never down).
pub fn quorum_nines(n: u32, node: NodeAvailability) -> Option<f64> {
    let direct = quorum_unavailability(n, node);
    if direct >= f64::MIN_POSITIVE {
        return nines(direct);
    }
    let log10 = fewer_than_up_log10(n, quorum_size(n), node);
    // Unavailability is at most 1, so nines are never negative; -0.0 is 0.
    (log10 > f64::NEG_INFINITY).then_some((-log10).max(0.0))
}

/// The fraction of leader failures after which the cluster can elect a new
/// leader (a *failover*) rather than losing its quorum: given that a leader
/// exists (`K ≥ q`), the probability that the other servers still hold a
/// majority without it (`K ≥ q + 1`). 0 for `n ≤ 2`, where every leader
/// failure loses the majority.
pub fn failover_fraction(n: u32, node: NodeAvailability) -> f64 {
    let q = quorum_size(n);
    let with_leader = at_least_up(n, q, node);
    if with_leader > 0.0 {
        (at_least_up(n, q + 1, node) / with_leader).min(1.0)
    } else {
        0.0
    }
}

/// Failovers per year when each server fails at rate `1 / mtbf` while up:
/// a leader exists while `K ≥ q`, it fails at rate `1 / mtbf`, and the
/// failure is a failover (not a quorum loss) iff `K ≥ q + 1`, so the rate is
/// `HOURS_PER_YEAR / mtbf · P(K ≥ q + 1)`.
pub fn failovers_per_year_from_mtbf(n: u32, node: NodeAvailability, mtbf_hours: f64) -> f64 {
    HOURS_PER_YEAR / mtbf_hours * at_least_up(n, quorum_size(n) + 1, node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(5, 0), 1.0);
        assert_eq!(binomial(5, 2), 10.0);
        assert_eq!(binomial(9, 4), 126.0);
        assert_eq!(binomial(52, 5), 2_598_960.0);
    }

    #[test]
    fn five_at_two_nines() {
        let node = NodeAvailability::from_availability(0.99).unwrap();
        let u = quorum_unavailability(5, node);
        // 1e-10 + 5·0.99·1e-8 + 10·0.99²·1e-6
        let expected = 1e-10 + 4.95e-8 + 9.801e-6;
        assert!((u - expected).abs() < 1e-18, "{u:e}");
        assert_eq!(
            format!("{:.10}", quorum_availability(5, node)),
            "0.9999901494"
        );
        assert_eq!(
            format!("{:.10}", naive_availability(5, node)),
            "0.9999999999"
        );
    }

    #[test]
    fn decimal_complements() {
        assert_eq!(decimal_complement(0.99), 0.01);
        assert_eq!(decimal_complement(0.999), 0.001);
        assert_eq!(decimal_complement(0.5), 0.5);
        assert_eq!(decimal_complement(0.123), 0.877);
        assert_eq!(decimal_complement(0.9999999999), 1e-10);
        assert_eq!(decimal_complement(1.0), 0.0);
        assert_eq!(decimal_complement(1e-30), 1.0);
        let third = 1.0 / 3.0;
        assert!((decimal_complement(third) - (1.0 - third)).abs() < 1e-16);
    }

    #[test]
    fn quorum_and_tolerance() {
        let q: Vec<_> = (1..=9).map(quorum_size).collect();
        assert_eq!(q, [1, 2, 2, 3, 3, 4, 4, 5, 5]);
        let f: Vec<_> = (1..=9).map(failures_tolerated).collect();
        assert_eq!(f, [0, 0, 1, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn perfect_servers_never_lose_quorum() {
        let node = NodeAvailability::from_availability(1.0).unwrap();
        for n in 1..=9 {
            assert_eq!(quorum_unavailability(n, node), 0.0);
            assert_eq!(quorum_availability(n, node), 1.0);
        }
        assert_eq!(nines(0.0), None);
    }

    #[test]
    fn mtbf_keeps_small_unavailability_exact() {
        let node = NodeAvailability::from_mtbf_mttr(1e12, 1.0).unwrap();
        assert_eq!(node.down(), 1.0 / (1e12 + 1.0));
        assert!(quorum_unavailability(3, node) > 0.0);
    }

    #[test]
    fn rejects_out_of_range() {
        for a in [0.0, -0.1, 1.0000001, f64::NAN, f64::INFINITY] {
            assert!(NodeAvailability::from_availability(a).is_none(), "{a}");
        }
        assert!(NodeAvailability::from_mtbf_mttr(0.0, 1.0).is_none());
        assert!(NodeAvailability::from_mtbf_mttr(1.0, -1.0).is_none());
        assert!(NodeAvailability::from_mtbf_mttr(f64::NAN, 1.0).is_none());
    }

    /// The log-space nines agree with the direct sum wherever that sum is
    /// representable, and stay finite (and exact) where it underflows.
    #[test]
    fn log_space_nines_agree_and_survive_underflow() {
        for a in [0.5, 0.9, 0.99, 0.999999] {
            let node = NodeAvailability::from_availability(a).unwrap();
            for n in 1..=41 {
                let direct = nines(quorum_unavailability(n, node)).unwrap();
                let logged = -fewer_than_up_log10(n, quorum_size(n), node);
                assert!(
                    (direct - logged).abs() <= 1e-9 * direct.max(1.0),
                    "n={n} a={a}: {direct} vs {logged}"
                );
            }
        }
        let node = NodeAvailability::from_availability(0.99).unwrap();
        assert_eq!(quorum_unavailability(1000, node), 0.0, "underflows");
        // The largest term, k = 500 servers up, bounds the sum: it is at
        // least that term and (the terms fall by ~1% per step) < 2x it.
        let ln_c: f64 = (0..500)
            .map(|i| f64::from(1000 - i).ln() - f64::from(i + 1).ln())
            .sum();
        let top = (ln_c + 500.0 * 0.99f64.ln() + 500.0 * 0.01f64.ln()) / std::f64::consts::LN_10;
        let n = quorum_nines(1000, node).expect("finite");
        assert!(n <= -top && n > -top - 2f64.log10(), "{n} vs {}", -top);
        let perfect = NodeAvailability::from_availability(1.0).unwrap();
        assert_eq!(quorum_nines(1000, perfect), None);
        assert_eq!(quorum_nines(1, perfect), None);
    }

    #[test]
    fn failover_fraction_is_zero_without_spare_servers() {
        let node = NodeAvailability::from_availability(0.99).unwrap();
        assert_eq!(failover_fraction(1, node), 0.0);
        assert_eq!(failover_fraction(2, node), 0.0);
        let f3 = failover_fraction(3, node);
        let expected = 0.99f64.powi(3) / (0.99f64.powi(3) + 3.0 * 0.99f64.powi(2) * 0.01);
        assert!((f3 - expected).abs() < 1e-15);
    }
}
