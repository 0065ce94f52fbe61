//! Cipher suite names: OpenSSL's (what HAProxy configurations and `ssl_fc_cipher`
//! use) to and from rustls' suites.
//!
//! Owns: the name table and [`select_suites`], which turns `ciphersuites` (TLS 1.3)
//! and `ciphers` (TLS 1.2) strings into the provider's suite list. Invariant: names
//! rustls cannot do are reported (for a warning), never silently dropped; an empty
//! result is an error for the caller.

use rustls::{CipherSuite, SupportedCipherSuite};

/// (rustls suite, OpenSSL name, IANA name).
const TABLE: &[(CipherSuite, &str, &str)] = &[
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The OpenSSL name of a suite (`ssl_fc_cipher`), `"UNKNOWN"` if not in the table.
pub fn openssl_name(suite: CipherSuite) -> &'static str {
    TABLE
        .iter()
        .find(|(s, _, _)| *s == suite)
        .map_or("UNKNOWN", |(_, o, _)| o)
}

fn lookup(name: &str) -> Option<CipherSuite> {
    TABLE
        .iter()
        .find(|(_, o, i)| name.eq_ignore_ascii_case(o) || name.eq_ignore_ascii_case(i))
        .map(|(s, _, _)| *s)
}

/// The suites of `available` chosen by `ciphersuites` (TLS 1.3, `:`-separated
/// names) and `ciphers` (TLS 1.2, `:`-separated OpenSSL names; `!x`/`-x` entries
/// and OpenSSL keywords such as `HIGH` are not supported and reported).
///
/// Returns the selection in configuration order (TLS 1.3 first) and the names that
/// were ignored. A string left unset keeps every available suite of its version.
pub fn select_suites(
    available: &[SupportedCipherSuite],
    ciphersuites: Option<&str>,
    ciphers: Option<&str>,
) -> (Vec<SupportedCipherSuite>, Vec<String>) {
    let mut ignored = Vec::new();
    let mut out = Vec::new();
    let mut pick = |spec: Option<&str>, tls13: bool, out: &mut Vec<SupportedCipherSuite>| {
        let of_version =
            |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_)) == tls13;
        match spec {
            None => out.extend(available.iter().filter(|s| of_version(s)).copied()),
            Some(spec) => {
                for name in spec.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
                    let found = lookup(name).and_then(|cs| {
                        available
                            .iter()
                            .find(|s| s.suite() == cs && of_version(s))
                            .copied()
                    });
                    match found {
                        Some(s) if !out.iter().any(|o| o.suite() == s.suite()) => out.push(s),
                        Some(_) => {}
                        None => ignored.push(name.to_string()),
                    }
                }
            }
        }
    };
    pick(ciphersuites, true, &mut out);
    pick(ciphers, false, &mut out);
    (out, ignored)
}
