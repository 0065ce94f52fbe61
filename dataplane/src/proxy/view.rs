//! The data plane's side of the rules engine: [`View`] answers sample fetches from a
//! transaction's parsed heads and connection addresses, and [`Ctx`] answers the `%`
//! log variables (timers, counters, names, termination state) for log lines and
//! header-value formats.
//!
//! TLS: the view carries the client connection's [`TlsInfo`] (the `ssl_fc_*` and
//! `ssl_c_*` fetches, `%ft`'s `~`).
//!
//! Owns nothing: both borrow the transaction. Invariant: no allocation — every
//! answer is a slice of the heads or written into the caller's buffer.

use std::io::Write;
use std::net::SocketAddr;

use appliance_config::model::format::LogVar;

use crate::h1::{RequestHead, ResponseHead, Version};
use crate::proxy::http::txn::Txn;
use crate::proxy::Shared;
use crate::rules::{
    write_date, write_txn_log_var, FormatContext, HdrSide, NameKind, TxnView, ValueKind, Vars,
};
use crate::tls::TlsInfo;

/// A transaction as the rules see it.
pub struct View<'a> {
    pub req: Option<&'a RequestHead>,
    pub rsp: Option<&'a ResponseHead>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub first: bool,
    pub shared: &'a Shared,
    pub fe: usize,
    pub be: Option<usize>,
    pub srv: Option<usize>,
    /// The client connection's TLS facts (`None`: clear text).
    pub tls: Option<&'a TlsInfo>,
}

impl TxnView for View<'_> {
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls
    }

    fn method(&self) -> &[u8] {
        self.req.map_or(&[], |r| r.method())
    }

    fn uri(&self) -> &[u8] {
        self.req.map_or(&[], |r| r.target())
    }

    fn req_version(&self) -> Option<&[u8]> {
        self.req.map(|r| version_digits(r.version))
    }

    fn res_version(&self) -> Option<&[u8]> {
        self.rsp.map(|r| version_digits(r.version))
    }

    fn status(&self) -> Option<u16> {
        self.rsp.map(|r| r.status())
    }

    fn src(&self) -> Option<SocketAddr> {
        self.src
    }

    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }

    fn full_header_values(&self, side: HdrSide, name: &[u8], f: &mut dyn FnMut(&[u8])) {
        let h = match side {
            HdrSide::Request => self.req.map(|r| &r.headers),
            HdrSide::Response => self.rsp.map(|r| &r.headers),
        };
        if let Some(h) = h {
            for v in h.get_all(name) {
                f(v);
            }
        }
    }

    fn all_headers(&self, side: HdrSide, f: &mut dyn FnMut(&[u8], &[u8])) {
        let h = match side {
            HdrSide::Request => self.req.map(|r| &r.headers),
            HdrSide::Response => self.rsp.map(|r| &r.headers),
        };
        if let Some(h) = h {
            for (n, v) in h.iter() {
                f(n, v);
            }
        }
    }

    fn first_request(&self) -> bool {
        self.first
    }

    fn nbsrv(&self, backend: Option<&str>) -> Option<i64> {
        let idx = match backend {
            Some(name) => self.shared.config.backend_index(name)?,
            None => self.be?,
        };
        Some(self.shared.nbsrv(idx) as i64)
    }

    fn proxy_name(&self, kind: NameKind) -> Option<&str> {
        let cfg = &self.shared.config;
        match kind {
            NameKind::Frontend => Some(cfg.frontends[self.fe].name.as_str()),
            NameKind::Backend => self.be.map(|b| cfg.backends[b].name.as_str()),
            NameKind::Server => {
                let b = self.be?;
                self.srv.map(|s| self.shared.server_name(b, s))
            }
        }
    }
}

fn version_digits(v: Version) -> &'static [u8] {
    match v {
        Version::Http10 => b"1.0",
        Version::Http11 => b"1.1",
    }
}

/// Everything a log line or a header format can print.
pub struct Ctx<'a> {
    pub view: View<'a>,
    pub vars: &'a Vars,
    pub t: &'a Txn,
    /// Worker-clock µs of the session's accept.
    pub accept_us: u64,
    /// HTTP transaction (false: TCP session).
    pub http: bool,
}

fn ms_between(from: u64, to: Option<u64>) -> Option<i64> {
    to.map(|t| (t.saturating_sub(from) / 1000) as i64)
}

impl FormatContext for Ctx<'_> {
    fn txn(&self) -> &dyn TxnView {
        &self.view
    }

    fn vars(&self) -> &Vars {
        self.vars
    }

    fn log_var(&self, var: LogVar, out: &mut Vec<u8>) -> ValueKind {
        let t = self.t;
        let sh = self.view.shared;
        let cfg = &sh.config;
        let num = |out: &mut Vec<u8>, n: i64| {
            let _ = write!(out, "{n}");
            ValueKind::Number
        };
        let text = |out: &mut Vec<u8>, s: &[u8]| {
            out.extend_from_slice(s);
            ValueKind::Text
        };
        let end = if t.t_end == 0 {
            crate::runtime::clock::now_us()
        } else {
            t.t_end
        };
        // The request's first byte (or the accept for TCP).
        let first_byte = t.t_idle.max(self.accept_us);
        match var {
            LogVar::Frontend => text(out, cfg.frontends[self.view.fe].name.as_bytes()),
            // `%ft`: the frontend name, with `~` when the client connection is TLS.
            LogVar::FrontendTransport => {
                out.extend_from_slice(cfg.frontends[self.view.fe].name.as_bytes());
                if self.view.tls.is_some() {
                    out.push(b'~');
                }
                ValueKind::Text
            }
            LogVar::Backend => match self.view.be {
                Some(b) => text(out, cfg.backends[b].name.as_bytes()),
                None => text(out, cfg.frontends[self.view.fe].name.as_bytes()),
            },
            LogVar::Server => match (self.view.be, self.view.srv) {
                (Some(b), Some(s)) => text(out, self.view.shared.server_name(b, s).as_bytes()),
                _ => text(out, b"<NOSRV>"),
            },
            LogVar::Status => match t.status {
                Some(s) => num(out, i64::from(s)),
                None => num(out, -1),
            },
            LogVar::BytesOut => num(out, t.bytes_out as i64),
            LogVar::BytesIn => num(out, t.bytes_in as i64),
            LogVar::TR => num(
                out,
                if self.http {
                    ((t.t_head.saturating_sub(first_byte)) / 1000) as i64
                } else {
                    -1
                },
            ),
            LogVar::Tw => num(out, ms_between(t.t_head, t.t_queue).unwrap_or(-1)),
            LogVar::Tc => num(
                out,
                match (t.t_queue, t.t_connect) {
                    (Some(q), Some(c)) => (c.saturating_sub(q) / 1000) as i64,
                    _ => -1,
                },
            ),
            LogVar::Tr => num(
                out,
                match (t.t_connect, t.t_response) {
                    (Some(c), Some(r)) => (r.saturating_sub(c) / 1000) as i64,
                    _ => -1,
                },
            ),
            LogVar::Ta => num(out, (end.saturating_sub(first_byte) / 1000) as i64),
            LogVar::Tt => num(out, (end.saturating_sub(self.accept_us) / 1000) as i64),
            LogVar::Ti => num(
                out,
                (t.t_idle.saturating_sub(t.t_start.max(self.accept_us)) / 1000) as i64,
            ),
            LogVar::Th => num(out, 0),
            LogVar::Tq => num(
                out,
                (t.t_head.saturating_sub(t.t_start.max(self.accept_us)) / 1000) as i64,
            ),
            LogVar::Tu => num(out, (end.saturating_sub(first_byte) / 1000) as i64),
            LogVar::Td => num(
                out,
                t.t_response
                    .map_or(-1, |r| (end.saturating_sub(r) / 1000) as i64),
            ),
            LogVar::ActConn => num(out, i64::from(sh.process.cur())),
            LogVar::FeConn => num(out, i64::from(sh.frontends[self.view.fe].cur())),
            LogVar::BeConn => num(
                out,
                self.view.be.map_or(0, |b| {
                    sh.servers[b].iter().map(|s| i64::from(s.cur())).sum()
                }),
            ),
            LogVar::SrvConn => num(
                out,
                match (self.view.be, self.view.srv) {
                    (Some(b), Some(s)) => i64::from(sh.servers[b][s].cur()),
                    _ => 0,
                },
            ),
            LogVar::Retries => {
                if t.redispatched {
                    out.push(b'+');
                }
                num(out, i64::from(t.retries))
            }
            LogVar::SrvQueue => num(
                out,
                match (self.view.be, self.view.srv) {
                    (Some(b), Some(s)) => i64::from(
                        sh.servers[b][s]
                            .queued
                            .load(std::sync::atomic::Ordering::Relaxed),
                    ),
                    _ => 0,
                },
            ),
            LogVar::BeQueue => num(
                out,
                self.view.be.map_or(0, |b| i64::from(sh.queues[b].len())),
            ),
            LogVar::TermState => text(out, &t.term.as_bytes()),
            LogVar::TermStateCookie => {
                out.extend_from_slice(&t.term.as_bytes());
                text(out, b"--")
            }
            LogVar::CaptureCookieClient | LogVar::CaptureCookieServer => ValueKind::Missing,
            // No captures configured: print nothing (the separator rule folds the
            // blank), as HAProxy does.
            LogVar::CapturedReqHeaders => captured(
                out,
                &cfg.frontends[self.view.fe].capture_request,
                &t.cap_req,
                true,
            ),
            LogVar::CapturedResHeaders => captured(
                out,
                &cfg.frontends[self.view.fe].capture_response,
                &t.cap_rsp,
                true,
            ),
            LogVar::CapturedReqHeadersList => captured(
                out,
                &cfg.frontends[self.view.fe].capture_request,
                &t.cap_req,
                false,
            ),
            LogVar::CapturedResHeadersList => captured(
                out,
                &cfg.frontends[self.view.fe].capture_response,
                &t.cap_rsp,
                false,
            ),
            LogVar::RequestDate | LogVar::Date => {
                write_date(out, (t.wall_start / 1000) as i64, 0, true);
                ValueKind::Text
            }
            LogVar::Pid => num(out, i64::from(std::process::id())),
            LogVar::RequestLine if t.request_line.is_empty() => text(out, b"<BADREQ>"),
            LogVar::RequestLine => text(out, &t.request_line),
            _ => write_txn_log_var(&self.view, var, out).unwrap_or(ValueKind::Missing),
        }
    }
}

/// `%hr`/`%hs` (`{a|b}`) and `%hrl`/`%hsl` (`a b`): captured header values, with
/// HAProxy's `#XX` escaping of control characters and of `"`, `#`, `{`, `|`, `}`.
fn captured(
    out: &mut Vec<u8>,
    caps: &[appliance_config::Capture],
    values: &[Vec<u8>],
    braces: bool,
) -> ValueKind {
    if caps.is_empty() {
        return ValueKind::Text;
    }
    if braces {
        out.push(b'{');
    }
    for i in 0..caps.len() {
        if i > 0 {
            out.push(if braces { b'|' } else { b' ' });
        }
        for &b in values.get(i).map_or(&[][..], |v| v.as_slice()) {
            if !(32..127).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
                let _ = write!(out, "#{b:02X}");
            } else {
                out.push(b);
            }
        }
    }
    if braces {
        out.push(b'}');
    }
    ValueKind::Text
}
