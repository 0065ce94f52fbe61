//! The Prometheus exporter (`http-request use-service prometheus-exporter`): the
//! process, frontend, backend and server counters in Prometheus' text exposition
//! format (version 0.0.4), under the metric names and labels of HAProxy's exporter
//! (`haproxy_process_*`, `haproxy_frontend_*{proxy}`, `haproxy_backend_*{proxy}`,
//! `haproxy_server_*{proxy,server}`), plus latency histograms HAProxy does not have
//! (`sluice_backend_*_time_seconds{proxy}`, `sluice_server_*_time_seconds{proxy,server}`).
//!
//! Owns: [`gather`] (every worker's snapshot, asked through the mailboxes from a
//! session task, bounded wait) and [`render`] (the page, a pure function of the
//! shared state and the snapshots).
//!
//! Invariants: the exporter never blocks a worker — the worker serving the page
//! awaits the snapshots like any other event, its own included (its loop answers its
//! own mailbox between two turns); a worker that does not answer within [`WAIT`] is
//! left out of the sums. Every family is announced once (`# HELP`, `# TYPE`) before
//! its samples; label values are escaped.

use std::fmt::{Display, Write};
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use super::WorkerSnapshot;
use crate::proxy::latency::{Histogram, BOUNDS_US};
use crate::proxy::shared::ServerState;
use crate::proxy::stats::{ConnRow, Counters, WorkerStats};
use crate::proxy::{Message, Shared};
use crate::runtime::Timer;

/// How long the page waits for the workers' snapshots.
pub const WAIT: Duration = Duration::from_secs(1);

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
struct Gathered {
    snaps: Vec<WorkerSnapshot>,
    waker: Option<Waker>,
}

/// Ask every worker (this one included) for a snapshot; resolves when all answered
/// or after [`WAIT`], with the snapshots sorted by worker id.
pub async fn gather(shared: &Shared) -> Vec<WorkerSnapshot> {
    let Some(peers) = shared.peers.get() else {
        return Vec::new();
    };
    let state = Arc::new(Mutex::new(Gathered::default()));
    let mut asked = 0;
    for m in peers {
        let st = state.clone();
        let msg = Message::Snapshot(Box::new(move |s| {
            let mut g = st.lock().unwrap_or_else(|e| e.into_inner());
            g.snaps.push(s);
            if let Some(w) = g.waker.take() {
                w.wake();
            }
        }));
        if m.send(msg).is_ok() {
            asked += 1;
        }
    }
    let mut timer = Timer::new();
    timer.set_after(Some(WAIT));
    let mut snaps = poll_fn(|cx| {
        let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
        if g.snaps.len() >= asked || timer.poll_expired(cx).is_ready() {
            return Poll::Ready(std::mem::take(&mut g.snaps));
        }
        g.waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await;
    snaps.sort_by_key(|s| s.id);
    snaps
}

/// Escape a label value (backslash, double quote, line feed).
fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// The page being written.
struct Page {
    out: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample; `labels` is empty or `k="v",…` (already escaped).
    fn sample(&mut self, name: &str, labels: &str, v: impl Display) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {v}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {v}");
        }
    }

    /// A family with one sample per row.
    fn rows<V: Display>(&mut self, name: &str, kind: &str, help: &str, rows: &[(String, V)]) {
        if rows.is_empty() {
            return;
        }
        self.family(name, kind, help);
        for (l, v) in rows {
            self.sample(name, l, v);
        }
    }

    /// `http_responses_total{code}` for each row.
    fn responses(&mut self, name: &str, rows: &[(String, &Counters)]) {
        if rows.is_empty() {
            return;
        }
        self.family(name, "counter", "HTTP responses by status class.");
        for (l, c) in rows {
            for (i, code) in ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]
                .iter()
                .enumerate()
            {
                self.sample(name, &format!("{l},code=\"{code}\""), c.hrsp[i]);
            }
        }
    }

    /// A one-hot `state` gauge: 1 for the current state, 0 for the others.
    fn states(&mut self, name: &str, help: &str, states: &[&str], rows: &[(String, &str)]) {
        if rows.is_empty() {
            return;
        }
        self.family(name, "gauge", help);
        for (l, cur) in rows {
            for s in states {
                self.sample(name, &format!("{l},state=\"{s}\""), u8::from(s == cur));
            }
        }
    }

    fn histograms(&mut self, prefix: &str, rows: &[(String, &Counters)]) {
        if rows.is_empty() {
            return;
        }
        for (i, (what, help)) in [
            ("queue", "Time spent waiting for a server slot"),
            ("connect", "Time spent connecting to the server"),
            ("response", "Time from connected to response head received"),
            ("total", "Time from the request's first byte to the end"),
        ]
        .iter()
        .enumerate()
        {
            let name = format!("{prefix}_{what}_time_seconds");
            self.family(&name, "histogram", &format!("{help} (seconds)."));
            for (l, c) in rows {
                let h: &Histogram = c.latency.named()[i].1;
                let cum = h.cumulative();
                for (k, b) in BOUNDS_US.iter().enumerate() {
                    let le = *b as f64 / 1e6;
                    self.sample(
                        &format!("{name}_bucket"),
                        &format!("{l},le=\"{le}\""),
                        cum[k],
                    );
                }
                self.sample(
                    &format!("{name}_bucket"),
                    &format!("{l},le=\"+Inf\""),
                    h.count,
                );
                self.sample(&format!("{name}_sum"), l, h.sum_us as f64 / 1e6);
                self.sample(&format!("{name}_count"), l, h.count);
            }
        }
    }
}

/// The workers' counters summed.
pub(crate) fn totals(sh: &Shared, snaps: &[WorkerSnapshot]) -> WorkerStats {
    let per_backend: Vec<usize> = sh.config.backends.iter().map(|b| b.servers.len()).collect();
    let mut t = WorkerStats::new(sh.config.frontends.len(), &per_backend);
    for s in snaps {
        t.merge(&s.stats);
    }
    t
}

/// The `show servers conn` rows of every server, summed over the workers.
fn conn_rows(sh: &Shared, snaps: &[WorkerSnapshot]) -> Vec<Vec<ConnRow>> {
    let cfg = &sh.config;
    let mut rows: Vec<Vec<ConnRow>> = cfg
        .backends
        .iter()
        .map(|b| {
            (0..b.servers.len())
                .map(|i| ConnRow::for_server(b, i, sh.nbthread))
                .collect()
        })
        .collect();
    for s in snaps {
        for (rb, sb) in rows.iter_mut().zip(&s.conns) {
            for (r, o) in rb.iter_mut().zip(sb) {
                r.merge(o);
            }
        }
    }
    rows
}

/// HAProxy's check states, in its exporter's order.
const CHECK_STATES: &[&str] = &[
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// What a metric reads: the shared state, the summed counters, the pool rows.
struct Src<'a> {
    sh: &'a Shared,
    t: &'a WorkerStats,
    conns: &'a [Vec<ConnRow>],
    /// The monotonic clock rates are read against.
    now: u64,
}

impl Src<'_> {
    fn st(&self, (b, s): (usize, usize)) -> &ServerState {
        &self.sh.servers[b][s]
    }
    fn srv(&self, (b, s): (usize, usize)) -> &Counters {
        &self.t.servers[b][s]
    }
    fn pool(&self, (b, s): (usize, usize)) -> &ConnRow {
        &self.conns[b][s]
    }
    /// Sum of a figure over a backend's servers.
    fn sum(&self, b: usize, f: impl Fn(&ServerState) -> u64) -> u64 {
        self.sh.servers[b].iter().map(|s| f(s)).sum()
    }
    /// Usable servers of a backend, backup or active.
    fn usable(&self, b: usize, backup: bool) -> u64 {
        let servers = &self.sh.config.backends[b].servers;
        let states = &self.sh.servers[b];
        servers
            .iter()
            .zip(states)
            .filter(|(s, st)| s.backup == backup && st.usable())
            .count() as u64
    }
}

/// A metric: name suffix, type, help, value for one proxy or server.
type Metric<K> = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Src<'_>, K) -> u64,
);

const G: &str = "gauge";
const C: &str = "counter";

fn ld(a: &std::sync::atomic::AtomicU32) -> u64 {
    u64::from(a.load(Ordering::Relaxed))
}

// The tables keep one metric a line (`rustfmt::skip`): name after the prefix, type,
// help, value.
#[rustfmt::skip]
const FRONTEND: &[Metric<usize>] = &[
    ("current_sessions", G, "Sessions open now.", |v, i| u64::from(v.sh.frontends[i].cur())),
    ("max_sessions", G, "Most sessions open at once.", |v, i| ld(&v.sh.frontends[i].max_conns)),
    ("limit_sessions", G, "Session limit (maxconn).", |v, i| u64::from(v.sh.config.frontends[i].maxconn.unwrap_or(v.sh.maxconn))),
    ("sessions_total", C, "Sessions handled.", |v, i| v.sh.frontends[i].cum_conns.load(Ordering::Relaxed)),
    ("bytes_in_total", C, "Bytes received from clients.", |v, i| v.t.frontends[i].bytes_in),
    ("bytes_out_total", C, "Bytes sent to clients.", |v, i| v.t.frontends[i].bytes_out),
    ("requests_denied_total", C, "Requests denied by rules.", |v, i| v.t.frontends[i].denied),
    ("request_errors_total", C, "Invalid requests.", |v, i| v.t.frontends[i].invalid),
    ("http_requests_total", C, "HTTP requests received.", |v, i| v.t.frontends[i].requests),
    ("connections_total", C, "Connections accepted.", |v, i| v.sh.frontends[i].cum_conns.load(Ordering::Relaxed)),
    ("current_session_rate", G, "Sessions per second (last second).", |v, i| u64::from(v.t.frontends[i].sess_rate.read(v.now))),
    ("max_session_rate", G, "Highest sessions per second seen.", |v, i| u64::from(v.t.frontends[i].sess_rate.max)),
    ("http_requests_rate_max", G, "Highest HTTP requests per second seen.", |v, i| u64::from(v.t.frontends[i].req_rate.max)),
];

#[rustfmt::skip]
const BACKEND: &[Metric<usize>] = &[
    ("current_sessions", G, "Server connections in use now.", |v, b| v.sum(b, |s| u64::from(s.cur()))),
    ("max_sessions", G, "Most connections in use at once on one of its servers.", |v, b| v.sh.servers[b].iter().map(|s| ld(&s.max_conns)).max().unwrap_or(0)),
    ("sessions_total", C, "Requests sent to servers.", |v, b| v.t.backends[b].connects + v.t.backends[b].reuses),
    ("current_session_rate", G, "Requests sent to servers per second (last second).", |v, b| u64::from(v.t.backends[b].sess_rate.read(v.now))),
    ("max_session_rate", G, "Highest requests per second sent to servers.", |v, b| u64::from(v.t.backends[b].sess_rate.max)),
    ("bytes_in_total", C, "Bytes received from clients.", |v, b| v.t.backends[b].bytes_in),
    ("bytes_out_total", C, "Bytes sent to clients.", |v, b| v.t.backends[b].bytes_out),
    ("current_queue", G, "Requests waiting for a server now.", |v, b| u64::from(v.sh.queues[b].len())),
    ("connection_errors_total", C, "Failed connection attempts.", |v, b| v.t.backends[b].connect_errors),
    ("response_errors_total", C, "Invalid responses.", |v, b| v.t.backends[b].invalid),
    ("retry_warnings_total", C, "Connection retries.", |v, b| v.t.backends[b].retries),
    ("redispatch_warnings_total", C, "Requests redispatched.", |v, b| v.t.backends[b].redispatches),
    ("weight", G, "Total weight of the usable servers.", |v, b| v.sum(b, |s| if s.usable() { ld(&s.weight) } else { 0 })),
    ("active_servers", G, "Usable active servers.", |v, b| v.usable(b, false)),
    ("backup_servers", G, "Usable backup servers.", |v, b| v.usable(b, true)),
    ("loadbalanced_total", C, "Times a server was picked.", |v, b| v.t.backends[b].connects + v.t.backends[b].reuses),
    ("http_requests_total", C, "HTTP requests sent to servers.", |v, b| v.t.backends[b].connects + v.t.backends[b].reuses),
    ("connection_attempts_total", C, "Connections opened to servers.", |v, b| v.t.backends[b].connects),
    ("connection_reuses_total", C, "Requests sent over a reused connection.", |v, b| v.t.backends[b].reuses),
];

#[rustfmt::skip]
const SERVER: &[Metric<(usize, usize)>] = &[
    ("current_queue", G, "Requests waiting for this server now.", |v, k| ld(&v.st(k).queued)),
    ("current_sessions", G, "Connections in use now.", |v, k| u64::from(v.st(k).cur())),
    ("max_sessions", G, "Most connections in use at once.", |v, k| ld(&v.st(k).max_conns)),
    ("sessions_total", C, "Requests sent to this server.", |v, k| v.srv(k).connects + v.srv(k).reuses),
    ("current_session_rate", G, "Requests per second (last second).", |v, k| u64::from(v.srv(k).sess_rate.read(v.now))),
    ("max_session_rate", G, "Highest requests per second seen.", |v, k| u64::from(v.srv(k).sess_rate.max)),
    ("bytes_in_total", C, "Bytes received from clients.", |v, k| v.srv(k).bytes_in),
    ("bytes_out_total", C, "Bytes sent to clients.", |v, k| v.srv(k).bytes_out),
    ("connection_errors_total", C, "Failed connection attempts.", |v, k| v.srv(k).connect_errors),
    ("response_errors_total", C, "Invalid responses.", |v, k| v.srv(k).invalid),
    ("retry_warnings_total", C, "Connection retries.", |v, k| v.srv(k).retries),
    ("redispatch_warnings_total", C, "Requests redispatched.", |v, k| v.srv(k).redispatches),
    ("weight", G, "Current weight.", |v, k| ld(&v.st(k).weight)),
    ("loadbalanced_total", C, "Times this server was picked.", |v, k| v.srv(k).connects + v.srv(k).reuses),
    ("connection_attempts_total", C, "Connections opened.", |v, k| v.srv(k).connects),
    ("connection_reuses_total", C, "Requests over a reused connection.", |v, k| v.srv(k).reuses),
    ("idle_connections_current", G, "Idle connections in the pool.", |v, k| u64::from(v.pool(k).idle_cur)),
    ("unsafe_idle_connections_current", G, "Idle connections never reused.", |v, k| u64::from(v.pool(k).unsafe_nb)),
    ("safe_idle_connections_current", G, "Idle connections already reused.", |v, k| u64::from(v.pool(k).safe_nb)),
    ("used_connections_current", G, "Connections in use now.", |v, k| u64::from(v.pool(k).used_cur)),
    ("need_connections_current", G, "Estimated connections needed.", |v, k| u64::from(v.pool(k).need_est)),
];

/// One family per metric of `table`, one sample per key.
fn table<K: Copy>(
    p: &mut Page,
    v: &Src<'_>,
    prefix: &str,
    table: &[Metric<K>],
    keys: &[(String, K)],
) {
    if keys.is_empty() {
        return;
    }
    for (name, kind, help, get) in table {
        let name = format!("{prefix}_{name}");
        p.family(&name, kind, help);
        for (l, k) in keys {
            p.sample(&name, l, get(v, *k));
        }
    }
}

/// The whole page, from the shared state and the workers' snapshots.
pub fn render(sh: &Shared, snaps: &[WorkerSnapshot], version: &str) -> String {
    let cfg = &sh.config;
    let t = totals(sh, snaps);
    let conns = conn_rows(sh, snaps);
    let v = Src {
        sh,
        t: &t,
        conns: &conns,
        now: crate::runtime::clock::update(),
    };
    let mut p = Page {
        out: String::with_capacity(64 * 1024),
    };

    // Process.
    let requests: u64 = t.frontends.iter().map(|c| c.requests).sum();
    for (name, kind, help, val) in [
        (
            "nbthread",
            G,
            "Number of worker threads.",
            sh.nbthread as u64,
        ),
        (
            "uptime_seconds",
            G,
            "Seconds since the process started.",
            sh.started.elapsed().as_secs(),
        ),
        (
            "start_time_seconds",
            G,
            "Start time, seconds since the epoch.",
            sh.started_wall,
        ),
        (
            "max_connections",
            G,
            "The process' connection limit (maxconn).",
            u64::from(sh.maxconn),
        ),
        (
            "current_connections",
            G,
            "Client connections open now.",
            u64::from(sh.process.cur()),
        ),
        ("connections_total", C, "Client connections accepted.", {
            sh.process.cum_conns.load(Ordering::Relaxed)
        }),
        ("requests_total", C, "HTTP requests received.", requests),
        (
            "stopping",
            G,
            "1 while the process is stopping.",
            u64::from(sh.is_stopping()),
        ),
    ] {
        let name = format!("haproxy_process_{name}");
        p.family(&name, kind, help);
        p.sample(&name, "", val);
    }
    let name = "haproxy_process_build_info";
    p.family(name, G, "Build information (the version label).");
    p.sample(name, &format!("version=\"{}\"", escape(version)), 1);

    // Frontends.
    let fk: Vec<(String, usize)> = cfg
        .frontends
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("proxy=\"{}\"", escape(&f.name)), i))
        .collect();
    let fstate: Vec<(String, &str)> = fk
        .iter()
        .map(|(l, i)| {
            let down = cfg.frontends[*i].disabled || sh.is_stopping();
            (l.clone(), if down { "DOWN" } else { "UP" })
        })
        .collect();
    p.states(
        "haproxy_frontend_status",
        "Current status of the frontend.",
        &["DOWN", "UP"],
        &fstate,
    );
    table(&mut p, &v, "haproxy_frontend", FRONTEND, &fk);
    let fc: Vec<(String, &Counters)> = fk
        .iter()
        .map(|(l, i)| (l.clone(), &t.frontends[*i]))
        .collect();
    p.responses("haproxy_frontend_http_responses_total", &fc);

    // Backends.
    let bk: Vec<(String, usize)> = cfg
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("proxy=\"{}\"", escape(&b.name)), i))
        .collect();
    let bstate: Vec<(String, &str)> = bk
        .iter()
        .map(|(l, i)| (l.clone(), if sh.nbsrv(*i) > 0 { "UP" } else { "DOWN" }))
        .collect();
    p.states(
        "haproxy_backend_status",
        "Current status of the backend.",
        &["DOWN", "UP"],
        &bstate,
    );
    table(&mut p, &v, "haproxy_backend", BACKEND, &bk);
    let bc: Vec<(String, &Counters)> = bk
        .iter()
        .map(|(l, i)| (l.clone(), &t.backends[*i]))
        .collect();
    p.responses("haproxy_backend_http_responses_total", &bc);

    // Servers.
    let mut sk: Vec<(String, (usize, usize))> = Vec::new();
    for (bi, b) in cfg.backends.iter().enumerate() {
        for si in 0..b.servers.len() {
            if !sh.server_live(bi, si) {
                continue;
            }
            sk.push((
                format!("{},server=\"{}\"", bk[bi].0, escape(sh.server_name(bi, si))),
                (bi, si),
            ));
        }
    }
    let sstate: Vec<(String, &str)> = sk
        .iter()
        .map(|(l, k)| {
            let st = v.st(*k);
            let state = if st.maint.load(Ordering::Relaxed) {
                "MAINT"
            } else if st.drain.load(Ordering::Relaxed) {
                "DRAIN"
            } else if !cfg.backends[k.0].servers[k.1].check || st.up.load(Ordering::Relaxed) {
                "UP"
            } else {
                "DOWN"
            };
            (l.clone(), state)
        })
        .collect();
    let states = &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
    p.states(
        "haproxy_server_status",
        "Current status of the server.",
        states,
        &sstate,
    );
    table(&mut p, &v, "haproxy_server", SERVER, &sk);
    let limits: Vec<(String, i64)> = sk
        .iter()
        .map(|(l, k)| (l.clone(), i64::from(v.pool(*k).idle_lim)))
        .collect();
    let help = "Idle connection limit (pool-max-conn, -1: none).";
    p.rows("haproxy_server_idle_connections_limit", G, help, &limits);
    let checked: Vec<(String, &'static str, u64)> = sk
        .iter()
        .filter(|(_, k)| cfg.backends[k.0].servers[k.1].check)
        .map(|(l, k)| {
            let r = v
                .st(*k)
                .last_check
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default();
            (l.clone(), r.status, u64::from(r.code.unwrap_or(0)))
        })
        .collect();
    let cs: Vec<(String, &str)> = checked.iter().map(|(l, s, _)| (l.clone(), *s)).collect();
    p.states(
        "haproxy_server_check_status",
        "Status of the last health check.",
        CHECK_STATES,
        &cs,
    );
    let codes: Vec<(String, u64)> = checked.iter().map(|(l, _, c)| (l.clone(), *c)).collect();
    let help = "Layer 7 code of the last health check (0: none).";
    p.rows("haproxy_server_check_code", G, help, &codes);
    let sc: Vec<(String, &Counters)> = sk.iter().map(|(l, k)| (l.clone(), v.srv(*k))).collect();
    p.responses("haproxy_server_http_responses_total", &sc);

    // sluice's latency histograms.
    p.histograms("sluice_backend", &bc);
    p.histograms("sluice_server", &sc);
    p.out
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
