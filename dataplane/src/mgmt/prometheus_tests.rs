//! Unit tests of the Prometheus page: HAProxy's names with the workers' counters
//! summed, histograms (cumulative buckets, `+Inf` = count, sums in seconds), label
//! escaping, and the families' structure (each announced once, before its samples).

use super::*;
use crate::proxy::latency::Timings;
use crate::proxy::stats::TxnEnd;

fn shared() -> Arc<Shared> {
    let cfg = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
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
