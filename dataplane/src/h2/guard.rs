//! [`Guarded`]: the I/O wrapper between a client's HTTP/2 connection and the `h2`
//! crate that enforces sluice's flood limits and counts what crosses the wire.
//!
//! The `h2` crate answers most abuse itself (rapid reset while streams wait to be
//! accepted, CONTINUATION floods, oversized header blocks, every protocol error);
//! what it does not limit — floods of PING, SETTINGS, empty frames and RST_STREAM
//! arriving faster than any client needs — is counted here per connection over
//! one-second windows. Outgoing GOAWAY and RST_STREAM frames are read (code and
//! debug data) so every answer the connection gets is counted by its cause.
//!
//! Invariants: the wrapper never changes a byte; when a limit is passed it stops
//! handing input to `h2` at the offending frame's first byte and raises a flag the
//! connection task turns into `GOAWAY(ENHANCE_YOUR_CALM)` (frames before it were
//! processed normally). It keeps no buffer of its own.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::counters::{self, H2Counters};
use super::scan::{flag, kind, FrameScanner, Seen};
use crate::runtime::clock;

/// Frames of one kind a client may send per second before the connection is
/// answered with `GOAWAY(ENHANCE_YOUR_CALM)`.
#[derive(Clone, Copy, Debug)]
pub struct FloodLimits {
    pub ping: u32,
    pub settings: u32,
    /// DATA without payload nor END_STREAM, HEADERS/CONTINUATION without payload
    /// nor END_HEADERS: frames that carry nothing.
    pub empty: u32,
    pub rst_stream: u32,
}

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            ping: 100,
            settings: 100,
            empty: 100,
            rst_stream: 200,
        }
    }
}

/// Why a connection was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flood {
    Ping,
    Settings,
    Empty,
    RapidReset,
}

impl Flood {
    pub fn describe(self) -> &'static str {
        match self {
            Flood::Ping => "HTTP/2 PING flood",
            Flood::Settings => "HTTP/2 SETTINGS flood",
            Flood::Empty => "HTTP/2 empty-frame flood",
            Flood::RapidReset => "HTTP/2 rapid reset (RST_STREAM flood)",
        }
    }
}

/// What the connection task reads from the wrapper.
#[derive(Default)]
pub struct GuardState {
    tripped: Cell<Option<Flood>>,
    /// RST_STREAM frames we sent with an error (not NO_ERROR or CANCEL): streams
    /// ended for the client's protocol errors, logged when the connection ends.
    pub stream_errors: Cell<u32>,
}

impl GuardState {
    pub fn tripped(&self) -> Option<Flood> {
        self.tripped.get()
    }
}

#[derive(Default)]
struct Window {
    start_ms: u64,
    ping: u32,
    settings: u32,
    empty: u32,
    rst: u32,
}

/// A client connection under watch.
pub struct Guarded<IO> {
    io: IO,
    rx: FrameScanner,
    tx: FrameScanner,
    limits: FloodLimits,
    win: Window,
    state: Rc<GuardState>,
}

impl<IO> Guarded<IO> {
    /// `preface`: the client preface is still to come on `io` (it is skipped, not
    /// checked: `h2` checks it).
    pub fn new(io: IO, limits: FloodLimits, preface: bool) -> (Self, Rc<GuardState>) {
        let state = Rc::new(GuardState::default());
        (
            Guarded {
                io,
                rx: FrameScanner::new(preface),
                tx: FrameScanner::new(false),
                limits,
                win: Window::default(),
                state: state.clone(),
            },
            state,
        )
    }

    /// Account one incoming frame header; `Some` when it passes a limit.
    fn on_rx(&mut self, h: super::scan::FrameHead) -> Option<Flood> {
        let now = clock::now_ms();
        if now.saturating_sub(self.win.start_ms) >= 1000 {
            self.win = Window {
                start_ms: now,
                ..Window::default()
            };
        }
        let w = &mut self.win;
        let l = &self.limits;
        match h.kind {
            kind::PING if h.flags & flag::ACK == 0 => {
                w.ping += 1;
                (w.ping > l.ping).then_some(Flood::Ping)
            }
            kind::SETTINGS if h.flags & flag::ACK == 0 => {
                w.settings += 1;
                (w.settings > l.settings).then_some(Flood::Settings)
            }
            kind::RST_STREAM => {
                counters::bump(|c| c.rst_stream_rcvd += 1);
                w.rst += 1;
                (w.rst > l.rst_stream).then_some(Flood::RapidReset)
            }
            kind::GOAWAY => {
                counters::bump(|c| c.goaway_rcvd += 1);
                None
            }
            kind::DATA if h.len == 0 && h.flags & flag::END_STREAM == 0 => {
                w.empty += 1;
                (w.empty > l.empty).then_some(Flood::Empty)
            }
            kind::HEADERS | kind::CONTINUATION
                if h.len == 0 && h.flags & flag::END_HEADERS == 0 =>
            {
                w.empty += 1;
                (w.empty > l.empty).then_some(Flood::Empty)
            }
            _ => None,
        }
    }
}

/// Count a frame we send.
fn on_tx(state: &GuardState, seen: Seen<'_>) {
    let Seen::Payload { head, bytes } = seen else {
        return;
    };
    match head.kind {
        kind::GOAWAY if bytes.len() >= 8 => {
            let code = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let debug = &bytes[8..];
            counters::bump(|c| count_goaway(c, code, debug, state.tripped()));
        }
        kind::RST_STREAM if bytes.len() == 4 => {
            let code = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if code != 0x0 && code != 0x8 {
                state.stream_errors.set(state.stream_errors.get() + 1);
            }
            counters::bump(|c| {
                c.rst_stream_sent += 1;
                if code == 0x1 {
                    c.strm_protocol_errors += 1;
                }
            });
        }
        _ => {}
    }
}

/// Attribute a GOAWAY we sent to its cause.
fn count_goaway(c: &mut H2Counters, code: u32, debug: &[u8], flood: Option<Flood>) {
    c.goaway_sent += 1;
    if code != 0 {
        c.conn_protocol_errors += 1;
    }
    match flood {
        // Counted when the limit was passed (the GOAWAY may never leave).
        Some(_) => {}
        None if debug.starts_with(b"too_many_resets")
            || debug.starts_with(b"too_many_internal_resets") =>
        {
            c.rapid_reset += 1
        }
        None if debug.starts_with(b"too_many_continuations") => c.continuation_flood += 1,
        None if debug.starts_with(b"header_list_way_too_large") => c.header_list_too_large += 1,
        None => {}
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.tripped.get().is_some() {
            // Nothing more reaches h2; the connection task is sending GOAWAY.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let filled = buf.filled().len();
        let mut rx = std::mem::replace(&mut this.rx, FrameScanner::new(false));
        let mut trip = None;
        let stop = rx.feed(&buf.filled()[before..filled], |seen| match seen {
            Seen::Head { head, .. } => match this.on_rx(head) {
                Some(f) => {
                    trip = Some(f);
                    false
                }
                None => true,
            },
            Seen::Payload { .. } => true,
        });
        this.rx = rx;
        if let (Some(at), Some(f)) = (stop, trip) {
            buf.set_filled(before + at.max(0) as usize);
            this.state.tripped.set(Some(f));
            counters::bump(|c| match f {
                Flood::Ping => c.ping_flood += 1,
                Flood::Settings => c.settings_flood += 1,
                Flood::Empty => c.empty_frame_flood += 1,
                Flood::RapidReset => c.rapid_reset += 1,
            });
            // The connection task must see the flag now.
            cx.waker().wake_by_ref();
            if buf.filled().len() == before {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            let state = &this.state;
            this.tx.feed(&buf[..n], |seen| {
                on_tx(state, seen);
                true
            });
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            let mut left = n;
            let state = &this.state;
            for b in bufs {
                if left == 0 {
                    break;
                }
                let take = b.len().min(left);
                this.tx.feed(&b[..take], |seen| {
                    on_tx(state, seen);
                    true
                });
                left -= take;
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
