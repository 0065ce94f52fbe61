//! HTTP/2 server connections under a seeded storm: a server that says GOAWAY after
//! a few streams on each connection (like nginx's `http2_max_requests`), clients
//! that abort mid-response, and short purge intervals — while well-behaved clients
//! keep sending. The well-behaved ones must see no error (a stream the server
//! refuses is retried on a new connection), nothing may be answered twice, and the
//! proxy must survive.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::proxy::TempDir;
use common::{free_port, Proxy, HTTP_DEFAULTS};

/// A clear HTTP/2 origin that answers `200 <path>` and closes each connection
/// gracefully (GOAWAY) after `per_conn` streams.
struct GoawayOrigin {
    port: u16,
    conns: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl GoawayOrigin {
    fn start(per_conn: usize) -> GoawayOrigin {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let conns = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (conns.clone(), requests.clone());
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                // Bounded: the test is over long before.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while let Ok(Ok((s, _))) = tokio::time::timeout_at(deadline, l.accept()).await {
                    c.fetch_add(1, Ordering::SeqCst);
                    let r = r.clone();
                    tokio::spawn(async move {
                        let Ok(mut conn) = h2::server::handshake(s).await else {
                            return;
                        };
                        let mut served = 0;
                        while let Some(Ok((req, mut respond))) = conn.accept().await {
                            served += 1;
                            r.fetch_add(1, Ordering::SeqCst);
                            let body = Bytes::from(req.uri().path().to_string());
                            tokio::spawn(async move {
                                let rsp = http::Response::builder().status(200).body(()).unwrap();
                                if let Ok(mut s) = respond.send_response(rsp, false) {
                                    let _ = s.send_data(body, true);
                                }
                            });
                            if served == per_conn {
                                conn.graceful_shutdown();
                            }
                        }
                    });
                }
            });
        });
        GoawayOrigin {
            port,
            conns,
            requests,
        }
    }
}

/// One HTTP/1.1 request on a new connection; the status and body.
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {text:?}"))?;
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok((status, rest.to_string()));
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).map_err(|_| format!("chunk {size:?}"))?;
        if n == 0 {
            break;
        }
        body.push_str(after.get(..n).ok_or("short chunk")?);
        rest = after.get(n + 2..).unwrap_or("");
    }
    Ok((status, body))
}

/// A client that sends a request and leaves before (or while) the answer comes.
fn abort(port: u16, path: &str, after_ms: u64) {
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        thread::sleep(Duration::from_millis(after_ms));
        let mut b = [0u8; 3];
        let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
        let _ = s.read(&mut b);
    }
}

#[test]
fn goaways_aborts_and_purges_lose_no_request() {
    for (mode, seed) in [
        ("always", 0x9E37_79B9u64),
        ("safe", 0x85EB_CA6B),
        ("aggressive", 0xC2B2_AE35),
    ] {
        let origin = GoawayOrigin::start(7);
        let port = free_port();
        let cfg = format!(
            "{HTTP_DEFAULTS}
backend be
    http-reuse {mode}
    retries 3
    server s1 127.0.0.1:{} proto h2 pool-purge-delay 50ms

frontend fe
    bind 127.0.0.1:{port}
    default_backend be
",
            origin.port
        );
        let p = Proxy::start(&cfg);
        let t0 = Instant::now();
        let good = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for w in 0..4u64 {
            let good = good.clone();
            workers.push(thread::spawn(move || -> Result<(), String> {
                let mut x = seed ^ (w + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
                for i in 0..60 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let path = format!("/w{w}/r{i}");
                    match x % 5 {
                        0 => abort(port, &path, x % 4),
                        1 => thread::sleep(Duration::from_millis(x % 70)),
                        _ => {}
                    }
                    let (status, body) = get(port, &path)?;
                    if status != 200 || body != path {
                        return Err(format!("{path}: {status} {body:?}"));
                    }
                    good.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }));
        }
        for w in workers {
            if let Err(e) = w.join().unwrap() {
                panic!("http-reuse {mode}: {e}\n{}", p.output());
            }
        }
        assert_eq!(good.load(Ordering::SeqCst), 240, "http-reuse {mode}");
        // The proxy is alive and well after the storm.
        assert_eq!(get(port, "/after").unwrap(), (200, "/after".to_string()));
        assert!(
            origin.conns.load(Ordering::SeqCst) >= 240 / 7 / 2,
            "the server's GOAWAYs forced new connections"
        );
        assert!(origin.requests.load(Ordering::SeqCst) >= 241);
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
}

/// `show servers conn` counts the worker's HTTP/2 server connections: the idle one
/// left after the requests is a safe idle connection.
#[test]
fn show_servers_conn_counts_idle_h2_connections() {
    if common::skip_unless_sluice("HTTP/2 connections in sluice's show servers conn") {
        return;
    }
    let origin = GoawayOrigin::start(1_000_000);
    let port = free_port();
    let d = TempDir::new("h2conn");
    let sock = d.path().join("s.sock");
    let cfg = format!(
        "global
    nbthread 1
    stats socket {} level admin
{HTTP_DEFAULTS}
backend be
    http-reuse always
    server s1 127.0.0.1:{} proto h2

frontend fe
    bind 127.0.0.1:{port}
    default_backend be
",
        sock.display(),
        origin.port
    );
    let _p = Proxy::start(&cfg);
    for i in 0..5 {
        assert_eq!(get(port, &format!("/c{i}")).unwrap().0, 200);
    }
    let out = common::cli(&sock, "show servers conn be\n");
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let row: Vec<&str> = lines.next().expect("a row for s1").split(' ').collect();
    let col = |name: &str| -> u32 {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name}: {out}"));
        row[i].parse().unwrap()
    };
    assert_eq!((col("idle_cur"), col("safe_nb")), (1, 1), "{out}");
    assert_eq!(origin.conns.load(Ordering::SeqCst), 1);
}
