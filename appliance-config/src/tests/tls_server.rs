//! TLS configuration towards the servers: every `server` TLS option, check-ssl and
//! `default-server` inheritance, TLS options without `ssl`; then the TLS sample
//! fetches, `proto h2` needing `mode http`, and a complete HAProxy-style TLS
//! configuration. Bind-side options and global defaults are in `tls.rs`.

use super::tls::{be, err_on, p, pki, warnings};
use super::{expect_err, load, load_err, DEFAULTS};
use crate::model::sample::{DnFetch, Fetch, MatchMethod};
use crate::{TlsVersion, Verify};

#[test]
fn server_tls_every_option() {
    let d = pki();
    let l = load(&be(
        "",
        &format!(
            "  server s 10.0.0.1:443 ssl verify required ca-file {} sni req.hdr(host),lower alpn h2,http/1.1 crt {} ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256 no-tls-tickets proto h2 check\n",
            p(&d, "ca.pem"),
            p(&d, "client.pem")
        ),
    ));
    let s = &l.config.backends[0].servers[0];
    assert_eq!(s.proto.as_deref(), Some("h2"));
    assert!(s.check_ssl, "ssl without port/addr implies check-ssl");
    let t = s.tls.as_ref().unwrap();
    assert_eq!(t.verify, Verify::Required);
    assert_eq!(t.ca_file, Some(d.join("ca.pem")));
    let sni = t.sni.as_ref().unwrap();
    assert_eq!(sni.text, "req.hdr(host),lower");
    assert!(matches!(sni.fetch, Fetch::Hdr { .. }));
    assert_eq!(sni.converters.len(), 1);
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    assert_eq!(t.crt, Some(d.join("client.pem")));
    assert_eq!(t.min_ver, Some(TlsVersion::Tls12));
    assert_eq!(t.max_ver, Some(TlsVersion::Tls13));
    assert_eq!(t.ciphers.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(t.ciphersuites.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert!(t.no_tls_tickets);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    // Model equality compares the SNI expression by its text.
    assert_eq!(s.clone(), *s);
}

#[test]
fn server_check_ssl_and_defaults() {
    let d = pki();
    let ca = p(&d, "ca.pem");
    let l = load(&be(
        "",
        &format!(
            "  default-server ssl verify none alpn http/1.1\n  server a 10.0.0.1:443 check\n  server b 10.0.0.2:443 check port 8443\n  server c 10.0.0.3:443 check addr 10.0.0.30\n  server d 10.0.0.4:443 check port 8443 check-ssl\n  server e 10.0.0.5:443 check no-check-ssl\n  server f 10.0.0.6:80 no-ssl\n  server g 10.0.0.7:443 verify required ca-file {ca}\n"
        ),
    ));
    let sv = &l.config.backends[0].servers;
    let by = |n: &str| sv.iter().find(|s| s.name == n).unwrap();
    assert!(by("a").check_ssl);
    assert!(!by("b").check_ssl);
    assert!(!by("c").check_ssl);
    assert!(by("d").check_ssl);
    assert!(!by("e").check_ssl);
    assert!(by("f").tls.is_none() && !by("f").check_ssl);
    let a = by("a").tls.clone().unwrap();
    assert_eq!(a.verify, Verify::None);
    assert_eq!(a.alpn, ["http/1.1"]);
    assert!(a.sni.is_none());
    let g = by("g").tls.clone().unwrap();
    assert_eq!(g.verify, Verify::Required);
    assert_eq!(g.alpn, ["http/1.1"]);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let errs: Vec<(String, &str)> = vec![
        (
            "server s 10.0.0.1:443 ssl".into(),
            "the default, 'ssl-server-verify required'",
        ),
        ("server s 10.0.0.1:443 ssl".into(), "ssl-server-verify none"),
        (
            "server s 10.0.0.1:443 ssl verify required".into(),
            "('verify required')",
        ),
        (
            "server s 10.0.0.1:443 ssl verify optional".into(),
            "only on bind lines",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none sni hdr(".into(),
            "invalid 'sni' expression",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none sni nosuchfetch".into(),
            "unknown sample fetch",
        ),
        (
            "server s 10.0.0.1:80 check check-ssl".into(),
            "without 'ssl' is not supported yet",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2".into(),
            "above the maximum",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none force-sslv3".into(),
            "rustls",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none proto fcgi".into(),
            "FastCGI",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none verifyhost x.example".into(),
            "not supported yet",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none check-sni x.example".into(),
            "not supported yet",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none crl-file x".into(),
            "not supported yet",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none npn h2".into(),
            "use 'alpn'",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none crt /nonexistent-sluice/c.pem".into(),
            "cannot access client certificate",
        ),
        (
            format!("server s 10.0.0.1:443 ssl ca-file {}", p(&d, "ca.pme")),
            "did you mean",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none alpn h2,".into(),
            "empty protocol name",
        ),
        (
            "server s 10.0.0.1:443 ssl verify none send-proxy-v2-ssl".into(),
            "PROXY protocol",
        ),
    ];
    for (line, needle) in errs {
        err_on(&be("", &format!("  {line}\n")), "server", needle);
    }
    err_on(
        &be("", "  default-server ssl-min-ver TLSv1.3 no-tlsv13\n"),
        "default-server",
        "above the maximum",
    );
    err_on(
        &be(
            "",
            "  server h 10.0.0.8:443 ssl verify none ssl-max-ver TLSv1.2 no-tlsv12\n",
        ),
        "server",
        "above the maximum",
    );
}

#[test]
fn server_tls_options_without_ssl_warn() {
    let d = pki();
    let l = load(&be(
        "",
        &format!(
            "  default-server ca-file {}\n  server a 10.0.0.1:80 sni str(x) alpn h2\n  server b 10.0.0.2:80\n  server c 10.0.0.3:443 ssl verify none ca-file {}\n",
            p(&d, "ca.pem"),
            p(&d, "ca.pem")
        ),
    ));
    let w = warnings(&l);
    assert!(
        w.iter().any(|w| w.starts_with("9: ")
            && w.contains("server 'a': 'sni', 'alpn' has no effect without 'ssl'")),
        "{w:?}"
    );
    // Inherited from default-server: no warning for b.
    assert!(!w.iter().any(|w| w.starts_with("10: ")), "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.starts_with("11: ")
                && w.contains("'ca-file' has no effect with 'verify none'")),
        "{w:?}"
    );
    assert!(l.config.backends[0].servers[0].tls.is_none());
}

fn term(s: &str) -> crate::model::sample::AclTerm {
    let l = load(&format!(
        "{DEFAULTS}frontend f\n  bind :80\n  acl x {s}\n  default_backend b\nbackend b\n"
    ));
    l.config.frontends[0].acls[0].terms[0].clone()
}

#[test]
fn tls_fetches_parse() {
    let cases: &[(&str, Fetch, MatchMethod)] = &[
        ("ssl_fc", Fetch::SslFc, MatchMethod::Bool),
        (
            "ssl_fc_sni -i www.example.com",
            Fetch::SslFcSni,
            MatchMethod::Str,
        ),
        (
            "ssl_fc_sni_end -i .example.com",
            Fetch::SslFcSni,
            MatchMethod::End,
        ),
        ("ssl_fc_sni_reg ^api\\.", Fetch::SslFcSni, MatchMethod::Reg),
        ("ssl_fc_alpn h2", Fetch::SslFcAlpn, MatchMethod::Str),
        (
            "ssl_fc_protocol TLSv1.3",
            Fetch::SslFcProtocol,
            MatchMethod::Str,
        ),
        (
            "ssl_fc_cipher -m beg TLS_AES",
            Fetch::SslFcCipher,
            MatchMethod::Beg,
        ),
        ("ssl_c_used", Fetch::SslCUsed, MatchMethod::Bool),
        ("ssl_fc_has_crt", Fetch::SslCUsed, MatchMethod::Bool),
        ("ssl_c_verify 0", Fetch::SslCVerify, MatchMethod::Int),
    ];
    for (s, f, m) in cases {
        let t = term(s);
        assert_eq!(&t.expr.fetch, f, "{s}");
        assert_eq!(t.method, *m, "{s}");
    }
    let dn = |s: &str| match term(s).expr.fetch {
        Fetch::SslCDn(d) => d,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(
        dn("ssl_c_s_dn(CN) -m str client1"),
        DnFetch {
            issuer: false,
            entry: Some("CN".into()),
            occ: 1,
            rfc2253: false
        }
    );
    assert_eq!(
        dn("ssl_c_i_dn(OU,-1) x"),
        DnFetch {
            issuer: true,
            entry: Some("OU".into()),
            occ: -1,
            rfc2253: false
        }
    );
    assert_eq!(
        dn("ssl_c_s_dn x"),
        DnFetch {
            issuer: false,
            entry: None,
            occ: 1,
            rfc2253: false
        }
    );
    assert!(dn("ssl_c_i_dn(,0,rfc2253) -m sub CN=ca").rfc2253);
    assert_eq!(term("ssl_c_s_dn(CN) x").method, MatchMethod::Str);
    assert_eq!(term("ssl_c_s_dn_beg(CN) x").method, MatchMethod::Beg);

    let errs = [
        ("ssl_fc_sni(x) y", "takes no argument"),
        ("ssl_c_s_dn(C=N) y", "not a distinguished-name entry"),
        ("ssl_c_s_dn(,2) y", "needs an entry"),
        ("ssl_c_s_dn(CN,0,rfc2253) y", "applies to the whole DN"),
        ("ssl_c_s_dn(,0,ldap) y", "unknown DN format"),
        ("ssl_c_s_dn(CN,x) y", "occurrence"),
        ("ssl_c_s_dn(CN,1,rfc2253,x) y", "at most 3 arguments"),
        ("ssl_c_sha1 -m found", "TLS fetch is not supported yet"),
        ("req.ssl_sni x", "TCP content rules"),
        ("ssl_fc_snii x", "did you mean 'ssl_fc_sni'?"),
    ];
    for (s, needle) in errs {
        expect_err(&format!("frontend f\n  acl x {s}\n"), 2, "acl", needle);
    }
    // In a log-format and a header action.
    let l = load(&format!(
        "{DEFAULTS}frontend f\n  bind :80\n  log-format \"%[ssl_fc_protocol] %[ssl_fc_cipher] %[ssl_c_s_dn(CN)]\"\n  http-request set-header X-SNI %[ssl_fc_sni]\n  default_backend b\nbackend b\n"
    ));
    assert!(l.config.frontends[0].log_format.is_some());
    let _ = load_err("frontend f\n  acl x ssl_c_s_dn(,1) y\n");
}

#[test]
fn proto_needs_http_mode() {
    let text = "defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend f\n  bind :80,:81 proto h2\n  default_backend b\nbackend b\n  server s 10.0.0.1:80 proto h2\n";
    let e = load_err(text);
    assert_eq!(e.len(), 2, "{e}");
    expect_err(text, 7, "bind", "needs 'mode http'");
    expect_err(text, 10, "server", "needs 'mode http'");
}

/// A configuration in the style of Mozilla's "intermediate" HAProxy profile, with
/// client certificates and TLS to the servers.
#[test]
fn haproxy_style_tls_configuration() {
    let d = pki();
    let text = format!(
        "global
  crt-base {dir}
  ca-base {dir}
  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets
  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-server-options no-tls-tickets
{DEFAULTS}frontend www
  bind :443 ssl crt site.pem crt other.pem alpn h2,http/1.1 verify optional ca-file ca.pem
  bind :80
  http-request redirect scheme https unless {{ ssl_fc }}
  http-request set-header X-Client-CN %[ssl_c_s_dn(CN)] if {{ ssl_c_used }} {{ ssl_c_verify 0 }}
  http-request deny if {{ ssl_c_used }} !{{ ssl_c_verify 0 }}
  use_backend api if {{ ssl_fc_sni -i api.example.com }} {{ ssl_fc_alpn h2 }}
  default_backend web
backend web
  server w1 10.0.0.1:443 ssl verify required ca-file ca.pem sni str(www.internal) check
backend api
  default-server ssl verify required ca-file ca.pem alpn h2
  server a1 10.0.0.2:8443 crt client.pem check port 9000
  server a2 10.0.0.3:8443 no-ssl proto h2
",
        dir = d.display()
    );
    let l = load(&text);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let f = &l.config.frontends[0];
    let t = f.binds[0].tls.as_ref().unwrap();
    assert_eq!(t.certs, [d.join("site.pem"), d.join("other.pem")]);
    assert!(t.prefer_client_ciphers && t.no_tls_tickets);
    assert_eq!(t.min_ver, Some(TlsVersion::Tls12));
    assert!(f.binds[1].tls.is_none());
    let web = l.config.backend("web").unwrap();
    let w1 = web.servers[0].tls.as_ref().unwrap();
    assert_eq!(
        w1.sni.as_ref().unwrap().fetch,
        Fetch::Str("www.internal".into())
    );
    assert!(w1.no_tls_tickets);
    assert_eq!(w1.ciphersuites.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert!(web.servers[0].check_ssl);
    let api = l.config.backend("api").unwrap();
    assert!(
        !api.servers[0].check_ssl,
        "check port given: checks in clear"
    );
    assert_eq!(
        api.servers[0].tls.as_ref().unwrap().crt,
        Some(d.join("client.pem"))
    );
    assert!(api.servers[1].tls.is_none());
    assert_eq!(api.servers[1].proto.as_deref(), Some("h2"));
}
