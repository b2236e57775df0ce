//! TCP transport between Raft peers: authenticated, versioned,
//! length-prefixed frames, reconnect with backoff, and a bounded outbound
//! queue per peer.
//!
//! A connection starts with a mutual challenge-response handshake keyed by
//! the cluster secret (see [`auth`]); then only `Message` frames, each with
//! a MAC. Connections are one-way for messages: each node dials every peer
//! for its own outbound traffic and accepts the peers' dials for inbound
//! traffic (the acceptor writes only its two handshake frames).
//!
//! # What a stranger can make a node hold
//!
//! Frame buffers grow as bytes arrive, never from the length prefix (see
//! [`frame`]). Before the handshake succeeds a connection may send only
//! handshake frames of at most [`MAX_HANDSHAKE_FRAME`] bytes, must finish
//! within `handshake_timeout`, and at most `max_unauthenticated` such
//! connections are open at once (more are closed on accept). After it, a
//! frame may be up to `max_frame` bytes, and a buffer over 1 MiB is freed
//! once its frame is handled. [`Transport::inbound`] reports the counts and
//! the bytes the inbound buffers hold.
//!
//! Raft tolerates message loss, so the transport never blocks the node: each
//! peer has a bounded queue and a writer thread; when the queue is full
//! (a slow or dead peer) new messages to that peer are dropped and the next
//! heartbeat retransmits. A garbage, truncated, oversized or unauthenticated
//! inbound frame closes that connection with a logged error; the node keeps
//! running.
//!
//! Codec: bincode for messages. Measured on an AppendEntries with 64 entries
//! of 130 bytes (`frame_codec_cost`): bincode frames are ~40% smaller than
//! JSON (whose byte strings become arrays of numbers) and encode+decode
//! several times faster.

pub mod auth;
pub mod frame;

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft_core::{Message, NodeId};

pub use auth::{ClusterSecret, SecretError, SECRET_ENV};
use frame::{Charge, FrameBuf, KIND_MESSAGE};
pub use frame::{FrameError, DEFAULT_MAX_FRAME, FRAME_VERSION, MAX_HANDSHAKE_FRAME};

/// Default cap on inbound connections still in their handshake.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 16;
/// Default time a new connection has to complete its handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer of an authenticated inbound connection.
const READ_BUFFER: usize = 64 << 10;

/// How to run a node's transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub id: NodeId,
    /// Every other voter and its Raft address.
    pub peers: Vec<(NodeId, String)>,
    /// This node's client address, announced in `Hello`.
    pub client_addr: Option<String>,
    /// The key every member shares; a peer proves it knows it.
    pub secret: ClusterSecret,
    /// Outbound messages queued per peer before new ones are dropped.
    pub queue_capacity: usize,
    /// Largest frame an authenticated peer may send.
    pub max_frame: usize,
    /// Inbound connections allowed in their handshake at once.
    pub max_unauthenticated: usize,
    /// How long a connection has to finish its handshake (either side).
    pub handshake_timeout: Duration,
    /// Reconnect backoff: first delay and cap.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl TransportConfig {
    pub fn new(id: NodeId, peers: Vec<(NodeId, String)>, secret: ClusterSecret) -> Self {
        TransportConfig {
            id,
            peers,
            client_addr: None,
            secret,
            queue_capacity: 4096,
            max_frame: DEFAULT_MAX_FRAME,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(500),
        }
    }
}

/// What the inbound side holds right now (see [`Transport::inbound`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboundStats {
    /// Connections still in their handshake.
    pub unauthenticated: usize,
    /// Connections whose peer proved it knows the secret.
    pub authenticated: usize,
    /// Connections closed on accept because the handshake cap was reached.
    pub refused: usize,
    /// Bytes allocated by inbound connections' buffers.
    pub buffered_bytes: usize,
}

#[derive(Default)]
struct Inbound {
    unauthenticated: AtomicUsize,
    authenticated: AtomicUsize,
    refused: AtomicUsize,
    buffered: Arc<AtomicUsize>,
}

/// Decrements its counter when dropped, so a count cannot leak on an error
/// path.
struct Held<'a>(&'a AtomicUsize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running transport: `send` enqueues, inbound messages go to the
/// callback given to [`Transport::start`].
pub struct Transport {
    id: NodeId,
    queues: HashMap<NodeId, SyncSender<Message>>,
    client_addrs: Arc<Mutex<HashMap<NodeId, String>>>,
    local_addr: SocketAddr,
    inbound: Arc<Inbound>,
}

type Deliver = Arc<dyn Fn(Message) + Send + Sync>;

impl Transport {
    /// Start accepting on `listener` and dialing every peer. `deliver` is
    /// called (from reader threads) with each inbound message addressed to
    /// this node.
    pub fn start(
        config: TransportConfig,
        listener: TcpListener,
        deliver: impl Fn(Message) + Send + Sync + 'static,
    ) -> io::Result<Transport> {
        let local_addr = listener.local_addr()?;
        let client_addrs = Arc::new(Mutex::new(HashMap::new()));
        if let Some(addr) = &config.client_addr {
            client_addrs
                .lock()
                .expect("lock")
                .insert(config.id, addr.clone());
        }
        let inbound = Arc::new(Inbound::default());
        let deliver: Deliver = Arc::new(deliver);
        {
            let config = config.clone();
            let client_addrs = client_addrs.clone();
            let inbound = inbound.clone();
            std::thread::Builder::new()
                .name("raft-accept".into())
                .spawn(move || accept_loop(listener, config, client_addrs, deliver, inbound))?;
        }
        let mut queues = HashMap::new();
        for (peer, addr) in &config.peers {
            let (tx, rx) = mpsc::sync_channel(config.queue_capacity);
            queues.insert(*peer, tx);
            let config = config.clone();
            let (peer, addr) = (*peer, addr.clone());
            std::thread::Builder::new()
                .name(format!("raft-send-{peer}"))
                .spawn(move || writer_loop(config, peer, addr, rx))?;
        }
        Ok(Transport {
            id: config.id,
            queues,
            client_addrs,
            local_addr,
            inbound,
        })
    }

    /// Queue `msg` for its destination. Returns false if it was dropped
    /// (unknown peer, or that peer's queue is full).
    pub fn send(&self, msg: Message) -> bool {
        let Some(queue) = self.queues.get(&msg.to) else {
            tracing::warn!(to = msg.to, "message to an unknown peer dropped");
            return false;
        };
        match queue.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(m)) => {
                tracing::debug!(to = m.to, "peer queue full; message dropped");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// The client address a node announced (this node's own included).
    pub fn client_addr(&self, id: NodeId) -> Option<String> {
        self.client_addrs.lock().expect("lock").get(&id).cloned()
    }

    /// Inbound connection counts and buffer bytes, now.
    pub fn inbound(&self) -> InboundStats {
        InboundStats {
            unauthenticated: self.inbound.unauthenticated.load(Ordering::Relaxed),
            authenticated: self.inbound.authenticated.load(Ordering::Relaxed),
            refused: self.inbound.refused.load(Ordering::Relaxed),
            buffered_bytes: self.inbound.buffered.load(Ordering::Relaxed),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
}

fn accept_loop(
    listener: TcpListener,
    config: TransportConfig,
    client_addrs: Arc<Mutex<HashMap<NodeId, String>>>,
    deliver: Deliver,
    inbound: Arc<Inbound>,
) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let peer_addr = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        // Count the slot here, before any thread exists, so a flood cannot
        // outrun the cap.
        if inbound.unauthenticated.fetch_add(1, Ordering::Relaxed) >= config.max_unauthenticated {
            inbound.unauthenticated.fetch_sub(1, Ordering::Relaxed);
            inbound.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer = %peer_addr,
                "refusing a peer connection: {} connections are already in their handshake",
                config.max_unauthenticated
            );
            continue; // dropping the stream closes it
        }
        let slots = inbound.clone();
        let (config, client_addrs, deliver, inbound) = (
            config.clone(),
            client_addrs.clone(),
            deliver.clone(),
            inbound.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("raft-recv".into())
            .spawn(move || {
                if let Err(e) = read_loop(stream, &config, &client_addrs, &*deliver, &inbound) {
                    tracing::error!(peer = %peer_addr, "closing inbound peer connection: {e}");
                }
            });
        if let Err(e) = spawned {
            // No reader will release the slot counted above: release it here,
            // or failed spawns would fill the cap and refuse every peer.
            slots.unauthenticated.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("cannot spawn a reader thread: {e}");
        }
    }
}

fn read_loop(
    stream: TcpStream,
    config: &TransportConfig,
    client_addrs: &Mutex<HashMap<NodeId, String>>,
    deliver: &(dyn Fn(Message) + Send + Sync),
    inbound: &Inbound,
) -> Result<(), FrameError> {
    // The accept loop counted this connection as unauthenticated.
    let unauthenticated = Held(&inbound.unauthenticated);
    stream.set_nodelay(true)?;
    let mut fb = FrameBuf::new(inbound.buffered.clone());
    let (hello, mut session) = auth::accept_handshake(
        &stream,
        config.id,
        |id| config.peers.iter().any(|(p, _)| *p == id),
        &config.secret,
        config.handshake_timeout,
        &mut fb,
    )?;
    drop(unauthenticated);
    inbound.authenticated.fetch_add(1, Ordering::Relaxed);
    let _authenticated = Held(&inbound.authenticated);
    let from = hello.from;
    if let Some(addr) = &hello.client_addr {
        client_addrs
            .lock()
            .expect("lock")
            .insert(from, addr.clone());
    }
    tracing::debug!(peer = from, "inbound peer connection authenticated");
    // The read buffer exists only for authenticated peers; count it too.
    let _reader_charge = Charge::new(inbound.buffered.clone(), READ_BUFFER);
    let mut r = BufReader::with_capacity(READ_BUFFER, stream);
    loop {
        let kind = match frame::read_frame(&mut r, config.max_frame, &mut fb)? {
            None => return Ok(()),
            Some(k) => k,
        };
        if kind != KIND_MESSAGE {
            return Err(FrameError::Protocol(format!(
                "frame of kind {kind} after the handshake"
            )));
        }
        let m = session.open_message(&fb.buf)?;
        fb.trim();
        if m.from != from || m.to != config.id {
            return Err(FrameError::Protocol(format!(
                "message {}->{} on node {from}'s connection to node {}",
                m.from, m.to, config.id
            )));
        }
        deliver(m);
    }
}

/// Whether a connection we only write to can still carry bytes: no EOF, no
/// reset and no unsolicited byte is pending (a non-blocking peek). Writing
/// into a connection whose peer has died succeeds once and loses the bytes,
/// so a writer asks first.
pub fn is_open_for_writing(stream: &TcpStream) -> bool {
    let open = stream.set_nonblocking(true).is_ok()
        && matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    open && stream.set_nonblocking(false).is_ok()
}

/// How often an idle writer checks that its connection is still open, so a
/// peer that restarted is redialled before the next message, not after it is
/// lost (a follower sends to another follower only when it votes for it).
const IDLE_CHECK: Duration = Duration::from_millis(100);

fn writer_loop(config: TransportConfig, peer: NodeId, addr: String, rx: Receiver<Message>) {
    let mut backoff = config.backoff_min;
    let mut buf = Vec::with_capacity(64 << 10);
    // A message taken from the queue whose connection turned out closed: it
    // goes first on the next connection.
    let mut pending: Option<Message> = None;
    // The last handshake failure logged, so a persistent one (another
    // secret) is logged once, not at every retry.
    let mut last_failure: Option<String> = None;
    loop {
        let attempt = TcpStream::connect(&addr)
            .map_err(FrameError::Io)
            .and_then(|s| {
                let _ = s.set_nodelay(true);
                let session = auth::dial_handshake(
                    &s,
                    config.id,
                    peer,
                    config.client_addr.clone(),
                    &config.secret,
                    config.handshake_timeout,
                )?;
                Ok((s, session))
            });
        let (stream, mut session) = match attempt {
            Ok(connected) => connected,
            Err(e) => {
                let why = e.to_string();
                if matches!(e, FrameError::Io(_)) || last_failure.as_ref() == Some(&why) {
                    tracing::debug!(peer, %addr, "connecting failed: {why}; retrying in {backoff:?}");
                } else {
                    tracing::warn!(peer, %addr, "peer handshake failed: {why}; retrying");
                    last_failure = Some(why);
                }
                // Messages queued while the peer is unreachable are stale
                // by the time it is back; the next heartbeat resends.
                pending = None;
                while rx.try_recv().is_ok() {}
                if let Err(mpsc::RecvTimeoutError::Disconnected) = rx.recv_timeout(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(config.backoff_max);
                continue;
            }
        };
        last_failure = None;
        tracing::info!(peer, %addr, "connected to peer (authenticated)");
        backoff = config.backoff_min;
        let mut w = BufWriter::with_capacity(256 << 10, stream);
        loop {
            let first = match pending.take() {
                Some(m) => m,
                None => match rx.recv_timeout(IDLE_CHECK) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if is_open_for_writing(w.get_ref()) {
                            continue;
                        }
                        tracing::info!(peer, %addr, "peer closed the connection; redialling");
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return, // transport dropped
                },
            };
            if !is_open_for_writing(w.get_ref()) {
                tracing::info!(peer, %addr, "peer closed the connection; redialling");
                pending = Some(first);
                break;
            }
            buf.clear();
            session.encode_message(&mut buf, &first);
            // Batch whatever else is queued into one write.
            while buf.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(m) => session.encode_message(&mut buf, &m),
                    Err(_) => break,
                }
            }
            if let Err(e) = w.write_all(&buf).and_then(|_| w.flush()) {
                tracing::warn!(peer, %addr, "send failed: {e}; reconnecting");
                break;
            }
        }
    }
}

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod tests;
