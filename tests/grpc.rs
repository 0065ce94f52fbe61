//! gRPC through the proxy with a real gRPC implementation on both sides (Debian's
//! `python3-grpcio`): HTTP/2 with prior knowledge on the frontend (h2c, what insecure
//! gRPC channels speak) or TLS with ALPN h2, and `proto h2` to the server. Covers
//! unary calls with trailing metadata, server and bidirectional streaming, an error
//! status carried only in trailers, and 4 MiB messages both ways.
//!
//! Skipped (with `skipped: ...`) when `/usr/bin/python3 -c "import grpc"` fails.

mod common;

use std::time::Duration;

use common::grpc::{have_grpc, run_client, ClientRun, GrpcServer};
use common::proxy::{free_port, TempDir};
use common::tls::Pki;
use common::{Proxy, HTTP_DEFAULTS};

fn skip() -> bool {
    if have_grpc() {
        return false;
    }
    println!("skipped: python3-grpcio not installed (/usr/bin/python3 cannot import grpc)");
    true
}

fn config(port: u16, bind_opts: &str, server: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} {bind_opts}
    default_backend be

backend be
    server s1 {server} proto h2
"
    )
}

/// Every call the client makes came back as the server sent it.
fn check_all(r: &ClientRun, p: &Proxy) {
    let ctx = || {
        format!(
            "client exit {:?}\n--- stdout:\n{}--- stderr:\n{}--- proxy:\n{}",
            r.status,
            r.stdout,
            r.stderr,
            p.output()
        )
    };
    assert_eq!(r.status, Some(0), "{}", ctx());
    assert_eq!(r.get("done"), "yes", "{}", ctx());

    // Unary: the reply and the trailing metadata set by the handler.
    assert_eq!(r.get("unary.code"), "OK", "{}", ctx());
    assert_eq!(r.get("unary.reply"), "echo:hello grpc", "{}", ctx());
    assert_eq!(r.get("unary.trailer.x-trailer"), "yes", "{}", ctx());

    // Server streaming: 100 messages in order, then an OK status.
    assert_eq!(r.get("stream.code"), "OK", "{}", ctx());
    assert_eq!(r.get("stream.count"), "100", "{}", ctx());
    assert_eq!(r.get("stream.inorder"), "True", "{}", ctx());

    // Bidirectional streaming: 20 requests, 20 replies.
    assert_eq!(r.get("bidi.code"), "OK", "{}", ctx());
    assert_eq!(r.get("bidi.count"), "20", "{}", ctx());
    assert_eq!(r.get("bidi.inorder"), "True", "{}", ctx());

    // An error status travels in trailers (a trailers-only response): NOT_FOUND and
    // its details reach the client, not a proxy-made INTERNAL/UNAVAILABLE.
    assert_eq!(r.get("fail.code"), "NOT_FOUND", "{}", ctx());
    assert_eq!(r.get("fail.details"), "no such item: abc", "{}", ctx());

    // 4 MiB each way, byte for byte.
    assert_eq!(r.get("big.code"), "OK", "{}", ctx());
    assert_eq!(r.get("big.len"), (4 * 1024 * 1024).to_string(), "{}", ctx());
    assert_eq!(r.get("big.intact"), "True", "{}", ctx());
    assert_eq!(r.get("upload.code"), "OK", "{}", ctx());
    assert_eq!(r.get("upload.reply"), "4194304 intact", "{}", ctx());
}

/// The calls show in the httplog lines as HTTP/2 POSTs with status 200 (gRPC errors
/// are HTTP 200 too: the status is in trailers). Like HAProxy, the request line of an
/// H2 request is logged in absolute form, `<scheme>://<:authority><:path>`.
fn check_logs(p: &Proxy, origin: &str) {
    for m in ["Unary", "Stream", "Bidi", "Fail", "Big", "Upload"] {
        let uri = format!("\"POST {origin}/sluice.Test/{m} HTTP/2.0\"");
        assert!(
            p.wait_log(&[" be/s1 ", " 200 ", &uri], Duration::from_secs(5))
                .is_some(),
            "no log line for {uri}:\n{}",
            p.output()
        );
    }
}

#[test]
fn grpc_h2c_prior_knowledge_round_trips() {
    if skip() {
        return;
    }
    let d = TempDir::new("grpc-h2c");
    let server = GrpcServer::start(d.path());
    let port = free_port();
    let p = Proxy::start(&config(port, "proto h2", &server.addr()));

    let r = run_client(
        d.path(),
        &format!("127.0.0.1:{port}"),
        &["insecure"],
        Duration::from_secs(60),
    );
    check_all(&r, &p);
    check_logs(&p, &format!("http://127.0.0.1:{port}"));
}

#[test]
fn grpc_over_tls_frontend_alpn_h2() {
    if skip() {
        return;
    }
    let d = TempDir::new("grpc-tls");
    let pki = Pki::new(d.path(), "Sluice gRPC CA");
    let site = pki.leaf("site.pem", &["grpc.example.test"], false);
    let ca = pki.ca_file("ca.pem");
    let server = GrpcServer::start(d.path());
    let port = free_port();
    let p = Proxy::start(&config(
        port,
        &format!("ssl crt {} alpn h2", site.display()),
        &server.addr(),
    ));

    let ca = ca.display().to_string();
    let r = run_client(
        d.path(),
        &format!("127.0.0.1:{port}"),
        &["tls", &ca, "grpc.example.test"],
        Duration::from_secs(60),
    );
    check_all(&r, &p);
    check_logs(&p, "https://grpc.example.test");
}

/// Sanity of the harness itself: the same client straight at the Python server.
/// If this fails the environment is broken, not the proxy.
#[test]
fn grpc_client_direct_to_server() {
    if skip() {
        return;
    }
    let d = TempDir::new("grpc-direct");
    let server = GrpcServer::start(d.path());
    let r = run_client(
        d.path(),
        &server.addr(),
        &["insecure"],
        Duration::from_secs(60),
    );
    assert_eq!(r.status, Some(0), "{}\n{}", r.stdout, r.stderr);
    for (k, v) in [
        ("unary.trailer.x-trailer", "yes"),
        ("stream.count", "100"),
        ("fail.code", "NOT_FOUND"),
        ("big.intact", "True"),
        ("upload.reply", "4194304 intact"),
    ] {
        assert_eq!(r.get(k), v, "{k}: {}\n{}", r.stdout, r.stderr);
    }
}
