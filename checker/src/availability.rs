//! Availability planning (owned by the availability work; being written).

/// Command-line arguments of `raftcheck availability`.
#[derive(Debug, Clone, clap::Args)]
pub struct AvailabilityArgs {}

/// Runs `raftcheck availability`.
pub fn run(_args: &AvailabilityArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("raftcheck availability is not built yet")
}
