//! The availability report as an aligned text table, or as JSON.

use std::fmt::Write as _;

use super::math::{HOURS_PER_YEAR, MINUTES_PER_YEAR};
use super::{
    build_report, AvailabilityError, AvailabilityOptions, FailoverTime, NodeSource, RateSource,
    Report, Row,
};

/// Minutes, readable from thousands down to fractions of a second.
fn minutes(m: f64) -> String {
    if m == 0.0 {
        "0".to_string()
    } else if m >= 0.001 {
        format!("{m:.3}")
    } else {
        format!("{m:.2e}")
    }
}

/// Quorum-loss minutes a year; below `f64`'s range (the unavailability
/// underflowed) they are spelled out from the log-space nines.
fn quorum_loss_minutes(r: &Row) -> String {
    match r.nines {
        Some(nines) if r.quorum_loss_minutes_per_year == 0.0 => {
            let log10 = MINUTES_PER_YEAR.log10() - nines;
            let exponent = log10.floor();
            format!("{:.2}e{exponent}", 10f64.powf(log10 - exponent))
        }
        _ => minutes(r.quorum_loss_minutes_per_year),
    }
}

fn per_year(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else if x >= 0.001 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// Renders a report as an aligned text table with explanations.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let node = &report.node;
    let _ = writeln!(out, "Write availability of a single-leader (Raft) cluster");
    let _ = writeln!(out, "reproduce: {}", report.command);
    let _ = writeln!(out);
    let down_hours = node.unavailability * HOURS_PER_YEAR;
    match node.source {
        NodeSource::NodeAvailability => {
            let _ = writeln!(
                out,
                "node availability A = {} (--node-availability)",
                node.availability
            );
        }
        NodeSource::Default => {
            let _ = writeln!(
                out,
                "node availability A = {} (default; set --node-availability, or --mtbf and --mttr)",
                node.availability
            );
        }
        NodeSource::MtbfMttr {
            mtbf_hours,
            mttr_hours,
        } => {
            let _ = writeln!(
                out,
                "node availability A = mtbf/(mtbf+mttr) = {mtbf_hours} h / ({mtbf_hours} h + {mttr_hours} h) = {:.10}",
                node.availability
            );
        }
    }
    let _ = writeln!(
        out,
        "  each server is down {:.1} hours a year, independently of the others",
        down_hours
    );
    let _ = writeln!(
        out,
        "quorum availability = P(at least a majority of the N servers up)"
    );
    let _ = writeln!(
        out,
        "                    = sum over k >= floor(N/2)+1 of C(N,k) A^k (1-A)^(N-k)"
    );
    let _ = writeln!(
        out,
        "naive (any up)      = 1 - (1-A)^N: what the cluster would deliver if ONE"
    );
    let _ = writeln!(
        out,
        "                      server sufficed; a majority-replicated leader needs more"
    );
    let _ = writeln!(out);

    if let Some(f) = &report.failover {
        match f.rate_source {
            RateSource::Mtbf => {
                let _ = writeln!(
                    out,
                    "leader failures: the leader fails at rate 1/mtbf ({:.3} a year);",
                    match node.source {
                        NodeSource::MtbfMttr { mtbf_hours, .. } => HOURS_PER_YEAR / mtbf_hours,
                        _ => f64::NAN,
                    }
                );
            }
            RateSource::LeaderFailuresPerYear => {
                let _ = writeln!(
                    out,
                    "leader failures: {} a year (--leader-failures-per-year);",
                    f.leader_failures_per_year.unwrap_or(f64::NAN)
                );
            }
        }
        let _ = writeln!(
            out,
            "  failovers/yr counts those after which the other servers still hold a majority"
        );
        let _ = writeln!(
            out,
            "  (the rest are quorum losses, already in quorum-loss min/yr)"
        );
        match f.time {
            FailoverTime::Measured { ms } => {
                let _ = writeln!(out, "failover time: {ms} ms (measured, --failover-ms)");
            }
            FailoverTime::Estimated {
                ms,
                election_timeout_ms,
                rtt_ms,
                catch_up_ms,
            } => {
                let _ = writeln!(
                    out,
                    "failover time: {ms} ms ESTIMATE = election timeout {election_timeout_ms} ms + election round trip {rtt_ms} ms + catch-up {catch_up_ms} ms"
                );
                let _ = writeln!(
                    out,
                    "  (an estimate: measure it with `raftkv bench --failover` and pass --failover-ms)"
                );
            }
        }
        let _ = writeln!(out);
    }

    let mut header = vec![
        "N",
        "quorum",
        "tolerates",
        "quorum avail",
        "naive (any up)",
        "quorum-loss min/yr",
        "nines",
    ];
    if report.failover.is_some() {
        header.extend(["failovers/yr", "failover min/yr", "total min/yr"]);
    }
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in &report.rows {
        let mut cells = vec![
            r.servers.to_string(),
            r.quorum.to_string(),
            r.failures_tolerated.to_string(),
            format!("{:.10}", r.quorum_availability),
            format!("{:.10}", r.naive_availability),
            quorum_loss_minutes(r),
            r.nines
                .map_or_else(|| "inf".to_string(), |n| format!("{n:.2}")),
        ];
        if report.failover.is_some() {
            cells.push(r.failovers_per_year.map_or_else(String::new, per_year));
            cells.push(
                r.failover_minutes_per_year
                    .map_or_else(String::new, minutes),
            );
            cells.push(minutes(r.total_minutes_per_year));
        }
        table.push(cells);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:>w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "notes:");
    let _ = writeln!(
        out,
        "  - quorum avail is the write availability; the naive figure overstates it"
    );
    if report.rows.iter().any(|r| r.servers % 2 == 0) {
        let _ = writeln!(
            out,
            "  - an even N tolerates no more failures than N-1 but has one more server that"
        );
        let _ = writeln!(
            out,
            "    can fail, so its quorum availability is lower: use an odd N"
        );
    }
    let _ = writeln!(
        out,
        "  - a year is 365.25 days; nines = -log10(quorum unavailability)"
    );
    let _ = writeln!(
        out,
        "  - assumes independent failures: a shared rack, power feed, zone or bad deploy"
    );
    let _ = writeln!(
        out,
        "    takes several servers at once and no N helps unless spread apart"
    );
    out
}

/// Renders a report as pretty-printed JSON (the numbers unrounded).
pub fn render_json(report: &Report) -> String {
    // Serializing plain structs of numbers and strings cannot fail; fall back
    // to an error object rather than panicking if it ever does.
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
        + "\n"
}

/// Validates the arguments and renders the report in the requested format.
pub fn render(args: &AvailabilityOptions) -> Result<String, AvailabilityError> {
    let report = build_report(args)?;
    Ok(if args.json {
        render_json(&report)
    } else {
        render_text(&report)
    })
}
