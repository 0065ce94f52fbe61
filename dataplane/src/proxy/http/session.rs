//! An HTTP/1.1 client session: the loop over the transactions of one client
//! connection, with HAProxy's timeouts and keep-alive rules.
//!
//! Owns: the client stream (clear or TLS, already handshaken), its input buffer, and the server connection the session
//! keeps between its requests. Invariants:
//! - requests are handled one at a time, in order, so pipelined requests are
//!   answered in order; bytes after a request stay in the buffer for the next;
//! - a request head is complete and valid before anything is sent to a server;
//!   a malformed one is answered (400/414/431/501) and the connection closed;
//! - between requests the session holds no buffer and no transaction state;
//! - every transaction ends with exactly one log line (unless `dontlognull` applies);
//! - a clear connection that opens with the HTTP/2 preface is handed to the HTTP/2
//!   front (`crate::h2::front`) before any byte is interpreted as HTTP/1;
//! - a virtual session (one HTTP/2 stream, see `crate::h2`) serves exactly one
//!   transaction and logs its request line as `HTTP/2.0`.

use std::rc::Rc;
use std::task::Poll;

use crate::buf::{write_all, IoBuf};
use crate::h1::{parse_request, Parsed};
use crate::io::{Driver, Stream};
use crate::proxy::http::exchange::{self, ServerConn};
use crate::proxy::http::txn::{self, TermState, Txn};
use crate::proxy::http::{actions, reply};
use crate::proxy::Worker;
use crate::rules::Vars;
use crate::runtime::{clock, Timer};
use crate::tls::{MaybeTls, TlsInfo};
use tokio::io::AsyncWrite;

/// How reading the next request head ended.
enum HeadRead {
    /// A head of this many bytes is at the start of the buffer.
    Complete(usize),
    /// The head was built before the session started (an HTTP/2 stream's); its
    /// text would be this many bytes.
    Built(usize),
    /// The client closed (or timed out) before sending anything: close silently.
    Nothing { timeout: bool },
    /// The client closed mid-head.
    Aborted,
    /// `timeout http-request` with part of a head received: 408.
    Timeout,
    /// A malformed head: answer this status.
    Invalid(crate::h1::H1Error),
    /// The connection opened with the HTTP/2 client preface.
    H2Preface,
}

/// What to do after a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
    /// Hand the connection to the HTTP/2 front.
    H2,
}

/// A client connection's state.
pub struct Session<D: Driver> {
    pub w: Rc<Worker<D>>,
    pub fe: usize,
    /// The bind (listener) of the frontend that accepted the connection.
    pub bind: usize,
    /// Set for a virtual session carrying one HTTP/2 stream: its connection's
    /// shared state.
    pub h2: Option<Rc<crate::h2::front::ConnCtx>>,
    /// Connections to HTTP/2 servers this session's requests use (shared by the
    /// streams of an HTTP/2 client connection; made on first use otherwise).
    pub upstreams: Option<Rc<crate::h2::back::Upstreams>>,
    pub client: MaybeTls<D::Stream>,
    /// The client connection's TLS facts (`None`: clear text). Shared with the
    /// rules' views of each transaction.
    pub tls: Option<Rc<TlsInfo>>,
    pub cbuf: IoBuf,
    /// The server connection kept for this session's next request.
    pub server: Option<ServerConn<MaybeTls<D::Stream>>>,
    /// Transactions served so far.
    pub served: u32,
    /// Variables (`sess` scope lives across transactions; the others are cleared
    /// at the end of each).
    pub vars: Vars,
    pub accept_us: u64,
    /// Debug-mode trace id (`-d`).
    pub trace: Option<u32>,
}

/// Serve one HTTP client connection until it closes.
pub async fn serve<D: Driver>(
    w: Rc<Worker<D>>,
    fe: usize,
    bind: usize,
    client: MaybeTls<D::Stream>,
    tls: Option<Rc<TlsInfo>>,
    accept_us: u64,
    trace: Option<u32>,
) {
    let s = Session {
        w,
        fe,
        bind,
        h2: None,
        upstreams: None,
        client,
        tls,
        cbuf: IoBuf::new(),
        server: None,
        served: 0,
        vars: Vars::new(),
        accept_us,
        trace,
    };
    run(s, None).await
}

/// How an HTTP/2 stream's request head reaches its virtual session.
pub enum StreamHead<'a> {
    /// As HTTP/1.1 text, parsed by the session like any client's.
    Text(&'a [u8]),
    /// Already built and checked into a transaction's request
    /// ([`crate::h1::RequestParts`]), with the length its text would have.
    Built(Box<Txn>, usize),
}

/// Serve one HTTP/2 stream presented as an HTTP/1.1 connection: one transaction.
/// The request head goes straight to the session, not through the stream's pipe:
/// built, into its transaction, or as HTTP/1 text, into its input buffer. Returns
/// the session and how many bytes of a text head it took (the rest, if any, follows
/// through the pipe).
pub fn serve_h2_stream<D: Driver>(
    w: Rc<Worker<D>>,
    ctx: Rc<crate::h2::front::ConnCtx>,
    client: MaybeTls<D::Stream>,
    head: StreamHead<'_>,
) -> (
    std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
    usize,
) {
    let mut s = Session {
        w,
        fe: ctx.fe,
        bind: ctx.bind,
        upstreams: Some(ctx.upstreams.clone()),
        client,
        tls: ctx.tls.clone(),
        cbuf: IoBuf::new(),
        server: None,
        served: 0,
        vars: Vars::new(),
        accept_us: clock::now_us(),
        trace: ctx.trace,
        h2: Some(ctx),
    };
    let (built, taken) = match head {
        StreamHead::Text(text) => (None, s.cbuf.push(text)),
        StreamHead::Built(t, len) => (Some((t, len)), 0),
    };
    // Boxed here, where it is made: the future is several KiB, and every move of
    // it is a copy.
    (Box::pin(run(s, built)), taken)
}

/// The session's transactions; `built`: the first one's request head, already built
/// (an HTTP/2 stream's), with the length of its text.
async fn run<D: Driver>(mut s: Session<D>, mut built: Option<(Box<Txn>, usize)>) {
    loop {
        let (mut t, built_len) = match built.take() {
            Some((t, len)) => (t, Some(len)),
            None => (txn::take(), None),
        };
        let next = s.transaction(&mut t, built_len).await;
        s.vars.end_transaction();
        txn::give(t);
        s.served += 1;
        if next == Next::H2 {
            // The client speaks HTTP/2 (prior knowledge on a clear connection).
            let pre = s.cbuf.data().to_vec();
            let Session {
                w,
                fe,
                bind,
                client,
                tls,
                trace,
                ..
            } = s;
            // Boxed: an HTTP/1 session's future must not carry an HTTP/2 connection's.
            Box::pin(crate::h2::front::serve(
                w, fe, bind, client, tls, trace, pre,
            ))
            .await;
            return;
        }
        if next == Next::Close || s.w.shared.is_stopping() || s.h2.is_some() {
            break;
        }
    }
    // Keep a reusable server connection for other sessions.
    if let Some(conn) = s.server.take() {
        exchange::release_to_pool(&s.w, conn);
    }
    // An HTTP/2 client's streams share their connection's set: it is handed over
    // when the connection ends (`h2::front`).
    if let (Some(own), None) = (s.upstreams.take(), &s.h2) {
        crate::proxy::http::upstreams::release_upstreams(&s.w, &own);
    }
    if s.client.is_tls() {
        // Flush what rustls still holds and say `close_notify`, briefly.
        let _ = crate::runtime::timeout(
            Some(std::time::Duration::from_secs(1)),
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut s.client).poll_shutdown(cx)),
        )
        .await;
    }
}

impl<D: Driver> Session<D> {
    fn frontend(&self) -> &appliance_config::Frontend {
        &self.w.shared.config.frontends[self.fe]
    }

    /// Read the next request head into `cbuf` under the right timeouts.
    async fn read_head(&mut self, t: &mut Txn) -> HeadRead {
        let fe = &self.w.shared.config.frontends[self.fe];
        let tmo = &fe.timeouts;
        let request_tmo = tmo.http_request.or(tmo.client);
        let idle_tmo = if self.served == 0 {
            request_tmo
        } else {
            tmo.http_keep_alive.or(request_tmo)
        };
        let limits = self.w.limits;
        let mut timer = Timer::new();
        timer.set_after(idle_tmo);
        let mut got_bytes = !self.cbuf.is_empty();
        if got_bytes {
            timer.set_after(request_tmo);
        }
        t.t_start = clock::now_us();
        let detect_h2 = self.served == 0
            && self.h2.is_none()
            && self.frontend().binds[self.bind].proto.as_deref() != Some("h1");
        let client = &mut self.client;
        let cbuf = &mut self.cbuf;
        std::future::poll_fn(|cx| loop {
            let preface = crate::h2::scan::PREFACE;
            let maybe_h2 =
                detect_h2 && preface.starts_with(&cbuf.data()[..cbuf.len().min(preface.len())]);
            if maybe_h2 && cbuf.len() >= preface.len() {
                return Poll::Ready(HeadRead::H2Preface);
            }
            if !cbuf.is_empty() && !maybe_h2 {
                match parse_request(cbuf.data(), &limits, &mut t.req) {
                    Ok(Parsed::Complete { head_len }) => {
                        return Poll::Ready(HeadRead::Complete(head_len))
                    }
                    Ok(Parsed::Partial) => {
                        if cbuf.is_full() {
                            // The parser reports oversize itself; a full buffer
                            // without its verdict means the head cannot fit.
                            return Poll::Ready(HeadRead::Invalid(crate::h1::H1Error::request(
                                crate::h1::ErrorKind::HeadTooLarge,
                                cbuf.len(),
                            )));
                        }
                    }
                    Err(e) => return Poll::Ready(HeadRead::Invalid(e)),
                }
            }
            match cbuf.poll_fill(client, cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    return Poll::Ready(if got_bytes {
                        HeadRead::Aborted
                    } else {
                        HeadRead::Nothing { timeout: false }
                    })
                }
                Poll::Ready(Ok(_)) => {
                    if !got_bytes {
                        got_bytes = true;
                        t.t_idle = clock::now_us();
                        timer.set_after(request_tmo);
                    }
                    continue;
                }
                Poll::Pending => {}
            }
            if timer.poll_expired(cx).is_ready() {
                return Poll::Ready(if got_bytes {
                    HeadRead::Timeout
                } else {
                    HeadRead::Nothing { timeout: true }
                });
            }
            return Poll::Pending;
        })
        .await
    }

    /// One request/response exchange.
    async fn transaction(&mut self, t: &mut Txn, built_len: Option<usize>) -> Next {
        t.first = self.served == 0;
        t.wall_start = clock::wall_us();
        let head = match built_len {
            Some(len) => {
                t.t_start = clock::now_us();
                HeadRead::Built(len)
            }
            None => self.read_head(t).await,
        };
        if t.t_idle == 0 {
            t.t_idle = t.t_start;
        }
        t.t_head = clock::now_us();
        let (head_len, in_cbuf) = match head {
            HeadRead::Complete(n) => (n, true),
            HeadRead::Built(n) => (n, false),
            HeadRead::H2Preface => return Next::H2,
            HeadRead::Nothing { timeout } => {
                if self.served == 0 && !self.frontend().dontlognull {
                    t.term = TermState(if timeout { b'c' } else { b'C' }, b'R');
                    t.status = if timeout { Some(408) } else { None };
                    if timeout {
                        self.reply_error(t, 408).await;
                    }
                    self.log(t);
                }
                return Next::Close;
            }
            HeadRead::Aborted => {
                t.term = TermState(b'C', b'R');
                t.status = Some(400);
                self.log(t);
                return Next::Close;
            }
            HeadRead::Timeout => {
                t.term = TermState(b'c', b'R');
                self.reply_error(t, 408).await;
                self.log(t);
                return Next::Close;
            }
            HeadRead::Invalid(e) => {
                t.term = TermState(b'P', b'R');
                self.w.note_invalid_request(self.fe, self.cbuf.data(), e);
                self.reply_error(t, e.status()).await;
                self.log(t);
                return Next::Close;
            }
        };
        t.bytes_in = head_len as u64;
        if self.h2.is_some() {
            h2_request_line(t, self.tls.is_some());
        } else {
            capture_request_line(t, self.cbuf.data());
        }
        if let Some(id) = self.trace {
            let fe = &self.frontend().name;
            crate::proxy::trace::head(id, fe, "clireq", "clihdr", &t.request_line, &t.req.headers);
        }
        txn::capture(
            &self.w.shared.config.frontends[self.fe].capture_request,
            &t.req.headers,
            &mut t.cap_req,
        );
        if in_cbuf {
            self.cbuf.consume(head_len);
        }

        // Frontend rules, routing, backend rules.
        let route = actions::process_request(self, t).await;
        let backend = match route {
            actions::Route::Backend(b) => b,
            actions::Route::Replied(next) => {
                self.log(t);
                return self.after_local_reply(t, next).await;
            }
        };
        t.backend = Some(backend);
        let next = exchange::forward(self, t, backend).await;
        t.t_end = clock::now_us();
        self.log(t);
        next
    }

    /// After an answer produced by sluice itself (return, redirect, deny): drain the
    /// request body so the next request can be read, or close.
    async fn after_local_reply(&mut self, t: &mut Txn, next: Next) -> Next {
        if next == Next::Close {
            return Next::Close;
        }
        match exchange::discard_request_body(self, t).await {
            true => Next::KeepAlive,
            false => Next::Close,
        }
    }

    /// Answer an error page for `status` (the backend's or frontend's errorfile if
    /// any, HAProxy's default page otherwise). The connection is closed after.
    pub async fn reply_error(&mut self, t: &mut Txn, status: u16) {
        let page = reply::error_page(&self.w.shared.config, self.fe, t.backend, status);
        t.status = Some(status);
        t.bytes_out += page.len() as u64;
        let tmo = self.frontend().timeouts.client;
        let _ = crate::runtime::timeout(tmo, write_all(&mut self.client, page)).await;
    }

    /// Emit the transaction's log line.
    pub fn log(&self, t: &mut Txn) {
        if t.t_end == 0 {
            t.t_end = clock::now_us();
        }
        self.w
            .stats
            .borrow_mut()
            .txn_end(self.fe, &txn_end(t, self.accept_us));
        crate::proxy::log::log_http(self, t);
    }
}

/// What the counters keep of a finished transaction: HAProxy's `Tw`, `Tc`, `Tr`
/// and `Ta` (from the request's first byte to the end).
fn txn_end(t: &Txn, accept_us: u64) -> crate::proxy::stats::TxnEnd {
    let between = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    crate::proxy::stats::TxnEnd {
        backend: t.backend,
        server: t.server,
        bytes_in: t.bytes_in,
        bytes_out: t.bytes_out,
        retries: t.retries,
        redispatched: t.redispatched,
        timings: crate::proxy::latency::Timings {
            queue: between(Some(t.t_head), t.t_queue),
            connect: between(t.t_queue, t.t_connect),
            response: between(t.t_connect, t.t_response),
            total: t.t_end.saturating_sub(t.t_idle.max(accept_us)),
        },
    }
}

/// Keep the request line (`%r`) as received, before any rewrite.
fn capture_request_line(t: &mut Txn, buf: &[u8]) {
    let end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(0);
    t.request_line.clear();
    t.request_line.extend_from_slice(&buf[..end.min(8192)]);
}

/// An HTTP/2 request's line as HAProxy logs it: the absolute URI built from
/// `:scheme`, `:authority` and `:path`, and `HTTP/2.0`.
fn h2_request_line(t: &mut Txn, tls: bool) {
    let line = &mut t.request_line;
    line.clear();
    line.extend_from_slice(t.req.method());
    line.push(b' ');
    let target = t.req.target();
    if target.starts_with(b"/") {
        if let Some(host) = t.req.headers.get(b"host") {
            line.extend_from_slice(if tls { b"https://" } else { b"http://" });
            line.extend_from_slice(host);
        }
    }
    line.extend_from_slice(&target[..target.len().min(8192)]);
    line.extend_from_slice(b" HTTP/2.0");
}

/// Helper for the accept loop: the peer address of the client, for logs.
pub fn peer<S: Stream>(s: &S) -> Option<std::net::SocketAddr> {
    s.peer_addr()
}
