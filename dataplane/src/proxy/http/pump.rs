//! Streaming one HTTP/1 message body from one side to the other.
//!
//! Owns: [`BodyPump`], a poll-driven state machine that reads from a source into its
//! buffer, validates the framing with the codec's [`BodyDecoder`], and writes exactly
//! the validated bytes to the destination. The framing is forwarded as received
//! (a chunked body stays chunked, trailers included): what the server parses is
//! byte for byte what our strict decoder accepted, so the two cannot disagree about
//! where the body ends (no request smuggling), and nothing is re-encoded.
//!
//! A pump may carry a *prefix* (the serialised head of the message): it is written
//! together with the first body bytes already buffered, in one vectored write, so a
//! small message costs one syscall.
//!
//! Invariants: never more than one buffer of body in memory; never forwards a byte
//! the decoder has not accepted; stops exactly at the end of the body, leaving the
//! next pipelined message in the source buffer; the prefix is written whole before
//! any body byte.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::buf::IoBuf;
use crate::h1::{BodyDecoder, H1Error};

/// Why a body could not be forwarded.
#[derive(Debug)]
pub enum PumpError {
    /// The source sent invalid framing or closed early (answer 400 / 502).
    Framing(H1Error),
    /// Reading from the source failed.
    Source(std::io::Error),
    /// Writing to the destination failed.
    Dest(std::io::Error),
}

/// Forwards one body.
pub struct BodyPump {
    dec: BodyDecoder,
    /// Leading bytes of the source buffer accepted by the decoder, not yet written.
    out: usize,
    finished: bool,
    /// Bytes written to the destination (framing included).
    pub wire_bytes: u64,
    /// Whether the destination was flushed after the body.
    flushed: bool,
    /// Bytes to write before the body (a head), and how many were written.
    prefix: Vec<u8>,
    prefix_off: usize,
}

impl BodyPump {
    pub fn new(dec: BodyDecoder) -> Self {
        BodyPump {
            dec,
            out: 0,
            finished: false,
            wire_bytes: 0,
            flushed: false,
            prefix: Vec::new(),
            prefix_off: 0,
        }
    }

    /// Write `head` before the body.
    pub fn set_prefix(&mut self, head: Vec<u8>) {
        self.prefix = head;
        self.prefix_off = 0;
    }

    /// Take the prefix back (its content intact, for a retry or to reuse the
    /// allocation).
    pub fn take_prefix(&mut self) -> Vec<u8> {
        self.prefix_off = 0;
        std::mem::take(&mut self.prefix)
    }

    /// Bytes of the prefix written so far.
    pub fn prefix_written(&self) -> usize {
        self.prefix_off
    }

    /// Whether the whole prefix was written.
    pub fn prefix_done(&self) -> bool {
        self.prefix_off == self.prefix.len()
    }

    /// Let the decoder accept what is buffered (no read). Sets `out`/`finished`.
    fn accept_buffered(&mut self, buf: &IoBuf) -> Result<(), PumpError> {
        let data = buf.data();
        let mut total = self.out;
        while !self.finished {
            let d = self
                .dec
                .decode(&data[total..])
                .map_err(PumpError::Framing)?;
            total += d.consumed;
            match d.step {
                crate::h1::BodyStep::End => self.finished = true,
                crate::h1::BodyStep::NeedMore => break,
                _ if total == data.len() => break,
                _ => {}
            }
        }
        self.out = total;
        Ok(())
    }

    /// True once the whole body was written.
    pub fn is_done(&self) -> bool {
        self.finished && self.out == 0 && self.prefix_off == self.prefix.len()
    }

    /// Whether any body byte was accepted or forwarded yet (the prefix excluded):
    /// after that, the message cannot be replayed on another connection.
    pub fn started(&self) -> bool {
        self.wire_bytes > 0 || self.out > 0
    }

    /// Make progress; `Ready(Ok(()))` when the body is complete. `progress` is set
    /// when any byte moved (for inactivity timers).
    pub fn poll_pump<R, W>(
        &mut self,
        src: &mut R,
        buf: &mut IoBuf,
        dst: &mut W,
        cx: &mut Context<'_>,
        progress: &mut bool,
    ) -> Poll<Result<(), PumpError>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            if self.prefix_off < self.prefix.len() {
                if self.out == 0 && !self.finished {
                    if let Err(e) = self.accept_buffered(buf) {
                        return Poll::Ready(Err(e));
                    }
                }
                let slices = [
                    IoSlice::new(&self.prefix[self.prefix_off..]),
                    IoSlice::new(&buf.data()[..self.out]),
                ];
                match Pin::new(&mut *dst).poll_write_vectored(cx, &slices) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(PumpError::Dest(
                            std::io::ErrorKind::WriteZero.into(),
                        )))
                    }
                    Poll::Ready(Ok(mut n)) => {
                        let p = n.min(self.prefix.len() - self.prefix_off);
                        self.prefix_off += p;
                        n -= p;
                        buf.consume(n);
                        self.out -= n;
                        self.wire_bytes += n as u64;
                        *progress = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(PumpError::Dest(e))),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.out > 0 {
                match Pin::new(&mut *dst).poll_write(cx, &buf.data()[..self.out]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(PumpError::Dest(
                            std::io::ErrorKind::WriteZero.into(),
                        )))
                    }
                    Poll::Ready(Ok(n)) => {
                        buf.consume(n);
                        self.out -= n;
                        self.wire_bytes += n as u64;
                        *progress = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(PumpError::Dest(e))),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.finished {
                if !self.flushed {
                    match Pin::new(&mut *dst).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.flushed = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(PumpError::Dest(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                return Poll::Ready(Ok(()));
            }
            // Let the decoder accept as much of the buffer as it can.
            if let Err(e) = self.accept_buffered(buf) {
                return Poll::Ready(Err(e));
            }
            if self.out > 0 || self.finished {
                continue;
            }
            if buf.is_full() {
                // A chunk-size line or trailer section larger than a buffer.
                return Poll::Ready(Err(PumpError::Framing(H1Error::request(
                    crate::h1::ErrorKind::ChunkLineTooLong,
                    0,
                ))));
            }
            match buf.poll_fill(src, cx) {
                Poll::Ready(Ok(0)) => match self.dec.finish() {
                    Ok(()) => self.finished = true,
                    Err(e) => return Poll::Ready(Err(PumpError::Framing(e))),
                },
                Poll::Ready(Ok(_)) => *progress = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(PumpError::Source(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
