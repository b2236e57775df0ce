//! raftkv: a replicated key-value store on the verified Raft core.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use raftkv::bench::{self, Op, Target};
use raftkv::server::client::{parse_endpoint, KvClient};
use raftkv::server::{self, ServerConfig};
use raftkv::supervisor::Supervisor;
use raftkv::transport::{ClusterSecret, SECRET_ENV};

const DEFAULT_ENDPOINTS: &str = "127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003";

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
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
struct Endpoints {
    /// Client addresses (HOST:PORT) of the cluster's nodes (any of them;
    /// followers redirect to the leader).
    #[arg(long, default_value = DEFAULT_ENDPOINTS, value_delimiter = ',', value_parser = parse_endpoint)]
    endpoints: Vec<String>,
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
struct ServeArgs {
    /// This node's id (one of the ids in --peers).
    #[arg(long)]
    id: u64,
    /// Every node of the cluster, this one included: ID=HOST:PORT of its
    /// peer (Raft) listener, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    peers: Vec<String>,
    /// The node's data directory: its write-ahead log (wal.log) and LOCK.
    /// A missing or empty directory starts a new node. One whose WAL is
    /// missing, empty, cut short or corrupt is refused, since a node that
    /// forgot its vote could vote twice in one term (see `raftkv reset-data
    /// --help`). Only one process may use it at a time.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address to serve the client HTTP API on.
    #[arg(long)]
    client_addr: String,
    #[command(flatten)]
    timing: Timing,
    /// Write every core input and output as NDJSON to this file.
    #[arg(long)]
    trace_file: Option<PathBuf>,
    /// File holding the cluster secret (mode 0600: not readable by group or other
    /// users). Without it, RAFTKV_CLUSTER_SECRET is used; with neither the
    /// node refuses to start.
    #[arg(long, value_name = "PATH")]
    cluster_secret_file: Option<PathBuf>,
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
struct ResetDataArgs {
    /// The node's data directory (its --data-dir).
    dir: PathBuf,
}

#[derive(Args, Clone)]
struct Timing {
    /// Minimum election timeout; each one is drawn from [T, 2T).
    #[arg(long, default_value_t = 300)]
    election_timeout_ms: u64,
    /// Leader heartbeat interval (well below the election timeout).
    #[arg(long, default_value_t = 50)]
    heartbeat_ms: u64,
    /// How long a client request waits for commit before answering 504.
    #[arg(long, default_value_t = 5000)]
    request_timeout_ms: u64,
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
struct ClusterArgs {
    /// Number of nodes (odd numbers make sense: 3 tolerates 1 failure, 5 two).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Keep data here (kept on exit); default: a fresh temporary directory
    /// removed on exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 7001)]
    peer_port_base: u16,
    #[arg(long, default_value_t = 8001)]
    client_port_base: u16,
    #[command(flatten)]
    timing: Timing,
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchTarget {
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
struct BenchArgs {
    #[arg(long, value_enum, default_value = "raftkv")]
    target: BenchTarget,
    #[command(flatten)]
    ep: Endpoints,
    /// Seconds per run (1 to 86400).
    #[arg(long, default_value_t = 10, value_parser = whole_number(1, 86_400))]
    duration: u64,
    /// Connections of each put run (each 1 to 1024).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64", value_parser = whole_number(1, 1024))]
    concurrency: Vec<u64>,
    /// Connections of the linearizable-get run (0 to 1024; 0 skips it).
    #[arg(long, default_value_t = 16, value_parser = whole_number(0, 1024))]
    get_concurrency: u64,
    /// Distinct keys written and read (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = whole_number(1, u64::MAX))]
    keyspace: u64,
    /// Measure leader failover this many times instead (1 to 1000).
    #[arg(long, value_parser = whole_number(1, 1000))]
    failover: Option<u64>,
    /// With --failover on etcd: the members' pids, in --endpoints order
    /// (raftkv nodes report theirs). The killed process is restarted with
    /// its original command line.
    #[arg(long, value_delimiter = ',')]
    pids: Option<Vec<u32>>,
    /// Label for the table (default: the target's name).
    #[arg(long)]
    label: Option<String>,
}

/// A clap value parser: a whole number in `lo..=hi`, or an error saying so.
fn whole_number(lo: u64, hi: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
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

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // No colour codes in log files (`raftkv cluster` writes node logs).
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.cmd {
        Cmd::Serve(a) => serve(a),
        Cmd::Cluster(a) => cluster(a),
        Cmd::ResetData(a) => reset_data(&a.dir),
        Cmd::Status { ep } => status(&ep.endpoints),
        Cmd::Put { key, value, ep } => {
            let v = KvClient::new(ep.endpoints).put(&key, &value)?;
            println!("{v}");
            Ok(())
        }
        Cmd::Get { key, stale, ep } => match KvClient::new(ep.endpoints).get(&key, stale)? {
            Some(v) => {
                println!("{v}");
                Ok(())
            }
            None => bail!("key {key:?} not found"),
        },
        Cmd::Delete { key, ep } => {
            println!("{}", KvClient::new(ep.endpoints).delete(&key)?);
            Ok(())
        }
        Cmd::Cas {
            key,
            expected,
            value,
            ep,
        } => {
            let (ok, v) =
                KvClient::new(ep.endpoints).cas(&key, expected.as_deref(), value.as_deref())?;
            println!("{v}");
            if ok {
                Ok(())
            } else {
                bail!("compare-and-set failed: current value differs")
            }
        }
        Cmd::Bench(a) => run_bench(a),
    }
}

fn parse_peers(peers: &[String]) -> Result<Vec<(u64, String)>> {
    peers
        .iter()
        .map(|p| {
            let (id, addr) = p
                .split_once('=')
                .with_context(|| format!("--peers entry {p:?} is not ID=HOST:PORT"))?;
            let id: u64 = id
                .trim()
                .parse()
                .with_context(|| format!("--peers entry {p:?}: {id:?} is not a node id"))?;
            let addr =
                parse_endpoint(addr).map_err(|e| anyhow::anyhow!("--peers entry {p:?}: {e}"))?;
            Ok((id, addr))
        })
        .collect()
}

fn serve(a: ServeArgs) -> Result<()> {
    install_signal_handlers();
    let shutdown = Arc::new(AtomicBool::new(false));
    {
        let shutdown = shutdown.clone();
        std::thread::spawn(move || loop {
            if SIGNALLED.load(Ordering::SeqCst) {
                shutdown.store(true, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        });
    }
    let cfg = ServerConfig {
        id: a.id,
        peers: parse_peers(&a.peers)?,
        data_dir: a.data_dir,
        client_addr: a.client_addr,
        election_timeout: Duration::from_millis(a.timing.election_timeout_ms),
        heartbeat: Duration::from_millis(a.timing.heartbeat_ms),
        request_timeout: Duration::from_millis(a.timing.request_timeout_ms),
        trace_file: a.trace_file,
        cluster_secret: cluster_secret(a.cluster_secret_file.as_deref())?,
    };
    if cfg.heartbeat >= cfg.election_timeout {
        bail!("--heartbeat-ms must be well below --election-timeout-ms, or followers keep starting elections");
    }
    server::run(cfg, shutdown).context("raftkv node stopped")?;
    Ok(())
}

fn reset_data(dir: &std::path::Path) -> Result<()> {
    let removed = raftkv::storage::reset(dir)
        .with_context(|| format!("resetting data directory {}", dir.display()))?;
    for path in &removed {
        println!("removed {}", path.display());
    }
    println!(
        "{} reset: the next `raftkv serve` on it starts an empty node (term 0, no vote, empty log)",
        dir.display()
    );
    Ok(())
}

/// The cluster secret from `--cluster-secret-file` or the environment.
fn cluster_secret(file: Option<&std::path::Path>) -> Result<ClusterSecret> {
    let env = std::env::var_os(SECRET_ENV);
    let secret = match (file, env) {
        (Some(_), Some(_)) => bail!(
            "both --cluster-secret-file and {SECRET_ENV} are set: give the cluster secret one way"
        ),
        (Some(path), None) => ClusterSecret::from_file(path)?,
        (None, Some(v)) => {
            ClusterSecret::new(v.as_encoded_bytes(), &format!("the {SECRET_ENV} variable"))?
        }
        (None, None) => bail!(
            "no cluster secret: peers must prove they share one. Create it with\n  \
             (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > secret)\n\
             copy it to every node and pass --cluster-secret-file secret \
             (or set {SECRET_ENV}); see `raftkv serve --help`"
        ),
    };
    Ok(secret)
}

fn status(endpoints: &[String]) -> Result<()> {
    println!(
        "{:<22} {:>4} {:<10} {:>6} {:>8} {:>8} {:>8} {:>7} {:>8}",
        "ENDPOINT", "ID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAST", "LEADER", "PID"
    );
    let mut up = 0;
    for ep in endpoints {
        match KvClient::status_of(ep, Duration::from_secs(2)) {
            Ok(s) => {
                up += 1;
                println!(
                    "{:<22} {:>4} {:<10} {:>6} {:>8} {:>8} {:>8} {:>7} {:>8}",
                    ep,
                    s.id,
                    s.role,
                    s.term,
                    s.commit_index,
                    s.applied_index,
                    s.last_log_index,
                    s.leader.map_or("-".into(), |l| l.to_string()),
                    s.pid
                );
            }
            Err(e) => println!("{ep:<22} down ({e})"),
        }
    }
    if up == 0 {
        bail!("no node answered");
    }
    Ok(())
}

/// How long `raftkv cluster` waits for every node to answer.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);
/// How much of a failed node's log `raftkv cluster` shows.
const LOG_TAIL_LINES: usize = 20;

/// Sleep for `d`, waking early on SIGINT/SIGTERM; false if signalled.
fn sleep_unless_signalled(d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if SIGNALLED.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        );
    }
    !SIGNALLED.load(Ordering::SeqCst)
}

/// The last `n` lines of the file at `path`, for an error message.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    if tail.is_empty() {
        "(the log is empty)".into()
    } else {
        tail
    }
}

fn cluster(a: ClusterArgs) -> Result<()> {
    install_signal_handlers();
    if a.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let (dir, temporary) = match a.data_dir.clone() {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("raftkv-cluster-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // The nodes are stopped (the supervisor dropped) by the time this returns.
    let result = supervise_cluster(&a, &dir);
    match (&result, temporary) {
        (Ok(()), true) => {
            std::fs::remove_dir_all(&dir).ok();
        }
        (Err(_), true) => eprintln!("node logs kept in {}", dir.display()),
        _ => {}
    }
    result
}

/// Start the nodes of `raftkv cluster`, wait until each answers, then watch
/// them until SIGINT/SIGTERM; every node stops when this returns.
fn supervise_cluster(a: &ClusterArgs, dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("locating the raftkv binary")?;
    let secret_path = dir.join("cluster-secret");
    if secret_path.exists() {
        ClusterSecret::from_file(&secret_path)?;
    } else {
        ClusterSecret::create_file(&secret_path)?;
    }
    let peers: Vec<String> = (1..=a.nodes)
        .map(|i| format!("{i}=127.0.0.1:{}", a.peer_port_base as u64 + i - 1))
        .collect();
    let clients: Vec<String> = (1..=a.nodes)
        .map(|i| format!("127.0.0.1:{}", a.client_port_base as u64 + i - 1))
        .collect();
    let log_path = |i: u64| dir.join(format!("node-{i}.log"));
    // Node i is in slot i - 1.
    let mut nodes = Supervisor::new();
    for i in 1..=a.nodes {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(i))
            .with_context(|| format!("opening {}", log_path(i).display()))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("serve")
            .args(["--id", &i.to_string()])
            .args(["--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(dir.join(format!("node-{i}")))
            .args(["--client-addr", &clients[i as usize - 1]])
            .arg("--cluster-secret-file")
            .arg(&secret_path)
            .env_remove(SECRET_ENV) // the file is the secret; both would be refused
            .args([
                "--election-timeout-ms",
                &a.timing.election_timeout_ms.to_string(),
            ])
            .args(["--heartbeat-ms", &a.timing.heartbeat_ms.to_string()])
            .args([
                "--request-timeout-ms",
                &a.timing.request_timeout_ms.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        nodes
            .spawn(&mut cmd)
            .with_context(|| format!("starting node {i}"))?;
    }
    // Report success only once every node answers: a node that cannot
    // bind its ports or read its WAL exits at once.
    let deadline = Instant::now() + STARTUP_PATIENCE;
    for i in 1..=a.nodes {
        loop {
            if let Ok(Some(st)) = nodes.child_mut(i as usize - 1).try_wait() {
                bail!(
                    "node {i} exited during startup ({st}); the end of {}:\n{}",
                    log_path(i).display(),
                    log_tail(&log_path(i), LOG_TAIL_LINES)
                );
            }
            if KvClient::status_of(&clients[i as usize - 1], Duration::from_millis(500)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "node {i} did not answer on {} within {STARTUP_PATIENCE:?}; the end of {}:\n{}",
                    clients[i as usize - 1],
                    log_path(i).display(),
                    log_tail(&log_path(i), LOG_TAIL_LINES)
                );
            }
            if !sleep_unless_signalled(Duration::from_millis(50)) {
                bail!("interrupted while the nodes were starting");
            }
        }
    }
    println!(
        "raftkv cluster: {} nodes, data in {}",
        a.nodes,
        dir.display()
    );
    println!("  peer secret: {} (mode 0600)", secret_path.display());
    for i in 1..=a.nodes {
        println!(
            "  node {i}: pid {}, client http://{}, peer {}, log {}",
            nodes.child_mut(i as usize - 1).id(),
            clients[i as usize - 1],
            peers[i as usize - 1],
            log_path(i).display()
        );
    }
    println!("try: raftkv put k v --endpoints {}", clients.join(","));
    println!("Ctrl-C stops the cluster.");
    let mut exited = vec![false; nodes.len()];
    while sleep_unless_signalled(Duration::from_millis(100)) {
        for (n, gone) in exited.iter_mut().enumerate() {
            if !*gone {
                if let Ok(Some(st)) = nodes.child_mut(n).try_wait() {
                    eprintln!("node {} exited ({st}); see its log", n + 1);
                    *gone = true;
                }
            }
        }
        if exited.iter().all(|&g| g) {
            bail!("every node has exited");
        }
    }
    println!("stopping...");
    for pid in nodes.stop_all(raftkv::supervisor::STOP_GRACE) {
        eprintln!("node pid {pid} did not stop on SIGTERM; killed it");
    }
    println!("stopped");
    Ok(())
}

fn run_bench(a: BenchArgs) -> Result<()> {
    install_signal_handlers();
    let target = match a.target {
        BenchTarget::Raftkv => Target::Raftkv,
        BenchTarget::Etcd => Target::Etcd,
    };
    let label = a.label.clone().unwrap_or_else(|| match target {
        Target::Raftkv => "raftkv".into(),
        Target::Etcd => "etcd".into(),
    });
    let mut progress = |line: &str| eprintln!("bench: {line}");
    if let Some(rounds) = a.failover {
        return run_failover(&a, target, &label, rounds, &mut progress);
    }
    progress(&format!(
        "looking for the leader among {}",
        a.ep.endpoints.join(",")
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = loop {
        if let Some(l) = bench::find_leader(target, &a.ep.endpoints) {
            break l;
        }
        if Instant::now() > deadline {
            bail!("no leader found among {:?}", a.ep.endpoints);
        }
        if !sleep_unless_signalled(Duration::from_millis(200)) {
            bail!("interrupted");
        }
    };
    let duration = Duration::from_secs(a.duration);
    let mut runs: Vec<(Op, usize)> = a
        .concurrency
        .iter()
        .map(|&c| (Op::Put, c as usize))
        .collect();
    if a.get_concurrency > 0 {
        runs.push((Op::Get, a.get_concurrency as usize));
    }
    progress(&format!(
        "leader {leader}; {} runs of {} s each",
        runs.len(),
        a.duration
    ));
    println!("| system | load | ops/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (op, c) in runs {
        let r = bench::run(
            target,
            &leader,
            op,
            c,
            duration,
            a.keyspace,
            &SIGNALLED,
            &mut progress,
        );
        if r.interrupted {
            bail!("interrupted");
        }
        println!(
            "| {label} | {}, {c} conn | {:.0} | {:.2} | {:.2} | {} |",
            op.name(),
            r.ops_per_sec(),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
    }
    Ok(())
}

/// `raftkv bench`'s clap command, for argument errors found after parsing.
fn bench_command() -> clap::Command {
    Cli::command()
        .find_subcommand("bench")
        .expect("raftkv has a bench subcommand")
        .clone()
}

/// `raftkv bench --failover ROUNDS`. The nodes it restarts are its
/// children and stop when it returns (normally, by error or signal).
fn run_failover(
    a: &BenchArgs,
    target: Target,
    label: &str,
    rounds: u64,
    progress: bench::Progress,
) -> Result<()> {
    let mut pids = a.pids.clone();
    if let Some(p) = &pids {
        if p.len() != a.ep.endpoints.len() {
            bench_command()
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!(
                        "--pids lists {} pids for {} endpoints: give one per endpoint, in order",
                        p.len(),
                        a.ep.endpoints.len()
                    ),
                )
                .exit();
        }
    } else if target == Target::Etcd {
        bench_command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--target etcd --failover needs --pids (one per endpoint, in order)",
            )
            .exit();
    }
    let mut restarted = Supervisor::new();
    let mut gaps = Vec::new();
    for round in 1..=rounds {
        progress(&format!("failover round {round} of {rounds}"));
        let f = bench::failover(
            target,
            &a.ep.endpoints,
            pids.as_deref(),
            &mut restarted,
            &SIGNALLED,
            progress,
        )
        .map_err(anyhow::Error::msg)?;
        println!(
            "{label} failover round {round}: killed pid {}, gap {} ms, restarted as pid {}",
            f.killed_pid,
            f.gap
                .map_or("none within 30 s".into(), |g| g.as_millis().to_string()),
            f.restarted_pid.map_or("-".into(), |p| p.to_string())
        );
        if let (Some(pids), Some(new)) = (pids.as_mut(), f.restarted_pid) {
            for p in pids.iter_mut().filter(|p| **p == f.killed_pid) {
                *p = new;
            }
        }
        let Some(gap) = f.gap else {
            bail!("no write was acknowledged within 30 s of killing the leader");
        };
        gaps.push(gap.as_millis());
        if round < rounds {
            progress("letting the restarted node rejoin (3 s)");
            if !sleep_unless_signalled(Duration::from_secs(3)) {
                bail!("interrupted");
            }
        }
    }
    gaps.sort_unstable();
    println!(
        "{label} failover gaps (ms): {gaps:?}, median {}",
        gaps[gaps.len() / 2]
    );
    let running = restarted.running();
    if !running.is_empty() {
        progress(&format!(
            "stopping the nodes this bench restarted (pids {running:?})"
        ));
    }
    Ok(())
}
