//! Logging to syslog over UDP: the framings (`rfc3164`, `rfc5424`, `raw`, `short`),
//! `log-format`, `option dontlognull`, `option tcplog`, `log global` / `no log`, and
//! health-check transitions sent to the backend's loggers.

mod common;

use common::proxy::binary;
use common::{free_port, get_closed, is_sluice, Conn, Origin, Proxy, TcpEcho};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A syslog receiver on a free loopback UDP port.
struct Syslog {
    sock: UdpSocket,
    seen: Vec<String>,
}

impl Syslog {
    fn start() -> Syslog {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        Syslog {
            sock,
            seen: Vec::new(),
        }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Receives datagrams until `limit` elapses or `stop` holds for one of them;
    /// each is kept (without the trailing newline HAProxy adds).
    fn recv_until(&mut self, limit: Duration, mut stop: impl FnMut(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let Ok(n) = self.sock.recv(&mut buf) else {
                return false;
            };
            let line = String::from_utf8_lossy(&buf[..n])
                .trim_end_matches('\n')
                .to_string();
            let hit = stop(&line);
            self.seen.push(line);
            if hit {
                return true;
            }
        }
    }

    /// Waits (bounded) for a datagram containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Option<String> {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        if self.recv_until(limit, |l| l.contains(needle)) {
            self.seen.last().cloned()
        } else {
            None
        }
    }

    /// Collects whatever arrives during `quiet`.
    fn settle(&mut self, quiet: Duration) {
        self.recv_until(quiet, |_| false);
    }

    /// Access-log lines (they start, after any header, with the client address).
    fn access_lines(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| l.contains("127.0.0.1:"))
            .cloned()
            .collect()
    }
}

/// The program name the proxy under test puts in syslog headers.
fn tag() -> String {
    binary().file_name().unwrap().to_string_lossy().into_owned()
}

/// `global` with `global_log`, then HTTP defaults with `log global` + `option httplog`.
fn http_config(global_log: &str, fe: u16, o: &Origin, fe_extra: &str) -> String {
    format!(
        "global
    {global_log}

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{fe}
{fe_extra}
    default_backend be

backend be
    server s1 {}
",
        o.addr()
    )
}

/// Starts a proxy logging with `log <rx> <format_words> local0`, sends three
/// requests and returns their datagrams, checking there is exactly one per request.
fn three_requests(format_words: &str) -> (Proxy, Vec<String>) {
    let mut rx = Syslog::start();
    let o = Origin::start("s1");
    let fe = free_port();
    let p = Proxy::start(&http_config(
        &format!("log {} {format_words} local0", rx.addr()),
        fe,
        &o,
        "",
    ));
    for n in 0..3 {
        assert_eq!(get_closed(fe, &format!("/log/{n}")).status, 200);
    }
    assert!(
        rx.wait_for("/log/2 ", Duration::from_secs(5)).is_some(),
        "no log line for the last request; got {:?}\n{}",
        rx.seen,
        p.output()
    );
    rx.settle(Duration::from_millis(300));
    let lines = rx.access_lines();
    for n in 0..3 {
        let hits = lines
            .iter()
            .filter(|l| l.contains(&format!("\"GET /log/{n} HTTP/1.1\"")))
            .count();
        assert_eq!(hits, 1, "datagrams for /log/{n}: {lines:?}");
    }
    assert_eq!(lines.len(), 3, "one datagram per request: {lines:?}");
    (p, lines)
}

/// The httplog part of a line for request `/log/N` through `fe be/s1`.
fn assert_httplog(msg: &str) {
    assert!(msg.starts_with("127.0.0.1:"), "client address first: {msg}");
    assert!(
        msg.contains(" fe be/s1 "),
        "frontend, backend/server: {msg}"
    );
    assert!(msg.contains(" 200 "), "status: {msg}");
    assert!(msg.contains(" ---- "), "termination state: {msg}");
    assert!(msg.ends_with(" HTTP/1.1\""), "request line last: {msg}");
    let date = msg.split('[').nth(1).unwrap_or("");
    assert!(
        date.len() > 24 && date.as_bytes()[2] == b'/' && date.as_bytes()[6] == b'/',
        "accept date [dd/Mmm/yyyy:hh:mm:ss.mmm]: {msg}"
    );
}

fn is_month(s: &str) -> bool {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .contains(&s)
}

/// Splits `<PRI>rest` into (PRI, rest).
fn pri(line: &str) -> (u32, &str) {
    let rest = line
        .strip_prefix('<')
        .unwrap_or_else(|| panic!("no <PRI>: {line}"));
    let (p, rest) = rest
        .split_once('>')
        .unwrap_or_else(|| panic!("no <PRI>: {line}"));
    (p.parse().unwrap_or_else(|_| panic!("PRI: {line}")), rest)
}

#[test]
fn rfc3164_is_the_default_framing() {
    let (p, lines) = three_requests("");
    for l in &lines {
        let (pri, rest) = pri(l);
        assert_eq!(pri, 134, "local0.info: {l}");
        // Mmm dd hh:mm:ss (day space-padded)
        let (date, rest) = rest.split_at(15);
        assert!(is_month(&date[..3]), "month: {l}");
        assert!(
            date.as_bytes()[9] == b':' && date.as_bytes()[12] == b':',
            "time: {l}"
        );
        let rest = rest.strip_prefix(' ').expect("space after the date");
        // HAProxy sends no hostname unless `log-send-hostname`; accept one here
        // (see rfc3164_has_no_hostname_by_default).
        let program = format!("{}[{}]: ", tag(), p.pid());
        let at = rest
            .find(&program)
            .unwrap_or_else(|| panic!("no '{program}': {l}"));
        assert!(
            !rest[..at].trim().contains(' '),
            "at most a hostname before the tag: {l}"
        );
        assert_httplog(&rest[at + program.len()..]);
    }
}

#[test]
fn rfc3164_has_no_hostname_by_default() {
    let (p, lines) = three_requests("");
    let program = format!("{}[{}]: ", tag(), p.pid());
    for l in &lines {
        let (_, rest) = pri(l);
        assert_eq!(&rest[15..16 + program.len()], format!(" {program}"), "{l}");
    }
}

#[test]
fn rfc5424_framing() {
    let (p, lines) = three_requests("format rfc5424");
    for l in &lines {
        let (pri, rest) = pri(l);
        assert_eq!(pri, 134, "{l}");
        let f: Vec<&str> = rest.splitn(7, ' ').collect();
        assert_eq!(
            f.len(),
            7,
            "VERSION TIMESTAMP HOST APP PID MSGID SD MSG: {l}"
        );
        assert_eq!(f[0], "1", "version: {l}");
        let ts = f[1].as_bytes();
        assert!(
            ts.len() >= 20
                && ts[4] == b'-'
                && ts[7] == b'-'
                && ts[10] == b'T'
                && ts[13] == b':'
                && ts[16] == b':'
                && (f[1].ends_with('Z') || f[1][19..].contains(['+', '-'])),
            "RFC 3339 timestamp: {l}"
        );
        assert!(!f[2].is_empty(), "hostname or '-': {l}");
        assert_eq!(f[3], tag(), "app name: {l}");
        assert_eq!(f[4], p.pid().to_string(), "procid: {l}");
        assert_eq!((f[5], f[6].split_once(' ').map(|x| x.0)), ("-", Some("-")));
        assert_httplog(f[6].split_once(' ').unwrap().1);
    }
}

#[test]
fn raw_framing_is_the_message_alone() {
    let (_p, lines) = three_requests("format raw");
    for l in &lines {
        assert_httplog(l);
    }
}

#[test]
fn short_framing_is_the_level_then_the_message() {
    let (_p, lines) = three_requests("format short");
    for l in &lines {
        let (pri, rest) = pri(l);
        assert_eq!(pri, 6, "short carries the severity only (info): {l}");
        assert_httplog(rest);
    }
}

#[test]
fn short_framing_has_no_header_but_the_priority() {
    let (_p, lines) = three_requests("format short");
    for l in &lines {
        let (_, rest) = pri(l);
        assert_httplog(rest);
    }
}

/// Sends one POST with `host: example.test` through a frontend with `fe_extra`
/// and returns its (raw) log line.
fn one_logged_post(fe_extra: &str) -> String {
    let mut rx = Syslog::start();
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&http_config(
        &format!("log {} format raw local0", rx.addr()),
        fe,
        &o,
        fe_extra,
    ));
    let r = Conn::connect(fe)
        .request(
            "POST",
            "/custom/path?q=1",
            &[("host", "example.test"), ("connection", "close")],
            b"body",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    rx.wait_for("127.0.0.1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no log line: {:?}", rx.seen))
}

#[test]
fn log_format_custom_fields() {
    // HAProxy 2.6 refuses `%[req.hdr(host)]` in a log-format (the request is gone
    // at log time); sluice accepts it.
    let fetch = if is_sluice() { " %[req.hdr(host)]" } else { "" };
    let line = one_logged_post(&format!("    log-format \"%ci %ST %b %s %HM %HU{fetch}\""));
    let host = if is_sluice() { " example.test" } else { "" };
    assert_eq!(
        line,
        format!("127.0.0.1 200 be s1 POST /custom/path?q=1{host}")
    );
}

#[test]
fn capture_request_header_shows_in_hr() {
    let line =
        one_logged_post("    capture request header Host len 64\n    log-format \"%ci %hr\"");
    assert_eq!(line, "127.0.0.1 {example.test}");
}

/// Opens a connection and closes it without sending anything, then sends one real
/// request; returns the access lines seen by then.
fn null_connection_then_request(dontlognull: bool) -> Vec<String> {
    let mut rx = Syslog::start();
    let o = Origin::start("s1");
    let fe = free_port();
    let extra = if dontlognull {
        "    option dontlognull"
    } else {
        ""
    };
    let _p = Proxy::start(&http_config(
        &format!("log {} format raw local0", rx.addr()),
        fe,
        &o,
        extra,
    ));
    let c = Conn::connect(fe);
    c.shutdown_write();
    let mut c = c;
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "null connection closed"
    );
    drop(c);
    assert_eq!(get_closed(fe, "/real").status, 200);
    assert!(
        rx.wait_for("/real", Duration::from_secs(5)).is_some(),
        "{:?}",
        rx.seen
    );
    rx.settle(Duration::from_millis(300));
    rx.access_lines()
}

#[test]
fn dontlognull_skips_connections_that_send_nothing() {
    let lines = null_connection_then_request(true);
    assert_eq!(lines.len(), 1, "only the real request: {lines:?}");
    assert!(lines[0].contains("GET /real"), "{lines:?}");
}

#[test]
fn without_dontlognull_a_null_connection_is_logged() {
    let lines = null_connection_then_request(false);
    assert_eq!(lines.len(), 2, "null connection and request: {lines:?}");
}

#[test]
fn tcplog_line_for_a_tcp_frontend() {
    let mut rx = Syslog::start();
    let echo = TcpEcho::start();
    let fe = free_port();
    let _p = Proxy::start(&format!(
        "global
    log {} format raw local0

defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend ft
    bind 127.0.0.1:{fe}
    option tcplog
    default_backend bt

backend bt
    server e1 {}
",
        rx.addr(),
        echo.addr()
    ));
    let mut s = TcpStream::connect(("127.0.0.1", fe)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"hello tcplog").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hello tcplog");
    drop(s);
    let line = rx
        .wait_for(" ft bt/e1 ", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no tcplog line: {:?}", rx.seen));
    // 127.0.0.1:PORT [date] ft bt/e1 Tw/Tc/Tt BYTES -- act/fe/be/srv/retries sq/bq
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(f[0].starts_with("127.0.0.1:"), "{line}");
    assert!(f[1].starts_with('['), "{line}");
    assert_eq!((f[2], f[3]), ("ft", "bt/e1"), "{line}");
    assert_eq!(f[4].split('/').count(), 3, "Tw/Tc/Tt: {line}");
    assert_eq!(f[5], "12", "bytes read from the server: {line}");
    assert_eq!(f[6], "--", "termination state: {line}");
    assert_eq!(f[7].split('/').count(), 5, "connection counts: {line}");
    assert_eq!(f[8].split('/').count(), 2, "queues: {line}");
    assert!(!line.contains("HTTP"), "not an HTTP line: {line}");
}

#[test]
fn log_global_is_inherited_and_no_log_silences() {
    let mut rx = Syslog::start();
    let o = Origin::start("s1");
    let (f1, f2, f3) = (free_port(), free_port(), free_port());
    let _p = Proxy::start(&format!(
        "global
    log {} format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend inherits
    bind 127.0.0.1:{f1}
    default_backend be

frontend silent
    bind 127.0.0.1:{f2}
    no log
    default_backend be

frontend explicit
    bind 127.0.0.1:{f3}
    no log
    log global
    default_backend be

backend be
    server s1 {}
",
        rx.addr(),
        o.addr()
    ));
    assert_eq!(get_closed(f2, "/from-silent").status, 200);
    assert_eq!(get_closed(f1, "/from-inherits").status, 200);
    assert_eq!(get_closed(f3, "/from-explicit").status, 200);
    assert!(rx
        .wait_for("/from-inherits", Duration::from_secs(5))
        .is_some());
    assert!(rx
        .wait_for("/from-explicit", Duration::from_secs(5))
        .is_some());
    rx.settle(Duration::from_millis(300));
    let lines = rx.access_lines();
    assert!(
        !lines.iter().any(|l| l.contains("/from-silent")),
        "`no log` frontend logged: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" inherits be/s1 ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" explicit be/s1 ")),
        "{lines:?}"
    );
}

#[test]
fn health_transitions_go_to_backend_loggers_and_stderr() {
    health_transitions(false);
}

#[test]
fn health_transitions_on_stderr_are_warnings() {
    health_transitions(true);
}

/// s1 of two goes DOWN then UP; with `strict`, the stderr lines carry HAProxy's
/// `[WARNING]` tag.
fn health_transitions(strict: bool) {
    let mut rx = Syslog::start();
    let (mut a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let p = Proxy::start(&format!(
        "global
    log {} local0

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 {} check inter 100ms fall 2 rise 2
    server s2 {} check inter 100ms fall 2 rise 2
",
        rx.addr(),
        a.addr(),
        b.addr()
    ));
    a.pause();
    let down = rx
        .wait_for("Server be/s1 is DOWN", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no DOWN datagram: {:?}\n{}", rx.seen, p.output()));
    let (pri, _) = pri(&down);
    // local0 (16) and a severity at most `notice` (HAProxy: notice, or alert when
    // the backend has no server left).
    assert_eq!(pri / 8, 16, "{down}");
    assert!(pri % 8 <= 5, "severity: {down}");
    assert!(
        down.contains("Server be/s1 is DOWN, reason: Layer4"),
        "reason: {down}"
    );
    assert!(
        down.contains("1 active and 0 backup servers left"),
        "servers left: {down}"
    );
    let warn = if strict { "[WARNING]" } else { "]" };
    let err = p
        .wait_log(
            &[warn, "Server be/s1 is DOWN, reason: "],
            Duration::from_secs(2),
        )
        .unwrap_or_else(|| panic!("no DOWN on stderr:\n{}", p.output()));
    assert!(err.contains("Layer4"), "{err}");

    a.resume();
    let up = rx
        .wait_for("Server be/s1 is UP", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no UP datagram: {:?}", rx.seen));
    assert!(up.contains("2 active and 0 backup servers online"), "{up}");
    assert!(
        p.wait_log(&[warn, "Server be/s1 is UP"], Duration::from_secs(2))
            .is_some(),
        "no UP on stderr:\n{}",
        p.output()
    );
}

#[test]
fn httplog_bytes_count_the_whole_response() {
    // HAProxy's %B (the bytes field of httplog) counts the response bytes read from
    // the server, headers included, not just the body.
    let mut rx = Syslog::start();
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&http_config(
        &format!("log {} format raw local0", rx.addr()),
        fe,
        &o,
        "    log-format \"%HU %B\"",
    ));
    let mut c = Conn::connect(fe);
    c.send(&common::client::build_request(
        "GET",
        "/size/1000",
        &[("connection", "close")],
        b"",
    ))
    .unwrap();
    let got = c.read_to_close(Duration::from_secs(5));
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    let line = rx
        .wait_for("/size/1000", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no log line: {:?}", rx.seen));
    let b: usize = line
        .strip_prefix("/size/1000 ")
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // The server's head (about 170 bytes here) may differ a little from what the
    // client got (header rewriting), but it is there.
    assert!(
        b > 1100 && b.abs_diff(got.len()) <= 64,
        "%B = {b}, the client received {} bytes",
        got.len()
    );
}
