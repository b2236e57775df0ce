//! The `raftkv` command line as a user runs it: real processes on
//! 127.0.0.1. Bad arguments are refused up front, clients without a
//! cluster fail fast, `raftkv cluster` reports nodes that cannot start, and
//! every process a command starts ends when the command ends.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{free_port, free_ports, wait_until, Cluster};

fn raftkv() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
    cmd.env("RUST_LOG", "info").stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    raftkv().args(args).output().unwrap()
}

/// Endpoints where nothing listens.
fn dead_endpoints(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect()
}

/// Is `pid` a live process (not gone, not a zombie awaiting its reaper)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own unreaped child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// Wait up to `limit` for `child` to exit; kill it and panic if it does not.
fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A command under test, SIGKILLed if a failed assertion leaves it running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILL whichever of `pids` still run, then panic if any did.
fn assert_all_gone(pids: &[u32], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    for &p in &left {
        // SAFETY: kill(2); cleaning up a process the command under test leaked.
        unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "{what}: pids {left:?} outlived it");
}

/// The pids in "restarted as pid N" lines.
fn restarted_pids(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .filter_map(|l| l.rsplit_once("restarted as pid ")?.1.trim().parse().ok())
        .collect()
}

#[test]
fn impossible_arguments_are_refused_up_front_with_the_valid_range() {
    let dead = dead_endpoints(1).join(",");
    let cases: &[(&[&str], &str)] = &[
        (&["bench", "--keyspace", "0"], "--keyspace"),
        (
            &["bench", "--concurrency", "0", "--duration", "0"],
            "--concurrency",
        ),
        (&["bench", "--concurrency", "4,0"], "--concurrency"),
        (&["bench", "--duration", "0"], "--duration"),
        (&["bench", "--get-concurrency", "5000"], "--get-concurrency"),
        (&["bench", "--failover", "0"], "--failover"),
        (&["bench", "--keyspace", "many"], "--keyspace"),
        (&["bench", "--target", "etcd", "--failover", "1"], "--pids"),
        (&["bench", "--failover", "1", "--pids", "1,2"], "--pids"),
    ];
    for (args, flag) in cases {
        let out = run(&[args, &["--endpoints", &dead][..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(
            stderr.contains("must be") || stderr.contains("needs") || stderr.contains("one per"),
            "{args:?}: no valid range in {stderr}"
        );
    }
    for bad in [
        "nonsense",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:99999",
        "http://127.0.0.1:8001",
        ":8001",
    ] {
        for cmd in [
            &["put", "k", "v"][..],
            &["get", "k"],
            &["status"],
            &["bench"],
        ] {
            let out = run(&[cmd, &["--endpoints", &format!("{dead},{bad}")][..]].concat());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {bad}: {stderr}");
            assert!(
                stderr.contains(bad) && stderr.contains("--endpoints"),
                "{stderr}"
            );
        }
    }
}

/// A peer address is checked like a client endpoint, before the node starts.
#[test]
fn a_bad_peer_address_is_refused_before_the_node_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "serve",
        "--id",
        "1",
        "--peers",
        "1=nonsense",
        "--client-addr",
        "127.0.0.1:1",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--peers entry") && stderr.contains("nonsense"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written to the data directory"
    );
}

#[test]
fn clients_without_a_cluster_fail_fast_naming_the_endpoints_tried() {
    let dead = dead_endpoints(2);
    for cmd in [&["put", "k", "v"][..], &["get", "k"], &["delete", "k"]] {
        let out = run(&[cmd, &["--endpoints", &dead.join(",")][..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("connection refused by every endpoint"),
            "{stderr}"
        );
        assert!(dead.iter().all(|e| stderr.contains(e.as_str())), "{stderr}");
    }
}

#[test]
fn a_cluster_whose_node_cannot_start_exits_with_its_log() {
    // Node 1's client port is taken.
    let taken = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let client_port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut child = raftkv()
        .args([
            "cluster",
            "--nodes",
            "1",
            "--client-port-base",
            &client_port,
        ])
        .args(["--peer-port-base", &free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20), "raftkv cluster");
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("try:"), "{stdout}");
    assert!(stderr.contains("node 1 exited during startup"), "{stderr}");
    // The node's own last words, without colour codes.
    assert!(
        stderr.contains(&format!("127.0.0.1:{client_port}")),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

/// Start `raftkv cluster --nodes 3` in `dir`; returns it and the client
/// endpoints, once it has printed that it runs.
fn start_cluster(dir: &std::path::Path) -> (Running, Vec<String>) {
    let (peer, client) = (free_ports(3), free_ports(3));
    let mut child = raftkv()
        .args(["cluster", "--nodes", "3"])
        .args(["--peer-port-base", &peer.to_string()])
        .args(["--client-port-base", &client.to_string()])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(line) if line.as_ref().unwrap().starts_with("Ctrl-C") => break,
            Some(_) => {}
            None => panic!("raftkv cluster exited: {:?}", child.wait()),
        }
    }
    // Keep reading, so that its last lines do not hit a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let endpoints = (client..client + 3)
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    (Running(child), endpoints)
}

#[test]
fn a_cluster_and_the_nodes_a_failover_bench_restarted_all_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, endpoints) = start_cluster(dir.path());
    let status =
        |e: &String| raftkv::server::client::KvClient::status_of(e, Duration::from_secs(2));
    let mut pids = Vec::new();
    wait_until(
        Duration::from_secs(20),
        || {
            pids = endpoints
                .iter()
                .filter_map(|e| status(e).ok())
                .map(|s| s.pid)
                .collect();
            pids.len() == endpoints.len()
        },
        || "not every node answers".into(),
    );
    let bench = raftkv()
        .args([
            "bench",
            "--failover",
            "1",
            "--endpoints",
            &endpoints.join(","),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&bench.stdout);
    assert!(
        bench.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let restarted = restarted_pids(&stdout);
    assert_eq!(restarted.len(), 1, "{stdout}");
    // The node the bench restarted ended with it.
    assert_all_gone(&restarted, "raftkv bench --failover");
    signal(&cluster.0, libc::SIGINT);
    let status = wait_exit(
        &mut cluster.0,
        Duration::from_secs(20),
        "raftkv cluster after SIGINT",
    );
    assert!(status.success(), "{status}");
    assert_all_gone(&pids, "raftkv cluster");
    for e in &endpoints {
        assert!(TcpListener::bind(e.as_str()).is_ok(), "{e} still in use");
    }
    // Node logs went to files: no colour codes there.
    let log = std::fs::read_to_string(dir.path().join("node-1.log")).unwrap();
    assert!(log.contains("INFO") && !log.contains('\x1b'), "{log:?}");
}

/// Interrupt `raftkv bench --failover 2` with `sig` once it has restarted a
/// node; that node must not outlive it.
fn interrupt_failover_bench(sig: libc::c_int) {
    let c = Cluster::start(3);
    c.leader();
    let mut bench = raftkv()
        .args([
            "bench",
            "--failover",
            "2",
            "--endpoints",
            &c.clients.join(","),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(bench.stdout.take().unwrap()).lines();
    let mut bench = Running(bench);
    let restarted = loop {
        let Some(line) = lines.next() else {
            let mut err = String::new();
            bench
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("bench ended before restarting a node: {err}");
        };
        let pids = restarted_pids(&line.unwrap());
        if !pids.is_empty() {
            break pids;
        }
    };
    assert!(restarted.iter().all(|&p| alive(p)), "{restarted:?}");
    signal(&bench.0, sig);
    let status = wait_exit(
        &mut bench.0,
        Duration::from_secs(20),
        "bench after the signal",
    );
    assert!(!status.success(), "{status}");
    assert_all_gone(&restarted, "raftkv bench --failover");
    // The rest of the cluster still serves.
    wait_until(
        Duration::from_secs(20),
        || c.client().put("after", "bench").is_ok(),
        || "no write after the bench".into(),
    );
}

#[test]
fn sigint_to_a_failover_bench_stops_the_nodes_it_restarted() {
    interrupt_failover_bench(libc::SIGINT);
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_to_a_failover_bench_stops_the_nodes_it_restarted() {
    interrupt_failover_bench(libc::SIGKILL);
}

#[test]
fn bench_reports_progress_on_stderr_and_results_on_stdout() {
    let c = Cluster::start(3);
    c.leader();
    let out = run(&[
        "bench",
        "--duration",
        "3",
        "--concurrency",
        "2",
        "--get-concurrency",
        "1",
        "--keyspace",
        "10",
        "--endpoints",
        &c.clients.join(","),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    assert!(rows.iter().all(|r| r.starts_with('|')), "{stdout}");
    assert!(rows[2].starts_with("| raftkv | put, 2 conn |"), "{stdout}");
    assert!(
        rows[3].starts_with("| raftkv | linearizable get, 1 conn |"),
        "{stdout}"
    );
    assert!(stderr.contains("bench: looking for the leader"), "{stderr}");
    for run in ["put, 2 conn", "linearizable get, 1 conn"] {
        // At least one report while running (the runs last 3 s) ...
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("bench: {run}: ")) && l.contains(" s of 3 s, ")),
            "{run}: {stderr}"
        );
        // ... and a last one, with the operations done.
        let done = stderr
            .lines()
            .find_map(|l| l.strip_prefix(&format!("bench: {run}: done after ")))
            .unwrap_or_else(|| panic!("{run}: {stderr}"));
        let ops: u64 = done
            .split(", ")
            .nth(1)
            .and_then(|o| o.strip_suffix(" ops"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(ops > 0, "{run}: {done}");
    }
}
