//! `bind` lines: addresses, options and the TLS settings of a listener.
//!
//! Owns: [`parse_bind_line`]. Invariant: options sluice cannot honour are refused,
//! never dropped; TLS options on a bind without `ssl` are an error.

use std::path::PathBuf;

use super::addr::parse_bind;
use super::tls::{
    cert_paths, check_versions, file_path, parse_alpn, parse_proto, parse_verify, parse_version,
    version_flag,
};
use super::units::parse_u32_in;
use super::{Ctx, Ln, R};
use crate::error::did_you_mean;
use crate::model::{Address, Bind, BindTls, TlsVersion, Verify};

const BIND_OPTS: &[&str] = &[
    "name",
    "backlog",
    "maxconn",
    "v4v6",
    "v6only",
    "id",
    "ssl",
    "crt",
    "alpn",
    "no-alpn",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "verify",
    "ca-file",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "prefer-client-ciphers",
    "no-tls-tickets",
    "strict-sni",
    "proto",
];

/// Refused TLS options (bind and server): the reason and the hint.
pub(super) fn tls_refused(o: &str) -> Option<(&'static str, &'static str)> {
    Some(match o {
        "crt-list" => (
            "certificate lists ('crt-list') are not supported yet",
            "give each certificate with 'crt <file>' (repeatable) or 'crt <directory>'",
        ),
        "ocsp-update" => (
            "OCSP stapling ('ocsp-update') is not supported yet",
            "remove 'ocsp-update'",
        ),
        "ca-verify-file" => (
            "'ca-verify-file' is not supported yet",
            "put every CA in the 'ca-file' bundle",
        ),
        "crl-file" => (
            "certificate revocation lists ('crl-file') are not supported yet",
            "remove 'crl-file'",
        ),
        "npn" => (
            "NPN is obsolete (replaced by ALPN) and not supported",
            "use 'alpn', e.g. 'alpn h2,http/1.1'",
        ),
        "curves" | "ecdhe" => (
            "choosing key-exchange groups is not supported yet",
            "remove it; rustls offers X25519, P-256 and P-384 (and post-quantum hybrids)",
        ),
        "sigalgs" | "client-sigalgs" => (
            "choosing signature algorithms is not supported yet",
            "remove it; rustls offers only modern signature algorithms",
        ),
        "allow-0rtt" => ("TLS 1.3 early data (0-RTT) is not supported yet", "remove 'allow-0rtt'"),
        "generate-certificates" | "ca-sign-file" | "ca-sign-pass" => (
            "generating certificates on the fly is not supported",
            "give the certificates with 'crt'",
        ),
        "tls-ticket-keys" => (
            "'tls-ticket-keys' is not supported yet",
            "remove it; session-ticket keys are generated and rotated by sluice",
        ),
        "ca-ignore-err" | "crt-ignore-err" => (
            "ignoring certificate verification errors is not supported",
            "fix the certificates, or use 'verify optional' and test 'ssl_c_verify'",
        ),
        "no-ca-names" => ("'no-ca-names' is not supported yet", "remove it"),
        "ssl-engine" | "ssl-mode-async" => (
            "OpenSSL engines do not exist in sluice's TLS library (rustls)",
            "remove it",
        ),
        "verifyhost" => (
            "'verifyhost' is not supported yet",
            "the server certificate is checked against the SNI ('sni <expr>', by default the request's Host)",
        ),
        "check-sni" | "check-alpn" => (
            "'check-sni' and 'check-alpn' are not supported yet",
            "TLS health checks send no SNI and no ALPN for now",
        ),
        "ssl-reuse" | "no-ssl-reuse" => (
            "controlling TLS session reuse is not supported yet",
            "remove it; sessions are resumed unless 'no-tls-tickets' is set",
        ),
        "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => (
            "sending the PROXY protocol is not supported yet",
            "remove it",
        ),
        _ => return None,
    })
}

fn bind_refused(o: &str) -> Option<&'static str> {
    Some(match o {
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

/// TLS options of a bind line as written.
#[derive(Default)]
struct BindTlsOpts {
    ssl: bool,
    /// The first TLS option seen (for "needs 'ssl'").
    first: Option<String>,
    certs: Vec<PathBuf>,
    alpn: Option<Vec<String>>,
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
    ciphers: Option<String>,
    ciphersuites: Option<String>,
    verify: Option<Verify>,
    ca_file: Option<PathBuf>,
    prefer_client_ciphers: bool,
    no_tls_tickets: bool,
    strict_sni: bool,
}

/// Parses `bind <addr>[,<addr>…] [options]` into one [`Bind`] per listener.
pub(crate) fn parse_bind_line(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R<Vec<Bind>> {
    let usage =
        "bind <address>[,<address>…] [name <n>] [backlog <n>] [maxconn <n>] [v4v6|v6only] [id <n>] [ssl crt <pem|dir> [alpn <list>] …] [proto h1|h2]";
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
        tls: None,
        proto: None,
        location: ln.loc.clone(),
    };
    let mut t = BindTlsOpts::default();
    let g = &ctx.global;
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
        let fail = |f| ln.fail("bind", f);
        let is_tls_opt = !matches!(
            o,
            "name" | "backlog" | "maxconn" | "id" | "v4v6" | "v6only" | "ssl" | "proto"
        );
        if is_tls_opt && t.first.is_none() {
            t.first = Some(o.to_string());
        }
        if let Some(r) = version_flag(o, &mut t.min, &mut t.max) {
            r.map_err(fail)?;
            i += 1;
            continue;
        }
        let mut takes = 2;
        match o {
            "name" => tmpl.name = Some(val()?.to_string()),
            "backlog" => {
                tmpl.backlog =
                    Some(parse_u32_in(val()?, "'backlog'", 1, i32::MAX as u32).map_err(fail)?)
            }
            "maxconn" => {
                tmpl.maxconn = Some(parse_u32_in(val()?, "'maxconn'", 1, u32::MAX).map_err(fail)?)
            }
            "id" => tmpl.id = Some(parse_u32_in(val()?, "'id'", 1, i32::MAX as u32).map_err(fail)?),
            "v4v6" => {
                tmpl.v4v6 = true;
                takes = 1;
            }
            "v6only" => {
                tmpl.v6only = true;
                takes = 1;
            }
            "ssl" => {
                t.ssl = true;
                takes = 1;
            }
            "crt" => t
                .certs
                .extend(cert_paths(val()?, g.crt_base.as_deref()).map_err(fail)?),
            "alpn" => t.alpn = Some(parse_alpn(val()?).map_err(fail)?),
            "no-alpn" => {
                t.alpn = Some(vec![]);
                takes = 1;
            }
            "ssl-min-ver" => t.min = Some(parse_version(o, val()?).map_err(fail)?),
            "ssl-max-ver" => t.max = Some(parse_version(o, val()?).map_err(fail)?),
            "ciphers" => t.ciphers = Some(val()?.to_string()),
            "ciphersuites" => t.ciphersuites = Some(val()?.to_string()),
            "verify" => t.verify = Some(parse_verify(val()?, true).map_err(fail)?),
            "ca-file" => {
                t.ca_file = Some(
                    file_path("CA file", val()?, "ca-base", g.ca_base.as_deref()).map_err(fail)?,
                )
            }
            "prefer-client-ciphers" => {
                t.prefer_client_ciphers = true;
                takes = 1;
            }
            "no-tls-tickets" => {
                t.no_tls_tickets = true;
                takes = 1;
            }
            "strict-sni" => {
                t.strict_sni = true;
                takes = 1;
            }
            "proto" => tmpl.proto = Some(parse_proto(val()?).map_err(fail)?),
            _ => {
                if let Some((msg, hint)) = tls_refused(o) {
                    return Err(ln.err("bind", format!("bind option '{o}': {msg}"), hint));
                }
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
        i += takes;
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
    if t.ssl {
        tmpl.tls = Some(bind_tls(ctx, ln, spec, t)?);
    } else if let Some(first) = t.first {
        return Err(ln.err(
            "bind",
            format!("'{first}' is a TLS option but bind '{spec}' has no 'ssl'"),
            format!("add 'ssl' to terminate TLS on this listener, or remove '{first}'"),
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

/// Builds a bind's TLS settings, global `ssl-default-bind-*` applied.
fn bind_tls(ctx: &mut Ctx<'_>, ln: &Ln<'_>, spec: &str, t: BindTlsOpts) -> R<BindTls> {
    let g = &ctx.global;
    if t.certs.is_empty() {
        return Err(ln.err(
            "bind",
            format!("no TLS certificate specified for bind '{spec}'"),
            "an 'ssl' bind needs at least one certificate: add 'crt <pem file or directory>'",
        ));
    }
    let verify = t.verify.unwrap_or(Verify::None);
    if verify != Verify::None && t.ca_file.is_none() {
        return Err(ln.err(
            "bind",
            format!(
                "'verify {}' on bind '{spec}' needs a CA file to check client certificates against",
                verify.name()
            ),
            "add 'ca-file <bundle.pem>' (relative paths are taken from 'ca-base')",
        ));
    }
    let min_ver = t.min.or(g.ssl_default_bind_min_ver);
    let max_ver = t.max.or(g.ssl_default_bind_max_ver);
    check_versions(min_ver, max_ver).map_err(|f| ln.fail("bind", f))?;
    let tls = BindTls {
        certs: t.certs,
        alpn: t.alpn.unwrap_or_default(),
        min_ver,
        max_ver,
        ciphersuites: t
            .ciphersuites
            .or_else(|| g.ssl_default_bind_ciphersuites.clone()),
        ciphers: t.ciphers.or_else(|| g.ssl_default_bind_ciphers.clone()),
        verify,
        ca_file: t.ca_file,
        prefer_client_ciphers: t.prefer_client_ciphers || g.ssl_default_bind_prefer_client_ciphers,
        no_tls_tickets: t.no_tls_tickets || g.ssl_default_bind_no_tls_tickets,
        strict_sni: t.strict_sni,
        location: ln.loc.clone(),
    };
    if verify == Verify::None && tls.ca_file.is_some() {
        ctx.warn(
            Some(&ln.loc),
            format!("bind '{spec}': 'ca-file' has no effect with 'verify none' (client certificates are not requested); add 'verify optional|required' or remove it"),
        );
    }
    Ok(tls)
}
