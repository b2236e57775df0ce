//! Command-line bounds: a named profile, with any bound overridden (the
//! inverse, the flags for a config, is `crate::bounds::flags_for`).

use std::ops::RangeInclusive;

use clap::builder::RangedI64ValueParser;
use clap::Args;
use raft_spec::config::limits;
use raft_spec::{Bug, Config, ConfigError, NetworkKind, Profile, Variant};

/// A `u8` flag accepting only `r` (clap's error then names the range).
fn ranged(r: RangeInclusive<u8>) -> RangedI64ValueParser<u8> {
    clap::value_parser!(u8).range(i64::from(*r.start())..=i64::from(*r.end()))
}

/// A flag's help with `{range}` replaced by its range.
fn help(text: &str, r: RangeInclusive<u8>) -> String {
    text.replace("{range}", &format!("{} to {}", r.start(), r.end()))
}

#[derive(Debug, Clone, Args)]
pub struct BoundsArgs {
    /// Named bounds to start from: quick (seconds; tests), ci (the CI gate:
    /// crash-recovery and a lossy network), deep (larger; scheduled runs).
    /// Any bound below overrides the profile's value.
    #[arg(long, default_value = "ci")]
    pub profile: Profile,
    #[arg(long, value_parser = ranged(limits::SERVERS),
        help = help("Number of Raft servers: {range}", limits::SERVERS))]
    pub servers: Option<u8>,
    #[arg(long, value_parser = ranged(limits::MAX_TERM),
        help = help("Highest term any server may reach: {range}", limits::MAX_TERM))]
    pub max_term: Option<u8>,
    #[arg(long, value_parser = ranged(limits::MAX_LOG),
        help = help("Longest log any server may hold: {range}", limits::MAX_LOG))]
    pub max_log: Option<u8>,
    #[arg(long, value_parser = ranged(limits::BATCH),
        help = help("Most entries one AppendEntries carries: {range}", limits::BATCH))]
    pub batch: Option<u8>,
    #[arg(long, value_parser = ranged(limits::VALUES), help = help(
        "Client proposals carry values 1..=VALUES: {range} (0: no client proposals; \
         leaders replicate only their no-op entries)",
        limits::VALUES))]
    pub values: Option<u8>,
    #[arg(long, value_parser = ranged(limits::CRASHES), help = help(
        "Crashes allowed over a whole run: {range}, at most the number of servers \
         (each crash may be followed by recovery)",
        limits::CRASHES))]
    pub crashes: Option<u8>,
    #[arg(long, value_parser = ranged(limits::IN_FLIGHT), help = help(
        "Most messages in flight at once: {range}, and at least servers - 1 (a \
         candidate sends its RequestVotes at once; with fewer no leader is ever elected). \
         Default: the profile's, raised to servers - 1 when --servers asks for more",
        limits::IN_FLIGHT))]
    pub in_flight: Option<u8>,
    /// reordering | lossy | lossy-duplicating.
    #[arg(long)]
    pub network: Option<NetworkKind>,
    /// Switch on one wrong rule from the bug catalogue (see `raftcheck bugs --list`).
    #[arg(long)]
    pub bug: Option<Bug>,
    /// Which protocol of the family: a preset, `paper` (the Raft paper's
    /// Figure 2) or `raft-rs` (tikv/raft-rs 0.7's design choices), then any
    /// options changed from it, comma-separated: `paper,leader-stickiness`,
    /// `raft-rs,no-commit-broadcast`, `paper,heartbeat=rpc`. `raftcheck
    /// variants` lists every option with its values and why it is safe.
    #[arg(long, default_value = "paper")]
    pub variant: Variant,
}

impl BoundsArgs {
    /// The profile with overrides applied, validated. Bounds under which no
    /// leader can be elected (so no "sometimes" property can be reached)
    /// are refused with the reason.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut cfg = self.profile.config();
        let set = |field: &mut u8, v: Option<u8>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut cfg.servers, self.servers);
        set(&mut cfg.max_term, self.max_term);
        set(&mut cfg.max_log_len, self.max_log);
        set(&mut cfg.max_batch, self.batch);
        set(&mut cfg.values, self.values);
        set(&mut cfg.max_crashes, self.crashes);
        // The profiles' in-flight bounds are sized for their three servers;
        // more servers need more for an election to happen at all.
        cfg.max_in_flight = cfg
            .max_in_flight
            .max(Config::election_in_flight(cfg.servers));
        set(&mut cfg.max_in_flight, self.in_flight);
        if let Some(n) = self.network {
            cfg.network = n;
        }
        if self.bug.is_some() {
            cfg.bug = self.bug;
        }
        cfg.variant = self.variant;
        cfg.validate_reachable()?;
        Ok(cfg)
    }
}

/// `--threads`: at least 1 (0 is refused rather than quietly run as one
/// thread; leaving the flag out means every core).
pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (leave --threads out to use every core)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e} (expected a number of threads, at least 1)")),
    }
}
