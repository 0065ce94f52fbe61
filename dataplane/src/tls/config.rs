//! Building rustls configurations from the configuration model, once at start-up
//! (and for `sluice -c`): a `ServerConfig` per TLS `bind`, a `ClientConfig` per TLS
//! `server`.
//!
//! Owns: [`BindTlsCtx`], [`ServerTlsCtx`] and their builders. Invariants:
//! - everything that can be wrong with a certificate, a key, a CA file, a version
//!   range, a cipher list or an ALPN list is found here, before any worker starts,
//!   and reported as `parsing [file:line] : 'bind'|'server' : <what, which file>`;
//! - contexts are immutable and shared by every worker (`Arc`); the only mutable
//!   part, the bind's certificate set, lives behind [`CertStore`] (see `resolver`).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, Tls12Resumption};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::contract::{BindTls, Location, ServerTls, TlsVersion, Verify};
use super::pem::{expand_crt_path, load_cert, load_client_cert, load_roots};
use super::resolver::{CertStore, SniResolver};
use super::{ciphers, TlsError};
use appliance_config::model::sample::SampleExpr;

/// A TLS bind's context, shared by every worker.
pub struct BindTlsCtx {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The certificates, replaceable at run time.
    pub store: Arc<CertStore>,
    pub verify: Verify,
}

impl fmt::Debug for BindTlsCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindTlsCtx")
            .field("verify", &self.verify)
            .finish()
    }
}

/// A TLS server's context, shared by every worker.
pub struct ServerTlsCtx {
    pub connector: tokio_rustls::TlsConnector,
    /// `sni <expr>`; `None`: the request's Host without its port.
    pub sni: Option<SampleExpr>,
    pub verify: Verify,
}

impl fmt::Debug for ServerTlsCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTlsCtx")
            .field("verify", &self.verify)
            .finish()
    }
}

fn err(loc: &Location, kw: &str, msg: impl fmt::Display) -> TlsError {
    TlsError(format!("parsing [{loc}] : '{kw}' : {msg}"))
}

/// The protocol versions between `min` and `max` (defaults TLS 1.2 and 1.3).
fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let lo = min.unwrap_or(TlsVersion::Tls12);
    let hi = max.unwrap_or(TlsVersion::Tls13);
    if lo > hi {
        return Err(format!(
            "ssl-min-ver {} is above ssl-max-ver {}.",
            lo.name(),
            hi.name()
        ));
    }
    let mut v = Vec::new();
    if hi >= TlsVersion::Tls13 {
        v.push(&rustls::version::TLS13);
    }
    if lo <= TlsVersion::Tls12 {
        v.push(&rustls::version::TLS12);
    }
    Ok(v)
}

/// The default provider narrowed to the configured suites; warnings for the names
/// that were ignored.
fn provider_with(
    ciphersuites: Option<&str>,
    ciphers_list: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(Arc<CryptoProvider>, Vec<String>), String> {
    let mut p = aws_lc_rs::default_provider();
    let (suites, ignored) =
        ciphers::select_suites(aws_lc_rs::ALL_CIPHER_SUITES, ciphersuites, ciphers_list);
    let mut warnings = Vec::new();
    if !ignored.is_empty() {
        warnings.push(format!(
            "cipher names not supported by this build (rustls), ignored: {}.",
            ignored.join(", ")
        ));
    }
    let usable: Vec<_> = suites
        .into_iter()
        .filter(|s| versions.iter().any(|v| s.version() == *v))
        .collect();
    if usable.is_empty() {
        return Err(
            "no usable cipher left for the enabled TLS versions (check `ciphers`, `ciphersuites`, `ssl-min-ver`, `ssl-max-ver`)."
                .into(),
        );
    }
    p.cipher_suites = usable;
    Ok((Arc::new(p), warnings))
}

/// The ALPN protocols a bind or server offers (`h2` and `http/1.1` are spoken;
/// other names are offered as configured, like HAProxy does).
fn check_alpn(alpn: &[String]) -> Result<Vec<Vec<u8>>, String> {
    Ok(alpn.iter().map(|a| a.as_bytes().to_vec()).collect())
}

/// Build a bind's context: load and check every certificate, the CA file, the
/// versions, suites and ALPN. Returns the warnings to print.
pub fn build_bind(t: &BindTls, now: UnixTime) -> Result<(BindTlsCtx, Vec<String>), TlsError> {
    let loc = &t.location;
    let e = |m: String| err(loc, "bind", m);
    let alpn = check_alpn(&t.alpn).map_err(e)?;
    let vers = versions(t.min_ver, t.max_ver).map_err(e)?;
    let (provider, warnings) =
        provider_with(t.ciphersuites.as_deref(), t.ciphers.as_deref(), &vers).map_err(e)?;
    if t.certs.is_empty() {
        return Err(e(
            "'ssl' needs at least one certificate ('crt <file>').".into()
        ));
    }
    let mut certs = Vec::new();
    for path in &t.certs {
        for file in expand_crt_path(path).map_err(e)? {
            certs.push(load_cert(&file, &provider, now).map_err(e)?);
        }
    }
    let store = Arc::new(CertStore::new(certs));
    let resolver = Arc::new(SniResolver {
        store: store.clone(),
        strict: t.strict_sni,
    });
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&vers)
        .map_err(|x| e(format!("{x}.")))?;
    let builder = match t.verify {
        Verify::None => builder.with_no_client_auth(),
        Verify::Optional | Verify::Required => {
            let Some(ca) = &t.ca_file else {
                return Err(e(
                    "verify is enabled but no CA file specified ('ca-file <file>').".into(),
                ));
            };
            let roots = Arc::new(load_roots(ca).map_err(e)?);
            let mut vb = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            if t.verify == Verify::Optional {
                vb = vb.allow_unauthenticated();
            }
            let v = vb.build().map_err(|x| e(format!("'ca-file': {x}.")))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut sc = builder.with_cert_resolver(resolver);
    sc.alpn_protocols = alpn;
    sc.ignore_client_order = !t.prefer_client_ciphers;
    if !t.no_tls_tickets {
        sc.ticketer = aws_lc_rs::Ticketer::new().map_err(|x| e(format!("{x}.")))?;
    }
    Ok((
        BindTlsCtx {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(sc)),
            store,
            verify: t.verify,
        },
        warnings,
    ))
}

/// Build a server's context: CA roots (`verify required`) or the accept-anything
/// verifier (`verify none`), client certificate, versions, suites, ALPN.
pub fn build_server(t: &ServerTls, now: UnixTime) -> Result<(ServerTlsCtx, Vec<String>), TlsError> {
    let loc = &t.location;
    let e = |m: String| err(loc, "server", m);
    let alpn = check_alpn(&t.alpn).map_err(e)?;
    let vers = versions(t.min_ver, t.max_ver).map_err(e)?;
    let (provider, warnings) =
        provider_with(t.ciphersuites.as_deref(), t.ciphers.as_deref(), &vers).map_err(e)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&vers)
        .map_err(|x| e(format!("{x}.")))?;
    let builder = match t.verify {
        Verify::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                provider: provider.clone(),
            })),
        Verify::Optional | Verify::Required => {
            let Some(ca) = &t.ca_file else {
                return Err(e(
                    "verify is enabled but no CA file specified ('ca-file <file>', or 'verify none')."
                        .into(),
                ));
            };
            builder.with_root_certificates(load_roots(ca).map_err(e)?)
        }
    };
    let mut cc = match &t.crt {
        Some(path) => {
            let key = load_client_cert(path, &provider, now).map_err(e)?;
            builder.with_client_cert_resolver(Arc::new(FixedClientCert(key)))
        }
        None => builder.with_no_client_auth(),
    };
    cc.alpn_protocols = alpn;
    if t.no_tls_tickets {
        cc.resumption =
            Resumption::in_memory_sessions(256).tls12_resumption(Tls12Resumption::SessionIdOnly);
    }
    Ok((
        ServerTlsCtx {
            connector: tokio_rustls::TlsConnector::from(Arc::new(cc)),
            sni: t.sni.clone(),
            verify: t.verify,
        },
        warnings,
    ))
}

/// `server ... crt`: always present the same client certificate.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `server ... ssl verify none`: accepts any server certificate.
///
/// DANGER: with this verifier the connection is encrypted but the server is not
/// authenticated — anyone on the path can impersonate it. It exists because HAProxy
/// users rely on `verify none` for servers on a trusted network (self-signed
/// certificates); use `verify required` with a `ca-file` everywhere else. The
/// handshake signatures are still checked (the peer must hold the key of the
/// certificate it shows), which keeps the protocol sound but proves nothing about who
/// the peer is.
#[derive(Debug)]
pub struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
