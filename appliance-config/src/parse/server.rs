//! `bind`, `server` and `default-server` lines.
//!
//! Owns: [`parse_bind_line`], [`parse_server_line`], [`parse_default_server`] and
//! the server option set [`ServerOpts`]. Invariant: options sluice cannot honour
//! (TLS, PROXY protocol, cookies, slow start, …) are refused, never dropped.

use std::net::IpAddr;
use std::time::Duration;

use super::addr::{parse_bind, parse_server};
use super::units::{parse_time, parse_u32_in};
use super::{Ln, R};
use crate::error::did_you_mean;
use crate::model::{Address, Bind, Server};

const BIND_OPTS: &[&str] = &["name", "backlog", "maxconn", "v4v6", "v6only", "id"];

fn bind_refused(o: &str) -> Option<&'static str> {
    Some(match o {
        "ssl"
        | "crt"
        | "crt-list"
        | "ca-file"
        | "verify"
        | "ciphers"
        | "ciphersuites"
        | "curves"
        | "ecdhe"
        | "ssl-min-ver"
        | "ssl-max-ver"
        | "no-sslv3"
        | "no-tlsv10"
        | "no-tlsv11"
        | "no-tlsv12"
        | "no-tlsv13"
        | "force-tlsv12"
        | "force-tlsv13"
        | "strict-sni"
        | "alpn"
        | "npn"
        | "proto"
        | "allow-0rtt"
        | "ssl_fc"
        | "crl-file"
        | "generate-certificates"
        | "tls-ticket-keys"
        | "no-tls-tickets"
        | "prefer-client-ciphers" => "TLS and HTTP/2 are not in this build yet",
        "accept-proxy" | "accept-netscaler-cip" => "the PROXY protocol is not supported yet",
        "transparent" | "interface" | "namespace" | "mark" | "tos" | "tfo" | "defer-accept"
        | "mss" | "tcp-ut" | "nice" | "gid" | "uid" | "mode" | "user" | "group" | "level"
        | "severity-output" | "expose-fd" | "process" | "thread" | "shards" | "label"
        | "quic-cc-algo" | "quic-force-retry" | "idle-ping" | "guid-prefix" => {
            "this bind option is not supported yet"
        }
        _ => return None,
    })
}

/// Parses `bind <addr>[,<addr>…] [options]` into one [`Bind`] per listener.
pub(crate) fn parse_bind_line(ln: &Ln<'_>) -> R<Vec<Bind>> {
    let usage =
        "bind <address>[,<address>…] [name <n>] [backlog <n>] [maxconn <n>] [v4v6|v6only] [id <n>]";
    let Some(spec) = ln.w.get(1) else {
        return Err(ln.err(
            "bind",
            "'bind' expects an address",
            format!("expected syntax: {usage}"),
        ));
    };
    let addrs = parse_bind(spec).map_err(|f| ln.fail("bind", f))?;
    let mut tmpl = Bind {
        addr: Address::Fd(-1),
        spec: spec.clone(),
        name: None,
        backlog: None,
        maxconn: None,
        v4v6: false,
        v6only: false,
        id: None,
        location: ln.loc.clone(),
    };
    let mut i = 2;
    while i < ln.w.len() {
        let o = ln.w[i].as_str();
        let val = || -> R<&str> {
            ln.w.get(i + 1).map(String::as_str).ok_or_else(|| {
                ln.err(
                    "bind",
                    format!("'{o}' expects a value"),
                    format!("expected syntax: {usage}"),
                )
            })
        };
        match o {
            "name" => {
                tmpl.name = Some(val()?.to_string());
                i += 2;
            }
            "backlog" => {
                tmpl.backlog = Some(
                    parse_u32_in(val()?, "'backlog'", 1, i32::MAX as u32)
                        .map_err(|f| ln.fail("bind", f))?,
                );
                i += 2;
            }
            "maxconn" => {
                tmpl.maxconn = Some(
                    parse_u32_in(val()?, "'maxconn'", 1, u32::MAX)
                        .map_err(|f| ln.fail("bind", f))?,
                );
                i += 2;
            }
            "id" => {
                tmpl.id = Some(
                    parse_u32_in(val()?, "'id'", 1, i32::MAX as u32)
                        .map_err(|f| ln.fail("bind", f))?,
                );
                i += 2;
            }
            "v4v6" => {
                tmpl.v4v6 = true;
                i += 1;
            }
            "v6only" => {
                tmpl.v6only = true;
                i += 1;
            }
            _ => {
                if let Some(why) = bind_refused(o) {
                    return Err(ln.err(
                        "bind",
                        format!("bind option '{o}' is not supported by sluice"),
                        why,
                    ));
                }
                return Err(ln.err(
                    "bind",
                    format!("unknown bind option '{o}'"),
                    did_you_mean(
                        o,
                        BIND_OPTS.iter().copied(),
                        &format!("expected syntax: {usage}"),
                    ),
                ));
            }
        }
    }
    if tmpl.v4v6 && tmpl.v6only {
        return Err(ln.err(
            "bind",
            "'v4v6' and 'v6only' are mutually exclusive",
            "keep only one of them",
        ));
    }
    if tmpl.id.is_some() && addrs.len() > 1 {
        return Err(ln.err(
            "bind",
            "'id' cannot be used on a bind line that creates several listeners",
            "split the line, one address per line",
        ));
    }
    Ok(addrs
        .into_iter()
        .map(|addr| Bind {
            addr,
            ..tmpl.clone()
        })
        .collect())
}

/// Server settings as written (on `default-server` or `server`); unset fields take
/// HAProxy's defaults when the server is built.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerOpts {
    weight: Option<u32>,
    backup: Option<bool>,
    maxconn: Option<u32>,
    maxqueue: Option<u32>,
    disabled: Option<bool>,
    check: Option<bool>,
    inter: Option<Duration>,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    rise: Option<u32>,
    fall: Option<u32>,
    check_addr: Option<IpAddr>,
    check_port: Option<u16>,
    id: Option<u32>,
}

const SERVER_OPTS: &[&str] = &[
    "weight",
    "backup",
    "no-backup",
    "maxconn",
    "maxqueue",
    "disabled",
    "enabled",
    "check",
    "no-check",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "addr",
    "port",
    "id",
];

fn server_refused(o: &str) -> Option<&'static str> {
    Some(match o {
        "ssl" | "verify" | "verifyhost" | "sni" | "alpn" | "npn" | "crt" | "ca-file"
        | "crl-file" | "ciphers" | "ciphersuites" | "check-ssl" | "check-sni" | "check-alpn"
        | "no-ssl" | "ssl-min-ver" | "ssl-max-ver" | "force-tlsv12" | "force-tlsv13"
        | "no-tlsv10" | "no-tlsv11" | "no-tlsv12" | "no-sslv3" | "ssl-reuse" | "no-ssl-reuse"
        | "allow-0rtt" | "proto" => "TLS and HTTP/2 are not in this build yet",
        "send-proxy"
        | "send-proxy-v2"
        | "send-proxy-v2-ssl"
        | "send-proxy-v2-ssl-cn"
        | "proxy-v2-options"
        | "check-send-proxy" => "sending the PROXY protocol is not supported yet",
        "cookie" => "cookie-based persistence is not supported yet",
        "slowstart" => "slow start is not supported yet",
        "resolvers" | "resolve-prefer" | "resolve-net" | "resolve-opts" | "init-addr" => {
            "DNS resolvers are not supported yet; names are resolved once at load time"
        }
        "track"
        | "agent-check"
        | "agent-port"
        | "agent-inter"
        | "agent-addr"
        | "agent-send"
        | "observe"
        | "error-limit"
        | "on-error"
        | "on-marked-down"
        | "on-marked-up"
        | "redir"
        | "source"
        | "usesrc"
        | "namespace"
        | "tfo"
        | "pool-max-conn"
        | "pool-low-conn"
        | "pool-purge-delay"
        | "max-reuse"
        | "minconn"
        | "socks4"
        | "tcp-ut"
        | "set-proxy-v2-tlv-fmt"
        | "check-proto"
        | "check-via-socks4"
        | "non-stick"
        | "stick"
        | "ws"
        | "shard"
        | "log-proto"
        | "log-bufsize"
        | "guid"
        | "hash-key"
        | "sni-auto"
        | "strict-maxconn" => "this server option is not supported yet",
        _ => return None,
    })
}

fn parse_opts(ln: &Ln<'_>, kw: &str, start: usize, o: &mut ServerOpts, allow_id: bool) -> R {
    let usage = format!("{kw} … [weight <n>] [backup] [maxconn <n>] [maxqueue <n>] [disabled] [check] [inter <t>] [fastinter <t>] [downinter <t>] [rise <n>] [fall <n>] [addr <ip>] [port <n>] [id <n>]");
    let mut i = start;
    while i < ln.w.len() {
        let name = ln.w[i].as_str();
        let val = || -> R<&str> {
            ln.w.get(i + 1).map(String::as_str).ok_or_else(|| {
                ln.err(
                    kw,
                    format!("'{name}' expects a value"),
                    format!("expected syntax: {usage}"),
                )
            })
        };
        let fail = |f| ln.fail(kw, f);
        let mut takes = 2;
        match name {
            "weight" => o.weight = Some(parse_u32_in(val()?, "'weight'", 0, 256).map_err(fail)?),
            "maxconn" => {
                o.maxconn = Some(parse_u32_in(val()?, "'maxconn'", 0, u32::MAX).map_err(fail)?)
            }
            "maxqueue" => {
                o.maxqueue = Some(parse_u32_in(val()?, "'maxqueue'", 0, u32::MAX).map_err(fail)?)
            }
            "inter" | "fastinter" | "downinter" => {
                let t = parse_time(val()?).map_err(fail)?;
                if t.is_zero() {
                    return Err(ln.err(
                        kw,
                        format!("'{name}' must be greater than zero"),
                        "write e.g. '2s'",
                    ));
                }
                match name {
                    "inter" => o.inter = Some(t),
                    "fastinter" => o.fastinter = Some(t),
                    _ => o.downinter = Some(t),
                }
            }
            "rise" => o.rise = Some(parse_u32_in(val()?, "'rise'", 1, 1 << 20).map_err(fail)?),
            "fall" => o.fall = Some(parse_u32_in(val()?, "'fall'", 1, 1 << 20).map_err(fail)?),
            "addr" => {
                let v = val()?;
                o.check_addr = Some(v.parse().map_err(|_| {
                    ln.err(
                        kw,
                        format!("invalid check address '{v}'"),
                        "write an IPv4 or IPv6 address",
                    )
                })?);
            }
            "port" => {
                o.check_port = Some(parse_u32_in(val()?, "'port'", 1, 65535).map_err(fail)? as u16)
            }
            "id" if allow_id => {
                o.id = Some(parse_u32_in(val()?, "'id'", 1, i32::MAX as u32).map_err(fail)?)
            }
            "backup" | "no-backup" => {
                o.backup = Some(name == "backup");
                takes = 1;
            }
            "disabled" | "enabled" => {
                o.disabled = Some(name == "disabled");
                takes = 1;
            }
            "check" | "no-check" => {
                o.check = Some(name == "check");
                takes = 1;
            }
            _ => {
                if let Some(why) = server_refused(name) {
                    return Err(ln.err(
                        kw,
                        format!("server option '{name}' is not supported by sluice"),
                        why,
                    ));
                }
                return Err(ln.err(
                    kw,
                    format!("unknown server option '{name}'"),
                    did_you_mean(
                        name,
                        SERVER_OPTS.iter().copied(),
                        &format!("expected syntax: {usage}"),
                    ),
                ));
            }
        }
        i += takes;
    }
    Ok(())
}

/// Parses `default-server [options]` on top of the current defaults.
pub(crate) fn parse_default_server(ln: &Ln<'_>, o: &mut ServerOpts) -> R {
    parse_opts(ln, "default-server", 1, o, false)
}

/// Parses `server <name> <addr> [options]` with `defaults` from `default-server`.
/// Returns the server and its explicit id, if any.
pub(crate) fn parse_server_line(ln: &Ln<'_>, defaults: &ServerOpts) -> R<(Server, Option<u32>)> {
    let (Some(name), Some(spec)) = (ln.w.get(1), ln.w.get(2)) else {
        return Err(ln.err(
            "server",
            "'server' expects a name and an address",
            "write 'server <name> <address>:<port> [options]'",
        ));
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        return Err(ln.err(
            "server",
            format!("character '{c}' is not permitted in server name '{name}'"),
            "use letters, digits, '-', '_', '.' and ':'",
        ));
    }
    let addr = parse_server(spec).map_err(|f| ln.fail("server", f))?;
    let mut o = defaults.clone();
    o.id = None;
    parse_opts(ln, "server", 3, &mut o, true)?;
    let inter = o.inter.unwrap_or(Duration::from_secs(2));
    Ok((
        Server {
            name: name.clone(),
            id: 0,
            addr,
            addr_spec: spec.clone(),
            weight: o.weight.unwrap_or(1),
            backup: o.backup.unwrap_or(false),
            maxconn: o.maxconn.unwrap_or(0),
            maxqueue: o.maxqueue.unwrap_or(0),
            disabled: o.disabled.unwrap_or(false),
            check: o.check.unwrap_or(false),
            inter,
            fastinter: o.fastinter.unwrap_or(inter),
            downinter: o.downinter.unwrap_or(inter),
            rise: o.rise.unwrap_or(2),
            fall: o.fall.unwrap_or(3),
            check_addr: o.check_addr,
            check_port: o.check_port,
            location: ln.loc.clone(),
        },
        o.id,
    ))
}
