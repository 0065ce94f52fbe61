//! Health checks: TCP connect checks and `option httpchk` HTTP checks with
//! `http-check expect`, `inter`/`fastinter`/`downinter`, `rise` and `fall`; with
//! `check-ssl`, a TLS handshake (the server's `ssl` settings) after the connect:
//! `L6OK`, `L6RSP` (handshake failed), `L6TOUT` (handshake timeout), then the HTTP
//! check over TLS when `option httpchk` is set.
//!
//! Owns: one check task per server with `check`, all on worker 0, and the writes to
//! each server's `up` flag. Invariants: a server changes state only after `rise`
//! consecutive successes (down → up) or `fall` consecutive failures (up → down);
//! every change is logged in HAProxy's words; checks never use the request path's
//! pools or counters.

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use appliance_config::{Address, CheckExpect, HttpCheck, Server};

use crate::buf::{write_all, IoBuf};
use crate::io::{Driver, Endpoint, Stream};
use crate::proxy::shared::CheckResult;
use crate::proxy::Worker;
use crate::runtime::{self, clock};

/// One check's outcome, with HAProxy's status names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// `L4OK`, `L4CON`, `L4TOUT`, `L6OK`, `L6RSP`, `L6TOUT`, `L7OK`, `L7STS`,
    /// `L7RSP`, `L7TOUT`.
    pub status: &'static str,
    pub code: Option<u16>,
    pub info: String,
    pub duration_ms: u64,
}

/// Spawn the check tasks of every checked server.
pub fn start_checks<D: Driver>(w: &Rc<Worker<D>>) {
    for (bi, b) in w.shared.config.backends.iter().enumerate() {
        for (si, s) in b.servers.iter().enumerate() {
            if s.check {
                runtime::spawn(check_loop(w.clone(), bi, si));
            }
        }
    }
}

fn check_endpoint(s: &Server, moved: Option<std::net::SocketAddr>) -> Endpoint {
    match &s.addr {
        Address::Tcp(a) => {
            let mut a = moved.unwrap_or(*a);
            if let Some(ip) = s.check_addr {
                a.set_ip(ip);
            }
            if let Some(p) = s.check_port {
                a.set_port(p);
            }
            Endpoint::Tcp(a)
        }
        other => crate::proxy::backend::endpoint_of(other),
    }
}

async fn check_loop<D: Driver>(w: Rc<Worker<D>>, be: usize, srv: usize) {
    let cfg = &w.shared.config.backends[be];
    let s = &cfg.servers[srv];
    let state = w.shared.servers[be][srv].clone();
    let mut ep = check_endpoint(s, state.addr_override());
    let timeout = cfg
        .timeouts
        .check
        .unwrap_or(s.inter)
        .max(Duration::from_millis(1));
    let connect_timeout = cfg.timeouts.connect.unwrap_or(timeout).min(timeout);
    let (mut oks, mut fails) = (0u32, 0u32);
    // Spread the first checks like HAProxy does (a fraction of `inter`).
    let spread = s.inter.as_millis() as u64 * ((srv as u64 * 7 + be as u64) % 10) / 10;
    runtime::sleep(Duration::from_millis(spread.max(1))).await;
    loop {
        if w.shared.is_stopping() {
            return;
        }
        if !state.is_live() {
            // `del server`: no more checks (a deleted server never comes back).
            return;
        }
        if let Some(a) = state.addr_override() {
            // `set server … addr`: checks follow the server.
            ep = check_endpoint(s, Some(a));
        }
        let started = clock::precise_us();
        let tls = if s.check_ssl {
            w.shared.tls.server(be, srv).cloned()
        } else {
            None
        };
        let mut out = run_check(
            &w,
            &ep,
            tls.as_deref(),
            cfg.http_check.as_ref(),
            connect_timeout,
            timeout,
        )
        .await;
        out.duration_ms = (clock::precise_us() - started) / 1000;
        let up = state.up.load(Ordering::Relaxed);
        if out.ok {
            oks += 1;
            fails = 0;
        } else {
            fails += 1;
            oks = 0;
        }
        *state.last_check.lock().expect("check state lock") = CheckResult {
            status: out.status,
            code: out.code,
            duration_ms: out.duration_ms,
            info: out.info.clone(),
        };
        let change = if up && fails >= s.fall {
            Some(false)
        } else if !up && oks >= s.rise {
            Some(true)
        } else {
            None
        };
        if let Some(new_up) = change {
            state.up.store(new_up, Ordering::Relaxed);
            state
                .last_change
                .store(clock::wall_us() / 1_000_000, Ordering::Relaxed);
            report_change(&w, be, srv, new_up, &out);
        } else if cfg.log_health_checks && (out.ok != up) {
            report_progress(&w, be, srv, up, oks, fails, &out);
        }
        let now_up = state.up.load(Ordering::Relaxed);
        let transitioning = (now_up && fails > 0) || (!now_up && oks > 0);
        let wait = if transitioning {
            s.fastinter
        } else if now_up {
            s.inter
        } else {
            s.downinter
        };
        runtime::sleep(wait).await;
    }
}

async fn run_check<D: Driver>(
    w: &Worker<D>,
    ep: &Endpoint,
    tls: Option<&crate::tls::ServerTlsCtx>,
    http: Option<&HttpCheck>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Outcome {
    let fail = |status, info: String| Outcome {
        ok: false,
        status,
        code: None,
        info,
        duration_ms: 0,
    };
    let mut plain = match w.driver.connect(ep, None) {
        Ok(s) => s,
        Err(e) => return fail("L4CON", e.to_string()),
    };
    match runtime::timeout(Some(connect_timeout), poll_fn(|cx| plain.poll_connect(cx))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return fail("L4CON", describe_io(&e)),
        Err(_) => return fail("L4TOUT", "Connection timeout".into()),
    }
    let mut stream = match tls {
        None => crate::tls::MaybeTls::Plain(plain),
        Some(ctx) => {
            // The check has no request: the `sni` expression is not evaluated (HAProxy
            // has `check-sni` for that); the name is the server's address.
            let name = crate::tls::server_name(None, plain.peer_addr());
            match crate::tls::connect(ctx, plain, name, Some(timeout)).await {
                Ok(s) => s,
                Err(crate::tls::HandshakeError::Timeout) => {
                    return fail("L6TOUT", "Layer6 timeout".into())
                }
                Err(e) => return fail("L6RSP", format!("SSL handshake failure ({e})")),
            }
        }
    };
    let Some(http) = http else {
        return Outcome {
            ok: true,
            status: if tls.is_some() { "L6OK" } else { "L4OK" },
            code: None,
            info: String::new(),
            duration_ms: 0,
        };
    };
    let mut req = format!("{} {} {}\r\n", http.method, http.uri, http.version);
    for (n, v) in &http.headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = &http.body {
        req.push_str(&format!("content-length: {}\r\n\r\n{b}", b.len()));
    } else {
        req.push_str("\r\n");
    }
    let exchange = async {
        write_all(&mut stream, req.as_bytes()).await?;
        // Read until the server closes or we have enough for the expectation.
        let mut got: Vec<u8> = Vec::new();
        let mut buf = IoBuf::new();
        loop {
            let n = poll_fn(|cx| buf.poll_fill(&mut stream, cx)).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(buf.data());
            buf.consume(buf.len());
            let body_needed = matches!(
                http.expect,
                Some(CheckExpect::String(_)) | Some(CheckExpect::RString(_))
            );
            if (!body_needed && got.windows(2).any(|w| w == b"\r\n")) || got.len() > 65536 {
                break;
            }
        }
        Ok::<Vec<u8>, std::io::Error>(got)
    };
    let got = match runtime::timeout(Some(timeout), exchange).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return fail("L7RSP", describe_io(&e)),
        Err(_) => return fail("L7TOUT", "Layer7 timeout".into()),
    };
    evaluate_http(http, &got)
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        std::io::ErrorKind::TimedOut => "Connection timeout".into(),
        _ => e.to_string(),
    }
}

/// Judge an HTTP check response against `http-check expect`.
pub fn evaluate_http(http: &HttpCheck, resp: &[u8]) -> Outcome {
    let line_end = resp
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(resp.len());
    let line = String::from_utf8_lossy(&resp[..line_end]);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    let reason = parts.next().unwrap_or("").to_string();
    let Some(code) = code.filter(|_| version.starts_with("HTTP/")) else {
        return Outcome {
            ok: false,
            status: "L7RSP",
            code: None,
            info: "Invalid response".into(),
            duration_ms: 0,
        };
    };
    let body = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| &resp[p + 4..])
        .unwrap_or(&[]);
    let body_s = String::from_utf8_lossy(body);
    let matched = match &http.expect {
        None => (200..400).contains(&code),
        Some(CheckExpect::Status(ranges)) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&code)),
        Some(CheckExpect::RStatus(re)) => re.is_match(&code.to_string()),
        Some(CheckExpect::String(s)) => body_s.contains(s.as_str()),
        Some(CheckExpect::RString(re)) => re.is_match(&body_s),
    };
    let ok = matched != http.expect_negated;
    Outcome {
        ok,
        status: if ok { "L7OK" } else { "L7STS" },
        code: Some(code),
        info: reason,
        duration_ms: 0,
    }
}

fn reason_text(o: &Outcome) -> &'static str {
    match o.status {
        "L4OK" => "Layer4 check passed",
        "L4CON" => "Layer4 connection problem",
        "L4TOUT" => "Layer4 timeout",
        "L6OK" => "Layer6 check passed",
        "L6RSP" => "Layer6 invalid response",
        "L6TOUT" => "Layer6 timeout",
        "L7OK" => "Layer7 check passed",
        "L7STS" => "Layer7 wrong status",
        "L7RSP" => "Layer7 invalid response",
        "L7TOUT" => "Layer7 timeout",
        _ => "check",
    }
}

fn describe_outcome(o: &Outcome) -> String {
    let mut s = format!("reason: {}", reason_text(o));
    if let Some(c) = o.code {
        s.push_str(&format!(", code: {c}"));
    }
    if !o.info.is_empty() {
        s.push_str(&format!(", info: \"{}\"", o.info));
    }
    s.push_str(&format!(", check duration: {}ms", o.duration_ms));
    s
}

fn report_change<D: Driver>(w: &Worker<D>, be: usize, srv: usize, up: bool, o: &Outcome) {
    let cfg = &w.shared.config.backends[be];
    let (active, backup) = cfg
        .servers
        .iter()
        .enumerate()
        .filter(|(i, _)| w.shared.servers[be][*i].usable())
        .fold(
            (0, 0),
            |(a, b), (_, s)| if s.backup { (a, b + 1) } else { (a + 1, b) },
        );
    let st = &w.shared.servers[be][srv];
    let msg = if up {
        format!(
            "Server {}/{} is UP, {}. {} active and {} backup servers online. 0 sessions requeued, {} total in queue.",
            cfg.name,
            cfg.servers[srv].name,
            describe_outcome(o),
            active,
            backup,
            st.queued.load(Ordering::Relaxed)
        )
    } else {
        format!(
            "Server {}/{} is DOWN, {}. {} active and {} backup servers left. {} sessions active, 0 requeued, {} remaining in queue.",
            cfg.name,
            cfg.servers[srv].name,
            describe_outcome(o),
            active,
            backup,
            st.cur(),
            st.queued.load(Ordering::Relaxed)
        )
    };
    // HAProxy: syslog alert for DOWN, notice for UP; both are warnings on stderr.
    let level = if up { 5 } else { 1 };
    emit(w, be, level, "WARNING", &msg);
    if !up && active + backup == 0 {
        emit(
            w,
            be,
            0,
            "ALERT",
            &format!("backend '{}' has no server available!", cfg.name),
        );
    }
}

fn report_progress<D: Driver>(
    w: &Worker<D>,
    be: usize,
    srv: usize,
    up: bool,
    oks: u32,
    fails: u32,
    o: &Outcome,
) {
    let cfg = &w.shared.config.backends[be];
    let s = &cfg.servers[srv];
    let msg = if up {
        format!(
            "Health check for server {}/{} failed, {}, status: {}/{} UP.",
            cfg.name,
            s.name,
            describe_outcome(o),
            s.fall.saturating_sub(fails),
            s.fall
        )
    } else {
        format!(
            "Health check for server {}/{} succeeded, {}, status: {}/{} DOWN.",
            cfg.name,
            s.name,
            describe_outcome(o),
            oks,
            s.rise
        )
    };
    emit(w, be, 5, "WARNING", &msg);
}

/// Send a process message to the backend's loggers at syslog `level`, and to stderr
/// with `tag` (HAProxy prints these on stderr in the foreground).
fn emit<D: Driver>(w: &Worker<D>, be: usize, level: u8, tag: &str, msg: &str) {
    let pad = " ".repeat(8usize.saturating_sub(tag.len() + 1));
    eprintln!("[{tag}]{pad}({}) : {msg}", std::process::id());
    if let Some(sink) = &w.backend_logs[be] {
        sink.send(level, msg.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_expectations() {
        let mut h = HttpCheck::default();
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let bad = b"HTTP/1.1 503 Service Unavailable\r\n\r\n";
        assert!(evaluate_http(&h, ok).ok);
        assert!(!evaluate_http(&h, bad).ok);
        assert_eq!(evaluate_http(&h, bad).status, "L7STS");
        h.expect = Some(CheckExpect::Status(vec![(503, 503)]));
        assert!(evaluate_http(&h, bad).ok);
        h.expect = Some(CheckExpect::String("ok".into()));
        assert!(evaluate_http(&h, ok).ok);
        h.expect_negated = true;
        assert!(!evaluate_http(&h, ok).ok);
        assert_eq!(evaluate_http(&h, b"garbage").status, "L7RSP");
    }
}
