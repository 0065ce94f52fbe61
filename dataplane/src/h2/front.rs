//! The HTTP/2 client side: one task per client connection drives the `h2` server
//! connection; each stream it accepts gets a translator task and a virtual HTTP/1
//! session (the same transaction engine as HTTP/1 clients: rules, routing, load
//! balancing, retries, logs) joined by a [`Pipe`].
//!
//! The session runs inside the stream's task (one task per stream, no cross-task
//! wakes). Shortcuts on the per-request path: the request head is built straight
//! into the session's first transaction through the HTTP/1 parser's own checks
//! ([`crate::h1::RequestParts`]: the parser is the validator of the H2 -> H1
//! downgrade); a head those checks refuse, or an extended CONNECT, goes as HTTP/1
//! text into the session's input buffer instead, where the parser answers it exactly.
//! The final response head comes back whole ([`super::pipe::HandedHead`]) when
//! nothing is queued before it, so it is not serialised and parsed again. Bodies, 1xx
//! heads and tunnels travel as bytes. A body's last chunk goes to `h2` without
//! reserving capacity first: `h2` holds it until the client's windows allow.
//!
//! Owns: the connection task ([`serve`]) and the stream translator
//! ([`stream_task`]). Invariants:
//! - a stream's request body is read from `h2` only as fast as the pipe takes it,
//!   and its flow-control window is released only for bytes the pipe accepted;
//!   response DATA is sent only within the client's window — a large transfer
//!   streams with bounded memory in both directions;
//! - a stream error (reset, malformed request, oversized header list) ends that
//!   stream only; flood limits and protocol errors end the connection with GOAWAY;
//! - on soft stop the connection sends a graceful GOAWAY and lets its streams finish;
//! - the streams of one client connection share their server HTTP/2 connections
//!   ([`super::back::Upstreams`]).

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::back::Upstreams;
use super::counters;
use super::guard::{FloodLimits, Guarded};
use super::pipe::Pipe;
use super::translate::{self, Framing, Reject};
use crate::buf::IoBuf;
use crate::h1::{parse_response, BodyDecoder, BodyKind, BodyStep, Method, Parsed, ResponseHead};
use crate::io::{Driver, Stream};
use crate::proxy::http::session::StreamHead;
use crate::proxy::Worker;
use crate::runtime::{self, clock, Timer};
use crate::tls::{MaybeTls, TlsInfo};

/// What every stream of one client connection shares.
pub struct ConnCtx {
    pub fe: usize,
    pub bind: usize,
    pub tls: Option<Rc<TlsInfo>>,
    pub peer: Option<std::net::SocketAddr>,
    pub local: Option<std::net::SocketAddr>,
    pub trace: Option<u32>,
    pub upstreams: Rc<Upstreams>,
}

/// A stream that first yields bytes already read from it (the client preface seen
/// by HTTP/1 detection), then reads on.
pub struct Rewind<S> {
    pre: Vec<u8>,
    off: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(pre: Vec<u8>, inner: S) -> Self {
        Rewind { pre, off: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.off < this.pre.len() {
            let n = (this.pre.len() - this.off).min(buf.remaining());
            buf.put_slice(&this.pre[this.off..this.off + n]);
            this.off += n;
            if this.off == this.pre.len() {
                this.pre = Vec::new();
                this.off = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The header list size `h2` decodes before refusing a request itself (and, far
/// beyond it, cutting the connection). sluice's own limit is smaller — the head
/// must fit a buffer, as for HTTP/1 — and answers 431 on the stream, counted.
pub const H2_DECODE_LIMIT: u32 = 256 * 1024;

/// The `h2` server settings of a frontend, from `tune.h2.*`.
fn builder(t: &appliance_config::H2Tune, max_head: usize) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    let streams = t.fe.max_concurrent_streams;
    b.initial_window_size(t.fe.initial_window_size)
        // The connection window bounds what a client may send ahead over all its
        // streams together.
        .initial_connection_window_size(
            t.fe.initial_window_size
                .saturating_mul(streams.clamp(1, 16))
                .min((1 << 31) - 1),
        )
        .max_frame_size(t.max_frame_size)
        .header_table_size(t.header_table_size)
        .max_concurrent_streams(streams)
        .max_header_list_size(H2_DECODE_LIMIT.max(max_head as u32))
        .max_send_buffer_size(64 * 1024)
        // WebSocket over HTTP/2 (RFC 8441).
        .enable_connect_protocol();
    b
}

/// Serve one HTTP/2 client connection (TLS with ALPN `h2`, `proto h2`, or a clear
/// connection that began with the preface: `pre` holds the bytes already read).
#[allow(clippy::too_many_arguments)]
pub async fn serve<D: Driver>(
    w: Rc<Worker<D>>,
    fe: usize,
    bind: usize,
    client: MaybeTls<D::Stream>,
    tls: Option<Rc<TlsInfo>>,
    trace: Option<u32>,
    pre: Vec<u8>,
) {
    counters::bump(|c| c.fe_connections += 1);
    let peer = client.peer_addr();
    let local = client.local_addr();
    // `ip:port [date] frontend/bind: message` on the frontend's log targets.
    let log = |msg: &str, detail: &dyn std::fmt::Display| {
        crate::proxy::log::log_connection_error(&w, fe, bind, peer, clock::wall_us(), msg, detail)
    };
    let cfg = &w.shared.config;
    let tmo = cfg.frontends[fe].timeouts;
    let (io, guard) = Guarded::new(Rewind::new(pre, client), FloodLimits::default(), true);
    let handshake = builder(&cfg.global.tune.h2, w.limits.max_head_bytes).handshake::<_, Bytes>(io);
    let mut conn = match runtime::timeout(tmo.http_request.or(tmo.client), handshake).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            log("HTTP/2 handshake failure", &e);
            return;
        }
        Err(_) => return,
    };
    let ctx = Rc::new(ConnCtx {
        fe,
        bind,
        tls,
        peer,
        local,
        trace,
        upstreams: Rc::new(Upstreams::default()),
    });
    let idle_tmo = tmo.http_keep_alive.or(tmo.client);
    let mut idle = Timer::new();
    let mut kill = Timer::new();
    let mut graceful = false;
    let mut cut = false;
    let stop = w.stop_waiters.watch();
    let result: Result<(), h2::Error> = poll_fn(|cx| loop {
        if !cut {
            if let Some(flood) = guard.tripped() {
                cut = true;
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                log(flood.describe(), &"GOAWAY ENHANCE_YOUR_CALM");
                // A client that does not read cannot hold the connection open.
                kill.set_after(Some(Duration::from_secs(1)));
            }
        }
        if !graceful && w.shared.is_stopping() {
            graceful = true;
            conn.graceful_shutdown();
        }
        if !graceful {
            stop.register(cx.waker());
        }
        match conn.poll_accept(cx) {
            Poll::Ready(Some(Ok((req, respond)))) => {
                counters::bump(|c| c.fe_streams += 1);
                idle.clear();
                runtime::spawn(stream_task(w.clone(), ctx.clone(), req, respond));
                continue;
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => {}
        }
        if cut && kill.poll_expired(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        if !conn.has_streams() && !graceful {
            if !idle.is_armed() {
                idle.set_after(idle_tmo);
            }
            if idle.poll_expired(cx).is_ready() {
                // Idle for `timeout http-keep-alive`/`client`: say goodbye.
                graceful = true;
                conn.graceful_shutdown();
                continue;
            }
        } else if conn.has_streams() {
            idle.clear();
        }
        return Poll::Pending;
    })
    .await;
    crate::proxy::http::upstreams::release_upstreams(&w, &ctx.upstreams);
    let resets = guard.stream_errors.get();
    if resets > 0 {
        log(
            &format!("HTTP/2: {resets} stream(s) reset for protocol errors"),
            &"RST_STREAM",
        );
    }
    if let Err(e) = result {
        if e.is_go_away() || e.is_io() {
            if let Some(reason) = e.reason().filter(|r| *r != Reason::NO_ERROR) {
                log("HTTP/2 connection error", &reason);
            }
        }
    }
}

/// Answer a stream with a status and no body (a request that cannot be translated).
fn refuse(respond: &mut SendResponse<Bytes>, status: u16) {
    let mut rsp = http::Response::new(());
    *rsp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    rsp.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("0"),
    );
    let _ = respond.send_response(rsp, true);
}

/// Send a final response's HEADERS; the stream ends with them when the body is
/// empty by its framing. Returns the body's send half and whether the stream ended.
fn begin_response(
    respond: &mut SendResponse<Bytes>,
    rsp: http::Response<()>,
    kind: BodyKind,
) -> Result<(SendStream<Bytes>, bool), Reason> {
    let eos = kind == BodyKind::None || kind == BodyKind::Length(0);
    match respond.send_response(rsp, eos) {
        Ok(s) => Ok((s, eos)),
        Err(_) => Err(Reason::CANCEL),
    }
}

/// Translate one client stream to a virtual HTTP/1 connection and back.
/// Largest final DATA chunk handed to h2 without reserving capacity first.
const LAST_CHUNK_DIRECT: usize = 16 * 1024;

async fn stream_task<D: Driver>(
    w: Rc<Worker<D>>,
    ctx: Rc<ConnCtx>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (parts, mut body) = req.into_parts();
    let limits = w.limits;
    let end_stream = body.is_end_stream();
    let method = match parts.method {
        http::Method::HEAD => Method::Head,
        http::Method::CONNECT => Method::Connect,
        _ => Method::Get,
    };
    let mut head = super::pipe::take_buf();
    // The request head goes to the session built when it can (no HTTP/1 text to write
    // and parse again), as text otherwise (the parser then answers it exactly).
    let mut txn = crate::proxy::http::txn::take();
    let max_list = limits.max_head_bytes;
    let translated =
        match translate::request_to_head(&parts, end_stream, max_list, &limits, &mut txn.req) {
            Ok(Some((framing, len))) => Ok((framing, Some(len))),
            Ok(None) => translate::request_to_h1(&parts, end_stream, max_list, &mut head)
                .map(|framing| (framing, None)),
            Err(e) => Err(e),
        };
    let (framing, built_len) = match translated {
        Ok(x) => x,
        Err(e) => {
            crate::proxy::http::txn::give(txn);
            match e {
                Reject::TooLarge => {
                    counters::bump(|c| c.header_list_too_large += 1);
                    refuse(&mut respond, 431);
                }
                Reject::Malformed(_) => refuse(&mut respond, 400),
                Reject::Unsupported(_) => refuse(&mut respond, 501),
            }
            return;
        }
    };
    drop(parts);
    let (session_end, mut pipe) = Pipe::pair(ctx.peer, ctx.local);
    let stream_head = match built_len {
        Some(len) => StreamHead::Built(txn, len),
        None => {
            crate::proxy::http::txn::give(txn);
            StreamHead::Text(&head)
        }
    };
    // The virtual session runs inside this task (no second task, no cross-task
    // wake per message); it may outlive the translation (log, pool release).
    // Boxed (by `serve_h2_stream`): the session's future is several KiB; inline,
    // this task's future would carry it and be copied whole on every spawn.
    let (mut session, taken) = crate::proxy::http::session::serve_h2_stream(
        w.clone(),
        ctx.clone(),
        MaybeTls::Virtual(session_end),
        stream_head,
    );
    let mut session_done = false;

    // Request direction: head (the session took it, or its start), then the body as
    // it arrives.
    let mut req_out = head;
    let mut req_off = taken;
    let mut release = 0usize; // flow-control credit to give back once written
    let mut req_done = false;
    let mut req_body_done = end_stream;
    // Response direction.
    let mut rbuf = IoBuf::new();
    let mut rsp_head = ResponseHead::new();
    let mut decoder: Option<BodyDecoder> = None;
    let mut send: Option<SendStream<Bytes>> = None;
    let mut out: Bytes = Bytes::new();
    let mut out_eos = false;
    let mut rsp_done = false;

    let outcome: Result<(), Reason> = poll_fn(|cx| loop {
        let mut progress = false;
        if !session_done && session.as_mut().poll(cx).is_ready() {
            session_done = true;
        }
        // ---- request: client -> pipe ----
        if !req_done {
            if req_off < req_out.len() {
                match Pin::new(&mut pipe).poll_write(cx, &req_out[req_off..]) {
                    Poll::Ready(Ok(n)) => {
                        req_off += n;
                        progress = true;
                    }
                    Poll::Ready(Err(_)) => req_done = true, // the session went away
                    Poll::Pending => {}
                }
            }
            // All written (also: the session took the whole head at its start, or
            // it had the head built and there was no text).
            if req_off == req_out.len() {
                if release > 0 {
                    let _ = body.flow_control().release_capacity(release);
                    release = 0;
                }
                req_out.clear();
                req_off = 0;
                if req_body_done {
                    req_done = true;
                    if framing == Framing::Tunnel {
                        // The client ended its side of the tunnel.
                        pipe.shutdown_write();
                    }
                }
            }
            if !req_done && req_out.is_empty() && !req_body_done {
                match body.poll_data(cx) {
                    Poll::Ready(Some(Ok(data))) => {
                        release = data.len();
                        translate::data_to_h1(&data, framing, &mut req_out);
                        if req_out.is_empty() && release > 0 {
                            let _ = body.flow_control().release_capacity(release);
                            release = 0;
                        }
                        progress = true;
                    }
                    Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(Reason::CANCEL)),
                    Poll::Ready(None) => match body.poll_trailers(cx) {
                        Poll::Ready(Ok(t)) => {
                            if framing == Framing::Chunked {
                                translate::trailers_to_h1(t.as_ref(), &mut req_out);
                            }
                            req_body_done = true;
                            if req_out.is_empty() {
                                req_done = true;
                                if framing == Framing::Tunnel {
                                    pipe.shutdown_write();
                                }
                            }
                            progress = true;
                        }
                        Poll::Ready(Err(_)) => return Poll::Ready(Err(Reason::CANCEL)),
                        Poll::Pending => {}
                    },
                    Poll::Pending => {}
                }
            }
        }
        // ---- response: pipe -> client ----
        if !rsp_done {
            // Pending DATA first, within the client's window.
            if let Some(s) = send.as_mut() {
                if out_eos && !out.is_empty() && out.len() <= LAST_CHUNK_DIRECT {
                    // The body's last chunk goes to h2 whole, without the capacity
                    // round trip: h2 holds it until the client's windows let it go
                    // (also after this task ends), and nothing more is read for the
                    // stream, so memory stays bounded by this one chunk.
                    if s.send_data(std::mem::take(&mut out), true).is_err() {
                        return Poll::Ready(Err(Reason::CANCEL));
                    }
                    rsp_done = true;
                    progress = true;
                } else if !out.is_empty() {
                    s.reserve_capacity(out.len());
                    match s.poll_capacity(cx) {
                        Poll::Ready(Some(Ok(n))) if n > 0 => {
                            let n = n.min(out.len());
                            let chunk = out.split_to(n);
                            let eos = out_eos && out.is_empty();
                            if s.send_data(chunk, eos).is_err() {
                                return Poll::Ready(Err(Reason::CANCEL));
                            }
                            if eos {
                                rsp_done = true;
                            }
                            progress = true;
                        }
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                            return Poll::Ready(Err(Reason::CANCEL))
                        }
                        Poll::Pending => {}
                    }
                }
            }
            if out.is_empty() && !rsp_done {
                // Decode what is buffered.
                let mut need_input = true;
                if decoder.is_none() && rbuf.is_empty() {
                    // The session hands a final head over whole when it can.
                    if let Some(h) = pipe.take_head() {
                        let (s, eos) = match begin_response(&mut respond, h.rsp, h.kind) {
                            Ok(x) => x,
                            Err(r) => return Poll::Ready(Err(r)),
                        };
                        send = Some(s);
                        rsp_done = eos;
                        decoder = Some(BodyDecoder::response(h.kind, &limits));
                        continue;
                    }
                }
                if !rbuf.is_empty() || decoder.as_ref().is_some_and(|d| d.is_done()) {
                    match decoder.as_mut() {
                        None => match parse_response(rbuf.data(), &limits, method, &mut rsp_head) {
                            Ok(Parsed::Complete { head_len }) => {
                                rbuf.consume(head_len);
                                progress = true;
                                need_input = false;
                                let status = rsp_head.status();
                                if rsp_head.is_interim() && status != 101 {
                                    if let Ok(r) = translate::response_to_h2(&rsp_head) {
                                        let _ = respond.send_informational(r);
                                    }
                                    rsp_head.clear();
                                } else {
                                    // WebSocket over HTTP/2: the server's 101 is the
                                    // stream's 200, and a tunnel follows (RFC 8441).
                                    let switched = framing == Framing::Tunnel && status == 101;
                                    let kind = if method == Method::Head {
                                        BodyKind::None
                                    } else if switched {
                                        BodyKind::Tunnel
                                    } else {
                                        rsp_head.body_kind()
                                    };
                                    let mut rsp = match translate::response_to_h2(&rsp_head) {
                                        Ok(r) => r,
                                        Err(_) => return Poll::Ready(Err(Reason::INTERNAL_ERROR)),
                                    };
                                    if switched {
                                        *rsp.status_mut() = http::StatusCode::OK;
                                        rsp.headers_mut().remove("sec-websocket-accept");
                                    }
                                    let (s, eos) = match begin_response(&mut respond, rsp, kind) {
                                        Ok(x) => x,
                                        Err(r) => return Poll::Ready(Err(r)),
                                    };
                                    send = Some(s);
                                    rsp_done = eos;
                                    decoder = Some(BodyDecoder::response(kind, &limits));
                                }
                            }
                            Ok(Parsed::Partial) => {}
                            Err(_) => return Poll::Ready(Err(Reason::INTERNAL_ERROR)),
                        },
                        Some(d) => match d.decode(rbuf.data()) {
                            Ok(dec) => {
                                let data = rbuf.data();
                                match dec.step {
                                    BodyStep::Data { start, end } => {
                                        out = Bytes::copy_from_slice(&data[start..end]);
                                        out_eos = d.is_done();
                                        need_input = false;
                                    }
                                    BodyStep::Trailers { start, end } => {
                                        let t = translate::trailers_to_h2(&data[start..end]);
                                        if let Some(s) = send.as_mut() {
                                            let _ = s.send_trailers(t);
                                        }
                                        rsp_done = true;
                                    }
                                    BodyStep::End => {
                                        if let Some(s) = send.as_mut() {
                                            let _ = s.send_data(Bytes::new(), true);
                                        }
                                        rsp_done = true;
                                    }
                                    BodyStep::NeedMore => {}
                                }
                                rbuf.consume(dec.consumed);
                                if dec.consumed > 0 {
                                    progress = true;
                                }
                            }
                            Err(_) => return Poll::Ready(Err(Reason::INTERNAL_ERROR)),
                        },
                    }
                }
                if need_input && !rsp_done && out.is_empty() {
                    if rbuf.is_full() {
                        return Poll::Ready(Err(Reason::INTERNAL_ERROR));
                    }
                    match rbuf.poll_fill(&mut pipe, cx) {
                        Poll::Ready(Ok(0)) => {
                            // The session closed: fine after a body that ends with
                            // the connection, an error otherwise.
                            match decoder.as_mut().map(|d| d.finish()) {
                                Some(Ok(())) => {
                                    if let Some(s) = send.as_mut() {
                                        let _ = s.send_data(Bytes::new(), true);
                                    }
                                    rsp_done = true;
                                }
                                _ => return Poll::Ready(Err(Reason::INTERNAL_ERROR)),
                            }
                        }
                        Poll::Ready(Ok(_)) => progress = true,
                        Poll::Ready(Err(_)) => return Poll::Ready(Err(Reason::INTERNAL_ERROR)),
                        Poll::Pending => {}
                    }
                }
            }
        }
        if rsp_done && req_done {
            return Poll::Ready(Ok(()));
        }
        if rsp_done && !req_done {
            // The answer is complete; a body still arriving is not needed.
            return Poll::Ready(Ok(()));
        }
        if !progress {
            // Before waiting: the client may have reset the stream.
            let reset = match send.as_mut() {
                Some(s) => s.poll_reset(cx),
                None => respond.poll_reset(cx),
            };
            if let Poll::Ready(Ok(_)) = reset {
                return Poll::Ready(Err(Reason::CANCEL));
            }
            return Poll::Pending;
        }
    })
    .await;
    match outcome {
        Ok(()) => {
            if !req_done && !body.is_end_stream() {
                // Tell the client to stop sending (RFC 9113 §8.1).
                if let Some(s) = send.as_mut() {
                    s.send_reset(Reason::NO_ERROR);
                }
            }
        }
        Err(reason) => {
            pipe.abort();
            match send.as_mut() {
                Some(s) => s.send_reset(reason),
                None => respond.send_reset(reason),
            }
        }
    }
    drop(pipe);
    super::pipe::give_buf(req_out);
    if !session_done {
        session.await;
    }
}
