//! Turns the sections read by the loader into the validated [`Config`].
//!
//! Owns: [`finalize`]: proxy and server ids, `log global` expansion, error-page
//! resolution, listen splitting, and the cross-checks (duplicate names, backends
//! that exist and have a compatible mode, `bind` present, timeouts warnings,
//! `zero-warning`). Invariant: if it returns `Ok`, every invariant documented on
//! [`crate::model`] holds.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{did_you_mean, ConfigError, ConfigErrors, Diagnostic, Location, Severity};
use crate::model::rules::BackendRef;
use crate::model::Address;
use crate::model::{Backend, Config, ErrorPage, Frontend, Logger, Mode, StatsPage};
use crate::parse::format::parse_format;
use crate::parse::global::check_cpu_maps;
use crate::parse::proxy::{ErrDirective, Kind, LogFmtKind, LogSpec, ProxyConf};
use crate::parse::{Ctx, Loader};
use crate::Loaded;

fn has_fe(k: Kind) -> bool {
    matches!(k, Kind::Frontend | Kind::Listen)
}
fn has_be(k: Kind) -> bool {
    matches!(k, Kind::Backend | Kind::Listen)
}

/// Assigns ids: explicit ones first (unique), then the free numbers from 1 in order.
fn assign_ids<T>(
    items: &[T],
    explicit: impl Fn(&T) -> Option<u32>,
    mut dup: impl FnMut(&T, u32),
) -> Vec<u32> {
    let mut used = BTreeSet::new();
    for it in items {
        if let Some(id) = explicit(it) {
            if !used.insert(id) {
                dup(it, id);
            }
        }
    }
    let mut next = 1;
    items
        .iter()
        .map(|it| match explicit(it) {
            Some(id) => id,
            None => {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            }
        })
        .collect()
}

fn loggers(specs: &[LogSpec], global: &[Logger], warn: &mut Vec<Location>) -> Vec<Logger> {
    let mut out = vec![];
    for s in specs {
        match s {
            LogSpec::Global(loc) => {
                if global.is_empty() {
                    warn.push(loc.clone());
                }
                out.extend(global.iter().cloned())
            }
            LogSpec::Target(l) => out.push(l.clone()),
        }
    }
    out
}

/// Builds the configuration, or every error found.
pub(crate) fn finalize(mut ld: Loader<'_>) -> Result<Loaded, ConfigErrors> {
    ld.close_section();
    check_cpu_maps(&mut ld.ctx);
    let proxies = std::mem::take(&mut ld.proxies);
    let ctx = &mut ld.ctx;

    // Duplicate names: two frontends, two backends, or a listen and anything.
    for (i, p) in proxies.iter().enumerate() {
        if let Some(q) = proxies[..i].iter().find(|q| {
            q.name == p.name
                && (q.kind == p.kind || q.kind == Kind::Listen || p.kind == Kind::Listen)
        }) {
            ctx.error(ConfigError::new(
                Some(p.location.clone()),
                p.kind.name(),
                format!(
                    "{} '{}' has the same name as {} '{}' declared at {}",
                    p.kind.name(),
                    p.name,
                    q.kind.name(),
                    q.name,
                    q.location
                ),
                "give every frontend, backend and listen a unique name",
            ));
        }
    }

    let mut dup_errs = vec![];
    let ids = assign_ids(
        &proxies,
        |p| p.id,
        |p, id| dup_errs.push((p.location.clone(), p.name.clone(), id)),
    );
    for (loc, name, id) in dup_errs {
        ctx.error(ConfigError::new(
            Some(loc),
            "id",
            format!("proxy id {id} of '{name}' is already used"),
            "give each proxy a unique 'id' or remove it",
        ));
    }

    let backend_modes: BTreeMap<String, (Mode, Kind)> = proxies
        .iter()
        .filter(|p| has_be(p.kind))
        .map(|p| (p.name.clone(), (p.mode, p.kind)))
        .collect();
    let section_names: Vec<String> = ctx.http_errors.iter().map(|h| h.name.clone()).collect();

    let mut frontends = vec![];
    let mut backends = vec![];
    for (p, id) in proxies.into_iter().zip(ids) {
        let desc = format!("{} '{}'", p.kind.name(), p.name);
        // Error pages, in declaration order.
        let mut pages: BTreeMap<u16, ErrorPage> = BTreeMap::new();
        for d in &p.errorfiles {
            match d {
                ErrDirective::Page(pg) => {
                    pages.insert(pg.status, pg.clone());
                }
                ErrDirective::Section { name, codes, loc } => {
                    match ctx.http_errors.iter().find(|h| &h.name == name) {
                        Some(h) => {
                            for (st, pg) in &h.pages {
                                if codes.as_ref().is_none_or_contains(st) {
                                    pages.insert(*st, pg.clone());
                                }
                            }
                        }
                        None => ctx.error(ConfigError::new(
                            Some(loc.clone()),
                            "errorfiles",
                            format!("unknown http-errors section '{name}'"),
                            did_you_mean(
                                name,
                                section_names.iter().map(String::as_str),
                                "declare it with 'http-errors <name>'",
                            ),
                        )),
                    }
                }
            }
        }
        let mut lf = p.log_format.clone();
        if let Some((_, k, loc)) = &lf {
            if p.mode == Mode::Tcp
                && matches!(k, LogFmtKind::Http | LogFmtKind::HttpClf)
                && has_fe(p.kind)
            {
                ctx.warn(Some(loc), format!("'option httplog' not usable with {desc} (needs 'mode http'); falling back to 'option tcplog'"));
                let f = parse_format(crate::model::format::TCPLOG_FORMAT).unwrap_or_default();
                lf = Some((f, LogFmtKind::Tcp, loc.clone()));
            }
        }
        if p.mode == Mode::Tcp
            && (!p.http_request.is_empty()
                || !p.http_response.is_empty()
                || !p.redirects.is_empty())
        {
            ctx.warn(
                Some(&p.location),
                format!("HTTP rules of {desc} are ignored because they need 'mode http'"),
            );
        }
        let stats = stats_page(ctx, &p, &desc);
        let mut lw = vec![];
        let logs = loggers(&p.loggers, &ctx.global.loggers, &mut lw);
        for l in lw {
            ctx.warn(Some(&l), "'log global' used but the global section declares no log target: nothing will be logged");
        }

        if has_fe(p.kind) {
            if p.binds.is_empty() {
                ctx.error(ConfigError::new(
                    Some(p.location.clone()),
                    p.kind.name(),
                    format!("{desc} has no 'bind' directive"),
                    "add 'bind <address>:<port>', or declare it as a backend if that was intended",
                ));
            }
            let mut seen_lines: Vec<&Location> = vec![];
            for b in &p.binds {
                if let (Some(proto), Mode::Tcp) = (&b.proto, p.mode) {
                    if !seen_lines.contains(&&b.location) {
                        seen_lines.push(&b.location);
                        ctx.error(ConfigError::new(
                            Some(b.location.clone()),
                            "bind",
                            format!("'proto {proto}' on bind '{}' needs 'mode http' ({desc} is in 'mode tcp')", b.spec),
                            "set 'mode http' on the frontend, or remove 'proto'",
                        ));
                    }
                }
            }
            if p.timeouts.client.is_none() {
                ctx.warn(Some(&p.location), format!("missing timeouts for {desc}: without 'timeout client' idle clients are kept forever; set 'timeout client' (and 'connect', 'server' on backends)"));
            }
            let default_backend = match &p.default_backend {
                Some((n, _)) => Some(n.clone()),
                None if p.kind == Kind::Listen => Some(p.name.clone()),
                None => None,
            };
            if p.mode == Mode::Http
                && default_backend.is_none()
                && p.use_backends.is_empty()
                && stats.is_none()
            {
                ctx.warn(Some(&p.location), format!("{desc} has no 'default_backend' and no 'use_backend' rule; its requests will get 503"));
            }
            // Backend references.
            let mut refs: Vec<(String, Location, &str)> = p
                .use_backends
                .iter()
                .filter_map(|u| match &u.backend {
                    BackendRef::Name(n) => Some((n.clone(), u.location.clone(), "use_backend")),
                    BackendRef::Dynamic(_) => None,
                })
                .collect();
            if let Some((n, l)) = &p.default_backend {
                refs.push((n.clone(), l.clone(), "default_backend"));
            }
            for (n, loc, kw) in refs {
                match backend_modes.get(n.as_str()) {
                    None => ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        format!("unable to find required {kw}: '{n}'"),
                        did_you_mean(&n, backend_modes.keys().map(String::as_str), "declare a backend (or listen) with that name"),
                    )),
                    Some((m, _)) if p.mode == Mode::Http && *m == Mode::Tcp => ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        format!("{desc} (mode http) cannot use backend '{n}' (mode tcp)"),
                        "set 'mode http' on the backend, or 'mode tcp' on the frontend (a tcp frontend may use an http backend, not the reverse)",
                    )),
                    _ => {}
                }
            }
            frontends.push(Frontend {
                name: p.name.clone(),
                id,
                listen: p.kind == Kind::Listen,
                disabled: p.disabled,
                description: p.description.clone(),
                mode: p.mode,
                binds: p.binds.clone(),
                maxconn: p.maxconn,
                timeouts: p.timeouts,
                http_conn_mode: p.http_conn_mode,
                forwardfor: p.forwardfor.clone(),
                loggers: logs.clone(),
                log_format: lf.map(|(f, _, _)| f),
                dontlognull: p.dontlognull,
                acls: p.acls.clone(),
                http_request: p.http_request.clone(),
                redirects: p.redirects.clone(),
                http_response: p.http_response.clone(),
                use_backends: p.use_backends.clone(),
                default_backend,
                errorfiles: pages.clone(),
                monitor_uri: p.monitor_uri.clone(),
                capture_request: p.capture_request.clone(),
                capture_response: p.capture_response.clone(),
                stats: stats.clone(),
                location: p.location.clone(),
            });
        }
        if has_be(p.kind) {
            if p.kind == Kind::Backend
                && (p.timeouts.connect.is_none() || p.timeouts.server.is_none())
            {
                ctx.warn(Some(&p.location), format!("missing timeouts for {desc}: set 'timeout connect' and 'timeout server', or connections may hang forever"));
            }
            // Servers: unique names and ids.
            let mut seen: BTreeMap<&str, &Location> = BTreeMap::new();
            let mut errs = vec![];
            for (s, _) in &p.servers {
                if let Some(first) = seen.insert(&s.name, &s.location) {
                    errs.push(ConfigError::new(
                        Some(s.location.clone()),
                        "server",
                        format!(
                            "{desc} has two servers named '{}' (first at {first})",
                            s.name
                        ),
                        "give every server of a backend a unique name",
                    ));
                }
            }
            let sids = assign_ids(
                &p.servers,
                |(_, id)| *id,
                |(s, _), id| {
                    errs.push(ConfigError::new(
                        Some(s.location.clone()),
                        "server",
                        format!("server id {id} is already used in {desc}"),
                        "give each server a unique 'id' or remove it",
                    ));
                },
            );
            if p.mode == Mode::Tcp {
                for (s, _) in &p.servers {
                    if let Some(proto) = &s.proto {
                        errs.push(ConfigError::new(
                            Some(s.location.clone()),
                            "server",
                            format!("'proto {proto}' on server '{}' needs 'mode http' ({desc} is in 'mode tcp')", s.name),
                            "set 'mode http' on the backend, or remove 'proto'",
                        ));
                    }
                }
            }
            if p.httpchk {
                for (s, _) in &p.servers {
                    if s.check && s.proto.as_deref() == Some("h2") && s.check_port.is_none() {
                        errs.push(ConfigError::new(
                            Some(s.location.clone()),
                            "server",
                            format!("HTTP health checks over HTTP/2 are not supported yet (server '{}' has 'proto h2' and {desc} has 'option httpchk')", s.name),
                            "check it with a TCP check (remove 'option httpchk'), or check another port that speaks HTTP/1.1 with 'port <n>'",
                        ));
                    }
                }
            }
            for e in errs {
                ctx.error(e);
            }
            let servers = p
                .servers
                .iter()
                .zip(sids)
                .map(|((s, _), id)| {
                    let mut s = s.clone();
                    s.id = id;
                    s
                })
                .collect();
            let http_check = if p.httpchk {
                Some(p.http_check.clone())
            } else {
                if let Some(l) = &p.http_check_loc {
                    if p.kind != Kind::Defaults {
                        ctx.warn(Some(l), format!("'http-check' directives of {desc} are ignored without 'option httpchk'"));
                    }
                }
                None
            };
            let listen = p.kind == Kind::Listen;
            backends.push(Backend {
                name: p.name.clone(),
                id,
                listen,
                disabled: p.disabled,
                description: p.description.clone(),
                mode: p.mode,
                servers,
                balance: p.balance.clone(),
                hash_type: p.hash_type,
                timeouts: p.timeouts,
                retries: p.retries,
                redispatch: p.redispatch,
                http_conn_mode: p.http_conn_mode,
                forwardfor: p.forwardfor.clone(),
                http_reuse: p.http_reuse,
                http_check,
                log_health_checks: p.log_health_checks,
                abortonclose: p.abortonclose,
                loggers: logs,
                acls: p.acls.clone(),
                http_request: if listen {
                    vec![]
                } else {
                    p.http_request.clone()
                },
                http_response: if listen {
                    vec![]
                } else {
                    p.http_response.clone()
                },
                errorfiles: pages,
                stats,
                location: p.location.clone(),
            });
        }
    }

    check_poll_mode(ctx, &frontends, &backends);

    if ctx.global.zero_warning {
        let warns: Vec<Diagnostic> = ctx
            .diags
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .cloned()
            .collect();
        for w in warns {
            ctx.error(ConfigError::new(w.location.clone(), "zero-warning", w.message.clone(), "'zero-warning' is set in the global section: fix the warning or remove 'zero-warning'"));
        }
    }

    let ld_ctx = std::mem::take(&mut ld.ctx.errors);
    if !ld_ctx.is_empty() {
        return Err(ConfigErrors::from_parts(
            ld_ctx,
            std::mem::take(&mut ld.ctx.diags),
            ld.ctx.truncated,
        ));
    }
    Ok(Loaded {
        config: Config {
            global: std::mem::take(&mut ld.ctx.global),
            frontends,
            backends,
            http_errors: std::mem::take(&mut ld.ctx.http_errors),
            pattern_files: crate::parse::pattern::take(),
        },
        diagnostics: std::mem::take(&mut ld.ctx.diags),
    })
}

trait OptContains {
    fn is_none_or_contains(&self, v: &u16) -> bool;
}

impl OptContains for Option<&Vec<u16>> {
    fn is_none_or_contains(&self, v: &u16) -> bool {
        match self {
            None => true,
            Some(c) => c.contains(v),
        }
    }
}

/// `io-mode poll`: the netstack section must give every bind an address and every
/// server a way out; in epoll mode a netstack section is only a warning.
fn check_poll_mode(ctx: &mut Ctx<'_>, frontends: &[Frontend], backends: &[Backend]) {
    use crate::model::netstack::IoMode;
    let ns = ctx.global.netstack.clone();
    if ctx.global.io_mode == IoMode::Epoll {
        if let Some(ns) = ns {
            ctx.warn(
                Some(&ns.location),
                "the 'netstack' section is not used in 'io-mode epoll' (set 'io-mode poll' in the global section to use it)",
            );
        }
        return;
    }
    let mode_loc = ctx.global.io_mode_location.clone();
    let Some(ns) = ns.filter(|n| !n.addresses.is_empty()) else {
        ctx.error(ConfigError::new(
            mode_loc,
            "io-mode",
            "'io-mode poll' needs a 'netstack' section with at least one port and one address",
            "add 'netstack' with 'port <name> af-packet|tap <interface>' and 'address <name> <ip>/<prefix>'",
        ));
        return;
    };
    let local = |ns: &crate::model::netstack::Netstack| {
        ns.addresses
            .iter()
            .map(|a| format!("{}/{}", a.ip, a.prefix))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for fe in frontends {
        for b in &fe.binds {
            let why = match &b.addr {
                Address::Tcp(std::net::SocketAddr::V4(a)) if ns.is_local(*a.ip()) => continue,
                Address::Tcp(std::net::SocketAddr::V4(a)) => format!(
                    "{} is not an address of the netstack section (declared: {})",
                    a.ip(),
                    local(&ns)
                ),
                Address::Tcp(std::net::SocketAddr::V6(_)) => {
                    "IPv6 is not available in io-mode poll yet".to_string()
                }
                _ => "UNIX sockets and inherited descriptors are kernel sockets, not available in io-mode poll".to_string(),
            };
            ctx.error(ConfigError::new(
                Some(b.location.clone()),
                "bind",
                format!(
                    "frontend '{}': cannot listen on '{}' in io-mode poll: {why}",
                    fe.name, b.spec
                ),
                "bind to an 'address' of the netstack section or to '0.0.0.0:<port>'",
            ));
        }
    }
    for be in backends {
        for s in &be.servers {
            let why = match &s.addr {
                Address::Tcp(std::net::SocketAddr::V4(a)) => {
                    if ns.port_for(*a.ip()).is_some() && !a.ip().is_loopback() {
                        continue;
                    }
                    format!(
                        "{} is in no subnet of the netstack section (declared: {}) and no 'route' reaches it",
                        a.ip(),
                        local(&ns)
                    )
                }
                Address::Tcp(std::net::SocketAddr::V6(_)) => {
                    "IPv6 is not available in io-mode poll yet".to_string()
                }
                _ => "UNIX sockets are kernel sockets, not available in io-mode poll".to_string(),
            };
            ctx.error(ConfigError::new(
                Some(s.location.clone()),
                "server",
                format!(
                    "backend '{}': server '{}' at '{}' is unreachable in io-mode poll: {why}",
                    be.name, s.name, s.addr_spec
                ),
                "add an 'address' in the server's subnet or a 'route' (e.g. 'route default via <gateway> dev <port>')",
            ));
        }
    }
}

/// The stats page of a section: needs `mode http` (an error when the section asked
/// for it, silently not inherited by a `mode tcp` section); the admin condition gets
/// the ACL list it indexes into.
fn stats_page(ctx: &mut Ctx<'_>, p: &ProxyConf, desc: &str) -> Option<StatsPage> {
    let mut page = p.stats.clone()?;
    if p.kind == Kind::Defaults {
        return None;
    }
    if p.mode == Mode::Tcp {
        if !p.stats_inherited {
            ctx.error(ConfigError::new(
                Some(page.location.clone()),
                "stats",
                format!("the stats page of {desc} needs 'mode http'"),
                "set 'mode http' in this section, or move the 'stats' lines to an HTTP frontend or listen",
            ));
        }
        return None;
    }
    if page.admin.is_some() && p.stats_admin_own_acls {
        page.admin_acls = p.acls.clone();
    }
    Some(page)
}
