//! `raftcheck variants`: the spec's protocol options, what each departs
//! from and why it is safe; with `--bench`, each preset and each option
//! model-checked at a profile's bounds.

use std::process::ExitCode;

use clap::Args;
use raft_spec::variant::{OPTIONS, PRESETS};
use raft_spec::Profile;

use super::{parse_threads, Format};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "A variant is written as a preset, then the options changed from it: \
    `--variant paper,leader-stickiness`, `--variant raft-rs,no-commit-broadcast`, \
    `--variant paper,heartbeat=rpc`. Every command that takes bounds takes --variant, and \
    every report names the variant it ran under."
)]
pub struct VariantsArgs {
    /// Model-check each preset and each option alone (the paper with just
    /// that option as raft-rs has it), each in a fresh process, at
    /// --profile's bounds, and print a table of states, seconds and
    /// verdicts.
    #[arg(long)]
    pub bench: bool,
    /// The bounds --bench checks at.
    #[arg(long, default_value = "ci", requires = "bench")]
    pub profile: Profile,
    /// Worker threads per --bench run, at least 1 (default: all cores).
    #[arg(long, value_parser = parse_threads, requires = "bench")]
    pub threads: Option<usize>,
    /// List as text or JSON (on stdout); --bench prints a Markdown table.
    #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "bench")]
    pub format: Format,
}

/// `raftcheck variants`.
pub fn run(args: &VariantsArgs) -> anyhow::Result<ExitCode> {
    if args.bench {
        let threads = crate::bounds::threads_or_all_cores(args.threads);
        let (table, all_ok) = crate::check::variants_bench(args.profile, threads)?;
        print!("{table}");
        return Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match args.format {
        Format::Text => print!("{}", render_list()),
        Format::Json => {
            let rows: Vec<serde_json::Value> = OPTIONS
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let mut row = serde_json::json!({
                        "option": o.name,
                        "values": o.values,
                        "departs_from": o.departs_from,
                        "why_safe": o.why_safe,
                    });
                    for (preset, v) in PRESETS {
                        row[preset] = v.values()[i].into();
                    }
                    row
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One paragraph per option: its values, each preset's, and why it is safe.
fn render_list() -> String {
    let mut out = String::new();
    for (i, o) in OPTIONS.iter().enumerate() {
        let presets: Vec<String> = PRESETS
            .iter()
            .map(|(name, v)| format!("{name}: {}", v.values()[i]))
            .collect();
        out.push_str(&format!(
            "{}  ({})  [{}]\n  departs from: {}\n  safe because: {}\n",
            o.name,
            o.values.join(" | "),
            presets.join(", "),
            o.departs_from,
            o.why_safe
        ));
    }
    out.push_str(&format!(
        "\npresets: {}\n",
        PRESETS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}
