//! Rule coverage in reports: how many transitions took each rule of the
//! spec and the depth where it first fired, and which rules never fired at
//! the run's bounds (see `raft_spec::coverage` and docs/rules.md).

use raft_spec::coverage::{self, CoverageStatus, RuleCoverage};
use raft_spec::Config;

use crate::markup::grouped;
use raftcheck_engine::RuleCounts;

/// The coverage table of a run, from the engine's counts (`None`: the
/// strategy records no rules).
pub fn from_counts(cfg: &Config, counts: Option<&RuleCounts>) -> Option<Vec<RuleCoverage>> {
    counts.map(|c| coverage::table(cfg, &c.transitions, &c.first_depth))
}

/// The rules that never fired although the bounds allow them.
pub fn uncovered(rows: &[RuleCoverage]) -> impl Iterator<Item = &RuleCoverage> {
    rows.iter()
        .filter(|r| r.status == CoverageStatus::Uncovered)
}

/// One row's outcome in a few words, for reports.
pub fn describe(r: &RuleCoverage) -> String {
    match (r.status, r.first_depth, r.excluded_by) {
        (CoverageStatus::Covered, Some(d), _) => {
            format!("{} transitions, first at depth {d}", grouped(r.transitions))
        }
        (CoverageStatus::Excluded, _, Some(why)) => match why.strip_prefix("variant: ") {
            Some(option) => format!("excluded by the variant: {option}"),
            None => format!("excluded by the bounds: {why}"),
        },
        _ => "never fired at these bounds".to_string(),
    }
}

/// The coverage section of a text report.
pub fn render_text(rows: Option<&[RuleCoverage]>, complete: bool) -> String {
    let Some(rows) = rows else {
        return "rule coverage: not recorded by this strategy (use --strategy bfs)\n".into();
    };
    let mut out = format!(
        "rule coverage{}\n",
        if complete {
            ""
        } else {
            " (so far: the run stopped early)"
        }
    );
    for r in rows {
        let line = match r.status {
            CoverageStatus::Covered => format!(
                "{:>12}  first at depth {}",
                grouped(r.transitions),
                r.first_depth.map_or("-".into(), |d| d.to_string())
            ),
            CoverageStatus::Excluded => format!(
                "{:>12}  excluded: {}",
                "-",
                r.excluded_by.unwrap_or("by the bounds")
            ),
            CoverageStatus::Uncovered => {
                format!("{:>12}  UNCOVERED: never fired at these bounds", 0)
            }
        };
        out.push_str(&format!("  {:<31} {:<27} {line}\n", r.rule, r.tla_operator));
    }
    let missing: Vec<&str> = uncovered(rows).map(|r| r.rule).collect();
    if missing.is_empty() {
        out.push_str("every rule the bounds allow fired\n");
    } else {
        out.push_str(&format!(
            "uncovered ({}): {}: a wrong rule there would go unseen; raise the bounds\n",
            missing.len(),
            missing.join(", ")
        ));
    }
    out
}
