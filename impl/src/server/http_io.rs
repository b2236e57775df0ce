//! hyper's client connection on a plain non-blocking socket, without an
//! async runtime (HTTP/1.1 needs none): [`Socket`] is the I/O hyper reads
//! and writes, [`block_on`] runs a future over it and waits on the socket
//! with poll(2) when hyper has nothing to do but wait. See `http.rs` for
//! why the client is built this way.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// The non-blocking socket under hyper. A read or write that would block
/// returns `Pending`, and [`block_on`] waits for the socket to be ready.
pub(super) struct Socket {
    pub(super) stream: TcpStream,
    pub(super) readiness: Arc<Readiness>,
    /// Bytes are read here, then copied into hyper's buffer (which is
    /// uninitialised memory, only writable unsafely).
    pub(super) scratch: Vec<u8>,
}

impl hyper::rt::Read for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        // Every poll of the connection reads: skip the syscall while the
        // last read would have blocked and poll(2) has not said otherwise.
        if !me.readiness.readable.load(Ordering::Relaxed) {
            return Poll::Pending;
        }
        let want = buf.remaining().min(16 << 10);
        me.scratch.resize(want, 0);
        match me.stream.read(&mut me.scratch[..want]) {
            Ok(n) => {
                buf.put_slice(&me.scratch[..n]);
                Poll::Ready(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                me.readiness.readable.store(false, Ordering::Relaxed);
                Poll::Pending
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                // Not waiting on the socket: poll again at once.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Socket {
    fn wrote(&self, cx: &Context<'_>, r: io::Result<usize>) -> Poll<io::Result<usize>> {
        match r {
            Ok(n) => {
                self.readiness
                    .written
                    .fetch_add(n as u64, Ordering::Relaxed);
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readiness.write_blocked.store(true, Ordering::Relaxed);
                Poll::Pending
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                // Nothing to wait for in poll(2): poll again at once.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl hyper::rt::Write for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = (&self.stream).write(buf);
        self.wrote(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = (&self.stream).write_vectored(bufs);
        self.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(std::net::Shutdown::Write))
    }
}

/// Wakes [`block_on`] from within a poll (hyper's internal channels).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Run `fut`, all of whose I/O is on `conn`'s socket, until `deadline`:
/// poll it; if it is pending and did not wake itself, wait in poll(2)
/// for the socket to be readable (or writable, after a blocked write).
pub(super) fn block_on<F: Future>(
    conn: &Probe,
    deadline: Instant,
    fut: F,
) -> io::Result<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        flag.0.store(false, Ordering::Release);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Ok(out);
        }
        if flag.0.load(Ordering::Acquire) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out waiting for the server",
            ));
        }
        let mut events = libc::POLLIN;
        if conn.readiness.write_blocked.swap(false, Ordering::Relaxed) {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd {
            fd: conn.stream.as_raw_fd(),
            events,
            revents: 0,
        };
        // Whole milliseconds, rounded up: no busy loop in the last one.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `pfd` is one valid, initialised pollfd that outlives the
        // call, and nfds is 1; `fd` stays open (`conn` holds it).
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 && pfd.revents & !libc::POLLOUT != 0 {
            // Data, EOF or an error: the next read returns at once.
            conn.readiness.readable.store(true, Ordering::Relaxed);
        }
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// A second handle on a connection's socket, for [`block_on`] and for
/// peeking between requests.
pub(super) struct Probe {
    pub(super) stream: TcpStream,
    pub(super) readiness: Arc<Readiness>,
}

/// What [`block_on`] and the [`Socket`] under hyper know of the socket.
pub(super) struct Readiness {
    /// A read may not block (false after one would have).
    pub(super) readable: AtomicBool,
    /// A write would have blocked: wait for writability too.
    pub(super) write_blocked: AtomicBool,
    /// Bytes written to the socket so far: a request none of whose bytes
    /// were written cannot have reached the server.
    pub(super) written: AtomicU64,
}

impl Readiness {
    pub(super) fn new() -> Readiness {
        Readiness {
            readable: AtomicBool::new(true),
            write_blocked: AtomicBool::new(false),
            written: AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_interrupted_read_or_write_asks_to_be_polled_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let socket = Socket {
            stream,
            readiness: Arc::new(Readiness::new()),
            scratch: Vec::new(),
        };
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let cx = Context::from_waker(&waker);
        let interrupted = io::Error::from(io::ErrorKind::Interrupted);
        assert!(socket.wrote(&cx, Err(interrupted)).is_pending());
        assert!(
            flag.0.load(Ordering::Acquire),
            "woken: block_on polls again"
        );
        assert!(!socket.readiness.write_blocked.load(Ordering::Relaxed));
        assert!(matches!(socket.wrote(&cx, Ok(5)), Poll::Ready(Ok(5))));
        assert_eq!(socket.readiness.written.load(Ordering::Relaxed), 5);
    }
}
