//! http-request / http-response actions, ACL routing, redirects, error files, monitor-uri.

mod common;

use common::{free_port, get, get_with, Conn, Origin, Proxy, HTTP_DEFAULTS};

/// A frontend `fe` with `rules`, whose default backend `be` has the origin `o`.
fn simple(fe: u16, o: &Origin, rules: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
{rules}
    default_backend be

backend be
    server {} {}
",
        o.name,
        o.addr()
    )
}

#[test]
fn header_rewriting_actions() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        r"    http-request set-header x-set hello
    http-request add-header x-add one
    http-request add-header x-add two
    http-request del-header x-remove
    http-request replace-header x-rep ^foo-(.*)$ bar-\1",
    ));
    let r = get_with(
        fe,
        "/h",
        &[
            ("x-set", "old1"),
            ("x-set", "old2"),
            ("x-remove", "gone"),
            ("x-rep", "foo-123"),
            ("x-add", "zero"),
        ],
    );
    assert_eq!(r.status, 200);
    let s = o.last_seen().unwrap();
    assert_eq!(
        s.head.headers_named("x-set"),
        ["hello"],
        "set-header replaces all"
    );
    assert_eq!(
        s.head.headers_named("x-add"),
        ["zero", "one", "two"],
        "add-header appends"
    );
    assert!(s.header("x-remove").is_none(), "del-header");
    assert_eq!(
        s.header("x-rep"),
        Some("bar-123"),
        "replace-header with back-reference"
    );
}

#[test]
fn set_path_keeps_the_query() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        "    http-request set-path /rewritten if { path /old }",
    ));
    assert_eq!(get(fe, "/old?q=1").status, 200);
    assert_eq!(o.last_seen().unwrap().target, "/rewritten?q=1");
    assert_eq!(get(fe, "/other").status, 200);
    assert_eq!(o.last_seen().unwrap().target, "/other");
}

#[test]
fn http_request_redirects() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        "    http-request redirect location /there code 302 if { path /loc }
    http-request redirect prefix https://example.com code 301 if { path_beg /pre }
    http-request redirect scheme https if { path /sch }
    redirect location /kw code 307 if { path /keyword }",
    ));
    let cases = [
        ("/loc", 302, "/there"),
        ("/pre/x?y=1", 301, "https://example.com/pre/x?y=1"),
        ("/sch", 302, "https://test/sch"),
        ("/keyword", 307, "/kw"),
    ];
    for (path, status, location) in cases {
        let r = get(fe, path);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("location"), Some(location), "{path}");
        assert!(r.body.is_empty(), "{path}: redirect has no body");
    }
    assert_eq!(o.requests(), 0, "redirects never reach the server");
}

#[test]
fn deny_default_and_custom_status() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        "    http-request deny if { path /deny }
    http-request deny deny_status 429 if { path /slow-down }",
    ));
    let r = get(fe, "/deny");
    assert_eq!(r.status, 403);
    assert_eq!(r.head.start, "HTTP/1.1 403 Forbidden");
    assert!(
        r.body_str().contains("<h1>403 Forbidden</h1>"),
        "{}",
        r.body_str()
    );
    assert!(r
        .body_str()
        .contains("Request forbidden by administrative rules."));
    let r = get(fe, "/slow-down");
    assert_eq!(r.status, 429);
    assert!(
        r.body_str().contains("<h1>429 Too Many Requests</h1>"),
        "{}",
        r.body_str()
    );
    assert_eq!(o.requests(), 0);
    assert_eq!(get(fe, "/ok").status, 200);
}

#[test]
fn return_string_and_file() {
    let o = Origin::start("s1");
    let fe = free_port();
    let dir = common::proxy::TempDir::new("return");
    let page = dir.write("page.html", "<p>from a file</p>\n");
    let _p = Proxy::start(&simple(
        fe,
        &o,
        &format!(
            "    http-request return status 200 content-type text/plain string \"hello from return\" if {{ path /ret }}
    http-request return status 404 content-type text/html file {} if {{ path /retfile }}",
            page.display()
        ),
    ));
    let r = get(fe, "/ret");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body_str(), "hello from return");
    let r = get(fe, "/retfile");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.body_str(), "<p>from a file</p>\n");
    assert_eq!(o.requests(), 0);
}

#[test]
fn set_var_feeds_an_acl() {
    let (o, admin) = (Origin::start("s1"), Origin::start("admin"));
    let fe = free_port();
    let cfg = format!(
        "{}
backend be_admin
    server admin {}
",
        simple(
            fe,
            &o,
            "    http-request set-var(txn.user) req.hdr(x-user)
    acl is_admin var(txn.user) -m str root
    use_backend be_admin if is_admin"
        ),
        admin.addr()
    );
    let _p = Proxy::start(&cfg);
    assert_eq!(
        get_with(fe, "/", &[("x-user", "root")]).served_by(),
        "admin"
    );
    assert_eq!(get_with(fe, "/", &[("x-user", "bob")]).served_by(), "s1");
    assert_eq!(get(fe, "/").served_by(), "s1");
}

#[test]
fn http_response_header_actions() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        "    http-response set-header x-served-by hidden
    http-response add-header x-resp-add a
    http-response add-header x-resp-add b
    http-response del-header x-conn-id",
    ));
    let r = get(fe, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.head.headers_named("x-served-by"), ["hidden"]);
    assert_eq!(r.head.headers_named("x-resp-add"), ["a", "b"]);
    assert!(r.header("x-conn-id").is_none());
    assert_eq!(r.body_str(), "s1");
}

#[test]
fn http_response_deny_is_a_502() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(
        fe,
        &o,
        "    http-response deny if { res.hdr(x-target) -m beg /secret }",
    ));
    let r = get(fe, "/secret/file");
    assert_eq!(r.status, 502);
    assert!(
        r.body_str().contains("<h1>502 Bad Gateway</h1>"),
        "{}",
        r.body_str()
    );
    assert_eq!(
        o.requests(),
        1,
        "the server was asked; its answer was replaced"
    );
    assert_eq!(get(fe, "/public").status, 200);
}

#[test]
fn forwardfor_adds_client_address() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(fe, &o, "    option forwardfor"));
    get(fe, "/");
    assert_eq!(
        o.last_seen().unwrap().head.headers_named("x-forwarded-for"),
        ["127.0.0.1"]
    );
    // An existing header is kept and a new one appended after it.
    get_with(fe, "/", &[("x-forwarded-for", "192.0.2.7")]);
    let s = o.last_seen().unwrap();
    assert_eq!(
        s.head.headers_named("x-forwarded-for"),
        ["192.0.2.7", "127.0.0.1"]
    );
}

#[test]
fn acl_routing() {
    let names = ["api", "host", "post", "or", "local", "notlocal", "dflt"];
    let origins: Vec<Origin> = names.iter().map(|n| Origin::start(n)).collect();
    let fe = free_port();
    let backends: String = origins
        .iter()
        .map(|o| format!("backend be_{0}\n    server {0} {1}\n\n", o.name, o.addr()))
        .collect();
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    acl is_api path_beg /api
    acl host_ex hdr(host) -i example.com
    acl is_post method POST
    acl from_lo src 127.0.0.0/8
    use_backend be_api if is_api
    use_backend be_host if host_ex
    use_backend be_post if is_post !is_api
    use_backend be_or if {{ path /or1 }} or {{ path /or2 }}
    use_backend be_notlocal if !from_lo
    use_backend be_local if from_lo {{ path_beg /local }}
    default_backend be_dflt

{backends}"
    ));
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("GET", "/api/v1", &[], "api"),
        ("POST", "/api/v1", &[], "api"),
        ("GET", "/", &[("host", "EXAMPLE.com")], "host"),
        ("GET", "/", &[("host", "example.org")], "dflt"),
        ("POST", "/form", &[], "post"),
        ("GET", "/or1", &[], "or"),
        ("GET", "/or2", &[], "or"),
        ("GET", "/or3", &[], "dflt"),
        ("GET", "/local/x", &[], "local"),
        ("GET", "/elsewhere", &[], "dflt"),
    ];
    for (method, path, headers, want) in cases {
        let mut c = Conn::connect(fe);
        let r = c.request(method, path, headers, b"").unwrap();
        assert_eq!(r.served_by(), *want, "{method} {path} {headers:?}");
    }
}

#[test]
fn errorfile_replaces_the_default_page() {
    let fe = free_port();
    let dir = common::proxy::TempDir::new("errorfile");
    let page = dir.write(
        "503.http",
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 15\r\ncache-control: no-cache\r\n\r\ncustom outage!\n",
    );
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    errorfile 503 {}
",
        page.display()
    ));
    let r = get(fe, "/");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body_str(), "custom outage!\n");
}

#[test]
fn monitor_uri_answers_without_a_server() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&simple(fe, &o, "    monitor-uri /healthz"));
    let r = get(fe, "/healthz");
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("<h1>200 OK</h1>"), "{}", r.body_str());
    assert!(r.body_str().contains("Service ready."), "{}", r.body_str());
    assert_eq!(o.requests(), 0);
    assert_eq!(get(fe, "/other").body_str(), "s1");
}
