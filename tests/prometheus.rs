//! `http-request use-service prometheus-exporter`: traffic through a backend, then
//! the page parsed by a real Prometheus parser (Debian's `python3-prometheus-client`;
//! the test prints `skipped: …` when it is not installed). The HAProxy-named part
//! also passes against HAProxy 2.6 (`SLUICE_TEST_PROXY=/usr/sbin/haproxy`); the
//! `sluice_*` histograms are checked against sluice only.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{free_port, get, is_sluice, wait_until, Origin, Proxy, HTTP_DEFAULTS};

/// The parser: one `name<TAB>label=value,…<TAB>value` line per sample, `#TYPE` lines
/// per family.
const PARSE: &str = r##"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print("#TYPE\t%s\t%s" % (fam.name, fam.type))
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s\t%s\t%r" % (s.name, labels, s.value))
"##;

/// Samples by `name{sorted labels}`, family types by name.
struct Parsed {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Parsed {
    fn get(&self, name: &str, labels: &str) -> f64 {
        let k = format!("{name}{{{labels}}}");
        *self
            .samples
            .get(&k)
            .unwrap_or_else(|| panic!("no sample {k}"))
    }
}

fn python_client_available() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Parse `page` with the Python client (which fails on malformed input).
fn parse(page: &str) -> Parsed {
    use std::io::Write;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the page: {}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut p = Parsed {
        samples: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0] == "#TYPE" {
            p.types.insert(f[1].into(), f[2].into());
        } else {
            let v: f64 = f[2].parse().unwrap_or_else(|_| panic!("value {l}"));
            p.samples.insert(format!("{}{{{}}}", f[0], f[1]), v);
        }
    }
    p
}

#[test]
fn exporter_page_parses_and_counts_the_traffic() {
    if !python_client_available() {
        println!("skipped: python3-prometheus-client not installed");
        return;
    }
    let (o1, o2) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    // Two workers: the page sums the counters of both.
    let defaults = HTTP_DEFAULTS.replacen("global\n", "global\n    nbthread 2\n", 1);
    let _p = Proxy::start(&format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    default_backend be

backend be
    balance roundrobin
    server s1 {}
    server s2 {}
",
        o1.addr(),
        o2.addr()
    ));
    const N: usize = 6;
    for i in 0..N {
        assert_eq!(get(fe, &format!("/r{i}")).status, 200);
    }
    assert_eq!(o1.requests() + o2.requests(), N);

    // The workers count a transaction once its response is sent: poll (bounded).
    let mut last = None;
    let done = wait_until(Duration::from_secs(5), || {
        let r = get(fe, "/metrics");
        assert_eq!(r.status, 200);
        let ct = r.header("content-type").unwrap_or_default().to_string();
        assert!(ct.starts_with("text/plain"), "content-type {ct}");
        let p = parse(&r.body_str());
        let ok = p.get("haproxy_backend_http_responses_total", "code=2xx,proxy=be") == N as f64;
        last = Some(p);
        ok
    });
    let p = last.unwrap();
    assert!(done, "backend 2xx responses never reached {N}");

    let reqs = p.get("haproxy_frontend_http_requests_total", "proxy=fe");
    assert!((N as f64..=N as f64 + 20.0).contains(&reqs), "{reqs}");
    let per_server: f64 = ["s1", "s2"]
        .iter()
        .map(|s| {
            p.get(
                "haproxy_server_sessions_total",
                &format!("proxy=be,server={s}"),
            )
        })
        .sum();
    assert_eq!(per_server, N as f64);
    for s in ["s1", "s2"] {
        let l = format!("proxy=be,server={s}");
        assert_eq!(
            p.get("haproxy_server_status", &format!("{l},state=UP")),
            1.0
        );
        assert_eq!(p.get("haproxy_server_weight", &l), 1.0);
        assert!(p.get("haproxy_server_bytes_out_total", &l) > 0.0);
        p.get("haproxy_server_idle_connections_current", &l);
        p.get("haproxy_server_used_connections_current", &l);
        p.get("haproxy_server_need_connections_current", &l);
    }
    assert_eq!(p.get("haproxy_backend_active_servers", "proxy=be"), 2.0);
    assert_eq!(p.get("haproxy_backend_current_queue", "proxy=be"), 0.0);
    assert_eq!(
        p.get("haproxy_backend_connection_errors_total", "proxy=be"),
        0.0
    );
    assert!(p.get("haproxy_frontend_bytes_in_total", "proxy=fe") > 0.0);
    assert!(p.get("haproxy_process_current_connections", "") >= 1.0);
    assert!(p.get("haproxy_process_start_time_seconds", "") > 1.6e9);
    assert_eq!(p.get("haproxy_process_nbthread", ""), 2.0);
    for (name, kind) in [
        ("haproxy_frontend_sessions", "counter"),
        ("haproxy_frontend_current_sessions", "gauge"),
        ("haproxy_backend_http_responses", "counter"),
        ("haproxy_server_status", "gauge"),
        ("haproxy_process_build_info", "gauge"),
    ] {
        assert_eq!(p.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert!(
        p.samples
            .keys()
            .any(|k| k.starts_with("haproxy_process_build_info{version=")),
        "build_info"
    );

    if !is_sluice() {
        return;
    }
    // sluice's histograms: one observation per forwarded request, in both views.
    for what in ["queue", "connect", "response", "total"] {
        let fam = format!("sluice_backend_{what}_time_seconds");
        assert_eq!(p.types.get(&fam).map(String::as_str), Some("histogram"));
        let count = p.get(&format!("{fam}_count"), "proxy=be");
        let inf = p.get(&format!("{fam}_bucket"), "le=+Inf,proxy=be");
        assert_eq!(inf, count, "{fam}");
        let servers: f64 = ["s1", "s2"]
            .iter()
            .map(|s| {
                p.get(
                    &format!("sluice_server_{what}_time_seconds_count"),
                    &format!("proxy=be,server={s}"),
                )
            })
            .sum();
        assert_eq!(servers, count, "{fam}: servers add up to the backend");
        if what != "queue" {
            assert_eq!(count, N as f64, "{fam}");
        }
        assert!(p.get(&format!("{fam}_sum"), "proxy=be") < 10.0 * N as f64);
    }
}
