//! The HTTP/2 server side: connections to `proto h2` servers (or TLS servers that
//! chose `h2` by ALPN), and the translator that carries one HTTP/1.1 exchange of
//! the transaction engine as one stream on such a connection.
//!
//! Owns: [`Upstream`] (a live server connection: the `h2` request handle, its
//! driver task, its liveness) and [`Upstreams`], the set a client session keeps —
//! all streams of one client connection (HTTP/1 keep-alive or HTTP/2) map onto the
//! same server connection while it lives. Sharing across client sessions through
//! the server's idle pool is the pool's job (the *available* state), not this one.
//!
//! Invariants:
//! - whether a server connection is usable depends only on its own state (driver
//!   ended, GOAWAY received, stream ids exhausted: `h2` refuses new streams), never
//!   on who opened it;
//! - the server's SETTINGS_MAX_CONCURRENT_STREAMS is respected: a new stream waits
//!   for a slot (`SendRequest::poll_ready`);
//! - request body bytes are taken from the pipe only within the server's window,
//!   response bytes are read from `h2` only as fast as the pipe takes them, and the
//!   window is released only for bytes written — bounded memory both ways;
//! - a stream the server refuses before answering (REFUSED_STREAM, GOAWAY) ends
//!   with the pipe closed and nothing written, which the exchange treats like a
//!   reused HTTP/1 connection closed under it (one retry on a fresh connection).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite};

use super::counters;
use super::pipe::Pipe;
use super::translate::{self, Framing};
use crate::buf::IoBuf;
use crate::h1::{parse_request, BodyDecoder, BodyStep, Limits, Parsed, RequestHead};
use crate::runtime;

/// The state of a server connection as its streams see it.
enum Link {
    /// Being opened by one request; the others wait for it (never a second
    /// connection for the same streams).
    Connecting(Vec<Waker>),
    Ready(SendRequest<Bytes>),
    /// Could not be opened: the waiting streams give up (and are retried).
    Failed,
}

/// A shared handle on one server connection's [`Link`].
type LinkRef = Rc<RefCell<Link>>;

/// A live (or opening) HTTP/2 connection to one server.
pub struct Upstream {
    pub backend: usize,
    pub server: usize,
    /// The SNI key the connection was opened with (see `backend::sni_key`).
    pub sni_key: u64,
    scheme: Rc<Cell<&'static str>>,
    link: LinkRef,
    closed: Rc<Cell<bool>>,
}

impl Upstream {
    /// Usable for a new stream: opening or open, and not ended (driver gone,
    /// GOAWAY, refused stream).
    fn usable(&self) -> bool {
        !self.closed.get() && !matches!(*self.link.borrow(), Link::Failed)
    }

    fn is(&self, backend: usize, server: usize, sni_key: u64) -> bool {
        self.backend == backend && self.server == server && self.sni_key == sni_key
    }
}

/// An opened server connection, before it joins a session's [`Upstreams`].
pub struct Opened {
    send: SendRequest<Bytes>,
    closed: Rc<Cell<bool>>,
    scheme: &'static str,
}

/// The server connections of one client session.
#[derive(Default)]
pub struct Upstreams {
    list: RefCell<Vec<Upstream>>,
}

impl Upstreams {
    /// Open a stream on a usable connection to `server` of `backend` with the same
    /// SNI (waiting for it if it is still opening); returns the virtual connection
    /// the exchange uses for one request.
    pub fn open_stream(
        &self,
        backend: usize,
        server: usize,
        sni_key: u64,
        limits: Limits,
        addrs: Addrs,
    ) -> Option<Pipe> {
        let mut list = self.list.borrow_mut();
        list.retain(Upstream::usable);
        let up = list.iter().find(|u| u.is(backend, server, sni_key))?;
        Some(spawn_stream(up, limits, addrs))
    }

    /// The caller is about to open a connection to `server` (known to speak
    /// HTTP/2): the session's other requests for it wait instead of opening more.
    pub fn reserve(&self, backend: usize, server: usize, sni_key: u64) {
        self.list.borrow_mut().push(Upstream {
            backend,
            server,
            sni_key,
            scheme: Rc::new(Cell::new("http")),
            link: Rc::new(RefCell::new(Link::Connecting(Vec::new()))),
            closed: Rc::new(Cell::new(false)),
        });
    }

    /// The reserved connection could not be opened: its waiting streams fail.
    pub fn abandon(&self, backend: usize, server: usize, sni_key: u64) {
        for u in self
            .list
            .borrow()
            .iter()
            .filter(|u| u.is(backend, server, sni_key))
        {
            let mut link = u.link.borrow_mut();
            if let Link::Connecting(waiters) = &mut *link {
                let waiters = std::mem::take(waiters);
                *link = Link::Failed;
                waiters.into_iter().for_each(Waker::wake);
            }
        }
    }

    /// Keep a new connection (completing its reservation, if any) and open its
    /// first stream.
    pub fn attach(
        &self,
        opened: Opened,
        backend: usize,
        server: usize,
        sni_key: u64,
        limits: Limits,
        addrs: Addrs,
    ) -> Pipe {
        let mut list = self.list.borrow_mut();
        let reserved = list.iter().position(|u| {
            u.is(backend, server, sni_key) && matches!(*u.link.borrow(), Link::Connecting(_))
        });
        let i = match reserved {
            Some(i) => i,
            None => {
                list.push(Upstream {
                    backend,
                    server,
                    sni_key,
                    scheme: Rc::new(Cell::new(opened.scheme)),
                    link: Rc::new(RefCell::new(Link::Failed)),
                    closed: opened.closed.clone(),
                });
                list.len() - 1
            }
        };
        let up = &mut list[i];
        up.scheme.set(opened.scheme);
        up.closed = opened.closed;
        let old = std::mem::replace(&mut *up.link.borrow_mut(), Link::Ready(opened.send));
        if let Link::Connecting(waiters) = old {
            waiters.into_iter().for_each(Waker::wake);
        }
        spawn_stream(up, limits, addrs)
    }
}

/// The client connection's addresses, reported by virtual connections.
pub type Addrs = (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>);

/// The `h2` client settings for servers, from `tune.h2.*`.
fn builder(t: &appliance_config::H2Tune, max_head: usize) -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.initial_window_size(t.be.initial_window_size)
        .initial_connection_window_size(
            t.be.initial_window_size
                .saturating_mul(t.be.max_concurrent_streams.clamp(1, 16))
                .min((1 << 31) - 1),
        )
        .max_frame_size(t.max_frame_size)
        .header_table_size(t.header_table_size)
        .max_header_list_size(super::front::H2_DECODE_LIMIT.max(max_head as u32))
        .max_concurrent_streams(t.be.max_concurrent_streams)
        .max_send_buffer_size(64 * 1024)
        .enable_push(false);
    b
}

/// Speak HTTP/2 on a fresh server connection: send the preface and settings, and
/// start the task that drives the connection.
pub async fn connect<IO>(
    io: IO,
    tune: &appliance_config::H2Tune,
    max_head: usize,
    tls: bool,
) -> Result<Opened, h2::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (send, conn) = builder(tune, max_head).handshake::<_, Bytes>(io).await?;
    counters::bump(|c| c.be_connections += 1);
    let closed = Rc::new(Cell::new(false));
    let flag = closed.clone();
    runtime::spawn(async move {
        let _ = conn.await;
        flag.set(true);
    });
    Ok(Opened {
        send,
        closed,
        scheme: if tls { "https" } else { "http" },
    })
}

fn spawn_stream(up: &Upstream, limits: Limits, addrs: Addrs) -> Pipe {
    let (exchange_end, ours) = Pipe::pair(addrs.0, addrs.1);
    let link = up.link.clone();
    let scheme = up.scheme.clone();
    let closed = up.closed.clone();
    runtime::spawn(async move {
        // Wait for the connection if it is still opening.
        let send = poll_fn(|cx| match &mut *link.borrow_mut() {
            Link::Ready(send) => Poll::Ready(Some(send.clone())),
            Link::Failed => Poll::Ready(None),
            Link::Connecting(waiters) => {
                waiters.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let mut ours = ours;
        let Some(send) = send else {
            ours.abort();
            return;
        };
        if stream_task(send, ours, scheme.get(), limits).await.is_err() {
            // A stream that could not be opened says the connection is done.
            closed.set(true);
        }
    });
    exchange_end
}

/// Carry one HTTP/1 exchange written to `pipe` as a stream of `send`'s connection.
/// `Err` when no stream could be opened (the connection is unusable).
async fn stream_task(
    mut send: SendRequest<Bytes>,
    mut pipe: Pipe,
    scheme: &'static str,
    limits: Limits,
) -> Result<(), ()> {
    // The request head.
    let mut rbuf = IoBuf::new();
    let mut head = RequestHead::new();
    let head_len = poll_fn(|cx| loop {
        if !rbuf.is_empty() {
            match parse_request(rbuf.data(), &limits, &mut head) {
                Ok(Parsed::Complete { head_len }) => return Poll::Ready(Some(head_len)),
                Ok(Parsed::Partial) if !rbuf.is_full() => {}
                _ => return Poll::Ready(None),
            }
        }
        match rbuf.poll_fill(&mut pipe, cx) {
            Poll::Ready(Ok(n)) if n > 0 => continue,
            Poll::Ready(_) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    let Some(head_len) = head_len else {
        return Ok(());
    };
    rbuf.consume(head_len);
    let kind = head.body_kind();
    let bodyless_rsp = head.method() == b"HEAD";
    let expect_continue = head.expects_continue();
    let req = match translate::request_to_h2(&head, scheme) {
        Ok(mut r) => {
            r.headers_mut().remove(http::header::EXPECT);
            r
        }
        Err(_) => {
            pipe.abort();
            return Ok(());
        }
    };
    let mut decoder = BodyDecoder::request(kind, &limits);
    let req_eos = decoder.is_done() || kind == crate::h1::BodyKind::Length(0);
    // A stream slot (the server's MAX_CONCURRENT_STREAMS), then the HEADERS.
    if poll_fn(|cx| send.poll_ready(cx)).await.is_err() {
        pipe.abort();
        return Err(());
    }
    let (rsp_fut, mut body_tx): (ResponseFuture, SendStream<Bytes>) =
        match send.send_request(req, req_eos) {
            Ok(x) => x,
            Err(_) => {
                pipe.abort();
                return Err(());
            }
        };
    counters::bump(|c| c.be_streams += 1);
    let mut rsp_fut = Some(rsp_fut);
    // The exchange waits for `100 Continue` before sending the body; the stream
    // takes it within the server's window anyway.
    let mut to_pipe: Vec<u8> = if expect_continue && !req_eos {
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()
    } else {
        Vec::new()
    };
    let mut to_pipe_off = 0usize;
    let mut release = 0usize;
    let mut req_done = req_eos;
    let mut out: Bytes = Bytes::new();
    let mut out_eos = false;
    let mut rsp_body: Option<RecvStream> = None;
    let mut framing = Framing::None;
    let mut rsp_done = false;

    let result: Result<(), Reason> = poll_fn(|cx| loop {
        let mut progress = false;
        // ---- request body: pipe -> server ----
        if !req_done {
            if !out.is_empty() {
                body_tx.reserve_capacity(out.len());
                match body_tx.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(n))) if n > 0 => {
                        let chunk = out.split_to(n.min(out.len()));
                        let eos = out_eos && out.is_empty();
                        if body_tx.send_data(chunk, eos).is_err() {
                            return Poll::Ready(Err(Reason::CANCEL));
                        }
                        req_done = eos;
                        progress = true;
                    }
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(_) => return Poll::Ready(Err(Reason::CANCEL)),
                    Poll::Pending => {}
                }
            } else {
                let mut need_input = true;
                if !rbuf.is_empty() || decoder.is_done() {
                    match decoder.decode(rbuf.data()) {
                        Ok(dec) => {
                            match dec.step {
                                BodyStep::Data { start, end } => {
                                    out = Bytes::copy_from_slice(&rbuf.data()[start..end]);
                                    out_eos = decoder.is_done();
                                    need_input = false;
                                }
                                BodyStep::Trailers { start, end } => {
                                    let t = translate::trailers_to_h2(&rbuf.data()[start..end]);
                                    let _ = body_tx.send_trailers(t);
                                    req_done = true;
                                }
                                BodyStep::End => {
                                    let _ = body_tx.send_data(Bytes::new(), true);
                                    req_done = true;
                                }
                                BodyStep::NeedMore => {}
                            }
                            rbuf.consume(dec.consumed);
                            progress |= dec.consumed > 0;
                        }
                        Err(_) => return Poll::Ready(Err(Reason::CANCEL)),
                    }
                }
                if need_input && !req_done && out.is_empty() {
                    match rbuf.poll_fill(&mut pipe, cx) {
                        Poll::Ready(Ok(n)) if n > 0 => progress = true,
                        Poll::Ready(_) => return Poll::Ready(Err(Reason::CANCEL)),
                        Poll::Pending => {}
                    }
                }
            }
        }
        // ---- response: server -> pipe ----
        if to_pipe_off < to_pipe.len() {
            match Pin::new(&mut pipe).poll_write(cx, &to_pipe[to_pipe_off..]) {
                Poll::Ready(Ok(n)) => {
                    to_pipe_off += n;
                    progress = true;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Err(Reason::CANCEL)),
                Poll::Pending => {}
            }
            if to_pipe_off == to_pipe.len() {
                to_pipe.clear();
                to_pipe_off = 0;
                if release > 0 {
                    if let Some(b) = rsp_body.as_mut() {
                        let _ = b.flow_control().release_capacity(release);
                    }
                    release = 0;
                }
            }
        }
        if to_pipe.is_empty() && !rsp_done {
            if let Some(fut) = rsp_fut.as_mut() {
                match Pin::new(fut).poll(cx) {
                    Poll::Ready(Ok(rsp)) => {
                        rsp_fut = None;
                        let (parts, body) = rsp.into_parts();
                        let status = parts.status.as_u16();
                        let bodyless = bodyless_rsp || status == 204 || status == 304;
                        framing = translate::response_to_h1(
                            &parts,
                            bodyless,
                            body.is_end_stream(),
                            &mut to_pipe,
                        );
                        if framing == Framing::None {
                            rsp_done = true;
                        } else {
                            rsp_body = Some(body);
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(e.reason().unwrap_or(Reason::INTERNAL_ERROR)))
                    }
                    Poll::Pending => {}
                }
            } else if let Some(b) = rsp_body.as_mut() {
                match b.poll_data(cx) {
                    Poll::Ready(Some(Ok(data))) => {
                        release = data.len();
                        translate::data_to_h1(&data, framing, &mut to_pipe);
                        if to_pipe.is_empty() && release > 0 {
                            let _ = b.flow_control().release_capacity(release);
                            release = 0;
                        }
                        progress = true;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(e.reason().unwrap_or(Reason::INTERNAL_ERROR)))
                    }
                    Poll::Ready(None) => match b.poll_trailers(cx) {
                        Poll::Ready(Ok(t)) => {
                            if framing == Framing::Chunked {
                                translate::trailers_to_h1(t.as_ref(), &mut to_pipe);
                            }
                            rsp_done = true;
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => {
                            return Poll::Ready(Err(e.reason().unwrap_or(Reason::INTERNAL_ERROR)))
                        }
                        Poll::Pending => {}
                    },
                    Poll::Pending => {}
                }
            }
        }
        if rsp_done && to_pipe.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if !progress {
            return Poll::Pending;
        }
    })
    .await;
    match result {
        Ok(()) => {
            if !req_done {
                // The answer is complete; the rest of the request is not needed.
                body_tx.send_reset(Reason::CANCEL);
            }
            pipe.shutdown_write();
        }
        Err(reason) => {
            body_tx.send_reset(if reason == Reason::NO_ERROR {
                Reason::CANCEL
            } else {
                reason
            });
            pipe.abort();
        }
    }
    Ok(())
}
