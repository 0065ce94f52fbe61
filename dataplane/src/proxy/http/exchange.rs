//! The server side of one HTTP transaction: get a server connection
//! ([`super::acquire`]: reuse, queue, connect with retries and redispatch), send the
//! request, stream the request body while waiting for the response, relay the
//! response, and decide what stays open.
//!
//! Owns: [`ServerConn`] and the exchange state machine. Invariants:
//! - the request body and the response run concurrently (a server may answer before
//!   it read the whole body; `Expect: 100-continue` needs the 100 relayed while the
//!   body has not started);
//! - a request that failed on a *reused* connection before any response byte, and
//!   whose body was not consumed, is retried once on a fresh connection, never shown
//!   to the client as an error (the server may close an idle connection at any time);
//! - a server connection is kept for reuse only at a clean message boundary: both
//!   bodies complete, response persistent, no upgrade, nothing pending in its buffer.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::AsyncWrite;

use appliance_config::{HttpConnMode, HttpReuse};

use crate::buf::IoBuf;
use crate::h1::{parse_response, BodyDecoder, BodyKind, Parsed, ResponseHead};
use crate::h2::pipe::HandedHead;
use crate::io::Driver;
use crate::proxy::http::acquire::{acquire, server_sni, Acquired};
use crate::proxy::http::pump::{BodyPump, PumpError};
use crate::proxy::http::session::{Next, Session};
use crate::proxy::http::txn::{TermState, Txn};
use crate::proxy::http::upstreams::speak_h2;
use crate::proxy::http::{actions, headers};
use crate::proxy::pool::{ConnState, InUse, Release};
use crate::proxy::Worker;
use crate::runtime::{clock, Timer};
use crate::tls::MaybeTls;
use crate::tunnel::{tunnel, TunnelEnd};

/// A connection to a server, with its input buffer.
pub struct ServerConn<S> {
    pub stream: S,
    /// Hash of the SNI the connection was opened with (see `backend::sni_key`).
    pub sni_key: u64,
    pub buf: IoBuf,
    pub backend: usize,
    pub server: usize,
    /// Requests completed on it.
    pub requests: u32,
    /// Counts it as in use by its server pool while it lives outside the pool.
    pub in_use: InUse,
}

/// Offer a connection to its server's idle pool (HAProxy: an HTTP/1 connection is
/// safe after its second request); the pool may refuse it (it is then closed).
pub fn release_to_pool<D: Driver>(w: &Worker<D>, conn: ServerConn<MaybeTls<D::Stream>>) {
    if !conn.buf.is_empty() || conn.stream.is_virtual() {
        return;
    }
    let be = &w.backends[conn.backend];
    be.put_idle(
        conn.server,
        Release {
            key: be.pool_key(conn.server, conn.sni_key),
            conn: conn.stream,
            state: ConnState::h1_after(conn.requests),
            requests: conn.requests,
            in_use: conn.in_use,
        },
    );
}

/// The effective connection mode: the most restrictive of frontend and backend.
fn conn_mode(fe: HttpConnMode, be: HttpConnMode) -> HttpConnMode {
    use HttpConnMode::{Close, KeepAlive, ServerClose};
    match (fe, be) {
        (Close, _) | (_, Close) => Close,
        (ServerClose, _) | (_, ServerClose) => ServerClose,
        _ => KeepAlive,
    }
}

/// The server and client timeouts of one exchange: one wheel entry each, for the
/// response head and the bodies alike, pushed back on every progress.
struct Deadlines {
    srv: Timer,
    cli: Timer,
    srv_tmo: Option<std::time::Duration>,
    cli_tmo: Option<std::time::Duration>,
}

impl Deadlines {
    fn new(srv_tmo: Option<std::time::Duration>, cli_tmo: Option<std::time::Duration>) -> Self {
        Deadlines {
            srv: Timer::new(),
            cli: Timer::new(),
            srv_tmo,
            cli_tmo,
        }
    }

    fn push_back(&mut self) {
        self.srv.set_after(self.srv_tmo);
        self.cli.set_after(self.cli_tmo);
    }
}

/// Why the response head could not be obtained.
enum HeadFail {
    /// The server closed or failed before any response byte.
    Empty,
    /// `timeout server` while waiting.
    Timeout,
    /// The response head was invalid.
    Invalid(crate::h1::H1Error),
    /// The request body failed (client side): status to log, termination state.
    Client(u16, TermState),
}

/// Send the request and relay the response. Returns whether the client connection
/// stays open.
pub async fn forward<D: Driver>(s: &mut Session<D>, t: &mut Txn, be: usize) -> Next {
    let w = s.w.clone();
    let fe_cfg = &w.shared.config.frontends[s.fe];
    let be_cfg = &w.shared.config.backends[be];
    let mode = conn_mode(fe_cfg.http_conn_mode, be_cfg.http_conn_mode);
    // The client's intent, read before hop-by-hop fields are stripped.
    let client_wants_keep = t.req.keep_alive();
    let upgrade = headers::prepare_request(t, mode);
    let req_kind = t.req.body_kind();
    let limits = w.limits;
    let method_head = t.req.method() == b"HEAD";
    let method = t.req.method_kind();
    let srv_tmo = be_cfg.timeouts.server;
    let cli_tmo = fe_cfg.timeouts.client;
    let mut fresh_retry_done = false;

    let (slot, mut conn, mut reused) = match acquire(s, t, be).await {
        Acquired::Conn(sl, c, r) => (sl, c, r),
        Acquired::Fail(status, term) => {
            t.term = term;
            s.reply_error(t, status).await;
            return Next::Close;
        }
    };
    t.reused = reused;
    if reused {
        w.stats.borrow_mut().server_reuse(be, conn.server);
    }
    // The request pump sends the head together with the body bytes already here.
    let mut req_pump = BodyPump::new(BodyDecoder::request(req_kind, &limits));
    req_pump.set_prefix(std::mem::take(&mut t.out));

    let mut deadlines = Deadlines::new(srv_tmo, cli_tmo);
    // Send the request, and read the response while the body flows.
    let head_result = loop {
        let result =
            read_response_head(s, t, &mut conn, &mut req_pump, method, &mut deadlines).await;
        match result {
            Err(HeadFail::Empty) if reused && !fresh_retry_done && !req_pump.started() => {
                // The server closed an idle connection under us: retry on a new one.
                fresh_retry_done = true;
                let head = req_pump.take_prefix();
                req_pump = BodyPump::new(BodyDecoder::request(req_kind, &limits));
                req_pump.set_prefix(head);
                let server = conn.server;
                drop(conn);
                let sni = server_sni(s, t, be, server);
                match Box::pin(w.backends[be].connect(&*w.driver, server, sni.as_deref())).await {
                    Ok(stream) => {
                        w.stats.borrow_mut().server_connects(be, server);
                        let skey = crate::proxy::backend::sni_key(sni.as_deref());
                        let Ok(stream) = Box::pin(speak_h2(s, be, server, skey, stream)).await
                        else {
                            t.term = TermState(b'S', b'C');
                            s.reply_error(t, 503).await;
                            drop(slot);
                            return Next::Close;
                        };
                        conn = ServerConn {
                            stream,
                            sni_key: skey,
                            buf: IoBuf::new(),
                            backend: be,
                            server,
                            requests: 0,
                            in_use: w.backends[be].begin_use(server),
                        };
                        reused = false;
                        t.retries += 1;
                        continue;
                    }
                    Err(_) => {
                        t.term = TermState(b'S', b'C');
                        s.reply_error(t, 503).await;
                        drop(slot);
                        return Next::Close;
                    }
                }
            }
            other => break other,
        }
    };
    let head_len = match head_result {
        Ok(n) => n,
        Err(fail) => {
            let (status, term) = match fail {
                HeadFail::Empty => (502, TermState(b'S', b'H')),
                HeadFail::Timeout => (504, TermState(b's', b'H')),
                HeadFail::Invalid(e) => {
                    w.note_invalid_response(be, conn.buf.data(), e);
                    (502, TermState(b'P', b'H'))
                }
                HeadFail::Client(status, term) => (status, term),
            };
            t.term = term;
            if term.0 == b'C' {
                t.status = Some(status);
            } else {
                s.reply_error(t, status).await;
            }
            drop(slot);
            return Next::Close;
        }
    };
    t.t_response = Some(clock::now_us());
    if let Some(id) = s.trace {
        let line_end = conn.buf.data()[..head_len]
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(0);
        crate::proxy::trace::head(
            id,
            &be_cfg.name,
            "srvrep",
            "srvhdr",
            &conn.buf.data()[..line_end],
            &t.rsp.headers,
        );
    }
    conn.buf.consume(head_len);
    t.bytes_out = 0;

    crate::proxy::http::txn::capture(&fe_cfg.capture_response, &t.rsp.headers, &mut t.cap_rsp);
    // Response rules, then the head for the client.
    if let Some(status) = actions::process_response(s, t, be) {
        // http-response deny: the server connection cannot be reused safely.
        t.term = TermState(b'P', b'H');
        s.reply_error(t, status).await;
        drop(slot);
        return Next::Close;
    }
    let rsp_kind = if method_head {
        BodyKind::None
    } else {
        t.rsp.body_kind()
    };
    let switching = t.rsp.status() == 101
        || (method == crate::h1::Method::Connect && (200..300).contains(&t.rsp.status()));
    let client_keep = !switching
        && mode != HttpConnMode::Close
        && client_wants_keep
        && rsp_kind != BodyKind::UntilClose
        && !w.shared.is_stopping();
    let server_wants_keep = t.rsp.keep_alive();
    headers::prepare_response(t, client_keep, switching);
    t.status = Some(t.rsp.status());
    w.stats
        .borrow_mut()
        .response(s.fe, be, conn.server, t.rsp.status());

    // Write the head; stream both bodies to completion.
    let mut rsp_pump = BodyPump::new(BodyDecoder::response(rsp_kind, &limits));
    let mut head_off = 0usize;
    // An HTTP/2 stream's virtual session hands the head over whole (no text to
    // write, nor for the stream task to parse again); it is counted as if written.
    let handed =
        !switching && s.client.is_virtual() && hand_head(&mut s.client, &t.rsp, rsp_kind).await;
    let handed_len = if handed {
        crate::h1::response_wire_len(&t.rsp)
    } else {
        headers::serialize_response(t);
        0
    };
    let mut out = std::mem::take(&mut t.out);
    if handed {
        // Nothing of the head is left to write; the buffer is kept for reuse.
        out.clear();
    }
    // The response head goes out with the first body bytes (one write), except for
    // a protocol switch where the tunnel takes over after the head.
    let out = if switching || handed {
        out
    } else {
        rsp_pump.set_prefix(out);
        Vec::new()
    };
    deadlines.push_back();
    let mut req_failed: Option<PumpError> = None;
    let body_result: Result<(), (TermState, bool)> = poll_fn(|cx| loop {
        let mut progress = false;
        if !req_pump.is_done() && req_failed.is_none() && !switching {
            match req_pump.poll_pump(
                &mut s.client,
                &mut s.cbuf,
                &mut conn.stream,
                cx,
                &mut progress,
            ) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => req_failed = Some(e),
                Poll::Pending => {}
            }
        }
        if head_off < out.len() {
            match Pin::new(&mut s.client).poll_write(cx, &out[head_off..]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    head_off += n;
                    progress = true;
                }
                Poll::Ready(_) => return Poll::Ready(Err((TermState(b'C', b'D'), false))),
                Poll::Pending => {}
            }
        }
        if head_off == out.len() && !switching && !rsp_pump.is_done() {
            match rsp_pump.poll_pump(
                &mut conn.stream,
                &mut conn.buf,
                &mut s.client,
                cx,
                &mut progress,
            ) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(PumpError::Dest(_))) => {
                    return Poll::Ready(Err((TermState(b'C', b'D'), false)))
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Err((TermState(b'S', b'D'), false))),
                Poll::Pending => {}
            }
        }
        let req_settled = req_pump.is_done() || req_failed.is_some() || switching;
        if head_off == out.len() && (switching || rsp_pump.is_done()) {
            if req_settled {
                return Poll::Ready(Ok(()));
            }
            if matches!(mode, HttpConnMode::Close) || !client_wants_keep {
                // The client will not send another request: stop here.
                return Poll::Ready(Ok(()));
            }
        }
        if progress {
            deadlines.push_back();
            continue;
        }
        if deadlines.srv.poll_expired(cx).is_ready() {
            return Poll::Ready(Err((TermState(b's', b'D'), false)));
        }
        if deadlines.cli.poll_expired(cx).is_ready() {
            return Poll::Ready(Err((TermState(b'c', b'D'), false)));
        }
        return Poll::Pending;
    })
    .await;
    // Count the head before taking the prefix back (it resets the count).
    t.bytes_out += if switching {
        head_off
    } else {
        rsp_pump.prefix_written() + handed_len
    } as u64
        + rsp_pump.wire_bytes;
    t.out = if switching || handed {
        out
    } else {
        rsp_pump.take_prefix()
    };
    t.bytes_in += req_pump.wire_bytes;
    if let Err((term, _)) = body_result {
        t.term = term;
        drop(slot);
        return Next::Close;
    }
    if let Some(e) = req_failed {
        t.term = match e {
            PumpError::Framing(_) => TermState(b'P', b'D'),
            PumpError::Source(_) => TermState(b'C', b'D'),
            PumpError::Dest(_) => TermState(b'S', b'D'),
        };
        drop(slot);
        return Next::Close;
    }

    if switching {
        let tmo = fe_cfg.timeouts.tunnel.or(cli_tmo.max(srv_tmo));
        let cbuf = std::mem::take(&mut s.cbuf);
        let sbuf = std::mem::take(&mut conn.buf);
        let r = Box::pin(tunnel(&mut s.client, cbuf, &mut conn.stream, sbuf, tmo)).await;
        t.bytes_in += r.a_to_b;
        t.bytes_out += r.b_to_a;
        t.term = match r.end {
            TunnelEnd::Closed => TermState::NORMAL,
            TunnelEnd::Timeout => TermState(b'c', b'D'),
            TunnelEnd::ErrorA => TermState(b'C', b'D'),
            TunnelEnd::ErrorB => TermState(b'S', b'D'),
        };
        let _ = upgrade;
        drop(slot);
        return Next::Close;
    }

    conn.requests += 1;
    let server_keep = mode == HttpConnMode::KeepAlive
        && server_wants_keep
        && rsp_kind != BodyKind::UntilClose
        && req_pump.is_done()
        && conn.buf.is_empty()
        && !conn.stream.is_virtual();
    drop(slot);
    if server_keep {
        if be_cfg.http_reuse == HttpReuse::Never {
            // Private to its session (HAProxy: `never` shares nothing), kept for the
            // session's next request, closed with the session.
            if client_keep {
                conn.buf.release();
                s.server = Some(conn);
            }
        } else {
            // Back to the server's pool at once, as HAProxy does after each
            // response, even while the client stays: any session may take it
            // (the table of `http-reuse`), this one included.
            release_to_pool(&w, conn);
        }
    }
    if client_keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Give a final response head to a virtual (HTTP/2 stream) client as a structured
/// head; `false` when the client is a real connection or cannot take it now.
async fn hand_head<S>(client: &mut MaybeTls<S>, rsp: &ResponseHead, kind: BodyKind) -> bool {
    let MaybeTls::Virtual(p) = client else {
        return false;
    };
    let Ok(rsp) = crate::h2::translate::response_to_h2(rsp) else {
        return false;
    };
    let mut head = Some(HandedHead { rsp, kind });
    poll_fn(|cx| Poll::Ready(head.take().is_some_and(|h| p.hand_head(cx, h)))).await
}

/// Read the response head from the server, relaying interim (1xx) responses and
/// driving the request body meanwhile. Returns the head length.
async fn read_response_head<D: Driver>(
    s: &mut Session<D>,
    t: &mut Txn,
    conn: &mut ServerConn<MaybeTls<D::Stream>>,
    req_pump: &mut BodyPump,
    method: crate::h1::Method,
    deadlines: &mut Deadlines,
) -> Result<usize, HeadFail> {
    let limits = s.w.limits;
    deadlines.push_back();
    let mut interim: Vec<u8> = Vec::new();
    let mut interim_off = 0usize;
    let mut req_dead = false;
    let mut got_any = false;
    let mut final_len: Option<usize> = None;
    poll_fn(|cx| loop {
        let mut progress = false;
        if !req_pump.is_done() && !req_dead {
            match req_pump.poll_pump(
                &mut s.client,
                &mut s.cbuf,
                &mut conn.stream,
                cx,
                &mut progress,
            ) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(PumpError::Dest(_))) => req_dead = true,
                Poll::Ready(Err(PumpError::Framing(_))) => {
                    return Poll::Ready(Err(HeadFail::Client(400, TermState(b'P', b'D'))))
                }
                Poll::Ready(Err(PumpError::Source(_))) => {
                    return Poll::Ready(Err(HeadFail::Client(400, TermState(b'C', b'D'))))
                }
                Poll::Pending => {}
            }
        }
        if interim_off < interim.len() {
            match Pin::new(&mut s.client).poll_write(cx, &interim[interim_off..]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    interim_off += n;
                    progress = true;
                }
                Poll::Ready(_) => {
                    return Poll::Ready(Err(HeadFail::Client(400, TermState(b'C', b'H'))))
                }
                Poll::Pending => {}
            }
        }
        if let Some(head_len) = final_len {
            // The final head is parsed; it waits for the interim ones to be relayed
            // (whatever the server does meanwhile: it may already have closed).
            if interim_off == interim.len() {
                return Poll::Ready(Ok(head_len));
            }
            if progress {
                deadlines.cli.set_after(deadlines.cli_tmo);
                continue;
            }
            if deadlines.cli.poll_expired(cx).is_ready() {
                return Poll::Ready(Err(HeadFail::Client(408, TermState(b'c', b'H'))));
            }
            return Poll::Pending;
        }
        if !conn.buf.is_empty() {
            match parse_response(conn.buf.data(), &limits, method, &mut t.rsp) {
                Ok(Parsed::Complete { head_len }) => {
                    if t.rsp.is_interim() && t.rsp.status() != 101 {
                        interim.extend_from_slice(&conn.buf.data()[..head_len]);
                        conn.buf.consume(head_len);
                        t.rsp.clear();
                        // The next head may be buffered already: parse it before
                        // reading (a server may send 1xx, final and FIN at once).
                        continue;
                    }
                    final_len = Some(head_len);
                    continue;
                }
                Ok(Parsed::Partial) if conn.buf.is_full() => {
                    return Poll::Ready(Err(HeadFail::Invalid(crate::h1::H1Error::response(
                        crate::h1::ErrorKind::HeadTooLarge,
                        conn.buf.len(),
                    ))))
                }
                Ok(Parsed::Partial) => {}
                Err(e) => return Poll::Ready(Err(HeadFail::Invalid(e))),
            }
        }
        match conn.buf.poll_fill(&mut conn.stream, cx) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                return Poll::Ready(Err(if got_any {
                    HeadFail::Invalid(crate::h1::H1Error::response(
                        crate::h1::ErrorKind::Truncated,
                        conn.buf.len(),
                    ))
                } else {
                    HeadFail::Empty
                }))
            }
            Poll::Ready(Ok(_)) => {
                got_any = true;
                progress = true;
            }
            Poll::Pending => {}
        }
        if progress {
            deadlines.push_back();
            continue;
        }
        if deadlines.srv.poll_expired(cx).is_ready() {
            return Poll::Ready(Err(HeadFail::Timeout));
        }
        if !req_pump.is_done() && deadlines.cli.poll_expired(cx).is_ready() {
            return Poll::Ready(Err(HeadFail::Client(408, TermState(b'c', b'D'))));
        }
        return Poll::Pending;
    })
    .await
}

/// Read and drop the current request's body (after a local reply) so that the next
/// request can be parsed. Returns false if the connection must close.
pub async fn discard_request_body<D: Driver>(s: &mut Session<D>, t: &mut Txn) -> bool {
    let kind = t.req.body_kind();
    if kind == BodyKind::None {
        return true;
    }
    let limits = s.w.limits;
    let mut pump = BodyPump::new(BodyDecoder::request(kind, &limits));
    let mut sink = tokio::io::sink();
    let tmo = s.w.shared.config.frontends[s.fe].timeouts.client;
    let r = crate::runtime::timeout(
        tmo,
        poll_fn(|cx| {
            let mut p = false;
            pump.poll_pump(&mut s.client, &mut s.cbuf, &mut sink, cx, &mut p)
        }),
    )
    .await;
    t.bytes_in += pump.wire_bytes;
    matches!(r, Ok(Ok(())))
}
