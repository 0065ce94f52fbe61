//! HTTP/2 through the proxy with real clients and tools: curl with prior knowledge,
//! preface detection on a plain bind, ALPN on TLS binds (curl and the Rust `h2`
//! client), nghttp over clear text and TLS, and an h2load run without failures.
//! Tools that are not installed are skipped.

mod common;

use std::time::Duration;

use common::client::{curl, have, have_curl};
use common::h2::{h2_exchange, h2_get, H2Origin, H2Request, H2Target};
use common::h2_proxy::{site_pem, start};
use common::proxy::{free_port, run_program, TempDir};
use common::{Conn, Origin, Proxy, HTTP_DEFAULTS};

/// Runs `cmd args`, killed after `limit`: (exit code or -1, stdout, stderr).
fn run_tool(cmd: &str, args: &[&str], limit: Duration) -> (i32, String, String) {
    let out = run_program(cmd, args, &[], limit);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `curl ARGS -o /dev/null -w '%{http_code} %{http_version}'` -> e.g. `200 2`.
fn curl_code_version(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["-o", "/dev/null", "-w", "%{http_code} %{http_version}"]);
    let out = curl(&all);
    assert_eq!(out.status, 0, "curl {args:?}: {}", out.stderr);
    out.stdout_str()
}

#[test]
fn curl_prior_knowledge_on_proto_h2_bind() {
    if !have_curl() {
        return;
    }
    let o = Origin::start("app");
    let (p, port) = start("proto h2", &o.addr(), "");
    let url = format!("http://127.0.0.1:{port}/pk");
    assert_eq!(
        curl_code_version(&["--http2-prior-knowledge", &url]),
        "200 2"
    );
    assert_eq!(o.last_seen().unwrap().target, "/pk");
    // %r of an H2 request ends in `HTTP/2.0`. HAProxy 2.6 logs the target in absolute
    // form (`"GET http://127.0.0.1:PORT/pk HTTP/2.0"`, H2 requests carry scheme and
    // authority); origin form (`"GET /pk HTTP/2.0"`) is accepted too.
    assert!(
        p.wait_log(
            &[" fe be/s1 ", "\"GET ", "/pk HTTP/2.0\""],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        p.output()
    );
}

#[test]
fn h2_preface_detected_on_plain_bind() {
    if !have_curl() {
        return;
    }
    let o = Origin::start("app");
    let (_p, port) = start("", &o.addr(), "");
    let url = format!("http://127.0.0.1:{port}/detect");
    assert_eq!(
        curl_code_version(&["--http2-prior-knowledge", &url]),
        "200 2"
    );
    // The same port still speaks HTTP/1.1.
    assert_eq!(curl_code_version(&["--http1.1", &url]), "200 1.1");
    let mut c = Conn::connect(port);
    assert_eq!(c.get("/h1").unwrap().served_by(), "app");
    // And the Rust h2 client.
    let r = h2_get(port, "/rust");
    assert_eq!(
        (r.status, r.header("x-served-by").as_deref()),
        (200, Some("app"))
    );
}

#[test]
fn curl_over_tls_alpn_h2_and_http11() {
    if !have_curl() {
        return;
    }
    let d = TempDir::new("h2-alpn");
    let pem = site_pem(&d);
    let o = Origin::start("app");
    let (_p, port) = start(
        &format!("ssl crt {} alpn h2,http/1.1", pem.display()),
        &o.addr(),
        "",
    );
    let resolve = format!("site.test:{port}:127.0.0.1");
    let url = format!("https://site.test:{port}/tls");
    let base = ["-k", "--resolve", &resolve, &url];
    let with = |flag: &str| {
        let mut v = vec![flag];
        v.extend(base);
        curl_code_version(&v)
    };
    assert_eq!(with("--http2"), "200 2");
    assert_eq!(with("--http1.1"), "200 1.1");
    let x = h2_exchange(
        &H2Target::tls(port, "site.test"),
        vec![H2Request::get("/rust")],
    )
    .unwrap();
    assert_eq!(x.alpn.as_deref(), Some("h2"));
    assert_eq!(x.responses[0].as_ref().unwrap().status, 200);
    assert_eq!(o.requests(), 3);
}

#[test]
fn nghttp_over_clear_and_tls() {
    if !have("nghttp") {
        return;
    }
    let d = TempDir::new("h2-nghttp");
    let pem = site_pem(&d);
    let o = H2Origin::start();
    let (clear, tls) = (free_port(), free_port());
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{clear} proto h2
    bind 127.0.0.1:{tls} ssl crt {} alpn h2,http/1.1
    default_backend be

backend be
    server s1 {} proto h2
",
        pem.display(),
        o.addr()
    ));
    for url in [
        format!("http://127.0.0.1:{clear}/status/201"),
        format!("https://127.0.0.1:{tls}/status/201"),
    ] {
        let (code, out, err) =
            run_tool("nghttp", &["-v", "-t", "10", &url], Duration::from_secs(15));
        assert_eq!(code, 0, "nghttp {url}: {out}\n{err}");
        assert!(out.contains(":status: 201"), "nghttp {url}: {out}");
        assert!(out.contains("status 201"), "nghttp {url} body: {out}");
    }
    assert_eq!(o.requests(), 2);
}

/// `requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored,
/// 0 timeout` -> value of `word`.
fn h2load_count(out: &str, word: &str) -> Option<usize> {
    let line = out.lines().find(|l| l.starts_with("requests:"))?;
    line["requests:".len()..].split(',').find_map(|part| {
        let mut w = part.split_whitespace();
        let n = w.next()?.parse().ok()?;
        (w.next()? == word).then_some(n)
    })
}

#[test]
fn h2load_through_the_proxy_without_failures() {
    if !have("h2load") {
        return;
    }
    let d = TempDir::new("h2-h2load");
    let pem = site_pem(&d);
    let (h2o, h1o) = (H2Origin::start(), Origin::start("app"));
    let (clear, tls) = (free_port(), free_port());
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{clear} proto h2
    bind 127.0.0.1:{tls} ssl crt {} alpn h2,http/1.1
    use_backend b2 if {{ dst_port {clear} }}
    default_backend b1

backend b1
    server s1 {}

backend b2
    server s1 {} proto h2
",
        pem.display(),
        h1o.addr(),
        h2o.addr()
    ));
    for url in [
        format!("http://127.0.0.1:{clear}/"),
        format!("https://127.0.0.1:{tls}/"),
    ] {
        let (code, out, err) = run_tool(
            "h2load",
            &["-n", "200", "-c", "4", "-m", "10", &url],
            Duration::from_secs(30),
        );
        assert_eq!(code, 0, "h2load {url}: {out}\n{err}");
        let n = |w| h2load_count(&out, w).unwrap_or_else(|| panic!("no `{w}` in {out}"));
        assert_eq!(
            (n("succeeded"), n("failed"), n("errored")),
            (200, 0, 0),
            "h2load {url}: {out}"
        );
        assert!(out.contains("200 2xx"), "h2load {url}: {out}");
    }
    assert_eq!(h2o.requests(), 200);
    assert_eq!(h1o.requests(), 200);
}
