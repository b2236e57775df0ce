//! `raftcheck show`'s arguments.

use crate::show;
use crate::trace::Trace;

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// A saved trace, e.g. counterexamples/double-vote.json.
    pub file: std::path::PathBuf,
    /// Print a Mermaid sequenceDiagram instead of numbered steps (paste it
    /// into a ```mermaid block on GitHub, or https://mermaid.live).
    #[arg(long)]
    pub mermaid: bool,
    /// Print the Markdown page saved next to catalogue traces.
    #[arg(long, conflicts_with = "mermaid")]
    pub markdown: bool,
}

/// `raftcheck show`. The trace is replayed and its verdict recomputed (not
/// trusted) before printing.
pub fn run(args: &ShowArgs) -> anyhow::Result<std::process::ExitCode> {
    let trace = Trace::load(&args.file)?;
    trace.replay().map_err(|e| {
        anyhow::anyhow!("{} does not replay in this model: {e}", args.file.display())
    })?;
    if args.mermaid {
        print!("{}", show::mermaid(&trace));
    } else if args.markdown {
        print!("{}", show::markdown(&trace)?);
    } else {
        print!("{}", show::text(&trace)?);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
