//! The management CLI's reporting commands end to end through the real binary:
//! `show stat` (CSV, typed, JSON, filters), `show info` (plain, typed, JSON),
//! `show activity`, `debug counters`, `show servers conn`, and `clear counters`.
//!
//! Formats are HAProxy 2.6's (`SLUICE_TEST_PROXY=/usr/sbin/haproxy` runs the same
//! assertions against it); assertions marked "sluice-specific" are skipped there.

mod common;

use common::cli_proxy::{setup, start, stat};
use common::{cli, get_closed, is_sluice, wait_until, Conn, Origin};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// HAProxy 2.6's `show stat` header (base columns, `-`, then the modules' counters).
const HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

#[test]
fn show_stat_header_rows_and_values() {
    let s = setup();
    for _ in 0..4 {
        assert_eq!(get_closed(s.fe, "/").status, 200);
    }
    let out = cli(&s.admin, "show stat\n");
    assert_eq!(out.lines().next().unwrap(), HEADER);
    assert!(
        out.ends_with("\n\n"),
        "answer ends with an empty line: {out:?}"
    );
    let rows = stat(&s.admin);
    let fe = &rows["fe/FRONTEND"];
    assert_eq!(fe["status"], "OPEN");
    assert_eq!(fe["type"], "0");
    assert_eq!(fe["stot"], "4");
    assert_eq!(fe["req_tot"], "4");
    assert_eq!(fe["hrsp_2xx"], "4");
    assert_eq!(fe["mode"], "http");
    let be = &rows["be/BACKEND"];
    assert_eq!(be["status"], "UP");
    assert_eq!(be["type"], "1");
    assert_eq!(be["hrsp_2xx"], "4");
    assert_eq!(be["algo"], "roundrobin");
    assert_eq!(be["act"], "2");
    for srv in ["be/a", "be/b"] {
        let r = &rows[srv];
        assert_eq!(r["type"], "2");
        assert_eq!(r["status"], "no check");
        assert_eq!(r["weight"], "1");
        assert_eq!(r["hrsp_2xx"], "2", "{srv}");
        assert_eq!(r["pid"], "1");
    }
    assert_eq!(rows["be/a"]["sid"], "1");
    assert_eq!(rows["be/b"]["sid"], "2");
    // Rates: the 4 sessions/requests of the last second (read a moment later,
    // the previous second still counts in part), and the highest rate seen.
    let num = |r: &HashMap<String, String>, k: &str| -> u64 {
        r[k].parse().unwrap_or_else(|_| panic!("{k}: {:?}", r[k]))
    };
    for k in ["rate", "req_rate", "conn_rate"] {
        assert!((1..=4).contains(&num(fe, k)), "frontend {k}: {}", fe[k]);
    }
    // 4 in one second, or split across a second boundary (then weighted).
    assert!((2..=4).contains(&num(fe, "rate_max")), "{}", fe["rate_max"]);
    assert!(
        (2..=4).contains(&num(fe, "req_rate_max")),
        "{}",
        fe["req_rate_max"]
    );
    assert!(
        (1..=4).contains(&num(be, "rate")),
        "backend rate: {}",
        be["rate"]
    );
    assert!((2..=4).contains(&num(be, "rate_max")), "{}", be["rate_max"]);
    assert!(num(&rows["be/a"], "rate_max") >= 1);
}

#[test]
fn show_info_activity_and_debug_counters() {
    let s = setup();
    get_closed(s.fe, "/");
    let info = cli(&s.admin, "show info\n");
    let keys: Vec<&str> = info
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once(':').unwrap().0)
        .collect();
    for k in [
        "Name",
        "Version",
        "Nbthread",
        "Pid",
        "Uptime_sec",
        "Maxconn",
        "CurrConns",
        "CumConns",
        "CumReq",
    ] {
        assert!(keys.contains(&k), "{k} missing:\n{info}");
    }
    if !is_sluice() {
        println!("skipped: sluice-specific parts of show info/activity/debug counters");
        return;
    }
    // sluice-specific: the key order of the reference notes (HAProxy 3.x's full list).
    assert_eq!(keys.len(), 82, "{info}");
    assert_eq!(keys[0], "Name");
    assert_eq!(*keys.last().unwrap(), "NbThreadGroups");
    assert!(info.contains("CumReq: 1\n"), "{info}");
    let act = cli(&s.admin, "show activity\n");
    assert!(act.starts_with("thread_id: 1 (1.."), "{act}");
    assert!(act.lines().any(|l| l.starts_with("loops: ")), "{act}");
    let dc = cli(&s.admin, "debug counters\n");
    assert!(dc.starts_with("Count     Type Location function(): \"condition\" [comment]\n"));
    assert!(dc.contains("CNT fallback-epoll/src/reactor.rs"), "{dc}");
    assert!(dc.contains("epoll report of event on a just closed fd (harmless)"));
}

/// `show servers conn` header of HAProxy 3.x (sluice) and of HAProxy 2.6, which has
/// neither `served` nor `idle_sess`; rows are read by column name, so the same
/// assertions hold for both.
const CONN_HEADER_3X: &str = "# bkname/svname bkid/svid addr port - purge_delay served used_cur used_max need_est idle_sess unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]";
const CONN_HEADER_2_6: &str = "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]";

/// `show servers conn` rows: `bkname/svname` and its values by column name.
type ConnRows = Vec<(String, HashMap<String, String>)>;

/// A `show servers conn` answer: the header line, then per server its values by
/// column (`idle_per_thr[N]` becomes `thr0` .. `thrN-1`).
fn servers_conn(sock: &Path, args: &str) -> (String, ConnRows) {
    let out = cli(sock, &format!("show servers conn{args}\n"));
    assert!(
        out.ends_with("\n\n"),
        "answer ends with an empty line: {out:?}"
    );
    let mut lines = out.lines().filter(|l| !l.is_empty());
    let header = lines.next().expect("a header line").to_string();
    let mut cols: Vec<String> = header.split(' ').skip(1).map(String::from).collect();
    let per_thr = cols.pop().unwrap();
    let n: usize = per_thr
        .strip_prefix("idle_per_thr[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .expect("idle_per_thr[N] last");
    cols.extend((0..n).map(|t| format!("thr{t}")));
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), cols.len(), "row {l:?} for {header:?}");
            let m = cols.iter().cloned().zip(f.iter().map(|v| v.to_string()));
            (f[0].to_string(), m.collect())
        })
        .collect();
    (header, rows)
}

#[test]
fn show_servers_conn_counts_idle_connections() {
    let origins: Vec<Origin> = ["a", "b", "c"].into_iter().map(Origin::start).collect();
    let a_port = origins[0].port().to_string();
    let backends = format!(
        "backend be
    balance roundrobin
    http-reuse always
    server a {} pool-max-conn 7 pool-purge-delay 20s
    server b {} pool-purge-delay 30s

backend other
    server c {}
",
        origins[0].addr(),
        origins[1].addr(),
        origins[2].addr()
    );
    let s = start(origins, "    nbthread 2\n", &backends);
    let (fe, admin) = (s.fe, &s.admin);
    // Before any traffic: one line per server, nothing idle.
    let (header, rows) = servers_conn(admin, "");
    let want = if is_sluice() {
        CONN_HEADER_3X
    } else {
        CONN_HEADER_2_6
    };
    assert_eq!(header, want);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["be/a", "be/b", "other/c"]);
    for (_, r) in &rows {
        assert_eq!(r["idle_cur"], "0");
        assert_eq!(r["addr"], "127.0.0.1");
    }
    let (ra, rb) = (&rows[0].1, &rows[1].1);
    assert_eq!(ra["port"], a_port);
    assert_eq!(ra["purge_delay"], "20000");
    assert_eq!(rb["purge_delay"], "30000");
    assert_eq!(rows[2].1["purge_delay"], "5000", "the default");
    assert_eq!(ra["idle_lim"], "7");
    assert_eq!(rb["idle_lim"], "-1");
    let (be_id, sid) = ra["bkid/svid"].split_once('/').unwrap();
    assert_eq!(sid, "1");
    assert_eq!(rb["bkid/svid"], format!("{be_id}/2"));
    // Keep-alive clients, four open at once, each making requests, then leaving:
    // their server connections go idle in the pools.
    let clients: Vec<Conn> = (0..4)
        .map(|i| {
            let mut conn = Conn::connect(fe);
            for k in 0..3 {
                let r = conn.get(&format!("/k{i}/{k}")).unwrap();
                assert_eq!(r.status, 200);
            }
            conn
        })
        .collect();
    drop(clients);
    let mut last = Vec::new();
    let idle_now = |rows: &ConnRows| -> u32 {
        rows[..2]
            .iter()
            .map(|r| r.1["idle_cur"].parse::<u32>().unwrap())
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(5), || {
            last = servers_conn(admin, "").1;
            idle_now(&last) > 0 && last[..2].iter().all(|r| r.1["used_cur"] == "0")
        }),
        "no idle connection: {last:?}"
    );
    for (name, r) in &last {
        let num = |k: &str| r[k].parse::<u32>().unwrap_or_else(|_| panic!("{name} {k}"));
        assert_eq!(num("unsafe_nb") + num("safe_nb"), num("idle_cur"), "{name}");
        assert_eq!(num("thr0") + num("thr1"), num("idle_cur"), "{name}");
        assert!(num("used_max") >= num("used_cur"), "{name}");
    }
    assert!(last[0].1["used_max"] != "0" && last[1].1["used_max"] != "0");
    assert_eq!(last[2].1["idle_cur"], "0", "no traffic to other/c");
    if is_sluice() {
        // sluice-specific (HAProxy 3.x's columns): nothing served now, and session
        // idle connections are not counted yet.
        for (name, r) in &last {
            assert_eq!(
                (r["served"].as_str(), r["idle_sess"].as_str()),
                ("0", "0"),
                "{name}"
            );
        }
    }
    // A connection taken for a request goes back to its pool afterwards.
    let before = idle_now(&last);
    assert_eq!(get_closed(fe, "/again").status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || {
            last = servers_conn(admin, "").1;
            idle_now(&last) >= before
        }),
        "idle connections lost: {last:?}"
    );
    // One backend only, and an unknown one.
    let (_, only) = servers_conn(admin, " other");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].0, "other/c");
    assert_eq!(
        cli(admin, "show servers conn nope\n"),
        "Can't find backend.\n\n"
    );
    let help = cli(admin, "help\n");
    assert!(help.contains("show servers conn [<backend>]"), "{help}");
}

/// One `show stat typed` / `show info typed` line split into its key (before the
/// first `:`), tags, type and value; panics on a line of another shape.
fn typed_fields(line: &str) -> (&str, &str, &str, &str) {
    let mut p = line.splitn(4, ':');
    let (k, tags, ty, v) = (
        p.next().unwrap(),
        p.next().unwrap_or_default(),
        p.next().unwrap_or_default(),
        p.next().unwrap_or_else(|| panic!("typed line {line:?}")),
    );
    assert_eq!(tags.len(), 3, "tags of {line:?}");
    assert!(
        ["u32", "u64", "s32", "str"].contains(&ty),
        "type of {line:?}"
    );
    (k, tags, ty, v)
}

#[test]
fn show_info_and_stat_typed_json_and_filter() {
    let s = setup();
    get_closed(s.fe, "/");
    // show info typed: `<field>.<name>.<process>:<tags>:<type>:<value>`.
    let info = cli(&s.admin, "show info typed\n");
    assert!(info.starts_with("0.Name.1:POS:str:"), "{info}");
    assert!(info.ends_with("\n\n"), "{info:?}");
    let mut info_kv = HashMap::new();
    for l in info.lines().filter(|l| !l.is_empty()) {
        let (k, tags, ty, v) = typed_fields(l);
        let name = k.split('.').nth(1).unwrap();
        info_kv.insert(name.to_string(), (k.to_string(), tags.to_string(), ty, v));
    }
    let pid = &info_kv["Pid"];
    assert_eq!(
        (pid.0.as_str(), pid.1.as_str(), pid.2),
        ("6.Pid.1", "SGP", "u32")
    );
    assert!(pid.3.parse::<u32>().unwrap() > 0);
    assert_eq!(info_kv["Nbthread"].0, "3.Nbthread.1");
    assert_eq!(info_kv["CumReq"].1, "MCP");
    // show info json: an array of field objects.
    let json = cli(&s.admin, "show info json\n");
    assert!(
        json.starts_with(r#"[{"field":{"pos":0,"name":"Name"},"processNum":1,"tags":{"origin":"Product","nature":"Output","scope":"Service"},"value":{"type":"str","value":""#),
        "{json}"
    );
    assert!(json.ends_with("}}]\n\n"), "{json}");
    let pid_obj = format!(
        r#"{{"field":{{"pos":6,"name":"Pid"}},"processNum":1,"tags":{{"origin":"Status","nature":"Gauge","scope":"Process"}},"value":{{"type":"u32","value":{}}}}}"#,
        pid.3
    );
    assert!(json.contains(&pid_obj), "{pid_obj} in {json}");

    // show stat typed agrees with the CSV.
    let rows = stat(&s.admin);
    let fe_id = rows["fe/FRONTEND"]["iid"].clone();
    let be_id = rows["be/BACKEND"]["iid"].clone();
    let typed = cli(&s.admin, "show stat typed\n");
    assert!(typed.ends_with("\n\n"), "{typed:?}");
    let mut seen = HashMap::new();
    for l in typed.lines().filter(|l| !l.is_empty()) {
        let (k, tags, ty, v) = typed_fields(l);
        let p: Vec<&str> = k.split('.').collect();
        assert_eq!(p.len(), 6, "{l}");
        seen.insert(
            format!("{}.{}.{}.{}", p[0], p[1], p[2], p[4]),
            (
                p[3].to_string(),
                tags.to_string(),
                ty.to_string(),
                v.to_string(),
            ),
        );
    }
    let f = |k: &str| seen.get(k).unwrap_or_else(|| panic!("{k} in {typed}"));
    let fe = |n: &str| f(&format!("F.{fe_id}.0.{n}"));
    assert_eq!(
        fe("pxname").clone(),
        ("0".into(), "KNS".into(), "str".into(), "fe".into())
    );
    assert_eq!(
        fe("stot").clone(),
        ("7".into(), "MCP".into(), "u64".into(), "1".into())
    );
    assert_eq!(fe("hrsp_2xx").3, "1");
    assert_eq!(fe("status").3, "OPEN");
    assert_eq!(fe("mode").3, "http");
    // The modules' counters follow the base fields: the `-` column is not a field.
    assert_eq!(fe("ssl_sess").0, "103");
    let a_id = &rows["be/a"]["sid"];
    let srv = f(&format!("S.{be_id}.{a_id}.svname"));
    assert_eq!((srv.0.as_str(), srv.3.as_str()), ("1", "a"));
    assert_eq!(f(&format!("S.{be_id}.{a_id}.act")).1, "SGP");
    assert_eq!(f(&format!("B.{be_id}.0.act")).1, "MGP");
    assert_eq!(f(&format!("B.{be_id}.0.algo")).3, "roundrobin");

    // show stat json: an array of rows, each an array of field objects.
    let json = cli(&s.admin, "show stat json\n");
    let first = format!(
        r#"[[{{"objType":"Frontend","proxyId":{fe_id},"id":0,"field":{{"pos":0,"name":"pxname"}},"processNum":1,"tags":{{"origin":"Key","nature":"Name","scope":"Service"}},"value":{{"type":"str","value":"fe"}}}}"#
    );
    assert!(json.starts_with(&first), "{json}");
    assert!(json.ends_with("}]]\n\n"), "{json}");
    assert_eq!(json.matches("}],[{").count(), rows.len() - 1, "{json}");

    // The filter comes first: {<iid>|<proxy>} <type> <sid>.
    let srvs = cli(&s.admin, "show stat be 4 -1 typed\n");
    let kinds: std::collections::HashSet<&str> = srvs
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| &l[..l.find('.').unwrap()])
        .collect();
    assert_eq!(kinds, ["S"].into_iter().collect(), "{srvs}");
    assert!(
        srvs.contains(":str:a\n") && srvs.contains(":str:b\n"),
        "{srvs}"
    );
    let one = cli(&s.admin, &format!("show stat {be_id} 4 {a_id}\n"));
    let lines: Vec<&str> = one.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{one}");
    assert!(lines[1].starts_with("be,a,"), "{one}");
    let be_only = cli(&s.admin, &format!("show stat {be_id} 2 -1\n"));
    let lines: Vec<&str> = be_only.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{be_only}");
    assert!(lines[1].starts_with("be,BACKEND,"), "{be_only}");
    let fe_be = cli(&s.admin, "show stat fe 3 -1\n");
    assert_eq!(
        fe_be.lines().filter(|l| l.starts_with("fe,")).count(),
        1,
        "{fe_be}"
    );
    assert_eq!(
        cli(&s.admin, "show stat nosuch 1 -1\n"),
        "No such proxy.\n\n"
    );
}

#[test]
fn clear_counters_max_then_all() {
    let s = setup();
    for _ in 0..3 {
        assert_eq!(get_closed(s.fe, "/").status, 200);
    }
    let rows = stat(&s.admin);
    assert_eq!(rows["fe/FRONTEND"]["stot"], "3");
    assert_ne!(rows["fe/FRONTEND"]["smax"], "0");
    assert_ne!(rows["be/BACKEND"]["smax"], "0");
    // Levels: user may not clear, operator may clear the max values only.
    assert_eq!(cli(&s.user, "clear counters\n"), "Permission denied\n\n");
    let op = cli(&s.admin, "operator; clear counters all\n");
    assert!(op.contains("Permission denied\n"), "{op:?}");
    assert_eq!(stat(&s.admin)["fe/FRONTEND"]["stot"], "3");
    // clear counters: the highest values only.
    assert_eq!(cli(&s.admin, "clear counters\n"), "\n");
    let rows = stat(&s.admin);
    let fe = &rows["fe/FRONTEND"];
    assert_eq!((fe["smax"].as_str(), fe["stot"].as_str()), ("0", "3"));
    assert_eq!(fe["hrsp_2xx"], "3");
    for srv in ["be/a", "be/b"] {
        assert_eq!(rows[srv]["smax"], "0", "{srv}");
    }
    assert_eq!(rows["be/BACKEND"]["smax"], "0");
    let served: u64 = ["be/a", "be/b"]
        .iter()
        .map(|k| rows[*k]["stot"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(served, 3);
    // clear counters all: every counter.
    assert_eq!(cli(&s.admin, "clear counters all\n"), "\n");
    let rows = stat(&s.admin);
    for (row, col) in [
        ("fe/FRONTEND", "stot"),
        ("fe/FRONTEND", "req_tot"),
        ("fe/FRONTEND", "hrsp_2xx"),
        ("be/a", "stot"),
        ("be/b", "stot"),
        ("be/a", "hrsp_2xx"),
        ("be/BACKEND", "stot"),
        ("be/BACKEND", "hrsp_2xx"),
    ] {
        assert_eq!(rows[row][col], "0", "{row} {col}");
    }
    // Counting goes on from zero.
    assert_eq!(get_closed(s.fe, "/").status, 200);
    let rows = stat(&s.admin);
    assert_eq!(rows["fe/FRONTEND"]["stot"], "1");
    assert_eq!(rows["fe/FRONTEND"]["hrsp_2xx"], "1");
    assert_eq!(rows["be/BACKEND"]["hrsp_2xx"], "1");
}
