//! What the rules and logs may know about a TLS connection once its handshake is
//! done ([`TlsInfo`]): SNI, ALPN, protocol and cipher names, the client certificate's
//! subject and issuer.
//!
//! Owns: the extraction from a rustls connection, done once per connection right
//! after the handshake (the result is boxed in the session; clear-text sessions
//! carry nothing). Names are HAProxy's: protocol `TLSv1.3`/`TLSv1.2`, cipher in
//! OpenSSL's spelling, DN entries by OpenSSL short names.

use rustls::CommonState;

pub use crate::rules::{ClientCert, TlsInfo};

/// Protocol name as OpenSSL prints it.
pub fn protocol_name(v: Option<rustls::ProtocolVersion>) -> &'static str {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    }
}

fn common(c: &CommonState, sni: Option<&str>) -> TlsInfo {
    TlsInfo {
        sni: sni.map(str::to_string),
        alpn: c.alpn_protocol().map(<[u8]>::to_vec),
        protocol: protocol_name(c.protocol_version()),
        cipher: c
            .negotiated_cipher_suite()
            .map_or("", |s| super::ciphers::openssl_name(s.suite())),
        client_cert: None,
    }
}

/// The facts of an accepted (server-side) connection. A client certificate, when
/// present, was verified by the handshake (rustls refuses invalid ones), so its
/// verify result is 0 (`X509_V_OK`).
pub fn server_side(conn: &rustls::ServerConnection) -> TlsInfo {
    let mut info = common(conn, conn.server_name());
    if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
        if let Some((subject, issuer)) = super::names::subject_issuer(leaf.as_ref()) {
            info.client_cert = Some(ClientCert {
                subject,
                issuer,
                verify: 0,
            });
        }
    }
    info
}
