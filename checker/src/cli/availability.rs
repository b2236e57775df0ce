//! `raftcheck availability`'s arguments.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Parser;

use super::Format;
use crate::availability::AvailabilityOptions;

/// `--format`: the one [`Format`], with this subcommand's own help for each
/// value.
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new([
        PossibleValue::new("text").help("An aligned table with explanations"),
        PossibleValue::new("json").help("One JSON document (the same numbers, unrounded)"),
    ])
    .map(|s| {
        if s == "json" {
            Format::Json
        } else {
            Format::Text
        }
    })
}

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
#[derive(Debug, Clone, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AvailabilityArgs {
    /// Cluster sizes to tabulate, e.g. `--servers 5` or `--servers 3,5,7`
    /// [default: 1,2,...,9].
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub servers: Vec<u32>,

    /// Fraction of time each server is up, in (0, 1], e.g. 0.99 ("two
    /// nines" ≈ 3.7 days down a year). Servers fail independently.
    /// [default: 0.99 when --mtbf/--mttr are not given either]
    #[arg(long, value_name = "A", allow_negative_numbers = true, conflicts_with_all = ["mtbf", "mttr"])]
    pub node_availability: Option<f64>,

    /// Mean time between failures of one server, in hours; with --mttr it
    /// gives A = mtbf/(mtbf+mttr) and the leader-failure rate.
    #[arg(
        long,
        value_name = "HOURS",
        requires = "mttr",
        allow_negative_numbers = true
    )]
    pub mtbf: Option<f64>,

    /// Mean time to repair (replace, restart, resync) one server, in hours.
    #[arg(
        long,
        value_name = "HOURS",
        requires = "mtbf",
        allow_negative_numbers = true
    )]
    pub mttr: Option<f64>,

    /// Leader failures per year (crashes, restarts, deploys that move the
    /// leader), overriding the rate derived from --mtbf.
    #[arg(long, value_name = "PER_YEAR", allow_negative_numbers = true)]
    pub leader_failures_per_year: Option<f64>,

    /// Measured failover time in ms: from the leader's failure until writes
    /// are accepted again (e.g. the `raftkv bench --failover` figure).
    /// Without it the failover time is ESTIMATED from the three options below.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, conflicts_with_all = ["election_timeout_ms", "rtt_ms", "catch_up_ms"])]
    pub failover_ms: Option<f64>,

    /// Estimate: election timeout in ms — how long followers wait without
    /// hearing from the leader before starting an election.
    /// [default: 300, the upper end of the Raft paper's 150–300 ms]
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub election_timeout_ms: Option<f64>,

    /// Estimate: network round trip between servers in ms; one RequestVote
    /// round elects the new leader. [default: 1, one datacenter]
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub rtt_ms: Option<f64>,

    /// Estimate: catch-up in ms — the new leader commits an entry of its own
    /// term (and brings followers up to date) before it serves writes.
    /// [default: one round trip, --rtt-ms]
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub catch_up_ms: Option<f64>,

    /// Output format.
    #[arg(long, value_parser = format_parser(), default_value = "text")]
    pub format: Format,
}

impl AvailabilityArgs {
    pub fn options(&self) -> AvailabilityOptions {
        AvailabilityOptions {
            servers: self.servers.clone(),
            node_availability: self.node_availability,
            mtbf: self.mtbf,
            mttr: self.mttr,
            leader_failures_per_year: self.leader_failures_per_year,
            failover_ms: self.failover_ms,
            election_timeout_ms: self.election_timeout_ms,
            rtt_ms: self.rtt_ms,
            catch_up_ms: self.catch_up_ms,
            json: self.format == Format::Json,
        }
    }
}

/// Parses the arguments of `raftcheck availability` (without the program and
/// subcommand names), as the binary would.
pub fn parse_args<I, T>(args: I) -> Result<AvailabilityOptions, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    #[derive(Parser)]
    #[command(name = "raftcheck availability")]
    struct Cli {
        #[command(flatten)]
        args: AvailabilityArgs,
    }
    let argv = std::iter::once(std::ffi::OsString::from("raftcheck availability"))
        .chain(args.into_iter().map(Into::into));
    Cli::try_parse_from(argv).map(|cli| cli.args.options())
}
