//! `--max-memory` (of `check` and `gate`): how much memory an exhaustive run may take before it
//! stops cleanly with an incomplete report (rather than being killed by the
//! kernel's out-of-memory killer, which leaves no report at all).

use std::fmt;

/// A memory limit as written on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxMemory {
    Bytes(u64),
    /// A percentage of the memory this process may use (the machine's, or
    /// its cgroup's limit when lower).
    Percent(u8),
    /// No limit.
    Unlimited,
}

/// The default: most of memory, leaving room for what the estimate misses
/// between two checks, for the page cache and for the rest of the machine.
pub const DEFAULT_MAX_MEMORY: &str = "80%";

impl MaxMemory {
    /// The limit in bytes, if any. A percentage of memory that cannot be
    /// read (not Linux) is no limit.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MaxMemory::Bytes(b) => Some(b),
            MaxMemory::Percent(p) => raftcheck_engine::memory::available_memory_bytes()
                .map(|total| total / 100 * u64::from(p)),
            MaxMemory::Unlimited => None,
        }
    }
}

impl fmt::Display for MaxMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxMemory::Bytes(b) => write!(f, "{:.1} GiB", *b as f64 / (1u64 << 30) as f64),
            MaxMemory::Percent(p) => write!(f, "{p}% of memory"),
            MaxMemory::Unlimited => f.write_str("none"),
        }
    }
}

/// Parses `20G`, `512MiB`, `1.5g`, `800000000` (bytes), `75%`, or `none`.
/// Units are binary (K = 1024).
pub fn parse_max_memory(s: &str) -> Result<MaxMemory, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(MaxMemory::Unlimited);
    }
    if let Some(p) = t.strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(p @ 1..=100) => Ok(MaxMemory::Percent(p)),
            _ => Err(format!(
                "{s:?}: a percentage of memory must be a whole number from 1% to 100%"
            )),
        };
    }
    let lower = t.to_ascii_lowercase();
    let digits = lower
        .trim_end_matches("ib")
        .trim_end_matches('b')
        .trim_end();
    let (number, unit) = match digits.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&digits[..i], c),
        _ => (digits, 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        't' => 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use K, M, G, T or %)"
            ))
        }
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("{s:?}: expected a size such as 20G, 512M or 75% (or none for no limit)")
    })?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < (1u64 << 20) as f64 {
        return Err(format!(
            "{s:?}: too small to explore anything (at least 1M)"
        ));
    }
    Ok(MaxMemory::Bytes(bytes.min(u64::MAX as f64) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_percentages_and_none() {
        assert_eq!(parse_max_memory("20G"), Ok(MaxMemory::Bytes(20 << 30)));
        assert_eq!(parse_max_memory("512MiB"), Ok(MaxMemory::Bytes(512 << 20)));
        assert_eq!(parse_max_memory("1.5g"), Ok(MaxMemory::Bytes(3 << 29)));
        assert_eq!(parse_max_memory("4 mb"), Ok(MaxMemory::Bytes(4 << 20)));
        assert_eq!(parse_max_memory("2000000"), Ok(MaxMemory::Bytes(2_000_000)));
        assert_eq!(parse_max_memory("75%"), Ok(MaxMemory::Percent(75)));
        assert_eq!(parse_max_memory("None"), Ok(MaxMemory::Unlimited));
        assert_eq!(
            parse_max_memory(DEFAULT_MAX_MEMORY),
            Ok(MaxMemory::Percent(80))
        );
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        for (bad, says) in [
            ("0%", "from 1% to 100%"),
            ("150%", "from 1% to 100%"),
            ("20X", "unknown unit 'x'"),
            ("lots", "unknown unit"),
            ("G", "expected a size"),
            ("-3G", "too small"),
            ("100K", "too small"),
            ("", "expected a size"),
        ] {
            let err = parse_max_memory(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_percentage_is_of_this_machines_memory() {
        if let Some(total) = raftcheck_engine::memory::available_memory_bytes() {
            let half = MaxMemory::Percent(50).bytes().unwrap();
            assert!(
                half <= total / 2 && half + 100 >= total / 2,
                "{half} of {total}"
            );
        }
    }
}
