//! The gate's report as text, Markdown (a pull request's summary) and JUnit
//! XML (CI test reports).

use super::run::slug;
use super::{Case, CaseStatus, GateReport, Part};
use crate::markup;

/// The report as text: one line per case, failures in full.
pub fn render_text(r: &GateReport) -> String {
    let mut out = format!("raftcheck gate: {}\n\n", r.config.summary());
    for c in &r.cases {
        // A covered rule is one of dozens of lines: counted below instead.
        if c.part == Part::Coverage && c.status == CaseStatus::Pass {
            continue;
        }
        let first = c.detail.lines().next().unwrap_or("");
        out.push_str(&format!(
            "{:<9} {:<22} {:<52} {first}\n",
            c.status.as_str().to_uppercase(),
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
    let count = |status: CaseStatus| {
        r.cases
            .iter()
            .filter(|c| c.part == Part::Coverage && c.status == status)
            .count()
    };
    let (fired, other, uncovered) = (
        count(CaseStatus::Pass),
        count(CaseStatus::Skipped),
        count(CaseStatus::Fail),
    );
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
        CaseStatus::Pass => "✅ pass",
        CaseStatus::Fail => "❌ FAIL",
        CaseStatus::Skipped if c.detail.starts_with("excluded") => "➖ excluded",
        CaseStatus::Skipped => "❔ not determined",
        CaseStatus::KnownGap => "⚠️ known gap",
        CaseStatus::KnownDifference => "≠ known design difference",
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
                c.states.map_or(String::new(), markup::grouped),
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
                .filter(|c| c.status != CaseStatus::Pass)
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
            .filter(|c| !c.failed() && c.status != CaseStatus::Pass)
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
                CaseStatus::Pass => out.push_str("/>\n"),
                CaseStatus::KnownGap | CaseStatus::KnownDifference | CaseStatus::Skipped => out
                    .push_str(&format!(
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
