//! Per-worker traffic counters, summed across workers when read (CLI, logs).
//!
//! Also renders `show servers conn` ([`servers_conn`], one [`servers_conn_line`] per
//! server) from the workers' [`ConnRow`]s, for the CLI and the `-d` debug output.
//!
//! Owns: [`WorkerStats`]. Invariant: only its own worker writes it (plain integers,
//! no atomics, no lock on the request path); readers get a copy through the mailbox
//! or at exit.

use appliance_config::{Address, Backend, Config};

use crate::proxy::latency::{Latency, Timings};

/// Counters of one proxy (frontend or backend) or server on one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sessions / connections handled.
    pub sessions: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Responses by class: 1xx..5xx, other.
    pub hrsp: [u64; 6],
    /// Connection attempts that failed (`econ`).
    pub connect_errors: u64,
    /// New connections opened to servers (`connect`).
    pub connects: u64,
    /// Requests sent over a reused connection (`reuse`).
    pub reuses: u64,
    /// Invalid requests (`ereq`) / responses (`eresp`).
    pub invalid: u64,
    /// Denied requests (`dreq`).
    pub denied: u64,
    /// Idle server connections found closed by the server (killed at take time or
    /// at housekeeping).
    pub idle_closed: u64,
    /// Idle server connections closed by the purge.
    pub purged: u64,
    /// Gauges, as of the last housekeeping tick: idle (unproven) and safe
    /// connections in the pool, connections in use, estimated need.
    pub idle_cur: u64,
    pub safe_cur: u64,
    pub used_cur: u64,
    pub need_est: u64,
    /// Bytes from / to the client of the transactions that ended (`bin`, `bout`).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Connect retries (`wretr`) and redispatches (`wredis`).
    pub retries: u64,
    pub redispatches: u64,
    /// Latency histograms (backends and servers).
    pub latency: Latency,
    /// Sessions per second: frontend connections; backend and server requests
    /// assigned (`rate`, `rate_max`).
    pub sess_rate: FreqCtr,
    /// Frontend HTTP requests per second (`req_rate`, `req_rate_max`).
    pub req_rate: FreqCtr,
}

/// Events per second, HAProxy's way (`freq_ctr`): the count of the current
/// second plus the previous second's weighted by what is left of this one, so
/// the figure slides smoothly instead of dropping to zero at each second.
///
/// Invariant: `sec` only moves forward; counts of workers are merged by first
/// aligning both on the later second. `max` is the highest rate seen at a hit;
/// merged over workers it is the sum of their maxima (an upper bound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreqCtr {
    sec: u64,
    curr: u32,
    prev: u32,
    /// Highest rate seen (events in the second up to a hit, weighted as `read`).
    pub max: u32,
}

impl FreqCtr {
    fn rotate(&mut self, sec: u64) {
        if sec <= self.sec {
            return;
        }
        self.prev = if sec == self.sec + 1 { self.curr } else { 0 };
        self.curr = 0;
        self.sec = sec;
    }

    /// One event at `now_ms` (the worker's monotonic clock).
    pub fn hit(&mut self, now_ms: u64) {
        self.rotate(now_ms / 1000);
        self.curr = self.curr.saturating_add(1);
        self.max = self.max.max(self.read(now_ms));
    }

    /// Events per second as of `now_ms`.
    pub fn read(&self, now_ms: u64) -> u32 {
        let sec = now_ms / 1000;
        let left = 1000 - now_ms % 1000;
        let weigh = |n: u32| (u64::from(n) * left / 1000) as u32;
        match sec.checked_sub(self.sec) {
            Some(0) | None => self.curr + weigh(self.prev),
            Some(1) => weigh(self.curr),
            Some(_) => 0,
        }
    }

    /// Adds another worker's counter.
    pub fn add(&mut self, o: &FreqCtr) {
        let sec = self.sec.max(o.sec);
        let mut b = *o;
        self.rotate(sec);
        b.rotate(sec);
        self.curr += b.curr;
        self.prev += b.prev;
        self.max = self.max.saturating_add(b.max);
    }
}

impl Counters {
    /// Zero the counters, keep the gauges (`clear counters all`).
    pub fn clear(&mut self) {
        *self = Counters {
            idle_cur: self.idle_cur,
            safe_cur: self.safe_cur,
            used_cur: self.used_cur,
            need_est: self.need_est,
            ..Counters::default()
        };
    }

    fn count_status(&mut self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[i] += 1;
    }

    pub fn add(&mut self, o: &Counters) {
        self.sessions += o.sessions;
        self.requests += o.requests;
        for i in 0..6 {
            self.hrsp[i] += o.hrsp[i];
        }
        self.connect_errors += o.connect_errors;
        self.connects += o.connects;
        self.reuses += o.reuses;
        self.invalid += o.invalid;
        self.denied += o.denied;
        self.idle_closed += o.idle_closed;
        self.purged += o.purged;
        self.idle_cur += o.idle_cur;
        self.safe_cur += o.safe_cur;
        self.used_cur += o.used_cur;
        self.need_est += o.need_est;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.retries += o.retries;
        self.redispatches += o.redispatches;
        self.latency.add(&o.latency);
        self.sess_rate.add(&o.sess_rate);
        self.req_rate.add(&o.req_rate);
    }
}

/// What [`WorkerStats::txn_end`] counts of a finished HTTP transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct TxnEnd {
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub retries: u32,
    pub redispatched: bool,
    pub timings: Timings,
}

/// Everything one worker counts.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub frontends: Vec<Counters>,
    pub backends: Vec<Counters>,
    /// `servers[backend][server]`.
    pub servers: Vec<Vec<Counters>>,
}

impl WorkerStats {
    pub fn new(frontends: usize, servers_per_backend: &[usize]) -> Self {
        WorkerStats {
            frontends: vec![Counters::default(); frontends],
            backends: vec![Counters::default(); servers_per_backend.len()],
            servers: servers_per_backend
                .iter()
                .map(|&n| vec![Counters::default(); n])
                .collect(),
        }
    }

    /// `clear counters all`: every counter back to zero, gauges kept.
    pub fn clear(&mut self) {
        let servers = self.servers.iter_mut().flatten();
        for c in self
            .frontends
            .iter_mut()
            .chain(&mut self.backends)
            .chain(servers)
        {
            c.clear();
        }
    }

    pub fn session(&mut self, fe: usize) {
        let f = &mut self.frontends[fe];
        f.sessions += 1;
        f.sess_rate.hit(crate::runtime::clock::now_ms());
    }

    pub fn request(&mut self, fe: usize) {
        let f = &mut self.frontends[fe];
        f.requests += 1;
        f.req_rate.hit(crate::runtime::clock::now_ms());
    }

    pub fn local_response(&mut self, fe: usize, status: u16) {
        self.frontends[fe].count_status(status);
    }

    pub fn response(&mut self, fe: usize, be: usize, srv: usize, status: u16) {
        self.frontends[fe].count_status(status);
        self.backends[be].count_status(status);
        self.servers[be][srv].count_status(status);
    }

    pub fn server_connects(&mut self, be: usize, srv: usize) {
        let now = crate::runtime::clock::now_ms();
        self.backends[be].connects += 1;
        self.backends[be].sess_rate.hit(now);
        self.servers[be][srv].connects += 1;
        self.servers[be][srv].sess_rate.hit(now);
    }

    pub fn server_reuse(&mut self, be: usize, srv: usize) {
        let now = crate::runtime::clock::now_ms();
        self.backends[be].reuses += 1;
        self.backends[be].sess_rate.hit(now);
        self.servers[be][srv].reuses += 1;
        self.servers[be][srv].sess_rate.hit(now);
    }

    /// Publish a server pool's figures (housekeeping tick).
    pub fn pool_figures(&mut self, be: usize, srv: usize, p: &crate::proxy::pool::PoolSnapshot) {
        let c = &mut self.servers[be][srv];
        c.idle_closed = p.closed_by_server;
        c.purged = p.purged;
        c.idle_cur = p.idle as u64;
        c.safe_cur = p.safe as u64;
        c.used_cur = p.used as u64;
        c.need_est = p.est_need as u64;
    }

    pub fn connect_error(&mut self, be: usize, srv: usize) {
        self.backends[be].connect_errors += 1;
        self.servers[be][srv].connect_errors += 1;
    }

    pub fn invalid_request(&mut self, fe: usize) {
        self.frontends[fe].invalid += 1;
    }

    pub fn invalid_response(&mut self, be: usize) {
        self.backends[be].invalid += 1;
    }

    pub fn denied(&mut self, fe: usize) {
        self.frontends[fe].denied += 1;
    }

    /// An HTTP transaction ended: its bytes, retries and (when it reached a server)
    /// its timings.
    pub fn txn_end(&mut self, fe: usize, t: &TxnEnd) {
        let f = &mut self.frontends[fe];
        f.bytes_in += t.bytes_in;
        f.bytes_out += t.bytes_out;
        let Some(be) = t.backend else { return };
        let targets = [
            Some(&mut self.backends[be]),
            t.server.and_then(|s| self.servers[be].get_mut(s)),
        ];
        for c in targets.into_iter().flatten() {
            c.bytes_in += t.bytes_in;
            c.bytes_out += t.bytes_out;
            c.retries += u64::from(t.retries);
            c.redispatches += u64::from(t.redispatched);
            if t.server.is_some() {
                c.latency.observe(&t.timings);
            }
        }
    }

    /// Add another worker's counters into these.
    pub fn merge(&mut self, o: &WorkerStats) {
        for (a, b) in self.frontends.iter_mut().zip(&o.frontends) {
            a.add(b);
        }
        for (a, b) in self.backends.iter_mut().zip(&o.backends) {
            a.add(b);
        }
        for (sa, sb) in self.servers.iter_mut().zip(&o.servers) {
            for (a, b) in sa.iter_mut().zip(sb) {
                a.add(b);
            }
        }
    }
}

/// One server's row of `show servers conn` (one worker's view, or several merged).
/// The columns (HAProxy 3.x's; 2.6 has neither `served` nor `idle_sess`):
/// `served` streams on the server now (process-wide), `used_cur`/`used_max`
/// connections in use now / at most since the last purge, `need_est` the purge's
/// estimate, `idle_sess` idle connections held by a client session (sluice does not
/// count these yet: 0), `unsafe_nb`/`safe_nb` idle entries never / already reused,
/// `idle_lim` `pool-max-conn`, `idle_cur` all idle entries, then per worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnRow {
    pub backend: String,
    pub server: String,
    pub backend_id: u32,
    pub server_id: u32,
    pub addr: String,
    pub port: String,
    pub purge_delay_ms: u64,
    pub served: u32,
    pub used_cur: u32,
    pub used_max: u32,
    pub need_est: u32,
    pub idle_sess: u32,
    pub unsafe_nb: u32,
    pub safe_nb: u32,
    /// `pool-max-conn` (-1: unlimited).
    pub idle_lim: i32,
    pub idle_cur: u32,
    /// Idle connections per worker.
    pub idle_per_thr: Vec<u32>,
}

impl ConnRow {
    /// The row of server `server` of `be` for `threads` workers: its settings, and
    /// every figure zero.
    pub fn for_server(be: &Backend, server: usize, threads: usize) -> ConnRow {
        let s = &be.servers[server];
        // HAProxy prints "-" for an address that is not IPv4/IPv6, and port 0.
        let (addr, port) = match &s.addr {
            Address::Tcp(a) => (a.ip().to_string(), a.port().to_string()),
            _ => ("-".into(), "0".into()),
        };
        ConnRow {
            backend: be.name.clone(),
            server: s.name.clone(),
            backend_id: be.id,
            server_id: s.id,
            addr,
            port,
            purge_delay_ms: s.pool_purge_delay.as_millis() as u64,
            idle_lim: s.pool_max_conn,
            idle_per_thr: vec![0; threads],
            ..ConnRow::default()
        }
    }

    /// Add another worker's view of the same server. `served` is process-wide (the
    /// same in every view): kept, not summed.
    pub fn merge(&mut self, o: &ConnRow) {
        self.used_cur += o.used_cur;
        self.used_max += o.used_max;
        self.need_est += o.need_est;
        self.idle_sess += o.idle_sess;
        self.unsafe_nb += o.unsafe_nb;
        self.safe_nb += o.safe_nb;
        self.idle_cur += o.idle_cur;
        if self.idle_per_thr.len() < o.idle_per_thr.len() {
            self.idle_per_thr.resize(o.idle_per_thr.len(), 0);
        }
        for (a, b) in self.idle_per_thr.iter_mut().zip(&o.idle_per_thr) {
            *a += b;
        }
    }
}

/// The header line of `show servers conn` for `threads` workers (HAProxy's format).
pub fn servers_conn_header(threads: usize) -> String {
    format!(
        "# bkname/svname bkid/svid addr port - purge_delay served used_cur used_max need_est idle_sess unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{threads}]"
    )
}

/// `show servers conn [<backend>]`: the header once (as HAProxy, not per backend),
/// then one line per server of every backend (or only of `only`), in declaration
/// order. `views[worker][backend][server]` are the workers' rows (a worker that did
/// not answer is simply absent); `served(backend, server)` the process-wide figure.
pub fn servers_conn(
    cfg: &Config,
    only: Option<&str>,
    threads: usize,
    views: &[&[Vec<ConnRow>]],
    served: impl Fn(usize, usize) -> u32,
    name: impl Fn(usize, usize) -> Option<(String, u32)>,
) -> String {
    let mut out = servers_conn_header(threads);
    out.push('\n');
    for (b, be) in cfg.backends.iter().enumerate() {
        if only.is_some_and(|n| n != be.name) {
            continue;
        }
        for s in 0..be.servers.len() {
            // `name`: a live server's name and id (dynamic servers have their own).
            let Some((sname, sid)) = name(b, s) else {
                continue;
            };
            let mut row = ConnRow::for_server(be, s, threads);
            row.server = sname;
            row.server_id = sid;
            for v in views {
                if let Some(r) = v.get(b).and_then(|rows| rows.get(s)) {
                    row.merge(r);
                }
            }
            row.served = served(b, s);
            out.push_str(&servers_conn_line(&row));
            out.push('\n');
        }
    }
    out
}

/// One row of `show servers conn` in HAProxy's format.
pub fn servers_conn_line(r: &ConnRow) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{}/{} {}/{} {} {} - {} {} {} {} {} {} {} {} {} {}",
        r.backend,
        r.server,
        r.backend_id,
        r.server_id,
        r.addr,
        r.port,
        r.purge_delay_ms,
        r.served,
        r.used_cur,
        r.used_max,
        r.need_est,
        r.idle_sess,
        r.unsafe_nb,
        r.safe_nb,
        r.idle_lim,
        r.idle_cur,
    );
    for n in &r.idle_per_thr {
        let _ = write!(s, " {n}");
    }
    s
}

#[cfg(test)]
mod freq_tests {
    use super::FreqCtr;

    #[test]
    fn slides_and_merges() {
        let mut f = FreqCtr::default();
        for i in 0..10 {
            f.hit(5_000 + i * 10);
        }
        assert_eq!(f.read(5_500), 10);
        // Half-way through the next second: half of the previous one counts.
        assert_eq!(f.read(6_500), 5);
        assert_eq!(f.read(7_001), 0);
        assert_eq!(f.max, 10);
        let mut g = FreqCtr::default();
        for i in 0..4 {
            g.hit(6_100 + i);
        }
        // g is a second ahead: f's second becomes g's previous one.
        f.add(&g);
        assert_eq!(f.read(6_500), 4 + 5);
        assert_eq!(f.max, 10 + g.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_zeroes_counters_and_keeps_gauges() {
        let mut w = WorkerStats::new(1, &[2]);
        w.session(0);
        w.request(0);
        w.response(0, 0, 1, 200);
        w.server_connects(0, 1);
        w.servers[0][1].idle_cur = 2;
        w.servers[0][1].used_cur = 1;
        w.clear();
        assert_eq!(w.frontends[0], Counters::default());
        assert_eq!(w.backends[0], Counters::default());
        let want = Counters {
            idle_cur: 2,
            used_cur: 1,
            ..Counters::default()
        };
        assert_eq!(w.servers[0][1], want);
    }

    #[test]
    fn servers_conn_format() {
        let mut a = ConnRow {
            backend: "be".into(),
            server: "s1".into(),
            backend_id: 2,
            server_id: 1,
            addr: "127.0.0.1".into(),
            port: "8000".into(),
            purge_delay_ms: 5000,
            used_cur: 1,
            used_max: 3,
            need_est: 2,
            unsafe_nb: 1,
            safe_nb: 2,
            idle_lim: -1,
            idle_cur: 3,
            idle_per_thr: vec![3, 0],
            ..Default::default()
        };
        let mut b = a.clone();
        b.idle_per_thr = vec![0, 1];
        b.idle_cur = 1;
        b.safe_nb = 1;
        b.unsafe_nb = 0;
        assert_eq!(
            servers_conn_line(&a),
            "be/s1 2/1 127.0.0.1 8000 - 5000 0 1 3 2 0 1 2 -1 3 3 0"
        );
        a.merge(&b);
        assert_eq!(a.idle_per_thr, vec![3, 1]);
        assert_eq!(a.idle_cur, 4);
        assert!(servers_conn_header(2).ends_with("idle_cur idle_per_thr[2]"));
    }

    #[test]
    fn servers_conn_table_sums_workers_and_filters() {
        let cfg = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n                    timeout server 5s\nbackend web\n server a 127.0.0.1:8001 pool-max-conn 4 \
                   pool-purge-delay 2s\n server b [::1]:8002\nbackend api\n                    server u unix@/run/api.sock\n";
        let cfg = appliance_config::load_str("t.cfg", cfg).unwrap().config;
        // Worker 0 and worker 1 each see server web/a; worker 1 also web/b.
        let row = |w: usize, idle: u32, safe: u32, used: u32| ConnRow {
            used_cur: used,
            used_max: used + 1,
            need_est: used + idle,
            unsafe_nb: idle,
            safe_nb: safe,
            idle_cur: idle + safe,
            idle_per_thr: {
                let mut v = vec![0; 2];
                v[w] = idle + safe;
                v
            },
            ..ConnRow::default()
        };
        let w0 = vec![
            vec![row(0, 1, 2, 1), row(0, 0, 0, 0)],
            vec![row(0, 0, 0, 0)],
        ];
        let w1 = vec![
            vec![row(1, 0, 3, 0), row(1, 1, 0, 2)],
            vec![row(1, 0, 0, 0)],
        ];
        let views = [w0.as_slice(), w1.as_slice()];
        let name = |b: usize, s: usize| {
            let srv = &cfg.backends[b].servers[s];
            Some((srv.name.clone(), srv.id))
        };
        let all = servers_conn(&cfg, None, 2, &views, |b, s| (10 * b + s) as u32, name);
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(
            lines,
            [
                "# bkname/svname bkid/svid addr port - purge_delay served used_cur used_max \
                 need_est idle_sess unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]",
                "web/a 1/1 127.0.0.1 8001 - 2000 0 1 3 2 0 1 5 4 6 3 3",
                "web/b 1/2 ::1 8002 - 5000 1 2 4 3 0 1 0 -1 1 0 1",
                "api/u 2/1 - 0 - 5000 10 0 2 0 0 0 0 -1 0 0 0",
            ]
        );
        // One backend only; a worker that did not answer is absent from the sums.
        let one = servers_conn(&cfg, Some("web"), 2, &views[1..], |_, _| 0, name);
        assert_eq!(
            one.lines().skip(1).collect::<Vec<_>>(),
            [
                "web/a 1/1 127.0.0.1 8001 - 2000 0 0 1 0 0 0 3 4 3 0 3",
                "web/b 1/2 ::1 8002 - 5000 0 2 3 3 0 1 0 -1 1 0 1",
            ]
        );
        assert!(all.ends_with('\n') && !all.ends_with("\n\n"));
    }
}
