//! [`Pipe`]: an in-memory, bounded, bidirectional byte stream between two tasks of
//! one worker — how an HTTP/2 stream is presented to the HTTP/1 transaction engine.
//!
//! An H2 stream on the client side becomes a *virtual client connection* carrying one
//! HTTP/1.1 request and its response; an H2 stream to a server becomes a *virtual
//! server connection* the exchange writes its HTTP/1.1 request to. The translator
//! task of the stream holds the other end (see `front` and `back`).
//!
//! Invariants:
//! - each direction holds at most [`CAPACITY`] bytes: a writer finding it full waits
//!   (`Pending`) until the reader drains it, so a slow consumer stops the producer and
//!   memory stays bounded (the H2 flow-control window is only reopened for bytes the
//!   pipe accepted);
//! - dropping an end is a FIN in its write direction (the peer reads EOF after the
//!   buffered bytes) and makes the peer's later writes fail; [`Pipe::abort`] is a
//!   reset (the peer's reads fail at once, buffered bytes are discarded);
//! - both ends live on one worker thread (`Rc`, no locks);
//! - a read or write does not wake the other end when that end is the task doing it
//!   (one task may hold both ends: it must re-poll both after any progress, as the
//!   front stream task does), so a transfer costs no empty self-wake poll;
//! - a head handed over whole ([`Pipe::hand_head`]) sits at the read position: it is
//!   only accepted with nothing unread before it, and reading past it is an error
//!   until the reader takes it.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::h1::BodyKind;

/// A final response head passed whole from the virtual session to the front stream
/// task, instead of HTTP/1 text the task would parse again. The body that follows
/// still travels as bytes, framed as `kind` says.
pub struct HandedHead {
    pub rsp: http::Response<()>,
    pub kind: BodyKind,
}

/// Bytes buffered per direction before the writer waits.
pub const CAPACITY: usize = 64 * 1024;

/// Spare direction buffers kept per worker: a pipe per HTTP/2 stream must not cost
/// an allocation per stream in steady state.
const SPARE_KEEP: usize = 64;

/// Buffers kept in the spare list are trimmed to this capacity.
const SPARE_CAP: usize = 16 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// `show pools`: spare direction buffers kept on this worker, and their capacity.
pub fn spare_stats() -> (usize, usize) {
    SPARE.with(|s| (s.borrow().len(), SPARE_CAP))
}

pub(crate) fn take_buf() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

pub(crate) fn give_buf(mut b: Vec<u8>) {
    if b.capacity() == 0 {
        return;
    }
    b.clear();
    if b.capacity() > SPARE_CAP {
        b.shrink_to(SPARE_CAP);
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_KEEP {
            s.push(b);
        }
    });
}

#[derive(Default)]
struct Dir {
    buf: Vec<u8>,
    start: usize,
    /// The writer finished (FIN).
    eof: bool,
    /// The reader went away: writes fail.
    reader_gone: bool,
    /// Reset by either end.
    reset: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// A head handed over at the current read position (see [`Pipe::hand_head`]).
    handed: Option<HandedHead>,
}

impl Dir {
    fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// Wake the other end's task parked in `slot` after a read or write made while
/// polling `cx`, unless it is that very task (the front stream task holds both ends
/// and re-polls both after any progress): a self-wake would only cost an empty poll.
fn wake_other(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if let Some(w) = slot.take() {
        if !w.will_wake(cx.waker()) {
            w.wake();
        }
    }
}

struct Shared {
    /// `dirs[0]`: from end A to end B; `dirs[1]`: from B to A. Buffers come from
    /// the worker's spare list and go back to it.
    dirs: [Dir; 2],
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

/// One end of a pipe.
pub struct Pipe {
    shared: Rc<RefCell<Shared>>,
    /// 0 for end A, 1 for end B: the index of the direction this end writes.
    side: usize,
}

impl Pipe {
    /// A connected pair. `peer`/`local` are what [`crate::io::Stream::peer_addr`] and
    /// `local_addr` report on both ends (the real connection's addresses).
    pub fn pair(peer: Option<SocketAddr>, local: Option<SocketAddr>) -> (Pipe, Pipe) {
        let shared = Rc::new(RefCell::new(Shared {
            dirs: [Dir::default(), Dir::default()],
            peer,
            local,
        }));
        (
            Pipe {
                shared: shared.clone(),
                side: 0,
            },
            Pipe { shared, side: 1 },
        )
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.borrow().peer
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.borrow().local
    }

    /// Reset both directions: the peer's reads and writes fail from now on.
    pub fn abort(&mut self) {
        let mut s = self.shared.borrow_mut();
        for d in s.dirs.iter_mut() {
            d.reset = true;
            give_buf(std::mem::take(&mut d.buf));
            d.start = 0;
            d.wake_reader();
            d.wake_writer();
        }
    }

    /// Bytes or an end of stream are waiting to be read on this end.
    pub fn input_pending(&self) -> bool {
        let s = self.shared.borrow();
        let d = &s.dirs[1 - self.side];
        d.pending() > 0 || d.handed.is_some() || d.eof || d.reset
    }

    /// The peer end still exists and has not reset.
    pub fn peer_alive(&self) -> bool {
        let s = self.shared.borrow();
        let d = &s.dirs[self.side];
        !d.reader_gone && !d.reset
    }

    /// Read up to `out.len()` bytes (0: end of stream).
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.shared.borrow_mut();
        let d = &mut s.dirs[1 - self.side];
        if d.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if d.handed.is_some() {
            // The bytes after a handed head belong to its body: the head first.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "read past a handed response head",
            )));
        }
        let n = d.pending().min(out.len());
        if n > 0 {
            out[..n].copy_from_slice(&d.buf[d.start..d.start + n]);
            d.start += n;
            if d.start == d.buf.len() {
                d.buf.clear();
                d.start = 0;
            }
            wake_other(&mut d.writer, cx);
            return Poll::Ready(Ok(n));
        }
        if d.eof || out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        d.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Write as much of `bufs` as fits.
    fn poll_write_slices<'b, I>(&mut self, cx: &mut Context<'_>, bufs: I) -> Poll<io::Result<usize>>
    where
        I: Iterator<Item = &'b [u8]> + Clone,
    {
        let mut s = self.shared.borrow_mut();
        let d = &mut s.dirs[self.side];
        if d.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if d.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if d.eof {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let total: usize = bufs.clone().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = CAPACITY.saturating_sub(d.pending());
        if room == 0 {
            d.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if d.buf.capacity() == 0 {
            d.buf = take_buf();
        }
        if d.start > 0 && d.start >= d.buf.len() / 2 {
            d.buf.drain(..d.start);
            d.start = 0;
        }
        let mut left = room;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(left);
            d.buf.extend_from_slice(&b[..take]);
            n += take;
            left -= take;
            if left == 0 {
                break;
            }
        }
        wake_other(&mut d.reader, cx);
        Poll::Ready(Ok(n))
    }

    /// Hand a final response head to the other end instead of writing its text.
    /// Only at a message boundary with nothing unread before it (so it cannot
    /// overtake bytes written earlier, such as 1xx heads); `false` (and the head
    /// dropped: the caller writes its text instead) otherwise.
    pub fn hand_head(&mut self, cx: &Context<'_>, head: HandedHead) -> bool {
        let mut s = self.shared.borrow_mut();
        let d = &mut s.dirs[self.side];
        if d.pending() > 0 || d.eof || d.reset || d.reader_gone || d.handed.is_some() {
            return false;
        }
        d.handed = Some(head);
        wake_other(&mut d.reader, cx);
        true
    }

    /// Take a head handed by the other end: it comes before any byte still to read.
    pub fn take_head(&mut self) -> Option<HandedHead> {
        let mut s = self.shared.borrow_mut();
        s.dirs[1 - self.side].handed.take()
    }

    /// Half-close this end's write direction.
    pub fn shutdown_write(&mut self) {
        let mut s = self.shared.borrow_mut();
        let d = &mut s.dirs[self.side];
        d.eof = true;
        d.wake_reader();
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        let side = self.side;
        let out = &mut s.dirs[side];
        out.eof = true;
        out.wake_reader();
        let inp = &mut s.dirs[1 - side];
        inp.reader_gone = true;
        give_buf(std::mem::take(&mut inp.buf));
        inp.start = 0;
        inp.wake_writer();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for d in self.dirs.iter_mut() {
            give_buf(std::mem::take(&mut d.buf));
        }
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = match this.poll_read_into(cx, buf.initialize_unfilled()) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, std::iter::once(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_slices(cx, bufs.iter().map(|b| &b[..]))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().shutdown_write();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn head(status: u16) -> HandedHead {
        let mut rsp = http::Response::new(());
        *rsp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        HandedHead {
            rsp,
            kind: BodyKind::Length(2),
        }
    }

    #[test]
    fn a_handed_head_waits_for_earlier_bytes_and_comes_before_later_ones() {
        let (mut a, mut b) = Pipe::pair(None, None);
        let mut cx = cx();
        // Unread bytes (a 1xx head) before it: refused, the writer sends text.
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, b"HTTP/1.1 103 x\r\n\r\n"),
            Poll::Ready(Ok(_))
        ));
        assert!(!a.hand_head(&cx, head(200)));
        let mut out = [0u8; 64];
        assert!(matches!(
            b.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(18))
        ));
        // Drained: taken, and the body written after it is read after it.
        assert!(a.hand_head(&cx, head(200)));
        assert!(!a.hand_head(&cx, head(204)), "one head at a time");
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, b"ok"),
            Poll::Ready(Ok(2))
        ));
        assert!(b.input_pending());
        assert!(
            matches!(b.poll_read_into(&mut cx, &mut out), Poll::Ready(Err(_))),
            "reading past a handed head is refused"
        );
        assert_eq!(b.take_head().map(|h| h.rsp.status().as_u16()), Some(200));
        assert!(b.take_head().is_none());
        assert!(matches!(
            b.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(2))
        ));
        assert_eq!(&out[..2], b"ok");
    }

    #[test]
    fn writes_and_reads_wake_the_other_task_but_not_their_own() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let reader = Arc::new(Count(AtomicUsize::new(0)));
        let writer = Arc::new(Count(AtomicUsize::new(0)));
        let (rw, ww) = (Waker::from(reader.clone()), Waker::from(writer.clone()));
        let (mut a, mut b) = Pipe::pair(None, None);
        let mut out = [0u8; 8];
        // Another task reads: woken by the write.
        assert!(b
            .poll_read_into(&mut Context::from_waker(&rw), &mut out)
            .is_pending());
        let _ = Pin::new(&mut a).poll_write(&mut Context::from_waker(&ww), b"x");
        assert_eq!(reader.0.load(Ordering::SeqCst), 1);
        // The same task on both ends: no self-wake.
        let _ = b.poll_read_into(&mut Context::from_waker(&ww), &mut out);
        assert!(b
            .poll_read_into(&mut Context::from_waker(&ww), &mut out)
            .is_pending());
        let _ = Pin::new(&mut a).poll_write(&mut Context::from_waker(&ww), b"y");
        assert_eq!(writer.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn bytes_flow_both_ways_and_fin_reads_as_eof() {
        let (mut a, mut b) = Pipe::pair(None, None);
        let mut cx = cx();
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, b"hello"),
            Poll::Ready(Ok(5))
        ));
        let mut out = [0u8; 16];
        assert!(matches!(
            b.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(5))
        ));
        assert_eq!(&out[..5], b"hello");
        assert!(b.poll_read_into(&mut cx, &mut out).is_pending());
        assert!(matches!(
            Pin::new(&mut b).poll_write(&mut cx, b"back"),
            Poll::Ready(Ok(4))
        ));
        drop(b);
        assert!(matches!(
            a.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(4))
        ));
        assert!(matches!(
            a.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(0))
        ));
        // The reader is gone: writes fail.
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, b"x"),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn a_full_direction_makes_the_writer_wait() {
        let (mut a, mut b) = Pipe::pair(None, None);
        let mut cx = cx();
        let big = vec![7u8; CAPACITY + 100];
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, &big),
            Poll::Ready(Ok(n)) if n == CAPACITY
        ));
        assert!(Pin::new(&mut a).poll_write(&mut cx, &big).is_pending());
        let mut out = vec![0u8; 1000];
        assert!(matches!(
            b.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Ok(1000))
        ));
        assert!(matches!(
            Pin::new(&mut a).poll_write(&mut cx, &big),
            Poll::Ready(Ok(1000))
        ));
    }

    #[test]
    fn abort_fails_the_peer_at_once() {
        let (mut a, mut b) = Pipe::pair(None, None);
        let mut cx = cx();
        let _ = Pin::new(&mut b).poll_write(&mut cx, b"pending");
        a.abort();
        let mut out = [0u8; 8];
        assert!(matches!(
            b.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Err(_))
        ));
        assert!(matches!(
            a.poll_read_into(&mut cx, &mut out),
            Poll::Ready(Err(_))
        ));
    }
}
