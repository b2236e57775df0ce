//! raftkv: a replicated key-value store on the verified Raft core.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use raftkv::server::client::{parse_endpoint, KvClient};
use raftkv::server::{self, ServerConfig};
use raftkv::transport::{ClusterSecret, SECRET_ENV};

mod args;
mod benchmark;
mod cluster;

use args::*;
use benchmark::*;
use cluster::*;

pub(crate) static SIGNALLED: AtomicBool = AtomicBool::new(false);

pub(crate) extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

pub(crate) fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

pub(crate) fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub(crate) fn real_main() -> Result<()> {
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

pub(crate) fn parse_peers(peers: &[String]) -> Result<Vec<(u64, String)>> {
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

pub(crate) fn serve(a: ServeArgs) -> Result<()> {
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

pub(crate) fn reset_data(dir: &std::path::Path) -> Result<()> {
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
pub(crate) fn cluster_secret(file: Option<&std::path::Path>) -> Result<ClusterSecret> {
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

pub(crate) fn status(endpoints: &[String]) -> Result<()> {
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
