//! Child processes that end when the command that started them ends.
//!
//! `raftkv cluster` and `raftkv bench --failover` start `raftkv serve`
//! nodes. A node left behind keeps its ports and keeps acknowledging
//! writes into a data directory that may be deleted, so every child goes
//! into a [`Supervisor`]: dropping it (normal return, an error, or after a
//! SIGINT/SIGTERM the caller turned into a return) stops every child. On
//! Linux each child also gets `PR_SET_PDEATHSIG(SIGKILL)`, which covers the
//! one exit no destructor sees: the parent itself being killed with SIGKILL.

use std::io;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long [`Supervisor::stop_all`] waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The children one command started; [`Drop`] stops them.
#[derive(Default)]
pub struct Supervisor {
    children: Vec<Child>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Start `cmd` as a child of this supervisor; returns its slot.
    pub fn spawn(&mut self, cmd: &mut Command) -> io::Result<usize> {
        die_with_parent(cmd);
        self.children.push(cmd.spawn()?);
        Ok(self.children.len() - 1)
    }

    /// Start `cmd` in slot `slot` in place of a child that has exited.
    pub fn respawn(&mut self, slot: usize, cmd: &mut Command) -> io::Result<()> {
        die_with_parent(cmd);
        let child = cmd.spawn()?;
        let old = std::mem::replace(&mut self.children[slot], child);
        reap(old);
        Ok(())
    }

    pub fn child_mut(&mut self, slot: usize) -> &mut Child {
        &mut self.children[slot]
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The pids of the children still running.
    pub fn running(&mut self) -> Vec<u32> {
        self.children
            .iter_mut()
            .filter_map(|c| matches!(c.try_wait(), Ok(None)).then(|| c.id()))
            .collect()
    }

    /// SIGTERM every running child, SIGKILL those still running after
    /// `grace`, and reap them all. Returns the pids that needed SIGKILL.
    pub fn stop_all(&mut self, grace: Duration) -> Vec<u32> {
        for c in self.children.iter_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                terminate(c);
            }
        }
        let deadline = Instant::now() + grace;
        let mut killed = Vec::new();
        for c in self.children.iter_mut() {
            loop {
                match c.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        killed.push(c.id());
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    // Exited (or cannot be waited for: nothing left to do).
                    Ok(Some(_)) | Err(_) => break,
                }
            }
        }
        self.children.clear();
        killed
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for pid in self.stop_all(STOP_GRACE) {
            tracing::warn!(pid, "child did not stop on SIGTERM; killed it");
        }
    }
}

/// SIGTERM (a raftkv node shuts down cleanly on it).
fn terminate(c: &Child) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
    // own unreaped child, so it cannot have been reused by another process.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
}

/// Reap a child being replaced (it has exited, or is killed now).
fn reap(mut c: Child) {
    if matches!(c.try_wait(), Ok(None)) {
        let _ = c.kill();
    }
    let _ = c.wait();
}

/// On Linux, have the kernel SIGKILL the child when the thread that spawns
/// it exits (so spawn from a thread that lives as long as the supervisor:
/// the main thread). Elsewhere a no-op: only the destructor stops children.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed. It makes just two raw syscalls,
    // prctl(2) and getppid(2), both async-signal-safe; it allocates
    // nothing, takes no lock and touches no memory shared with the parent
    // (`parent` is a copied integer). On failure it builds an io::Error
    // from an errno code, which does not allocate either.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: the signal will never
            // come, so do not start at all.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    #[test]
    fn dropping_the_supervisor_stops_its_children() {
        let mut s = Supervisor::new();
        s.spawn(Command::new("sleep").arg("60")).unwrap();
        s.spawn(Command::new("sleep").arg("60")).unwrap();
        let pids = s.running();
        assert_eq!(pids.len(), 2);
        drop(s);
        // Reaped, so the pids are gone (not zombies).
        assert!(pids.iter().all(|&p| !alive(p)), "{pids:?}");
    }

    #[test]
    fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
        let mut s = Supervisor::new();
        // SIG_IGN survives exec, so `sleep` ignores SIGTERM too.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; echo ready; exec sleep 60"])
            .stdout(std::process::Stdio::piped());
        s.spawn(&mut cmd).unwrap();
        // Wait until the trap is installed.
        let out = s.child_mut(0).stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert_eq!(line, "ready\n");
        let pid = s.running()[0];
        assert_eq!(s.stop_all(Duration::from_millis(300)), [pid]);
        assert!(!alive(pid));
    }
}
