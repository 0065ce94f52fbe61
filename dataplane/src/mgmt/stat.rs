//! `show stat`: HAProxy's CSV, one row per frontend, server and backend.
//!
//! Owns: [`COLUMNS`] (HAProxy 2.6's header, base columns then the per-module ones:
//! the order must never change, exporters read by index), [`show_stat`] in its three
//! formats (CSV, typed, JSON; see `typed`) and the `{<iid>|<proxy>} <type> <sid>`
//! [`Filter`].
//! Invariant: every row has exactly one field per column (and HAProxy's trailing
//! comma); columns sluice does not track are empty.

use std::sync::atomic::Ordering;
use std::time::Instant;

use appliance_config::{Balance, Mode};

use super::{typed, Cli};
use crate::proxy::shared::{FeState, ServerState};
use crate::proxy::stats::{Counters, WorkerStats};
use crate::proxy::Shared;

/// The columns of HAProxy 2.6's `show stat` (`-` separates the modules' counters).
pub const COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out";

/// One row being filled, by column name (also what the stats page renders).
pub(crate) struct Row {
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

    /// What backends and servers count of their traffic: bytes, retries,
    /// redispatches, and for a server the idle-pool gauges.
    fn traffic(&mut self, c: &Counters, server: bool) -> &mut Self {
        self.set("bin", c.bytes_in)
            .set("bout", c.bytes_out)
            .set("wretr", c.retries)
            .set("wredis", c.redispatches);
        if server {
            self.set("idle_conn_cur", c.idle_cur)
                .set("safe_conn_cur", c.safe_cur)
                .set("used_conn_cur", c.used_cur)
                .set("need_conn_est", c.need_est);
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

    /// The value of column `name` ("" when empty or unknown).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.names
            .iter()
            .position(|n| *n == name)
            .map_or("", |i| self.vals[i].as_str())
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
    since_change_at(cli.started, st)
}

/// [`since_change`] for a process started at `started`.
fn since_change_at(started: Instant, st: &ServerState) -> u64 {
    let at = st.last_change.load(Ordering::Relaxed);
    let now = super::wall_us() / 1_000_000;
    if at == 0 {
        started.elapsed().as_secs()
    } else {
        now.saturating_sub(at)
    }
}

/// Which objects `show stat {<iid>|<proxy>} <type> <sid>` asks for (default: all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    /// A proxy id, or all.
    pub iid: Option<u32>,
    /// Bit mask: 1 frontends, 2 backends, 4 servers.
    pub types: u32,
    /// A server id, or all (frontend and backend rows are not filtered by it).
    pub sid: Option<u32>,
}

impl Filter {
    pub const ALL: Filter = Filter {
        iid: None,
        types: 7,
        sid: None,
    };

    fn wants(&self, iid: u32, bit: u32) -> bool {
        self.iid.is_none_or(|i| i == iid) && self.types & bit != 0
    }
}

/// The output format of `show stat` / `show info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Typed,
    Json,
}

/// `show stat` in `fmt`: rows in configuration order by proxy id, those `f` selects.
pub(crate) fn show_stat(cli: &Cli, t: &WorkerStats, f: Filter, fmt: Format) -> String {
    let rows = rows(&cli.shared, cli.started, t, f);
    match fmt {
        Format::Csv => csv(&rows),
        Format::Typed => typed(&rows),
        Format::Json => json(&rows),
    }
}

/// HAProxy's CSV: the `# ` header line, then one line per row.
pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = format!("# {COLUMNS},\n");
    for r in rows {
        r.push_to(&mut out);
    }
    out
}

/// The fields of a row that are not empty: (field number, name, value); the `-`
/// separator of the modules' columns is not a field.
fn fields(r: &Row) -> impl Iterator<Item = (usize, &str, &str)> {
    r.names
        .iter()
        .zip(&r.vals)
        .filter(|(n, _)| **n != "-")
        .enumerate()
        .filter(|(_, (_, v))| !v.is_empty())
        .map(|(i, (n, v))| (i, *n, v.as_str()))
}

fn kind(r: &Row) -> char {
    match r.get("type") {
        "0" => 'F',
        "1" => 'B',
        "2" => 'S',
        _ => 'L',
    }
}

/// HAProxy's typed format: `<kind>.<iid>.<sid>.<field>.<name>.<process>:<tags>:<type>:<value>`.
fn typed(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let k = kind(r);
        let (iid, sid) = (r.get("iid"), r.get("sid"));
        for (i, name, v) in fields(r) {
            let prefix = format!("{k}.{iid}.{sid}.{i}.{name}.1:");
            typed::typed_line(&mut out, &prefix, typed::stat_meta(k, name), v);
        }
    }
    out
}

/// HAProxy's JSON: an array of rows, each an array of field objects.
fn json(rows: &[Row]) -> String {
    let mut out = String::from("[");
    for (ri, r) in rows.iter().enumerate() {
        if ri > 0 {
            out.push(',');
        }
        let k = kind(r);
        let obj = match k {
            'F' => "Frontend",
            'B' => "Backend",
            'S' => "Server",
            _ => "Listener",
        };
        let head = format!(
            "\"objType\":\"{obj}\",\"proxyId\":{},\"id\":{},",
            r.get("iid"),
            r.get("sid")
        );
        out.push('[');
        for (n, (i, name, v)) in fields(r).enumerate() {
            if n > 0 {
                out.push(',');
            }
            typed::json_field(&mut out, &head, i, name, typed::stat_meta(k, name), v);
        }
        out.push(']');
    }
    out.push_str("]\n");
    out
}

/// The rows `f` selects, for a process started at `started` (`lastchg`).
pub(crate) fn rows(sh: &Shared, started: Instant, t: &WorkerStats, flt: Filter) -> Vec<Row> {
    // Rates are read against this thread's view of the workers' monotonic clock.
    let now = crate::runtime::clock::update();
    let cfg = &sh.config;
    let mut out = Vec::new();
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
            if !flt.wants(f.id, 1) {
                continue;
            }
            let c = &t.frontends[i];
            let pc = &sh.frontends[i];
            let mut r = Row::new();
            r.set("pxname", &f.name)
                .set("svname", "FRONTEND")
                .set("scur", pc.cur())
                .set("smax", pc.max_conns.load(Ordering::Relaxed))
                .set("slim", pc.limit())
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
                    match sh.fe_state(i) {
                        FeState::Stopped => "STOP",
                        _ if sh.is_stopping() => "STOP",
                        FeState::Paused => "PAUSED",
                        FeState::Open => "OPEN",
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
                .set("bin", c.bytes_in)
                .set("bout", c.bytes_out)
                .set("rate", c.sess_rate.read(now))
                .set("rate_max", c.sess_rate.max)
                .set("conn_rate", c.sess_rate.read(now))
                .set("conn_rate_max", c.sess_rate.max)
                .set("req_rate", c.req_rate.read(now))
                .set("req_rate_max", c.req_rate.max)
                .modules(false);
            out.push(r);
            continue;
        }
        let b = &cfg.backends[i];
        if flt.iid.is_some_and(|id| id != b.id) {
            continue;
        }
        let mut weight = 0u64;
        let (mut act, mut bck, mut cur, mut max) = (0u32, 0u32, 0u32, 0u32);
        for (si, s) in b.servers.iter().enumerate() {
            let st = &sh.servers[i][si];
            if !st.is_live() {
                continue;
            }
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
                .set("svname", sh.server_name(i, si))
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
                .set("lastchg", since_change_at(started, st))
                .set("pid", 1)
                .set("iid", b.id)
                .set("sid", sh.server_id(i, si))
                .set("type", 2)
                .hrsp(c)
                .set("lastsess", -1)
                .set(
                    "addr",
                    st.addr_override()
                        .map_or_else(|| s.addr_spec.clone(), |a| a.to_string()),
                )
                .set("mode", mode_name(b.mode))
                .set("connect", c.connects)
                .set("reuse", c.reuses)
                .traffic(c, true)
                .modules(true);
            if st.maxconn() > 0 {
                r.set("slim", st.maxconn());
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
            r.set("rate", c.sess_rate.read(now))
                .set("rate_max", c.sess_rate.max);
            if flt.wants(b.id, 4) && flt.sid.is_none_or(|id| id == s.id) {
                out.push(r);
            }
        }
        if !flt.wants(b.id, 2) {
            continue;
        }
        let c = &t.backends[i];
        // HAProxy: a backend without servers (a stats-only listen) is UP.
        let no_server = !(0..b.servers.len()).any(|s| sh.server_live(i, s));
        let st = if sh.nbsrv(i) > 0 || no_server {
            "UP"
        } else {
            "DOWN"
        };
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
            .set("lastchg", started.elapsed().as_secs())
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
            .traffic(c, false)
            .set("rate", c.sess_rate.read(now))
            .set("rate_max", c.sess_rate.max)
            .modules(false);
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{json, typed, Row, COLUMNS};

    fn server_row() -> Row {
        let mut r = Row::new();
        r.set("pxname", "be")
            .set("svname", "a")
            .set("scur", 0)
            .set("iid", 3)
            .set("sid", 1)
            .set("type", 2)
            .set("lastsess", -1)
            .modules(true);
        r
    }

    #[test]
    fn typed_rows_skip_empty_fields_and_the_separator() {
        let t = typed(&[server_row()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "S.3.1.0.pxname.1:KNS:str:be");
        assert_eq!(lines[2], "S.3.1.4.scur.1:MGP:u32:0");
        assert!(lines.contains(&"S.3.1.55.lastsess.1:MAP:s32:-1"), "{t}");
        assert!(lines.contains(&"S.3.1.103.ssl_sess.1:MCP:u64:0"), "{t}");
        assert_eq!(lines.len(), 3 + 4 + 3, "{t}");
    }

    #[test]
    fn json_rows_are_arrays_of_fields() {
        let j = json(&[server_row(), server_row()]);
        assert!(j.starts_with(r#"[[{"objType":"Server","proxyId":3,"id":1,"field":{"pos":0,"name":"pxname"},"processNum":1,"tags":{"origin":"Key","nature":"Name","scope":"Service"},"value":{"type":"str","value":"be"}},"#), "{j}");
        assert!(j.contains(r#""name":"lastsess"},"processNum":1,"tags":{"origin":"Metric","nature":"Age","scope":"Process"},"value":{"type":"s32","value":-1}}"#), "{j}");
        assert_eq!(j.matches("}],[{").count(), 1);
        assert!(j.ends_with("}]]\n"), "{j}");
    }

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
