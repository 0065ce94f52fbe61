//! Per-core I/O buffers, held only while data is in flight (HAProxy's rule).
//!
//! Owns: the worker's pool of fixed-size byte buffers (`tune.bufsize`) and [`IoBuf`],
//! a window over one pooled buffer. Invariants:
//! - an `IoBuf` with no pending bytes can give its storage back ([`IoBuf::release`]),
//!   so an idle keep-alive connection, client or server side, holds no buffer;
//! - the pool never holds more than a bounded number of spare buffers;
//! - reading helpers take a buffer from the pool only for the duration of a read
//!   attempt when nothing is pending, and give it back on `Pending`.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Spare buffers kept per worker beyond those in use (4 MiB at the default size):
/// enough to absorb bursts without going back to the allocator, small enough that
/// a past burst does not pin memory.
const POOL_KEEP: usize = 256;

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { size: 16384, spare: Vec::new(), allocated: 0, in_use: 0 }) };
}

struct Pool {
    size: usize,
    spare: Vec<Vec<u8>>,
    allocated: usize,
    in_use: usize,
}

/// Pool figures for `show pools` and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub size: usize,
    pub allocated: usize,
    pub in_use: usize,
    pub spare: usize,
}

/// Set this worker's buffer size (`tune.bufsize`); drops spares of another size.
pub fn set_buffer_size(size: usize) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.size != size {
            p.allocated -= p.spare.len();
            p.spare.clear();
            p.size = size;
        }
    });
}

/// The worker's buffer size.
pub fn buffer_size() -> usize {
    POOL.with(|p| p.borrow().size)
}

pub fn pool_stats() -> PoolStats {
    POOL.with(|p| {
        let p = p.borrow();
        PoolStats {
            size: p.size,
            allocated: p.allocated,
            in_use: p.in_use,
            spare: p.spare.len(),
        }
    })
}

fn take() -> Vec<u8> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.in_use += 1;
        match p.spare.pop() {
            Some(b) => b,
            None => {
                p.allocated += 1;
                vec![0u8; p.size]
            }
        }
    })
}

fn give(b: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.in_use -= 1;
        if b.len() == p.size && p.spare.len() < POOL_KEEP {
            p.spare.push(b);
        } else {
            p.allocated -= 1;
        }
    });
}

/// A window `[start, end)` of pending bytes over an optional pooled buffer.
#[derive(Debug, Default)]
pub struct IoBuf {
    buf: Option<Vec<u8>>,
    start: usize,
    end: usize,
}

impl IoBuf {
    pub const fn new() -> Self {
        IoBuf {
            buf: None,
            start: 0,
            end: 0,
        }
    }

    /// Pending bytes.
    pub fn data(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.start..self.end],
            None => &[],
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether storage is held.
    pub fn is_allocated(&self) -> bool {
        self.buf.is_some()
    }

    /// Capacity of a full buffer.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().map_or_else(buffer_size, |b| b.len())
    }

    /// Whether no more bytes fit even after compaction.
    pub fn is_full(&self) -> bool {
        self.buf.is_some() && self.len() == self.capacity()
    }

    /// Drop `n` pending bytes from the front.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consume past the pending bytes");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Give the storage back to the pool if nothing is pending.
    pub fn release(&mut self) {
        if self.is_empty() {
            if let Some(b) = self.buf.take() {
                give(b);
            }
            self.start = 0;
            self.end = 0;
        }
    }

    /// Writable space at the end (allocating and compacting as needed).
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let b = self.buf.get_or_insert_with(take);
        if self.end == b.len() && self.start > 0 {
            b.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut b[self.end..]
    }

    /// Mark `n` bytes written into [`spare_mut`](Self::spare_mut) as pending.
    pub fn commit(&mut self, n: usize) {
        let cap = self.buf.as_ref().map_or(0, |b| b.len());
        assert!(self.end + n <= cap, "commit past the buffer");
        self.end += n;
    }

    /// Append bytes; returns how many fitted.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare_mut();
        let n = spare.len().min(bytes.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// Read once from `r` into the spare space. `Ok(0)` is end of stream (or a full
    /// buffer: check [`is_full`](Self::is_full) before calling). On `Pending` an empty
    /// buffer goes back to the pool.
    pub fn poll_fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let spare = self.spare_mut();
        if spare.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut rb = ReadBuf::new(spare);
        match Pin::new(r).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                self.end += n;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => {
                self.release();
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                self.release();
                Poll::Pending
            }
        }
    }

    /// Write pending bytes once to `w`, consuming what was written.
    pub fn poll_drain<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        w: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match Pin::new(w).poll_write(cx, self.data()) {
            Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                self.consume(n);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
}

impl Drop for IoBuf {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            give(b);
        }
    }
}

/// Write all of `bytes` to `w`.
pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    mut bytes: &[u8],
) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, bytes)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Write all of several slices with vectored writes (one syscall when they fit).
pub async fn write_all_vectored<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    parts: &[&[u8]],
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut written = 0usize;
    while written < total {
        let mut skip = written;
        let mut slices: [io::IoSlice<'_>; 8] = std::array::from_fn(|_| io::IoSlice::new(&[]));
        let mut k = 0;
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            if k == slices.len() {
                break;
            }
            slices[k] = io::IoSlice::new(&p[skip..]);
            skip = 0;
            k += 1;
        }
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write_vectored(cx, &slices[..k])).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_push_consume_release() {
        set_buffer_size(64);
        let before = pool_stats();
        let mut b = IoBuf::new();
        assert!(!b.is_allocated());
        assert_eq!(b.push(b"hello world"), 11);
        assert_eq!(b.data(), b"hello world");
        b.consume(6);
        assert_eq!(b.data(), b"world");
        b.release();
        assert!(b.is_allocated(), "pending bytes keep the buffer");
        b.consume(5);
        b.release();
        assert!(!b.is_allocated());
        assert_eq!(pool_stats().in_use, before.in_use);
    }

    #[test]
    fn compaction_and_full() {
        set_buffer_size(16);
        let mut b = IoBuf::new();
        assert_eq!(b.push(&[1; 16]), 16);
        assert!(b.is_full());
        assert_eq!(b.push(&[2; 4]), 0);
        b.consume(10);
        assert_eq!(b.push(&[3; 8]), 8, "compacts to make room");
        assert_eq!(b.len(), 14);
        assert_eq!(&b.data()[..6], &[1; 6]);
        assert_eq!(&b.data()[6..], &[3; 8]);
    }
}
