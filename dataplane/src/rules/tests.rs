//! Tests of sample fetches, converters, ACL matching and conditions, over a simple
//! transaction and ACLs loaded from real configuration text.

use std::net::SocketAddr;

use appliance_config::model::sample::{Acl, VarName, VarScope};
use appliance_config::Frontend;

use super::*;

/// A transaction held in plain fields.
#[derive(Default)]
pub(super) struct T {
    pub method: &'static str,
    pub uri: &'static str,
    pub version: Option<&'static str>,
    pub status: Option<u16>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub req: Vec<(&'static str, &'static str)>,
    pub res: Vec<(&'static str, &'static str)>,
    pub not_first: bool,
    pub tls: Option<TlsInfo>,
}

impl TxnView for T {
    fn method(&self) -> &[u8] {
        self.method.as_bytes()
    }
    fn uri(&self) -> &[u8] {
        self.uri.as_bytes()
    }
    fn req_version(&self) -> Option<&[u8]> {
        self.version.map(str::as_bytes)
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn full_header_values(&self, side: HdrSide, name: &[u8], f: &mut dyn FnMut(&[u8])) {
        let list = if side == HdrSide::Request {
            &self.req
        } else {
            &self.res
        };
        for (n, v) in list {
            if n.as_bytes().eq_ignore_ascii_case(name) {
                f(v.as_bytes())
            }
        }
    }
    fn all_headers(&self, side: HdrSide, f: &mut dyn FnMut(&[u8], &[u8])) {
        let list = if side == HdrSide::Request {
            &self.req
        } else {
            &self.res
        };
        for (n, v) in list {
            f(n.as_bytes(), v.as_bytes())
        }
    }
    fn first_request(&self) -> bool {
        !self.not_first
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }
    fn nbsrv(&self, b: Option<&str>) -> Option<i64> {
        match b {
            Some("dead") => Some(0),
            Some(_) => Some(2),
            None => Some(1),
        }
    }
    fn proxy_name(&self, k: NameKind) -> Option<&str> {
        match k {
            NameKind::Frontend => Some("fe"),
            _ => None,
        }
    }
}

pub(super) fn req() -> T {
    T {
        method: "GET",
        uri: "/api/v1/Users?id=42&lang=en&id=7",
        version: Some("1.1"),
        src: Some("10.1.2.3:40000".parse().unwrap()),
        dst: Some("192.168.0.1:80".parse().unwrap()),
        req: vec![
            ("Host", "www.Example.com:8080"),
            ("Accept", "text/html, application/json;q=0.9"),
            ("Accept", "*/*"),
            ("X-Forwarded-For", "1.1.1.1, 2.2.2.2"),
            ("Content-Length", "123"),
            ("Cookie", "a=1"),
            ("Date", "Tue, 15 Nov 1994 08:12:31 GMT"),
            ("X-Quoted", "\"a,b\", c"),
        ],
        ..T::default()
    }
}

/// Loads a frontend whose body is `lines`.
pub(super) fn fe(lines: &str) -> Frontend {
    let cfg = format!(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind :80\n{lines}\n default_backend b\nbackend b\n server s 127.0.0.1:1\nbackend dead\n server s 127.0.0.1:1\n"
    );
    match appliance_config::load_str("t.cfg", &cfg) {
        Ok(l) => {
            // `-f` files and map converters read the thread's pattern store.
            crate::maps::install(crate::maps::PatternStore::from_config(&l.config), 0);
            l.config.frontends[0].clone()
        }
        Err(e) => panic!("{e}"),
    }
}

/// Evaluates the ACL named `name` of `f` on `t`.
pub(super) fn acl_on(f: &Frontend, name: &str, t: &T, vars: &Vars) -> bool {
    let a: &Acl = f.acls.iter().find(|a| a.name == name).expect("acl");
    eval_acl(a, t, vars, &mut Scratch::new())
}

/// One ACL line on the default request.
fn one(acl: &str) -> bool {
    let f = fe(&format!(" acl x {acl}"));
    acl_on(&f, "x", &req(), &Vars::new())
}

#[test]
fn fetches() {
    let yes = [
        "path /api/v1/Users",
        "url /api/v1/Users?id=42&lang=en&id=7",
        "query id=42&lang=en&id=7",
        "method GET",
        "base www.Example.com:8080/api/v1/Users",
        "urlp(lang) en",
        "urlp(id) 7",
        "hdr(host) www.Example.com:8080",
        "hdr(accept) application/json;q=0.9",
        "hdr(accept) */*",
        "req.hdr(x-forwarded-for) 2.2.2.2",
        "hdr(x-forwarded-for,1) 1.1.1.1",
        "hdr(x-forwarded-for,-1) 2.2.2.2",
        "req.fhdr(date) -m sub 08:12:31",
        "hdr(x-quoted) '\"a,b\"'",
        "hdr_cnt(accept) 3",
        "req.fhdr_cnt(accept) 2",
        "hdr_cnt eq 12",
        "hdr_val(content-length) 123",
        "hdr_ip(x-forwarded-for) 2.2.2.0/24",
        "src 10.0.0.0/8",
        "src_port 40000",
        "dst 192.168.0.1",
        "dst_port 80",
        "always_true",
        "nbsrv(dead) 0",
        "nbsrv(b) ge 1",
        "req.ver 1.1",
        "http_first_req",
        "fe_name fe",
        "str(abc) abc",
        "int(5) 5",
        "hdr(host) -m found",
    ];
    for a in yes {
        assert!(one(a), "expected a match: {a}");
    }
    let no = [
        "always_false",
        "ssl_fc",
        "status 200",
        "hdr(x-forwarded-for,1) 2.2.2.2",
        "hdr(nope) -m found",
        "res.hdr(server) -m found",
        "urlp(nope) -m found",
        "be_name -m found",
        "hdr(x-quoted) a",
        "hdr_val(host) 0",
    ];
    for a in no {
        assert!(!one(a), "expected no match: {a}");
    }
    // Response side.
    let f =
        fe(" acl s status 500:599\n acl srv res.hdr(server) -i -m beg NGINX\n acl v res.ver 1.0");
    let mut t = req();
    t.status = Some(503);
    t.res = vec![("Server", "nginx/1.25")];
    let vars = Vars::new();
    assert!(acl_on(&f, "s", &t, &vars));
    assert!(acl_on(&f, "srv", &t, &vars));
    assert!(!acl_on(&f, "v", &t, &vars));
    // HTTP fetches are missing without an HTTP request (tcp mode).
    let tcp = T {
        src: Some("127.0.0.1:1".parse().unwrap()),
        ..T::default()
    };
    let f = fe(" acl p path -m found\n acl m method -m found\n acl s src 127.0.0.1");
    assert!(!acl_on(&f, "p", &tcp, &vars));
    assert!(!acl_on(&f, "m", &tcp, &vars));
    assert!(acl_on(&f, "s", &tcp, &vars));
    // Absolute-form targets: path and query come from the target.
    let mut t = req();
    t.uri = "http://h.example/x/y?q=1";
    let f = fe(" acl p path /x/y\n acl q query q=1");
    assert!(acl_on(&f, "p", &t, &vars));
    assert!(acl_on(&f, "q", &t, &vars));
}

#[test]
fn match_methods() {
    let cases = [
        ("path -m str /api/v1/Users", true),
        ("path -m str /api/v1/users", false),
        ("path -i /API/V1/USERS", true),
        ("path_beg /api /static", true),
        ("path_beg /API", false),
        ("path_beg -i /API", true),
        ("path_end Users", true),
        ("path_end -i users", true),
        ("path_sub v1", true),
        ("path_sub -i V1/U", true),
        ("path_sub v2", false),
        ("path_reg ^/api/v[0-9]+/", true),
        ("path_reg -i ^/API/V1/USERS$", true),
        ("path_reg ^/API", false),
        ("path_dir v1", true),
        ("path_dir api/v1", true),
        ("path_dir v", false),
        ("path_dir -i USERS", true),
        ("hdr_dom(host) example.com", false),
        ("hdr_dom(host) -i example.com", true),
        ("hdr_dom(host) -i www", true),
        ("hdr_dom(host) -i ample.com", false),
        ("hdr_dom(host) 8080", true),
        ("path_len 13", true),
        ("path_len 1:10", false),
        ("path -m len gt 10", true),
        ("hdr_val(content-length) gt 100", true),
        ("hdr_val(content-length) lt 100", false),
        ("hdr_val(content-length) 100:200", true),
        ("hdr_val(content-length) :122", false),
        ("hdr_val(content-length) 124:", false),
        ("hdr(content-length) -m int ge 123", true),
        ("src -m ip 10.1.2.3", true),
        ("hdr(x-forwarded-for) -m ip 2.2.2.0/24", true),
        ("src_port -m str 40000", true),
        ("src -m str 10.1.2.3", true),
        ("method -m beg G", true),
        ("always_true -m bool", true),
        ("int(0) -m bool", false),
        ("hdr(host) -m found", true),
        ("hdr(accept) -m end json;q=0.9", true),
    ];
    for (a, want) in cases {
        assert_eq!(one(a), want, "{a}");
    }
}

#[test]
fn pattern_file() {
    let dir = std::env::temp_dir().join(format!("sluice-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("hosts.lst");
    std::fs::write(&f, "# hosts\nWWW.EXAMPLE.COM:8080\nother.example\n").unwrap();
    assert!(one(&format!("hdr(host) -i -f {}", f.display())));
    assert!(!one(&format!("hdr(host) -f {}", f.display())));
    let n = dir.join("nets.lst");
    std::fs::write(&n, "192.0.2.0/24\n10.1.0.0/16\n").unwrap();
    assert!(one(&format!("src -f {}", n.display())));
    // Map converters, through a sample context.
    let m = dir.join("hosts.map");
    std::fs::write(&m, "www.example.com:8080 be_www\n/api be_api\n").unwrap();
    let md = m.display();
    assert!(one(&format!("hdr(host),lower,map({md}) -m str be_www")));
    assert!(one(&format!("hdr(host),map({md},none) -m str none")));
    assert!(one(&format!("path,map_beg({md}) -m str be_api")));
    assert!(!one(&format!("hdr(host),map({md}) -m found")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn conditions() {
    let f = fe(
        " acl api path_beg /api\n acl get method GET\n acl post method POST\n acl static path_end .css\n acl static path_beg /static\n\
         use_backend b if api get\n use_backend b if api post\n use_backend b if post || api\n use_backend b if !api or get\n\
         use_backend b unless api\n use_backend b if { path_beg /static } || static\n use_backend b if ! { src 10.0.0.0/8 }\n\
         use_backend b if !{ path_beg /api }\n use_backend b if METH_GET LOCALHOST\n use_backend b if TRUE !FALSE",
    );
    let want = [
        true, false, true, true, false, false, false, false, false, true,
    ];
    let t = req();
    let vars = Vars::new();
    let mut s = Scratch::new();
    for (i, w) in want.iter().enumerate() {
        let c = f.use_backends[i].cond.as_ref().unwrap();
        assert_eq!(
            eval_condition(c, &f.acls, &t, &vars, &mut s),
            *w,
            "rule {i}: {}",
            c.text
        );
    }
    // ACLs with the same name OR together.
    let mut t2 = req();
    t2.uri = "/static/x.js";
    let c = f.use_backends[5].cond.as_ref().unwrap();
    assert!(eval_condition(c, &f.acls, &t2, &vars, &mut s));
    t2.uri = "/a.css";
    assert!(eval_condition(c, &f.acls, &t2, &vars, &mut s));
    // LOCALHOST matches a loopback client.
    t2.src = Some("127.0.0.1:5".parse().unwrap());
    let c = f.use_backends[8].cond.as_ref().unwrap();
    assert!(eval_condition(c, &f.acls, &t2, &vars, &mut s));
}

#[test]
fn converters() {
    let yes = [
        "hdr(host),lower www.example.com:8080",
        "hdr(host),upper WWW.EXAMPLE.COM:8080",
        "hdr(host),field(1,:) www.Example.com",
        "hdr(host),field(2,:) 8080",
        "hdr(host),field(-1,.) com:8080",
        "hdr(host),field(1,.,2) www.Example",
        "hdr(host),field(2,.,0) Example.com:8080",
        "hdr(host),field(9,.) -m len 0",
        "str(..a..b..),word(2,.) b",
        "str(..a..b..),word(-2,.) a",
        "str(a..b..c),word(1,.,2) a..b",
        "path,regsub(^/api/,/) /v1/Users",
        "path,regsub(/,_,g) _api_v1_Users",
        "path,regsub(^/(api)/,/\\1-x/) /api-x/v1/Users",
        "path,regsub(users,X,i) /api/v1/X",
        "str(abcdef),bytes(2,3) cde",
        "str(abcdef),bytes(2),length 4",
        "str(abc),length 3",
        "str(AB),hex 4142",
        "str(a%20b%2Fc),url_dec a\\ b/c",
        "int(7),add(3) 10",
        "int(7),sub(10) -3",
        "int(7),mul(3) 21",
        "int(7),div(2) 3",
        "int(7),mod(4) 3",
        "hdr(content-length),add(1) 124",
        "src,lower 10.1.2.3",
        "hdr(accept),lower -m sub json",
    ];
    for a in yes {
        assert!(one(a), "expected a match: {a}");
    }
    assert!(
        !one("str(ab),bytes(5) -m found"),
        "bytes beyond the end: no sample"
    );
    assert!(
        !one("str(a%2),url_dec -m found"),
        "invalid escape: no sample"
    );
    assert!(!one("str(x),add(1) -m found"), "not an integer: no sample");
}

#[test]
fn variables() {
    let f = fe(
        " http-request set-var(txn.host) req.hdr(host),lower,field(1,:)\n http-request set-var(sess.n) hdr_cnt(accept)\n http-request set-var(txn.none) req.hdr(nope)\n\
         acl h var(txn.host) -m str www.example.com\n acl n var(sess.n) -m int 3\n acl none var(txn.none) -m found\n acl any var(txn.host) -m found",
    );
    let t = req();
    let mut vars = Vars::new();
    let mut s = Scratch::new();
    for r in &f.http_request {
        if let appliance_config::model::rules::HttpAction::SetVar { var, expr } = &r.action {
            set_var(&mut vars, var, expr, &t, &mut s);
        }
    }
    assert_eq!(vars.len(), 2, "a missing sample does not set the variable");
    assert!(acl_on(&f, "h", &t, &vars));
    assert!(acl_on(&f, "n", &t, &vars));
    assert!(!acl_on(&f, "none", &t, &vars));
    let host = VarName {
        scope: VarScope::Txn,
        name: "host".into(),
    };
    assert_eq!(vars.get(&host), Some(Sample::Str(b"www.example.com")));
    vars.end_transaction();
    assert!(!acl_on(&f, "any", &t, &vars));
    assert_eq!(vars.len(), 1, "sess variables survive the transaction");
    // Slots are reused.
    vars.set(&host, Sample::Int(5));
    assert_eq!(vars.get(&host), Some(Sample::Int(5)));
    vars.unset(&host);
    assert_eq!(vars.get(&host), None);
    vars.clear_scope(VarScope::Sess);
    assert!(vars.is_empty());
}

#[test]
fn sample_context_uses_last_occurrence() {
    let f = fe(" http-request set-var(txn.a) req.hdr(accept)\n http-request set-var(txn.b) req.hdr(accept,1)");
    let t = req();
    let vars = Vars::new();
    let mut s = Scratch::new();
    let exprs: Vec<_> = f
        .http_request
        .iter()
        .filter_map(|r| match &r.action {
            appliance_config::model::rules::HttpAction::SetVar { expr, .. } => Some(expr.clone()),
            _ => None,
        })
        .collect();
    let a = fetch_last(&exprs[0], &t, &vars, &mut s, |v| {
        v.map(|v| format!("{v:?}"))
    });
    assert_eq!(a.as_deref(), Some("Str([42, 47, 42])"), "last value: */*");
    let b = fetch_last(&exprs[1], &t, &vars, &mut s, |v| match v {
        Some(Sample::Str(b)) => b.to_vec(),
        _ => vec![],
    });
    assert_eq!(b, b"text/html");
}

#[test]
fn value_splitting() {
    let mut got: Vec<Vec<u8>> = vec![];
    split_values(b" a , \"b,c\" ,,d\\,e ", &mut |v| got.push(v.to_vec()));
    assert_eq!(
        got,
        [
            b"a".to_vec(),
            b"\"b,c\"".to_vec(),
            b"d\\".to_vec(),
            b"e".to_vec()
        ]
    );
    assert_eq!(path_and_query(b"http://h/p?q"), b"/p?q");
    assert_eq!(path_and_query(b"http://h"), b"");
    assert_eq!(path_and_query(b"*"), b"");
}
