//! `raftkv cluster`: a local cluster of `raftkv serve` processes, supervised.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use raftkv::server::client::KvClient;
use raftkv::supervisor::Supervisor;
use raftkv::transport::{ClusterSecret, SECRET_ENV};

use crate::args::*;
use crate::*;

/// How long `raftkv cluster` waits for every node to answer.
pub(crate) const STARTUP_PATIENCE: Duration = Duration::from_secs(30);
/// How much of a failed node's log `raftkv cluster` shows.
pub(crate) const LOG_TAIL_LINES: usize = 20;

/// Sleep for `d`, waking early on SIGINT/SIGTERM; false if signalled.
pub(crate) fn sleep_unless_signalled(d: Duration) -> bool {
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
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    if tail.is_empty() {
        "(the log is empty)".into()
    } else {
        tail
    }
}

pub(crate) fn cluster(a: ClusterArgs) -> Result<()> {
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
pub(crate) fn supervise_cluster(a: &ClusterArgs, dir: &Path) -> Result<()> {
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
