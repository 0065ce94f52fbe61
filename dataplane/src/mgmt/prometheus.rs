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
fn totals(sh: &Shared, snaps: &[WorkerSnapshot]) -> WorkerStats {
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

/// The whole page, from the shared state and the workers' snapshots.
pub fn render(sh: &Shared, snaps: &[WorkerSnapshot], version: &str) -> String {
    let cfg = &sh.config;
    let t = totals(sh, snaps);
    let conns = conn_rows(sh, snaps);
    let mut p = Page {
        out: String::with_capacity(64 * 1024),
    };

    // Process.
    let uptime = sh.started.elapsed().as_secs();
    let requests: u64 = t.frontends.iter().map(|c| c.requests).sum();
    let one = |v: u64| vec![(String::new(), v)];
    p.rows(
        "haproxy_process_nbthread",
        "gauge",
        "Number of worker threads.",
        &one(sh.nbthread as u64),
    );
    p.rows(
        "haproxy_process_uptime_seconds",
        "gauge",
        "Seconds since the process started.",
        &one(uptime),
    );
    p.rows(
        "haproxy_process_start_time_seconds",
        "gauge",
        "Start time of the process, seconds since the epoch.",
        &one(sh.started_wall),
    );
    p.rows(
        "haproxy_process_max_connections",
        "gauge",
        "The process' connection limit (maxconn).",
        &one(u64::from(sh.maxconn)),
    );
    p.rows(
        "haproxy_process_current_connections",
        "gauge",
        "Client connections open now.",
        &one(u64::from(sh.process.cur())),
    );
    p.rows(
        "haproxy_process_connections_total",
        "counter",
        "Client connections accepted.",
        &one(sh.process.cum_conns.load(Ordering::Relaxed)),
    );
    p.rows(
        "haproxy_process_requests_total",
        "counter",
        "HTTP requests received.",
        &one(requests),
    );
    p.rows(
        "haproxy_process_stopping",
        "gauge",
        "1 while the process is stopping.",
        &one(u64::from(sh.is_stopping())),
    );
    p.rows(
        "haproxy_process_build_info",
        "gauge",
        "Build information (the version label).",
        &[(format!("version=\"{}\"", escape(version)), 1)],
    );

    // Frontends.
    let fl: Vec<String> = cfg
        .frontends
        .iter()
        .map(|f| format!("proxy=\"{}\"", escape(&f.name)))
        .collect();
    let fe = |f: &dyn Fn(usize) -> u64| -> Vec<(String, u64)> {
        fl.iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), f(i)))
            .collect()
    };
    let fstate: Vec<(String, &str)> = cfg
        .frontends
        .iter()
        .zip(&fl)
        .map(|(f, l)| {
            (
                l.clone(),
                if f.disabled || sh.is_stopping() {
                    "DOWN"
                } else {
                    "UP"
                },
            )
        })
        .collect();
    p.states(
        "haproxy_frontend_status",
        "Current status of the frontend.",
        &["DOWN", "UP"],
        &fstate,
    );
    p.rows(
        "haproxy_frontend_current_sessions",
        "gauge",
        "Sessions open now.",
        &fe(&|i| u64::from(sh.frontends[i].cur())),
    );
    p.rows(
        "haproxy_frontend_max_sessions",
        "gauge",
        "Most sessions open at once.",
        &fe(&|i| u64::from(sh.frontends[i].max_conns.load(Ordering::Relaxed))),
    );
    p.rows(
        "haproxy_frontend_limit_sessions",
        "gauge",
        "Session limit (maxconn).",
        &fe(&|i| u64::from(cfg.frontends[i].maxconn.unwrap_or(sh.maxconn))),
    );
    p.rows(
        "haproxy_frontend_sessions_total",
        "counter",
        "Sessions handled.",
        &fe(&|i| sh.frontends[i].cum_conns.load(Ordering::Relaxed)),
    );
    p.rows(
        "haproxy_frontend_bytes_in_total",
        "counter",
        "Bytes received from clients.",
        &fe(&|i| t.frontends[i].bytes_in),
    );
    p.rows(
        "haproxy_frontend_bytes_out_total",
        "counter",
        "Bytes sent to clients.",
        &fe(&|i| t.frontends[i].bytes_out),
    );
    p.rows(
        "haproxy_frontend_requests_denied_total",
        "counter",
        "Requests denied by rules.",
        &fe(&|i| t.frontends[i].denied),
    );
    p.rows(
        "haproxy_frontend_request_errors_total",
        "counter",
        "Invalid requests.",
        &fe(&|i| t.frontends[i].invalid),
    );
    p.rows(
        "haproxy_frontend_http_requests_total",
        "counter",
        "HTTP requests received.",
        &fe(&|i| t.frontends[i].requests),
    );
    let fc: Vec<(String, &Counters)> = fl.iter().cloned().zip(&t.frontends).collect();
    p.responses("haproxy_frontend_http_responses_total", &fc);
    p.rows(
        "haproxy_frontend_connections_total",
        "counter",
        "Connections accepted.",
        &fe(&|i| sh.frontends[i].cum_conns.load(Ordering::Relaxed)),
    );

    // Backends.
    let bl: Vec<String> = cfg
        .backends
        .iter()
        .map(|b| format!("proxy=\"{}\"", escape(&b.name)))
        .collect();
    let be = |f: &dyn Fn(usize) -> u64| -> Vec<(String, u64)> {
        bl.iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), f(i)))
            .collect()
    };
    let usable = |b: usize, backup: bool| -> u64 {
        cfg.backends[b]
            .servers
            .iter()
            .zip(&sh.servers[b])
            .filter(|(s, st)| s.backup == backup && st.usable())
            .count() as u64
    };
    let bstate: Vec<(String, &str)> = bl
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), if sh.nbsrv(i) > 0 { "UP" } else { "DOWN" }))
        .collect();
    let srv_sum = |b: usize, f: &dyn Fn(&crate::proxy::shared::ServerState) -> u64| -> u64 {
        sh.servers[b].iter().map(|s| f(s)).sum()
    };
    p.states(
        "haproxy_backend_status",
        "Current status of the backend.",
        &["DOWN", "UP"],
        &bstate,
    );
    p.rows(
        "haproxy_backend_current_sessions",
        "gauge",
        "Server connections in use now.",
        &be(&|i| srv_sum(i, &|s| u64::from(s.cur()))),
    );
    p.rows(
        "haproxy_backend_max_sessions",
        "gauge",
        "Most server connections in use at once (largest of its servers).",
        &be(&|i| {
            sh.servers[i]
                .iter()
                .map(|s| u64::from(s.max_conns.load(Ordering::Relaxed)))
                .max()
                .unwrap_or(0)
        }),
    );
    p.rows(
        "haproxy_backend_sessions_total",
        "counter",
        "Requests sent to servers.",
        &be(&|i| t.backends[i].connects + t.backends[i].reuses),
    );
    p.rows(
        "haproxy_backend_bytes_in_total",
        "counter",
        "Bytes received from clients.",
        &be(&|i| t.backends[i].bytes_in),
    );
    p.rows(
        "haproxy_backend_bytes_out_total",
        "counter",
        "Bytes sent to clients.",
        &be(&|i| t.backends[i].bytes_out),
    );
    p.rows(
        "haproxy_backend_current_queue",
        "gauge",
        "Requests waiting for a server now.",
        &be(&|i| u64::from(sh.queues[i].len())),
    );
    p.rows(
        "haproxy_backend_connection_errors_total",
        "counter",
        "Failed connection attempts.",
        &be(&|i| t.backends[i].connect_errors),
    );
    p.rows(
        "haproxy_backend_response_errors_total",
        "counter",
        "Invalid responses.",
        &be(&|i| t.backends[i].invalid),
    );
    p.rows(
        "haproxy_backend_retry_warnings_total",
        "counter",
        "Connection retries.",
        &be(&|i| t.backends[i].retries),
    );
    p.rows(
        "haproxy_backend_redispatch_warnings_total",
        "counter",
        "Requests redispatched to another server.",
        &be(&|i| t.backends[i].redispatches),
    );
    p.rows(
        "haproxy_backend_weight",
        "gauge",
        "Total weight of the usable servers.",
        &be(&|i| {
            srv_sum(i, &|s| {
                if s.usable() {
                    u64::from(s.weight.load(Ordering::Relaxed))
                } else {
                    0
                }
            })
        }),
    );
    p.rows(
        "haproxy_backend_active_servers",
        "gauge",
        "Usable active servers.",
        &be(&|i| usable(i, false)),
    );
    p.rows(
        "haproxy_backend_backup_servers",
        "gauge",
        "Usable backup servers.",
        &be(&|i| usable(i, true)),
    );
    p.rows(
        "haproxy_backend_loadbalanced_total",
        "counter",
        "Times a server was picked.",
        &be(&|i| t.backends[i].connects + t.backends[i].reuses),
    );
    p.rows(
        "haproxy_backend_http_requests_total",
        "counter",
        "HTTP requests sent to servers.",
        &be(&|i| t.backends[i].connects + t.backends[i].reuses),
    );
    let bc: Vec<(String, &Counters)> = bl.iter().cloned().zip(&t.backends).collect();
    p.responses("haproxy_backend_http_responses_total", &bc);
    p.rows(
        "haproxy_backend_connection_attempts_total",
        "counter",
        "Connections opened to servers.",
        &be(&|i| t.backends[i].connects),
    );
    p.rows(
        "haproxy_backend_connection_reuses_total",
        "counter",
        "Requests sent over a reused connection.",
        &be(&|i| t.backends[i].reuses),
    );

    // Servers.
    let mut sl: Vec<(String, usize, usize)> = Vec::new();
    for (bi, b) in cfg.backends.iter().enumerate() {
        for (si, s) in b.servers.iter().enumerate() {
            sl.push((format!("{},server=\"{}\"", bl[bi], escape(&s.name)), bi, si));
        }
    }
    let sv = |f: &dyn Fn(usize, usize) -> u64| -> Vec<(String, u64)> {
        sl.iter().map(|(l, b, s)| (l.clone(), f(*b, *s))).collect()
    };
    let st = |b: usize, s: usize| &sh.servers[b][s];
    let c = |b: usize, s: usize| &t.servers[b][s];
    let sstate: Vec<(String, &str)> = sl
        .iter()
        .map(|(l, b, s)| {
            let x = st(*b, *s);
            let state = if x.maint.load(Ordering::Relaxed) {
                "MAINT"
            } else if x.drain.load(Ordering::Relaxed) {
                "DRAIN"
            } else if !cfg.backends[*b].servers[*s].check || x.up.load(Ordering::Relaxed) {
                "UP"
            } else {
                "DOWN"
            };
            (l.clone(), state)
        })
        .collect();
    p.rows(
        "haproxy_server_current_queue",
        "gauge",
        "Requests waiting for this server now.",
        &sv(&|b, s| u64::from(st(b, s).queued.load(Ordering::Relaxed))),
    );
    p.rows(
        "haproxy_server_current_sessions",
        "gauge",
        "Connections in use now.",
        &sv(&|b, s| u64::from(st(b, s).cur())),
    );
    p.rows(
        "haproxy_server_max_sessions",
        "gauge",
        "Most connections in use at once.",
        &sv(&|b, s| u64::from(st(b, s).max_conns.load(Ordering::Relaxed))),
    );
    p.rows(
        "haproxy_server_sessions_total",
        "counter",
        "Requests sent to this server.",
        &sv(&|b, s| c(b, s).connects + c(b, s).reuses),
    );
    p.rows(
        "haproxy_server_bytes_in_total",
        "counter",
        "Bytes received from clients.",
        &sv(&|b, s| c(b, s).bytes_in),
    );
    p.rows(
        "haproxy_server_bytes_out_total",
        "counter",
        "Bytes sent to clients.",
        &sv(&|b, s| c(b, s).bytes_out),
    );
    p.rows(
        "haproxy_server_connection_errors_total",
        "counter",
        "Failed connection attempts.",
        &sv(&|b, s| c(b, s).connect_errors),
    );
    p.rows(
        "haproxy_server_response_errors_total",
        "counter",
        "Invalid responses.",
        &sv(&|b, s| c(b, s).invalid),
    );
    p.rows(
        "haproxy_server_retry_warnings_total",
        "counter",
        "Connection retries.",
        &sv(&|b, s| c(b, s).retries),
    );
    p.rows(
        "haproxy_server_redispatch_warnings_total",
        "counter",
        "Requests redispatched away from this server.",
        &sv(&|b, s| c(b, s).redispatches),
    );
    p.states(
        "haproxy_server_status",
        "Current status of the server.",
        &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"],
        &sstate,
    );
    p.rows(
        "haproxy_server_weight",
        "gauge",
        "Current weight.",
        &sv(&|b, s| u64::from(st(b, s).weight.load(Ordering::Relaxed))),
    );
    p.rows(
        "haproxy_server_loadbalanced_total",
        "counter",
        "Times this server was picked.",
        &sv(&|b, s| c(b, s).connects + c(b, s).reuses),
    );
    let checked: Vec<(String, String, Option<u16>)> = sl
        .iter()
        .filter(|(_, b, s)| cfg.backends[*b].servers[*s].check)
        .map(|(l, b, s)| {
            let r = st(*b, *s)
                .last_check
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default();
            (l.clone(), r.status.to_string(), r.code)
        })
        .collect();
    let cs: Vec<(String, &str)> = checked
        .iter()
        .map(|(l, s, _)| (l.clone(), s.as_str()))
        .collect();
    p.states(
        "haproxy_server_check_status",
        "Status of the last health check.",
        CHECK_STATES,
        &cs,
    );
    let codes: Vec<(String, u64)> = checked
        .iter()
        .map(|(l, _, c)| (l.clone(), u64::from(c.unwrap_or(0))))
        .collect();
    p.rows(
        "haproxy_server_check_code",
        "gauge",
        "Layer 7 code of the last health check (0 if none).",
        &codes,
    );
    let sc: Vec<(String, &Counters)> = sl.iter().map(|(l, b, s)| (l.clone(), c(*b, *s))).collect();
    p.responses("haproxy_server_http_responses_total", &sc);
    p.rows(
        "haproxy_server_connection_attempts_total",
        "counter",
        "Connections opened to this server.",
        &sv(&|b, s| c(b, s).connects),
    );
    p.rows(
        "haproxy_server_connection_reuses_total",
        "counter",
        "Requests sent over a reused connection.",
        &sv(&|b, s| c(b, s).reuses),
    );
    let cr = |b: usize, s: usize| &conns[b][s];
    p.rows(
        "haproxy_server_idle_connections_current",
        "gauge",
        "Idle connections in the pool.",
        &sv(&|b, s| u64::from(cr(b, s).idle_cur)),
    );
    p.rows(
        "haproxy_server_idle_connections_limit",
        "gauge",
        "Idle connection limit (pool-max-conn, -1: none).",
        &sl.iter()
            .map(|(l, b, s)| (l.clone(), i64::from(cr(*b, *s).idle_lim)))
            .collect::<Vec<_>>(),
    );
    p.rows(
        "haproxy_server_unsafe_idle_connections_current",
        "gauge",
        "Idle connections never reused yet.",
        &sv(&|b, s| u64::from(cr(b, s).unsafe_nb)),
    );
    p.rows(
        "haproxy_server_safe_idle_connections_current",
        "gauge",
        "Idle connections already reused.",
        &sv(&|b, s| u64::from(cr(b, s).safe_nb)),
    );
    p.rows(
        "haproxy_server_used_connections_current",
        "gauge",
        "Connections in use now.",
        &sv(&|b, s| u64::from(cr(b, s).used_cur)),
    );
    p.rows(
        "haproxy_server_need_connections_current",
        "gauge",
        "Estimated connections needed.",
        &sv(&|b, s| u64::from(cr(b, s).need_est)),
    );

    // sluice's latency histograms.
    p.histograms("sluice_backend", &bc);
    p.histograms("sluice_server", &sc);
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::latency::Timings;
    use crate::proxy::stats::TxnEnd;

    fn shared() -> Arc<Shared> {
        let cfg =
            "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
                   frontend fe\n bind 127.0.0.1:1\n default_backend web\n\
                   backend web\n server a 127.0.0.1:8001 check\n server b 127.0.0.1:8002 backup\n";
        let cfg = appliance_config::load_str("t.cfg", cfg).unwrap().config;
        Shared::new(cfg, 100, 2, false)
    }

    /// A worker's snapshot after `n` requests to server `a` answered 200.
    fn worker(sh: &Shared, id: usize, n: u64) -> WorkerSnapshot {
        let mut st = WorkerStats::new(1, &[2]);
        for _ in 0..n {
            st.request(0);
            st.server_connects(0, 0);
            st.response(0, 0, 0, 200);
            st.txn_end(
                0,
                &TxnEnd {
                    backend: Some(0),
                    server: Some(0),
                    bytes_in: 100,
                    bytes_out: 1000,
                    timings: Timings {
                        queue: Some(0),
                        connect: Some(300),
                        response: Some(2_000),
                        total: 3_000,
                    },
                    ..TxnEnd::default()
                },
            );
        }
        let conns = sh.config.backends[0]
            .servers
            .iter()
            .enumerate()
            .map(|(i, _)| ConnRow {
                idle_cur: 1,
                used_cur: 2,
                ..ConnRow::for_server(&sh.config.backends[0], i, 2)
            })
            .collect();
        WorkerSnapshot {
            id,
            stats: st,
            conns: vec![conns],
            ..WorkerSnapshot::default()
        }
    }

    /// The value of the sample written exactly as `series`.
    fn value(page: &str, series: &str) -> String {
        let hits: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .collect();
        assert_eq!(hits.len(), 1, "{series} in\n{page}");
        hits[0].to_string()
    }

    #[test]
    fn renders_summed_counters_with_haproxy_names() {
        let sh = shared();
        let page = render(&sh, &[worker(&sh, 0, 3), worker(&sh, 1, 2)], "9.9");
        let v = |s: &str| value(&page, s);
        assert_eq!(v("haproxy_process_requests_total"), "5");
        assert_eq!(v("haproxy_process_build_info{version=\"9.9\"}"), "1");
        assert_eq!(v("haproxy_frontend_http_requests_total{proxy=\"fe\"}"), "5");
        assert_eq!(v("haproxy_frontend_bytes_out_total{proxy=\"fe\"}"), "5000");
        assert_eq!(
            v("haproxy_backend_http_responses_total{proxy=\"web\",code=\"2xx\"}"),
            "5"
        );
        assert_eq!(v("haproxy_backend_active_servers{proxy=\"web\"}"), "1");
        assert_eq!(v("haproxy_backend_backup_servers{proxy=\"web\"}"), "1");
        let a = "proxy=\"web\",server=\"a\"";
        assert_eq!(v(&format!("haproxy_server_sessions_total{{{a}}}")), "5");
        assert_eq!(
            v(&format!("haproxy_server_idle_connections_current{{{a}}}")),
            "2"
        );
        assert_eq!(
            v(&format!("haproxy_server_used_connections_current{{{a}}}")),
            "4"
        );
        // Servers start UP (before their first check).
        assert_eq!(
            v(&format!("haproxy_server_status{{{a},state=\"UP\"}}")),
            "1"
        );
        assert_eq!(
            v(&format!("haproxy_server_status{{{a},state=\"DOWN\"}}")),
            "0"
        );
        let b = "proxy=\"web\",server=\"b\"";
        assert_eq!(
            v(&format!("haproxy_server_status{{{b},state=\"UP\"}}")),
            "1"
        );
        // Only servers with checks have a check status.
        assert!(page.contains(&format!(
            "haproxy_server_check_status{{{a},state=\"L4OK\"}}"
        )));
        assert!(!page.contains(&format!("haproxy_server_check_status{{{b},")));
        // Histograms: cumulative buckets, +Inf = count, sum in seconds.
        let h = "sluice_server_response_time_seconds";
        assert_eq!(v(&format!("{h}_bucket{{{a},le=\"0.001\"}}")), "0");
        assert_eq!(v(&format!("{h}_bucket{{{a},le=\"0.0025\"}}")), "5");
        assert_eq!(v(&format!("{h}_bucket{{{a},le=\"+Inf\"}}")), "5");
        assert_eq!(v(&format!("{h}_count{{{a}}}")), "5");
        assert_eq!(v(&format!("{h}_sum{{{a}}}")), "0.01");
        assert_eq!(
            v("sluice_backend_total_time_seconds_count{proxy=\"web\"}"),
            "5"
        );
        assert_eq!(v(&format!("{h}_count{{{b}}}")), "0");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let sh = shared();
        let page = render(&sh, &[], "x\"y");
        assert_eq!(
            value(&page, "haproxy_process_build_info{version=\"x\\\"y\"}"),
            "1"
        );
    }

    #[test]
    fn every_sample_follows_its_family_header() {
        let sh = shared();
        let page = render(&sh, &[worker(&sh, 0, 1)], "1");
        let mut families = std::collections::HashSet::new();
        let mut current: Option<(String, String)> = None;
        for l in page.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(families.insert(name.to_string()), "{name} announced twice");
                assert!(["gauge", "counter", "histogram"].contains(&kind));
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            if l.starts_with("# HELP ") {
                continue;
            }
            let name = l.split(['{', ' ']).next().unwrap();
            let (fam, kind) = current.as_ref().expect("a sample before any TYPE");
            let ok = name == fam
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name.strip_suffix(s) == Some(fam)));
            assert!(ok, "{name} under {fam}");
            let v = l.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
        assert!(families.len() > 60, "{}", families.len());
    }
}
