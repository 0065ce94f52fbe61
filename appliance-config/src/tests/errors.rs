//! Every kind of error: file:line, keyword, hint; did-you-mean; removed and
//! unsupported keywords; collection of all errors.

use super::{expect_err, load, load_err, DEFAULTS};

#[test]
fn alert_line_format() {
    let line = expect_err(
        "defaults\n  timeout clinet 5s\n",
        2,
        "timeout",
        "did you mean 'client'?",
    );
    assert_eq!(line, "[ALERT] config : parsing [t.cfg:2] : 'timeout' : unknown timeout 'clinet'; did you mean 'client'?");
}

#[test]
fn did_you_mean_everywhere() {
    expect_err(
        "frontend f\n  bnid :80\n",
        2,
        "bnid",
        "did you mean 'bind'?",
    );
    expect_err("globl\n", 1, "globl", "did you mean 'global'?");
    expect_err(
        "global\n  nbthraed 4\n",
        2,
        "nbthraed",
        "did you mean 'nbthread'?",
    );
    expect_err(
        "defaults\n  option forwadfor\n",
        2,
        "option forwadfor",
        "did you mean 'forwardfor'?",
    );
    expect_err("defaults\n  mode htp\n", 2, "mode", "did you mean 'http'?");
    expect_err(
        "defaults\n  balance roundrobbin\n",
        2,
        "balance",
        "did you mean 'roundrobin'?",
    );
    expect_err(
        "defaults\n  http-reuse alway\n",
        2,
        "http-reuse",
        "did you mean 'always'?",
    );
    expect_err(
        "frontend f\n  http-request set-hedaer X y\n",
        2,
        "http-request set-hedaer",
        "did you mean 'set-header'?",
    );
    expect_err(
        "frontend f\n  acl a path_bge /x\n",
        2,
        "acl",
        "did you mean 'path_beg'?",
    );
    expect_err(
        "frontend f\n  acl a hdr(host),lowr -i x\n",
        2,
        "acl",
        "did you mean 'lower'?",
    );
    expect_err(
        "frontend f\n  acl a path /x\n  use_backend b if aa\n",
        3,
        "use_backend",
        "did you mean 'a'?",
    );
    expect_err(
        "frontend f\n  log-format \"%ci %cpp\"\n",
        2,
        "log-format",
        "did you mean 'cp'?",
    );
    expect_err(
        "global\n  log stdout local9\n",
        2,
        "log",
        "did you mean 'local0'?",
    );
    expect_err(
        "frontend f\n  bind :80\n  default_backend app\nbackend ap\n  server s 127.0.0.1:1\n",
        3,
        "default_backend",
        "did you mean 'ap'?",
    );
}

#[test]
fn removed_keywords_name_their_replacement() {
    let cases = [
        ("contimeout 5s", "contimeout", "timeout connect"),
        ("clitimeout 5s", "clitimeout", "timeout client"),
        ("srvtimeout 5s", "srvtimeout", "timeout server"),
        ("redispatch", "redispatch", "option redispatch"),
        ("block if TRUE", "block", "http-request deny"),
        ("reqadd X-Foo:\\ bar", "reqadd", "http-request add-header"),
        (
            "reqrep ^Host:\\ x Host:\\ y",
            "reqrep",
            "http-request replace-header",
        ),
        (
            "reqirep ^Host:\\ x Host:\\ y",
            "reqirep",
            "http-request replace-header",
        ),
        ("reqdel ^X-Foo", "reqdel", "http-request del-header"),
        ("rspadd X-Foo:\\ bar", "rspadd", "http-response add-header"),
        ("rspdel ^Server", "rspdel", "http-response del-header"),
        (
            "rsprep ^Server.* Server:\\ x",
            "rsprep",
            "http-response replace-header",
        ),
        ("reqsetbe ^Host:\\ x be", "reqsetbe", "use_backend"),
    ];
    for (line, kw, repl) in cases {
        let s = expect_err(&format!("listen l\n  {line}\n"), 2, kw, repl);
        assert!(s.contains("was removed from HAProxy"), "{s}");
    }
    expect_err("global\n  nbproc 2\n", 2, "nbproc", "nbthread");
    expect_err(
        "defaults\n  option forceclose\n",
        2,
        "option forceclose",
        "option httpclose",
    );
    expect_err(
        "defaults\n  timeout srvtimeout 5s\n",
        2,
        "timeout",
        "did you mean 'server'?",
    );
}

#[test]
fn unsupported_keywords_are_refused_not_ignored() {
    let proxy = [
        ("stick-table type ip size 1m", "stick-table", "stick tables"),
        (
            "tcp-request connection reject",
            "tcp-request",
            "not supported yet",
        ),
        ("compression algo gzip", "compression", "compression"),
        ("stats scope app", "stats scope", "every proxy"),
        ("stats show-node", "stats show-node", "not supported yet"),
        (
            "stats http-request auth",
            "stats http-request",
            "not supported yet",
        ),
        ("cookie SRV insert", "cookie", "cookie"),
        ("filter spoe", "filter", "not supported"),
        (
            "http-request track-sc0 src",
            "http-request track-sc0",
            "stick tables",
        ),
        ("http-request tarpit", "http-request tarpit", "tarpit"),
        (
            "http-request capture req.hdr(host) len 10",
            "http-request capture",
            "capture request header",
        ),
        ("http-request lua.foo", "http-request lua.foo", "Lua"),
        ("log-format-sd x", "log-format-sd", "not supported"),
        ("option splice-auto", "option splice-auto", "LINUX_SPLICE"),
        ("option logasap", "option logasap", "not supported yet"),
        ("balance rdp-cookie", "balance", "not supported yet"),
        ("capture cookie x len 10", "capture", "cookies"),
    ];
    for (line, kw, needle) in proxy {
        let s = expect_err(&format!("listen l\n  {line}\n"), 2, kw, needle);
        assert!(s.contains("not supported") || s.contains("is not"), "{s}");
    }
    let global = [
        ("lua-load /x.lua", "lua-load", "Lua"),
        ("ssl-engine rdrand", "ssl-engine", "rustls"),
        ("master-worker", "master-worker", "supervisor"),
        (
            "tune.ssl.cachesize 20000",
            "tune.ssl.cachesize",
            "not supported yet",
        ),
        ("tune.foo 1", "tune.foo", "tune.bufsize"),
    ];
    for (line, kw, needle) in global {
        expect_err(&format!("global\n  {line}\n"), 2, kw, needle);
    }
    for s in [
        "peers p",
        "resolvers dns",
        "userlist u",
        "cache c",
        "ring r",
        "program p",
    ] {
        let kw = s.split(' ').next().unwrap();
        expect_err(
            &format!("{s}\n  anything goes here\n"),
            1,
            kw,
            "not supported",
        );
    }
    // The body of a refused section does not produce more errors.
    assert_eq!(
        load_err("peers p\n  peer a 1.2.3.4:1\n  nonsense\n").len(),
        1
    );
    expect_err(
        "frontend f\n  acl a ssl_fc_session_id -m found\n",
        2,
        "acl",
        "TLS fetch is not supported yet",
    );
    expect_err(
        "frontend f\n  acl a sc0_http_req_rate gt 10\n",
        2,
        "acl",
        "stick tables",
    );
    expect_err("frontend f\n  acl a req.cook(x) y\n", 2, "acl", "cookie");
    expect_err(
        "frontend f\n  use_backend %[req.hdr(host),map(/nonexistent/m)]\n",
        2,
        "use_backend",
        "failed to open pattern file '/nonexistent/m'",
    );
}

#[test]
fn section_rules() {
    expect_err(
        "backend b\n  bind :80\n",
        2,
        "bind",
        "it belongs in: frontend, listen",
    );
    expect_err(
        "frontend f\n  server s 1.2.3.4:80\n",
        2,
        "server",
        "backend",
    );
    expect_err("backend b\n  use_backend x\n", 2, "use_backend", "frontend");
    expect_err(
        "defaults\n  acl a path /x\n",
        2,
        "acl",
        "defaults sections are not supported yet",
    );
    expect_err(
        "defaults\n  http-request deny\n",
        2,
        "http-request",
        "defaults sections",
    );
    expect_err("  maxconn 10\n", 1, "maxconn", "start a section first");
    expect_err("frontend\n", 1, "frontend", "expects a name");
    expect_err("frontend a/b\n", 1, "frontend", "not permitted");
    expect_err(
        "http-errors e\n  errorfile 503 /nonexistent/x.http\n  foo\n",
        3,
        "foo",
        "errorfile",
    );
    // Frontend-only settings in a backend are warnings, as in HAProxy.
    let l = load(&format!("{DEFAULTS}backend b\n  option httplog\n  maxconn 5\n  timeout client 3s\n  server s 127.0.0.1:1\n"));
    assert_eq!(
        l.diagnostics
            .iter()
            .filter(|d| d.message.contains("ignored"))
            .count(),
        3,
        "{:?}",
        l.diagnostics
    );
}

#[test]
fn argument_errors() {
    let cases = [
        ("timeout client", "timeout", "expects one time value"),
        ("timeout client 5x", "timeout", "unexpected unit"),
        ("timeout client 30d", "timeout", "timer overflow"),
        ("timeout client abc", "timeout", "invalid time value"),
        ("retries x", "retries", "non-negative integer"),
        ("maxconn 0", "maxconn", "between 1 and"),
        ("mode", "mode", "unknown proxy mode"),
        ("mode health", "mode", "not supported"),
        ("log-format %ci %cp", "log-format", "exactly one argument"),
        ("log 127.0.0.1 local0 warn", "log", "did you mean 'warning'"),
        ("log 127.0.0.1", "log", "expects a target and a facility"),
        ("log ring@buf local0", "log", "not supported"),
        ("log tcp@1.2.3.4:514 local0", "log", "TCP"),
        (
            "option httpchk GET / HTTP/1.1\\r\\nHost:\\ x",
            "option httpchk",
            "http-check send hdr",
        ),
        (
            "http-check expect status abc",
            "http-check",
            "invalid status",
        ),
        (
            "http-check expect stauts 200",
            "http-check",
            "did you mean 'status'",
        ),
        ("http-check expect rstatus (", "http-check", "invalid regex"),
        ("balance uri len", "balance", "'len'"),
        ("balance url_param", "balance", "exactly one parameter"),
        ("hash-type random", "hash-type", "unknown hash type"),
        ("errorfile 999 /x", "errorfile", "cannot have an error file"),
        (
            "errorfile 503 /nonexistent/file",
            "errorfile",
            "failed to read",
        ),
        ("errorfiles", "errorfiles", "wrong arguments"),
        (
            "errorfiles nope",
            "errorfiles",
            "unknown http-errors section",
        ),
        ("monitor-uri health", "monitor-uri", "wrong arguments"),
        ("capture request header Host", "capture", "wrong arguments"),
        ("id 0", "id", "between 1 and"),
        ("no foo", "no", "'no' applies to"),
        (
            "option forwardfor except",
            "option forwardfor",
            "expects a network",
        ),
        (
            "option forwardfor except 10.0.0.0/33",
            "option forwardfor",
            "not an IP address",
        ),
        ("option redispatch 0", "option redispatch", "non-zero"),
    ];
    for (line, kw, needle) in cases {
        expect_err(&format!("listen l\n  bind :1\n  {line}\n"), 3, kw, needle);
    }
    let global = [
        ("nbthread 0", "nbthread", "between 1 and"),
        ("nbthread 5000", "nbthread", "between 1 and"),
        ("cpu-map 2 0", "cpu-map", "single thread group"),
        (
            "cpu-map auto:1/1-4 0-2",
            "cpu-map",
            "as many CPUs as threads",
        ),
        ("cpu-map 1/0 1", "cpu-map", "start at 1"),
        ("cpu-map 1/1 x", "cpu-map", "invalid CPU set"),
        ("daemon now", "daemon", "takes no argument"),
        ("maxconn", "maxconn", "expects number"),
        ("tune.bufsize 10", "tune.bufsize", "between 1024"),
        ("hard-stop-after 1y", "hard-stop-after", "unexpected unit"),
        ("log global", "log", "makes no sense"),
    ];
    for (line, kw, needle) in global {
        expect_err(&format!("global\n  {line}\n"), 2, kw, needle);
    }
    expect_err(
        "global\n  nbthread 2\n  cpu-map 1/3 0\n",
        3,
        "cpu-map",
        "thread 3 does not exist",
    );
    expect_err(
        "global\n  cpu-map 1/3 0\n  nbthread 2\n",
        2,
        "cpu-map",
        "nbthread is 2",
    );
}

#[test]
fn cross_checks() {
    expect_err(
        &format!("{DEFAULTS}frontend f\n  bind :80\n  use_backend nope\n"),
        8,
        "use_backend",
        "unable to find required use_backend: 'nope'",
    );
    let s = expect_err(&format!("{DEFAULTS}frontend f\n  bind :80\n  default_backend t\nbackend t\n  mode tcp\n  server s 127.0.0.1:1\n"), 8, "default_backend", "mode tcp");
    assert!(s.contains("cannot use backend 't'"), "{s}");
    // A tcp frontend may use an http backend.
    load(&format!("{DEFAULTS}frontend f\n  mode tcp\n  bind :80\n  default_backend h\nbackend h\n  server s 127.0.0.1:1\n"));
    expect_err(
        &format!("{DEFAULTS}frontend f\n  default_backend b\nbackend b\n"),
        6,
        "frontend",
        "has no 'bind' directive",
    );
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n"));
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.message.contains("no 'default_backend'")));
    expect_err(
        &format!("global\n  zero-warning\n{DEFAULTS}frontend f\n  bind :80\n"),
        8,
        "zero-warning",
        "default_backend",
    );
}

#[test]
fn all_errors_are_collected() {
    let text = "global\n  nbthread x\n  foo\nfrontend f\n  bind :81\n  bind :80 ssl\n  timeout clinet 1s\n  srvtimeout 1s\n  use_backend missing\n";
    let e = load_err(text);
    let lines: Vec<u32> = e
        .errors()
        .filter_map(|e| e.location.as_ref().map(|l| l.line))
        .collect();
    assert_eq!(lines, [2, 3, 6, 7, 8, 9], "{e}");
    assert_eq!(e.to_string().lines().count(), 6);
    // The limit.
    let many: String = std::iter::once("global\n".to_string())
        .chain((0..150).map(|i| format!("  bad{i}\n")))
        .collect();
    let e = load_err(&many);
    assert_eq!(e.len(), crate::ConfigErrors::LIMIT);
    assert!(e.truncated());
    assert!(e
        .to_string()
        .ends_with("too many errors, stopped after 100"));
    // Split errors carry file:line too.
    let s = expect_err("global\n  log \"stdout\n", 2, "", "unmatched quote");
    assert!(s.contains("[t.cfg:2]"), "{s}");
}
