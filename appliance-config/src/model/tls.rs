//! TLS settings of binds and servers (`ssl`, `crt`, `alpn`, `verify`, ...).
//!
//! Owns: [`TlsVersion`], [`Verify`], [`BindTls`], [`ServerTls`]. Invariant (kept by the
//! loader): global defaults are already applied, every path exists and is resolved
//! against `crt-base`/`ca-base`, and a `ca_file` is present whenever peers are verified.

use std::path::PathBuf;

use crate::error::Location;

/// A TLS protocol version sluice can speak (rustls supports TLS 1.2 and 1.3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    /// Configuration spelling (`TLSv1.2`, `TLSv1.3`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// Peer certificate verification (`verify none|optional|required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Verify {
    /// No certificate is asked for (bind) or checked (server).
    #[default]
    None,
    /// Bind only: a client certificate is asked for; when one is sent it must verify.
    Optional,
    /// A valid certificate is required.
    Required,
}

impl Verify {
    /// Configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Verify::None => "none",
            Verify::Optional => "optional",
            Verify::Required => "required",
        }
    }
}

/// TLS settings of a `bind … ssl` line, global defaults already applied.
///
/// Paths are resolved (`crt-base`, `ca-base`) and exist at load time; whether the
/// PEM contents are valid, match their key and are not expired is checked by the data
/// plane at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BindTls {
    /// Certificate files in order (`crt <file|dir>`, repeatable; a directory
    /// contributes its files in lexical order, skipping `*.key`, `*.ocsp`,
    /// `*.issuer`, `*.sctl`, `*.dh` and dot-files). The first one is the default
    /// certificate (no SNI or no match). A PEM without a private key has it in
    /// `<file>.key` (HAProxy's `ssl-load-extra-files` default).
    pub certs: Vec<PathBuf>,
    /// ALPN protocols offered, in preference order (`alpn h2,http/1.1`); empty: no
    /// ALPN.
    pub alpn: Vec<String>,
    /// Lowest version (`ssl-min-ver`, `no-tlsv12`, global `ssl-default-bind-options`);
    /// `None`: TLS 1.2.
    pub min_ver: Option<TlsVersion>,
    /// Highest version (`ssl-max-ver`, `no-tlsv13`, …); `None`: TLS 1.3.
    pub max_ver: Option<TlsVersion>,
    /// TLS 1.3 suites (`ciphersuites`, default global `ssl-default-bind-ciphersuites`),
    /// as written (colon-separated IANA names).
    pub ciphersuites: Option<String>,
    /// TLS 1.2 OpenSSL cipher list (`ciphers`, default global
    /// `ssl-default-bind-ciphers`), as written.
    pub ciphers: Option<String>,
    /// Client certificates (`verify`, default `none`).
    pub verify: Verify,
    /// CA bundle for client certificates (`ca-file`, `ca-base` applied); always set
    /// when `verify` is not `None`.
    pub ca_file: Option<PathBuf>,
    /// `prefer-client-ciphers` (bind or `ssl-default-bind-options`): follow the
    /// client's cipher order; HAProxy's default (false) is the server's order.
    pub prefer_client_ciphers: bool,
    /// `no-tls-tickets` (bind or `ssl-default-bind-options`): no session tickets
    /// (HAProxy's default is to issue them).
    pub no_tls_tickets: bool,
    /// `strict-sni`: refuse the handshake when no certificate matches the SNI
    /// (instead of answering with the default certificate).
    pub strict_sni: bool,
    /// Where the bind line is.
    pub location: Location,
}

/// TLS settings of a `server … ssl`, defaults (`default-server`, global
/// `ssl-default-server-*`, `ssl-server-verify`) already applied.
#[derive(Clone, Debug, Default)]
pub struct ServerTls {
    /// `verify none|required`; default from global `ssl-server-verify` (HAProxy's
    /// default: required).
    pub verify: Verify,
    /// CA bundle to verify the server (`ca-file`, `ca-base` applied); always set when
    /// `verify` is `Required`.
    pub ca_file: Option<PathBuf>,
    /// `sni <expr>`; `None`: the request's Host (the data plane does that).
    pub sni: Option<crate::model::sample::SampleExpr>,
    /// ALPN protocols offered (`alpn h2,http/1.1`); empty: no ALPN.
    pub alpn: Vec<String>,
    /// Client certificate and key PEM (`crt`, `crt-base` applied).
    pub crt: Option<PathBuf>,
    /// Lowest version (`ssl-min-ver`, `no-tlsv12`, `ssl-default-server-options`).
    pub min_ver: Option<TlsVersion>,
    /// Highest version.
    pub max_ver: Option<TlsVersion>,
    /// TLS 1.3 suites (`ciphersuites`, default global
    /// `ssl-default-server-ciphersuites`), as written.
    pub ciphersuites: Option<String>,
    /// TLS 1.2 OpenSSL cipher list (`ciphers`, default global
    /// `ssl-default-server-ciphers`), as written.
    pub ciphers: Option<String>,
    /// `no-tls-tickets` (server or `ssl-default-server-options`): do not resume
    /// with session tickets.
    pub no_tls_tickets: bool,
    /// Where the server line is.
    pub location: Location,
}

impl PartialEq for ServerTls {
    fn eq(&self, o: &Self) -> bool {
        self.verify == o.verify
            && self.ca_file == o.ca_file
            && self.sni.as_ref().map(|e| &e.text) == o.sni.as_ref().map(|e| &e.text)
            && self.alpn == o.alpn
            && self.crt == o.crt
            && self.min_ver == o.min_ver
            && self.max_ver == o.max_ver
            && self.ciphersuites == o.ciphersuites
            && self.ciphers == o.ciphers
            && self.no_tls_tickets == o.no_tls_tickets
            && self.location == o.location
    }
}

impl Eq for ServerTls {}
