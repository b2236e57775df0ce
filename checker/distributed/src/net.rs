//! Who the processes are and how they meet: the hosts file, and one TCP
//! connection between each pair of processes, handed to timely.
//!
//! Why not timely's own `create_sockets`: it retries a missing peer forever
//! and reports on stdout, where process 0 prints its report. These sockets
//! are made the same way (each process listens on its own address, dials
//! every process before it and is dialled by every process after it), but
//! with a deadline that names the peers still missing, and with a hello
//! that refuses a peer started with another cluster shape. After that the
//! connections are timely's: `initialize_networking_from_sockets` runs its
//! send and receive threads over them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Cluster, Error};

/// A process's line of the hosts file: `host:port`.
pub fn parse_address(line: &str) -> Result<String, String> {
    let (host, port) = line
        .rsplit_once(':')
        .ok_or_else(|| format!("`{line}` is not host:port"))?;
    if host.is_empty() {
        return Err(format!("`{line}` has no host"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("`{line}`: `{port}` is not a port number"))?;
    Ok(line.to_string())
}

/// The first `processes` addresses of a hosts file: one `host:port` a line,
/// process 0's first (timely's format); blank lines and lines starting with
/// `#` are skipped.
pub fn read_hosts(path: &Path, processes: usize) -> Result<Vec<String>, Error> {
    let bad = |reason: String| Error::Hosts {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.len() < processes {
        return Err(bad(format!(
            "it lists {} address(es), but there are {processes} processes (one host:port a line)",
            lines.len()
        )));
    }
    lines[..processes]
        .iter()
        .map(|(n, l)| parse_address(l).map_err(|e| bad(format!("line {n}: {e}"))))
        .collect()
}

/// What each side of a connection says first: who it is and the shape of
/// the cluster it was started with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Hello {
    process: u64,
    processes: u64,
    workers: u64,
    tag: u64,
}

/// Marks a hello, so that a stray connection is told apart.
const MAGIC: u64 = 0x7261_6674_6368_6b31; // "raftchk1"

impl Hello {
    fn of(cluster: &Cluster, process: usize) -> Hello {
        Hello {
            process: process as u64,
            processes: cluster.processes as u64,
            workers: cluster.workers as u64,
            tag: cluster.tag,
        }
    }

    fn write(&self, s: &mut TcpStream) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(40);
        for v in [MAGIC, self.process, self.processes, self.workers, self.tag] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        s.write_all(&bytes)
    }

    fn read(s: &mut TcpStream) -> std::io::Result<Option<Hello>> {
        let mut bytes = [0u8; 40];
        s.read_exact(&mut bytes)?;
        let word =
            |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Ok((word(0) == MAGIC).then(|| Hello {
            process: word(1),
            processes: word(2),
            workers: word(3),
            tag: word(4),
        }))
    }

    /// Whether a peer's hello agrees with this process's cluster.
    fn check(&self, cluster: &Cluster, address: &str) -> Result<(), Error> {
        if self.processes as usize != cluster.processes || self.workers as usize != cluster.workers
        {
            return Err(Error::Mismatch(format!(
                "process {} at {address} was started with {} processes x {} workers, \
                 this one with {} x {}: start every process with the same \
                 --processes, --workers and hosts file",
                self.process, self.processes, self.workers, cluster.processes, cluster.workers
            )));
        }
        if self.tag != cluster.tag {
            return Err(Error::Mismatch(format!(
                "process {} at {address} explores another model (other bounds or options): \
                 start every process with the same check arguments",
                self.process
            )));
        }
        Ok(())
    }
}

/// One connected stream per other process, in process order (`None` at
/// this process's own index), as timely wants them.
pub fn connect(cluster: &Cluster) -> Result<Vec<Option<TcpStream>>, Error> {
    let me = cluster.process;
    let deadline = Instant::now() + cluster.connect_timeout;
    let own = &cluster.addresses[me];
    let listener = TcpListener::bind(own).map_err(|e| Error::Listen {
        address: own.clone(),
        error: e.to_string(),
    })?;
    listener.set_nonblocking(true).map_err(|e| Error::Listen {
        address: own.clone(),
        error: e.to_string(),
    })?;
    let mut streams: Vec<Option<TcpStream>> = (0..cluster.processes).map(|_| None).collect();
    // Dial the processes before this one while taking calls from those
    // after it: every process listens first, so nobody waits on a dial.
    loop {
        for (peer, stream) in streams.iter_mut().enumerate().take(me) {
            if stream.is_none() {
                *stream = dial(cluster, peer)?;
            }
        }
        while let Some((mut stream, _)) = accept(&listener) {
            if let Some(peer) = answer(cluster, &mut stream)? {
                streams[peer] = Some(stream);
            }
        }
        let missing: Vec<usize> = (0..cluster.processes)
            .filter(|&p| p != me && streams[p].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(streams);
        }
        if Instant::now() >= deadline {
            return Err(Error::PeersMissing {
                process: me,
                waited: cluster.connect_timeout,
                missing: missing
                    .into_iter()
                    .map(|p| format!("process {p} at {}", cluster.addresses[p]))
                    .collect(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    listener.accept().ok()
}

/// Dials process `peer`; `None` if it is not listening yet.
fn dial(cluster: &Cluster, peer: usize) -> Result<Option<TcpStream>, Error> {
    let address = &cluster.addresses[peer];
    let Some(addr) = address.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return Ok(None);
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return Ok(None);
    };
    let io = |e: std::io::Error| Error::Handshake {
        address: address.clone(),
        error: e.to_string(),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    Hello::of(cluster, cluster.process)
        .write(&mut stream)
        .map_err(io)?;
    match Hello::read(&mut stream).map_err(io)? {
        Some(hello) if hello.process as usize == peer => {
            hello.check(cluster, address)?;
            stream.set_read_timeout(None).map_err(io)?;
            stream.set_nodelay(true).map_err(io)?;
            Ok(Some(stream))
        }
        _ => Err(Error::Mismatch(format!(
            "{address} (process {peer} in the hosts file) answered, but not as process {peer} \
             of a raftcheck cluster"
        ))),
    }
}

/// Takes a call: the caller's process index, or `None` for a stray
/// connection (dropped).
fn answer(cluster: &Cluster, stream: &mut TcpStream) -> Result<Option<usize>, Error> {
    let ok = stream.set_nonblocking(false).is_ok()
        && stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .is_ok();
    let hello = match ok.then(|| Hello::read(stream)) {
        Some(Ok(Some(hello))) => hello,
        _ => return Ok(None),
    };
    let peer = hello.process as usize;
    if peer <= cluster.process || peer >= cluster.processes {
        return Ok(None);
    }
    hello.check(cluster, &cluster.addresses[peer])?;
    let io = |e: std::io::Error| Error::Handshake {
        address: cluster.addresses[peer].clone(),
        error: e.to_string(),
    };
    Hello::of(cluster, cluster.process)
        .write(stream)
        .map_err(io)?;
    stream.set_read_timeout(None).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    Ok(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert!(parse_address("127.0.0.1:2101").is_ok());
        assert!(parse_address("node-3.example:9000").is_ok());
        assert!(parse_address("127.0.0.1").is_err());
        assert!(parse_address(":2101").is_err());
        assert!(parse_address("host:http").is_err());
    }

    #[test]
    fn a_hosts_file_needs_a_line_per_process() {
        let dir = std::env::temp_dir().join(format!("raftcheck-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        std::fs::write(&path, "# cluster\n127.0.0.1:2101\n\n127.0.0.1:2102\n").unwrap();
        assert_eq!(read_hosts(&path, 2).unwrap()[1], "127.0.0.1:2102");
        let err = read_hosts(&path, 3).unwrap_err().to_string();
        assert!(
            err.contains("lists 2 address(es), but there are 3"),
            "{err}"
        );
        std::fs::write(&path, "127.0.0.1:2101\nnonsense\n").unwrap();
        let err = read_hosts(&path, 2).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = read_hosts(&dir.join("absent"), 2).unwrap_err().to_string();
        assert!(err.contains("cannot read it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
