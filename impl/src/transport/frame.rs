//! The frame codec: length-prefixed, versioned frames whose buffers grow only
//! as bytes arrive.
//!
//! ```text
//! u32 BE len   (bytes that follow, at most the reader's limit)
//! u8 version   (FRAME_VERSION)
//! u8 kind      1 = Hello, 3 = Challenge, 4 = Proof (the handshake, see
//!              `auth`), 2 = Message (bincode, then a 32-byte session MAC)
//! body
//! ```

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use thiserror::Error;

/// The frame format version this build speaks. Version 2 added the
/// authenticated handshake and the per-frame MAC; version 1 nodes cannot
/// talk to version 2 nodes (the first frame names the version, so the
/// mismatch is reported as such).
pub const FRAME_VERSION: u8 = 2;
/// Default limit on one frame from an authenticated peer.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// Limit on each handshake frame: what a connection that has not proved
/// it knows the cluster secret may make the node buffer.
pub const MAX_HANDSHAKE_FRAME: usize = 1024;

pub(crate) const KIND_HELLO: u8 = 1;
pub(crate) const KIND_MESSAGE: u8 = 2;
pub(crate) const KIND_CHALLENGE: u8 = 3;
pub(crate) const KIND_PROOF: u8 = 4;

/// A frame body is read in steps of at most this many bytes, so the buffer
/// is at most about twice what actually arrived, whatever the prefix says.
const READ_STEP: usize = 64 << 10;
/// A buffer larger than this is released after its frame, so one large
/// frame does not pin its memory for the connection's lifetime.
const RETAIN: usize = 1 << 20;

/// Why a connection was closed.
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
    #[error(
        "frame version {found}, this node speaks version {FRAME_VERSION}: \
         every node of a cluster must run a raftkv of the same frame version"
    )]
    Version { found: u8 },
    #[error("unknown frame kind {kind}")]
    UnknownKind { kind: u8 },
    #[error("undecodable frame body (kind {kind}): {reason}")]
    Decode { kind: u8, reason: String },
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("peer authentication failed: {0}")]
    Auth(String),
    #[error("handshake not finished within {0:?}")]
    HandshakeTimeout(std::time::Duration),
}

/// Start a frame of `kind` in `buf`; finish it with [`finish_frame`].
pub(crate) fn begin_frame(buf: &mut Vec<u8>, kind: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, FRAME_VERSION, kind]);
    start
}

/// Write the length prefix of the frame begun at `start`.
pub(crate) fn finish_frame(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Bytes of memory counted in a shared total while this lives (see
/// `Transport::inbound`), so what strangers can pin is visible.
pub(crate) struct Charge {
    n: usize,
    total: Arc<AtomicUsize>,
}

impl Charge {
    pub(crate) fn new(total: Arc<AtomicUsize>, n: usize) -> Charge {
        total.fetch_add(n, Ordering::Relaxed);
        Charge { n, total }
    }

    fn set(&mut self, n: usize) {
        if n >= self.n {
            self.total.fetch_add(n - self.n, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(self.n - n, Ordering::Relaxed);
        }
        self.n = n;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.total.fetch_sub(self.n, Ordering::Relaxed);
    }
}

/// A connection's frame buffer, its capacity charged to a shared total.
pub(crate) struct FrameBuf {
    pub(crate) buf: Vec<u8>,
    charge: Charge,
}

impl FrameBuf {
    pub(crate) fn new(total: Arc<AtomicUsize>) -> FrameBuf {
        FrameBuf {
            buf: Vec::new(),
            charge: Charge::new(total, 0),
        }
    }

    fn recount(&mut self) {
        self.charge.set(self.buf.capacity());
    }

    /// Release a large buffer once its frame is handled.
    pub(crate) fn trim(&mut self) {
        if self.buf.capacity() > RETAIN {
            self.buf = Vec::new();
            self.recount();
        }
    }
}

/// Read one frame into `fb.buf` (its body: everything after version and
/// kind) and return its kind. `Ok(None)` is a clean end of stream between
/// frames. The version is checked before the body is read.
pub(crate) fn read_frame(
    r: &mut impl Read,
    max_frame: usize,
    fb: &mut FrameBuf,
) -> Result<Option<u8>, FrameError> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut head[got..4]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > max_frame {
        return Err(FrameError::Oversized {
            len,
            max: max_frame,
        });
    }
    if len < 2 {
        return Err(FrameError::TooShort { len });
    }
    read_exact(r, &mut head[4..6])?;
    let (version, kind) = (head[4], head[5]);
    if version != FRAME_VERSION {
        return Err(FrameError::Version { found: version });
    }
    let body = len - 2;
    fb.buf.clear();
    // Grow as bytes arrive: a length prefix is a claim, not a promise.
    while fb.buf.len() < body {
        let start = fb.buf.len();
        let step = (body - start).min(READ_STEP);
        fb.buf.resize(start + step, 0);
        fb.recount();
        match r.read(&mut fb.buf[start..]) {
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => fb.buf.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => fb.buf.truncate(start),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(kind))
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), FrameError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })
}
