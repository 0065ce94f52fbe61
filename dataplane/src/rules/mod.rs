//! ACL, sample-expression and log-format evaluation for one transaction.
//!
//! Owns: the view a transaction gives of itself ([`TxnView`]), the variable store
//! ([`Vars`]), sample evaluation ([`fetch_last`], [`for_each_value`], [`set_var`]),
//! condition evaluation ([`eval_condition`], [`eval_term`]) and format rendering
//! ([`render_format`] with a [`FormatContext`]). The configuration types come from
//! `appliance_config::model::{sample, format}`.
//!
//! Read first: HAProxy's rules as implemented here —
//! - a missing sample never matches (`-m found` is the way to test presence);
//! - header fetches give one value per comma-separated element (`hdr`) or per line
//!   (`fhdr`); in an ACL every occurrence is tried and any match wins; in a sample
//!   context (`set-var`, `%[…]`) the last occurrence is used unless an occurrence is
//!   given;
//! - `-i` patterns are stored lower-case by the loader, the sample is compared
//!   case-insensitively without being copied;
//! - a condition is an OR of ANDs of (possibly negated) ACLs; a named ACL is the OR of
//!   its terms; `unless` inverts the result.
//!
//! Invariants: evaluation never allocates once the [`Scratch`] buffers and the
//! [`Vars`] slots have grown to their working size (converters work in place or
//! ping-pong between two scratch buffers); nothing here does I/O or reads a clock.

mod acl;
mod format;
mod sample;
mod vars;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_format;
#[cfg(test)]
mod tests_tls;

use std::net::SocketAddr;

pub(crate) use acl::{delimited, find_from, text as sample_text};
pub use acl::{eval_acl, eval_condition, eval_term};
pub use appliance_config::model::sample::{HdrSide, NameKind};
pub use format::{render_format, write_date, write_txn_log_var, FormatContext, ValueKind};
pub(crate) use sample::parse_int;
pub use sample::{fetch_last, for_each_value, set_var, Sample, Scratch};
pub use vars::Vars;

/// What rules can see of the current transaction. Implement it over a parsed request
/// (and response) head without allocating: every method borrows.
///
/// Header names passed in are lower-case; implementations compare case-insensitively.
pub trait TxnView {
    /// The request method; empty before a request exists.
    fn method(&self) -> &[u8];

    /// The request target as received (`/a?b=1`, `http://h/a`, `*`, `h:443`).
    fn uri(&self) -> &[u8];

    /// The path, without query string (HAProxy's `path`); derived from
    /// [`TxnView::uri`] by default (absolute-form targets lose scheme and authority).
    fn path(&self) -> &[u8] {
        let pq = path_and_query(self.uri());
        match pq.iter().position(|&c| c == b'?') {
            Some(q) => &pq[..q],
            None => pq,
        }
    }

    /// The query string after `?`, `None` without `?`.
    fn query(&self) -> Option<&[u8]> {
        let pq = path_and_query(self.uri());
        pq.iter().position(|&c| c == b'?').map(|q| &pq[q + 1..])
    }

    /// The request's HTTP version as HAProxy prints it (`1.0`, `1.1`, `2.0`).
    fn req_version(&self) -> Option<&[u8]>;

    /// The response's HTTP version, once there is a response.
    fn res_version(&self) -> Option<&[u8]> {
        None
    }

    /// The response status, once there is a response.
    fn status(&self) -> Option<u16>;

    /// The client address.
    fn src(&self) -> Option<SocketAddr>;

    /// The address the client connected to.
    fn dst(&self) -> Option<SocketAddr>;

    /// Calls `f` with each whole field value (one per header line) named `name`, in
    /// order (`fhdr` semantics).
    fn full_header_values(&self, side: HdrSide, name: &[u8], f: &mut dyn FnMut(&[u8]));

    /// Calls `f` with every header line (name, value) of `side`, in order.
    fn all_headers(&self, side: HdrSide, f: &mut dyn FnMut(&[u8], &[u8]));

    /// Calls `f` with each comma-separated element of the fields named `name`, trimmed,
    /// commas inside double quotes kept (`hdr` semantics). Derived by default.
    fn header_values(&self, side: HdrSide, name: &[u8], f: &mut dyn FnMut(&[u8])) {
        self.full_header_values(side, name, &mut |v| split_values(v, &mut *f));
    }

    /// True for the first request of the client connection (`http_first_req`).
    fn first_request(&self) -> bool {
        true
    }

    /// True when the client connection uses TLS; derived from [`TxnView::tls`].
    fn is_tls(&self) -> bool {
        self.tls().is_some()
    }

    /// The client connection's TLS session (`ssl_fc*`, `ssl_c_*`); `None` on a
    /// clear connection.
    fn tls(&self) -> Option<&TlsInfo> {
        None
    }

    /// Usable servers of `backend` (`None`: the current backend), `nbsrv()`.
    fn nbsrv(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }

    /// Names of the frontend, backend and server of the transaction (`fe_name`…).
    fn proxy_name(&self, _kind: NameKind) -> Option<&str> {
        None
    }
}

/// What the rules can see of the client connection's TLS session (filled by the TLS
/// data path once the handshake is done).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The server name the client sent (`ssl_fc_sni`), lower-case as received.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol (`ssl_fc_alpn`).
    pub alpn: Option<Vec<u8>>,
    /// The protocol version as HAProxy prints it: `TLSv1.2` or `TLSv1.3`
    /// (`ssl_fc_protocol`).
    pub protocol: &'static str,
    /// The cipher suite name (`ssl_fc_cipher`).
    pub cipher: &'static str,
    /// The client certificate, when the client sent one (`ssl_c_*`).
    pub client_cert: Option<ClientCert>,
}

/// A client certificate as the rules see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// Subject DN entries in certificate order, e.g. `[("C","FR"),("O","x"),("CN","y")]`
    /// (OpenSSL short names: C, ST, L, O, OU, CN, emailAddress …; unknown ones as
    /// dotted OIDs).
    pub subject: Vec<(String, String)>,
    /// Issuer DN entries, same form.
    pub issuer: Vec<(String, String)>,
    /// Verification result, OpenSSL's `X509_V_*` numbering: 0 = ok (`ssl_c_verify`).
    pub verify: i64,
}

/// The `/path?query` part of a request target (empty for `*` and authority-form).
pub fn path_and_query(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return uri;
    }
    match uri.windows(3).position(|w| w == b"://") {
        Some(p) => {
            let rest = &uri[p + 3..];
            match rest.iter().position(|&c| c == b'/' || c == b'?') {
                Some(s) => &rest[s..],
                None => &[],
            }
        }
        None => &[],
    }
}

/// Splits a field value on commas outside double quotes, trimming blanks around
/// each element; empty elements are skipped.
pub fn split_values(v: &[u8], f: &mut dyn FnMut(&[u8])) {
    let mut start = 0;
    let mut quoted = false;
    let mut i = 0;
    while i <= v.len() {
        let end = i == v.len();
        let c = if end { b',' } else { v[i] };
        if c == b'"' {
            quoted = !quoted;
        } else if c == b'\\' && quoted {
            i += 1;
        } else if c == b',' && (!quoted || end) {
            let e = trim(&v[start..i.min(v.len())]);
            if !e.is_empty() {
                f(e);
            }
            start = i + 1;
        }
        i += 1;
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(s.len());
    let b = s
        .iter()
        .rposition(|c| *c != b' ' && *c != b'\t')
        .map_or(a, |p| p + 1);
    &s[a..b]
}
