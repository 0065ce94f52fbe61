//! A TCP-mode session: choose a backend and server, connect (with retries and
//! redispatch), then forward bytes both ways until both sides closed.
//!
//! Owns: the client and server streams of one TCP session. Invariants: half-close
//! is propagated (a client FIN reaches the server and the server may still answer);
//! inactivity ends the session after `timeout tunnel`, or the client/server timeouts
//! when no tunnel timeout is set; one log line per session (`option tcplog`).

use std::rc::Rc;
use std::time::Duration;

use crate::buf::IoBuf;
use crate::io::{Driver, Stream};
use crate::lb::LbKey;
use crate::proxy::backend::EstablishError;
use crate::proxy::http::txn::{self, TermState};
use crate::proxy::Worker;
use crate::runtime::clock;
use crate::tls::{MaybeTls, TlsInfo};
use crate::tunnel::{tunnel, TunnelEnd};

/// Serve one TCP-mode client connection.
pub async fn serve<D: Driver>(
    w: Rc<Worker<D>>,
    fe: usize,
    mut client: MaybeTls<D::Stream>,
    tls: Option<Rc<TlsInfo>>,
    accept_us: u64,
) {
    let mut t = txn::take();
    t.t_start = accept_us;
    t.t_idle = accept_us;
    t.t_head = accept_us;
    t.wall_start = clock::wall_us();
    let fe_cfg = &w.shared.config.frontends[fe];
    let backend = crate::proxy::http::actions::tcp_route(&w, fe, &client, tls.as_ref());
    let Some(be) = backend else {
        t.term = TermState(b'P', b'R');
        crate::proxy::log::log_tcp(&w, fe, &client, tls.as_deref(), &t);
        txn::give(t);
        return;
    };
    t.backend = Some(be);
    let bert = &w.backends[be];
    let src_ip = client.peer_addr().map(|a| match a.ip() {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    });
    let key = LbKey {
        source: src_ip.as_deref(),
        ..LbKey::default()
    };
    let result = bert
        .establish(
            &*w.driver,
            key,
            |server| tcp_sni(&w, fe, be, server, &client, tls.as_deref()),
            |_, _| None,
            |_, _| None,
            |server, e| crate::proxy::http::acquire::connect_failed(&w, be, server, e),
        )
        .await;
    let mut e = match result {
        Ok(e) => e,
        Err(err) => {
            t.term = match err {
                EstablishError::NoServer => TermState(b'S', b'C'),
                EstablishError::QueueTimeout => TermState(b's', b'Q'),
                EstablishError::ConnectFailed { retries } => {
                    t.retries = retries;
                    TermState(b'S', b'C')
                }
            };
            t.t_end = clock::now_us();
            crate::proxy::log::log_tcp(&w, fe, &client, tls.as_deref(), &t);
            txn::give(t);
            return;
        }
    };
    t.server = Some(e.slot.server);
    t.t_queue = Some(e.t_queue);
    t.t_connect = Some(e.t_connect);
    t.retries = e.retries;
    t.redispatched = e.redispatched;
    w.stats.borrow_mut().server_connects(be, e.slot.server);
    let be_cfg = &w.shared.config.backends[be];
    let idle = fe_cfg
        .timeouts
        .tunnel
        .or(be_cfg.timeouts.tunnel)
        .or_else(|| min_opt(fe_cfg.timeouts.client, be_cfg.timeouts.server));
    let r = tunnel(&mut client, IoBuf::new(), &mut e.stream, IoBuf::new(), idle).await;
    t.bytes_in = r.a_to_b;
    t.bytes_out = r.b_to_a;
    t.term = match r.end {
        TunnelEnd::Closed => TermState::NORMAL,
        TunnelEnd::Timeout => TermState(b'c', b'D'),
        TunnelEnd::ErrorA => TermState(b'C', b'D'),
        TunnelEnd::ErrorB => TermState(b'S', b'D'),
    };
    t.t_end = clock::now_us();
    drop(e);
    crate::proxy::log::log_tcp(&w, fe, &client, tls.as_deref(), &t);
    txn::give(t);
}

/// The SNI for a TLS server in TCP mode: its `sni` expression evaluated without a
/// request (layer-4 and TLS fetches), else none.
fn tcp_sni<D: Driver>(
    w: &Worker<D>,
    fe: usize,
    be: usize,
    server: usize,
    client: &MaybeTls<D::Stream>,
    tls: Option<&TlsInfo>,
) -> Option<String> {
    let expr = w.shared.tls.server(be, server)?.sni.as_ref()?;
    let view = crate::proxy::view::View {
        req: None,
        rsp: None,
        src: client.peer_addr(),
        dst: client.local_addr(),
        first: true,
        shared: &w.shared,
        fe,
        be: Some(be),
        srv: Some(server),
        tls,
    };
    let vars = crate::rules::Vars::new();
    let mut scratch = crate::rules::Scratch::new();
    crate::rules::fetch_last(expr, &view, &vars, &mut scratch, |v| {
        v.map(|v| {
            let mut o = Vec::new();
            v.write_text(&mut o);
            String::from_utf8_lossy(&o).into_owned()
        })
    })
    .filter(|n| !n.is_empty())
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
