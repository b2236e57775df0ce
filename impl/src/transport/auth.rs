//! Peer authentication: a cluster secret, a mutual challenge-response
//! handshake, and a MAC on every message frame after it.
//!
//! # Handshake (dialer D connects to acceptor A)
//!
//! ```text
//! D -> A  Hello     { from: D, to: A, nonce_d, client_addr of D }
//! A -> D  Challenge { from: A, nonce_a }
//! D -> A  Proof     HMAC(secret, "dialer"   | transcript)
//! A -> D  Proof     HMAC(secret, "acceptor" | transcript)
//! transcript = version | D | A | nonce_d | nonce_a | client_addr of D
//! ```
//!
//! Both nonces are 32 fresh bytes from the OS, so a recorded proof is
//! useless on another connection (replay); the role label keeps one side's
//! proof from serving as the other's (reflection); both ids are bound, so a
//! proof for one pair of nodes is worthless for another. The acceptor
//! proves itself only after the dialer has, so a stranger never gets a MAC.
//! MACs are compared in constant time (`verify_slice`).
//!
//! Every Message frame after the handshake ends with
//! `HMAC(session_key, seq | version | kind | payload)`, where
//! `session_key = HMAC(secret, "session" | transcript)` and `seq` counts the
//! connection's frames: a byte injected, altered, dropped or replayed on the
//! wire closes the connection before anything is decoded. Nothing is
//! encrypted: anyone on the path can read the traffic.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use super::frame::{
    begin_frame, finish_frame, read_frame, FrameBuf, FrameError, FRAME_VERSION, KIND_CHALLENGE,
    KIND_HELLO, KIND_MESSAGE, KIND_PROOF, MAX_HANDSHAKE_FRAME,
};
use raft_core::{Message, NodeId};

type HmacSha256 = Hmac<Sha256>;

pub const NONCE_LEN: usize = 32;
pub const TAG_LEN: usize = 32;
/// The shortest cluster secret accepted.
pub const MIN_SECRET_LEN: usize = 16;
/// The environment variable `raftkv serve` reads the secret from.
pub const SECRET_ENV: &str = "RAFTKV_CLUSTER_SECRET";
/// The longest client address a Hello may announce.
const MAX_CLIENT_ADDR: usize = 512;

/// The key every member of a cluster shares. `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterSecret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("cannot read cluster secret file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create cluster secret file {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cluster secret file {path} is open to its group or other users (mode {mode:o}); \
         run `chmod 600 {path}`"
    )]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error(
        "the cluster secret from {from} is {len} bytes; it must be at least \
         {MIN_SECRET_LEN} (e.g. `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'`)"
    )]
    TooShort { from: String, len: usize },
    #[error("no randomness from the OS: {0}")]
    Random(String),
}

impl ClusterSecret {
    /// A secret from raw bytes (`from` names where they came from, for
    /// errors). Surrounding whitespace (a file's final newline) is dropped.
    pub fn new(bytes: &[u8], from: &str) -> Result<ClusterSecret, SecretError> {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                from: from.to_string(),
                len: trimmed.len(),
            });
        }
        Ok(ClusterSecret(trimmed.into()))
    }

    /// Read a secret file; refused if other users may read it.
    pub fn from_file(path: &Path) -> Result<ClusterSecret, SecretError> {
        let read_err = |source| SecretError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretError::WorldReadable {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let _ = meta;
        let bytes = std::fs::read(path).map_err(read_err)?;
        ClusterSecret::new(&bytes, &path.display().to_string())
    }

    /// 32 random bytes from the OS, as 64 hex digits (so the file is text).
    pub fn generate() -> Result<ClusterSecret, SecretError> {
        let raw: [u8; 32] = random_bytes()?;
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        ClusterSecret::new(hex.as_bytes(), "the generator")
    }

    /// Generate a secret into a new file created with mode 0600.
    pub fn create_file(path: &Path) -> Result<ClusterSecret, SecretError> {
        let secret = ClusterSecret::generate()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let create_err = |source| SecretError::Create {
            path: path.to_path_buf(),
            source,
        };
        let mut f = opts.open(path).map_err(create_err)?;
        f.write_all(&secret.0)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(create_err)?;
        Ok(secret)
    }

    fn mac(&self, label: &[u8], transcript: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(label);
        m.update(transcript);
        m
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(b)
}

const LABEL_DIALER: &[u8] = b"raftkv peer auth: dialer proof\0";
const LABEL_ACCEPTOR: &[u8] = b"raftkv peer auth: acceptor proof\0";
const LABEL_SESSION: &[u8] = b"raftkv peer auth: session key\0";

/// The first frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub from: NodeId,
    /// The node the dialer means to reach.
    pub to: NodeId,
    pub nonce: [u8; NONCE_LEN],
    /// Where the dialer serves clients (for redirects), if it does.
    pub client_addr: Option<String>,
}

impl Hello {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = begin_frame(buf, KIND_HELLO);
        buf.extend_from_slice(&self.from.to_be_bytes());
        buf.extend_from_slice(&self.to.to_be_bytes());
        buf.extend_from_slice(&self.nonce);
        if let Some(a) = &self.client_addr {
            buf.extend_from_slice(a.as_bytes());
        }
        finish_frame(buf, start);
    }

    pub fn decode(body: &[u8]) -> Result<Hello, FrameError> {
        let bad = |reason: &str| FrameError::Decode {
            kind: KIND_HELLO,
            reason: reason.into(),
        };
        if body.len() < 16 + NONCE_LEN {
            return Err(bad("shorter than ids and nonce"));
        }
        let addr = &body[16 + NONCE_LEN..];
        if addr.len() > MAX_CLIENT_ADDR {
            return Err(bad("client address too long"));
        }
        let addr = std::str::from_utf8(addr).map_err(|_| bad("client address not UTF-8"))?;
        Ok(Hello {
            from: u64::from_be_bytes(body[0..8].try_into().expect("8 bytes")),
            to: u64::from_be_bytes(body[8..16].try_into().expect("8 bytes")),
            nonce: body[16..16 + NONCE_LEN].try_into().expect("nonce"),
            client_addr: (!addr.is_empty()).then(|| addr.to_string()),
        })
    }
}

/// The acceptor's answer to a Hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub from: NodeId,
    pub nonce: [u8; NONCE_LEN],
}

impl Challenge {
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = begin_frame(buf, KIND_CHALLENGE);
        buf.extend_from_slice(&self.from.to_be_bytes());
        buf.extend_from_slice(&self.nonce);
        finish_frame(buf, start);
    }

    pub fn decode(body: &[u8]) -> Result<Challenge, FrameError> {
        if body.len() != 8 + NONCE_LEN {
            return Err(FrameError::Decode {
                kind: KIND_CHALLENGE,
                reason: format!("{} bytes, expected {}", body.len(), 8 + NONCE_LEN),
            });
        }
        Ok(Challenge {
            from: u64::from_be_bytes(body[0..8].try_into().expect("8 bytes")),
            nonce: body[8..].try_into().expect("nonce"),
        })
    }
}

/// Encode a Proof frame carrying `tag`.
pub fn encode_proof(buf: &mut Vec<u8>, tag: &[u8]) {
    let start = begin_frame(buf, KIND_PROOF);
    buf.extend_from_slice(tag);
    finish_frame(buf, start);
}

/// What both proofs and the session key are computed over.
pub fn transcript(hello: &Hello, challenge: &Challenge) -> Vec<u8> {
    let mut t = vec![FRAME_VERSION];
    t.extend_from_slice(&hello.from.to_be_bytes());
    t.extend_from_slice(&challenge.from.to_be_bytes());
    t.extend_from_slice(&hello.nonce);
    t.extend_from_slice(&challenge.nonce);
    t.extend_from_slice(hello.client_addr.as_deref().unwrap_or("").as_bytes());
    t
}

/// The dialer's proof for `transcript`.
pub fn dialer_proof(secret: &ClusterSecret, transcript: &[u8]) -> [u8; TAG_LEN] {
    secret
        .mac(LABEL_DIALER, transcript)
        .finalize()
        .into_bytes()
        .into()
}

/// The acceptor's proof for `transcript`.
pub fn acceptor_proof(secret: &ClusterSecret, transcript: &[u8]) -> [u8; TAG_LEN] {
    secret
        .mac(LABEL_ACCEPTOR, transcript)
        .finalize()
        .into_bytes()
        .into()
}

fn verify(
    secret: &ClusterSecret,
    label: &[u8],
    transcript: &[u8],
    tag: &[u8],
) -> Result<(), FrameError> {
    secret
        .mac(label, transcript)
        .verify_slice(tag)
        .map_err(|_| {
            FrameError::Auth(
                "wrong proof: the peer does not know the cluster secret (or has another one)"
                    .into(),
            )
        })
}

/// One direction of an authenticated connection: the keyed MAC and the
/// next frame's sequence number.
pub struct Session {
    key: HmacSha256,
    seq: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Session {{ seq: {} }}", self.seq) // never the key
    }
}

impl Session {
    pub fn new(secret: &ClusterSecret, transcript: &[u8]) -> Session {
        let key = secret
            .mac(LABEL_SESSION, transcript)
            .finalize()
            .into_bytes();
        Session {
            key: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
            seq: 0,
        }
    }

    fn tagger(&mut self, frame: &[u8]) -> HmacSha256 {
        let mut m = self.key.clone();
        m.update(&self.seq.to_be_bytes());
        m.update(frame);
        self.seq += 1;
        m
    }

    /// Append `msg` as a Message frame with its MAC.
    pub fn encode_message(&mut self, buf: &mut Vec<u8>, msg: &Message) {
        let start = begin_frame(buf, KIND_MESSAGE);
        bincode::serialize_into(&mut *buf, msg).expect("bincode into a Vec");
        self.seal(buf, start);
    }

    /// Append the MAC of the frame begun at `start` and finish it.
    pub(crate) fn seal(&mut self, buf: &mut Vec<u8>, start: usize) {
        let tag = self.tagger(&buf[start + 4..]).finalize().into_bytes();
        buf.extend_from_slice(&tag);
        finish_frame(buf, start);
    }

    /// Check the MAC of a Message frame's body (`body`, as read) and decode
    /// it; nothing is decoded before the MAC holds.
    pub fn open_message(&mut self, body: &[u8]) -> Result<Message, FrameError> {
        if body.len() < TAG_LEN {
            return Err(FrameError::Auth("message frame without its MAC".into()));
        }
        let (payload, tag) = body.split_at(body.len() - TAG_LEN);
        let mut m = self.tagger(&[FRAME_VERSION, KIND_MESSAGE]);
        m.update(payload);
        m.verify_slice(tag).map_err(|_| {
            FrameError::Auth("message frame with a wrong MAC (forged, altered or replayed)".into())
        })?;
        bincode::deserialize(payload).map_err(|e| FrameError::Decode {
            kind: KIND_MESSAGE,
            reason: e.to_string(),
        })
    }
}

/// A reader that fails once `deadline` passes, however slowly bytes trickle
/// in, so a handshake cannot hold its slot forever.
struct Deadline<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
    limit: Duration,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

impl Deadline<'_> {
    fn frame(&mut self, fb: &mut FrameBuf, want: u8, what: &str) -> Result<(), FrameError> {
        let kind = match read_frame(self, MAX_HANDSHAKE_FRAME, fb) {
            Ok(Some(k)) => k,
            Ok(None) => {
                return Err(FrameError::Protocol(format!(
                    "connection closed before the {what}"
                )))
            }
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return Err(FrameError::HandshakeTimeout(self.limit))
            }
            Err(e) => return Err(e),
        };
        if kind != want {
            return Err(FrameError::Protocol(format!(
                "expected the {what}, got a frame of kind {kind}"
            )));
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.stream
            .set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        (&mut &*self.stream).write_all(bytes)?;
        Ok(())
    }

    /// Back to blocking without timeouts, for the authenticated phase.
    fn finish(self) -> Result<(), FrameError> {
        self.stream.set_read_timeout(None)?;
        self.stream.set_write_timeout(None)?;
        Ok(())
    }
}

/// Run the acceptor's side on a fresh inbound connection. `is_peer` says
/// whether a claimed id belongs to the cluster. Returns the dialer's Hello
/// and the session to check its frames with.
pub(crate) fn accept_handshake(
    stream: &TcpStream,
    me: NodeId,
    is_peer: impl Fn(NodeId) -> bool,
    secret: &ClusterSecret,
    timeout: Duration,
    fb: &mut FrameBuf,
) -> Result<(Hello, Session), FrameError> {
    let mut io = Deadline {
        stream,
        deadline: Instant::now() + timeout,
        limit: timeout,
    };
    io.frame(fb, KIND_HELLO, "Hello")?;
    let hello = Hello::decode(&fb.buf)?;
    if !is_peer(hello.from) {
        return Err(FrameError::Protocol(format!(
            "Hello from node {}, which is not a peer",
            hello.from
        )));
    }
    if hello.to != me {
        return Err(FrameError::Protocol(format!(
            "node {} dialled node {} but reached node {me}: check its --peers",
            hello.from, hello.to
        )));
    }
    let challenge = Challenge {
        from: me,
        nonce: random_bytes().map_err(|e| FrameError::Auth(e.to_string()))?,
    };
    let mut out = Vec::with_capacity(64);
    challenge.encode(&mut out);
    io.send(&out)?;
    let t = transcript(&hello, &challenge);
    io.frame(fb, KIND_PROOF, "dialer's Proof")?;
    verify(secret, LABEL_DIALER, &t, &fb.buf)?;
    out.clear();
    encode_proof(&mut out, &acceptor_proof(secret, &t));
    io.send(&out)?;
    io.finish()?;
    Ok((hello, Session::new(secret, &t)))
}

/// Run the dialer's side on a fresh outbound connection to node `to`.
/// Returns the session to MAC this connection's frames with.
pub fn dial_handshake(
    stream: &TcpStream,
    me: NodeId,
    to: NodeId,
    client_addr: Option<String>,
    secret: &ClusterSecret,
    timeout: Duration,
) -> Result<Session, FrameError> {
    let mut io = Deadline {
        stream,
        deadline: Instant::now() + timeout,
        limit: timeout,
    };
    let hello = Hello {
        from: me,
        to,
        nonce: random_bytes().map_err(|e| FrameError::Auth(e.to_string()))?,
        client_addr,
    };
    let mut out = Vec::with_capacity(128);
    hello.encode(&mut out);
    io.send(&out)?;
    // Handshake frames are tiny; this buffer is not worth accounting.
    let mut fb = FrameBuf::new(Default::default());
    let closed = |e: FrameError| match e {
        FrameError::Protocol(m) if m.starts_with("connection closed") => FrameError::Auth(format!(
            "node {to} closed the connection during the handshake: it rejected this node \
             (another cluster secret, this node not in its --peers, or another frame \
             version; see its log)"
        )),
        e => e,
    };
    io.frame(&mut fb, KIND_CHALLENGE, "Challenge")
        .map_err(closed)?;
    let challenge = Challenge::decode(&fb.buf)?;
    if challenge.from != to {
        return Err(FrameError::Protocol(format!(
            "dialled node {to} but node {} answered: check --peers",
            challenge.from
        )));
    }
    let t = transcript(&hello, &challenge);
    out.clear();
    encode_proof(&mut out, &dialer_proof(secret, &t));
    io.send(&out)?;
    io.frame(&mut fb, KIND_PROOF, "acceptor's Proof")
        .map_err(closed)?;
    verify(secret, LABEL_ACCEPTOR, &t, &fb.buf)?;
    io.finish()?;
    Ok(Session::new(secret, &t))
}
