//! `raftcheck gate`: the one command CI runs. It checks the profile's model,
//! runs the bug catalogue, checks the implementation conforms (exhaustively
//! on the profile, and along every saved counterexample), and guards the
//! `quick` profile's state-space size against unreviewed protocol changes.
//! One exit code, one report, plus Markdown (for a pull request's summary)
//! and JUnit XML (for CI test reports).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use raft_spec::{Bug, Config, Profile};
use serde::Serialize;

use crate::bounds::BoundsArgs;
use crate::check::{self, CheckOptions, Strategy};
use crate::conform::{exhaustive, replay};
use crate::markup;
use crate::trace::{Outcome, Trace};
use crate::{bugs, files, show};
use raftcheck_engine::StopWhen;

/// The parts of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Model-check the profile: every property holds or is reached.
    ModelCheck,
    /// Every rule the bounds allow fires in each model-check and
    /// conformance profile (docs/rules.md).
    Coverage,
    /// Every catalogued bug is caught, breaking the property it should.
    Bugs,
    /// Every transition of the profile's model is taken by the implementation.
    Conformance,
    /// Every saved counterexample replays against the implementation.
    Replay,
    /// The quick profile's state-space size equals the reviewed snapshot.
    StateSpace,
}

impl Part {
    pub const ALL: [Part; 6] = [
        Part::ModelCheck,
        Part::Coverage,
        Part::Bugs,
        Part::Conformance,
        Part::Replay,
        Part::StateSpace,
    ];

    fn title(self) -> &'static str {
        match self {
            Part::ModelCheck => "model check",
            Part::Coverage => "rule coverage",
            Part::Bugs => "bug catalogue",
            Part::Conformance => "conformance",
            Part::Replay => "counterexample replay",
            Part::StateSpace => "state-space guard",
        }
    }
}

/// A set of profiles the gate runs instead of one (`--plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plan {
    /// CI: model check at ci-term3 and ci-term3-log3 (a third term; a third
    /// term with a third log entry), conformance at ci and quick-term3-log3.
    Ci,
    /// Local iteration: model check and conformance at quick.
    Quick,
}

impl Plan {
    /// The model-check profiles and the conformance profiles.
    pub fn profiles(self) -> (Vec<Profile>, Vec<Profile>) {
        match self {
            Plan::Ci => (
                vec![Profile::CiTerm3, Profile::CiTerm3Log3],
                vec![Profile::Ci, Profile::QuickTerm3Log3],
            ),
            Plan::Quick => (vec![Profile::Quick], vec![Profile::Quick]),
        }
    }
}

/// One model-check or conformance run of the gate.
#[derive(Debug, Clone)]
pub struct GateRun {
    /// The profile's name, prefixed to the run's case names; `None` for
    /// the one run of a gate given bounds (no prefix).
    pub name: Option<String>,
    pub config: Config,
}

impl GateRun {
    pub fn single(config: Config) -> Vec<GateRun> {
        vec![GateRun { name: None, config }]
    }

    fn named(&self, case: &str) -> String {
        match &self.name {
            Some(n) => format!("{n}: {case}"),
            None => case.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

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
    /// Bound flags do not apply to a plan.
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
    #[arg(long, value_parser = crate::bounds::parse_threads)]
    pub threads: Option<usize>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One test case of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub part: Part,
    pub name: String,
    /// pass | fail | known-gap | skipped (not determined)
    pub status: &'static str,
    pub detail: String,
    pub states: Option<u64>,
    pub seconds: f64,
    /// For failures: a Mermaid sequence diagram of the counterexample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mermaid: Option<String>,
    /// For failures: the command that reproduces it locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// For failures with a trace: the command that opens it in the explorer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explore: Option<String>,
}

impl Case {
    fn new(part: Part, name: impl Into<String>, pass: bool, detail: impl Into<String>) -> Case {
        Case {
            part,
            name: name.into(),
            status: if pass { "pass" } else { "fail" },
            detail: detail.into(),
            states: None,
            seconds: 0.0,
            mermaid: None,
            reproduce: None,
            explore: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == "fail"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub command: String,
    pub config: Config,
    pub ok: bool,
    pub seconds: f64,
    pub cases: Vec<Case>,
}

/// Everything `run` needs.
pub struct GateConfig {
    /// The bounds the report's headline names (the first model check).
    pub config: Config,
    pub model_checks: Vec<GateRun>,
    pub conformance_runs: Vec<GateRun>,
    pub parts: Vec<Part>,
    pub counterexamples: PathBuf,
    pub snapshot: PathBuf,
    pub out_dir: PathBuf,
    pub known_gaps: Vec<Bug>,
    pub threads: usize,
    pub show_progress: bool,
    pub command: String,
}

pub fn run_cli(args: &GateArgs, command: String) -> anyhow::Result<ExitCode> {
    let threads = crate::bounds::threads_or_all_cores(args.threads);
    let (model_checks, conformance_runs) = match args.plan {
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
            (runs(check), runs(conform))
        }
        None => {
            let cfg = args.bounds.config()?;
            (GateRun::single(cfg.clone()), GateRun::single(cfg))
        }
    };
    let gc = GateConfig {
        config: model_checks[0].config.clone(),
        model_checks,
        conformance_runs,
        parts: Part::ALL
            .into_iter()
            .filter(|p| !args.skip.contains(p))
            .collect(),
        counterexamples: args.counterexamples.clone(),
        snapshot: args.snapshot.clone(),
        out_dir: args.out_dir.clone(),
        known_gaps: args.known_gap.clone(),
        threads,
        show_progress: !args.quiet,
        command,
    };
    let report = run(&gc)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", render_text(&report)),
    }
    if let Some(path) = &args.summary {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the summary file {}: {e}", path.display()))?;
        f.write_all(render_markdown(&report).as_bytes())
            .map_err(|e| {
                anyhow::anyhow!("cannot write the summary file {}: {e}", path.display())
            })?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, render_junit(&report))
            .map_err(|e| anyhow::anyhow!("cannot write the JUnit file {}: {e}", path.display()))?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the gate's parts in order and collects one report.
pub fn run(gc: &GateConfig) -> anyhow::Result<GateReport> {
    let start = Instant::now();
    let mut cases = Vec::new();
    for part in &gc.parts {
        if gc.show_progress {
            eprintln!("== {}", part.title());
        }
        match part {
            Part::ModelCheck => {
                for r in &gc.model_checks {
                    model_check(gc, r, &mut cases)?;
                }
            }
            // Counted by the model checks and conformance runs themselves.
            Part::Coverage => {}
            Part::Bugs => bug_catalogue(gc, &mut cases)?,
            Part::Conformance => {
                for r in &gc.conformance_runs {
                    conformance(gc, r, &mut cases)?;
                }
            }
            Part::Replay => replay_counterexamples(gc, &mut cases)?,
            Part::StateSpace => state_space_guard(gc, &mut cases)?,
        }
    }
    Ok(GateReport {
        command: gc.command.clone(),
        config: gc.config.clone(),
        ok: !cases.iter().any(Case::failed),
        seconds: start.elapsed().as_secs_f64(),
        cases,
    })
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn model_check(gc: &GateConfig, run: &GateRun, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let cfg = &run.config;
    let opts = CheckOptions {
        strategy: Strategy::Bfs,
        threads: gc.threads,
        symmetry: true,
        stop_when: StopWhen::AnyViolation,
        show_progress: gc.show_progress,
        timeout: None,
        memory_budget: None,
    };
    let checked = check::run(cfg, &opts)?;
    let r = &checked.report;
    let reproduce = format!("raftcheck check {}", BoundsArgs::flags_for(cfg));
    for p in &r.properties {
        let detail = match p.depth {
            Some(d) => format!("{} {} at depth {d}", p.kind, p.status),
            None => format!("{} {}", p.kind, p.status),
        };
        let mut case = Case::new(Part::ModelCheck, run.named(p.name), p.is_ok(), detail);
        if p.is_undecided() {
            case.status = "skipped";
            case.detail = format!(
                "{} not determined: the run stopped at the first violation",
                p.kind
            );
        }
        case.states = Some(r.unique_states);
        case.seconds = r.seconds;
        if !p.is_ok() {
            case.reproduce = Some(reproduce.clone());
            if let Some(b) = checked.behaviours.get(p.name) {
                let outcome = if p.kind == "always" {
                    Outcome::Violates
                } else {
                    Outcome::Witnesses
                };
                let trace = Trace::from_behaviour(cfg, cfg.bug, p.name, outcome, b)?;
                case.mermaid = Some(show::mermaid(&trace));
                files::create_dir_all(&gc.out_dir)?;
                let file = gc
                    .out_dir
                    .join(format!("{}.json", slug(&run.named(p.name))));
                files::write(&file, trace.to_json())?;
                case.explore = Some(format!("raftcheck explore {}", file.display()));
                case.detail
                    .push_str(&format!("\n\n{}", check::render_behaviour(p.name, b)));
            }
        }
        cases.push(case);
    }
    if !r.complete && r.violations().next().is_none() {
        cases.push(Case::new(
            Part::ModelCheck,
            run.named("exhausted the bounds"),
            false,
            "the run stopped before exploring every state",
        ));
    }
    if gc.parts.contains(&Part::Coverage) {
        coverage_cases(run, "", r, cases);
    }
    Ok(())
}

/// One case per rule: pass if it fired, fail if the bounds allow it and it
/// never fired, skipped if the bounds exclude it (or the run stopped early).
fn coverage_cases(run: &GateRun, what: &str, r: &check::CheckReport, cases: &mut Vec<Case>) {
    let Some(rows) = &r.coverage else {
        return;
    };
    for row in rows {
        let mut case = Case::new(
            Part::Coverage,
            run.named(&format!("{what}{}", row.rule)),
            row.status != "uncovered",
            crate::coverage::describe(row),
        );
        if row.status == "excluded" {
            case.status = "skipped";
        } else if row.status == "uncovered" && !r.complete {
            case.status = "skipped";
            case.detail = "not determined: the run stopped before exhausting the bounds".into();
        } else if row.status == "uncovered" {
            case.detail = format!(
                "never fired at these bounds ({}): a wrong {} rule would go unseen; raise the bounds",
                row.tla_operator, row.rule
            );
            case.reproduce = Some(format!(
                "raftcheck check {}",
                BoundsArgs::flags_for(&r.config)
            ));
        }
        case.states = Some(r.unique_states);
        cases.push(case);
    }
}

fn bug_catalogue(gc: &GateConfig, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    for bug in Bug::ALL {
        if gc.known_gaps.contains(&bug) {
            let mut case = Case::new(
                Part::Bugs,
                bug.name(),
                true,
                format!(
                    "not run: listed as a known gap (--known-gap); expected to break {}",
                    bug.info().violates
                ),
            );
            case.status = "known-gap";
            cases.push(case);
            continue;
        }
        // Generous: commit-beyond-new-entries takes about 40 s on a quiet 2-core
        // machine; the limit only stops a run that has lost its way.
        let opts = bugs::BugOptions {
            threads: gc.threads,
            timeout: Some(Duration::from_secs(600)),
            show_progress: gc.show_progress,
        };
        let run = bugs::run_bug(bug, &opts)?;
        let r = &run.result;
        let detail = match (r.caught, &r.problem) {
            (true, _) => format!(
                "breaks {} at depth {}",
                r.property,
                r.depth.map_or("-".into(), |d| d.to_string())
            ),
            (false, Some(p)) => p.clone(),
            (false, None) => format!("not caught breaking {}", r.property),
        };
        let mut case = Case::new(Part::Bugs, bug.name(), r.caught, detail);
        case.states = Some(r.states);
        case.seconds = r.seconds;
        if case.failed() {
            case.reproduce = Some(r.reproduce.clone());
        }
        cases.push(case);
    }
    Ok(())
}

fn conformance(gc: &GateConfig, run: &GateRun, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let cfg = &run.config;
    let conformed = exhaustive::run(
        cfg,
        &exhaustive::ExhaustiveOptions {
            threads: gc.threads,
            perturbation: None,
            timeout: None,
            show_progress: gc.show_progress,
        },
    )?;
    let r = &conformed.report;
    let mut detail = format!(
        "{} model transitions, {} checked on the implementation",
        r.model_transitions, r.transitions_checked
    );
    if r.divergence.is_some() {
        detail.push_str(&format!("\n\n{}", exhaustive::render_text(r)));
    }
    let mut case = Case::new(Part::Conformance, run.named("exhaustive"), r.ok(), detail);
    case.states = Some(r.unique_states);
    case.seconds = r.seconds;
    if !r.ok() {
        case.reproduce = Some(format!("raftcheck conform {}", BoundsArgs::flags_for(cfg)));
    }
    cases.push(case);
    if gc.parts.contains(&Part::Coverage) {
        // The conformance exploration is that of `raftcheck check` at the
        // same bounds (same engine, symmetry and states), so the rules it
        // took on the implementation are the ones a check counts.
        let opts = CheckOptions {
            threads: gc.threads,
            stop_when: StopWhen::Exhausted,
            ..CheckOptions::default()
        };
        let counted = check::run(cfg, &opts)?;
        if r.complete && counted.report.transitions != r.model_transitions {
            anyhow::bail!(
                "conformance took {} transitions and the check at its bounds {}: its rule coverage cannot be counted",
                r.model_transitions,
                counted.report.transitions
            );
        }
        coverage_cases(run, "conformance: ", &counted.report, cases);
    }
    Ok(())
}

fn replay_counterexamples(gc: &GateConfig, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let dir = gc.counterexamples.display().to_string();
    let files = match files::json_files(&gc.counterexamples) {
        Ok(files) => files,
        Err(e) => {
            let detail = format!("cannot read the counterexamples directory: {e:#}");
            cases.push(Case::new(Part::Replay, dir, false, detail));
            return Ok(());
        }
    };
    // Nothing replayed is not a pass: the directory is wrong or was emptied.
    if files.is_empty() {
        let detail = format!(
            "no counterexamples (*.json) in {dir} to replay: write them with \
             `raftcheck bugs --write --dir {dir}`, or pass --counterexamples DIR"
        );
        cases.push(Case::new(Part::Replay, dir, false, detail));
        return Ok(());
    }
    for file in files {
        let name = file.display().to_string();
        let start = Instant::now();
        let case = match Trace::load(&file) {
            Err(e) => Case::new(Part::Replay, name, false, e.to_string()),
            Ok(trace) => match replay::replay_trace(&trace, Some(&file), None) {
                Err(e) => Case::new(Part::Replay, name, false, format!("{e:#}")),
                Ok(r) => {
                    let mut c = Case::new(Part::Replay, name, r.ok(), replay::render_text(&r));
                    if !r.ok() {
                        c.reproduce = Some(format!("raftcheck replay {}", file.display()));
                        c.explore = Some(format!("raftcheck explore {}", file.display()));
                        if trace.outcome == Outcome::Violates {
                            c.mermaid = Some(show::mermaid(&trace));
                        }
                    }
                    c
                }
            },
        };
        cases.push(Case {
            seconds: start.elapsed().as_secs_f64(),
            ..case
        });
    }
    Ok(())
}

/// Reads `"unique_states": N` from the reviewed insta snapshot.
pub fn snapshot_unique_states(path: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the state-space snapshot {}: {e}",
            path.display()
        )
    })?;
    let body = text
        .splitn(3, "---")
        .nth(2)
        .ok_or_else(|| anyhow::anyhow!("{}: not an insta snapshot", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(body.trim())
        .map_err(|e| anyhow::anyhow!("{}: unreadable snapshot body: {e}", path.display()))?;
    json["unique_states"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("{}: no unique_states in the snapshot", path.display()))
}

fn state_space_guard(gc: &GateConfig, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let expected = snapshot_unique_states(&gc.snapshot)?;
    let opts = CheckOptions {
        threads: gc.threads,
        stop_when: StopWhen::Exhausted,
        ..CheckOptions::default()
    };
    let run = check::run(&Profile::Quick.config(), &opts)?;
    let actual = run.report.unique_states;
    let detail = if actual == expected {
        format!("quick profile: {actual} unique states, as reviewed")
    } else {
        format!(
            "the quick profile's state space changed from {expected} to {actual} unique states \
             without a reviewed snapshot: a protocol change must be a reviewed change. Run \
             `cargo insta test -p raftcheck --test check` (or INSTA_UPDATE=always cargo test -p \
             raftcheck --test check), review the diff of {} and commit it.",
            gc.snapshot.display()
        )
    };
    let mut case = Case::new(
        Part::StateSpace,
        "quick profile",
        actual == expected,
        detail,
    );
    case.states = Some(actual);
    case.seconds = run.report.seconds;
    cases.push(case);
    Ok(())
}

/// The report as text: one line per case, failures in full.
pub fn render_text(r: &GateReport) -> String {
    let mut out = format!("raftcheck gate: {}\n\n", r.config.summary());
    for c in &r.cases {
        // A covered rule is one of dozens of lines: counted below instead.
        if c.part == Part::Coverage && c.status == "pass" {
            continue;
        }
        let first = c.detail.lines().next().unwrap_or("");
        out.push_str(&format!(
            "{:<9} {:<22} {:<52} {first}\n",
            c.status.to_uppercase(),
            c.part.title(),
            c.name
        ));
    }
    for c in r.cases.iter().filter(|c| c.failed()) {
        out.push_str(&format!(
            "\n--- {} / {}\n{}\n",
            c.part.title(),
            c.name,
            c.detail
        ));
        if let Some(cmd) = &c.reproduce {
            out.push_str(&format!("reproduce: {cmd}\n"));
        }
        if let Some(cmd) = &c.explore {
            out.push_str(&format!("explore: {cmd}\n"));
        }
    }
    let covered = coverage_summary(r);
    if !covered.is_empty() {
        out.push_str(&format!("\n{covered}\n"));
    }
    let failed = r.cases.iter().filter(|c| c.failed()).count();
    out.push_str(&format!(
        "\n{}: {} checks, {failed} failed, in {:.1} s\nreproduce: {}\n",
        if r.ok { "PASSED" } else { "FAILED" },
        r.cases.len(),
        r.seconds,
        r.command
    ));
    out
}

/// "rule coverage: 25 rules fired, 2 excluded by the bounds, 0 uncovered",
/// or nothing when no coverage was counted.
fn coverage_summary(r: &GateReport) -> String {
    let count = |status: &str| {
        r.cases
            .iter()
            .filter(|c| c.part == Part::Coverage && c.status == status)
            .count()
    };
    let (fired, other, uncovered) = (count("pass"), count("skipped"), count("fail"));
    if fired + other + uncovered == 0 {
        return String::new();
    }
    format!(
        "rule coverage: {fired} rule-runs fired, {other} excluded by the bounds or not determined, {uncovered} uncovered (see docs/rules.md)"
    )
}

fn md_cell(s: &str) -> String {
    s.lines().next().unwrap_or("").replace('|', "\\|")
}

/// The report as Markdown, for a pull request's summary page.
pub fn render_markdown(r: &GateReport) -> String {
    let icon = |c: &Case| match c.status {
        "pass" => "✅ pass",
        "fail" => "❌ FAIL",
        "skipped" if c.detail.starts_with("excluded") => "➖ excluded",
        "skipped" => "❔ not determined",
        _ => "⚠️ known gap",
    };
    let mut out = format!(
        "## raftcheck gate: {}\n\n`{}`\n\n",
        if r.ok { "✅ passed" } else { "❌ FAILED" },
        r.config.summary()
    );
    for part in Part::ALL {
        let cases: Vec<&Case> = r.cases.iter().filter(|c| c.part == part).collect();
        if cases.is_empty() {
            continue;
        }
        let header =
            "| check | status | detail | states | seconds |\n| --- | --- | --- | ---: | ---: |\n";
        let row = |c: &Case| {
            format!(
                "| {} | {} | {} | {} | {:.1} |\n",
                md_cell(&c.name),
                icon(c),
                md_cell(&c.detail),
                c.states.map_or(String::new(), check::grouped),
                c.seconds
            )
        };
        out.push_str(&format!("### {}\n\n", part.title()));
        if part == Part::Coverage {
            // Dozens of rows: the rules that did not fire stay in view, the
            // whole table is folded.
            out.push_str(&format!("{}\n\n", coverage_summary(r)));
            let notable: Vec<&Case> = cases
                .iter()
                .copied()
                .filter(|c| c.status != "pass")
                .collect();
            if !notable.is_empty() {
                out.push_str(header);
                out.extend(notable.into_iter().map(row));
                out.push('\n');
            }
            out.push_str(&format!(
                "<details><summary>every rule</summary>\n\n{header}"
            ));
            out.extend(cases.into_iter().map(row));
            out.push_str("\n</details>\n\n");
            continue;
        }
        out.push_str(header);
        out.extend(cases.into_iter().map(row));
        out.push('\n');
    }
    let failures: Vec<&Case> = r.cases.iter().filter(|c| c.failed()).collect();
    if !failures.is_empty() {
        out.push_str("### Failures\n\n");
    }
    for c in failures {
        out.push_str(&format!("#### {}: {}\n\n", c.part.title(), c.name));
        if let Some(m) = &c.mermaid {
            out.push_str(&format!("```mermaid\n{}\n```\n\n", m.trim_end()));
        }
        out.push_str(&format!(
            "<details><summary>details</summary>\n\n```\n{}\n```\n</details>\n\n",
            c.detail.trim_end()
        ));
        if let Some(cmd) = &c.reproduce {
            out.push_str(&format!("Reproduce locally: `{cmd}`\n\n"));
        }
        if let Some(cmd) = &c.explore {
            out.push_str(&format!("Open in the explorer: `{cmd}`\n\n"));
        }
    }
    out.push_str(&format!(
        "Command: `{}` ({:.1} s)\n\n",
        r.command, r.seconds
    ));
    out
}

/// The report as JUnit XML: one suite per part, one case per check.
pub fn render_junit(r: &GateReport) -> String {
    let failures = r.cases.iter().filter(|c| c.failed()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"raftcheck gate\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
        r.cases.len(),
        r.seconds
    );
    for part in Part::ALL {
        let cases: Vec<&Case> = r.cases.iter().filter(|c| c.part == part).collect();
        if cases.is_empty() {
            continue;
        }
        let fails = cases.iter().filter(|c| c.failed()).count();
        let skipped = cases
            .iter()
            .filter(|c| !c.failed() && c.status != "pass")
            .count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skipped}\">\n",
            part.title(),
            cases.len()
        ));
        for c in cases {
            out.push_str(&format!(
                "    <testcase classname=\"raftcheck.{}\" name=\"{}\" time=\"{:.3}\"",
                slug(part.title()),
                markup::escape(&c.name),
                c.seconds
            ));
            match c.status {
                "pass" => out.push_str("/>\n"),
                "known-gap" | "skipped" => out.push_str(&format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    markup::escape(&md_cell(&c.detail))
                )),
                _ => {
                    let mut body = c.detail.clone();
                    if let Some(m) = &c.mermaid {
                        body.push_str(&format!("\n\nsequence diagram (Mermaid):\n{m}"));
                    }
                    if let Some(cmd) = &c.reproduce {
                        body.push_str(&format!("\nreproduce: {cmd}"));
                    }
                    out.push_str(&format!(
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        markup::escape(&md_cell(&c.detail)),
                        markup::escape(&body)
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
