//! HTTP rules, redirects, return/deny, error pages, use_backend.

use super::{expect_err, load, tmpdir, DEFAULTS};
use crate::model::format::FormatPart;
use crate::model::rules::{BackendRef, HttpAction, NameMatch, RedirectKind, ReturnBody, Service};
use crate::model::sample::AclRef;

fn fe(lines: &str) -> crate::model::Frontend {
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n{lines}  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"));
    l.config.frontends[0].clone()
}

#[test]
fn request_actions() {
    let f = fe("  http-request set-header X-A \"%[src] x\"\n  http-request add-header X-B if\n  http-request del-header x-c\n  http-request del-header X-D -m reg\n  http-request replace-header Host (.*):80 \\1\n  http-request replace-value X-E ^a$ b\n  http-request set-path /new%[path]\n  http-request set-query a=1\n  http-request set-uri /u\n  http-request set-method POST\n  http-request allow if { path /ok }\n  http-request set-var(txn.host) req.hdr(host),lower\n  http-request set-var-fmt(txn.x) \"%[var(txn.host)]-%ci\"\n  http-request unset-var(txn.x)\n");
    let acts: Vec<&str> = f.http_request.iter().map(|r| r.action.keyword()).collect();
    assert_eq!(
        acts,
        [
            "set-header",
            "add-header",
            "del-header",
            "del-header",
            "replace-header",
            "replace-value",
            "set-path",
            "set-query",
            "set-uri",
            "set-method",
            "allow",
            "set-var",
            "set-var-fmt",
            "unset-var"
        ]
    );
    match &f.http_request[0].action {
        HttpAction::SetHeader { name, value } => {
            assert_eq!(name, "X-A");
            assert!(matches!(value.0[0], FormatPart::Sample { .. }));
            assert!(matches!(&value.0[1], FormatPart::Literal(s) if s == " x"));
        }
        a => panic!("{a:?}"),
    }
    // A fixed-arity action takes 'if' as a value.
    assert!(
        matches!(&f.http_request[1].action, HttpAction::AddHeader { value, .. } if value.as_literal().as_deref() == Some("if"))
    );
    assert!(f.http_request[1].cond.is_none());
    assert!(
        matches!(&f.http_request[2].action, HttpAction::DelHeader(NameMatch::Str(n)) if n == "x-c")
    );
    assert!(matches!(
        &f.http_request[3].action,
        HttpAction::DelHeader(NameMatch::Reg(_))
    ));
    match &f.http_request[4].action {
        HttpAction::ReplaceHeader {
            name,
            regex,
            replace,
        } => {
            assert_eq!(name, "host");
            assert!(regex.is_match(b"x:80"));
            assert_eq!(replace.as_literal().as_deref(), Some("\\1"));
        }
        a => panic!("{a:?}"),
    }
    assert!(
        matches!(&f.http_request[10].cond, Some(c) if matches!(c.or_terms[0][0].acl, AclRef::Anonymous(_)))
    );
    assert!(f.http_request[10].action.is_final());
}

#[test]
fn response_actions() {
    let f = fe("  http-response set-status 404 reason \"Not Here\" if { status 500 }\n  http-response deny\n  http-response del-header Server\n  http-response return status 503 content-type text/plain string down\n");
    assert!(
        matches!(&f.http_response[0].action, HttpAction::SetStatus { status: 404, reason: Some(r) } if r == "Not Here")
    );
    assert!(f.http_response[0].cond.is_some());
    assert!(
        matches!(&f.http_response[1].action, HttpAction::Deny(r) if r.status == 502 && matches!(r.body, ReturnBody::Default)),
        "http-response deny answers 502 by default (HAProxy)"
    );
    expect_err(
        "frontend f\n  http-response set-path /x\n",
        2,
        "http-response set-path",
        "use it with 'http-request'",
    );
    expect_err(
        "frontend f\n  http-request set-status 200\n",
        2,
        "http-request set-status",
        "use it with 'http-response'",
    );
}

#[test]
fn return_and_deny() {
    let d = tmpdir("ret");
    let body = d.join("body.txt");
    std::fs::write(&body, "hello").unwrap();
    let ef = d.join("403.http");
    std::fs::write(
        &ef,
        "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\n\r\nno\n",
    )
    .unwrap();
    let mut lines = String::from("  http-request return status 201 content-type text/plain lf-string \"hi %[src]\" hdr X-A a hdr X-B %[path] if { path /a }\n");
    lines += &format!(
        "  http-request return content-type text/plain file {}\n",
        body.display()
    );
    lines += &format!(
        "  http-request deny deny_status 429 errorfile {}\n",
        ef.display()
    );
    lines += "  http-request deny content-type application/json string {} if { path /j }\n";
    let f = fe(&lines);
    match &f.http_request[0].action {
        HttpAction::Return(r) => {
            assert_eq!(r.status, 201);
            assert_eq!(r.content_type.as_deref(), Some("text/plain"));
            assert!(matches!(r.body, ReturnBody::LfString(_)));
            assert_eq!(r.headers.len(), 2);
        }
        a => panic!("{a:?}"),
    }
    assert!(
        matches!(&f.http_request[1].action, HttpAction::Return(r) if r.status == 200 && matches!(&r.body, ReturnBody::File(b) if b == b"hello"))
    );
    assert!(
        matches!(&f.http_request[2].action, HttpAction::Deny(r) if r.status == 429 && matches!(&r.body, ReturnBody::ErrorFile(b) if b.starts_with(b"HTTP/1.0 403")))
    );
    assert!(
        matches!(&f.http_request[3].action, HttpAction::Deny(r) if r.status == 403 && r.cond_free())
    );
    let errs = [
        ("http-request return string x", "content-type"),
        ("http-request return status 99", "invalid status"),
        (
            "http-request return status 204 content-type a/b string x",
            "cannot carry a body",
        ),
        ("http-request return stauts 200", "did you mean 'status'"),
        (
            "http-request return errorfiles nope",
            "unknown http-errors section",
        ),
        ("http-request return string x string y", "only one body"),
        ("http-request deny hdr X", "expects 2 arguments"),
        (
            "http-request return file /nonexistent/f content-type a/b",
            "failed to read",
        ),
    ];
    for (line, needle) in errs {
        let kw = format!("http-request {}", line.split(' ').nth(1).unwrap());
        expect_err(&format!("frontend f\n  {line}\n"), 2, &kw, needle);
    }
    std::fs::remove_dir_all(&d).ok();
}

trait CondFree {
    fn cond_free(&self) -> bool;
}
impl CondFree for crate::model::rules::HttpReturn {
    fn cond_free(&self) -> bool {
        matches!(&self.body, ReturnBody::String(s) if s == "{}")
    }
}

#[test]
fn redirects() {
    let f = fe("  redirect scheme https code 301 if !{ ssl_fc }\n  redirect prefix /new drop-query append-slash\n  redirect location /moved code 308 unless { path /moved }\n  http-request redirect location https://%[hdr(host)]%[path] code 302\n");
    let r: Vec<_> = f
        .redirects
        .iter()
        .map(|r| match &r.action {
            HttpAction::Redirect(x) => (
                x.kind,
                x.code,
                x.drop_query,
                x.append_slash,
                r.cond.is_some(),
            ),
            a => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(
        r,
        [
            (RedirectKind::Scheme, 301, false, false, true),
            (RedirectKind::Prefix, 302, true, true, false),
            (RedirectKind::Location, 308, false, false, true)
        ]
    );
    assert!(f.redirects[0].cond.as_ref().unwrap().or_terms[0][0].negated);
    assert!(f.redirects[2].cond.as_ref().unwrap().unless);
    assert!(matches!(&f.http_request[0].action, HttpAction::Redirect(x) if x.target.0.len() == 3));
    expect_err(
        "frontend f\n  redirect scheme https code 300\n",
        2,
        "redirect",
        "301, 302, 303, 307 or 308",
    );
    expect_err(
        "frontend f\n  redirect schme https\n",
        2,
        "redirect",
        "did you mean 'scheme'",
    );
    expect_err(
        "frontend f\n  redirect location /x set-cookie a=b\n",
        2,
        "redirect",
        "cookies",
    );
    expect_err(
        "frontend f\n  redirect location /x bogus\n",
        2,
        "redirect",
        "unknown redirect option",
    );
}

#[test]
fn use_backend_forms() {
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n  use_backend %[req.hdr(host),lower,field(1,:)]\n  use_backend b2 if {{ path_beg /two }} or METH_POST\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\nbackend b2\n  server s 127.0.0.1:1\n"));
    let f = &l.config.frontends[0];
    assert!(matches!(&f.use_backends[0].backend, BackendRef::Dynamic(_)));
    let c = f.use_backends[1].cond.as_ref().unwrap();
    assert_eq!(c.or_terms.len(), 2);
    // METH_POST is predefined and added to the proxy's ACL list.
    assert!(f.acls.iter().any(|a| a.name == "METH_POST" && a.predefined));
    expect_err(
        "frontend f\n  use_backend b if\n",
        2,
        "use_backend",
        "missing condition",
    );
    expect_err(
        "frontend f\n  use_backend b when x\n",
        2,
        "use_backend",
        "expected 'if' or 'unless'",
    );
    expect_err(
        "frontend f\n  use_backend b if { path /x\n",
        2,
        "use_backend",
        "missing '}'",
    );
    expect_err(
        "frontend f\n  use_backend b if {path /x }\n",
        2,
        "use_backend",
        "a blank is needed",
    );
    expect_err(
        "frontend f\n  use_backend b if TRUE ||\n",
        2,
        "use_backend",
        "ends without a term",
    );
    expect_err(
        "frontend f\n  use_backend b if || TRUE\n",
        2,
        "use_backend",
        "missing a term on its left",
    );
    // ACLs must be declared before use (HAProxy).
    expect_err(
        "frontend f\n  use_backend b if later\n  acl later path /x\n",
        2,
        "use_backend",
        "no such ACL",
    );
}

#[test]
fn error_pages() {
    let d = tmpdir("err");
    let good = d.join("503.http");
    std::fs::write(
        &good,
        "HTTP/1.1 503 Service Unavailable\nContent-Length: 3\n\nbye",
    )
    .unwrap();
    let p404 = d.join("404.http");
    std::fs::write(&p404, "HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
    let l = load(&format!("http-errors site\n  errorfile 503 {g}\n  errorfile 404 {n}\n{DEFAULTS}frontend f\n  bind :80\n  errorfile 503 {n}\n  errorfiles site 503\n  default_backend b\nbackend b\n  errorfiles site\n  server s 127.0.0.1:1\n", g = good.display(), n = p404.display()));
    let f = &l.config.frontends[0];
    assert_eq!(f.errorfiles.len(), 1);
    assert_eq!(
        f.errorfiles[&503].raw,
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nbye"
    );
    assert_eq!(l.config.backends[0].errorfiles.len(), 2);
    assert_eq!(l.config.http_errors[0].pages.len(), 2);
    let bad = [
        (
            "HTTP/1.1 503 x\nContent-Length: 10\n\nshort",
            "content-length is 10",
        ),
        ("not http\n\n", "invalid status line"),
        ("HTTP/1.1 503 x\nno colon here\n\n", "invalid header line"),
        (
            "HTTP/1.1 503 x\nContent-Type: text/html\n",
            "no end of headers",
        ),
    ];
    for (i, (content, needle)) in bad.iter().enumerate() {
        let p = d.join(format!("bad{i}.http"));
        std::fs::write(&p, content).unwrap();
        expect_err(
            &format!("defaults\n  errorfile 503 {}\n", p.display()),
            2,
            "errorfile",
            needle,
        );
    }
    let big = d.join("big.http");
    std::fs::write(&big, format!("HTTP/1.1 503 x\n\n{}", "a".repeat(20000))).unwrap();
    expect_err(
        &format!("defaults\n  errorfile 503 {}\n", big.display()),
        2,
        "errorfile",
        "tune.bufsize",
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn use_service() {
    let f = fe("  http-request use-service prometheus-exporter if { path /metrics }\n");
    let r = &f.http_request[0];
    assert!(matches!(
        r.action,
        HttpAction::UseService(Service::PrometheusExporter)
    ));
    assert!(r.cond.is_some() && r.action.is_final());
    assert_eq!(r.action.keyword(), "use-service");
    let base = format!("{DEFAULTS}frontend f\n  bind :80\n");
    let lines = base.lines().count() as u32 + 1;
    let e = expect_err(
        &format!("{base}  http-request use-service lua.hello\n"),
        lines,
        "http-request use-service",
        "service 'lua.hello' is not supported",
    );
    assert!(e.contains("prometheus-exporter"), "{e}");
    expect_err(
        &format!("{base}  http-request use-service\n"),
        lines,
        "http-request use-service",
        "expects 1 argument",
    );
    expect_err(
        &format!("{base}  http-response use-service prometheus-exporter\n"),
        lines,
        "http-response use-service",
        "not valid in 'http-response'",
    );
}
