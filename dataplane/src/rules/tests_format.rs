//! Tests of format rendering: variables, samples, options, default log formats.

use appliance_config::model::format::{Format, LogVar, HTTPLOG_FORMAT, TCPLOG_FORMAT};
use appliance_config::model::rules::HttpAction;

use super::tests::{fe, req, T};
use super::*;

/// A context answering every variable with a recognisable value.
struct Ctx {
    t: T,
    vars: Vars,
}

impl FormatContext for Ctx {
    fn txn(&self) -> &dyn TxnView {
        &self.t
    }
    fn vars(&self) -> &Vars {
        &self.vars
    }
    fn log_var(&self, v: LogVar, out: &mut Vec<u8>) -> ValueKind {
        if let Some(k) = write_txn_log_var(&self.t, v, out) {
            return k;
        }
        let num = |out: &mut Vec<u8>, n: i64| {
            out.extend_from_slice(n.to_string().as_bytes());
            ValueKind::Number
        };
        let txt = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(s.as_bytes());
            ValueKind::Text
        };
        match v {
            LogVar::RequestDate | LogVar::Date => {
                write_date(out, 1_700_000_000_123, 0, true);
                ValueKind::Text
            }
            LogVar::FrontendTransport | LogVar::Frontend => txt(out, "fe"),
            LogVar::Backend => txt(out, "be"),
            LogVar::Server => txt(out, "srv1"),
            LogVar::TR => num(out, 1),
            LogVar::Tw => num(out, 0),
            LogVar::Tc => num(out, 2),
            LogVar::Tr => num(out, 30),
            LogVar::Ta => num(out, 33),
            LogVar::Tt => num(out, 40),
            LogVar::BytesOut => num(out, 512),
            LogVar::CaptureCookieClient | LogVar::CaptureCookieServer => ValueKind::Missing,
            LogVar::TermStateCookie => txt(out, "----"),
            LogVar::TermState => txt(out, "--"),
            LogVar::ActConn => num(out, 5),
            LogVar::FeConn => num(out, 4),
            LogVar::BeConn => num(out, 3),
            LogVar::SrvConn => num(out, 2),
            LogVar::Retries => num(out, 0),
            LogVar::SrvQueue | LogVar::BeQueue => num(out, 0),
            LogVar::CapturedReqHeaders => txt(out, "{www.example.com}"),
            LogVar::CapturedResHeaders => ValueKind::Missing,
            _ => ValueKind::Missing,
        }
    }
}

fn ctx() -> Ctx {
    Ctx {
        t: req(),
        vars: Vars::new(),
    }
}

fn render(fmt: &Format, c: &Ctx) -> String {
    let mut out = b"prefix|".to_vec();
    assert!(render_format(fmt, c, &mut Scratch::new(), &mut out));
    String::from_utf8(out).unwrap()[7..].to_string()
}

/// Parses a format through a `log-format` line.
fn fmt(s: &str) -> Format {
    let f = fe(&format!(" log-format \"{}\"", s.replace('"', "\\\"")));
    f.log_format.expect("format")
}

#[test]
fn default_http_and_tcp_formats() {
    let f = fe(" option httplog");
    let line = render(f.log_format.as_ref().unwrap(), &ctx());
    assert_eq!(
        line,
        "10.1.2.3:40000 [14/Nov/2023:22:13:20.123] fe be/srv1 1/0/2/30/33 - 512 - - ---- 5/4/3/2/0 0/0 {www.example.com} - \"GET /api/v1/Users?id=42&lang=en&id=7 HTTP/1.1\""
    );
    // The model's constants are what the options expand to.
    assert_eq!(HTTPLOG_FORMAT.matches('%').count(), 26);
    let f = fe(" option tcplog");
    let line = render(f.log_format.as_ref().unwrap(), &ctx());
    assert_eq!(
        line,
        "10.1.2.3:40000 [14/Nov/2023:22:13:20.123] fe be/srv1 0/2/40 512 -- 5/4/3/2/0 0/0"
    );
    assert!(TCPLOG_FORMAT.starts_with("%ci:%cp"));
}

#[test]
fn variables_and_options() {
    let c = ctx();
    assert_eq!(render(&fmt("%HM %HU %HP %HPO %HQ %HV"), &c), "GET /api/v1/Users?id=42&lang=en&id=7 /api/v1/Users /api/v1/Users ?id=42&lang=en&id=7 HTTP/1.1");
    assert_eq!(render(&fmt("%fi:%fp %ST"), &c), "192.168.0.1:80 -");
    assert_eq!(
        render(&fmt("%{+Q}b %{+Q}B %{+Q}CC %CC"), &c),
        "\"be\" 512 \"\" -"
    );
    assert_eq!(
        render(&fmt("%{+X}ci:%{+X}cp %{+X}B"), &c),
        "0A010203:9C40 200"
    );
    assert_eq!(
        render(&fmt("%{+Q}o %b %s %{-Q}ci"), &c),
        "\"be\" \"srv1\" 10.1.2.3"
    );
    assert_eq!(render(&fmt("100%% %%[x]"), &c), "100% %[x]");
}

#[test]
fn samples_in_formats() {
    let c = ctx();
    assert_eq!(
        render(&fmt("%[src]:%[src_port] %[req.hdr(host),lower]"), &c),
        "10.1.2.3:40000 www.example.com:8080"
    );
    assert_eq!(
        render(&fmt("%[hdr(nope)] %{+Q}[hdr(nope)] %[status]"), &c),
        "- \"\" -"
    );
    assert_eq!(
        render(&fmt("%{+Q}[path] %{+X}[int(255)] %{+Q}[int(3)]"), &c),
        "\"/api/v1/Users\" FF 3"
    );
    assert_eq!(render(&fmt("%[str(a\\x01b)]"), &c), "a#01b");
    let mut c2 = ctx();
    c2.vars.set(
        &appliance_config::model::sample::VarName {
            scope: appliance_config::model::sample::VarScope::Txn,
            name: "u".into(),
        },
        Sample::Str(b"bob"),
    );
    assert_eq!(render(&fmt("user=%[var(txn.u)]"), &c2), "user=bob");
    c2.vars.set(
        &appliance_config::model::sample::VarName {
            scope: appliance_config::model::sample::VarScope::Txn,
            name: "e".into(),
        },
        Sample::Str(b"a\"b]c\\"),
    );
    assert_eq!(
        render(&fmt("%{+E}[var(txn.e)] %[var(txn.e)]"), &c2),
        "a\\\"b\\]c\\\\ a\"b]c\\"
    );
    // Mandatory values.
    let mut out = b"keep".to_vec();
    assert!(!render_format(
        &fmt("x %{+M}[hdr(nope)] y"),
        &c,
        &mut Scratch::new(),
        &mut out
    ));
    assert_eq!(out, b"keep");
    let mut out = vec![];
    assert!(!render_format(
        &fmt("x %{+M}CC"),
        &c,
        &mut Scratch::new(),
        &mut out
    ));
    assert!(out.is_empty());
}

#[test]
fn header_value_formats() {
    let f = fe(" http-request set-header X-Client \"%[src] via %fi\"\n http-request redirect location https://%[hdr(host),field(1,:)]%[path]");
    let c = ctx();
    match &f.http_request[0].action {
        HttpAction::SetHeader { value, .. } => {
            assert_eq!(render(value, &c), "10.1.2.3 via 192.168.0.1")
        }
        a => panic!("{a:?}"),
    }
    match &f.http_request[1].action {
        HttpAction::Redirect(r) => assert_eq!(
            render(&r.target, &c),
            "https://www.Example.com/api/v1/Users"
        ),
        a => panic!("{a:?}"),
    }
}

#[test]
fn dates() {
    let mut out = vec![];
    write_date(&mut out, 0, 0, true);
    assert_eq!(out, b"01/Jan/1970:00:00:00.000");
    out.clear();
    write_date(&mut out, 951_782_400_000, 60, false); // 2000-02-29 00:00:00 UTC
    assert_eq!(out, b"29/Feb/2000:01:00:00 +0100");
    out.clear();
    write_date(&mut out, 1_709_251_199_999, -330, true); // 2024-02-29 23:59:59.999 UTC
    assert_eq!(out, b"29/Feb/2024:18:29:59.999");
}
