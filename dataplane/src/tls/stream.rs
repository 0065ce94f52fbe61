//! [`MaybeTls`]: a connection of the I/O seam, in clear or wrapped in TLS (as the
//! server of a client, or as the client of a server) — or a virtual connection
//! carrying one HTTP/2 stream as HTTP/1.1 (see `crate::h2::pipe`) — usable wherever
//! a [`Stream`] is.
//!
//! Owns: the stream and, for TLS, the rustls connection (boxed: a clear-text
//! connection pays one word for the possibility). Invariants:
//! - TLS records that rustls could not send because the socket was full are
//!   flushed before more plaintext is accepted and before every read, so data the
//!   proxy "wrote" never sits in rustls while the proxy waits for the peer's answer
//!   (tokio-rustls returns from `poll_write` with records still buffered);
//! - [`Stream::abort`], addresses and idle checks go to the underlying connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{client, server};

use crate::io::Stream;

/// A clear or TLS connection.
pub enum MaybeTls<S> {
    Plain(S),
    /// We are the TLS server (a client connected to a `bind ... ssl`).
    Server(Box<server::TlsStream<S>>),
    /// We are the TLS client (to a `server ... ssl`).
    Client(Box<client::TlsStream<S>>),
    /// One HTTP/2 stream presented as an HTTP/1.1 connection.
    Virtual(crate::h2::pipe::Pipe),
}

impl<S> MaybeTls<S> {
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTls::Plain(_))
    }

    /// A virtual connection (one HTTP/2 stream): never pooled, never kept.
    pub fn is_virtual(&self) -> bool {
        matches!(self, MaybeTls::Virtual(_))
    }

    /// The underlying connection (`None` for a virtual one).
    pub fn inner(&self) -> Option<&S> {
        match self {
            MaybeTls::Plain(s) => Some(s),
            MaybeTls::Server(t) => Some(t.get_ref().0),
            MaybeTls::Client(t) => Some(t.get_ref().0),
            MaybeTls::Virtual(_) => None,
        }
    }

    /// The ALPN protocol a TLS handshake settled on.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            MaybeTls::Server(t) => t.get_ref().1.alpn_protocol(),
            MaybeTls::Client(t) => t.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }

    fn tls_wants_write(&self) -> bool {
        match self {
            MaybeTls::Plain(_) | MaybeTls::Virtual(_) => false,
            MaybeTls::Server(t) => t.get_ref().1.wants_write(),
            MaybeTls::Client(t) => t.get_ref().1.wants_write(),
        }
    }
}

impl<S: Stream> MaybeTls<S> {
    /// Push out TLS records rustls still holds. `Ready(Ok)` when none is left.
    fn poll_pending_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.tls_wants_write() {
            return Poll::Ready(Ok(()));
        }
        match self {
            MaybeTls::Plain(_) | MaybeTls::Virtual(_) => Poll::Ready(Ok(())),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_flush(cx),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_flush(cx),
        }
    }
}

impl<S: Stream> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Whatever we wrote must leave before we wait for an answer.
        if let Poll::Ready(Err(e)) = this.poll_pending_records(cx) {
            return Poll::Ready(Err(e));
        }
        match this {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_read(cx, buf),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_read(cx, buf),
            MaybeTls::Virtual(p) => Pin::new(p).poll_read(cx, buf),
        }
    }
}

impl<S: Stream> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_pending_records(cx)?.is_pending() {
            return Poll::Pending;
        }
        match this {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_write(cx, buf),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_write(cx, buf),
            MaybeTls::Virtual(p) => Pin::new(p).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_pending_records(cx)?.is_pending() {
            return Poll::Pending;
        }
        match this {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_write_vectored(cx, bufs),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_write_vectored(cx, bufs),
            MaybeTls::Virtual(p) => Pin::new(p).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Server(t) => t.is_write_vectored(),
            MaybeTls::Client(t) => t.is_write_vectored(),
            MaybeTls::Virtual(p) => p.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_flush(cx),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_flush(cx),
            MaybeTls::Virtual(p) => Pin::new(p).poll_flush(cx),
        }
    }

    /// TLS: send `close_notify`, flush, then half-close the connection.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_shutdown(cx),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_shutdown(cx),
            MaybeTls::Virtual(p) => Pin::new(p).poll_shutdown(cx),
        }
    }
}

impl<S: Stream> Stream for MaybeTls<S> {
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(s) => s.poll_connect(cx),
            // A TLS stream exists only over an established connection.
            _ => Poll::Ready(Ok(())),
        }
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            MaybeTls::Virtual(p) => p.peer_addr(),
            _ => self.inner().and_then(|s| s.peer_addr()),
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            MaybeTls::Virtual(p) => p.local_addr(),
            _ => self.inner().and_then(|s| s.local_addr()),
        }
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self.inner() {
            Some(s) => s.set_nodelay(on),
            None => Ok(()),
        }
    }

    fn abort(&mut self) {
        match self {
            MaybeTls::Plain(s) => s.abort(),
            MaybeTls::Server(t) => t.get_mut().0.abort(),
            MaybeTls::Client(t) => t.get_mut().0.abort(),
            MaybeTls::Virtual(p) => p.abort(),
        }
    }

    /// Input on an idle TLS connection (a `close_notify`, a late session ticket) is
    /// input all the same: the connection is then not reused, which is safe.
    /// Clear connections only: a TLS session's state cannot be rebuilt around
    /// another worker's socket with tokio-rustls.
    fn into_portable(self) -> Result<crate::io::Portable, Self> {
        match self {
            MaybeTls::Plain(s) => s.into_portable().map_err(MaybeTls::Plain),
            other => Err(other),
        }
    }

    fn idle_input_pending(&self) -> bool {
        match self {
            MaybeTls::Virtual(p) => p.input_pending() || !p.peer_alive(),
            _ => self.inner().is_some_and(|s| s.idle_input_pending()),
        }
    }
}
