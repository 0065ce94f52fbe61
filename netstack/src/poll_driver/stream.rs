//! Poll-mode streams and listeners: [`NetStream`] is `AsyncRead + AsyncWrite`
//! over one connection of the core's [`Stack`]; [`NetListener`] accepts from a
//! stack listener.
//!
//! Invariants: a stream holds only a generation-tagged [`ConnId`], so an
//! operation after the connection was freed fails with `NotConnected` and is
//! counted by the stack, never touches another connection; dropping a stream
//! releases the connection (FIN, then freed or TIME-WAIT by the stack); writes
//! are queued in the socket and leave at the driver's `flush` at the end of the
//! loop turn (one egress per connection per turn, however many writes).

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use dataplane::io::{Endpoint, Listener, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::port::Port;
use crate::stack::{ConnId, ListenerId, Stack};

/// One TCP connection of a poll-mode stack.
pub struct NetStream<P: Port> {
    stack: Rc<RefCell<Stack<P>>>,
    id: ConnId,
    local: SocketAddrV4,
    peer: SocketAddrV4,
}

impl<P: Port> NetStream<P> {
    pub(crate) fn new(stack: Rc<RefCell<Stack<P>>>, id: ConnId) -> io::Result<Self> {
        let t = stack
            .borrow_mut()
            .tuple(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection closed"))?;
        Ok(NetStream {
            stack,
            id,
            local: t.local,
            peer: t.remote,
        })
    }

    /// The connection's handle in its stack.
    pub fn id(&self) -> ConnId {
        self.id
    }
}

impl<P: Port> Drop for NetStream<P> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stack.try_borrow_mut() {
            s.release(self.id);
        }
    }
}

impl<P: Port> AsyncRead for NetStream<P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let dst = buf.initialize_unfilled();
        match this.stack.borrow_mut().recv(this.id, dst, cx) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<P: Port> AsyncWrite for NetStream<P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.stack.borrow_mut().send(this.id, buf, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut stack = this.stack.borrow_mut();
        let mut total = 0;
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            match stack.send(this.id, b, cx) {
                Poll::Ready(Ok(n)) => {
                    total += n;
                    if n < b.len() {
                        break;
                    }
                }
                Poll::Ready(Err(e)) if total == 0 => return Poll::Ready(Err(e)),
                Poll::Pending if total == 0 => return Poll::Pending,
                _ => break,
            }
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        Poll::Ready(this.stack.borrow_mut().shutdown(this.id))
    }
}

impl<P: Port + 'static> Stream for NetStream<P> {
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stack.borrow_mut().poll_connect(self.id, cx)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::V4(self.peer))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::V4(self.local))
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.stack.borrow_mut().set_nodelay(self.id, on)
    }

    fn abort(&mut self) {
        self.stack.borrow_mut().abort(self.id);
    }

    fn idle_input_pending(&self) -> bool {
        self.stack.borrow_mut().idle_input_pending(self.id)
    }
}

/// A listening endpoint of a poll-mode stack.
pub struct NetListener<P: Port> {
    stack: Rc<RefCell<Stack<P>>>,
    id: ListenerId,
    at: Endpoint,
}

impl<P: Port> NetListener<P> {
    pub(crate) fn new(stack: Rc<RefCell<Stack<P>>>, id: ListenerId, at: Endpoint) -> Self {
        NetListener { stack, id, at }
    }
}

impl<P: Port> Drop for NetListener<P> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stack.try_borrow_mut() {
            s.unlisten(self.id);
        }
    }
}

impl<P: Port + 'static> Listener for NetListener<P> {
    type Stream = NetStream<P>;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<NetStream<P>>> {
        let id = self.stack.borrow_mut().accept(self.id, cx.waker());
        match id {
            Some(id) => Poll::Ready(NetStream::new(self.stack.clone(), id)),
            None => Poll::Pending,
        }
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(self.at.clone())
    }
}
