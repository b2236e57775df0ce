//! `raftkv bench`: closed-loop load against raftkv's API or etcd v3's JSON
//! gateway, and a leader-failover measurement.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::client::KvClient;
use crate::server::http::{percent_encode, HttpClient};
use crate::supervisor::Supervisor;

/// Where a bench reports what it is doing (one line at a time; `raftkv
/// bench` prints them on stderr, keeping stdout for the results).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// How often a run reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Which API to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Raftkv,
    Etcd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
}

/// One run's result.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The run was cut short by `interrupted`.
    pub interrupted: bool,
    pub op: Op,
    pub concurrency: usize,
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl RunResult {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (for etcd's JSON gateway).
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Find the leader's client address.
pub fn find_leader(target: Target, endpoints: &[String]) -> Option<String> {
    for ep in endpoints {
        let mut http = HttpClient::new(ep.clone(), Duration::from_secs(2));
        match target {
            Target::Raftkv => {
                if let Ok(resp) = http.request("GET", "/v1/status", b"") {
                    let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    if let Some(addr) = v["leader_client_addr"].as_str() {
                        return Some(addr.to_string());
                    }
                }
            }
            Target::Etcd => {
                if let Ok(resp) = http.request("POST", "/v3/maintenance/status", b"{}") {
                    let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    let me = v["header"]["member_id"].as_str().map(str::to_string);
                    if me.is_some() && me.as_deref() == v["leader"].as_str() {
                        return Some(ep.clone());
                    }
                }
            }
        }
    }
    None
}

fn key_of(n: u64) -> String {
    format!("{:016x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "linearizable get",
        }
    }
}

/// Run `concurrency` closed-loop workers against `addr` for `duration`
/// (or until `interrupted`), reporting the operations so far every second.
/// `concurrency` and `keyspace` must be at least 1.
#[allow(clippy::too_many_arguments)]
pub fn run(
    target: Target,
    addr: &str,
    op: Op,
    concurrency: usize,
    duration: Duration,
    keyspace: u64,
    interrupted: &AtomicBool,
    progress: Progress,
) -> RunResult {
    assert!(concurrency > 0 && keyspace > 0, "checked by the caller");
    let value = "v".repeat(100);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (addr, value, stop, done) =
                (addr.to_string(), value.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut http = HttpClient::new(addr, Duration::from_secs(10));
                let mut lat = Vec::with_capacity(1 << 16);
                let mut errors = 0u64;
                let mut rng = fastrand::Rng::with_seed(w as u64 + 1);
                while !stop.load(Ordering::Relaxed) {
                    let key = key_of(rng.u64(0..keyspace));
                    let (method, path, body) = match (target, op) {
                        (Target::Raftkv, Op::Put) => (
                            "PUT",
                            format!("/v1/kv/{}", percent_encode(&key)),
                            format!("{{\"value\":\"{value}\"}}"),
                        ),
                        (Target::Raftkv, Op::Get) => (
                            "GET",
                            format!("/v1/kv/{}", percent_encode(&key)),
                            String::new(),
                        ),
                        (Target::Etcd, Op::Put) => (
                            "POST",
                            "/v3/kv/put".to_string(),
                            format!(
                                "{{\"key\":\"{}\",\"value\":\"{}\"}}",
                                base64(key.as_bytes()),
                                base64(value.as_bytes())
                            ),
                        ),
                        (Target::Etcd, Op::Get) => (
                            "POST",
                            "/v3/kv/range".to_string(),
                            format!("{{\"key\":\"{}\"}}", base64(key.as_bytes())),
                        ),
                    };
                    let t = Instant::now();
                    match http.request(method, &path, body.as_bytes()) {
                        Ok(r) if r.status == 200 || (r.status == 404 && op == Op::Get) => {
                            lat.push(t.elapsed().as_micros() as u32);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors += 1;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let what = format!("{}, {concurrency} conn", op.name());
    let mut next_report = PROGRESS_EVERY;
    while start.elapsed() < duration && !interrupted.load(Ordering::Relaxed) {
        if start.elapsed() >= next_report {
            progress(&format!(
                "{what}: {} s of {} s, {} ops",
                next_report.as_secs(),
                duration.as_secs(),
                done.load(Ordering::Relaxed)
            ));
            next_report += PROGRESS_EVERY;
        }
        let left = duration.saturating_sub(start.elapsed());
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (lat, e) = w.join().unwrap_or_default();
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    progress(&format!(
        "{what}: done after {:.1} s, {} ops, {errors} errors",
        elapsed.as_secs_f64(),
        all.len()
    ));
    RunResult {
        interrupted: interrupted.load(Ordering::Relaxed),
        op,
        concurrency,
        ops: all.len() as u64,
        errors,
        elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// One failover round's outcome.
#[derive(Clone, Debug)]
pub struct Failover {
    pub killed_pid: u32,
    /// The pid of the restarted process.
    pub restarted_pid: Option<u32>,
    /// From the kill to the first write acknowledged after it (`None`: none
    /// within 30 s).
    pub gap: Option<Duration>,
}

/// One put for the failover writer, to any node (raftkv followers redirect,
/// etcd followers forward).
fn failover_put(target: Target, http: &mut HttpClient, n: u64) -> bool {
    let key = format!("failover-{n}");
    let r = match target {
        Target::Raftkv => http.request("PUT", &format!("/v1/kv/{key}"), br#"{"value":"x"}"#),
        Target::Etcd => http.request(
            "POST",
            "/v3/kv/put",
            format!(
                "{{\"key\":\"{}\",\"value\":\"eA==\"}}",
                base64(key.as_bytes())
            )
            .as_bytes(),
        ),
    };
    match r {
        Ok(r) if r.status == 200 => true,
        Ok(r) if r.status == 307 => {
            // Follow at once (the writer retries every 10 ms anyway).
            if let Some(addr) = r
                .location
                .as_deref()
                .and_then(|l| l.strip_prefix("http://"))
                .and_then(|l| l.split('/').next())
            {
                http.set_addr(addr.to_string());
            }
            false
        }
        _ => false,
    }
}

/// Kill the leader with SIGKILL under a writer that puts every 10 ms
/// (through the surviving nodes), measure the time from the kill to the
/// first acknowledged write *sent after* it, then restart the killed process
/// with its original command line and working directory, as a child of
/// `supervisor` (so it stops when the bench does). raftkv reports its pid in
/// `/v1/status`; for etcd pass `pids` in endpoint order. Gives up early once
/// `interrupted` is set.
pub fn failover(
    target: Target,
    endpoints: &[String],
    pids: Option<&[u32]>,
    supervisor: &mut Supervisor,
    interrupted: &'static AtomicBool,
    progress: Progress,
) -> Result<Failover, String> {
    // A cluster just started (or a member just restarted) may still be
    // electing: with etcd's 1 s election timeout that takes seconds.
    progress("waiting for a leader");
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some(leader) = find_leader(target, endpoints) {
            break leader;
        }
        if interrupted.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        if Instant::now() > deadline {
            return Err("no leader within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid = match (target, pids) {
        (Target::Raftkv, _) => {
            KvClient::status_of(&leader, Duration::from_secs(2))
                .map_err(|e| e.to_string())?
                .pid
        }
        (Target::Etcd, Some(pids)) => {
            let i = endpoints
                .iter()
                .position(|e| *e == leader)
                .ok_or("leader not among endpoints")?;
            *pids.get(i).ok_or("--pids must list one pid per endpoint")?
        }
        (Target::Etcd, None) => return Err("etcd failover needs --pids (one per endpoint)".into()),
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| e.to_string())?;
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).to_string())
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let others: Vec<String> = endpoints
        .iter()
        .filter(|e| **e != leader)
        .cloned()
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<std::sync::Mutex<Option<Instant>>> = Default::default();
    let writer = {
        let (stop, killed_at) = (stop.clone(), killed_at.clone());
        std::thread::spawn(move || {
            let mut https: Vec<(String, HttpClient)> = others
                .iter()
                .map(|a| {
                    (
                        a.clone(),
                        HttpClient::new(a.clone(), Duration::from_millis(300)),
                    )
                })
                .collect();
            let mut n = 0u64;
            loop {
                if stop.load(Ordering::Relaxed) || interrupted.load(Ordering::Relaxed) {
                    return None;
                }
                n += 1;
                let sent = Instant::now();
                let (home, http) = &mut https[n as usize % others.len().max(1)];
                let ok = failover_put(target, http, n);
                if !ok && http.addr() != home.as_str() {
                    // A redirect may have pointed at the dead leader.
                    http.set_addr(home.clone());
                }
                let now = Instant::now();
                if let Some(k) = *killed_at.lock().expect("lock") {
                    if ok && sent >= k {
                        return Some(now - k);
                    }
                }
                std::thread::sleep(Duration::from_millis(10).saturating_sub(now - sent));
            }
        })
    };
    progress(&format!(
        "leader {leader} (pid {pid}); writing, then killing it with SIGKILL"
    ));
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    // SAFETY: kill(2) on the leader's pid (from its status or the caller).
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    *killed_at.lock().expect("lock") = Some(killed);
    if rc != 0 {
        stop.store(true, Ordering::Relaxed);
        return Err(format!("kill -9 {pid} failed"));
    }
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let gap = writer.join().ok().flatten();
    stop.store(true, Ordering::Relaxed);
    if interrupted.load(Ordering::Relaxed) {
        return Err("interrupted".into());
    }
    progress(&match gap {
        Some(g) => format!(
            "first write acknowledged {} ms after the kill; restarting pid {pid}",
            g.as_millis()
        ),
        None => format!("no write acknowledged within 30 s; restarting pid {pid}"),
    });
    // Bring the killed node back (its data dir is intact).
    let mut restarted_pid = None;
    if let Some((exe, rest)) = args.split_first() {
        let mut cmd = std::process::Command::new(exe);
        cmd.args(rest)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let slot = supervisor
            .spawn(&mut cmd)
            .map_err(|e| format!("restarting {exe}: {e}"))?;
        restarted_pid = Some(supervisor.child_mut(slot).id());
    }
    Ok(Failover {
        killed_pid: pid,
        restarted_pid,
        gap,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
