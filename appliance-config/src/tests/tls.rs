//! TLS configuration on the bind side: bind options and version flags, global
//! defaults and their inheritance, certificate paths (files, directories,
//! crt-base/ca-base), global TLS keywords, and every refusal; with the helpers the
//! server-side tests (`tls_server.rs`) share.

use std::path::{Path, PathBuf};

use super::{expect_err, load, tmpdir, DEFAULTS};
use crate::error::Severity;
use crate::{Loaded, TlsVersion, Verify};

/// A directory with `site.pem`, `other.pem`, `ca.pem` and `client.pem`.
pub(super) fn pki() -> PathBuf {
    let d = tmpdir("tls");
    for f in ["site.pem", "other.pem", "ca.pem", "client.pem"] {
        std::fs::write(d.join(f), "-----BEGIN CERTIFICATE-----\n").unwrap();
    }
    d
}

pub(super) fn p(d: &Path, f: &str) -> String {
    d.join(f).display().to_string()
}

pub(super) fn warnings(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| {
            format!(
                "{}: {}",
                d.location.as_ref().map_or(0, |l| l.line),
                d.message
            )
        })
        .collect()
}

/// The 1-based number of the first line of `text` that starts with `  {kw} `.
fn line_of(text: &str, kw: &str) -> u32 {
    let pre = format!("  {kw} ");
    text.lines()
        .position(|l| l.starts_with(&pre))
        .map(|i| i as u32 + 1)
        .expect("line")
}

/// Expects an error on the first `kw` line of `text`.
pub(super) fn err_on(text: &str, kw: &str, needle: &str) -> String {
    expect_err(text, line_of(text, kw), kw, needle)
}

fn fe(global: &str, bind: &str) -> String {
    format!("global\n{global}{DEFAULTS}frontend f\n  bind {bind}\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n")
}

pub(super) fn be(global: &str, lines: &str) -> String {
    format!("global\n{global}{DEFAULTS}backend b\n{lines}")
}

#[test]
fn bind_tls_every_option() {
    let d = pki();
    let l = load(&fe(
        "",
        &format!(
            ":443 ssl crt {} crt {} alpn h2,http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384 ciphersuites TLS_AES_128_GCM_SHA256 verify optional ca-file {} prefer-client-ciphers no-tls-tickets strict-sni no-sslv3 no-tlsv10 no-tlsv11 proto h2 name https",
            p(&d, "site.pem"),
            p(&d, "other.pem"),
            p(&d, "ca.pem")
        ),
    ));
    let b = &l.config.frontends[0].binds[0];
    assert_eq!(b.name.as_deref(), Some("https"));
    assert_eq!(b.proto.as_deref(), Some("h2"));
    let t = b.tls.as_ref().expect("tls");
    assert_eq!(t.certs, [d.join("site.pem"), d.join("other.pem")]);
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    assert_eq!(t.min_ver, Some(TlsVersion::Tls12));
    assert_eq!(t.max_ver, Some(TlsVersion::Tls13));
    assert_eq!(
        t.ciphers.as_deref(),
        Some("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
    );
    assert_eq!(t.ciphersuites.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(t.verify, Verify::Optional);
    assert_eq!(t.ca_file.as_deref(), Some(d.join("ca.pem").as_path()));
    assert!(t.prefer_client_ciphers && t.no_tls_tickets && t.strict_sni);
    assert_eq!(t.location.line, b.location.line);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));

    // The minimal form: defaults everywhere.
    let l = load(&fe("", &format!(":443 ssl crt {}", p(&d, "site.pem"))));
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert!(t.alpn.is_empty());
    assert_eq!((t.min_ver, t.max_ver), (None, None));
    assert_eq!((t.ciphers, t.ciphersuites), (None, None));
    assert_eq!(t.verify, Verify::None);
    assert!(!t.prefer_client_ciphers && !t.no_tls_tickets && !t.strict_sni);
    // A clear bind has no TLS; `proto h2` works without TLS; `ssl` is per line and
    // every listener of a multi-address line gets it.
    let l = load(&fe("", ":80 proto h2"));
    let b = &l.config.frontends[0].binds[0];
    assert!(b.tls.is_none());
    assert_eq!(b.proto.as_deref(), Some("h2"));
    let l = load(&fe(
        "",
        &format!(":443,:8443 ssl crt {} no-alpn", p(&d, "site.pem")),
    ));
    let bs = &l.config.frontends[0].binds;
    assert_eq!(bs.len(), 2);
    assert!(bs.iter().all(|b| b.tls.as_ref().unwrap().alpn.is_empty()));
}

#[test]
fn bind_version_flags() {
    let d = pki();
    let crt = p(&d, "site.pem");
    let cases: &[(&str, Option<TlsVersion>, Option<TlsVersion>)] = &[
        ("no-tlsv12", Some(TlsVersion::Tls13), None),
        ("no-tlsv13", None, Some(TlsVersion::Tls12)),
        (
            "force-tlsv12",
            Some(TlsVersion::Tls12),
            Some(TlsVersion::Tls12),
        ),
        (
            "force-tlsv13",
            Some(TlsVersion::Tls13),
            Some(TlsVersion::Tls13),
        ),
        ("ssl-min-ver TLSv1.3", Some(TlsVersion::Tls13), None),
        ("no-sslv3 no-tlsv10 no-tlsv11", None, None),
    ];
    for (opts, min, max) in cases {
        let l = load(&fe("", &format!(":443 ssl crt {crt} {opts}")));
        let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
        assert_eq!((t.min_ver, t.max_ver), (*min, *max), "{opts}");
    }
}

#[test]
fn global_defaults_inherited_by_binds() {
    let d = pki();
    let crt = p(&d, "site.pem");
    let g = "  ssl-default-bind-ciphers ECDHE-RSA-AES256-GCM-SHA384\n  ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n  ssl-default-bind-options ssl-min-ver TLSv1.2 no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets\n  ssl-default-bind-options prefer-client-ciphers no-tlsv13\n";
    let l = load(&fe(g, &format!(":443 ssl crt {crt}")));
    let gl = &l.config.global;
    assert_eq!(gl.ssl_default_bind_min_ver, Some(TlsVersion::Tls12));
    assert_eq!(gl.ssl_default_bind_max_ver, Some(TlsVersion::Tls12));
    assert!(gl.ssl_default_bind_no_tls_tickets && gl.ssl_default_bind_prefer_client_ciphers);
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert_eq!(t.ciphers.as_deref(), Some("ECDHE-RSA-AES256-GCM-SHA384"));
    assert_eq!(
        t.ciphersuites.as_deref(),
        Some("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
    );
    assert_eq!(t.min_ver, Some(TlsVersion::Tls12));
    assert_eq!(t.max_ver, Some(TlsVersion::Tls12));
    assert!(t.no_tls_tickets && t.prefer_client_ciphers);
    // The bind line overrides the global defaults.
    let l = load(&fe(
        g,
        &format!(":443 ssl crt {crt} ciphers AES128-SHA ciphersuites TLS_AES_128_GCM_SHA256 ssl-max-ver TLSv1.3"),
    ));
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert_eq!(t.ciphers.as_deref(), Some("AES128-SHA"));
    assert_eq!(t.ciphersuites.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(t.max_ver, Some(TlsVersion::Tls13));
    // A bind that raises the minimum above the inherited maximum is refused.
    err_on(
        &fe(g, &format!(":443 ssl crt {crt} ssl-min-ver TLSv1.3")),
        "bind",
        "above the maximum",
    );
}

#[test]
fn crt_directories_and_bases() {
    let d = pki();
    let dir = d.join("certs");
    std::fs::create_dir(&dir).unwrap();
    for f in [
        "b.example.pem",
        "a.example.pem",
        "a.example.pem.key",
        "a.example.pem.ocsp",
        "a.example.pem.issuer",
        "a.example.pem.sctl",
        "dh.dh",
        ".hidden.pem",
        "c.crt",
    ] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
    let l = load(&fe(
        "",
        &format!(":443 ssl crt {} crt {}", dir.display(), p(&d, "site.pem")),
    ));
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert_eq!(
        t.certs,
        [
            dir.join("a.example.pem"),
            dir.join("b.example.pem"),
            dir.join("c.crt"),
            d.join("site.pem")
        ]
    );
    // crt-base and ca-base resolve relative paths; absolute ones are kept.
    let g = format!("  crt-base {}\n  ca-base {}\n", d.display(), d.display());
    let l = load(&fe(
        &g,
        &format!(
            ":443 ssl crt site.pem crt certs crt {} verify required ca-file ca.pem",
            p(&d, "other.pem")
        ),
    ));
    assert_eq!(l.config.global.crt_base.as_deref(), Some(d.as_path()));
    assert_eq!(l.config.global.ca_base.as_deref(), Some(d.as_path()));
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert_eq!(t.certs.len(), 5);
    assert_eq!(t.certs[0], d.join("site.pem"));
    assert_eq!(t.certs[4], d.join("other.pem"));
    assert_eq!(t.ca_file, Some(d.join("ca.pem")));
    assert_eq!(t.verify, Verify::Required);
    let l = load(&be(
        &g,
        "  server s 10.0.0.1:443 ssl ca-file ca.pem crt client.pem\n",
    ));
    let st = l.config.backends[0].servers[0].tls.clone().unwrap();
    assert_eq!(st.ca_file, Some(d.join("ca.pem")));
    assert_eq!(st.crt, Some(d.join("client.pem")));
    // A relative path under crt-base that does not exist: the hint names the base.
    let s = err_on(&fe(&g, ":443 ssl crt zzzz.pem"), "bind", "crt-base");
    assert!(s.contains("cannot access certificate"), "{s}");
    // An empty certificate directory.
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("x.key"), "k").unwrap();
    err_on(
        &fe("", &format!(":443 ssl crt {}", empty.display())),
        "bind",
        "holds no certificate",
    );
}

#[test]
fn bind_tls_errors() {
    let d = pki();
    let crt = p(&d, "site.pem");
    let ca = p(&d, "ca.pem");
    let cases: Vec<(String, &str)> = vec![
        (
            ":443 ssl".into(),
            "no TLS certificate specified for bind ':443'",
        ),
        (":443 ssl".into(), "add 'crt <pem file or directory>'"),
        (
            format!(":443 ssl crt {}", p(&d, "site.pme")),
            "did you mean",
        ),
        (format!(":443 ssl crt {}", p(&d, "site.crt")), "site.pem'?"),
        (
            ":443 ssl crt /nonexistent-sluice-dir/x.pem".into(),
            "'/nonexistent-sluice-dir' does not exist",
        ),
        (
            format!(":443 ssl crt {crt} verify required"),
            "needs a CA file",
        ),
        (format!(":443 ssl crt {crt} verify optional"), "ca-file"),
        (
            format!(":443 ssl crt {crt} verify maybe"),
            "unknown verify mode",
        ),
        (
            format!(":443 ssl crt {crt} verify requierd"),
            "did you mean 'required'?",
        ),
        (
            format!(":443 crt {crt}"),
            "'crt' is a TLS option but bind ':443' has no 'ssl'",
        ),
        (format!(":443 ca-file {ca}"), "has no 'ssl'"),
        (
            format!(":443 ssl crt {crt} ssl-min-ver TLSv1.1"),
            "not supported by sluice's TLS library (rustls)",
        ),
        (format!(":443 ssl crt {crt} ssl-max-ver SSLv3"), "rustls"),
        (
            format!(":443 ssl crt {crt} ssl-min-ver TLSv12"),
            "did you mean 'TLSv1.2'?",
        ),
        (format!(":443 ssl crt {crt} force-tlsv11"), "rustls"),
        (
            format!(":443 ssl crt {crt} ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2"),
            "above the maximum",
        ),
        (
            format!(":443 ssl crt {crt} alpn h2,,http/1.1"),
            "empty protocol name",
        ),
        (format!(":443 ssl crt {crt} alpn h3"), "QUIC"),
        (format!(":443 ssl crt {crt} alpn"), "'alpn' expects a value"),
        (":80 proto h3".into(), "QUIC"),
        (":80 proto fcgi".into(), "FastCGI"),
        (":80 proto h22".into(), "did you mean 'h2'?"),
        (format!(":443 ssl crt-list {crt}"), "not supported yet"),
        (
            format!(":443 ssl crt {crt} ocsp-update on"),
            "not supported yet",
        ),
        (
            format!(":443 ssl crt {crt} ca-verify-file {ca}"),
            "not supported yet",
        ),
        (
            format!(":443 ssl crt {crt} crl-file {ca}"),
            "not supported yet",
        ),
        (format!(":443 ssl crt {crt} npn h2"), "use 'alpn'"),
        (
            format!(":443 ssl crt {crt} curves X25519"),
            "not supported yet",
        ),
        (format!(":443 ssl crt {crt} allow-0rtt"), "0-RTT"),
        (
            format!(":443 ssl crt {crt} ca-file @system-ca verify required"),
            "not supported yet",
        ),
        (format!("quic4@:443 ssl crt {crt}"), "QUIC"),
        (
            format!(":443 ssl crt {crt} strict-snii"),
            "did you mean 'strict-sni'?",
        ),
    ];
    for (bind, needle) in cases {
        let text = fe("", &bind);
        let s = err_on(&text, "bind", needle);
        assert!(s.contains("[t.cfg:8] : 'bind' : "), "{s}");
    }
    // ca-file with verify none: accepted, with a warning.
    let l = load(&fe("", &format!(":443 ssl crt {crt} ca-file {ca}")));
    let w = warnings(&l);
    assert!(
        w.iter()
            .any(|w| w.starts_with("8: ")
                && w.contains("'ca-file' has no effect with 'verify none'")),
        "{w:?}"
    );
}

#[test]
fn global_tls_keywords() {
    let d = pki();
    let l = load(&be(
        "  tune.ssl.default-dh-param 2048\n  ssl-dh-param-file /etc/dh.pem\n  ssl-server-verify none\n  ssl-default-server-ciphers AES256-SHA\n  ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384\n  ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n",
        "  server s 10.0.0.1:443 ssl\n",
    ));
    let w = warnings(&l);
    assert!(
        w.iter().any(|w| w.starts_with("2: ")
            && w.contains(
                "'tune.ssl.default-dh-param' has no effect: rustls does not use DH parameters"
            )),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("3: ") && w.contains("ssl-dh-param-file")),
        "{w:?}"
    );
    let g = &l.config.global;
    assert_eq!(g.ssl_server_verify, Verify::None);
    let t = l.config.backends[0].servers[0].tls.clone().unwrap();
    assert_eq!(t.verify, Verify::None);
    assert_eq!(t.ca_file, None);
    assert_eq!(t.ciphers.as_deref(), Some("AES256-SHA"));
    assert_eq!(t.ciphersuites.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(t.min_ver, Some(TlsVersion::Tls13));
    assert!(t.no_tls_tickets);
    // HAProxy's default for servers: verify required.
    assert_eq!(
        crate::model::Global::default().ssl_server_verify,
        Verify::Required
    );

    let errs = [
        (
            "ssl-default-bind-options no-tlsv11 strict-sni",
            "ssl-default-bind-options",
            "not supported in",
        ),
        (
            "ssl-default-bind-options ssl-min-vr TLSv1.2",
            "ssl-default-bind-options",
            "did you mean 'ssl-min-ver'?",
        ),
        (
            "ssl-default-bind-options ssl-min-ver TLSv1.0",
            "ssl-default-bind-options",
            "rustls",
        ),
        (
            "ssl-default-bind-options",
            "ssl-default-bind-options",
            "at least one option",
        ),
        (
            "ssl-default-server-options prefer-client-ciphers",
            "ssl-default-server-options",
            "bind lines only",
        ),
        (
            "ssl-default-bind-options ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2",
            "ssl-default-bind-options",
            "above the maximum",
        ),
        (
            "ssl-server-verify optional",
            "ssl-server-verify",
            "unknown value",
        ),
        (
            "ssl-default-bind-ciphers",
            "ssl-default-bind-ciphers",
            "expects",
        ),
        (
            "crt-base /nonexistent-sluice-dir",
            "crt-base",
            "cannot access directory",
        ),
        (
            "tune.ssl.default-dh-param lots",
            "tune.ssl.default-dh-param",
            "invalid DH parameter size",
        ),
        ("ssl-engine rdrand", "ssl-engine", "OpenSSL engines"),
        ("ssl-mode-async", "ssl-mode-async", "rustls"),
        (
            "tune.ssl.lifetime 300",
            "tune.ssl.lifetime",
            "not supported yet",
        ),
        ("key-base /etc/keys", "key-base", ".key"),
        ("maxsslconn 100", "maxsslconn", "not supported yet"),
    ];
    for (line, kw, needle) in errs {
        expect_err(&format!("global\n  {line}\n"), 2, kw, needle);
    }
    let f = d.join("site.pem");
    expect_err(
        &format!("global\n  ca-base {}\n", f.display()),
        2,
        "ca-base",
        "not a directory",
    );
}
