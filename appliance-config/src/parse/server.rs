//! `server` and `default-server` lines (`bind` lines are in `bind`).
//!
//! Owns: [`parse_server_line`], [`parse_default_server`] and the server option set
//! [`ServerOpts`]. Invariant: options sluice cannot honour
//! (PROXY protocol, cookies, slow start, OCSP, CRLs, …) are refused, never dropped;
//! TLS options that have no effect where they are written leave a warning (or an
//! error on a bind line without `ssl`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::addr::parse_server;
use super::bind::tls_refused;
use super::sample::parse_sample;
use super::tls::{
    check_versions, file_path, parse_alpn, parse_proto, parse_verify, parse_version, version_flag,
};
use super::units::{parse_time, parse_u32_in};
use super::{Ctx, Ln, R};
use crate::error::did_you_mean;
use crate::model::sample::SampleExpr;
use crate::model::{Server, ServerTls, TlsVersion, Verify};

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
    ssl: Option<bool>,
    check_ssl: Option<bool>,
    verify: Option<Verify>,
    ca_file: Option<PathBuf>,
    sni: Option<SampleExpr>,
    alpn: Option<Vec<String>>,
    crt: Option<PathBuf>,
    min_ver: Option<TlsVersion>,
    max_ver: Option<TlsVersion>,
    ciphers: Option<String>,
    ciphersuites: Option<String>,
    no_tls_tickets: Option<bool>,
    proto: Option<String>,
    pool_max_conn: Option<i32>,
    pool_low_conn: Option<u32>,
    pool_purge_delay: Option<Duration>,
    max_reuse: Option<i32>,
    /// TLS options written on the line being parsed (not inherited), for warnings.
    line_tls: Vec<String>,
}

/// Server options other than the TLS ones (see [`SERVER_TLS_OPTS`]).
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
    "ssl",
    "no-ssl",
    "check-ssl",
    "no-check-ssl",
    "proto",
    "pool-max-conn",
    "pool-low-conn",
    "pool-purge-delay",
    "max-reuse",
];

/// Server options that only matter with `ssl`.
const SERVER_TLS_OPTS: &[&str] = &[
    "verify",
    "ca-file",
    "sni",
    "alpn",
    "crt",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "no-tls-tickets",
];

fn server_refused(o: &str) -> Option<&'static str> {
    Some(match o {
        "send-proxy" | "send-proxy-v2" | "proxy-v2-options" | "check-send-proxy" => {
            "sending the PROXY protocol is not supported yet"
        }
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

fn parse_opts(
    ctx: &Ctx<'_>,
    ln: &Ln<'_>,
    kw: &str,
    start: usize,
    o: &mut ServerOpts,
    allow_id: bool,
) -> R {
    let usage = format!("{kw} … [weight <n>] [backup] [maxconn <n>] [maxqueue <n>] [disabled] [check] [inter <t>] [fastinter <t>] [downinter <t>] [rise <n>] [fall <n>] [addr <ip>] [port <n>] [id <n>] [ssl [verify none|required] [ca-file <f>] [sni <expr>] [alpn <list>] [crt <f>] …] [check-ssl] [proto h1|h2] [pool-max-conn <n>] [pool-low-conn <n>] [pool-purge-delay <t>] [max-reuse <n>]");
    let g = &ctx.global;
    o.line_tls.clear();
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
        if SERVER_TLS_OPTS.contains(&name) {
            o.line_tls.push(name.to_string());
        }
        if let Some(r) = version_flag(name, &mut o.min_ver, &mut o.max_ver) {
            r.map_err(fail)?;
            i += 1;
            continue;
        }
        match name {
            "ssl" | "no-ssl" => {
                o.ssl = Some(name == "ssl");
                takes = 1;
            }
            "check-ssl" | "no-check-ssl" => {
                o.check_ssl = Some(name == "check-ssl");
                takes = 1;
            }
            "no-tls-tickets" => {
                o.no_tls_tickets = Some(true);
                takes = 1;
            }
            "verify" => o.verify = Some(parse_verify(val()?, false).map_err(fail)?),
            "ca-file" => {
                o.ca_file = Some(
                    file_path("CA file", val()?, "ca-base", g.ca_base.as_deref()).map_err(fail)?,
                )
            }
            "crt" => {
                o.crt = Some(
                    file_path(
                        "client certificate",
                        val()?,
                        "crt-base",
                        g.crt_base.as_deref(),
                    )
                    .map_err(fail)?,
                )
            }
            "sni" => {
                let v = val()?;
                o.sni = Some(parse_sample(v).map_err(|(m, h)| {
                    ln.err(kw, format!("invalid 'sni' expression '{v}': {m}"), h)
                })?)
            }
            "alpn" => o.alpn = Some(parse_alpn(val()?).map_err(fail)?),
            "ssl-min-ver" => o.min_ver = Some(parse_version(name, val()?).map_err(fail)?),
            "ssl-max-ver" => o.max_ver = Some(parse_version(name, val()?).map_err(fail)?),
            "ciphers" => o.ciphers = Some(val()?.to_string()),
            "ciphersuites" => o.ciphersuites = Some(val()?.to_string()),
            "proto" => o.proto = Some(parse_proto(val()?).map_err(fail)?),
            "pool-max-conn" => o.pool_max_conn = Some(parse_minus_one(val()?, name).map_err(fail)?),
            "max-reuse" => o.max_reuse = Some(parse_minus_one(val()?, name).map_err(fail)?),
            "pool-low-conn" => {
                o.pool_low_conn = Some(
                    parse_u32_in(val()?, "'pool-low-conn'", 0, i32::MAX as u32).map_err(fail)?,
                )
            }
            "pool-purge-delay" => o.pool_purge_delay = Some(parse_time(val()?).map_err(fail)?),
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
                if let Some((msg, hint)) = tls_refused(name) {
                    return Err(ln.err(kw, format!("server option '{name}': {msg}"), hint));
                }
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
                        SERVER_OPTS.iter().chain(SERVER_TLS_OPTS).copied(),
                        &format!("expected syntax: {usage}"),
                    ),
                ));
            }
        }
        i += takes;
    }
    Ok(())
}

/// A count where -1 means unlimited (`pool-max-conn`, `max-reuse`).
fn parse_minus_one(s: &str, kw: &str) -> Result<i32, super::units::Fail> {
    match s.parse::<i32>() {
        Ok(v) if v >= -1 => Ok(v),
        _ => Err((
            format!("'{kw}' expects a number of connections or -1 (unlimited), got '{s}'"),
            format!("write e.g. '{kw} 100', or '{kw} -1' for no limit"),
        )),
    }
}

/// Parses `default-server [options]` on top of the current defaults.
pub(crate) fn parse_default_server(ctx: &Ctx<'_>, ln: &Ln<'_>, o: &mut ServerOpts) -> R {
    parse_opts(ctx, ln, "default-server", 1, o, false)?;
    check_versions(o.min_ver, o.max_ver).map_err(|f| ln.fail("default-server", f))
}

/// Parses `server <name> <addr> [options]` with `defaults` from `default-server`.
/// Returns the server and its explicit id, if any.
pub(crate) fn parse_server_line(
    ctx: &mut Ctx<'_>,
    ln: &Ln<'_>,
    defaults: &ServerOpts,
) -> R<(Server, Option<u32>)> {
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
    parse_opts(ctx, ln, "server", 3, &mut o, true)?;
    let inter = o.inter.unwrap_or(Duration::from_secs(2));
    let tls = server_tls(ctx, ln, name, &o)?;
    let check_ssl = o
        .check_ssl
        .unwrap_or(tls.is_some() && o.check_port.is_none() && o.check_addr.is_none());
    if check_ssl && tls.is_none() {
        return Err(ln.err(
            "server",
            format!("'check-ssl' on server '{name}' without 'ssl' is not supported yet"),
            "add 'ssl' (checks then use the server's TLS settings), or remove 'check-ssl'",
        ));
    }
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
            tls,
            check_ssl,
            proto: o.proto.clone(),
            pool_max_conn: o.pool_max_conn.unwrap_or(-1),
            pool_low_conn: o.pool_low_conn.unwrap_or(0),
            pool_purge_delay: o.pool_purge_delay.unwrap_or(Duration::from_secs(5)),
            max_reuse: o.max_reuse.unwrap_or(-1),
            location: ln.loc.clone(),
        },
        o.id,
    ))
}

/// Builds a server's TLS settings from its options (defaults merged), applying the
/// global `ssl-default-server-*` and `ssl-server-verify`.
fn server_tls(ctx: &mut Ctx<'_>, ln: &Ln<'_>, name: &str, o: &ServerOpts) -> R<Option<ServerTls>> {
    let g = &ctx.global;
    if o.ssl != Some(true) {
        if !o.line_tls.is_empty() {
            ctx.warn(
                Some(&ln.loc),
                format!(
                    "server '{name}': '{}' has no effect without 'ssl'; add 'ssl' to talk TLS to the server, or remove it",
                    o.line_tls.join("', '")
                ),
            );
        }
        return Ok(None);
    }
    let verify = o.verify.unwrap_or(g.ssl_server_verify);
    if verify == Verify::Required && o.ca_file.is_none() {
        let why = if o.verify.is_some() {
            "'verify required'"
        } else {
            "the default, 'ssl-server-verify required'"
        };
        return Err(ln.err(
            "server",
            format!("server '{name}' must verify the server's certificate ({why}) but has no CA file"),
            "add 'ca-file <bundle>' (e.g. /etc/ssl/certs/ca-certificates.crt), or 'verify none' on the server if you trust the network, or 'ssl-server-verify none' in global",
        ));
    }
    let min_ver = o.min_ver.or(g.ssl_default_server_min_ver);
    let max_ver = o.max_ver.or(g.ssl_default_server_max_ver);
    check_versions(min_ver, max_ver).map_err(|f| ln.fail("server", f))?;
    let tls = ServerTls {
        verify,
        ca_file: o.ca_file.clone(),
        sni: o.sni.clone(),
        alpn: o.alpn.clone().unwrap_or_default(),
        crt: o.crt.clone(),
        min_ver,
        max_ver,
        ciphersuites: o
            .ciphersuites
            .clone()
            .or_else(|| g.ssl_default_server_ciphersuites.clone()),
        ciphers: o
            .ciphers
            .clone()
            .or_else(|| g.ssl_default_server_ciphers.clone()),
        no_tls_tickets: o
            .no_tls_tickets
            .unwrap_or(g.ssl_default_server_no_tls_tickets),
        location: ln.loc.clone(),
    };
    if verify == Verify::None && o.line_tls.iter().any(|k| k == "ca-file") {
        ctx.warn(
            Some(&ln.loc),
            format!("server '{name}': 'ca-file' has no effect with 'verify none'; remove it or verify the server"),
        );
    }
    Ok(Some(tls))
}
