//! Proxy keywords with sub-keywords: `timeout`, `option`, `http-check`, `balance`,
//! `capture`.
//!
//! Owns: the parsers of those keywords and their name lists (for did-you-mean).
//! Invariant: an option sluice does not run is refused with its reason; an option
//! that does not apply to the section type is a warning, as in HAProxy.

use super::format::parse_format;
use super::proxy::{Kind, LogFmtKind, ProxyConf, B, F};
use super::refused;
use super::units::{parse_time, parse_u32_in};
use super::{Ctx, Ln, R};
use crate::error::did_you_mean;
use crate::model::format::{HTTPLOG_CLF_FORMAT, HTTPLOG_FORMAT, TCPLOG_FORMAT};
use crate::model::{Balance, Capture, CheckExpect, ForwardFor, HttpConnMode};

pub(super) fn usage_err(ln: &Ln<'_>, kw: &str, usage: &str) -> crate::error::ConfigError {
    ln.err(
        kw,
        format!("wrong arguments for '{kw}'"),
        format!("expected syntax: {usage}"),
    )
}

const TIMEOUTS: &[&str] = &[
    "connect",
    "client",
    "server",
    "http-request",
    "http-keep-alive",
    "queue",
    "check",
    "tunnel",
    "client-fin",
    "server-fin",
    "tarpit",
];

pub(super) fn timeout(ctx: &mut Ctx<'_>, px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let kind = ln.arg(1);
    let kw = "timeout";
    if kind.is_empty() {
        return Err(ln.err(
            kw,
            "'timeout' expects a kind and a value",
            format!("kinds: {}", TIMEOUTS.join(", ")),
        ));
    }
    if !TIMEOUTS.contains(&kind) {
        let legacy = match kind {
            "clitimeout" => Some("client"),
            "srvtimeout" => Some("server"),
            "contimeout" => Some("connect"),
            "appsession" => None,
            _ => None,
        };
        let hint = match legacy {
            Some(l) => format!("did you mean '{l}'?"),
            None => did_you_mean(
                kind,
                TIMEOUTS.iter().copied(),
                &format!("kinds: {}", TIMEOUTS.join(", ")),
            ),
        };
        return Err(ln.err(kw, format!("unknown timeout '{kind}'"), hint));
    }
    if ln.w.len() != 3 {
        return Err(ln.err(
            kw,
            format!("'timeout {kind}' expects one time value"),
            format!("write e.g. 'timeout {kind} 30s'"),
        ));
    }
    let d = Some(parse_time(&ln.w[2]).map_err(|f| ln.fail(kw, f))?);
    let caps = match kind {
        "client" | "http-request" | "client-fin" | "tarpit" => F,
        "http-keep-alive" => F | B,
        _ => B,
    };
    if px.kind != Kind::Defaults && px.kind.caps() & caps == 0 {
        ctx.warn(
            Some(&ln.loc),
            format!(
                "'timeout {kind}' ignored for {}: it needs {} capability",
                px.section_desc(),
                if caps & F != 0 { "frontend" } else { "backend" }
            ),
        );
        return Ok(());
    }
    let t = &mut px.timeouts;
    match kind {
        "connect" => t.connect = d,
        "client" => t.client = d,
        "server" => t.server = d,
        "http-request" => t.http_request = d,
        "http-keep-alive" => t.http_keep_alive = d,
        "queue" => t.queue = d,
        "check" => t.check = d,
        "tunnel" => t.tunnel = d,
        "client-fin" => t.client_fin = d,
        "server-fin" => t.server_fin = d,
        _ => t.tarpit = d,
    }
    Ok(())
}

const OPTIONS: &[&str] = &[
    "httplog",
    "tcplog",
    "dontlognull",
    "forwardfor",
    "http-server-close",
    "httpclose",
    "http-keep-alive",
    "redispatch",
    "httpchk",
    "log-health-checks",
    "abortonclose",
];

pub(super) fn option(ctx: &mut Ctx<'_>, px: &mut ProxyConf, ln: &Ln<'_>, negate: bool) -> R {
    let off = usize::from(negate);
    let opt = ln.arg(1 + off);
    let kwname = format!("{}option {opt}", if negate { "no " } else { "" });
    let kw = kwname.as_str();
    let args = &ln.w[(2 + off).min(ln.w.len())..];
    if opt.is_empty() {
        return Err(ln.err(
            "option",
            "'option' expects an option name",
            format!("options: {}", OPTIONS.join(", ")),
        ));
    }
    if !OPTIONS.contains(&opt) {
        if let Some(why) = refused::unsupported_option(opt) {
            return Err(ln.err(
                kw,
                format!("'option {opt}' is not supported by sluice"),
                why,
            ));
        }
        return Err(ln.err(
            kw,
            format!("unknown option '{opt}'"),
            did_you_mean(
                opt,
                OPTIONS.iter().copied(),
                &format!("options: {}", OPTIONS.join(", ")),
            ),
        ));
    }
    let no_args = |what: &str| -> R {
        if !args.is_empty() {
            return Err(ln.err(
                kw,
                format!("'{what}' takes no argument here"),
                format!("write 'option {opt}' alone"),
            ));
        }
        Ok(())
    };
    // Frontend-only options in a pure backend: HAProxy warns and ignores.
    let fe_only = matches!(opt, "httplog" | "tcplog" | "dontlognull");
    let be_only = matches!(
        opt,
        "redispatch" | "httpchk" | "log-health-checks" | "abortonclose"
    );
    if (fe_only && px.kind == Kind::Backend) || (be_only && px.kind == Kind::Frontend) {
        ctx.warn(
            Some(&ln.loc),
            format!(
                "'option {opt}' ignored for {} as it requires {} capability",
                px.section_desc(),
                if fe_only { "frontend" } else { "backend" }
            ),
        );
        return Ok(());
    }
    if negate {
        no_args(&kwname)?;
        match opt {
            "httplog" | "tcplog" => px.log_format = None,
            "dontlognull" => px.dontlognull = false,
            "forwardfor" => px.forwardfor = None,
            "http-server-close" | "httpclose" | "http-keep-alive" => {
                px.http_conn_mode = HttpConnMode::KeepAlive
            }
            "redispatch" => px.redispatch = None,
            "httpchk" => px.httpchk = false,
            "log-health-checks" => px.log_health_checks = false,
            _ => px.abortonclose = false,
        }
        return Ok(());
    }
    match opt {
        "httplog" => {
            let (f, k) = match args {
                [] => (HTTPLOG_FORMAT, LogFmtKind::Http),
                [c] if c == "clf" => (HTTPLOG_CLF_FORMAT, LogFmtKind::HttpClf),
                _ => {
                    return Err(ln.err(
                        kw,
                        format!("unexpected '{}'", args.join(" ")),
                        "write 'option httplog' or 'option httplog clf'",
                    ))
                }
            };
            let fmt = parse_format(f).map_err(|e| ln.fail(kw, e))?;
            px.log_format = Some((fmt, k, ln.loc.clone()));
        }
        "tcplog" => {
            no_args("option tcplog")?;
            let fmt = parse_format(TCPLOG_FORMAT).map_err(|e| ln.fail(kw, e))?;
            px.log_format = Some((fmt, LogFmtKind::Tcp, ln.loc.clone()));
        }
        "dontlognull" => {
            no_args("option dontlognull")?;
            px.dontlognull = true;
        }
        "forwardfor" => {
            let mut ff = ForwardFor {
                header: "X-Forwarded-For".into(),
                except: None,
                if_none: false,
            };
            let mut i = 0;
            while i < args.len() {
                match args[i].as_str() {
                    "except" => {
                        let Some(n) = args.get(i + 1) else {
                            return Err(ln.err(kw, "'except' expects a network", "write e.g. 'except 127.0.0.0/8'"));
                        };
                        ff.except = Some(super::acl::ip_pattern(n).map_err(|f| ln.fail(kw, f))?);
                        i += 2;
                    }
                    "header" => {
                        let Some(h) = args.get(i + 1) else {
                            return Err(ln.err(kw, "'header' expects a header name", "write e.g. 'header X-Client-IP'"));
                        };
                        ff.header = h.clone();
                        i += 2;
                    }
                    "if-none" => {
                        ff.if_none = true;
                        i += 1;
                    }
                    o => return Err(ln.err(kw, format!("unknown forwardfor argument '{o}'"), did_you_mean(o, ["except", "header", "if-none"], "expected syntax: option forwardfor [except <network>] [header <name>] [if-none]"))),
                }
            }
            px.forwardfor = Some(ff);
        }
        "http-server-close" => {
            no_args("option http-server-close")?;
            px.http_conn_mode = HttpConnMode::ServerClose;
        }
        "httpclose" => {
            no_args("option httpclose")?;
            px.http_conn_mode = HttpConnMode::Close;
        }
        "http-keep-alive" => {
            no_args("option http-keep-alive")?;
            px.http_conn_mode = HttpConnMode::KeepAlive;
        }
        "redispatch" => {
            px.redispatch = Some(match args {
                [] => -1,
                [n] => n.parse::<i32>().ok().filter(|n| *n != 0).ok_or_else(|| ln.err(kw, format!("invalid redispatch interval '{n}'"), "write a non-zero integer: N redispatches every Nth retry, -N on the Nth retry before the last"))?,
                _ => return Err(ln.err(kw, "too many arguments", "write 'option redispatch [<interval>]'")),
            });
        }
        "httpchk" => {
            let c = &mut px.http_check;
            match args {
                [] => {}
                [uri] => c.uri = uri.clone(),
                [m, uri] => {
                    c.method = m.clone();
                    c.uri = uri.clone();
                }
                [m, uri, v] => {
                    if v.contains('\r') || v.contains('\n') {
                        return Err(ln.err(
                            kw,
                            "headers appended to the HTTP version are not supported",
                            "use 'http-check send hdr <name> <value>'",
                        ));
                    }
                    c.method = m.clone();
                    c.uri = uri.clone();
                    c.version = v.clone();
                }
                _ => {
                    return Err(ln.err(
                        kw,
                        "too many arguments",
                        "write 'option httpchk [<method>] [<uri>] [<version>]'",
                    ))
                }
            }
            px.httpchk = true;
        }
        "log-health-checks" => {
            no_args("option log-health-checks")?;
            px.log_health_checks = true;
        }
        _ => {
            no_args("option abortonclose")?;
            px.abortonclose = true;
        }
    }
    Ok(())
}

pub(super) fn http_check(px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let kw = "http-check";
    let sub = ln.arg(1);
    let a = &ln.w[2.min(ln.w.len())..];
    px.http_check_loc.get_or_insert_with(|| ln.loc.clone());
    match sub {
        "expect" => {
            let (neg, a) = match a.first().map(String::as_str) {
                Some("!") => (true, &a[1..]),
                _ => (false, a),
            };
            let usage = "http-check expect [!] status|rstatus|string|rstring <pattern>";
            let [what, pat] = a else {
                return Err(usage_err(ln, "http-check expect", usage));
            };
            let re = |p: &str| {
                regex::Regex::new(p).map_err(|e| {
                    ln.err(
                        kw,
                        format!("invalid regex '{p}': {e}"),
                        "fix the regular expression",
                    )
                })
            };
            let e = match what.as_str() {
                "status" => {
                    let mut v = vec![];
                    for part in pat.split(',') {
                        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                        let p = |s: &str| s.parse::<u16>().ok().filter(|n| (100..=599).contains(n));
                        match (p(lo), p(hi)) {
                            (Some(l), Some(h)) if l <= h => v.push((l, h)),
                            _ => {
                                return Err(ln.err(
                                    kw,
                                    format!("invalid status '{part}'"),
                                    "write codes or ranges, e.g. '200' or '200-399,401'",
                                ))
                            }
                        }
                    }
                    CheckExpect::Status(v)
                }
                "rstatus" => CheckExpect::RStatus(re(pat)?),
                "string" => CheckExpect::String(pat.clone()),
                "rstring" => CheckExpect::RString(re(pat)?),
                o => {
                    return Err(ln.err(
                        kw,
                        format!("unknown expect match '{o}'"),
                        did_you_mean(o, ["status", "rstatus", "string", "rstring"], usage),
                    ))
                }
            };
            px.http_check.expect = Some(e);
            px.http_check.expect_negated = neg;
        }
        "send" => {
            let usage = "http-check send [meth <method>] [uri <uri>] [ver <version>] [hdr <name> <value>]* [body <string>]";
            let c = &mut px.http_check;
            let mut i = 0;
            while i < a.len() {
                let v = |n: usize| {
                    a.get(i + n)
                        .cloned()
                        .ok_or_else(|| usage_err(ln, "http-check send", usage))
                };
                match a[i].as_str() {
                    "meth" => c.method = v(1)?,
                    "uri" => c.uri = v(1)?,
                    "ver" => c.version = v(1)?,
                    "body" => c.body = Some(v(1)?),
                    "hdr" => {
                        c.headers.push((v(1)?, v(2)?));
                        i += 1;
                    }
                    o => {
                        return Err(ln.err(
                            kw,
                            format!("unknown 'http-check send' option '{o}'"),
                            did_you_mean(o, ["meth", "uri", "ver", "hdr", "body"], usage),
                        ))
                    }
                }
                i += 2;
            }
        }
        "disable-on-404" | "send-state" | "connect" | "comment" | "set-var" | "unset-var" => {
            return Err(ln.err(
                kw,
                format!("'http-check {sub}' is not supported yet"),
                "use 'http-check send' and 'http-check expect'",
            ));
        }
        o => {
            return Err(ln.err(
                kw,
                format!("unknown http-check directive '{o}'"),
                did_you_mean(
                    o,
                    ["expect", "send"],
                    "write 'http-check send …' or 'http-check expect …'",
                ),
            ))
        }
    }
    Ok(())
}

pub(super) fn balance(px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let kw = "balance";
    let algo = ln.arg(1);
    let a = &ln.w[2.min(ln.w.len())..];
    let algos = [
        "roundrobin",
        "static-rr",
        "leastconn",
        "first",
        "source",
        "uri",
        "url_param",
        "hdr(<name>)",
        "random",
    ];
    let none = |b: Balance| -> R<Balance> {
        if a.is_empty() {
            Ok(b)
        } else {
            Err(ln.err(
                kw,
                format!("'balance {algo}' takes no argument"),
                format!("write 'balance {algo}'"),
            ))
        }
    };
    px.balance = match algo {
        "roundrobin" => none(Balance::RoundRobin)?,
        "static-rr" => none(Balance::StaticRr)?,
        "leastconn" => none(Balance::LeastConn)?,
        "first" => none(Balance::First)?,
        "source" => none(Balance::Source)?,
        "uri" => {
            let (mut whole, mut len, mut depth, mut path_only) = (false, 0, 0, false);
            let mut i = 0;
            while i < a.len() {
                match a[i].as_str() {
                    "whole" => whole = true,
                    "path-only" => path_only = true,
                    "len" | "depth" => {
                        let n = parse_u32_in(a.get(i + 1).map(String::as_str).unwrap_or(""), &format!("'{}'", a[i]), 1, u32::MAX).map_err(|f| ln.fail(kw, f))?;
                        if a[i] == "len" {
                            len = n;
                        } else {
                            depth = n;
                        }
                        i += 1;
                    }
                    o => return Err(ln.err(kw, format!("unknown 'balance uri' option '{o}'"), did_you_mean(o, ["whole", "len", "depth", "path-only"], "expected syntax: balance uri [whole] [len <n>] [depth <n>] [path-only]"))),
                }
                i += 1;
            }
            Balance::Uri {
                whole,
                len,
                depth,
                path_only,
            }
        }
        "url_param" => match a {
            [p] => Balance::UrlParam(p.clone()),
            [_, o, ..] if o == "check_post" => {
                return Err(ln.err(
                    kw,
                    "'check_post' is not supported yet",
                    "remove it: only the query string is hashed",
                ))
            }
            _ => {
                return Err(ln.err(
                    kw,
                    "'balance url_param' expects exactly one parameter name",
                    "write 'balance url_param <name>'",
                ))
            }
        },
        "rdp-cookie" | "hash" | "sticky" => {
            return Err(ln.err(
                kw,
                format!("'balance {algo}' is not supported yet"),
                format!("use one of: {}", algos.join(", ")),
            ))
        }
        _ if algo.starts_with("hdr(") && algo.ends_with(')') => {
            let name = &algo[4..algo.len() - 1];
            if name.is_empty() {
                return Err(ln.err(
                    kw,
                    "'balance hdr()' needs a header name",
                    "write 'balance hdr(Host)'",
                ));
            }
            let use_domain_only = match a {
                [] => false,
                [o] if o == "use_domain_only" => true,
                _ => {
                    return Err(ln.err(
                        kw,
                        format!("unexpected '{}'", a.join(" ")),
                        "write 'balance hdr(<name>) [use_domain_only]'",
                    ))
                }
            };
            Balance::Hdr {
                name: name.to_ascii_lowercase(),
                use_domain_only,
            }
        }
        _ if algo == "random" || (algo.starts_with("random(") && algo.ends_with(')')) => {
            let draws = if algo == "random" {
                2
            } else {
                parse_u32_in(&algo[7..algo.len() - 1], "'random' draws", 1, 1000)
                    .map_err(|f| ln.fail(kw, f))?
            };
            none(Balance::Random(draws))?
        }
        "" => {
            return Err(ln.err(
                kw,
                "'balance' expects an algorithm",
                format!("algorithms: {}", algos.join(", ")),
            ))
        }
        _ => {
            return Err(ln.err(
                kw,
                format!("unknown balance algorithm '{algo}'"),
                did_you_mean(algo, algos, &format!("algorithms: {}", algos.join(", "))),
            ))
        }
    };
    Ok(())
}

pub(super) fn capture(px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let usage = "capture request|response header <name> len <length>";
    match ln.w.get(1..).unwrap_or(&[]) {
        [dir, h, name, l, n]
            if h == "header" && l == "len" && (dir == "request" || dir == "response") =>
        {
            let len =
                parse_u32_in(n, "'len'", 1, 65536).map_err(|f| ln.fail("capture", f))? as usize;
            let c = Capture {
                name: name.to_ascii_lowercase(),
                len,
            };
            if dir == "request" {
                px.capture_request.push(c);
            } else {
                px.capture_response.push(c);
            }
            Ok(())
        }
        [c, ..] if c == "cookie" => Err(ln.err(
            "capture",
            "'capture cookie' is not supported yet",
            "cookies are not supported yet",
        )),
        _ => Err(usage_err(ln, "capture", usage)),
    }
}
