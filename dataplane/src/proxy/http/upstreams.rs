//! The HTTP/2 server connections a session's requests use: which set a request
//! looks in and where a new connection lives (`http-reuse`), starting HTTP/2 on a
//! fresh server connection, and handing a session's connections over when it ends.
//!
//! Owns no state: the sets are `crate::h2::back::Upstreams` held by the session (its
//! own) and by the backend's per-worker runtime (the shared one). Invariant: a
//! connection is in exactly one set at a time.

use std::rc::Rc;

use appliance_config::HttpReuse;

use crate::h2::back::Upstreams;
use crate::io::{Driver, Stream};
use crate::proxy::http::session::Session;
use crate::proxy::Worker;
use crate::tls::MaybeTls;

/// A fresh server connection speaks HTTP/2 when the server says `proto h2`, or
/// TLS settled on `h2` by ALPN: start HTTP/2 on it, keep it in the session's
/// upstreams, and return a virtual connection for this request's stream.
pub async fn speak_h2<D: Driver>(
    s: &mut Session<D>,
    be: usize,
    server: usize,
    sni_key: u64,
    stream: MaybeTls<D::Stream>,
) -> Result<MaybeTls<D::Stream>, ()> {
    let cfg = &s.w.shared.config.backends[be].servers[server];
    let h2 = cfg.proto.as_deref() == Some("h2") || stream.alpn() == Some(&b"h2"[..]);
    if !h2 {
        return Ok(stream);
    }
    let addrs = (s.client.peer_addr(), s.client.local_addr());
    let tls = stream.is_tls();
    let w = s.w.clone();
    let tmo = w.shared.config.backends[be].timeouts.connect;
    let opened = crate::runtime::timeout(
        tmo,
        crate::h2::back::connect(
            stream,
            &w.shared.config.global.tune.h2,
            w.limits.max_head_bytes,
            tls,
        ),
    )
    .await;
    let ups = match own_upstreams(s, be) {
        Some(own) => home_set(
            w.backends[be].config().http_reuse,
            &own,
            &w.backends[be].h2_shared,
        ),
        None => Default::default(),
    };
    match opened {
        Ok(Ok(opened)) => Ok(MaybeTls::Virtual(
            ups.attach(opened, be, server, sni_key, w.limits, addrs),
        )),
        _ => {
            ups.abandon(be, server, sni_key);
            Err(())
        }
    }
}

/// The session's own set of HTTP/2 server connections (made on first use), or
/// `None` when the backend has no HTTP/2 server.
pub(crate) fn own_upstreams<D: Driver>(s: &mut Session<D>, be: usize) -> Option<Rc<Upstreams>> {
    if !speaks_h2(s.w.backends[be].config()) {
        return None;
    }
    Some(s.upstreams.get_or_insert_with(Default::default).clone())
}

/// At the end of a session: its own HTTP/2 server connections join the worker's
/// shared sets (`safe`: reusable by later requests of other sessions), or close
/// (`never`).
pub fn release_upstreams<D: Driver>(w: &Worker<D>, own: &Upstreams) {
    own.hand_over(|be| {
        let bert = &w.backends[be];
        (bert.config().http_reuse != HttpReuse::Never).then_some(&*bert.h2_shared)
    });
}

/// Where a new HTTP/2 server connection lives: shared by the worker's sessions at
/// once with `aggressive|always`, private to its session with `never|safe`
/// (HAProxy: a multiplexed connection with streams in flight serves its session).
pub(crate) fn home_set(
    mode: HttpReuse,
    own: &Rc<Upstreams>,
    shared: &Rc<Upstreams>,
) -> Rc<Upstreams> {
    match mode {
        HttpReuse::Aggressive | HttpReuse::Always => shared.clone(),
        HttpReuse::Never | HttpReuse::Safe => own.clone(),
    }
}

/// Whether a backend has servers that speak (or may choose) HTTP/2.
fn speaks_h2(cfg: &appliance_config::Backend) -> bool {
    cfg.servers.iter().any(|s| {
        s.proto.as_deref() == Some("h2")
            || s.tls
                .as_ref()
                .is_some_and(|t| t.alpn.iter().any(|a| a == "h2"))
    })
}
