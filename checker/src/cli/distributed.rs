//! `raftcheck check --distributed`'s arguments: the cluster, from a hosts
//! file or spawned on loopback, and the local processes' supervision.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context};
use raftcheck_distributed::Cluster;

use super::bounds::parse_threads;

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Distributed exploration")]
pub struct DistributedArgs {
    /// Explore across worker threads and processes on timely dataflow:
    /// each state belongs to one worker (by fingerprint), which records,
    /// checks and expands it; successors travel to their owners, level by
    /// level, so the counts, verdicts and depths are the single-process
    /// engine's. On one machine: `--distributed --processes 2` starts both
    /// processes itself, on loopback. Across hosts: write a hosts file
    /// (one host:port a line, process 0's first), copy it and this binary
    /// to every host, and start process I on its host with `raftcheck
    /// check ARGS --distributed --processes N --process I --hosts FILE`
    /// (the same ARGS everywhere). Process 0 prints the report; the others
    /// print only errors.
    #[arg(long)]
    pub distributed: bool,
    /// Worker threads in each process (default 1).
    #[arg(long, value_parser = parse_threads, requires = "distributed")]
    pub workers: Option<usize>,
    /// Processes in the computation (default 1). Without --process, this
    /// command starts them all on this machine, on free loopback ports.
    #[arg(long, value_parser = parse_threads, requires = "distributed")]
    pub processes: Option<usize>,
    /// This process's index, 0 to N-1, in a computation whose processes
    /// were started one by one (on several hosts, say); needs --hosts.
    #[arg(long, value_name = "I", requires_all = ["distributed", "hosts"])]
    pub process: Option<usize>,
    /// Each process's address, one host:port a line in process order
    /// (timely's hosts file). Every process listens on its own line's port
    /// and connects to the others'.
    #[arg(long, value_name = "FILE", requires = "process")]
    pub hosts: Option<PathBuf>,
    /// Seconds to wait for every process to connect before giving up,
    /// naming the ones missing.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        requires = "distributed"
    )]
    pub connect_timeout: u64,
}

/// Set in the processes `--processes N` starts: the command as typed, for
/// their report's "reproduce:" line.
pub const COMMAND_ENV: &str = "RAFTCHECK_DISTRIBUTED_COMMAND";

/// What `--distributed` asks of this process.
pub enum Plan {
    /// Run this process's part of the computation.
    Join(Cluster),
    /// Start every process here, on loopback, and wait for them.
    Spawn { processes: usize },
}

impl DistributedArgs {
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let processes = self.processes.unwrap_or(1);
        let mut cluster = Cluster::local(self.workers.unwrap_or(1));
        cluster.processes = processes;
        cluster.connect_timeout = Duration::from_secs(self.connect_timeout);
        match (self.process, &self.hosts) {
            (None, _) if processes > 1 => return Ok(Plan::Spawn { processes }),
            (None, _) => {}
            (Some(process), hosts) => {
                cluster.process = process;
                if process >= processes {
                    return Err(anyhow!(
                        "--process {process} is out of range: with --processes {processes} \
                         it must be 0 to {}",
                        processes - 1
                    ));
                }
                if let Some(path) = hosts {
                    cluster.addresses = raftcheck_distributed::read_hosts(path, processes)?;
                }
            }
        }
        cluster.validate()?;
        Ok(Plan::Join(cluster))
    }
}

/// Starts `processes` copies of this command on free loopback ports, each
/// told its index and the hosts file; process 0's output is this
/// command's. If any other process fails, the rest are stopped.
pub fn spawn_local(processes: usize) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot make a directory for the hosts file")?;
    let hosts = dir.path().join("hosts");
    let mut lines = String::new();
    for _ in 0..processes {
        // A port the kernel just handed out: free, unless another program
        // takes it before the child binds it (then the run fails and says so).
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("cannot find a free loopback port")?;
        lines.push_str(&format!("{}\n", listener.local_addr()?));
    }
    std::fs::write(&hosts, lines).context("cannot write the hosts file")?;
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut children: Vec<Option<Child>> = Vec::new();
    for i in 0..processes {
        let child = Command::new(&exe)
            .args(&args)
            .args(["--process", &i.to_string(), "--hosts"])
            .arg(&hosts)
            .env(COMMAND_ENV, super::command_line())
            .stdin(Stdio::null())
            .stdout(if i == 0 {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .with_context(|| format!("cannot start process {i} ({})", exe.display()));
        match child {
            Ok(c) => children.push(Some(c)),
            Err(e) => {
                stop(&mut children);
                return Err(e);
            }
        }
    }
    let mut code = None;
    while children.iter().any(Option::is_some) {
        for i in 0..processes {
            let Some(child) = &mut children[i] else {
                continue;
            };
            let Some(status) = child.try_wait()? else {
                continue;
            };
            children[i] = None;
            if i == 0 {
                code = status.code();
            } else if !status.success() {
                stop(&mut children);
                return Err(anyhow!(
                    "process {i} of {processes} failed ({status}); the others were stopped"
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match code {
        Some(code) => Ok(ExitCode::from(code as u8)),
        None => Err(anyhow!("process 0 was killed before it reported")),
    }
}

/// Stops the children still running (this command's own, by handle).
fn stop(children: &mut [Option<Child>]) {
    for child in children.iter_mut().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
