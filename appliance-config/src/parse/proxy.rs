//! Proxy sections (`defaults`, `frontend`, `backend`, `listen`) while they are read.
//!
//! Owns: [`ProxyConf`] (one section, inheriting from a `defaults` by cloning it) and
//! [`proxy_kw`], the dispatcher for every proxy keyword. Invariant: a keyword used in
//! a section type that cannot hold it is an error for structural keywords (`bind`,
//! `server`, `use_backend`, `default_backend`, `acl`, rules in `defaults`) and a
//! warning otherwise (HAProxy's behaviour).

use super::acl::{parse_acl_term, parse_condition};
use super::bind::parse_bind_line;
use super::format::parse_format;
use super::global::parse_logger;
use super::http::{parse_http_rule, parse_redirect, Dir, RuleCtx};
use super::options::{balance, capture, http_check, option, timeout, usage_err};
use super::refused;
use super::server::{parse_default_server, parse_server_line, ServerOpts};
use super::units::parse_u32_in;
use super::{errorfile_line, Ctx, Ln, R};
use crate::error::{did_you_mean, Location};
use crate::model::format::Format;
use crate::model::rules::{BackendRef, HttpAction, HttpRule, UseBackend};
use crate::model::sample::Acl;
use crate::model::{
    Balance, Bind, Capture, ErrorPage, ForwardFor, HashType, HttpCheck, HttpConnMode, HttpReuse,
    Logger, Mode, Server, StatsPage, Timeouts,
};

/// Section type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    pub(super) fn caps(self) -> u8 {
        match self {
            Kind::Defaults => D,
            Kind::Frontend => F,
            Kind::Backend => B,
            Kind::Listen => F | B,
        }
    }
}

pub(super) const F: u8 = 1;
pub(super) const B: u8 = 2;
const D: u8 = 4;
/// Using the keyword where it does not apply is an error (not a warning).
const S: u8 = 8;

/// Proxy keywords with the sections they belong to.
pub(crate) const PROXY_KEYWORDS: &[(&str, u8)] = &[
    ("mode", F | B | D),
    ("bind", F | S),
    ("server", B | S),
    ("default-server", B | D),
    ("timeout", F | B | D),
    ("maxconn", F | D),
    ("log", F | B | D),
    ("no", F | B | D),
    ("log-format", F | D),
    ("option", F | B | D),
    ("http-check", B | D),
    ("retries", B | D),
    ("balance", B | D),
    ("hash-type", B | D),
    ("acl", F | B | S),
    ("use_backend", F | S),
    ("default_backend", F | D | S),
    ("http-request", F | B | S),
    ("http-response", F | B | S),
    ("redirect", F | B | S),
    ("errorfile", F | B | D),
    ("errorfiles", F | B | D),
    ("http-reuse", B | D),
    ("description", F | B | D),
    ("id", F | B | S),
    ("disabled", F | B | D),
    ("enabled", F | B | D),
    ("capture", F | S),
    ("monitor-uri", F | D),
    ("stats", F | B | D),
];

/// A `log` line as written.
#[derive(Clone, Debug)]
pub(crate) enum LogSpec {
    Global(Location),
    Target(Logger),
}

/// `errorfile` / `errorfiles` in declaration order (later ones win).
#[derive(Clone, Debug)]
pub(crate) enum ErrDirective {
    Page(ErrorPage),
    Section {
        name: String,
        codes: Option<Vec<u16>>,
        loc: Location,
    },
}

/// Which built-in log format was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFmtKind {
    Custom,
    Http,
    HttpClf,
    Tcp,
}

/// One proxy section while it is read.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConf {
    pub kind: Kind,
    pub name: String,
    pub location: Location,
    pub id: Option<u32>,
    pub disabled: bool,
    pub description: Option<String>,
    pub mode: Mode,
    pub binds: Vec<Bind>,
    pub maxconn: Option<u32>,
    pub timeouts: Timeouts,
    pub http_conn_mode: HttpConnMode,
    pub forwardfor: Option<ForwardFor>,
    pub loggers: Vec<LogSpec>,
    pub log_format: Option<(Format, LogFmtKind, Location)>,
    pub dontlognull: bool,
    pub acls: Vec<Acl>,
    pub http_request: Vec<HttpRule>,
    pub redirects: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    pub use_backends: Vec<UseBackend>,
    pub default_backend: Option<(String, Location)>,
    pub errorfiles: Vec<ErrDirective>,
    pub monitor_uri: Option<String>,
    pub capture_request: Vec<Capture>,
    pub capture_response: Vec<Capture>,
    pub servers: Vec<(Server, Option<u32>)>,
    pub default_server: ServerOpts,
    pub balance: Balance,
    pub hash_type: HashType,
    pub retries: u32,
    pub redispatch: Option<i32>,
    pub http_reuse: HttpReuse,
    pub httpchk: bool,
    pub http_check: HttpCheck,
    pub http_check_loc: Option<Location>,
    pub log_health_checks: bool,
    pub abortonclose: bool,
    /// The stats page (`stats …` lines, or inherited from `defaults`).
    pub stats: Option<StatsPage>,
    /// `stats` came from `defaults` and no line of this section changed it.
    pub stats_inherited: bool,
    /// `stats admin`'s condition refers to this section's ACLs (not a copy taken
    /// in `defaults`).
    pub stats_admin_own_acls: bool,
}

impl ProxyConf {
    /// A new section, inheriting what HAProxy copies from `base` (a defaults section).
    pub fn new(kind: Kind, name: String, location: Location, base: Option<ProxyConf>) -> Self {
        let mut p = match base {
            Some(d) => ProxyConf {
                kind,
                name,
                location,
                id: None,
                disabled: d.disabled,
                description: None,
                binds: vec![],
                acls: vec![],
                http_request: vec![],
                redirects: vec![],
                http_response: vec![],
                use_backends: vec![],
                monitor_uri: d.monitor_uri.clone(),
                capture_request: vec![],
                capture_response: vec![],
                servers: vec![],
                stats_inherited: d.stats.is_some(),
                ..d
            },
            None => ProxyConf {
                kind,
                name,
                location,
                id: None,
                disabled: false,
                description: None,
                mode: Mode::Tcp,
                binds: vec![],
                maxconn: None,
                timeouts: Timeouts::default(),
                http_conn_mode: HttpConnMode::KeepAlive,
                forwardfor: None,
                loggers: vec![],
                log_format: None,
                dontlognull: false,
                acls: vec![],
                http_request: vec![],
                redirects: vec![],
                http_response: vec![],
                use_backends: vec![],
                default_backend: None,
                errorfiles: vec![],
                monitor_uri: None,
                capture_request: vec![],
                capture_response: vec![],
                servers: vec![],
                default_server: ServerOpts::default(),
                balance: Balance::RoundRobin,
                hash_type: HashType::MapBased,
                retries: 3,
                redispatch: None,
                http_reuse: HttpReuse::Safe,
                httpchk: false,
                http_check: HttpCheck::default(),
                http_check_loc: None,
                log_health_checks: false,
                abortonclose: false,
                stats: None,
                stats_inherited: false,
                stats_admin_own_acls: false,
            },
        };
        p.kind = kind;
        p
    }

    pub(super) fn section_desc(&self) -> String {
        if self.name.is_empty() {
            self.kind.name().to_string()
        } else {
            format!("{} '{}'", self.kind.name(), self.name)
        }
    }
}

/// Handles one line of a proxy section.
pub(crate) fn proxy_kw(ctx: &mut Ctx<'_>, px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let kw = ln.w[0].as_str();
    let Some(&(_, caps)) = PROXY_KEYWORDS.iter().find(|(k, _)| *k == kw) else {
        if let Some(r) = refused::removed_proxy_kw(kw) {
            return Err(ln.err(
                kw,
                format!("'{kw}' was removed from HAProxy and is not supported"),
                r,
            ));
        }
        if let Some(why) = refused::unsupported_proxy_kw(kw) {
            return Err(ln.err(kw, format!("'{kw}' is not supported by sluice"), why));
        }
        return Err(ln.err(
            kw,
            format!("unknown keyword '{kw}' in '{}' section", px.kind.name()),
            did_you_mean(
                kw,
                PROXY_KEYWORDS.iter().map(|(k, _)| *k),
                "see the list of proxy keywords in sluice's documentation",
            ),
        ));
    };
    if caps & px.kind.caps() == 0 {
        let wheres: Vec<&str> = [
            (F, "frontend"),
            (B, "backend"),
            (F | B, "listen"),
            (D, "defaults"),
        ]
        .iter()
        .filter(|(c, _)| caps & c != 0)
        .map(|(_, n)| *n)
        .collect();
        let msg = format!("'{kw}' is not allowed in a '{}' section", px.kind.name());
        let hint = if px.kind == Kind::Defaults
            && matches!(kw, "acl" | "http-request" | "http-response" | "redirect")
        {
            "rules and ACLs in defaults sections are not supported yet; put them in each frontend or backend".to_string()
        } else {
            format!("it belongs in: {}", wheres.join(", "))
        };
        if caps & S != 0 || px.kind == Kind::Defaults {
            return Err(ln.err(kw, msg, hint));
        }
        ctx.warn(
            Some(&ln.loc),
            format!("'{kw}' ignored for {}: {hint}", px.section_desc()),
        );
        return Ok(());
    }
    let fail = |f| ln.fail(kw, f);
    match kw {
        "mode" => {
            px.mode = match (ln.arg(1), ln.w.len()) {
                ("http", 2) => Mode::Http,
                ("tcp", 2) => Mode::Tcp,
                ("health", _) | ("log", _) | ("spop", _) => {
                    return Err(ln.err(
                        kw,
                        format!("mode '{}' is not supported", ln.arg(1)),
                        "use 'mode http' or 'mode tcp'",
                    ))
                }
                (m, _) => {
                    return Err(ln.err(
                        kw,
                        format!("unknown proxy mode '{m}'"),
                        did_you_mean(m, ["http", "tcp"], "use 'mode http' or 'mode tcp'"),
                    ))
                }
            }
        }
        "bind" => {
            let b = parse_bind_line(ctx, ln)?;
            px.binds.extend(b);
        }
        "server" => {
            let s = parse_server_line(ctx, ln, &px.default_server)?;
            px.servers.push(s);
        }
        "default-server" => parse_default_server(ctx, ln, &mut px.default_server)?,
        "timeout" => timeout(ctx, px, ln)?,
        "maxconn" => {
            if ln.w.len() != 2 {
                return Err(usage_err(ln, kw, "maxconn <number>"));
            }
            px.maxconn = Some(parse_u32_in(&ln.w[1], "'maxconn'", 1, u32::MAX).map_err(fail)?);
        }
        "log" => match ln.arg(1) {
            "global" if ln.w.len() == 2 => px.loggers.push(LogSpec::Global(ln.loc.clone())),
            "global" => {
                return Err(ln.err(
                    kw,
                    "'log global' takes no other argument",
                    "write 'log global'",
                ))
            }
            _ => {
                let l = parse_logger(ln)?;
                px.loggers.push(LogSpec::Target(l));
            }
        },
        "no" => match ln.arg(1) {
            "log" if ln.w.len() == 2 => px.loggers.clear(),
            "option" => option(ctx, px, ln, true)?,
            o => {
                return Err(ln.err(
                    "no",
                    format!("'no {o}' is not supported"),
                    "'no' applies to 'log' and to 'option …'",
                ))
            }
        },
        "log-format" => {
            if ln.w.len() != 2 {
                return Err(ln.err(
                    kw,
                    "'log-format' expects exactly one argument",
                    "put the format in double quotes, or escape its spaces",
                ));
            }
            let f = parse_format(&ln.w[1]).map_err(fail)?;
            px.log_format = Some((f, LogFmtKind::Custom, ln.loc.clone()));
        }
        "option" => option(ctx, px, ln, false)?,
        "http-check" => http_check(px, ln)?,
        "retries" => {
            if ln.w.len() != 2 {
                return Err(usage_err(ln, kw, "retries <number>"));
            }
            px.retries = parse_u32_in(&ln.w[1], "'retries'", 0, 1000).map_err(fail)?;
        }
        "balance" => balance(px, ln)?,
        "hash-type" => {
            px.hash_type = match ln.arg(1) {
                "map-based" => HashType::MapBased,
                "consistent" => HashType::Consistent,
                m => {
                    return Err(ln.err(
                        kw,
                        format!("unknown hash type '{m}'"),
                        did_you_mean(
                            m,
                            ["map-based", "consistent"],
                            "write 'hash-type map-based' or 'hash-type consistent'",
                        ),
                    ))
                }
            };
            for f in &ln.w[2..] {
                if !matches!(
                    f.as_str(),
                    "sdbm" | "djb2" | "wt6" | "crc32" | "none" | "avalanche"
                ) {
                    return Err(ln.err(
                        kw,
                        format!("unknown hash function '{f}'"),
                        "functions: sdbm djb2 wt6 crc32 none, optionally followed by 'avalanche'",
                    ));
                }
            }
            if ln.w.len() > 2 {
                ctx.warn(Some(&ln.loc), "hash function choice is not honoured yet: sluice uses its own hash; only the map-based/consistent choice applies".to_string());
            }
        }
        "acl" => {
            let name = ln.arg(1);
            if name.is_empty() || ln.w.len() < 3 {
                return Err(usage_err(
                    ln,
                    kw,
                    "acl <name> <criterion> [flags] [patterns…]",
                ));
            }
            if let Some(c) = name
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
            {
                return Err(ln.err(
                    kw,
                    format!("character '{c}' is not permitted in ACL name '{name}'"),
                    "use letters, digits, '-', '_', '.' and ':'",
                ));
            }
            let term = parse_acl_term(&ln.w[2..], &ln.loc).map_err(fail)?;
            if term.patterns.is_empty()
                && !matches!(
                    term.method,
                    crate::model::sample::MatchMethod::Bool
                        | crate::model::sample::MatchMethod::Found
                )
            {
                ctx.warn(
                    Some(&ln.loc),
                    format!("acl '{name}' has no pattern and will never match"),
                );
            }
            match px.acls.iter_mut().find(|a| a.name == name) {
                Some(a) if !a.predefined => a.terms.push(term),
                Some(_) => {
                    return Err(ln.err(
                        kw,
                        format!("'{name}' is a predefined ACL"),
                        "choose another name",
                    ))
                }
                None => px.acls.push(Acl {
                    name: name.to_string(),
                    terms: vec![term],
                    location: ln.loc.clone(),
                    predefined: false,
                }),
            }
        }
        "use_backend" => {
            let Some(target) = ln.w.get(1) else {
                return Err(usage_err(
                    ln,
                    kw,
                    "use_backend <backend> [if|unless <condition>]",
                ));
            };
            let backend = if target.contains('%') {
                BackendRef::Dynamic(parse_format(target).map_err(fail)?)
            } else {
                BackendRef::Name(target.clone())
            };
            let cond = match ln.w.get(2) {
                None => None,
                Some(_) => Some(parse_condition(&ln.w[2..], &mut px.acls, &ln.loc).map_err(fail)?),
            };
            px.use_backends.push(UseBackend {
                backend,
                cond,
                location: ln.loc.clone(),
            });
        }
        "default_backend" => {
            if ln.w.len() != 2 {
                return Err(usage_err(ln, kw, "default_backend <backend>"));
            }
            px.default_backend = Some((ln.w[1].clone(), ln.loc.clone()));
        }
        "http-request" | "http-response" => {
            let dir = if kw == "http-request" {
                Dir::Request
            } else {
                Dir::Response
            };
            let rule = parse_http_rule(
                ln.w,
                dir,
                RuleCtx {
                    acls: &mut px.acls,
                    http_errors: &ctx.http_error_names,
                    bufsize: ctx.global.tune.bufsize,
                },
                &ln.loc,
            )
            .map_err(|f| {
                let k = format!("{kw} {}", ln.arg(1).split('(').next().unwrap_or(""));
                ln.fail(k.trim_end(), f)
            })?;
            if dir == Dir::Request {
                px.http_request.push(rule);
            } else {
                px.http_response.push(rule);
            }
        }
        "redirect" => {
            let (r, used) = parse_redirect(&ln.w[1..]).map_err(fail)?;
            let rest = &ln.w[1 + used..];
            let cond = if rest.is_empty() {
                None
            } else {
                Some(parse_condition(rest, &mut px.acls, &ln.loc).map_err(fail)?)
            };
            px.redirects.push(HttpRule {
                action: HttpAction::Redirect(r),
                cond,
                location: ln.loc.clone(),
            });
        }
        "errorfile" => {
            let p = errorfile_line(ctx, ln)?;
            px.errorfiles.push(ErrDirective::Page(p));
        }
        "errorfiles" => {
            let Some(name) = ln.w.get(1) else {
                return Err(usage_err(ln, kw, "errorfiles <http-errors name> [<code>…]"));
            };
            let codes = if ln.w.len() > 2 {
                let mut v = vec![];
                for c in &ln.w[2..] {
                    v.push(
                        c.parse::<u16>()
                            .ok()
                            .filter(|c| super::errorfile::ERRORFILE_CODES.contains(c))
                            .ok_or_else(|| {
                                ln.err(
                                    kw,
                                    format!("invalid status code '{c}'"),
                                    "write status codes that have error pages, e.g. 503",
                                )
                            })?,
                    );
                }
                Some(v)
            } else {
                None
            };
            px.errorfiles.push(ErrDirective::Section {
                name: name.clone(),
                codes,
                loc: ln.loc.clone(),
            });
        }
        "http-reuse" => {
            px.http_reuse = match (ln.arg(1), ln.w.len()) {
                ("never", 2) => HttpReuse::Never,
                ("safe", 2) => HttpReuse::Safe,
                ("aggressive", 2) => HttpReuse::Aggressive,
                ("always", 2) => HttpReuse::Always,
                (m, _) => {
                    return Err(ln.err(
                        kw,
                        format!("unknown http-reuse mode '{m}'"),
                        did_you_mean(
                            m,
                            ["never", "safe", "aggressive", "always"],
                            "modes: never, safe, aggressive, always",
                        ),
                    ))
                }
            };
        }
        "description" => {
            if ln.w.len() < 2 {
                return Err(usage_err(ln, kw, "description <text>"));
            }
            px.description = Some(ln.w[1..].join(" "));
        }
        "id" => {
            if ln.w.len() != 2 {
                return Err(usage_err(ln, kw, "id <number>"));
            }
            px.id = Some(parse_u32_in(&ln.w[1], "'id'", 1, i32::MAX as u32).map_err(fail)?);
        }
        "disabled" | "enabled" => {
            if ln.w.len() != 1 {
                return Err(usage_err(ln, kw, kw));
            }
            px.disabled = kw == "disabled";
        }
        "capture" => capture(px, ln)?,
        "monitor-uri" => {
            if ln.w.len() != 2 || !ln.w[1].starts_with('/') {
                return Err(usage_err(ln, kw, "monitor-uri </uri>"));
            }
            px.monitor_uri = Some(ln.w[1].clone());
        }
        "stats" => super::stats::stats_kw(px, ln)?,
        _ => unreachable!("keyword table and match out of sync: {kw}"),
    }
    Ok(())
}
