//! Log lines of sessions and transactions: HAProxy's `httplog`/`tcplog`/`log-format`
//! lines rendered from the transaction, or its legacy minimal line when no format is
//! set, sent to the frontend's log targets at level `info` (`err` for errors, as
//! HAProxy does with `option log-separate-errors` off: everything at info).
//!
//! Owns: the mapping from configuration loggers to log sinks, and line rendering.
//! Invariant: one line per transaction (HTTP) or session (TCP), rendered into a
//! reused per-worker buffer.

use std::cell::RefCell;

use crate::io::{Driver, Stream};
use crate::logsink::{LogDest, LogFormat, LogTargetSpec};
use crate::proxy::http::session::Session;
use crate::proxy::http::txn::Txn;
use crate::proxy::view::{Ctx, View};
use crate::proxy::Worker;
use crate::rules::{render_format, Scratch, Vars};
use crate::tls::{MaybeTls, TlsInfo};

thread_local! {
    static LINE: RefCell<(Vec<u8>, Scratch)> = RefCell::new((Vec::with_capacity(1024), Scratch::new()));
}

/// The log sink spec for a configuration logger.
pub fn target_spec(l: &appliance_config::Logger) -> LogTargetSpec {
    use appliance_config::LogHeaderFormat as F;
    LogTargetSpec {
        dest: match &l.dest {
            appliance_config::LogDest::Stdout => LogDest::Stdout,
            appliance_config::LogDest::Stderr => LogDest::Stderr,
            appliance_config::LogDest::Udp(a) => LogDest::Udp(*a),
            appliance_config::LogDest::UnixDgram(p) => LogDest::Unix(p.clone()),
        },
        format: match l.format {
            F::Raw => LogFormat::Raw,
            F::Short | F::Priority => LogFormat::Short,
            F::Rfc5424 | F::Iso | F::Timed => LogFormat::Rfc5424,
            F::Rfc3164 | F::Local => LogFormat::Rfc3164,
        },
        facility: l.facility,
        max_level: l.level as u8,
        min_level: l.min_level as u8,
    }
}

const INFO: u8 = 6;

fn emit<D: Driver>(w: &Worker<D>, fe: usize, ctx: &Ctx<'_>) {
    let Some(sink) = &w.frontends[fe].log else {
        return;
    };
    let cfg = &w.shared.config.frontends[fe];
    LINE.with(|l| {
        let (line, scratch) = &mut *l.borrow_mut();
        line.clear();
        match &cfg.log_format {
            Some(fmt) => {
                if !render_format(fmt, ctx, scratch, line) {
                    return;
                }
            }
            None => legacy_line(ctx, line),
        }
        sink.send(INFO, line);
    });
}

/// HAProxy's line without `option httplog`/`tcplog`: "Connect from IP:port to
/// IP:port (frontend/MODE)".
fn legacy_line(ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    let v = &ctx.view;
    let fmt_addr =
        |a: Option<std::net::SocketAddr>| a.map_or_else(|| "unix".to_string(), |a| a.to_string());
    let _ = write!(
        out,
        "Connect from {} to {} ({}/{})",
        fmt_addr(v.src),
        fmt_addr(v.dst),
        v.shared.config.frontends[v.fe].name,
        if ctx.http { "HTTP" } else { "TCP" }
    );
}

/// Log an HTTP transaction.
pub fn log_http<D: Driver>(s: &Session<D>, t: &Txn) {
    if s.w.frontends[s.fe].log.is_none() {
        return;
    }
    let ctx = Ctx {
        view: View {
            req: if t.request_line.is_empty() {
                None
            } else {
                Some(&t.req)
            },
            rsp: t.status.map(|_| &t.rsp),
            src: s.client.peer_addr(),
            dst: s.client.local_addr(),
            first: t.first,
            shared: &s.w.shared,
            fe: s.fe,
            be: t.backend,
            srv: t.server,
            tls: s.tls.as_deref(),
        },
        vars: &s.vars,
        t,
        accept_us: s.accept_us,
        http: true,
    };
    emit(&s.w, s.fe, &ctx);
}

/// Log a TCP session.
pub fn log_tcp<D: Driver>(
    w: &Worker<D>,
    fe: usize,
    client: &MaybeTls<D::Stream>,
    tls: Option<&TlsInfo>,
    t: &Txn,
) {
    if w.frontends[fe].log.is_none() {
        return;
    }
    let vars = Vars::new();
    let ctx = Ctx {
        view: View {
            req: None,
            rsp: None,
            src: client.peer_addr(),
            dst: client.local_addr(),
            first: true,
            shared: &w.shared,
            fe,
            be: t.backend,
            srv: t.server,
            tls,
        },
        vars: &vars,
        t,
        accept_us: t.t_start,
        http: false,
    };
    emit(w, fe, &ctx);
}

/// Log a connection that failed before any transaction (HAProxy's "embryonic"
/// session line): `ip:port [date] frontend/bind: message`. The bind is named by its
/// `name`, else by its 1-based position in the frontend, as HAProxy numbers
/// listeners. The error detail goes to stderr in debug mode (`-d`) only.
pub fn log_connection_error<D: Driver>(
    w: &Worker<D>,
    fe: usize,
    bind: usize,
    peer: Option<std::net::SocketAddr>,
    wall_us: u64,
    message: &str,
    detail: &dyn std::fmt::Display,
) {
    use std::io::Write;
    let cfg = &w.shared.config.frontends[fe];
    if w.shared.debug {
        eprintln!("{}: {message}: {detail}", cfg.name);
    }
    let Some(sink) = &w.frontends[fe].log else {
        return;
    };
    let bind_name = cfg
        .binds
        .get(bind)
        .and_then(|b| b.name.clone())
        .unwrap_or_else(|| (bind + 1).to_string());
    LINE.with(|l| {
        let (line, _) = &mut *l.borrow_mut();
        line.clear();
        match peer {
            Some(a) => {
                let _ = write!(line, "{}:{} [", a.ip(), a.port());
            }
            None => line.extend_from_slice(b"unix:1 ["),
        }
        crate::rules::write_date(line, (wall_us / 1000) as i64, 0, true);
        let _ = write!(line, "] {}/{bind_name}: {message}", cfg.name);
        sink.send(INFO, line);
    });
}
