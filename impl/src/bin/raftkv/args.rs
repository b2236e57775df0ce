//! raftkv's command line: every clap type.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use raftkv::server::client::parse_endpoint;

pub(crate) const DEFAULT_ENDPOINTS: &str = "127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003";

/// A replicated key-value store on a model-checked Raft core.
///
/// Start a local 3-node cluster, write, read and watch it:
///
///   raftkv cluster --nodes 3            # Ctrl-C stops it
///   raftkv put greeting hello
///   raftkv get greeting
///   raftkv status
///
/// Or run nodes yourself, one `raftkv serve` per node (see `raftkv serve --help`).
#[derive(Parser)]
#[command(name = "raftkv", version, verbatim_doc_comment)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    Serve(ServeArgs),
    Cluster(ClusterArgs),
    ResetData(ResetDataArgs),
    /// Show each node's role, term, commit and applied index.
    Status {
        #[command(flatten)]
        ep: Endpoints,
    },
    /// Write KEY=VALUE (acknowledged once committed and applied).
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        ep: Endpoints,
    },
    /// Read KEY: linearizable (through the leader's log) unless --stale.
    Get {
        key: String,
        /// Read whichever node answers first, locally: fast but maybe stale.
        #[arg(long)]
        stale: bool,
        #[command(flatten)]
        ep: Endpoints,
    },
    /// Delete KEY.
    Delete {
        key: String,
        #[command(flatten)]
        ep: Endpoints,
    },
    /// Compare-and-set: set KEY to --value only if it currently equals
    /// --expected (omit --expected for "absent"; omit --value to delete).
    Cas {
        key: String,
        #[arg(long)]
        expected: Option<String>,
        #[arg(long)]
        value: Option<String>,
        #[command(flatten)]
        ep: Endpoints,
    },
    Bench(BenchArgs),
}

#[derive(Args)]
pub(crate) struct Endpoints {
    /// Client addresses (HOST:PORT) of the cluster's nodes (any of them;
    /// followers redirect to the leader).
    #[arg(long, default_value = DEFAULT_ENDPOINTS, value_delimiter = ',', value_parser = parse_endpoint)]
    pub(crate) endpoints: Vec<String>,
}

/// Run one node of a cluster.
///
/// Example, node 1 of 3 (run the same with --id 2 / --id 3 and their own
/// --client-addr and --data-dir):
///
///   raftkv serve --id 1 \
///     --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 \
///     --client-addr 127.0.0.1:8001 --data-dir /var/lib/raftkv/1 \
///     --cluster-secret-file /etc/raftkv/cluster-secret
///
/// Client API (HTTP + JSON): GET /v1/status; GET|PUT|DELETE /v1/kv/KEY
/// (PUT body {"value": "..."}; GET ?stale=true for a local read);
/// POST /v1/cas/KEY with {"expected": ..., "value": ...}. Followers answer
/// 307 with the leader's address. Writes (PUT, DELETE, CAS) sent with the
/// headers Raftkv-Client-Id: U64 (random per client) and Raftkv-Seq: U64
/// (one more per write) are applied at most once: resending the same pair
/// after a lost answer returns the first result. Logs go to stderr
/// (RUST_LOG=debug for more).
///
/// Peer authentication: every node of a cluster needs the same cluster
/// secret, from --cluster-secret-file or the RAFTKV_CLUSTER_SECRET variable
/// (at least 16 bytes; surrounding whitespace is ignored). Create one with
///
///   (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > secret)
///
/// and copy it to every node (`raftkv cluster` makes its own). A peer
/// connection starts with a mutual HMAC-SHA256 challenge-response on fresh
/// nonces, and every message frame after it carries a MAC, so a process
/// without the secret cannot join, pose as a peer or inject a message.
/// Traffic is NOT encrypted: anyone on the path can read it. The client
/// HTTP API is not authenticated.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ServeArgs {
    /// This node's id (one of the ids in --peers).
    #[arg(long)]
    pub(crate) id: u64,
    /// Every node of the cluster, this one included: ID=HOST:PORT of its
    /// peer (Raft) listener, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) peers: Vec<String>,
    /// The node's data directory: its write-ahead log (wal.log) and LOCK.
    /// A missing or empty directory starts a new node. One whose WAL is
    /// missing, empty, cut short or corrupt is refused, since a node that
    /// forgot its vote could vote twice in one term (see `raftkv reset-data
    /// --help`). Only one process may use it at a time.
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// Address to serve the client HTTP API on.
    #[arg(long)]
    pub(crate) client_addr: String,
    #[command(flatten)]
    pub(crate) timing: Timing,
    /// Write every core input and output as NDJSON to this file.
    #[arg(long)]
    pub(crate) trace_file: Option<PathBuf>,
    /// File holding the cluster secret (mode 0600: not readable by group or other
    /// users). Without it, RAFTKV_CLUSTER_SECRET is used; with neither the
    /// node refuses to start.
    #[arg(long, value_name = "PATH")]
    pub(crate) cluster_secret_file: Option<PathBuf>,
}

/// Discard a node's term, vote and log, so that it next starts empty (risky).
///
/// `raftkv serve` refuses a data directory whose WAL is missing, empty, cut
/// short or corrupt, rather than silently starting over. This command is the
/// explicit way to start over: it deletes DIR/wal.log (copy it first if you
/// want to inspect it) and clears DIR/LOCK. It refuses while a node uses DIR.
///
/// What it risks: the node forgets whom it voted for, so it can vote a
/// second time in a term it already voted in, and two leaders may be elected
/// in that term. It also forgets the entries it stored: a write acknowledged
/// by a majority that included this node may then be held by a minority
/// only, and be overwritten. Prefer restoring DIR from a backup. If you must
/// reset, reset one node at a time, and only while the other nodes form a
/// healthy majority with a leader. The reset node catches up from the next
/// leader: the current one still counts it as holding what it acknowledged.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ResetDataArgs {
    /// The node's data directory (its --data-dir).
    pub(crate) dir: PathBuf,
}

#[derive(Args, Clone)]
pub(crate) struct Timing {
    /// Minimum election timeout; each one is drawn from [T, 2T).
    #[arg(long, default_value_t = 300)]
    pub(crate) election_timeout_ms: u64,
    /// Leader heartbeat interval (well below the election timeout).
    #[arg(long, default_value_t = 50)]
    pub(crate) heartbeat_ms: u64,
    /// How long a client request waits for commit before answering 504.
    #[arg(long, default_value_t = 5000)]
    pub(crate) request_timeout_ms: u64,
}

/// Start a local cluster on 127.0.0.1 (one child process per node) and
/// keep it running until Ctrl-C.
///
/// Node i listens for peers on --peer-port-base + i - 1 and for clients on
/// --client-port-base + i - 1. Each node logs to DATA_DIR/node-i.log. The
/// nodes share a random cluster secret kept in DATA_DIR/cluster-secret
/// (mode 0600; made on first use, reused after). If a node exits before it
/// answers, or every node has exited, this exits 1 (with the end of the
/// failed node's log); the nodes stop with it.
#[derive(Args)]
pub(crate) struct ClusterArgs {
    /// Number of nodes (odd numbers make sense: 3 tolerates 1 failure, 5 two).
    #[arg(long, default_value_t = 3)]
    pub(crate) nodes: u64,
    /// Keep data here (kept on exit); default: a fresh temporary directory
    /// removed on exit.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 7001)]
    pub(crate) peer_port_base: u16,
    #[arg(long, default_value_t = 8001)]
    pub(crate) client_port_base: u16,
    #[command(flatten)]
    pub(crate) timing: Timing,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum BenchTarget {
    Raftkv,
    Etcd,
}

/// Measure throughput and latency: puts (16-byte keys, 100-byte values) at
/// each --concurrency, then linearizable gets at --get-concurrency, each for
/// --duration seconds, sent to the leader. `--target etcd` speaks etcd v3's
/// JSON gateway (POST /v3/kv/put, /v3/kv/range). `--failover N` instead
/// kills the leader with SIGKILL N times under a writer (one put every 10 ms
/// through the other nodes) and reports the gap from the kill to the first
/// acknowledged write sent after it; the killed node is restarted each time,
/// as a child of the bench: it stops when the bench ends (so restart the
/// cluster afterwards). Progress goes to stderr, results to stdout.
#[derive(Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum, default_value = "raftkv")]
    pub(crate) target: BenchTarget,
    #[command(flatten)]
    pub(crate) ep: Endpoints,
    /// Seconds per run (1 to 86400).
    #[arg(long, default_value_t = 10, value_parser = whole_number(1, 86_400))]
    pub(crate) duration: u64,
    /// Connections of each put run (each 1 to 1024).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64", value_parser = whole_number(1, 1024))]
    pub(crate) concurrency: Vec<u64>,
    /// Connections of the linearizable-get run (0 to 1024; 0 skips it).
    #[arg(long, default_value_t = 16, value_parser = whole_number(0, 1024))]
    pub(crate) get_concurrency: u64,
    /// Distinct keys written and read (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = whole_number(1, u64::MAX))]
    pub(crate) keyspace: u64,
    /// Measure leader failover this many times instead (1 to 1000).
    #[arg(long, value_parser = whole_number(1, 1000))]
    pub(crate) failover: Option<u64>,
    /// With --failover on etcd: the members' pids, in --endpoints order
    /// (raftkv nodes report theirs). The killed process is restarted with
    /// its original command line.
    #[arg(long, value_delimiter = ',')]
    pub(crate) pids: Option<Vec<u32>>,
    /// Label for the table (default: the target's name).
    #[arg(long)]
    pub(crate) label: Option<String>,
}

/// A clap value parser: a whole number in `lo..=hi`, or an error saying so.
pub(crate) fn whole_number(lo: u64, hi: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |s| {
        let valid = match hi {
            u64::MAX => format!("at least {lo}"),
            _ => format!("{lo} to {hi}"),
        };
        match s.trim().parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            Ok(n) => Err(format!("{n} is out of range: must be {valid}")),
            Err(_) => Err(format!("{s:?} is not a whole number (must be {valid})")),
        }
    }
}
