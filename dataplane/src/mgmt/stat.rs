//! `show stat`: HAProxy's CSV, one row per frontend, server and backend.
//!
//! Owns: [`COLUMNS`] (HAProxy 2.6's header, base columns then the per-module ones:
//! the order must never change, exporters read by index) and [`show_stat`].
//! Invariant: every row has exactly one field per column (and HAProxy's trailing
//! comma); columns sluice does not track are empty.

use std::sync::atomic::Ordering;

use appliance_config::{Balance, Mode};

use super::Cli;
use crate::proxy::shared::ServerState;
use crate::proxy::stats::{Counters, WorkerStats};

/// The columns of HAProxy 2.6's `show stat` (`-` separates the modules' counters).
pub const COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out";

/// One row being filled, by column name.
struct Row {
    names: Vec<&'static str>,
    vals: Vec<String>,
}

impl Row {
    fn new() -> Row {
        let names: Vec<&'static str> = COLUMNS.split(',').collect();
        let vals = vec![String::new(); names.len()];
        Row { names, vals }
    }

    fn set(&mut self, name: &str, v: impl ToString) -> &mut Self {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("known column");
        self.vals[i] = v.to_string();
        self
    }

    /// Zeros in the named columns.
    fn zeros(&mut self, names: &[&str]) -> &mut Self {
        for n in names {
            self.set(n, 0);
        }
        self
    }

    /// The per-module columns: `-`, then zeros from `ssl_sess` on (`servers`: SSL only).
    fn modules(&mut self, server: bool) -> &mut Self {
        let start = self.names.iter().position(|n| *n == "-").unwrap();
        self.vals[start] = "-".into();
        let end = if server { start + 4 } else { self.vals.len() };
        for v in &mut self.vals[start + 1..end] {
            *v = "0".into();
        }
        self
    }

    fn hrsp(&mut self, c: &Counters) -> &mut Self {
        for (i, n) in [
            "hrsp_1xx",
            "hrsp_2xx",
            "hrsp_3xx",
            "hrsp_4xx",
            "hrsp_5xx",
            "hrsp_other",
        ]
        .iter()
        .enumerate()
        {
            self.set(n, c.hrsp[i]);
        }
        self
    }

    fn push_to(&self, out: &mut String) {
        for v in &self.vals {
            out.push_str(v);
            out.push(',');
        }
        out.push('\n');
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    }
}

fn algo_name(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Uri { .. } => "uri",
        Balance::UrlParam(_) => "url_param",
        #[allow(unreachable_patterns)]
        _ => "hdr",
    }
}

/// Seconds since a server's last state change (since start if it never changed).
pub(crate) fn since_change(cli: &Cli, st: &ServerState) -> u64 {
    let at = st.last_change.load(Ordering::Relaxed);
    let now = super::wall_us() / 1_000_000;
    if at == 0 {
        cli.started.elapsed().as_secs()
    } else {
        now.saturating_sub(at)
    }
}

/// The whole CSV (header, rows, in configuration order by proxy id).
pub(crate) fn show_stat(cli: &Cli, t: &WorkerStats) -> String {
    let sh = &cli.shared;
    let cfg = &sh.config;
    let mut out = format!("# {COLUMNS},\n");
    // Proxies by id; a `listen` (same id on both sides) gives FRONTEND, servers, BACKEND.
    let mut order: Vec<(u32, u8, usize)> = cfg
        .frontends
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id, 0, i))
        .chain(cfg.backends.iter().enumerate().map(|(i, b)| (b.id, 1, i)))
        .collect();
    order.sort();
    for (_, kind, i) in order {
        if kind == 0 {
            let f = &cfg.frontends[i];
            let c = &t.frontends[i];
            let pc = &sh.frontends[i];
            let mut r = Row::new();
            r.set("pxname", &f.name)
                .set("svname", "FRONTEND")
                .set("scur", pc.cur())
                .set("smax", pc.max_conns.load(Ordering::Relaxed))
                .set("slim", f.maxconn.unwrap_or(sh.maxconn))
                .set("stot", pc.cum_conns.load(Ordering::Relaxed))
                .zeros(&[
                    "bin", "bout", "dresp", "rate", "rate_lim", "rate_max", "req_rate",
                ])
                .zeros(&[
                    "req_rate_max",
                    "comp_in",
                    "comp_out",
                    "comp_byp",
                    "comp_rsp",
                ])
                .zeros(&[
                    "conn_rate",
                    "conn_rate_max",
                    "intercepted",
                    "dcon",
                    "dses",
                    "wrew",
                ])
                .zeros(&["cache_lookups", "cache_hits", "eint"])
                .set("dreq", c.denied)
                .set("ereq", c.invalid)
                .set(
                    "status",
                    if f.disabled || sh.is_stopping() {
                        "STOP"
                    } else {
                        "OPEN"
                    },
                )
                .set("pid", 1)
                .set("iid", f.id)
                .set("sid", 0)
                .set("type", 0)
                .hrsp(c)
                .set("req_tot", c.requests)
                .set("mode", mode_name(f.mode))
                .set("conn_tot", pc.cum_conns.load(Ordering::Relaxed))
                .modules(false);
            r.push_to(&mut out);
            continue;
        }
        let b = &cfg.backends[i];
        let mut weight = 0u64;
        let (mut act, mut bck, mut cur, mut max) = (0u32, 0u32, 0u32, 0u32);
        for (si, s) in b.servers.iter().enumerate() {
            let st = &sh.servers[i][si];
            let c = &t.servers[i][si];
            let maint = st.maint.load(Ordering::Relaxed);
            let drain = st.drain.load(Ordering::Relaxed);
            let up = st.up.load(Ordering::Relaxed);
            let w = st.weight.load(Ordering::Relaxed);
            if st.usable() {
                weight += u64::from(w);
                if s.backup {
                    bck += 1;
                } else {
                    act += 1;
                }
            }
            cur += st.cur();
            max = max.max(st.max_conns.load(Ordering::Relaxed));
            let status = if maint {
                "MAINT"
            } else if drain {
                "DRAIN"
            } else if !s.check {
                "no check"
            } else if up {
                "UP"
            } else {
                "DOWN"
            };
            let mut r = Row::new();
            r.set("pxname", &b.name)
                .set("svname", &s.name)
                .set("qcur", st.queued.load(Ordering::Relaxed))
                .set("scur", st.cur())
                .set("smax", st.max_conns.load(Ordering::Relaxed))
                .set("stot", c.connects + c.reuses)
                .set("lbtot", c.connects + c.reuses)
                .zeros(&[
                    "qmax", "bin", "bout", "dresp", "eresp", "wretr", "wredis", "bck",
                ])
                .zeros(&["rate", "rate_max", "cli_abrt", "srv_abrt", "qtime", "ctime"])
                .zeros(&[
                    "rtime",
                    "ttime",
                    "wrew",
                    "srv_icur",
                    "qtime_max",
                    "ctime_max",
                ])
                .zeros(&[
                    "rtime_max",
                    "ttime_max",
                    "eint",
                    "idle_conn_cur",
                    "safe_conn_cur",
                ])
                .zeros(&["used_conn_cur", "need_conn_est"])
                .set("econ", c.connect_errors)
                .set("status", status)
                .set("weight", w)
                .set("uweight", w)
                .set("act", u8::from(!s.backup))
                .set("bck", u8::from(s.backup))
                .set("lastchg", since_change(cli, st))
                .set("pid", 1)
                .set("iid", b.id)
                .set("sid", s.id)
                .set("type", 2)
                .hrsp(c)
                .set("lastsess", -1)
                .set("addr", &s.addr_spec)
                .set("mode", mode_name(b.mode))
                .set("connect", c.connects)
                .set("reuse", c.reuses)
                .modules(true);
            if s.maxconn > 0 {
                r.set("slim", s.maxconn);
            }
            if s.check {
                let chk = st.last_check.lock().map(|c| c.clone()).unwrap_or_default();
                r.set("chkfail", 0)
                    .set("chkdown", 0)
                    .set("check_status", chk.status)
                    .set("check_duration", chk.duration_ms)
                    .set("check_desc", &chk.info)
                    .set("check_rise", s.rise)
                    .set("check_fall", s.fall)
                    .set("check_health", if up { s.rise + s.fall - 1 } else { 0 });
                if let Some(code) = chk.code {
                    r.set("check_code", code);
                }
            }
            r.push_to(&mut out);
        }
        let c = &t.backends[i];
        let st = if sh.nbsrv(i) > 0 { "UP" } else { "DOWN" };
        let mut r = Row::new();
        r.set("pxname", &b.name)
            .set("svname", "BACKEND")
            .set("qcur", sh.queues[i].len())
            .set("scur", cur)
            .set("smax", max)
            .set("stot", c.connects + c.reuses)
            .set("lbtot", c.connects + c.reuses)
            .zeros(&[
                "qmax", "bin", "bout", "dreq", "dresp", "wretr", "wredis", "chkdown",
            ])
            .zeros(&[
                "downtime", "rate", "rate_max", "cli_abrt", "srv_abrt", "comp_in",
            ])
            .zeros(&[
                "comp_out", "comp_byp", "comp_rsp", "qtime", "ctime", "rtime", "ttime",
            ])
            .zeros(&[
                "wrew",
                "cache_lookups",
                "cache_hits",
                "qtime_max",
                "ctime_max",
            ])
            .zeros(&["rtime_max", "ttime_max", "eint", "agg_server_status"])
            .zeros(&["agg_server_check_status", "agg_check_status"])
            .set("econ", c.connect_errors)
            .set("eresp", c.invalid)
            .set("status", st)
            .set("weight", weight)
            .set("uweight", weight)
            .set("act", act)
            .set("bck", bck)
            .set("lastchg", cli.started.elapsed().as_secs())
            .set("pid", 1)
            .set("iid", b.id)
            .set("sid", 0)
            .set("type", 1)
            .hrsp(c)
            .set("req_tot", c.hrsp.iter().sum::<u64>())
            .set("lastsess", -1)
            .set("mode", mode_name(b.mode))
            .set("algo", algo_name(&b.balance))
            .set("connect", c.connects)
            .set("reuse", c.reuses)
            .modules(false);
        r.push_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::COLUMNS;

    #[test]
    fn haproxy_2_6_column_count() {
        let cols: Vec<&str> = COLUMNS.split(',').collect();
        assert_eq!(cols.len(), 128);
        assert_eq!(cols[32], "type");
        assert_eq!(cols[38], "check_duration");
        assert_eq!(cols[61], "ttime");
        assert_eq!(cols[103], "-");
    }
}
