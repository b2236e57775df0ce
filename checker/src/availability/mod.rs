//! `raftcheck availability`: what a single-leader cluster of `n` servers
//! really delivers.
//!
//! A Raft cluster accepts writes only while a *majority* of its servers is up
//! and one of them is leader. This module computes that *quorum availability*
//! exactly, sets it beside the naive "any server up" figure `1 − (1 − a)^n`
//! that sizing write-ups often quote, converts both into downtime per year,
//! and adds the write unavailability caused by leader failovers.
//!
//! The work is split so tests need no binary: [`build_report`] turns the
//! arguments into a [`Report`] (pure, validated), [`render`] turns a report
//! into text or JSON, and [`run`] prints it.

pub mod math;

use std::fmt::Write as _;

use serde::Serialize;

use math::{NodeAvailability, MAX_SERVERS, MINUTES_PER_YEAR};

/// Node availability assumed when neither `--node-availability` nor
/// `--mtbf`/`--mttr` is given: "two nines", about 3.7 days down a year.
pub const DEFAULT_NODE_AVAILABILITY: f64 = 0.99;

/// Cluster sizes tabulated when `--servers` is omitted.
pub const DEFAULT_SERVERS: std::ops::RangeInclusive<u32> = 1..=9;

/// Default election timeout for the failover estimate, in ms: the upper end
/// of the 150–300 ms range the Raft paper recommends.
pub const DEFAULT_ELECTION_TIMEOUT_MS: f64 = 300.0;

/// Default network round trip for the failover estimate, in ms: servers in
/// one datacenter (use ~1–2 ms across zones, 50–150 ms across regions).
pub const DEFAULT_RTT_MS: f64 = 1.0;

mod render;

pub use render::{render, render_json, render_text};

/// Write availability of a single-leader (Raft) cluster of N servers.
///
/// A Raft cluster serves writes only while a MAJORITY of its servers is up
/// (a quorum of ⌊N/2⌋+1) and a leader is elected. With servers that are each
/// up a fraction A of the time, independently, its QUORUM AVAILABILITY is
///
///   P(at least ⌊N/2⌋+1 of N up) = Σ_{k ≥ ⌊N/2⌋+1} C(N,k)·A^k·(1−A)^(N−k)
///
/// which is far below the popular "any server up" figure 1 − (1−A)^N. The
/// report shows both, the downtime per year from losing the quorum, and
/// (given a failure rate) the downtime from leader failovers: each time the
/// leader dies, writes stop until a new leader is elected.
///
/// Example: raftcheck availability --servers 3,5 --mtbf 2376 --mttr 24
/// --failover-ms 450
#[derive(Debug, Clone, Default)]
pub struct AvailabilityOptions {
    /// Cluster sizes to tabulate, e.g. `--servers 5` or `--servers 3,5,7`
    /// [default: 1,2,...,9].
    pub servers: Vec<u32>,

    /// Fraction of time each server is up, in (0, 1], e.g. 0.99 ("two
    /// nines" ≈ 3.7 days down a year). Servers fail independently.
    /// [default: 0.99 when --mtbf/--mttr are not given either]
    pub node_availability: Option<f64>,

    /// Mean time between failures of one server, in hours; with --mttr it
    /// gives A = mtbf/(mtbf+mttr) and the leader-failure rate.
    pub mtbf: Option<f64>,

    /// Mean time to repair (replace, restart, resync) one server, in hours.
    pub mttr: Option<f64>,

    /// Leader failures per year (crashes, restarts, deploys that move the
    /// leader), overriding the rate derived from --mtbf.
    pub leader_failures_per_year: Option<f64>,

    /// Measured failover time in ms: from the leader's failure until writes
    /// are accepted again (e.g. the `raftkv bench --failover` figure).
    /// Without it the failover time is ESTIMATED from the three options below.
    pub failover_ms: Option<f64>,

    /// Estimate: election timeout in ms — how long followers wait without
    /// hearing from the leader before starting an election.
    /// [default: 300, the upper end of the Raft paper's 150–300 ms]
    pub election_timeout_ms: Option<f64>,

    /// Estimate: network round trip between servers in ms; one RequestVote
    /// round elects the new leader. [default: 1, one datacenter]
    pub rtt_ms: Option<f64>,

    /// Estimate: catch-up in ms — the new leader commits an entry of its own
    /// term (and brings followers up to date) before it serves writes.
    /// [default: one round trip, --rtt-ms]
    pub catch_up_ms: Option<f64>,

    /// Report as one JSON document rather than a text table.
    pub json: bool,
}

/// An input the report cannot be computed from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AvailabilityError {
    #[error("--servers must be at least 1 (a cluster of 0 servers has no majority)")]
    ZeroServers,
    #[error("--servers {0} is larger than the supported maximum of {MAX_SERVERS}")]
    TooManyServers(u32),
    #[error("--node-availability must be a fraction in (0, 1], e.g. 0.99 for 99%; got {0}")]
    NodeAvailability(f64),
    #[error("--mtbf must be a positive number of hours; got {0}")]
    Mtbf(f64),
    #[error("--mttr must be a non-negative number of hours; got {0}")]
    Mttr(f64),
    #[error("--mtbf and --mttr must be given together (A = mtbf/(mtbf+mttr))")]
    MtbfWithoutMttr,
    #[error("{option} must be a non-negative, finite number; got {value}")]
    NotNonNegative { option: &'static str, value: f64 },
    #[error(
        "{option} needs a leader-failure rate to turn into downtime per year: \
         pass --mtbf and --mttr, or --leader-failures-per-year"
    )]
    NoFailureRate { option: &'static str },
}

/// Where the per-server availability came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum NodeSource {
    /// `--node-availability`.
    NodeAvailability,
    /// `--mtbf` and `--mttr`.
    MtbfMttr { mtbf_hours: f64, mttr_hours: f64 },
    /// Neither was given; [`DEFAULT_NODE_AVAILABILITY`] was assumed.
    Default,
}

/// The per-server model.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Fraction of time one server is up (A).
    pub availability: f64,
    /// Fraction of time one server is down (1 − A, computed directly).
    pub unavailability: f64,
    #[serde(flatten)]
    pub source: NodeSource,
}

/// Where the leader-failure rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateSource {
    /// `HOURS_PER_YEAR / mtbf` per server, while it leads.
    Mtbf,
    /// `--leader-failures-per-year`.
    LeaderFailuresPerYear,
}

/// How the failover time was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FailoverTime {
    /// `--failover-ms`.
    Measured { ms: f64 },
    /// Election timeout + one election round trip + catch-up.
    Estimated {
        ms: f64,
        election_timeout_ms: f64,
        rtt_ms: f64,
        catch_up_ms: f64,
    },
}

impl FailoverTime {
    /// The failover time in milliseconds.
    pub fn ms(&self) -> f64 {
        match *self {
            FailoverTime::Measured { ms } | FailoverTime::Estimated { ms, .. } => ms,
        }
    }
}

/// The failover model, present when a leader-failure rate is known.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub rate_source: RateSource,
    /// `--leader-failures-per-year`, when given.
    pub leader_failures_per_year: Option<f64>,
    pub time: FailoverTime,
}

/// One cluster size.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub servers: u32,
    /// Servers needed for a majority: ⌊N/2⌋ + 1.
    pub quorum: u32,
    /// Servers that may be down while writes continue: N − quorum.
    pub failures_tolerated: u32,
    /// P(at least `quorum` servers up).
    pub quorum_availability: f64,
    /// P(fewer than `quorum` servers up), summed directly.
    pub quorum_unavailability: f64,
    /// 1 − (1 − A)^N: P(any server up).
    pub naive_availability: f64,
    /// (1 − A)^N.
    pub naive_unavailability: f64,
    /// Minutes per year without a majority.
    pub quorum_loss_minutes_per_year: f64,
    /// −log10(quorum unavailability), summed in log space, so it is exact
    /// even where the unavailability underflows to 0; `null` only when it
    /// is exactly 0.
    pub nines: Option<f64>,
    /// Leader failures per year after which a majority survives (failovers).
    pub failovers_per_year: Option<f64>,
    /// Failovers per year × failover time, in minutes.
    pub failover_minutes_per_year: Option<f64>,
    /// Quorum loss + failovers, in minutes per year.
    pub total_minutes_per_year: f64,
}

/// Everything `raftcheck availability` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line that reproduces this report.
    pub command: String,
    pub node: NodeReport,
    pub failover: Option<FailoverReport>,
    pub rows: Vec<Row>,
}

fn non_negative(
    option: &'static str,
    value: Option<f64>,
) -> Result<Option<f64>, AvailabilityError> {
    match value {
        Some(v) if !(v.is_finite() && v >= 0.0) => {
            Err(AvailabilityError::NotNonNegative { option, value: v })
        }
        other => Ok(other),
    }
}

/// Validates the arguments and computes the report. Never panics.
pub fn build_report(args: &AvailabilityOptions) -> Result<Report, AvailabilityError> {
    let servers: Vec<u32> = if args.servers.is_empty() {
        DEFAULT_SERVERS.collect()
    } else {
        args.servers.clone()
    };
    for &n in &servers {
        if n == 0 {
            return Err(AvailabilityError::ZeroServers);
        }
        if n > MAX_SERVERS {
            return Err(AvailabilityError::TooManyServers(n));
        }
    }

    let (node, source) = match (args.node_availability, args.mtbf, args.mttr) {
        (Some(a), _, _) => (
            NodeAvailability::from_availability(a).ok_or(AvailabilityError::NodeAvailability(a))?,
            NodeSource::NodeAvailability,
        ),
        (None, Some(mtbf), Some(mttr)) => {
            if !(mtbf.is_finite() && mtbf > 0.0) {
                return Err(AvailabilityError::Mtbf(mtbf));
            }
            if !(mttr.is_finite() && mttr >= 0.0) {
                return Err(AvailabilityError::Mttr(mttr));
            }
            (
                NodeAvailability::from_mtbf_mttr(mtbf, mttr)
                    .ok_or(AvailabilityError::Mtbf(mtbf))?,
                NodeSource::MtbfMttr {
                    mtbf_hours: mtbf,
                    mttr_hours: mttr,
                },
            )
        }
        // clap enforces that --mtbf and --mttr come together; a hand-built
        // AvailabilityOptions with only one of them is reported, not guessed.
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(AvailabilityError::MtbfWithoutMttr)
        }
        (None, None, None) => (
            NodeAvailability::from_availability(DEFAULT_NODE_AVAILABILITY).ok_or(
                AvailabilityError::NodeAvailability(DEFAULT_NODE_AVAILABILITY),
            )?,
            NodeSource::Default,
        ),
    };

    let leader_failures =
        non_negative("--leader-failures-per-year", args.leader_failures_per_year)?;
    let failover_ms = non_negative("--failover-ms", args.failover_ms)?;
    let election_timeout_ms = non_negative("--election-timeout-ms", args.election_timeout_ms)?;
    let rtt_ms = non_negative("--rtt-ms", args.rtt_ms)?;
    let catch_up_ms = non_negative("--catch-up-ms", args.catch_up_ms)?;

    let mtbf_hours = match source {
        NodeSource::MtbfMttr { mtbf_hours, .. } => Some(mtbf_hours),
        _ => None,
    };
    let rate_source = match (leader_failures, mtbf_hours) {
        (Some(_), _) => Some(RateSource::LeaderFailuresPerYear),
        (None, Some(_)) => Some(RateSource::Mtbf),
        (None, None) => None,
    };

    let failover = match rate_source {
        None => {
            // Failover options without a rate would be silently ignored.
            let given = [
                ("--failover-ms", failover_ms),
                ("--election-timeout-ms", election_timeout_ms),
                ("--rtt-ms", rtt_ms),
                ("--catch-up-ms", catch_up_ms),
            ];
            if let Some((option, _)) = given.iter().find(|(_, v)| v.is_some()) {
                return Err(AvailabilityError::NoFailureRate { option });
            }
            None
        }
        Some(rate_source) => {
            let time = match failover_ms {
                Some(ms) => FailoverTime::Measured { ms },
                None => {
                    let election_timeout_ms =
                        election_timeout_ms.unwrap_or(DEFAULT_ELECTION_TIMEOUT_MS);
                    let rtt_ms = rtt_ms.unwrap_or(DEFAULT_RTT_MS);
                    let catch_up_ms = catch_up_ms.unwrap_or(rtt_ms);
                    FailoverTime::Estimated {
                        ms: election_timeout_ms + rtt_ms + catch_up_ms,
                        election_timeout_ms,
                        rtt_ms,
                        catch_up_ms,
                    }
                }
            };
            Some(FailoverReport {
                rate_source,
                leader_failures_per_year: leader_failures,
                time,
            })
        }
    };

    let rows = servers
        .iter()
        .map(|&n| {
            let quorum_unavailability = math::quorum_unavailability(n, node);
            let quorum_loss_minutes_per_year = quorum_unavailability * MINUTES_PER_YEAR;
            let failovers_per_year =
                failover
                    .as_ref()
                    .map(|f| match (f.rate_source, leader_failures, mtbf_hours) {
                        (RateSource::LeaderFailuresPerYear, Some(per_year), _) => {
                            per_year * math::failover_fraction(n, node)
                        }
                        (_, _, Some(mtbf)) => math::failovers_per_year_from_mtbf(n, node, mtbf),
                        _ => 0.0,
                    });
            let failover_minutes_per_year = failover
                .as_ref()
                .zip(failovers_per_year)
                .map(|(f, per_year)| per_year * f.time.ms() / 60_000.0);
            Row {
                servers: n,
                quorum: math::quorum_size(n),
                failures_tolerated: math::failures_tolerated(n),
                quorum_availability: math::quorum_availability(n, node),
                quorum_unavailability,
                naive_availability: math::naive_availability(n, node),
                naive_unavailability: math::naive_unavailability(n, node),
                quorum_loss_minutes_per_year,
                nines: math::quorum_nines(n, node),
                failovers_per_year,
                failover_minutes_per_year,
                total_minutes_per_year: quorum_loss_minutes_per_year
                    + failover_minutes_per_year.unwrap_or(0.0),
            }
        })
        .collect();

    Ok(Report {
        command: command_line(args, node, source),
        node: NodeReport {
            availability: node.up(),
            unavailability: node.down(),
            source,
        },
        failover,
        rows,
    })
}

/// The canonical command line reproducing a report; the node availability is
/// always spelled out, even when it was the default.
fn command_line(args: &AvailabilityOptions, node: NodeAvailability, source: NodeSource) -> String {
    let mut cmd = String::from("raftcheck availability");
    if !args.servers.is_empty() {
        let list: Vec<String> = args.servers.iter().map(u32::to_string).collect();
        let _ = write!(cmd, " --servers {}", list.join(","));
    }
    match source {
        NodeSource::MtbfMttr {
            mtbf_hours,
            mttr_hours,
        } => {
            let _ = write!(cmd, " --mtbf {mtbf_hours} --mttr {mttr_hours}");
        }
        NodeSource::NodeAvailability | NodeSource::Default => {
            let _ = write!(cmd, " --node-availability {}", node.up());
        }
    }
    let options = [
        ("--leader-failures-per-year", args.leader_failures_per_year),
        ("--failover-ms", args.failover_ms),
        ("--election-timeout-ms", args.election_timeout_ms),
        ("--rtt-ms", args.rtt_ms),
        ("--catch-up-ms", args.catch_up_ms),
    ];
    for (name, value) in options {
        if let Some(v) = value {
            let _ = write!(cmd, " {name} {v}");
        }
    }
    if args.json {
        cmd.push_str(" --format json");
    }
    cmd
}
