//! A fault-injecting TCP proxy for one directed link between two raftkv
//! peers: it listens on 127.0.0.1 (an ephemeral port) and forwards every
//! accepted connection to a target address.
//!
//! At runtime a test can [`Proxy::partition`] the link (every live
//! connection is closed; new ones are accepted but black-holed: their bytes
//! are read and dropped, nothing reaches the target, as on a real network
//! partition where the sender cannot tell), [`Proxy::heal`] it (black-holed
//! connections are closed so the dialer reconnects through a working link)
//! and [`Proxy::set_delay`] every forwarded chunk.
//!
//! Threads and std sockets only: one accept thread, two pump threads per
//! forwarded connection, one drain thread per black-holed one.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One proxied link. Dropping it closes the listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    target: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    partitioned: bool,
    closed: bool,
    delay: Duration,
    next_id: u64,
    /// Every live connection's sockets (both ends of a forwarded one), so
    /// `partition`/`heal` can cut them.
    conns: HashMap<u64, Vec<TcpStream>>,
}

impl State {
    fn close_all(&mut self) {
        for (_, sockets) in self.conns.drain() {
            for s in sockets {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Proxy {
    /// Listen on 127.0.0.1:0 and forward to `target`.
    pub fn start(target: impl Into<String>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target: target.into(),
            state: Mutex::new(State::default()),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("proxy-{addr}"))
            .spawn(move || accept_loop(listener, s))
            .expect("spawn the proxy accept thread");
        Proxy { addr, shared }
    }

    /// Where the proxy listens: give this to the dialing side.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cut the link: close every connection and black-hole new ones.
    pub fn partition(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.partitioned = true;
        st.close_all();
    }

    /// Restore the link. The black-holed connections are closed; the
    /// dialer's next connection is forwarded.
    pub fn heal(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.partitioned = false;
        st.close_all();
    }

    pub fn is_partitioned(&self) -> bool {
        self.shared.state.lock().unwrap().partitioned
    }

    /// Hold every forwarded chunk this long before passing it on.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state.lock().unwrap().delay = delay;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock().unwrap();
        st.closed = true;
        st.close_all();
        drop(st);
        // Wake the accept thread so it sees `closed` and exits.
        let _ = TcpStream::connect(self.addr);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for inbound in listener.incoming() {
        let Ok(inbound) = inbound else { continue };
        if shared.state.lock().unwrap().closed {
            return;
        }
        let _ = inbound.set_nodelay(true);
        // Connect outside the lock; a dead target refuses at once on
        // loopback, which the dialer sees as its connection closing.
        let outbound = if shared.state.lock().unwrap().partitioned {
            None
        } else {
            TcpStream::connect(&shared.target).ok()
        };
        let mut st = shared.state.lock().unwrap();
        let id = st.next_id;
        st.next_id += 1;
        match outbound {
            _ if st.closed => return,
            // Partitioned (maybe since the connect): swallow everything.
            _ if st.partitioned => {
                register(&mut st, id, &[&inbound]);
                drop(st);
                spawn_pump(&shared, id, inbound, None);
            }
            None => drop(inbound),
            Some(outbound) => {
                let _ = outbound.set_nodelay(true);
                register(&mut st, id, &[&inbound, &outbound]);
                drop(st);
                let (in2, out2) = (inbound.try_clone(), outbound.try_clone());
                spawn_pump(&shared, id, inbound, Some(outbound));
                if let (Ok(in2), Ok(out2)) = (in2, out2) {
                    spawn_pump(&shared, id, out2, Some(in2));
                }
            }
        }
    }
}

fn register(st: &mut State, id: u64, sockets: &[&TcpStream]) {
    let clones = sockets.iter().filter_map(|s| s.try_clone().ok()).collect();
    st.conns.insert(id, clones);
}

/// Copy `from` to `to` (or drop the bytes when `to` is `None`) until either
/// side fails or closes; then close the whole connection.
fn spawn_pump(shared: &Arc<Shared>, id: u64, mut from: TcpStream, mut to: Option<TcpStream>) {
    let shared = shared.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Some(to) = to.as_mut() else { continue };
            let delay = shared.state.lock().unwrap().delay;
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        if let Some(to) = &to {
            let _ = to.shutdown(Shutdown::Both);
        }
        shared.state.lock().unwrap().conns.remove(&id);
    });
}
