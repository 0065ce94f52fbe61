//! TLS with rustls (default `aws-lc-rs` provider) through tokio-rustls, over any
//! stream of the I/O seam: termination on `bind ... ssl`, TLS to `server ... ssl`.
//!
//! Owns:
//! - [`TlsContexts`]: every TLS context of a configuration, built once before the
//!   workers start (and by `sluice -c`), shared read-only by all workers;
//! - `config`: rustls `ServerConfig`/`ClientConfig` builders with HAProxy's
//!   start-up checks; `pem`: certificate, key and CA loading; `resolver`: SNI
//!   certificate selection, swappable at run time; `ciphers`: OpenSSL cipher names;
//!   `names`: X.509 names and DNs; `info`: [`TlsInfo`] for the rules and logs;
//!   `stream`: [`MaybeTls`], the clear-or-TLS stream;
//! - the handshakes: [`accept`] (client side of a session) and [`connect`] (to a
//!   server), each bounded by a timeout.
//!
//! Invariants: no handshake without a timeout; a failed handshake closes that one
//! connection and nothing else; certificates are read from disk only at start-up
//! (and by a future `commit ssl cert`), never during a handshake.

mod ciphers;
mod config;
mod contract;
mod info;
mod names;
mod pem;
mod resolver;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{ServerName, UnixTime};

pub use ciphers::openssl_name;
pub use config::{build_bind, build_server, AcceptAnyServerCert, BindTlsCtx, ServerTlsCtx};
pub use info::{protocol_name, ClientCert, TlsInfo};
pub use names::{name_matches, subject_issuer};
pub use pem::{load_cert, LoadedCert};
pub use resolver::{CertIndex, CertStore, SniResolver};
pub use stream::MaybeTls;

use crate::io::Stream;

/// A start-up TLS problem, already worded for the operator
/// (`parsing [file:line] : 'bind' : ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Every TLS context of a configuration.
#[derive(Debug, Default)]
pub struct TlsContexts {
    /// Per frontend, per bind (same order as the configuration): the bind's context.
    pub binds: Vec<Vec<Option<Arc<BindTlsCtx>>>>,
    /// Per backend, per server.
    pub servers: Vec<Vec<Option<Arc<ServerTlsCtx>>>>,
    /// Warnings to print at start-up (ignored cipher names...).
    pub warnings: Vec<String>,
}

impl TlsContexts {
    /// Build every context of `cfg`, loading and checking certificates. Binds that
    /// come from one configuration line (port ranges, address lists) share one
    /// context. All errors are returned, not just the first.
    pub fn build(cfg: &appliance_config::Config) -> Result<TlsContexts, Vec<TlsError>> {
        let now = UnixTime::now();
        let mut out = TlsContexts::default();
        let mut errors = Vec::new();
        let mut by_line: HashMap<String, Arc<BindTlsCtx>> = HashMap::new();
        for fe in &cfg.frontends {
            let mut v = Vec::with_capacity(fe.binds.len());
            for b in &fe.binds {
                let Some(t) = &b.tls else {
                    v.push(None);
                    continue;
                };
                let key = t.location.to_string();
                if let Some(ctx) = by_line.get(&key) {
                    v.push(Some(ctx.clone()));
                    continue;
                }
                match build_bind(t, now) {
                    Ok((ctx, w)) => {
                        let ctx = Arc::new(ctx);
                        by_line.insert(key, ctx.clone());
                        out.warnings.extend(
                            w.into_iter()
                                .map(|w| format!("parsing [{}] : 'bind' : {w}", t.location)),
                        );
                        v.push(Some(ctx));
                    }
                    Err(e) => {
                        errors.push(e);
                        v.push(None);
                    }
                }
            }
            out.binds.push(v);
        }
        for be in &cfg.backends {
            let mut v = Vec::with_capacity(be.servers.len());
            for s in &be.servers {
                let Some(t) = &s.tls else {
                    v.push(None);
                    continue;
                };
                match build_server(t, now) {
                    Ok((ctx, w)) => {
                        out.warnings.extend(
                            w.into_iter()
                                .map(|w| format!("parsing [{}] : 'server' : {w}", t.location)),
                        );
                        v.push(Some(Arc::new(ctx)));
                    }
                    Err(e) => {
                        errors.push(e);
                        v.push(None);
                    }
                }
            }
            out.servers.push(v);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The context of bind `bind` of frontend `fe`.
    pub fn bind(&self, fe: usize, bind: usize) -> Option<&Arc<BindTlsCtx>> {
        self.binds.get(fe)?.get(bind)?.as_ref()
    }

    /// The context of server `srv` of backend `be`.
    pub fn server(&self, be: usize, srv: usize) -> Option<&Arc<ServerTlsCtx>> {
        self.servers.get(be)?.get(srv)?.as_ref()
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    Timeout,
    Io(std::io::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Timeout => f.write_str("SSL handshake timeout"),
            HandshakeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Accept a TLS connection on `stream` within `limit`; on success, the stream and
/// what the rules may know about it.
pub async fn accept<S: Stream>(
    ctx: &BindTlsCtx,
    stream: S,
    limit: Option<Duration>,
) -> Result<(MaybeTls<S>, TlsInfo), HandshakeError> {
    match crate::runtime::timeout(limit, ctx.acceptor.accept(stream)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Err(e)) => Err(HandshakeError::Io(e)),
        Ok(Ok(tls)) => {
            let info = info::server_side(tls.get_ref().1);
            Ok((MaybeTls::Server(Box::new(tls)), info))
        }
    }
}

/// The name to present and verify for a server: the SNI when it is a valid DNS
/// name or an IP address, else the server's IP address (no SNI is sent for an
/// address), else `localhost` (UNIX sockets).
pub fn server_name(sni: Option<&str>, peer: Option<SocketAddr>) -> ServerName<'static> {
    if let Some(s) = sni.filter(|s| !s.is_empty()) {
        if let Ok(n) = ServerName::try_from(s.to_string()) {
            return n;
        }
    }
    match peer {
        Some(a) => ServerName::IpAddress(a.ip().into()),
        None => ServerName::try_from("localhost").expect("static name"),
    }
}

/// Open TLS to a server over the connected `stream`, within `limit`.
pub async fn connect<S: Stream>(
    ctx: &ServerTlsCtx,
    stream: S,
    name: ServerName<'static>,
    limit: Option<Duration>,
) -> Result<MaybeTls<S>, HandshakeError> {
    match crate::runtime::timeout(limit, ctx.connector.connect(name, stream)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Err(e)) => Err(HandshakeError::Io(e)),
        Ok(Ok(tls)) => Ok(MaybeTls::Client(Box::new(tls))),
    }
}

/// The host part of a `Host` header value (`example.com:8443` → `example.com`,
/// `[::1]:80` → `::1`).
pub fn host_without_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&c| c == b']') {
            Some(e) => &host[1..e],
            None => host,
        };
    }
    match host.iter().rposition(|&c| c == b':') {
        Some(p) if host[p + 1..].iter().all(u8::is_ascii_digit) => &host[..p],
        _ => host,
    }
}
