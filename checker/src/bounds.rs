//! Command-line bounds: a named profile, with any bound overridden.

use clap::Args;
use raft_spec::{Bug, Config, ConfigError, NetworkKind, Profile};

#[derive(Debug, Clone, Args)]
pub struct BoundsArgs {
    /// Named bounds to start from: quick (seconds; tests), ci (the CI gate:
    /// crash-recovery and a lossy network), deep (larger; scheduled runs).
    /// Any bound below overrides the profile's value.
    #[arg(long, default_value = "ci")]
    pub profile: Profile,
    /// Number of Raft servers (1 to 5).
    #[arg(long)]
    pub servers: Option<u8>,
    /// Highest term any server may reach (1 to 7).
    #[arg(long)]
    pub max_term: Option<u8>,
    /// Longest log any server may hold (1 to 6).
    #[arg(long)]
    pub max_log: Option<u8>,
    /// Most entries one AppendEntries carries.
    #[arg(long)]
    pub batch: Option<u8>,
    /// Client proposals carry values 1..=VALUES (0: no client proposals; leaders
    /// replicate only their no-op entries)
    #[arg(long)]
    pub values: Option<u8>,
    /// Crashes allowed over a whole run (each may be followed by recovery).
    #[arg(long)]
    pub crashes: Option<u8>,
    /// Most messages in flight at once.
    #[arg(long)]
    pub in_flight: Option<u8>,
    /// reordering | lossy | lossy-duplicating.
    #[arg(long)]
    pub network: Option<NetworkKind>,
    /// Switch on one wrong rule from the bug catalogue (see `raftcheck bugs`).
    #[arg(long)]
    pub bug: Option<Bug>,
}

impl BoundsArgs {
    /// The profile with overrides applied, validated.
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
        set(&mut cfg.max_in_flight, self.in_flight);
        if let Some(n) = self.network {
            cfg.network = n;
        }
        if self.bug.is_some() {
            cfg.bug = self.bug;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The command-line flags that reproduce `cfg` exactly.
    pub fn flags_for(cfg: &Config) -> String {
        let mut s = format!(
            "--servers {} --max-term {} --max-log {} --batch {} --values {} --crashes {} --in-flight {} --network {}",
            cfg.servers,
            cfg.max_term,
            cfg.max_log_len,
            cfg.max_batch,
            cfg.values,
            cfg.max_crashes,
            cfg.max_in_flight,
            cfg.network
        );
        if let Some(bug) = cfg.bug {
            s.push_str(&format!(" --bug {bug}"));
        }
        s
    }
}
