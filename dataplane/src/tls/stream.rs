//! [`MaybeTls`]: a connection of the I/O seam, in clear or wrapped in TLS (as the
//! server of a client, or as the client of a server), usable wherever a
//! [`Stream`] is.
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
}

impl<S> MaybeTls<S> {
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTls::Plain(_))
    }

    /// The underlying connection.
    pub fn inner(&self) -> &S {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Server(t) => t.get_ref().0,
            MaybeTls::Client(t) => t.get_ref().0,
        }
    }

    fn inner_mut(&mut self) -> &mut S {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Server(t) => t.get_mut().0,
            MaybeTls::Client(t) => t.get_mut().0,
        }
    }

    fn tls_wants_write(&self) -> bool {
        match self {
            MaybeTls::Plain(_) => false,
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
            MaybeTls::Plain(_) => Poll::Ready(Ok(())),
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
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Server(t) => t.is_write_vectored(),
            MaybeTls::Client(t) => t.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_flush(cx),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_flush(cx),
        }
    }

    /// TLS: send `close_notify`, flush, then half-close the connection.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Server(t) => Pin::new(&mut **t).poll_shutdown(cx),
            MaybeTls::Client(t) => Pin::new(&mut **t).poll_shutdown(cx),
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
        self.inner().peer_addr()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner().local_addr()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner().set_nodelay(on)
    }

    fn abort(&mut self) {
        self.inner_mut().abort()
    }

    /// Input on an idle TLS connection (a `close_notify`, a late session ticket) is
    /// input all the same: the connection is then not reused, which is safe.
    fn idle_input_pending(&self) -> bool {
        self.inner().idle_input_pending()
    }
}
