//! The HTTP/2 server side: connections to `proto h2` servers (or TLS servers that
//! chose `h2` by ALPN), the sets that hold them for reuse, and the translator that
//! carries one HTTP/1.1 exchange of the transaction engine as one stream on such a
//! connection.
//!
//! Owns: [`Upstream`] (a server connection: the `h2` request handle, its driver
//! task, its figures) and [`Upstreams`], a set of them. Two kinds of sets exist:
//! a session's *private* set (`http-reuse never|safe`: a connection with streams in
//! flight serves only its session — HAProxy's head-of-line rule for multiplexed
//! connections) and the worker's *shared* set per backend (`aggressive|always`,
//! and private connections a `safe` session leaves behind). In the shared set a
//! connection is *idle* (no stream), or *available* (streams in flight and free
//! slots); which request may take which follows HAProxy's table ([`Take`]).
//!
//! Invariants:
//! - whether a server connection is usable depends only on its own state (driver
//!   ended, a stream refused, GOAWAY, stream ids exhausted, `max-reuse` spent, no
//!   free slot under the server's SETTINGS_MAX_CONCURRENT_STREAMS) — never on who
//!   opened it or last used it;
//! - while one request opens a connection, the requests that would use it wait for
//!   it instead of opening more;
//! - request body bytes are taken from the pipe only within the server's window,
//!   response bytes are read from `h2` only as fast as the pipe takes them, and the
//!   window is released only for bytes written — bounded memory both ways;
//! - a stream the server refuses before answering (REFUSED_STREAM, GOAWAY) ends
//!   with the pipe closed and nothing written, which the exchange treats like a
//!   reused HTTP/1 connection closed under it (one retry on a fresh connection);
//! - idle connections of the shared set are purged least recently used first,
//!   halving the idle count every `pool-purge-delay` (HAProxy's arithmetic on
//!   connections nobody needs).

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

/// What the streams of a connection report back to its set.
#[derive(Default)]
struct Figures {
    /// Streams in flight.
    active: Cell<u32>,
    /// Streams ever opened.
    total: Cell<u32>,
    /// A stream completed on it: proven reusable (HAProxy's *safe*).
    proven: Cell<bool>,
    /// Worker-clock milliseconds when the last stream ended (or it opened).
    idle_since_ms: Cell<u64>,
    /// A stream could not be opened on it (GOAWAY, ids exhausted, refused).
    refused: Cell<bool>,
}

/// What the connection's driver task reports.
#[derive(Default)]
struct DriverState {
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS as `h2` last saw it.
    limit: Cell<u32>,
    /// The connection ended.
    ended: Cell<bool>,
}

/// A server connection (opening or open).
pub struct Upstream {
    pub backend: usize,
    pub server: usize,
    /// The SNI key the connection was opened with (see `backend::sni_key`).
    pub sni_key: u64,
    scheme: Rc<Cell<&'static str>>,
    link: LinkRef,
    fig: Rc<Figures>,
    drv: Rc<DriverState>,
}

/// Which connections of a set a request may take (HAProxy's table for the shared
/// set; a session's own set takes [`Take::Any`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Any connection with a free slot (a session's own; `always`).
    Any,
    /// `safe`, a later request: idle connections only (one with streams in flight
    /// belongs to its session).
    IdleOnly,
    /// `aggressive`, a first request: proven connections only (idle or available).
    ProvenOnly,
    /// `aggressive`, a later request: idle ones, and proven available ones.
    IdleOrProven,
}

impl Take {
    /// The rule for the worker's shared set (`None`: the shared set is not used).
    pub fn shared(mode: appliance_config::HttpReuse, first: bool) -> Option<Take> {
        use appliance_config::HttpReuse::*;
        match (mode, first) {
            (Never, _) | (Safe, true) => None,
            (Safe, false) => Some(Take::IdleOnly),
            (Aggressive, true) => Some(Take::ProvenOnly),
            (Aggressive, false) => Some(Take::IdleOrProven),
            (Always, _) => Some(Take::Any),
        }
    }

    fn allows(self, f: &Figures) -> bool {
        let idle = f.active.get() == 0;
        match self {
            Take::Any => true,
            Take::IdleOnly => idle,
            Take::ProvenOnly => f.proven.get(),
            Take::IdleOrProven => idle || f.proven.get(),
        }
    }
}

impl Upstream {
    /// Open for new streams: not ended, a free slot, `max-reuse` not spent.
    fn has_room(&self, max_reuse: Option<u32>) -> bool {
        let f = &self.fig;
        let opening = matches!(*self.link.borrow(), Link::Connecting(_));
        let limit = self.drv.limit.get();
        self.alive()
            && (opening || limit == 0 || f.active.get() < limit)
            && max_reuse.is_none_or(|m| f.total.get() <= m)
    }

    fn alive(&self) -> bool {
        !self.fig.refused.get()
            && !self.drv.ended.get()
            && !matches!(*self.link.borrow(), Link::Failed)
    }

    fn is(&self, backend: usize, server: usize, sni_key: u64) -> bool {
        self.backend == backend && self.server == server && self.sni_key == sni_key
    }
}

/// An opened server connection, before it joins a set.
pub struct Opened {
    send: SendRequest<Bytes>,
    drv: Rc<DriverState>,
    scheme: &'static str,
}

/// Figures of a set for one server (`show servers conn`, tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetFigures {
    /// Connections without streams.
    pub idle: u32,
    /// Connections with streams in flight.
    pub busy: u32,
    /// Streams in flight.
    pub streams: u32,
}

/// A set of server connections (a session's own, or a worker's shared set for a
/// backend). Most recently used last.
#[derive(Default)]
pub struct Upstreams {
    list: RefCell<Vec<Upstream>>,
}

impl Upstreams {
    /// Open a stream on a usable connection to `server` of `backend` with the same
    /// SNI that `take` allows (waiting for it if it is still opening); returns the
    /// virtual connection the exchange uses for one request.
    #[allow(clippy::too_many_arguments)]
    pub fn open_stream(
        &self,
        backend: usize,
        server: usize,
        sni_key: u64,
        take: Take,
        max_reuse: Option<u32>,
        limits: Limits,
        addrs: Addrs,
    ) -> Option<Pipe> {
        let mut list = self.list.borrow_mut();
        list.retain(Upstream::alive);
        let i = list.iter().rposition(|u| {
            u.is(backend, server, sni_key) && u.has_room(max_reuse) && take.allows(&u.fig)
        })?;
        // Most recently used last: the hottest connection stays hot.
        let up = list.remove(i);
        let pipe = spawn_stream(&up, limits, addrs);
        list.push(up);
        Some(pipe)
    }

    /// The caller is about to open a connection to `server` (known to speak
    /// HTTP/2): the requests that would use it wait instead of opening more.
    pub fn reserve(&self, backend: usize, server: usize, sni_key: u64) {
        let fig = Figures::default();
        fig.idle_since_ms.set(runtime::clock::now_ms());
        self.list.borrow_mut().push(Upstream {
            backend,
            server,
            sni_key,
            scheme: Rc::new(Cell::new("http")),
            link: Rc::new(RefCell::new(Link::Connecting(Vec::new()))),
            fig: Rc::new(fig),
            drv: Rc::default(),
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
        let mut up = match reserved {
            Some(i) => list.remove(i),
            None => {
                let fig = Figures::default();
                fig.idle_since_ms.set(runtime::clock::now_ms());
                Upstream {
                    backend,
                    server,
                    sni_key,
                    scheme: Rc::new(Cell::new(opened.scheme)),
                    link: Rc::new(RefCell::new(Link::Failed)),
                    fig: Rc::new(fig),
                    drv: opened.drv.clone(),
                }
            }
        };
        up.scheme.set(opened.scheme);
        up.drv = opened.drv;
        let old = std::mem::replace(&mut *up.link.borrow_mut(), Link::Ready(opened.send));
        if let Link::Connecting(waiters) = old {
            waiters.into_iter().for_each(Waker::wake);
        }
        let pipe = spawn_stream(&up, limits, addrs);
        list.push(up);
        pipe
    }

    /// Hand the live connections of this set (a session's own, at its end) to the
    /// set `dest` names for their backend (`None`: close them): idle ones become
    /// reusable by others, busy ones when their streams end.
    pub fn hand_over<'a>(&self, dest: impl Fn(usize) -> Option<&'a Upstreams>) {
        for u in self.list.borrow_mut().drain(..) {
            if u.alive() && matches!(*u.link.borrow(), Link::Ready(_)) {
                if let Some(set) = dest(u.backend) {
                    set.list.borrow_mut().push(u);
                }
            }
        }
    }

    /// Close idle connections nobody used for `delay_ms`: half of them (rounded
    /// up) each call, least recently used first; the most recently used one of
    /// each server stays while it is younger than twice the delay.
    pub fn purge(&self, now_ms: u64, delay_ms: u64) -> usize {
        let mut list = self.list.borrow_mut();
        list.retain(Upstream::alive);
        let stale = |u: &Upstream| {
            u.fig.active.get() == 0
                && matches!(*u.link.borrow(), Link::Ready(_))
                && now_ms.saturating_sub(u.fig.idle_since_ms.get()) >= delay_ms
        };
        let n = list.iter().filter(|u| stale(u)).count();
        let mut kill = n.div_ceil(2);
        let mut closed = 0;
        let mut i = 0;
        while i < list.len() && kill > 0 {
            let u = &list[i];
            let last_of_server = !list[i + 1..]
                .iter()
                .any(|v| v.server == u.server && v.backend == u.backend);
            let young = now_ms.saturating_sub(u.fig.idle_since_ms.get()) < 2 * delay_ms;
            if stale(u) && !(last_of_server && young) {
                list.remove(i);
                kill -= 1;
                closed += 1;
            } else {
                i += 1;
            }
        }
        closed
    }

    /// Figures for one server of one backend.
    pub fn figures(&self, backend: usize, server: usize) -> SetFigures {
        let list = self.list.borrow();
        let mut f = SetFigures::default();
        for u in list
            .iter()
            .filter(|u| u.backend == backend && u.server == server && u.alive())
        {
            let a = u.fig.active.get();
            if a == 0 {
                f.idle += 1;
            } else {
                f.busy += 1;
            }
            f.streams += a;
        }
        f
    }

    /// Drop the idle connections to one server (its address changed); busy ones
    /// finish their streams.
    pub fn close_idle_of(&self, backend: usize, server: usize) {
        self.list
            .borrow_mut()
            .retain(|u| !(u.backend == backend && u.server == server && u.fig.active.get() == 0));
    }

    /// Drop every connection (soft stop, tests).
    pub fn clear(&self) {
        self.list.borrow_mut().clear();
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
    let drv = Rc::new(DriverState::default());
    let d = drv.clone();
    runtime::spawn(async move {
        let mut conn = conn;
        let _ = poll_fn(|cx| {
            let r = Pin::new(&mut conn).poll(cx);
            // The server's SETTINGS may change the number of streams it allows.
            d.limit
                .set(conn.max_concurrent_send_streams().min(u32::MAX as usize) as u32);
            r
        })
        .await;
        d.ended.set(true);
    });
    Ok(Opened {
        send,
        drv,
        scheme: if tls { "https" } else { "http" },
    })
}

fn spawn_stream(up: &Upstream, limits: Limits, addrs: Addrs) -> Pipe {
    let (exchange_end, ours) = Pipe::pair(addrs.0, addrs.1);
    let link = up.link.clone();
    let scheme = up.scheme.clone();
    let fig = up.fig.clone();
    fig.active.set(fig.active.get() + 1);
    fig.total.set(fig.total.get() + 1);
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
        let ok = match send {
            Some(send) => stream_task(send, ours, scheme.get(), limits).await,
            None => {
                ours.abort();
                Err(())
            }
        };
        fig.active.set(fig.active.get().saturating_sub(1));
        if fig.active.get() == 0 {
            fig.idle_since_ms.set(runtime::clock::now_ms());
        }
        match ok {
            Ok(true) => fig.proven.set(true),
            Ok(false) => {}
            // A stream that could not be opened says the connection is done.
            Err(()) => fig.refused.set(true),
        }
    });
    exchange_end
}

/// Carry one HTTP/1 exchange written to `pipe` as a stream of `send`'s connection.
/// `Ok(true)` when the exchange completed (the connection proved reusable);
/// `Err` when no stream could be opened (the connection is unusable).
async fn stream_task(
    mut send: SendRequest<Bytes>,
    mut pipe: Pipe,
    scheme: &'static str,
    limits: Limits,
) -> Result<bool, ()> {
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
        return Ok(false);
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
            return Ok(false);
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
    let completed = result.is_ok();
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
    Ok(completed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_config::HttpReuse;

    #[test]
    fn the_shared_set_follows_haproxys_table() {
        assert_eq!(Take::shared(HttpReuse::Never, false), None);
        assert_eq!(Take::shared(HttpReuse::Safe, true), None);
        assert_eq!(Take::shared(HttpReuse::Safe, false), Some(Take::IdleOnly));
        assert_eq!(
            Take::shared(HttpReuse::Aggressive, true),
            Some(Take::ProvenOnly)
        );
        assert_eq!(
            Take::shared(HttpReuse::Aggressive, false),
            Some(Take::IdleOrProven)
        );
        assert_eq!(Take::shared(HttpReuse::Always, true), Some(Take::Any));
    }

    #[test]
    fn which_connection_a_rule_allows() {
        let f = Figures::default();
        // Idle, never proven.
        assert!(Take::IdleOnly.allows(&f) && Take::IdleOrProven.allows(&f));
        assert!(!Take::ProvenOnly.allows(&f));
        // Busy and proven: available to `aggressive` and `always` only.
        f.active.set(3);
        f.proven.set(true);
        assert!(!Take::IdleOnly.allows(&f));
        assert!(
            Take::ProvenOnly.allows(&f) && Take::IdleOrProven.allows(&f) && Take::Any.allows(&f)
        );
    }

    #[test]
    fn a_reservation_makes_others_wait_and_abandon_releases_them() {
        let set = Upstreams::default();
        set.reserve(0, 1, 7);
        {
            let list = set.list.borrow();
            assert!(list[0].has_room(None) && list[0].alive());
        }
        set.abandon(0, 1, 7);
        assert!(!set.list.borrow()[0].alive());
        assert_eq!(set.figures(0, 1), SetFigures::default());
    }
}
