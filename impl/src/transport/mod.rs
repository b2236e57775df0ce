//! TCP transport between Raft peers: length-prefixed, versioned frames,
//! reconnect with backoff, and a bounded outbound queue per peer.
//!
//! # Frames (version 1)
//!
//! ```text
//! u32 BE len   (bytes that follow, at most `max_frame`)
//! u8 version   (FRAME_VERSION)
//! u8 kind      1 = Hello (JSON), 2 = Message (bincode)
//! body
//! ```
//!
//! A connection starts with one `Hello` naming the sender (and its client
//! address, so followers can redirect clients to the leader); then only
//! `Message` frames. Connections are one-way: each node dials every peer for
//! its own outbound traffic and accepts the peers' dials for inbound traffic.
//!
//! Raft tolerates message loss, so the transport never blocks the node: each
//! peer has a bounded queue and a writer thread; when the queue is full
//! (a slow or dead peer) new messages to that peer are dropped and the next
//! heartbeat retransmits. A garbage, truncated or oversized inbound frame
//! closes that connection with a logged error; the node keeps running.
//!
//! Codec: bincode for messages. Measured on an AppendEntries with 64 entries
//! of 130 bytes (`frame_codec_cost`): bincode frames are ~40% smaller than
//! JSON (whose byte strings become arrays of numbers) and encode+decode
//! several times faster.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::{Message, NodeId};

/// The frame format version this build speaks.
pub const FRAME_VERSION: u8 = 1;
/// Default limit on one frame's size.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;
const KIND_HELLO: u8 = 1;
const KIND_MESSAGE: u8 = 2;

/// The first frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: NodeId,
    /// Where this node serves clients (for redirects), if it does.
    pub client_addr: Option<String>,
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    Message(Message),
}

/// Why an inbound connection was closed.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("connection I/O: {0}")]
    Io(#[from] io::Error),
    #[error("connection closed mid-frame (truncated frame)")]
    Truncated,
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversized { len: usize, max: usize },
    #[error("frame too short ({len} bytes) to hold a version and kind")]
    TooShort { len: usize },
    #[error("frame version {found}, this node speaks version {FRAME_VERSION}")]
    Version { found: u8 },
    #[error("unknown frame kind {kind}")]
    UnknownKind { kind: u8 },
    #[error("undecodable frame body (kind {kind}): {reason}")]
    Decode { kind: u8, reason: String },
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// Append one encoded frame to `buf`.
pub fn encode_frame(buf: &mut Vec<u8>, frame: &Frame) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, FRAME_VERSION]);
    match frame {
        Frame::Hello(h) => {
            buf.push(KIND_HELLO);
            serde_json::to_writer(&mut *buf, h).expect("JSON into a Vec");
        }
        Frame::Message(m) => {
            buf.push(KIND_MESSAGE);
            bincode::serialize_into(&mut *buf, m).expect("bincode into a Vec");
        }
    }
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Read one frame. `Ok(None)` is a clean end of stream between frames.
pub fn read_frame(
    r: &mut impl Read,
    max_frame: usize,
    scratch: &mut Vec<u8>,
) -> Result<Option<Frame>, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len_buf[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(len_buf) as usize;
    if len > max_frame {
        return Err(FrameError::Oversized {
            len,
            max: max_frame,
        });
    }
    if len < 2 {
        return Err(FrameError::TooShort { len });
    }
    scratch.clear();
    scratch.resize(len, 0);
    r.read_exact(scratch).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    decode_frame_body(scratch).map(Some)
}

/// Decode a frame's body (everything after the length).
pub fn decode_frame_body(body: &[u8]) -> Result<Frame, FrameError> {
    let (version, kind) = (body[0], body[1]);
    if version != FRAME_VERSION {
        return Err(FrameError::Version { found: version });
    }
    let payload = &body[2..];
    match kind {
        KIND_HELLO => serde_json::from_slice(payload)
            .map(Frame::Hello)
            .map_err(|e| FrameError::Decode {
                kind,
                reason: e.to_string(),
            }),
        KIND_MESSAGE => bincode::deserialize(payload)
            .map(Frame::Message)
            .map_err(|e| FrameError::Decode {
                kind,
                reason: e.to_string(),
            }),
        kind => Err(FrameError::UnknownKind { kind }),
    }
}

/// How to run a node's transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub id: NodeId,
    /// Every other voter and its Raft address.
    pub peers: Vec<(NodeId, String)>,
    /// This node's client address, announced in `Hello`.
    pub client_addr: Option<String>,
    /// Outbound messages queued per peer before new ones are dropped.
    pub queue_capacity: usize,
    pub max_frame: usize,
    /// Reconnect backoff: first delay and cap.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl TransportConfig {
    pub fn new(id: NodeId, peers: Vec<(NodeId, String)>) -> Self {
        TransportConfig {
            id,
            peers,
            client_addr: None,
            queue_capacity: 4096,
            max_frame: DEFAULT_MAX_FRAME,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(500),
        }
    }
}

/// A running transport: `send` enqueues, inbound messages go to the
/// callback given to [`Transport::start`].
pub struct Transport {
    id: NodeId,
    queues: HashMap<NodeId, SyncSender<Message>>,
    client_addrs: Arc<Mutex<HashMap<NodeId, String>>>,
    local_addr: SocketAddr,
}

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
        let deliver = Arc::new(deliver);
        {
            let config = config.clone();
            let client_addrs = client_addrs.clone();
            std::thread::Builder::new()
                .name("raft-accept".into())
                .spawn(move || accept_loop(listener, config, client_addrs, deliver))?;
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
    deliver: Arc<dyn Fn(Message) + Send + Sync>,
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
        let (config, client_addrs, deliver) =
            (config.clone(), client_addrs.clone(), deliver.clone());
        let spawned = std::thread::Builder::new()
            .name("raft-recv".into())
            .spawn(move || {
                if let Err(e) = read_loop(stream, &config, &client_addrs, &*deliver) {
                    tracing::error!(peer = %peer_addr, "closing inbound peer connection: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot spawn a reader thread: {e}");
        }
    }
}

fn read_loop(
    stream: TcpStream,
    config: &TransportConfig,
    client_addrs: &Mutex<HashMap<NodeId, String>>,
    deliver: &(dyn Fn(Message) + Send + Sync),
) -> Result<(), FrameError> {
    stream.set_nodelay(true)?;
    let mut r = BufReader::with_capacity(256 << 10, stream);
    let mut scratch = Vec::new();
    let from = match read_frame(&mut r, config.max_frame, &mut scratch)? {
        None => return Ok(()),
        Some(Frame::Hello(h)) => h,
        Some(Frame::Message(_)) => {
            return Err(FrameError::Protocol("first frame is not a Hello".into()))
        }
    };
    if !config.peers.iter().any(|(p, _)| *p == from.node_id) {
        return Err(FrameError::Protocol(format!(
            "Hello from node {}, which is not a peer",
            from.node_id
        )));
    }
    if let Some(addr) = &from.client_addr {
        client_addrs
            .lock()
            .expect("lock")
            .insert(from.node_id, addr.clone());
    }
    tracing::debug!(peer = from.node_id, "inbound peer connection");
    loop {
        match read_frame(&mut r, config.max_frame, &mut scratch)? {
            None => return Ok(()),
            Some(Frame::Message(m)) => {
                if m.from != from.node_id || m.to != config.id {
                    return Err(FrameError::Protocol(format!(
                        "message {}->{} on node {}'s connection to node {}",
                        m.from, m.to, from.node_id, config.id
                    )));
                }
                deliver(m);
            }
            Some(Frame::Hello(_)) => {
                return Err(FrameError::Protocol("a second Hello".into()));
            }
        }
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
    let hello = Frame::Hello(Hello {
        node_id: config.id,
        client_addr: config.client_addr.clone(),
    });
    let mut backoff = config.backoff_min;
    let mut buf = Vec::with_capacity(64 << 10);
    // A message taken from the queue whose connection turned out closed: it
    // goes first on the next connection.
    let mut pending: Option<Message> = None;
    loop {
        let stream = match TcpStream::connect(&addr) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(peer, %addr, "connect failed: {e}; retrying in {backoff:?}");
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
        let _ = stream.set_nodelay(true);
        tracing::info!(peer, %addr, "connected to peer");
        backoff = config.backoff_min;
        let mut w = BufWriter::with_capacity(256 << 10, stream);
        buf.clear();
        encode_frame(&mut buf, &hello);
        if w.write_all(&buf).and_then(|_| w.flush()).is_err() {
            continue;
        }
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
            encode_frame(&mut buf, &Frame::Message(first));
            // Batch whatever else is queued into one write.
            while buf.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(m) => encode_frame(&mut buf, &Frame::Message(m)),
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
mod tests;
