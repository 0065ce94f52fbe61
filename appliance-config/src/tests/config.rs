//! Whole configurations: a realistic file, defaults, ids, addresses, global settings.

use std::net::SocketAddr;
use std::time::Duration;

use super::{expect_err, load, tmpdir, DEFAULTS};
use crate::model::rules::{BackendRef, HttpAction};
use crate::model::{
    Address, Balance, CheckExpect, HttpConnMode, HttpReuse, LogDest, LogHeaderFormat, LogLevel,
    Mode,
};

fn sa(s: &str) -> Address {
    Address::Tcp(s.parse::<SocketAddr>().unwrap())
}

#[test]
fn realistic_configuration() {
    let d = tmpdir("real");
    let page = d.join("503.http");
    std::fs::write(&page, "HTTP/1.1 503 Service Unavailable\nContent-Type: text/html\nContent-Length: 11\n\nno servers\n").unwrap();
    let blocked = d.join("blocked.lst");
    std::fs::write(
        &blocked,
        "# blocked networks\n192.0.2.0/24\n\n198.51.100.7\n",
    )
    .unwrap();
    let cfg = format!(
        r#"
global
    daemon
    maxconn 20000
    nbthread 4
    cpu-map auto:1/1-4 0-3
    log stdout format raw local0 info
    log 127.0.0.1:514 local1 notice
    pidfile /run/sluice.pid
    user haproxy
    group haproxy
    chroot /var/empty
    hard-stop-after 30s
    tune.bufsize 32768
    tune.http.maxhdr 128

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor except 127.0.0.0/8
    option redispatch
    retries 3
    timeout http-request 10s
    timeout queue 1m
    timeout connect 10s
    timeout client 1m
    timeout server 1m
    timeout http-keep-alive 10s
    timeout check 10s
    maxconn 3000
    errorfile 503 {page}

http-errors site
    errorfile 503 {page}

frontend www
    bind :80,:8080
    bind 127.0.0.1:9000-9002 name local
    bind [::1]:8443 v6only
    monitor-uri /healthz
    capture request header Host len 40
    acl is_api path_beg -i /api /v1
    acl is_static path_end .css .js .png
    acl is_static path_beg /static
    acl blocked src -f {blocked}
    acl admin hdr(host) -i admin.example.com
    http-request deny deny_status 403 if blocked
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Client "%[src]:%[src_port]"
    http-request del-header X-Secret -m beg
    http-request return status 200 content-type text/plain string ok if {{ path /ping }}
    http-request redirect scheme https code 301 if admin !{{ ssl_fc }}
    http-response set-header X-Served-By %s
    use_backend api if is_api
    use_backend static if is_static || {{ method HEAD }}
    default_backend app
    errorfiles site

backend app
    balance leastconn
    option httpchk GET /health HTTP/1.1
    http-check expect status 200-399
    http-reuse always
    default-server inter 3s fall 2 rise 3 maxconn 100
    server app1 127.0.0.1:8001 check weight 10
    server app2 127.0.0.1:8002 check backup id 10
    server app3 localhost:8003 disabled

backend api
    balance uri whole len 32
    hash-type consistent
    option http-keep-alive
    server api1 10.0.0.1:9000 check inter 1s fastinter 500ms downinter 5s
    server api2 [2001:db8::1]:9000 maxqueue 10

backend static
    balance hdr(Host) use_domain_only
    server s1 unix@/run/static.sock
    server s2 abns@static

listen stats
    bind :9999
    mode tcp
    option tcplog
    balance source
    server local 127.0.0.1:10000

listen raw
    bind ipv4@:7000
    mode tcp
    no log
    server r 127.0.0.1:7001
"#,
        page = page.display(),
        blocked = blocked.display()
    );
    let l = load(&cfg);
    let c = &l.config;
    let g = &c.global;
    assert!(g.daemon);
    assert_eq!(g.maxconn, Some(20000));
    assert_eq!(g.nbthread, Some(4));
    assert_eq!(
        g.thread_cpus(4),
        vec![Some(vec![0]), Some(vec![1]), Some(vec![2]), Some(vec![3])]
    );
    assert_eq!(g.loggers.len(), 2);
    assert_eq!(g.loggers[0].dest, LogDest::Stdout);
    assert_eq!(g.loggers[0].format, LogHeaderFormat::Raw);
    assert_eq!(g.loggers[0].facility, 16);
    assert_eq!(g.loggers[0].level, LogLevel::Info);
    assert_eq!(
        g.loggers[1].dest,
        LogDest::Udp("127.0.0.1:514".parse().unwrap())
    );
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(30)));
    assert_eq!(g.tune.bufsize, 32768);
    assert_eq!(g.tune.http_maxhdr, 128);
    assert_eq!(g.user.as_deref(), Some("haproxy"));

    // Frontends: www, stats, raw (declaration order); backends app, api, static, stats, raw.
    let names: Vec<_> = c
        .frontends
        .iter()
        .map(|f| (f.name.as_str(), f.id))
        .collect();
    assert_eq!(names, [("www", 1), ("stats", 5), ("raw", 6)]);
    let names: Vec<_> = c.backends.iter().map(|b| (b.name.as_str(), b.id)).collect();
    assert_eq!(
        names,
        [
            ("app", 2),
            ("api", 3),
            ("static", 4),
            ("stats", 5),
            ("raw", 6)
        ]
    );

    let www = c.frontend("www").unwrap();
    assert_eq!(www.mode, Mode::Http);
    let addrs: Vec<String> = www.binds.iter().map(|b| b.addr.to_string()).collect();
    assert_eq!(
        addrs,
        [
            "0.0.0.0:80",
            "0.0.0.0:8080",
            "127.0.0.1:9000",
            "127.0.0.1:9001",
            "127.0.0.1:9002",
            "[::1]:8443"
        ]
    );
    assert_eq!(www.binds[2].name.as_deref(), Some("local"));
    assert!(www.binds[5].v6only);
    assert_eq!(www.maxconn, Some(3000));
    assert_eq!(www.timeouts.client, Some(Duration::from_secs(60)));
    assert_eq!(www.http_conn_mode, HttpConnMode::ServerClose);
    assert_eq!(www.forwardfor.as_ref().unwrap().header, "X-Forwarded-For");
    assert_eq!(www.loggers.len(), 2, "log global expanded");
    assert!(www.log_format.is_some());
    assert!(www.dontlognull);
    assert_eq!(www.monitor_uri.as_deref(), Some("/healthz"));
    assert_eq!(www.capture_request[0].name, "host");
    assert_eq!(
        www.acls.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["is_api", "is_static", "blocked", "admin"]
    );
    assert_eq!(
        www.acls[1].terms.len(),
        2,
        "ACL lines with the same name OR together"
    );
    assert_eq!(www.http_request.len(), 6);
    assert!(matches!(www.http_request[0].action, HttpAction::Deny(ref r) if r.status == 403));
    assert_eq!(www.http_response.len(), 1);
    assert_eq!(www.use_backends.len(), 2);
    assert!(matches!(&www.use_backends[0].backend, BackendRef::Name(n) if n == "api"));
    assert_eq!(www.use_backends[1].cond.as_ref().unwrap().or_terms.len(), 2);
    assert_eq!(www.default_backend.as_deref(), Some("app"));
    assert!(www.errorfiles[&503]
        .raw
        .starts_with(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n"));

    let app = c.backend("app").unwrap();
    assert_eq!(app.balance, Balance::LeastConn);
    assert_eq!(app.retries, 3);
    assert_eq!(app.redispatch, Some(-1));
    assert_eq!(app.http_reuse, HttpReuse::Always);
    let chk = app.http_check.as_ref().unwrap();
    assert_eq!(
        (chk.method.as_str(), chk.uri.as_str(), chk.version.as_str()),
        ("GET", "/health", "HTTP/1.1")
    );
    assert!(matches!(&chk.expect, Some(CheckExpect::Status(v)) if v == &[(200, 399)]));
    let s: Vec<_> = app
        .servers
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.id,
                s.weight,
                s.backup,
                s.check,
                s.disabled,
            )
        })
        .collect();
    assert_eq!(
        s,
        [
            ("app1", 1, 10, false, true, false),
            ("app2", 10, 1, true, true, false),
            ("app3", 2, 1, false, false, true)
        ]
    );
    assert_eq!(app.servers[0].inter, Duration::from_secs(3));
    assert_eq!(app.servers[0].fall, 2);
    assert_eq!(app.servers[0].rise, 3);
    assert_eq!(app.servers[0].maxconn, 100);
    assert_eq!(app.servers[0].addr, sa("127.0.0.1:8001"));
    assert!(
        matches!(app.servers[2].addr, Address::Tcp(a) if a.port() == 8003 && a.ip().is_loopback())
    );

    let api = c.backend("api").unwrap();
    assert_eq!(
        api.balance,
        Balance::Uri {
            whole: true,
            len: 32,
            depth: 0,
            path_only: false
        }
    );
    assert_eq!(api.http_conn_mode, HttpConnMode::KeepAlive);
    assert_eq!(api.servers[0].fastinter, Duration::from_millis(500));
    assert_eq!(api.servers[0].downinter, Duration::from_secs(5));
    assert_eq!(api.servers[0].rise, 2, "HAProxy default");
    assert_eq!(api.servers[1].addr, sa("[2001:db8::1]:9000"));
    let st = c.backend("static").unwrap();
    assert_eq!(
        st.balance,
        Balance::Hdr {
            name: "host".into(),
            use_domain_only: true
        }
    );
    assert_eq!(st.servers[0].addr, Address::Unix("/run/static.sock".into()));
    assert_eq!(st.servers[1].addr, Address::Abstract("static".into()));

    let stats = c.frontend("stats").unwrap();
    assert!(stats.listen);
    assert_eq!(stats.mode, Mode::Tcp);
    assert_eq!(stats.default_backend.as_deref(), Some("stats"));
    assert_eq!(c.backend("stats").unwrap().balance, Balance::Source);
    assert!(c.frontend("raw").unwrap().loggers.is_empty(), "no log");
    // Warnings only for things a reader should know: httplog in tcp mode falls back.
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("falling back to 'option tcplog'")),
        "{:?}",
        l.diagnostics
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn haproxy_defaults() {
    let l =
        load("frontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n");
    let b = &l.config.backends[0];
    let f = &l.config.frontends[0];
    assert_eq!(f.mode, Mode::Tcp);
    assert_eq!(b.retries, 3);
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.http_reuse, HttpReuse::Safe);
    assert_eq!(b.http_conn_mode, HttpConnMode::KeepAlive);
    let s = &b.servers[0];
    assert_eq!(
        (s.weight, s.rise, s.fall, s.inter),
        (1, 2, 3, Duration::from_secs(2))
    );
    assert_eq!(l.config.global.tune.bufsize, 16384);
    assert_eq!(l.config.global.tune.http_maxhdr, 101);
    assert_eq!(f.maxconn, None);
    // Missing timeouts are warned about, as HAProxy does.
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.message.contains("missing timeouts for frontend 'f'")));
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.message.contains("missing timeouts for backend 'b'")));
}

#[test]
fn named_defaults_and_from() {
    let text = "defaults base\n  mode http\n  timeout client 1s\n  timeout connect 1s\n  timeout server 1s\n  retries 7\n\
                defaults tcpdef\n  mode tcp\n  retries 1\n  timeout client 2s\n  timeout connect 2s\n  timeout server 2s\n\
                backend b1 from base\n  server s 127.0.0.1:1\n\
                backend b2\n  server s 127.0.0.1:1\n\
                defaults\n  retries 4\n\
                backend b3\n  server s 127.0.0.1:1\n";
    let l = load(text);
    let b: Vec<_> = l
        .config
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.mode, b.retries))
        .collect();
    assert_eq!(
        b,
        [
            ("b1", Mode::Http, 7),
            ("b2", Mode::Tcp, 1),
            ("b3", Mode::Tcp, 4)
        ]
    );
    expect_err(
        "backend b from nope\n",
        1,
        "backend",
        "defaults section 'nope' not found",
    );
    expect_err(
        "defaults basic\nbackend b from basc\n",
        2,
        "backend",
        "did you mean 'basic'",
    );
}

#[test]
fn addresses() {
    let l = load(&format!(
        "{DEFAULTS}frontend f\n  bind *:81\n  bind :::82\n  bind ipv6@:83\n  bind unix@/tmp/s.sock\n  bind /tmp/t.sock\n  bind abns@name\n  bind fd@3\n  bind localhost:84\n  default_backend b\nbackend b\n  server s ipv4@127.0.0.1:80\n"
    ));
    let a: Vec<String> = l.config.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.to_string())
        .collect();
    assert_eq!(
        a[..7],
        [
            "0.0.0.0:81",
            "[::]:82",
            "[::]:83",
            "unix@/tmp/s.sock",
            "unix@/tmp/t.sock",
            "abns@name",
            "fd@3"
        ]
    );
    assert!(a[7].ends_with(":84"));
    let errs = [
        ("bind quic4@:443", "QUIC"),
        ("bind udp@:53", "TCP only"),
        ("bind rhttp@be/srv", "reverse HTTP"),
        ("bind sockpair@3", "socket pairs"),
        ("bind :80-70", "inverted port range"),
        ("bind :0", "invalid port"),
        ("bind 1.2.3.4", "missing port"),
        ("bind foo@:80", "unknown address prefix"),
        ("bind ipv4@::1:80", "not an IPv4 address"),
        (
            "bind :80 ssl crt /nonexistent-sluice/x.pem",
            "cannot access certificate '/nonexistent-sluice/x.pem'",
        ),
        (
            "bind :80 alpn h2",
            "'alpn' is a TLS option but bind ':80' has no 'ssl'",
        ),
        ("bind :80 accept-proxy", "PROXY protocol"),
        ("bind :80 nmae x", "did you mean 'name'"),
        ("bind :80 v4v6 v6only", "mutually exclusive"),
    ];
    for (line, needle) in errs {
        expect_err(&format!("frontend f\n  {line}\n"), 2, "bind", needle);
    }
    let errs = [
        ("server s 1.2.3.4", "missing port"),
        ("server s 1.2.3.4:+10", "port offset"),
        ("server s :80", "has no host"),
        ("server s fd@3", "fd@ is for bind"),
        ("server s no-such-host.invalid:80", "could not resolve"),
        ("server s 1.2.3.4:80 ssl", "has no CA file"),
        ("server s 1.2.3.4:80 send-proxy", "PROXY protocol"),
        ("server s 1.2.3.4:80 cookie s1", "cookie-based persistence"),
        ("server s 1.2.3.4:80 slowstart 10s", "slow start"),
        ("server s 1.2.3.4:80 wieght 3", "did you mean 'weight'"),
        ("server s 1.2.3.4:80 weight 300", "between 0 and 256"),
        ("server s 1.2.3.4:80 inter 0", "greater than zero"),
        ("server s 1.2.3.4:80 rise", "expects a value"),
        ("server s 1.2.3.4:80,5.6.7.8:80", "one address"),
    ];
    for (line, needle) in errs {
        expect_err(&format!("backend b\n  {line}\n"), 2, "server", needle);
    }
}

#[test]
fn ids_and_duplicates() {
    let l = load(&format!("{DEFAULTS}backend a\n  id 2\n  server x 127.0.0.1:1\nbackend b\n  server y 127.0.0.1:1 id 3\n  server z 127.0.0.1:1\nbackend c\n  server w 127.0.0.1:1\n"));
    let ids: Vec<u32> = l.config.backends.iter().map(|b| b.id).collect();
    assert_eq!(ids, [2, 1, 3]);
    let sids: Vec<u32> = l.config.backends[1].servers.iter().map(|s| s.id).collect();
    assert_eq!(sids, [3, 1]);
    // A frontend and a backend may share a name (HAProxy), two backends may not.
    load(&format!("{DEFAULTS}frontend www\n  bind :80\n  default_backend www\nbackend www\n  server s 127.0.0.1:1\n"));
    expect_err(
        &format!(
            "{DEFAULTS}backend a\n  server s 127.0.0.1:1\nbackend a\n  server s 127.0.0.1:1\n"
        ),
        8,
        "backend",
        "same name",
    );
    expect_err(
        &format!("{DEFAULTS}backend a\n  server s 127.0.0.1:1\nlisten a\n  bind :1\n"),
        8,
        "listen",
        "same name",
    );
    expect_err(
        &format!("{DEFAULTS}backend a\n  server s 127.0.0.1:1\n  server s 127.0.0.1:2\n"),
        8,
        "server",
        "two servers named 's'",
    );
    expect_err(
        &format!("{DEFAULTS}backend a\n  id 4\nbackend b\n  id 4\n"),
        8,
        "id",
        "already used",
    );
    expect_err(
        &format!("{DEFAULTS}backend a\n  server s 127.0.0.1:1 id 1\n  server t 127.0.0.1:2 id 1\n"),
        8,
        "server",
        "already used",
    );
}

#[test]
fn global_section() {
    let l = load("global\n  nbthread 2\n  cpu-map 1/1 0\n  cpu-map 1/2 1-3\n  cpu-map 1 5\n  uid 100\n  gid 100\n  ulimit-n 1000\n  log /dev/log local0\n  log udp@10.0.0.1 daemon err info\n  description my load balancer\n");
    let g = &l.config.global;
    assert_eq!(g.cpu_maps.len(), 3);
    assert_eq!(g.thread_cpus(2), vec![Some(vec![5]), Some(vec![5])]);
    assert_eq!(g.loggers[0].dest, LogDest::UnixDgram("/dev/log".into()));
    assert_eq!(
        g.loggers[1].dest,
        LogDest::Udp("10.0.0.1:514".parse().unwrap())
    );
    assert_eq!(g.loggers[1].level, LogLevel::Err);
    assert_eq!(g.loggers[1].min_level, LogLevel::Info);
    assert_eq!(g.description.as_deref(), Some("my load balancer"));
    let l = load("global\n  cpu-map 1/all 0-1\n  cpu-map auto:1/1-2 4 5\n");
    assert_eq!(
        l.config.global.thread_cpus(2),
        vec![Some(vec![4]), Some(vec![5])]
    );
}

#[test]
fn global_stats_socket() {
    use crate::model::CliLevel;
    let l = load("global\n  stats socket /run/a.sock mode 660 level user\n  stats socket 127.0.0.1:9999 level operator\n  stats socket ipv4@127.0.0.1:9998\n  stats timeout 30s\n");
    let g = &l.config.global;
    assert_eq!(g.stats_sockets.len(), 3);
    assert_eq!(g.stats_sockets[0].addr, Address::Unix("/run/a.sock".into()));
    assert_eq!(g.stats_sockets[0].mode, Some(0o660));
    assert_eq!(g.stats_sockets[0].level, CliLevel::User);
    assert_eq!(g.stats_sockets[1].addr, sa("127.0.0.1:9999"));
    assert_eq!(g.stats_sockets[1].level, CliLevel::Operator);
    assert_eq!(g.stats_sockets[2].level, CliLevel::Admin);
    assert_eq!(g.stats_timeout, Some(Duration::from_secs(30)));
    assert!(l.diagnostics.is_empty());
    // expose-fd listeners: no warning any more (listeners are passed with -x).
    let l = load("global\n  stats socket /run/a.sock expose-fd listeners\n");
    assert!(l.config.global.stats_sockets[0].expose_fd);
    assert!(
        !l.diagnostics
            .iter()
            .any(|d| d.message.contains("expose-fd")),
        "{:?}",
        l.diagnostics
    );
    expect_err(
        "global\n  stats socket /x level root\n",
        2,
        "stats socket",
        "level",
    );
    expect_err(
        "global\n  stats socket /x mode 9\n",
        2,
        "stats socket",
        "octal",
    );
    expect_err(
        "global\n  stats socket /x foo bar\n",
        2,
        "stats socket",
        "foo",
    );
    expect_err("global\n  stats socket\n", 2, "stats socket", "address");
    expect_err("global\n  stats timeout\n", 2, "stats timeout", "time");
    expect_err("global\n  stats enable\n", 2, "stats", "global section");
}

#[test]
fn server_pool_keywords() {
    let l = load(&format!(
        "{DEFAULTS}backend b\n  default-server pool-purge-delay 300ms pool-low-conn 2\n  server s1 127.0.0.1:80\n  server s2 127.0.0.1:81 pool-max-conn 0 max-reuse 10 pool-purge-delay 0\n  server s3 127.0.0.1:82 pool-max-conn -1\n"
    ));
    let s = &l.config.backends[0].servers;
    assert_eq!(s[0].pool_purge_delay, Duration::from_millis(300));
    assert_eq!(
        (s[0].pool_low_conn, s[0].pool_max_conn, s[0].max_reuse),
        (2, -1, -1)
    );
    assert_eq!((s[1].pool_max_conn, s[1].max_reuse), (0, 10));
    assert_eq!(s[1].pool_purge_delay, Duration::ZERO);
    assert_eq!(s[2].pool_max_conn, -1);
    let l = load(&format!("{DEFAULTS}backend b\n  server s1 127.0.0.1:80\n"));
    let s = &l.config.backends[0].servers[0];
    assert_eq!(
        s.pool_purge_delay,
        Duration::from_secs(5),
        "HAProxy's default"
    );
    assert_eq!((s.pool_max_conn, s.pool_low_conn, s.max_reuse), (-1, 0, -1));
    let base = format!("{DEFAULTS}backend b\n");
    let line = base.lines().count() as u32 + 1;
    expect_err(
        &format!("{base}  server s1 127.0.0.1:80 pool-max-conn -2\n"),
        line,
        "server",
        "-1 (unlimited)",
    );
    expect_err(
        &format!("{base}  server s1 127.0.0.1:80 pool-purge-delay soon\n"),
        line,
        "server",
        "soon",
    );
    expect_err(
        &format!("{base}  server s1 127.0.0.1:80 max-reuse\n"),
        line,
        "server",
        "expects a value",
    );
}

#[test]
fn global_idle_pool_shared() {
    use crate::model::IdlePoolShared;
    let l = load("global\n  tune.idle-pool.shared off\n");
    assert_eq!(l.config.global.tune.idle_pool_shared, IdlePoolShared::Off);
    assert!(l.diagnostics.is_empty(), "off needs no warning");
    let l = load("global\n  tune.idle-pool.shared full\n");
    assert_eq!(l.config.global.tune.idle_pool_shared, IdlePoolShared::Full);
    assert!(
        l.diagnostics.is_empty(),
        "takeover is implemented: {:?}",
        l.diagnostics
    );
    let l = load("global\n  nbthread 1\n");
    assert_eq!(l.config.global.tune.idle_pool_shared, IdlePoolShared::On);
    expect_err(
        "global\n  tune.idle-pool.shared maybe\n",
        2,
        "tune.idle-pool.shared",
        "maybe",
    );
}
