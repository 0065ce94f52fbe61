//! Getting a server connection for a transaction: pick a server (balancing,
//! persistence, queueing with its timeout), then a connection to it — a stream on an
//! HTTP/2 connection shared by the session or the worker, the session's own
//! connection (`http-reuse never`), an idle one `http-reuse` allows, one taken over
//! from another worker, else a new one (connect retries and redispatch).
//!
//! Owns: [`acquire`] and the SNI a TLS server connection is opened with
//! ([`server_sni`]). Invariant: an idle connection is only reused under the same
//! pool key (server, SNI) it was opened with.

use crate::buf::IoBuf;
use crate::h2::back::Take;
use crate::io::{Driver, Stream};
use crate::lb::LbKey;
use crate::proxy::backend::{EstablishError, Established, ServerSlot};
use crate::proxy::http::exchange::{release_to_pool, ServerConn};
use crate::proxy::http::session::Session;
use crate::proxy::http::txn::{TermState, Txn};
use crate::proxy::http::upstreams::{home_set, own_upstreams, speak_h2};
use crate::proxy::pool::InUse;
use crate::proxy::view::View;
use crate::proxy::Worker;
use crate::rules::{fetch_last, Scratch};
use crate::tls::MaybeTls;

pub(super) enum Acquired<S> {
    Conn(ServerSlot, ServerConn<S>, bool /* reused */),
    Fail(u16, TermState),
}

/// The SNI for TLS server `server`: its `sni` expression, else the request's Host
/// without its port (`None` for clear servers, or when there is no name).
pub fn server_sni<D: Driver>(s: &Session<D>, t: &Txn, be: usize, server: usize) -> Option<String> {
    let ctx = s.w.shared.tls.server(be, server)?;
    let name = match &ctx.sni {
        Some(expr) => {
            let view = View {
                req: Some(&t.req),
                rsp: None,
                src: s.client.peer_addr(),
                dst: s.client.local_addr(),
                first: t.first,
                shared: &s.w.shared,
                fe: s.fe,
                be: Some(be),
                srv: Some(server),
                tls: s.tls.as_deref(),
            };
            let mut scratch = Scratch::new();
            fetch_last(expr, &view, &s.vars, &mut scratch, |v| {
                v.map(|v| {
                    let mut o = Vec::new();
                    v.write_text(&mut o);
                    String::from_utf8_lossy(&o).into_owned()
                })
            })
        }
        None => t
            .req
            .headers
            .get(b"host")
            .map(|h| String::from_utf8_lossy(crate::tls::host_without_port(h)).into_owned()),
    };
    name.filter(|n| !n.is_empty())
}

/// Count a failed connection attempt; a TLS failure also says why, on stderr and to
/// the backend's log targets (the transaction's own line only says `SC`).
pub fn connect_failed<D: Driver>(w: &Worker<D>, be: usize, server: usize, e: &std::io::Error) {
    w.stats.borrow_mut().connect_error(be, server);
    let msg = e.to_string();
    if msg.starts_with("SSL handshake failure") {
        let cfg = &w.shared.config.backends[be];
        let line = format!("Server {}/{}: {msg}", cfg.name, cfg.servers[server].name);
        eprintln!("[WARNING]  ({}) : {line}", std::process::id());
        if let Some(sink) = &w.backend_logs[be] {
            sink.send(4, line.as_bytes());
        }
    }
}

/// Get a server and a connection to it: a stream on an HTTP/2 connection of the
/// session or of the worker, the session's own connection (`http-reuse never`),
/// an idle one allowed by `http-reuse`, one taken over from another worker, else a
/// new one.
pub(super) async fn acquire<D: Driver>(
    s: &mut Session<D>,
    t: &mut Txn,
    be: usize,
) -> Acquired<MaybeTls<D::Stream>> {
    let w = s.w.clone();
    let bert = &w.backends[be];
    let cfg = bert.config();
    let src_ip = s.client.peer_addr().map(|a| match a.ip() {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    });
    let hdr_name = match &cfg.balance {
        appliance_config::Balance::Hdr { name, .. } => Some(name.as_bytes()),
        _ => None,
    };
    let key = LbKey {
        source: src_ip.as_deref(),
        uri: Some(t.req.target()),
        header: hdr_name.and_then(|n| t.req.headers.get(n)),
    };
    // HTTP/2 server connections: the session's own set, then the worker's shared
    // set as `http-reuse` allows; a new connection goes to `home`.
    let own = own_upstreams(s, be);
    let shared = own
        .as_ref()
        .and_then(|_| Take::shared(cfg.http_reuse, t.first).map(|tk| (bert.h2_shared.clone(), tk)));
    let home = own
        .as_ref()
        .map(|own| home_set(cfg.http_reuse, own, &bert.h2_shared));
    let mut reserved: Vec<(usize, u64)> = Vec::new();
    let mut held = s.server.take();
    let mut reused_requests = 0;
    let mut held_in_use: Option<InUse> = None;
    let first = t.first;
    let sref: &Session<D> = s;
    let tref: &Txn = t;
    let result = bert
        .establish(
            &*w.driver,
            key,
            |server| server_sni(sref, tref, be, server),
            |server, skey| {
                // A live HTTP/2 connection of this session to that server: a new
                // stream on it.
                if let (Some(own), Some(home)) = (&own, &home) {
                    let addrs = (sref.client.peer_addr(), sref.client.local_addr());
                    let max_reuse = u32::try_from(cfg.servers[server].max_reuse).ok();
                    let mut sets = std::iter::once((own, Take::Any))
                        .chain(shared.as_ref().map(|(set, take)| (set, *take)));
                    if let Some(p) = sets.find_map(|(set, take)| {
                        set.open_stream(be, server, skey, take, max_reuse, w.limits, addrs)
                    }) {
                        reused_requests = 1;
                        return Some(MaybeTls::Virtual(p));
                    }
                    // The first request to open it: the others will wait for it.
                    if cfg.servers[server].proto.as_deref() == Some("h2") {
                        home.reserve(be, server, skey);
                        reserved.push((server, skey));
                    }
                }
                if let Some(conn) = held.take() {
                    if conn.backend == be
                        && conn.server == server
                        && conn.sni_key == skey
                        && bert.may_reuse(server, conn.requests)
                        && !conn.stream.idle_input_pending()
                    {
                        reused_requests = conn.requests;
                        held_in_use = Some(conn.in_use);
                        return Some(conn.stream);
                    }
                    release_to_pool(&w, conn);
                }
                bert.take_idle(server, cfg.http_reuse, first, skey)
                    .map(|idle| {
                        reused_requests = idle.requests;
                        idle.conn
                    })
            },
            |server, skey| {
                let peer = crate::proxy::takeover::plan(&w, be, server, first)?;
                let steal: crate::proxy::backend::Steal<D::Stream> = Box::pin(
                    crate::proxy::takeover::ask(w.clone(), peer, be, server, skey, first),
                );
                Some(steal)
            },
            |server, e| connect_failed(&w, be, server, e),
        )
        .await;
    if let Ok(Established {
        taken_over: Some(requests),
        ..
    }) = &result
    {
        reused_requests = *requests;
    }
    if let Some(conn) = held {
        release_to_pool(&w, conn);
    }
    let result = match result {
        Ok(mut e) if !e.reused => {
            match Box::pin(speak_h2(s, be, e.slot.server, e.sni_key, e.stream)).await {
                Ok(stream) => {
                    e.stream = stream;
                    Ok(e)
                }
                Err(()) => {
                    let err = std::io::Error::other("HTTP/2 handshake failure");
                    connect_failed(&w, be, e.slot.server, &err);
                    Err(EstablishError::ConnectFailed { retries: e.retries })
                }
            }
        }
        other => other,
    };
    // Reservations this request made but did not complete release their waiters.
    if let Some(home) = &home {
        for (server, skey) in reserved {
            home.abandon(be, server, skey);
        }
    }
    match result {
        Ok(e) => {
            t.t_queue = Some(e.t_queue);
            t.t_connect = Some(e.t_connect);
            t.retries = e.retries;
            t.redispatched = e.redispatched;
            let server = e.slot.server;
            t.server = Some(server);
            if !e.reused {
                w.stats.borrow_mut().server_connects(be, server);
            }
            let in_use = match held_in_use.take() {
                Some(u) if e.reused => u,
                _ => bert.begin_use(server),
            };
            let conn = ServerConn {
                stream: e.stream,
                sni_key: e.sni_key,
                buf: IoBuf::new(),
                backend: be,
                server,
                requests: if e.reused { reused_requests } else { 0 },
                in_use,
            };
            Acquired::Conn(e.slot, conn, e.reused)
        }
        Err(EstablishError::NoServer) => Acquired::Fail(503, TermState(b'S', b'C')),
        Err(EstablishError::QueueTimeout) => Acquired::Fail(503, TermState(b's', b'Q')),
        Err(EstablishError::ConnectFailed { retries }) => {
            t.retries = retries;
            Acquired::Fail(503, TermState(b'S', b'C'))
        }
    }
}
