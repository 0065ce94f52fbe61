//! TLS end to end through the real binary: termination on `bind ... ssl crt`, SNI
//! certificate selection, ALPN, client certificates (required/optional, with ACLs
//! on `ssl_c_*`), `ssl_fc_sni` routing, TLS to servers (verification, SNI), TLS
//! health checks, and start-up certificate errors. Certificates are generated at run
//! time; clients are curl and a Rust rustls client; origins are Rust (rustls).

mod common;

use std::time::Duration;

use common::proxy::{free_port, run, TempDir};
use common::tls::{client_config, self_signed_pem, tls_get, Pki, TlsOrigin};
use common::{skip_unless_sluice, Origin, Proxy, HTTP_DEFAULTS};

fn bind_cfg(port: u16, ssl: &str, rest: &str, backend: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} ssl {ssl}
{rest}
    default_backend be

backend be
    server s1 {backend}
"
    )
}

#[test]
fn https_with_curl_and_rust_client_alpn_http11() {
    let d = TempDir::new("tls-basic");
    let pki = Pki::new(d.path(), "Sluice Test CA");
    let site = pki.leaf("site.pem", &["www.example.test"], false);
    let ca = pki.ca_file("ca.pem");
    let origin = Origin::start("app");
    let port = free_port();
    let p = Proxy::start(&bind_cfg(
        port,
        &format!("crt {} alpn http/1.1", site.display()),
        "",
        &origin.addr(),
    ));

    let r = tls_get(
        port,
        "www.example.test",
        client_config(Some(&ca), None, &["h2", "http/1.1"]),
        "/hello",
    )
    .expect("rust client");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(r.peer_cn, "www.example.test");
    assert!(r.head.contains("x-served-by: app"), "{}", r.head);

    if common::client::have_curl() {
        let resolve = format!("www.example.test:{port}:127.0.0.1");
        let url = format!("https://www.example.test:{port}/curl");
        let out = common::client::curl(&[
            "-v",
            "--cacert",
            &ca.display().to_string(),
            "--resolve",
            &resolve,
            &url,
        ]);
        assert_eq!(out.status, 0, "curl: {}", out.stderr);
        assert!(out.stdout_str().contains("app"), "{}", out.stdout_str());
        assert!(
            out.stderr.contains("ALPN: server accepted http/1.1"),
            "{}",
            out.stderr
        );
    }
    // %ft carries `~` on TLS (httplog).
    assert!(
        p.wait_log(&[" fe~ be/s1 ", "GET /hello"], Duration::from_secs(5))
            .is_some(),
        "{}",
        p.output()
    );
}

#[test]
fn sni_selects_among_three_certificates() {
    let d = TempDir::new("tls-sni");
    let pki = Pki::new(d.path(), "Sluice Test CA");
    let a = pki.leaf("a.pem", &["a.example.test"], false);
    let b = pki.leaf("b.pem", &["b.example.test"], false);
    let w = pki.leaf("w.pem", &["*.w.example.test"], false);
    let ca = pki.ca_file("ca.pem");
    let origin = Origin::start("app");
    let port = free_port();
    let _p = Proxy::start(&bind_cfg(
        port,
        &format!(
            "crt {} crt {} crt {}",
            a.display(),
            b.display(),
            w.display()
        ),
        "",
        &origin.addr(),
    ));
    for (sni, cn) in [
        ("a.example.test", "a.example.test"),
        ("b.example.test", "b.example.test"),
        ("x.w.example.test", "*.w.example.test"),
    ] {
        let r = tls_get(port, sni, client_config(Some(&ca), None, &[]), "/").unwrap();
        assert_eq!((r.status, r.peer_cn.as_str()), (200, cn), "sni {sni}");
    }
    // An unknown name gets the default (first) certificate.
    let r = tls_get(port, "other.test", client_config(None, None, &[]), "/").unwrap();
    assert_eq!(r.peer_cn, "a.example.test");
    // ...which a verifying client refuses for that name.
    assert!(tls_get(port, "other.test", client_config(Some(&ca), None, &[]), "/").is_err());
}

#[test]
fn ssl_fc_sni_routes_to_backends() {
    let d = TempDir::new("tls-route");
    let pki = Pki::new(d.path(), "Sluice Test CA");
    let site = pki.leaf("site.pem", &["a.example.test", "b.example.test"], false);
    let (oa, ob) = (Origin::start("oa"), Origin::start("ob"));
    let port = free_port();
    let cfg = format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} ssl crt {}
    use_backend bb if {{ ssl_fc_sni b.example.test }}
    http-request set-header x-tls %[ssl_fc_protocol]/%[ssl_fc]
    default_backend ba

backend ba
    server s {}

backend bb
    server s {}
",
        site.display(),
        oa.addr(),
        ob.addr()
    );
    let _p = Proxy::start(&cfg);
    let cc = client_config(None, None, &[]);
    let r = tls_get(port, "a.example.test", cc.clone(), "/").unwrap();
    assert!(r.head.contains("x-served-by: oa"), "{}", r.head);
    let r = tls_get(port, "b.example.test", cc, "/").unwrap();
    assert!(r.head.contains("x-served-by: ob"), "{}", r.head);
    let seen = ob.last_seen().unwrap();
    assert_eq!(seen.header("x-tls"), Some("TLSv1.3/1"));
}

#[test]
fn client_certificates_required() {
    let d = TempDir::new("tls-mtls");
    let pki = Pki::new(d.path(), "Client CA");
    let other = Pki::new(d.path(), "Other CA");
    let site = pki.leaf("site.pem", &["site.test"], false);
    let ca = pki.ca_file("ca.pem");
    let good = pki.leaf("good.pem", &["client-good"], true);
    let bad = other.leaf("bad.pem", &["client-bad"], true);
    let origin = Origin::start("app");
    let port = free_port();
    let p = Proxy::start(&bind_cfg(
        port,
        &format!(
            "crt {} verify required ca-file {}",
            site.display(),
            ca.display()
        ),
        "    http-request set-header x-client-cn %[ssl_c_s_dn(CN)]",
        &origin.addr(),
    ));
    let r = tls_get(
        port,
        "site.test",
        client_config(Some(&ca), Some(&good), &[]),
        "/",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        origin.last_seen().unwrap().header("x-client-cn"),
        Some("client-good")
    );
    // No certificate, or one from another CA: the handshake is refused.
    assert!(tls_get(port, "site.test", client_config(Some(&ca), None, &[]), "/").is_err());
    assert!(tls_get(
        port,
        "site.test",
        client_config(Some(&ca), Some(&bad), &[]),
        "/"
    )
    .is_err());
    assert_eq!(origin.requests(), 1);
    assert!(
        p.wait_log(&["fe/1: SSL handshake failure"], Duration::from_secs(5))
            .is_some(),
        "{}",
        p.output()
    );
}

#[test]
fn client_certificates_optional_with_acls() {
    let d = TempDir::new("tls-optional");
    let pki = Pki::new(d.path(), "Client CA");
    let site = pki.leaf("site.pem", &["site.test"], false);
    let ca = pki.ca_file("ca.pem");
    let admin = pki.leaf("admin.pem", &["admin"], true);
    let user = pki.leaf("user.pem", &["user"], true);
    let (oa, ob) = (Origin::start("public"), Origin::start("admin"));
    let port = free_port();
    let cfg = format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} ssl crt {} verify optional ca-file {}
    http-request deny if {{ path_beg /private }} !{{ ssl_c_used }}
    use_backend badmin if {{ ssl_c_s_dn(CN) -m str admin }}
    default_backend bpublic

backend bpublic
    server s {}

backend badmin
    server s {}
",
        site.display(),
        ca.display(),
        oa.addr(),
        ob.addr()
    );
    let _p = Proxy::start(&cfg);
    let anon = client_config(Some(&ca), None, &[]);
    let r = tls_get(port, "site.test", anon.clone(), "/").unwrap();
    assert!(r.head.contains("x-served-by: public"), "{}", r.head);
    assert_eq!(
        tls_get(port, "site.test", anon, "/private").unwrap().status,
        403
    );
    let r = tls_get(
        port,
        "site.test",
        client_config(Some(&ca), Some(&user), &[]),
        "/private",
    )
    .unwrap();
    assert!(r.head.contains("x-served-by: public"), "{}", r.head);
    let r = tls_get(
        port,
        "site.test",
        client_config(Some(&ca), Some(&admin), &[]),
        "/x",
    )
    .unwrap();
    assert!(r.head.contains("x-served-by: admin"), "{}", r.head);
}

fn tls_backend_cfg(port: u16, server: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    retries 0
    server s1 {server}
"
    )
}

#[test]
fn tls_to_servers_verify_required_and_none() {
    let d = TempDir::new("tls-srv");
    let pki = Pki::new(d.path(), "Origin CA");
    let wrong = Pki::new(d.path(), "Wrong CA");
    let cert = pki.leaf("origin.pem", &["origin.test"], false);
    let ca = pki.ca_file("ca.pem");
    let wrong_ca = wrong.ca_file("wrong.pem");
    let origin = TlsOrigin::start("tls", &cert, None);

    // Right CA; SNI is the request's Host without its port (sluice-only: HAProxy
    // 2.6 sends no SNI unless `sni` is set).
    let port = free_port();
    let _p = Proxy::start(&tls_backend_cfg(
        port,
        &format!(
            "{} ssl verify required ca-file {}",
            origin.addr(),
            ca.display()
        ),
    ));
    let r = common::get_with(port, "/", &[("host", "origin.test:8443")]);
    assert_eq!(r.status, 200);
    if common::is_sluice() {
        assert!(r.body_str().contains("sni=origin.test"), "{}", r.body_str());
    }

    // Wrong CA: 503, and the log says why.
    let port2 = free_port();
    let p2 = Proxy::start(&tls_backend_cfg(
        port2,
        &format!(
            "{} ssl verify required ca-file {}",
            origin.addr(),
            wrong_ca.display()
        ),
    ));
    let r = common::get_with(port2, "/", &[("host", "origin.test")]);
    assert_eq!(r.status, 503);
    assert!(p2
        .wait_log(&[" 503 ", "SC--"], Duration::from_secs(5))
        .is_some());
    if skip_unless_sluice("the warning naming the server and the reason is sluice's") {
        return;
    }
    let line = p2.wait_log(&["SSL handshake failure", "s1"], Duration::from_secs(5));
    let line = line.unwrap_or_else(|| panic!("{}", p2.output()));
    assert!(
        line.contains("UnknownIssuer") || line.contains("certificate"),
        "{line}"
    );

    // verify none: any certificate, any name.
    let port3 = free_port();
    let _p3 = Proxy::start(&tls_backend_cfg(
        port3,
        &format!("{} ssl verify none", origin.addr()),
    ));
    let r = common::get_with(port3, "/", &[("host", "anything.test")]);
    assert_eq!(r.status, 200);
    assert!(
        r.body_str().contains("sni=anything.test"),
        "{}",
        r.body_str()
    );
}

#[test]
fn sni_expression_and_client_certificate_to_server() {
    let d = TempDir::new("tls-sni-expr");
    let pki = Pki::new(d.path(), "Origin CA");
    let cert = pki.leaf("origin.pem", &["origin.test"], false);
    let client = pki.leaf("client.pem", &["sluice-client"], true);
    let ca = pki.ca_file("ca.pem");
    // The origin requires a client certificate from our CA.
    let origin = TlsOrigin::start("tls", &cert, Some(&ca));
    let port = free_port();
    let _p = Proxy::start(&tls_backend_cfg(
        port,
        &format!(
            "{} ssl verify none sni str(custom.test) crt {}",
            origin.addr(),
            client.display()
        ),
    ));
    let r = common::get_with(port, "/", &[("host", "ignored.test")]);
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("sni=custom.test"), "{}", r.body_str());
    assert_eq!(origin.snis(), vec![Some("custom.test".to_string())]);
}

#[test]
fn check_ssl_health_checks() {
    if skip_unless_sluice("health-check messages are compared in sluice's words") {
        return;
    }
    let d = TempDir::new("tls-check");
    let pki = Pki::new(d.path(), "Origin CA");
    let cert = pki.leaf("origin.pem", &["origin.test"], false);
    let tls = TlsOrigin::start("tls", &cert, None);
    let plain = Origin::start("plain");
    let port = free_port();
    let cfg = format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    option log-health-checks
    # Generous check timeout and fall for the good server: a debug build on a
    # loaded machine can take a few hundred ms per handshake.
    timeout check 1s
    server good {} ssl verify none check inter 200 rise 1 fall 3
    server bad {} ssl verify none check inter 200 rise 1 fall 1
",
        tls.addr(),
        plain.addr()
    );
    let p = Proxy::start(&cfg);
    let line = p.wait_log(&["Server be/bad is DOWN"], Duration::from_secs(5));
    let line = line.unwrap_or_else(|| panic!("{}", p.output()));
    // A clear-text server never completes the handshake: L6TOUT (or L6RSP when it
    // closes first), as HAProxy.
    assert!(line.contains("reason: Layer6 "), "{line}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!p.output().contains("be/good is DOWN"), "{}", p.output());
    let r = common::get_with(port, "/", &[("host", "origin.test")]);
    assert_eq!(r.status, 200);
}

#[test]
fn start_up_certificate_errors_with_check_mode() {
    let d = TempDir::new("tls-errs");
    let good = d.write("good.pem", &self_signed_pem("good.test", None));
    let expired = d.write("old.pem", &self_signed_pem("old.test", Some(2021)));
    let one = self_signed_pem("one.test", None);
    let two = self_signed_pem("two.test", None);
    let cut = |s: &str| s.find("-----BEGIN PRIVATE KEY").unwrap();
    let mism = d.write(
        "mism.pem",
        &format!("{}{}", &one[..cut(&one)], &two[cut(&two)..]),
    );
    let missing = d.path().join("missing.pem");
    let cases = [
        (missing.clone(), "No such file or directory"),
        (mism, "inconsistencies between private key and certificate"),
        (expired, "expired"),
    ];
    for (crt, want) in cases {
        if want == "expired" && !common::is_sluice() {
            // HAProxy loads expired certificates; sluice refuses them.
            continue;
        }
        let port = free_port();
        let cfg = bind_cfg(port, &format!("crt {}", crt.display()), "", "127.0.0.1:9");
        let file = d.write("t.cfg", &cfg);
        let out = run(
            &["-c", "-f", &file.display().to_string()],
            &[],
            Duration::from_secs(10),
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{want}: {err}");
        let line = bind_line(&cfg);
        assert!(err.contains(&format!("t.cfg:{line}]")), "{want}: {err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(err.contains(&*crt.display().to_string()), "{want}: {err}");
    }
    // The good one passes -c.
    let cfg = bind_cfg(
        free_port(),
        &format!("crt {}", good.display()),
        "",
        "127.0.0.1:9",
    );
    let file = d.write("ok.cfg", &cfg);
    let out = run(
        &["-c", "-f", &file.display().to_string()],
        &[],
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ALPN h2 is accepted by -c like HAProxy.
    let cfg = bind_cfg(
        free_port(),
        &format!("crt {} alpn h2,http/1.1", good.display()),
        "",
        "127.0.0.1:9",
    );
    let file = d.write("h2.cfg", &cfg);
    let out = run(
        &["-c", "-f", &file.display().to_string()],
        &[],
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 1-based line number of the first `bind` line of `cfg`.
fn bind_line(cfg: &str) -> usize {
    cfg.lines()
        .position(|l| l.trim_start().starts_with("bind "))
        .unwrap()
        + 1
}
