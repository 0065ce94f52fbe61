//! End-to-end scenarios in network namespaces: client — appliance (sluice) —
//! server(s), with Rust origins, the Rust client and curl. Every scenario runs in
//! each [`Mode`]: epoll (kernel sockets), poll over AF_PACKET and poll over TAP
//! (the userspace stack; the appliance's kernel holds no address).
//!
//! Each test builds its own topology (unique namespace names) and tears it down on
//! drop; every wait is bounded. Tests that cannot run here print `skipped: …`.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};
use vm_tests::cmd::Finished;
use vm_tests::topology::{self, Mode, FRONT};
use vm_tests::{detect, pattern, skip_unless, Host, NsProcess, Skip, Sluice, ThreeTier};

const ORIGIN: &str = env!("CARGO_BIN_EXE_lab-origin");
const CLIENT: &str = env!("CARGO_BIN_EXE_lab-client");
const TEN_MB: u64 = 10 * 1024 * 1024;
/// The bound on any single client command.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// The topology and the sluice binary, or why this machine cannot run the test.
fn setup(n_servers: usize, mode: Mode) -> Result<(ThreeTier, PathBuf), Skip> {
    detect::lab()?;
    let bin = vm_tests::sluice::binary()?;
    Ok((ThreeTier::build_mode(n_servers, mode)?, bin))
}

/// One `#[test]` per mode for each scenario: `scenario::epoll`,
/// `scenario::poll_af_packet`, `scenario::poll_tap`.
macro_rules! in_every_mode {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn epoll() {
                super::$name(super::Mode::Epoll)
            }
            #[test]
            fn poll_af_packet() {
                super::$name(super::Mode::PollAfPacket)
            }
            #[test]
            fn poll_tap() {
                super::$name(super::Mode::PollTap)
            }
        }
    )*};
}

in_every_mode!(
    keepalive_requests_alternate_between_origins,
    ten_megabyte_bodies_arrive_intact,
    tcp_mode_forwards_bytes,
    vanished_server_host_gives_fast_errors,
    many_concurrent_connections_all_answered,
    tls_and_http2_through_the_appliance,
);

/// Starts `lab-origin` in `host` and waits until it listens on every port.
fn origin(host: &Host, name: &str, http: &[String], echo: &[String]) -> NsProcess {
    let mut args = vec!["--name".to_string(), name.to_string()];
    for a in http {
        args.extend(["--http".to_string(), a.clone()]);
    }
    for a in echo {
        args.extend(["--echo".to_string(), a.clone()]);
    }
    let p = host
        .spawn(&format!("origin-{name}"), ORIGIN, &args)
        .expect("spawn origin");
    let ports: Vec<u16> = http
        .iter()
        .chain(echo)
        .map(|a| a.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    p.wait_listening(&ports, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    p
}

/// Runs `lab-client ARGS…` in the client host; returns its stdout lines.
fn client(t: &ThreeTier, args: &[&str]) -> Vec<String> {
    let f = t
        .client
        .run(CLIENT, args, CLIENT_LIMIT)
        .expect("run lab-client");
    assert!(
        f.ok(),
        "lab-client {args:?}: {}\n{}",
        f.describe(),
        f.stdout_str()
    );
    f.stdout_str().lines().map(str::to_string).collect()
}

/// Runs curl (no config file, no proxy from the environment) in the client host.
fn curl(t: &ThreeTier, args: &[&str]) -> Finished {
    let mut all = vec!["-q", "-sS", "--noproxy", "*", "--max-time", "30"];
    all.extend_from_slice(args);
    let f = t.client.run("curl", &all, CLIENT_LIMIT).expect("run curl");
    assert!(f.ok(), "curl {args:?}: {}", f.describe());
    f
}

/// True (after printing why) when curl is missing; the Rust-client part still runs.
fn no_curl() -> bool {
    match detect::tool("curl") {
        Ok(_) => false,
        Err(s) => {
            println!("skipped (curl part): {s}");
            true
        }
    }
}

/// `global` + `defaults` (+ `netstack` in poll mode) for the HTTP scenarios.
fn http_defaults(t: &ThreeTier, connect: &str, server: &str) -> String {
    let (io_mode, netstack) = t.netstack();
    format!(
        "global
    log stdout format raw local0
    maxconn 30000
{io_mode}
{netstack}defaults
    mode http
    log global
    option httplog
    maxconn 30000
    timeout connect {connect}
    timeout client 30s
    timeout server {server}
"
    )
}

/// Counts output lines of `p` containing every needle, waiting (bounded) for `n`.
fn wait_count(p: &NsProcess, needles: &[&str], n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let c = p
            .output()
            .lines()
            .filter(|l| needles.iter().all(|x| l.contains(x)))
            .count();
        if c >= n {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Roundrobin over two origins in the server host: requests on one keep-alive
/// client connection alternate between them (Rust client and curl).
fn keepalive_requests_alternate_between_origins(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(1, mode));
    let srv = topology::server_addr(0);
    let _o1 = origin(&t.servers[0], "s1", &[format!("{srv}:8001")], &[]);
    let _o2 = origin(&t.servers[0], "s2", &[format!("{srv}:8002")], &[]);
    let cfg = format!(
        "{}
frontend fe
    bind {FRONT}:80
    default_backend be

backend be
    balance roundrobin
    server s1 {srv}:8001
    server s2 {srv}:8002
",
        http_defaults(&t, "2s", "10s")
    );
    let sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));

    let lines = client(&t, &["get", &format!("{FRONT}:80"), "/", "8"]);
    assert_eq!(lines.len(), 8, "{lines:?}");
    let served: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l.starts_with("200 ")), "{lines:?}");
    assert!(
        lines.iter().all(|l| field(l, "conn") == Some("1")),
        "one client connection for all requests: {lines:?}"
    );
    for w in served.windows(2) {
        assert_ne!(w[0], w[1], "roundrobin alternates: {served:?}");
    }
    assert!(served.contains(&"s1") && served.contains(&"s2"));

    if !no_curl() {
        // Six URLs on one curl command line reuse one connection.
        let url = format!("http://{FRONT}:80/");
        let mut args = vec!["-w", "=%{http_code} %{num_connects}\n"];
        for _ in 0..6 {
            args.push(&url);
        }
        let f = curl(&t, &args);
        let out = f.stdout_str();
        let rows: Vec<(&str, &str)> = out
            .lines()
            .filter(|l| !l.starts_with('='))
            .zip(out.lines().filter_map(|l| l.strip_prefix('=')))
            .collect();
        assert_eq!(rows.len(), 6, "{out}");
        for w in rows.windows(2) {
            assert_ne!(w[0].0, w[1].0, "curl sees alternation: {out}");
        }
        let connects: u32 = rows
            .iter()
            .map(|(_, st)| {
                st.split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u32>()
                    .unwrap()
            })
            .sum();
        assert_eq!(connects, 1, "curl kept one connection: {out}");
        assert!(rows.iter().all(|(_, st)| st.starts_with("200")), "{out}");

        // `Connection: close`: each request gets its own connection, the
        // response says close, and both are answered.
        let f = curl(
            &t,
            &[
                "-H",
                "Connection: close",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-w",
                "=%{http_code} %{num_connects}\n",
                &url,
                &url,
            ],
        );
        let out = f.stdout_str();
        let codes: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix('=')).collect();
        assert_eq!(codes, ["200 1", "200 1"], "two connections: {out}");
        assert_eq!(
            out.lines()
                .filter(|l| l.to_ascii_lowercase().starts_with("connection: close"))
                .count(),
            2,
            "responses say close: {out}"
        );
    }
    assert!(sluice.exited().is_none(), "sluice still running");
    eprintln!(
        "keepalive_requests_alternate_between_origins: {:?}",
        started.elapsed()
    );
}

/// A 10 MB response and a 10 MB request body cross the appliance intact.
fn ten_megabyte_bodies_arrive_intact(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(1, mode));
    let srv = topology::server_addr(0);
    let _o = origin(&t.servers[0], "s1", &[format!("{srv}:8001")], &[]);
    let cfg = format!(
        "{}
frontend fe
    bind {FRONT}:80
    default_backend be

backend be
    server s1 {srv}:8001
",
        http_defaults(&t, "2s", "30s")
    );
    let _sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let want = pattern::pattern_sum(TEN_MB).line();
    let addr = format!("{FRONT}:80");

    let l = client(&t, &["get", &addr, &format!("/size/{TEN_MB}"), "1"]);
    assert!(l[0].starts_with("200 s1 "), "{l:?}");
    assert!(
        l[0].contains(&want),
        "response body intact: {l:?} want {want}"
    );

    let l = client(&t, &["post", &addr, "/echo", &TEN_MB.to_string()]);
    assert!(l[0].starts_with("200 s1 "), "{l:?}");
    assert!(
        l[0].contains(&want),
        "request body intact: {l:?} want {want}"
    );

    if !no_curl() {
        let f = curl(&t, &[&format!("http://{addr}/size/{TEN_MB}")]);
        assert_eq!(pattern::sum(&f.stdout).line(), want, "curl download");
        let file = t.lab.dir().join("body.bin");
        std::fs::write(&file, pattern::bytes(TEN_MB as usize)).unwrap();
        let f = curl(
            &t,
            &[
                "--data-binary",
                &format!("@{}", file.display()),
                "-H",
                "content-type: application/octet-stream",
                &format!("http://{addr}/echo"),
            ],
        );
        assert_eq!(f.stdout_str().trim(), want, "curl upload");
    }
    eprintln!("ten_megabyte_bodies_arrive_intact: {:?}", started.elapsed());
}

/// `mode tcp`: bytes (10 MB each way through an echo server) and a whole HTTP
/// exchange (curl) are forwarded unchanged.
fn tcp_mode_forwards_bytes(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(1, mode));
    let srv = topology::server_addr(0);
    let _o = origin(
        &t.servers[0],
        "s1",
        &[format!("{srv}:8001")],
        &[format!("{srv}:9001")],
    );
    let (io_mode, netstack) = t.netstack();
    let cfg = format!(
        "global
    log stdout format raw local0
{io_mode}
{netstack}defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend echo
    bind {FRONT}:9000
    default_backend echo

backend echo
    server e1 {srv}:9001

frontend web
    bind {FRONT}:8080
    default_backend web

backend web
    server s1 {srv}:8001
"
    );
    let _sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));

    let l = client(&t, &["echo", &format!("{FRONT}:9000"), &TEN_MB.to_string()]);
    let want = pattern::pattern_sum(TEN_MB).line();
    assert!(l[0].starts_with(&want), "echoed intact: {l:?} want {want}");

    let l = client(&t, &["get", &format!("{FRONT}:8080"), "/", "3"]);
    assert!(l.iter().all(|l| l.starts_with("200 s1 ")), "{l:?}");
    if !no_curl() {
        let f = curl(&t, &[&format!("http://{FRONT}:8080/")]);
        assert_eq!(f.stdout_str(), "s1\n");
    }
    eprintln!("tcp_mode_forwards_bytes: {:?}", started.elapsed());
}

/// A server host vanishes (link down, later its namespace deleted): a request in
/// flight gets 504 after `timeout server`, new requests for it 503 after at most
/// `timeout connect` per try, health checks take it out, traffic goes to the
/// survivor, nothing hangs; when its link comes back it is UP again.
fn vanished_server_host_gives_fast_errors(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(2, mode));
    let (a0, a1) = (topology::server_addr(0), topology::server_addr(1));
    let _o1 = origin(&t.servers[0], "s1", &[format!("{a0}:8001")], &[]);
    let _o2 = origin(&t.servers[1], "s2", &[format!("{a1}:8001")], &[]);
    let chk = "check inter 200ms fall 2 rise 2";
    let cfg = format!(
        "{}    retries 1
    option redispatch

frontend fe
    bind {FRONT}:80
    use_backend only2 if {{ path_beg /only2/ }}
    default_backend be

backend be
    balance roundrobin
    server s1 {a0}:8001 {chk}
    server s2 {a1}:8001 {chk}

backend only2
    server s2 {a1}:8001 {chk}
",
        http_defaults(&t, "500ms", "1500ms")
    );
    let sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let addr = format!("{FRONT}:80");

    let l = client(&t, &["get", &addr, "/", "4"]);
    let served: Vec<&str> = l
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert!(served.contains(&"s1") && served.contains(&"s2"), "{l:?}");

    // A slow request lands on s2; then s2's host loses its link.
    let slow = {
        let c = t.client.clone();
        let a = addr.clone();
        thread::spawn(move || {
            c.run(CLIENT, &["get", &a, "/only2/delay/5000", "1"], CLIENT_LIMIT)
                .expect("run lab-client")
        })
    };
    thread::sleep(Duration::from_millis(300));
    let down_at = Instant::now();
    t.servers[1].link_down("eth0").unwrap();

    let f = slow.join().unwrap();
    let line = f.stdout_str();
    assert!(
        line.starts_with("504 "),
        "in-flight request: 504, got {line:?}"
    );
    let ms: u64 = field(&line, "ms").unwrap().parse().unwrap();
    assert!(
        ms < 4000,
        "504 after ~timeout server (1.5 s), not the 5 s delay: {line}"
    );

    // New requests for the vanished server fail fast.
    let l = client(&t, &["get", &addr, "/only2/", "1"]);
    assert!(l[0].starts_with("503 "), "{l:?}");
    assert!(
        field(&l[0], "ms").unwrap().parse::<u64>().unwrap() < 3000,
        "{l:?}"
    );

    // Requests to the balanced backend never hang, and once s2 is DOWN all go to s1.
    for _ in 0..4 {
        let l = client(&t, &["get", &addr, "/", "1"]);
        assert!(
            l[0].starts_with("200 s1 ") || l[0].starts_with("503 "),
            "{l:?}"
        );
        assert!(
            field(&l[0], "ms").unwrap().parse::<u64>().unwrap() < 3000,
            "{l:?}"
        );
    }
    assert!(
        wait_count(&sluice, &["be/s2", "is DOWN"], 1, Duration::from_secs(5)),
        "no DOWN line:\n{}",
        sluice.output()
    );
    let detect_ms = down_at.elapsed().as_millis();
    let l = client(&t, &["get", &addr, "/", "6"]);
    assert!(l.iter().all(|l| l.starts_with("200 s1 ")), "{l:?}");

    // The link comes back: s2 is UP and serves again.
    t.servers[1].link_up("eth0").unwrap();
    assert!(
        wait_count(&sluice, &["be/s2", "is UP"], 1, Duration::from_secs(5)),
        "no UP line:\n{}",
        sluice.output()
    );
    let l = client(&t, &["get", &addr, "/", "4"]);
    assert!(l.iter().any(|l| l.starts_with("200 s2 ")), "{l:?}");

    // Now the whole host goes away (namespace deleted, its veth with it).
    t.lab.remove_host(&t.servers[1]).unwrap();
    assert!(
        wait_count(&sluice, &["be/s2", "is DOWN"], 2, Duration::from_secs(5)),
        "no second DOWN line:\n{}",
        sluice.output()
    );
    // `only2` checks its own s2: wait for that verdict too before expecting the
    // immediate 503 (until then a request may still try, and time out on, the link).
    assert!(
        wait_count(&sluice, &["only2/s2", "is DOWN"], 2, Duration::from_secs(5)),
        "no second DOWN line for only2/s2:\n{}",
        sluice.output()
    );
    let l = client(&t, &["get", &addr, "/only2/", "1"]);
    assert!(l[0].starts_with("503 "), "{l:?}");
    // An answer, not a hang: the server is DOWN, so no connect is even tried. The
    // bound is loose because the whole test suite may be sharing two cores.
    assert!(
        field(&l[0], "ms").unwrap().parse::<u64>().unwrap() < 2500,
        "{l:?}"
    );
    let l = client(&t, &["get", &addr, "/", "4"]);
    assert!(l.iter().all(|l| l.starts_with("200 s1 ")), "{l:?}");
    eprintln!(
        "vanished_server_host_gives_fast_errors: {:?} (DOWN detected {detect_ms} ms after link down)",
        started.elapsed()
    );
}

/// Many client connections open at once through the appliance, all answered:
/// 2,000 in epoll mode, 10,000 through the userspace stack.
fn many_concurrent_connections_all_answered(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(1, mode));
    let srv = topology::server_addr(0);
    let _o1 = origin(&t.servers[0], "s1", &[format!("{srv}:8001")], &[]);
    let _o2 = origin(&t.servers[0], "s2", &[format!("{srv}:8002")], &[]);
    let cfg = format!(
        "{}
frontend fe
    bind {FRONT}:80
    default_backend be

backend be
    balance roundrobin
    # The origins' listen queues cannot take 10,000 SYNs at once: sluice
    # queues what is over 1,000 per server, as an HAProxy user would.
    timeout queue 30s
    server s1 {srv}:8001 maxconn 1000
    server s2 {srv}:8002 maxconn 1000
",
        http_defaults(&t, "5s", "30s")
    )
    // 10,000 connections each way: small per-connection buffers.
    .replace(
        "idle-backoff 1ms",
        "idle-backoff 1ms\n    tcp-buffers 16k 16k",
    );
    let sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let n: usize = if mode.is_poll() { 10_000 } else { 2_000 };
    let l = client(&t, &["many", &format!("{FRONT}:80"), "/", &n.to_string()]);
    let line = &l[0];
    assert_eq!(
        field(line, "opened"),
        Some(n.to_string().as_str()),
        "{line}"
    );
    assert_eq!(
        field(line, "answered"),
        Some(n.to_string().as_str()),
        "{line}"
    );
    assert_eq!(
        field(line, "statuses"),
        Some(format!("200:{n}").as_str()),
        "{line}"
    );
    assert!(sluice.exited().is_none());
    eprintln!(
        "many_concurrent_connections_all_answered ({mode:?}): {:?} ({line})",
        started.elapsed()
    );
}

/// TLS termination with ALPN in the appliance: curl over HTTP/2 and over
/// HTTP/1.1 (TLS), h2load for many streams; the origin speaks HTTP/1.1.
fn tls_and_http2_through_the_appliance(mode: Mode) {
    let started = Instant::now();
    let (t, bin) = skip_unless!(setup(1, mode));
    if no_curl() {
        return;
    }
    let srv = topology::server_addr(0);
    let _o = origin(&t.servers[0], "s1", &[format!("{srv}:8001")], &[]);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["lab.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lab.test");
    let cert = params.self_signed(&key).unwrap();
    let pem = t.lab.dir().join("lab.pem");
    std::fs::write(&pem, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let cfg = format!(
        "{}
frontend fe
    bind {FRONT}:443 ssl crt {} alpn h2,http/1.1
    default_backend be

backend be
    server s1 {srv}:8001
",
        http_defaults(&t, "2s", "30s"),
        pem.display()
    );
    let _sluice = Sluice::start(&t.appliance, &bin, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("https://{FRONT}:443/size/200000");
    let want = pattern::pattern_sum(200_000).line();
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let f = curl(
            &t,
            &["-k", flag, "-w", "\n%{http_version} %{http_code}", &url],
        );
        let out = &f.stdout;
        let split = out.iter().rposition(|&b| b == b'\n').unwrap();
        let tail = String::from_utf8_lossy(&out[split + 1..]).to_string();
        assert_eq!(tail, format!("{version} 200"), "{flag}");
        assert_eq!(
            pattern::sum(&out[..split]).line(),
            want,
            "{flag}: body intact"
        );
    }
    match detect::tool("h2load") {
        Err(s) => println!("skipped (h2load part): {s}"),
        Ok(_) => {
            let f = t
                .client
                .run(
                    "h2load",
                    &[
                        "-n",
                        "400",
                        "-c",
                        "4",
                        "-m",
                        "10",
                        &format!("https://{FRONT}:443/"),
                    ],
                    CLIENT_LIMIT,
                )
                .expect("run h2load");
            let out = f.stdout_str();
            assert!(f.ok(), "h2load: {}\n{out}", f.describe());
            assert!(
                out.contains("400 succeeded, 0 failed"),
                "h2load: every request answered:\n{out}"
            );
            assert!(out.contains("h2"), "negotiated h2:\n{out}");
        }
    }
    eprintln!(
        "tls_and_http2_through_the_appliance ({mode:?}): {:?}",
        started.elapsed()
    );
}
