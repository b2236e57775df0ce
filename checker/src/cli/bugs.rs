//! `raftcheck bugs`' arguments, and its report on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use raft_spec::Bug;

use super::bounds::parse_threads;
use super::Format;
use crate::bugs::{self, BugOptions, CatalogueOptions};

#[derive(Debug, Clone, clap::Args)]
#[command(
    long_about = "Run the bug catalogue. Each known wrong Raft rule (`--list` names them) \
    is switched on under its own smallest bounds and explored breadth-first, so the first \
    counterexample found is a shortest one. The run fails (exit 1) if a bug goes undetected, \
    or if the property broken at the minimal depth is not the one the catalogue names. \
    `--write` saves each counterexample as counterexamples/<bug>.json (open it with \
    `raftcheck show` or `raftcheck explore`) and counterexamples/<bug>.md (the wrong rule \
    explained, with a sequence diagram). Progress goes to stderr: a line as each bug starts \
    and ends (states, seconds), and the engine's progress line during long searches."
)]
pub struct BugsArgs {
    /// List the catalogue (bug, the property it breaks, the wrong rule) and
    /// run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only this bug (e.g. double-vote).
    #[arg(long)]
    pub only: Option<Bug>,
    /// Save counterexamples/<bug>.json and counterexamples/<bug>.md.
    #[arg(long)]
    pub write: bool,
    /// Where --write saves.
    #[arg(long, default_value = "counterexamples")]
    pub dir: PathBuf,
    /// Worker threads per run, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Give up on a bug after this many seconds (it then counts as not
    /// caught).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Report as a text table or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run the catalogue under this variant of the spec (`paper`,
    /// `raft-rs`, or a preset with options changed; see `raftcheck
    /// variants`): each wrong rule is switched on in that protocol, with the
    /// bounds the catalogue gives it there.
    #[arg(long, default_value = "paper")]
    pub variant: raft_spec::Variant,
}

impl BugsArgs {
    pub fn options(&self) -> CatalogueOptions {
        CatalogueOptions {
            bug: BugOptions {
                threads: crate::bounds::threads_or_all_cores(self.threads),
                timeout: Some(Duration::from_secs(self.timeout)),
                show_progress: !self.quiet,
                variant: self.variant,
            },
            only: self.only,
            write: self.write.then(|| self.dir.clone()),
        }
    }
}

/// `raftcheck bugs`: exit 0 if every bug is caught as catalogued, 1 if not.
pub fn run(args: &BugsArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        let entries = bugs::catalogue()?;
        match args.format {
            Format::Text => print!("{}", bugs::render_list(&entries)),
            Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let results = bugs::run_catalogue(&args.options())?;
    match args.format {
        Format::Text => print!("{}", bugs::render_table(&results)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&results)?),
    }
    Ok(if results.iter().all(|r| r.caught) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
