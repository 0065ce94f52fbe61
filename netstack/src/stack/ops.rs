//! What streams do to their connection: read, write, connect completion,
//! shutdown, abort, release, and the idle check. Every entry point checks the
//! handle's generation first (stale handles are counted, never acted on).

use std::io;
use std::task::{Context, Poll};

use smoltcp::socket::tcp::{RecvError, State};
use smoltcp::time::Duration as SmolDuration;

use super::*;
use crate::port::Port;

impl<P: Port> Stack<P> {
    pub(super) fn conn(&mut self, id: ConnId) -> io::Result<&mut Conn> {
        let s = self
            .slots
            .get_mut(id.slot as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no such connection"))?;
        if s.gen != id.gen || s.conn.is_none() {
            if s.conn.is_none() && s.gen == id.gen.wrapping_add(1) {
                self.counters.stale_just_closed += 1;
            } else {
                self.counters.stale_recycled += 1;
            }
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed",
            ));
        }
        Ok(s.conn.as_mut().expect("checked"))
    }

    /// Reads into `buf`: `Ready(Ok(0))` at end of stream.
    pub fn recv(
        &mut self,
        id: ConnId,
        buf: &mut [u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let wr_shut = c.wr_shut;
        let s = c.socket();
        match s.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                s.register_recv_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                // The window opened: smoltcp may want to say so.
                self.mark_dirty(id.slot);
                Poll::Ready(Ok(n))
            }
            Err(RecvError::Finished) => Poll::Ready(Ok(0)),
            Err(RecvError::InvalidState) => match s.state() {
                State::Listen | State::SynSent | State::SynReceived => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed if !wr_shut => {
                    Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
                }
                _ => Poll::Ready(Ok(0)),
            },
        }
    }

    /// Writes from `buf`.
    pub fn send(
        &mut self,
        id: ConnId,
        buf: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if c.wr_shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let s = c.socket();
        if !s.may_send() {
            return match s.state() {
                State::SynSent | State::SynReceived | State::Listen => {
                    s.register_send_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                _ => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            };
        }
        match s.send_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                self.mark_dirty(id.slot);
                Poll::Ready(Ok(n))
            }
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    /// Ready once the handshake of an outgoing connection ended.
    pub fn poll_connect(&mut self, id: ConnId, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let s = c.socket();
        match s.state() {
            State::SynSent | State::SynReceived => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            State::Closed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused or timed out",
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Half-closes the write side (FIN after queued data).
    pub fn shutdown(&mut self, id: ConnId) -> io::Result<()> {
        let c = self.conn(id)?;
        c.wr_shut = true;
        c.socket().close();
        self.mark_dirty(id.slot);
        Ok(())
    }

    /// Resets the connection.
    pub fn abort(&mut self, id: ConnId) {
        if let Ok(c) = self.conn(id) {
            c.wr_shut = true;
            c.socket().abort();
            // Send the RST now: a release right after must find it gone.
            self.egress(id.slot);
        }
    }

    /// The stream is gone: the connection closes on its own (FIN), bounded in
    /// time, and is freed when done.
    pub fn release(&mut self, id: ConnId) {
        let timeout = SmolDuration::from_micros(self.cfg.orphan_timeout.as_micros() as u64);
        let Ok(c) = self.conn(id) else {
            return;
        };
        c.owner = Owner::Orphan;
        let wr_shut = c.wr_shut;
        let s = c.socket();
        match s.state() {
            State::Closed | State::Listen => {
                self.free_slot(id.slot);
                return;
            }
            _ => {
                if !wr_shut {
                    s.close();
                }
                s.set_timeout(Some(timeout));
                // Nobody reads any more: acknowledge at once, so a TIME-WAIT
                // socket has nothing left to send when it becomes a record.
                s.set_ack_delay(None);
            }
        }
        self.mark_dirty(id.slot);
    }

    /// Whether an idle connection saw input, a hang-up or an error.
    pub fn idle_input_pending(&mut self, id: ConnId) -> bool {
        match self.conn(id) {
            Ok(c) => {
                let s = c.socket_ref();
                s.can_recv() || !s.may_recv() || s.state() != State::Established
            }
            Err(_) => true,
        }
    }

    /// Nagle on or off.
    pub fn set_nodelay(&mut self, id: ConnId, on: bool) -> io::Result<()> {
        self.conn(id)?.socket().set_nagle_enabled(!on);
        Ok(())
    }

    /// The connection's 4-tuple.
    pub fn tuple(&mut self, id: ConnId) -> Option<Tuple> {
        self.conn(id).ok().map(|c| c.tuple)
    }

    /// The smoltcp state of a connection (tests, `show fd`).
    pub fn state(&mut self, id: ConnId) -> Option<State> {
        self.conn(id).ok().map(|c| c.socket_ref().state())
    }
}
