//! raftkv: a replicated key-value store on the verified Raft core.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use raft_impl::bench::{self, Op, Target};
use raft_impl::server::client::KvClient;
use raft_impl::server::{self, ServerConfig};
use raft_impl::transport::{ClusterSecret, SECRET_ENV};

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
    /// Client addresses of the cluster's nodes (any of them; followers
    /// redirect to the leader).
    #[arg(long, default_value = DEFAULT_ENDPOINTS, value_delimiter = ',')]
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
    /// Where the write-ahead log lives (created if missing).
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
    /// File holding the cluster secret (must not be readable by other
    /// users). Without it, RAFTKV_CLUSTER_SECRET is used; with neither the
    /// node refuses to start.
    #[arg(long, value_name = "PATH")]
    cluster_secret_file: Option<PathBuf>,
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
/// (mode 0600; made on first use, reused after).
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
/// acknowledged write sent after it; the killed node is restarted each time.
#[derive(Args)]
struct BenchArgs {
    #[arg(long, value_enum, default_value = "raftkv")]
    target: BenchTarget,
    #[command(flatten)]
    ep: Endpoints,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Concurrency of the linearizable-get run (0 to skip it).
    #[arg(long, default_value_t = 16)]
    get_concurrency: usize,
    /// Distinct keys written and read.
    #[arg(long, default_value_t = 100_000)]
    keyspace: u64,
    /// Measure leader failover this many times instead.
    #[arg(long)]
    failover: Option<usize>,
    /// With --failover on etcd: the members' pids, in --endpoints order
    /// (raftkv nodes report theirs). The killed process is restarted with
    /// its original command line.
    #[arg(long, value_delimiter = ',')]
    pids: Option<Vec<u32>>,
    /// Label for the table (default: the target's name).
    #[arg(long)]
    label: Option<String>,
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
        .init();
    match cli.cmd {
        Cmd::Serve(a) => serve(a),
        Cmd::Cluster(a) => cluster(a),
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
            Ok((id, addr.trim().to_string()))
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

fn cluster(a: ClusterArgs) -> Result<()> {
    install_signal_handlers();
    if a.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let (dir, temporary) = match a.data_dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("raftkv-cluster-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
    let mut children: Vec<(u64, Child)> = Vec::new();
    for i in 1..=a.nodes {
        let log_path = dir.join(format!("node-{i}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(&exe)
            .arg("serve")
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
            .stderr(log)
            .spawn()
            .context("starting a node")?;
        children.push((i, child));
    }
    println!(
        "raftkv cluster: {} nodes, data in {}",
        a.nodes,
        dir.display()
    );
    println!("  peer secret: {} (mode 0600)", secret_path.display());
    for (i, c) in children.iter() {
        println!(
            "  node {i}: pid {}, client http://{}, peer {}, log {}",
            c.id(),
            clients[*i as usize - 1],
            peers[*i as usize - 1],
            dir.join(format!("node-{i}.log")).display()
        );
    }
    println!("try: raftkv put k v --endpoints {}", clients.join(","));
    println!("Ctrl-C stops the cluster.");
    let mut reported = vec![false; children.len()];
    while !SIGNALLED.load(Ordering::SeqCst) {
        for (n, (i, c)) in children.iter_mut().enumerate() {
            if !reported[n] {
                if let Ok(Some(st)) = c.try_wait() {
                    eprintln!("node {i} exited ({st}); see its log");
                    reported[n] = true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopping...");
    for (_, c) in children.iter() {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (i, c) in children.iter_mut() {
        loop {
            match c.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    eprintln!("node {i} did not stop; killing it");
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    if temporary {
        std::fs::remove_dir_all(&dir).ok();
    }
    println!("stopped");
    Ok(())
}

fn run_bench(a: BenchArgs) -> Result<()> {
    let target = match a.target {
        BenchTarget::Raftkv => Target::Raftkv,
        BenchTarget::Etcd => Target::Etcd,
    };
    let label = a.label.unwrap_or_else(|| match target {
        Target::Raftkv => "raftkv".into(),
        Target::Etcd => "etcd".into(),
    });
    if let Some(rounds) = a.failover {
        let mut gaps = Vec::new();
        let mut pids = a.pids.clone();
        for round in 1..=rounds {
            let f = bench::failover(target, &a.ep.endpoints, pids.as_deref())
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
            std::thread::sleep(Duration::from_secs(3)); // let the node rejoin
        }
        gaps.sort_unstable();
        println!(
            "{label} failover gaps (ms): {gaps:?}, median {}",
            gaps[gaps.len() / 2]
        );
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = loop {
        if let Some(l) = bench::find_leader(target, &a.ep.endpoints) {
            break l;
        }
        if Instant::now() > deadline {
            bail!("no leader found among {:?}", a.ep.endpoints);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let duration = Duration::from_secs(a.duration);
    let mut runs: Vec<(Op, usize)> = a.concurrency.iter().map(|&c| (Op::Put, c)).collect();
    if a.get_concurrency > 0 {
        runs.push((Op::Get, a.get_concurrency));
    }
    println!("| system | load | ops/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (op, c) in runs {
        let r = bench::run(target, &leader, op, c, duration, a.keyspace);
        let what = match op {
            Op::Put => "put",
            Op::Get => "linearizable get",
        };
        println!(
            "| {label} | {what}, {c} conn | {:.0} | {:.2} | {:.2} | {} |",
            r.ops_per_sec(),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
    }
    Ok(())
}
