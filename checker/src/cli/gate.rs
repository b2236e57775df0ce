//! `raftcheck gate`'s arguments, and its reports (stdout, --summary, --junit).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use raft_spec::{Bug, ConfigError, Profile};

use super::bounds::{parse_threads, BoundsArgs};
use super::Format;
use crate::bounds::threads_or_all_cores;
use crate::gate::{self, GateConfig, GateRun, Part, Plan};
use crate::memory::{parse_max_memory, MaxMemory, DEFAULT_MAX_MEMORY};

/// `raftcheck gate`: everything CI needs, one exit code.
#[derive(Debug, Clone, Args)]
#[command(
    long_about = "Gate a protocol change: run the model check of the profile, the \
    bug catalogue, exhaustive conformance of the implementation on the profile, the replay of \
    every saved counterexample against the implementation, and the state-space guard (the \
    quick profile's unique-state count must equal the reviewed insta snapshot, so a change to \
    the protocol is always a reviewed change).\n\n\
    Exit 0 only if every part passes. --summary appends a Markdown report (tables, a Mermaid \
    sequence diagram and the reproduce/explore commands for every failure) to a file, e.g. \
    \"$GITHUB_STEP_SUMMARY\"; --junit writes JUnit XML with one test case per property, bug \
    and conformance check."
)]
pub struct GateArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Run a plan of profiles rather than the one profile: ci (what CI
    /// runs: model check at ci-term3 and ci-term3-log3, conformance at ci
    /// and quick-term3-log3) or quick (seconds, for local use).
    /// Bound flags do not apply to a plan. Without a plan raft-rs's
    /// exhaustive conformance (under its own variant, whose product space at
    /// ci does not fit in memory) runs at the quick profile, whatever the
    /// bounds.
    #[arg(long, value_enum)]
    pub plan: Option<Plan>,
    /// Report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Append the Markdown report to this file.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Where the saved counterexamples are (replayed against the implementation).
    #[arg(long, default_value = "counterexamples")]
    pub counterexamples: PathBuf,
    /// The reviewed snapshot of the quick profile's state space.
    #[arg(
        long,
        default_value = "checker/tests/snapshots/check__quick_profile.snap"
    )]
    pub snapshot: PathBuf,
    /// Where traces of new failures are written (for the explorer, and as CI artifacts).
    #[arg(long, default_value = "target/raftcheck-gate")]
    pub out_dir: PathBuf,
    /// A catalogued bug known not to be caught within checkable bounds: not
    /// run, reported as a known gap. Say it on the command line so the gap
    /// stays visible.
    #[arg(long, value_name = "BUG")]
    pub known_gap: Vec<Bug>,
    /// Skip a part (for local iteration; CI runs them all).
    #[arg(long, value_enum)]
    pub skip: Vec<Part>,
    /// Worker threads, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop each model check cleanly past this much memory (as `raftcheck
    /// check --max-memory`; a check stopped so fails its cases).
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MAX_MEMORY, value_parser = parse_max_memory)]
    pub max_memory: MaxMemory,
    /// Model-check with the visited set and the frontier in files under
    /// DIR (as `raftcheck check --disk`), for bounds past memory: the
    /// scheduled `deep` run uses it.
    #[arg(long, value_name = "DIR")]
    pub disk: Option<PathBuf>,
}

impl GateArgs {
    /// The gate's configuration; `command` is the command line, for the
    /// report.
    pub fn options(&self, command: String) -> Result<GateConfig, ConfigError> {
        let threads = threads_or_all_cores(self.threads);
        let raft_rs_runs = match self.plan {
            Some(plan) => plan
                .raft_rs_profiles()
                .into_iter()
                .map(|p| GateRun {
                    name: Some(p.name().to_string()),
                    config: p.config(),
                })
                .collect(),
            // raft-rs's product at ci under its variant holds hundreds of
            // millions of states (57 M by depth 20, still growing).
            None => vec![GateRun {
                name: Some(Profile::Quick.name().to_string()),
                config: Profile::Quick.config(),
            }],
        };
        let raft_rs_walks = self.plan.unwrap_or(Plan::Quick).raft_rs_walks();
        let (model_checks, conformance_runs) = match self.plan {
            Some(plan) => {
                let runs = |profiles: Vec<Profile>| {
                    profiles
                        .into_iter()
                        .map(|p| GateRun {
                            name: Some(p.name().to_string()),
                            config: p.config(),
                        })
                        .collect::<Vec<_>>()
                };
                let (check, conform) = plan.profiles();
                let mut checks = runs(check);
                // raft-rs's protocol (the spec's raft-rs preset) is gated
                // too, at the plan's ci (or quick) bounds: 55 M states, 80 s.
                let base = match plan {
                    Plan::Ci => Profile::Ci,
                    Plan::Quick => Profile::Quick,
                };
                checks.push(GateRun {
                    name: Some(format!("{} variant=raft-rs", base.name())),
                    config: raft_spec::Config {
                        variant: raft_spec::Variant::RAFT_RS,
                        ..base.config()
                    },
                });
                (checks, runs(conform))
            }
            None => {
                let cfg = self.bounds.config()?;
                (GateRun::single(cfg.clone()), GateRun::single(cfg))
            }
        };
        Ok(GateConfig {
            config: model_checks[0].config.clone(),
            model_checks,
            conformance_runs,
            raft_rs_runs,
            raft_rs_walks,
            parts: Part::ALL
                .into_iter()
                .filter(|p| !self.skip.contains(p))
                .collect(),
            counterexamples: self.counterexamples.clone(),
            snapshot: self.snapshot.clone(),
            out_dir: self.out_dir.clone(),
            known_gaps: self.known_gap.clone(),
            threads,
            show_progress: !self.quiet,
            disk: self.disk.clone(),
            memory_budget: self.max_memory.bytes(),
            command,
        })
    }
}

/// `raftcheck gate`: exit 0 only if every part passes.
pub fn run(args: &GateArgs, command: String) -> anyhow::Result<ExitCode> {
    super::check::stop_on_ctrl_c();
    let report = gate::run(&args.options(command)?)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", gate::render_text(&report)),
    }
    if let Some(path) = &args.summary {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the summary file {}: {e}", path.display()))?;
        f.write_all(gate::render_markdown(&report).as_bytes())
            .map_err(|e| {
                anyhow::anyhow!("cannot write the summary file {}: {e}", path.display())
            })?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, gate::render_junit(&report))
            .map_err(|e| anyhow::anyhow!("cannot write the JUnit file {}: {e}", path.display()))?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
