//! Bidirectional byte forwarding with half-close and an inactivity timeout: TCP mode,
//! and HTTP connections after `101 Switching Protocols` or a `CONNECT` 2xx.
//!
//! Owns: nothing beyond the call; the caller's streams and buffers are borrowed.
//! Invariants:
//! - a FIN from one side is propagated as a write shutdown to the other side only
//!   after everything read before it was written (no data loss on half-close);
//! - the inactivity timer restarts on any progress in either direction and ends the
//!   tunnel when it fires (HAProxy's `timeout tunnel`, or client/server timeouts);
//! - buffers go back to the pool as soon as they are empty.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::buf::IoBuf;
use crate::runtime::Timer;

/// How a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both sides closed their write side and everything was delivered.
    Closed,
    /// No traffic for the inactivity timeout.
    Timeout,
    /// A read or write error on the client (`a`) side.
    ErrorA,
    /// A read or write error on the server (`b`) side.
    ErrorB,
}

/// Bytes moved and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelResult {
    pub a_to_b: u64,
    pub b_to_a: u64,
    pub end: TunnelEnd,
}

/// One direction: read from `src` into `buf`, write to `dst`, shut `dst` on EOF.
struct Half {
    buf: IoBuf,
    eof: bool,
    shut: bool,
    bytes: u64,
}

impl Half {
    fn new(initial: IoBuf) -> Self {
        Half {
            buf: initial,
            eof: false,
            shut: false,
            bytes: 0,
        }
    }

    fn done(&self) -> bool {
        self.shut
    }

    /// Make as much progress as possible. Ok(true) when something moved.
    fn poll_step<R, W>(
        &mut self,
        src: &mut R,
        dst: &mut W,
        cx: &mut Context<'_>,
    ) -> Result<bool, (bool /*src side*/, io::Error)>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut progressed = false;
        loop {
            if !self.buf.is_empty() {
                match self.buf.poll_drain(dst, cx) {
                    Poll::Ready(Ok(n)) => {
                        self.bytes += n as u64;
                        progressed = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Err((false, e)),
                    Poll::Pending => return Ok(progressed),
                }
            }
            if self.eof {
                if !self.shut {
                    match Pin::new(&mut *dst).poll_shutdown(cx) {
                        Poll::Ready(Ok(())) => {
                            self.shut = true;
                            progressed = true;
                        }
                        // A peer that already closed: nothing more to deliver.
                        Poll::Ready(Err(_)) => self.shut = true,
                        Poll::Pending => {}
                    }
                }
                return Ok(progressed);
            }
            match self.buf.poll_fill(src, cx) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    progressed = true;
                }
                Poll::Ready(Ok(_)) => progressed = true,
                Poll::Ready(Err(e)) => return Err((true, e)),
                Poll::Pending => return Ok(progressed),
            }
        }
    }
}

/// Forward bytes both ways between `a` (client side) and `b` (server side) until both
/// directions are closed, an error occurs, or nothing moves for `idle`.
/// `a_pending` holds bytes already read from `a` and owed to `b`; `b_pending` the
/// reverse.
pub async fn tunnel<A, B>(
    a: &mut A,
    a_pending: IoBuf,
    b: &mut B,
    b_pending: IoBuf,
    idle: Option<Duration>,
) -> TunnelResult
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut ab = Half::new(a_pending);
    let mut ba = Half::new(b_pending);
    let mut timer = Timer::new();
    timer.set_after(idle);
    let end = poll_fn(|cx| {
        loop {
            let mut progressed = false;
            if !ab.done() {
                match ab.poll_step(a, b, cx) {
                    Ok(p) => progressed |= p,
                    Err((src, _)) => {
                        return Poll::Ready(if src {
                            TunnelEnd::ErrorA
                        } else {
                            TunnelEnd::ErrorB
                        })
                    }
                }
            }
            if !ba.done() {
                match ba.poll_step(b, a, cx) {
                    Ok(p) => progressed |= p,
                    Err((src, _)) => {
                        return Poll::Ready(if src {
                            TunnelEnd::ErrorB
                        } else {
                            TunnelEnd::ErrorA
                        })
                    }
                }
            }
            if ab.done() && ba.done() {
                return Poll::Ready(TunnelEnd::Closed);
            }
            if progressed {
                timer.set_after(idle);
                continue;
            }
            break;
        }
        if timer.poll_expired(cx).is_ready() {
            return Poll::Ready(TunnelEnd::Timeout);
        }
        Poll::Pending
    })
    .await;
    TunnelResult {
        a_to_b: ab.bytes,
        b_to_a: ba.bytes,
        end,
    }
}
