//! ACL terms, sample expressions, converters, formats.

use std::net::IpAddr;

use super::{expect_err, load, tmpdir, DEFAULTS};
use crate::model::format::{FormatPart, LogVar};
use crate::model::sample::{
    AclTerm, Converter, Fetch, HdrSide, IntRange, MatchMethod, Patterns, VarScope,
};
use crate::parse::acl::parse_acl_term;
use crate::parse::format::parse_format;
use crate::parse::sample::parse_sample;
use crate::Location;

fn term(s: &str) -> AclTerm {
    let w: Vec<String> = s.split(' ').map(String::from).collect();
    parse_acl_term(&w, &Location::new("t", 1)).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn term_err(s: &str) -> String {
    let w: Vec<String> = s.split(' ').map(String::from).collect();
    let e = parse_acl_term(&w, &Location::new("t", 1)).expect_err(s);
    format!("{}; {}", e.0, e.1)
}

#[test]
fn fetches_and_implied_methods() {
    let t = term("path_beg -i /API /v1");
    assert_eq!(t.expr.fetch, Fetch::Path);
    assert_eq!(t.method, MatchMethod::Beg);
    assert!(t.ignore_case);
    assert!(matches!(&t.patterns, Patterns::Substrings(v) if v == &["/api", "/v1"]));
    let cases: &[(&str, MatchMethod)] = &[
        ("path /x", MatchMethod::Str),
        ("path_end .js", MatchMethod::End),
        ("path_sub adm", MatchMethod::Sub),
        ("path_reg ^/a", MatchMethod::Reg),
        ("path_dir api", MatchMethod::Dir),
        ("path_len 1:3", MatchMethod::Len),
        ("url_beg /", MatchMethod::Beg),
        ("url_dom x", MatchMethod::Dom),
        ("base_sub x", MatchMethod::Sub),
        ("hdr_beg(host) www.", MatchMethod::Beg),
        ("hdr_end(host) .com", MatchMethod::End),
        ("hdr_sub(user-agent) curl", MatchMethod::Sub),
        ("hdr_reg(host) ^a", MatchMethod::Reg),
        ("hdr_dom(host) example.com", MatchMethod::Dom),
        ("hdr_cnt(host) gt 1", MatchMethod::Int),
        ("hdr_val(content-length) ge 10", MatchMethod::Int),
        ("hdr_ip(x-forwarded-for) 10.0.0.0/8", MatchMethod::Ip),
        ("shdr_sub(server) nginx", MatchMethod::Sub),
        ("status 200:299", MatchMethod::Int),
        ("src 10.0.0.0/8", MatchMethod::Ip),
        ("dst 127.0.0.1", MatchMethod::Ip),
        ("src_port 1024:", MatchMethod::Int),
        ("dst_port 80 443", MatchMethod::Int),
        ("method GET HEAD", MatchMethod::Str),
        ("query a=1", MatchMethod::Str),
        ("always_true", MatchMethod::Bool),
        ("always_false", MatchMethod::Bool),
        ("nbsrv(app) lt 1", MatchMethod::Int),
        ("req.ver 1.1", MatchMethod::Str),
        ("http_first_req", MatchMethod::Bool),
        ("ssl_fc", MatchMethod::Bool),
        ("var(txn.x) -m str a", MatchMethod::Str),
        ("req.hdr(host) -m found", MatchMethod::Found),
        ("req.fhdr(date) -m sub GMT", MatchMethod::Sub),
        ("res.hdr(server) -m beg ngi", MatchMethod::Beg),
        ("urlp(id) 5", MatchMethod::Str),
        ("urlp_reg(id) ^[0-9]+$", MatchMethod::Reg),
        ("path,lower -m end .php", MatchMethod::End),
        ("hdr(host),length gt 50", MatchMethod::Int),
    ];
    for (s, m) in cases {
        assert_eq!(term(s).method, *m, "{s}");
    }
    match term("hdr(X-Forwarded-For,-1) 1.2.3.4").expr.fetch {
        Fetch::Hdr {
            side,
            name,
            occ,
            full,
        } => {
            assert_eq!(
                (side, name.as_deref(), occ, full),
                (HdrSide::Request, Some("x-forwarded-for"), Some(-1), false)
            );
        }
        f => panic!("{f:?}"),
    }
    assert!(matches!(
        term("res.fhdr(x) -m found").expr.fetch,
        Fetch::Hdr {
            side: HdrSide::Response,
            full: true,
            ..
        }
    ));
    assert!(
        matches!(term("var(sess.a.b) -m found").expr.fetch, Fetch::Var(ref v) if v.scope == VarScope::Sess && v.name == "a.b")
    );
    assert_eq!(
        term("nbsrv(app) lt 1").expr.fetch,
        Fetch::Nbsrv(Some("app".into()))
    );
}

#[test]
fn patterns() {
    match term("hdr_val(x) eq 5 gt 10 le -2 lt 0 3:7 :4 9:").patterns {
        Patterns::Int(v) => assert_eq!(
            v,
            [
                IntRange {
                    min: Some(5),
                    max: Some(5)
                },
                IntRange {
                    min: Some(11),
                    max: None
                },
                IntRange {
                    min: None,
                    max: Some(-2)
                },
                IntRange {
                    min: None,
                    max: Some(-1)
                },
                IntRange {
                    min: Some(3),
                    max: Some(7)
                },
                IntRange {
                    min: None,
                    max: Some(4)
                },
                IntRange {
                    min: Some(9),
                    max: None
                },
            ]
        ),
        p => panic!("{p:?}"),
    }
    match term("src 10.1.2.3/8 192.168.0.0/255.255.0.0 ::1 2001:db8::/32").patterns {
        Patterns::Ip(v) => {
            assert_eq!(v[0].addr, "10.0.0.0".parse::<IpAddr>().unwrap());
            assert_eq!(v[0].prefix, 8);
            assert_eq!(v[1].prefix, 16);
            assert!(v[0].contains("10.200.0.1".parse().unwrap()));
            assert!(v[0].contains("::ffff:10.0.0.1".parse().unwrap()));
            assert!(!v[0].contains("11.0.0.1".parse().unwrap()));
            assert!(v[2].contains("::1".parse().unwrap()));
            assert!(v[3].contains("2001:db8:1::5".parse().unwrap()));
        }
        p => panic!("{p:?}"),
    }
    match term("hdr(host) -i B.example A.example b.EXAMPLE").patterns {
        Patterns::Str(v) => assert_eq!(
            v,
            ["a.example", "b.example"],
            "sorted, lower-cased, deduplicated"
        ),
        p => panic!("{p:?}"),
    }
    match term("path_reg -i ^/API$").patterns {
        Patterns::Reg(v) => assert!(v[0].is_match(b"/api")),
        p => panic!("{p:?}"),
    }
    match term("path -- -dash").patterns {
        Patterns::Str(v) => assert_eq!(v, ["-dash"]),
        p => panic!("{p:?}"),
    }
    assert!(matches!(term("path").patterns, Patterns::Str(ref v) if v.is_empty()));
}

#[test]
fn pattern_files() {
    let d = tmpdir("pat");
    let f = d.join("nets.lst");
    std::fs::write(&f, "# comment\n10.0.0.0/8\n\n   192.168.1.1  \n").unwrap();
    crate::parse::pattern::reset();
    let t = term(&format!("src -f {} 172.16.0.0/12", f.display()));
    // Inline patterns stay in the term; the file becomes a runtime reference.
    assert!(matches!(&t.patterns, Patterns::Ip(v) if v.len() == 1));
    assert_eq!(t.files.len(), 1);
    let g = d.join("paths.lst");
    std::fs::write(&g, "/A\n/b\n").unwrap();
    let t = term(&format!(
        "path_beg -i -f {} -f {}",
        g.display(),
        f.display()
    ));
    assert_eq!(t.files.len(), 2, "several -f allowed");
    let files = crate::parse::pattern::take();
    assert_eq!(files.len(), 2, "one reference per file name");
    let keys: Vec<&str> = files[1].entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["/A", "/b"]);
    assert_eq!(files[0].entries[1].line, 4);
    assert_eq!(
        files[0].uses.len(),
        2,
        "src (ip) and path_beg -i (beg) uses"
    );
    let bad = d.join("bad.lst");
    std::fs::write(&bad, "10.0.0.1\nnot-an-ip\n").unwrap();
    let e = term_err(&format!("src -f {}", bad.display()));
    assert!(e.contains("bad.lst:2"), "{e}");
    assert!(term_err("src -f /nonexistent/file").contains("failed to open pattern file"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn acl_errors() {
    let cases = [
        ("path_bge /x", "did you mean 'path_beg'"),
        ("foo_bar x", "unknown sample fetch"),
        ("src not-an-ip", "not an IP address"),
        ("src 10.0.0.0/40", "not an IP address"),
        ("hdr_val(x) gt", "not followed by a value"),
        ("hdr_val(x) abc", "not a valid integer pattern"),
        ("path_reg (", "invalid regex"),
        ("path -m nope x", "unknown match method"),
        ("path -m", "needs a match method"),
        ("path -x /a", "not a valid ACL option"),
        ("path -M /m", "not supported yet"),
        ("path_beg -m str /x", "already implies"),
        ("var(txn.x) a", "no default match method"),
        ("var(x) -m found", "has no scope"),
        ("var(foo.x) -m found", "unknown variable scope"),
        ("always_true -m found x", "takes no pattern"),
        ("path(x) /a", "takes no argument"),
        ("hdr_val() 1", "needs a header name"),
        ("hdr(host,0,1) x", "at most 2 arguments"),
        ("hdr(host,x) a", "expects an integer"),
        ("hdr(host x", "missing closing ')'"),
        ("path,map(/nonexistent/x) y", "failed to open pattern file"),
        ("path,map_foo(/x) y", "unknown match type 'foo'"),
        ("path,map_str_bool(/x) y", "unknown output type 'bool'"),
        ("path,map_regm(/x) y", "not supported yet"),
        ("path,map() y", "expects 1 to 2 arguments"),
        ("path,map_str_int(/x,abc) y", "not an integer"),
        ("path,field(0,/) y", "index 0"),
        ("path,field(1) y", "expects 2 to 3 arguments"),
        ("path,regsub(a,b,z) y", "unknown regsub flag"),
        ("path,lower(1) y", "takes no argument"),
        ("path,uper y", "did you mean 'upper'"),
        ("path;lower y", "unexpected"),
        ("path,div(0) 1", "by zero"),
    ];
    for (s, needle) in cases {
        let e = term_err(s);
        assert!(e.contains(needle), "{s}: {e}");
    }
    // In a configuration: file:line and the 'acl' keyword.
    expect_err(
        "frontend f\n  acl a src 1.2.3\n",
        2,
        "acl",
        "not an IP address",
    );
    expect_err("frontend f\n  acl\n", 2, "acl", "wrong arguments");
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n  acl empty path\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"));
    assert!(l
        .diagnostics
        .iter()
        .any(|d| d.message.contains("no pattern and will never match")));
}

#[test]
fn sample_expressions_and_converters() {
    let e = parse_sample("req.hdr(host),lower,field(1,:),word(-1,.,2),regsub(\\.,_,g),bytes(1,3),length,add(2),hex,url_dec,upper").unwrap();
    assert_eq!(e.converters.len(), 10);
    assert!(
        matches!(e.converters[1], Converter::Field { index: 1, ref delims, count: 1 } if delims == ":")
    );
    assert!(
        matches!(e.converters[2], Converter::Word { index: -1, ref delims, count: 2 } if delims == ".")
    );
    match &e.converters[3] {
        Converter::Regsub {
            regex,
            replacement,
            global,
        } => {
            assert_eq!(regex.as_str(), "\\.");
            assert_eq!(replacement, "_");
            assert!(*global);
        }
        c => panic!("{c:?}"),
    }
    let e = parse_sample("path,regsub(^/(.*)$,/v2/\\1)").unwrap();
    assert!(
        matches!(&e.converters[0], Converter::Regsub { replacement, .. } if replacement == "/v2/${1}")
    );
    assert!(matches!(parse_sample("str(a\\,b)").unwrap().fetch, Fetch::Str(ref s) if s == "a,b"));
    assert!(matches!(
        parse_sample("int(-5)").unwrap().fetch,
        Fetch::Int(-5)
    ));
    assert!(parse_sample("src,").is_err());
}

#[test]
fn formats() {
    let f = parse_format("%ci:%cp  [%tr] %{+Q}r %[req.hdr(host),lower] 100%% %{+Q,+X}ST").unwrap();
    let p = &f.0;
    assert!(matches!(
        p[0],
        FormatPart::Var {
            var: LogVar::ClientIp,
            ..
        }
    ));
    assert!(matches!(&p[1], FormatPart::Literal(s) if s == ":"));
    assert!(matches!(
        p[2],
        FormatPart::Var {
            var: LogVar::ClientPort,
            ..
        }
    ));
    assert!(
        matches!(&p[3], FormatPart::Literal(s) if s == " ["),
        "blank runs collapse: {:?}",
        p[3]
    );
    assert!(matches!(p[6], FormatPart::Var { var: LogVar::RequestLine, options } if options.quote));
    assert!(matches!(&p[7], FormatPart::Literal(s) if s == " "));
    assert!(matches!(&p[8], FormatPart::Sample { expr, .. } if expr.converters.len() == 1));
    assert!(matches!(&p[9], FormatPart::Literal(s) if s == " 100% "));
    assert!(
        matches!(p[10], FormatPart::Var { var: LogVar::Status, options } if options.quote && options.hex)
    );
    // %o sets defaults for what follows.
    let f = parse_format("%{+Q}o %ci %{-Q}cp").unwrap();
    let q: Vec<bool> =
        f.0.iter()
            .filter_map(|p| match p {
                FormatPart::Var { options, .. } => Some(options.quote),
                _ => None,
            })
            .collect();
    assert_eq!(q, [true, false]);
    // Every documented variable parses.
    let all = "%ci %cp %fi %fp %ft %f %b %s %si %sp %bi %bp %ST %B %U %tr %trg %trl %Tr %Ta %Tq %Tw %Tc %Th %Ti %TR %Tt %Tu %Td %t %T %Tl %Ts %ms %ts %tsc %ac %fc %bc %sc %rc %sq %bq %hr %hs %hrl %hsl %r %HM %HU %HP %HPO %HQ %HV %CC %CS %ID %rt %lc %pid %H";
    let f = parse_format(all).unwrap();
    assert_eq!(
        f.0.iter()
            .filter(|p| matches!(p, FormatPart::Var { .. }))
            .count(),
        all.split(' ').count()
    );
    for (s, needle) in [
        ("%", "not followed by a variable"),
        ("%zz", "no such format variable"),
        ("%[src", "missing ']'"),
        ("%[nope]", "unknown sample fetch"),
        ("%{+Q", "missing '}'"),
        ("%{+Z}ci", "unknown format flag"),
        ("%{Q}ci", "invalid format flag"),
    ] {
        let e = parse_format(s).unwrap_err();
        assert!(format!("{} {}", e.0, e.1).contains(needle), "{s}: {e:?}");
    }
    // The default formats parse into their documented shape.
    for f in [
        crate::model::format::HTTPLOG_FORMAT,
        crate::model::format::HTTPLOG_CLF_FORMAT,
        crate::model::format::TCPLOG_FORMAT,
    ] {
        parse_format(f).unwrap();
    }
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n  option httplog\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"));
    let lf = l.config.frontends[0].log_format.as_ref().unwrap();
    assert!(
        matches!(lf.0.last(), Some(FormatPart::Var { var: LogVar::RequestLine, options }) if options.quote)
    );
    let l = load(&format!("{DEFAULTS}frontend f\n  bind :80\n  option tcplog\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"));
    let lf = l.config.frontends[0].log_format.as_ref().unwrap();
    assert!(matches!(
        lf.0.last(),
        Some(FormatPart::Var {
            var: LogVar::BeQueue,
            ..
        })
    ));
}
