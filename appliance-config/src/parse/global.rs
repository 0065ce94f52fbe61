//! The `global` section and the `log` line (shared with proxies).
//!
//! Owns: [`global_kw`] and [`parse_logger`]. Invariant: `nbthread` is within
//! `1..=MAX_THREADS`; `cpu-map` numbers are checked against it at the end of the
//! load (it may be declared after).

use std::path::PathBuf;

use super::addr::parse_log_target;
use super::units::{parse_num_set, parse_time, parse_u32, parse_u32_in};
use super::{Ctx, Ln, R};
use crate::error::did_you_mean;
use crate::model::{
    CliLevel, CpuMap, LogHeaderFormat, LogLevel, Logger, StatsSocket, LOG_FACILITIES, LOG_LEVELS,
};

/// The most threads sluice accepts (HAProxy's default build: 64 per group; sluice
/// has one group but no 64-thread mask limit).
pub const MAX_THREADS: u32 = 1024;

const GLOBAL_KEYWORDS: &[&str] = &[
    "daemon",
    "maxconn",
    "nbthread",
    "cpu-map",
    "log",
    "log-tag",
    "pidfile",
    "user",
    "group",
    "uid",
    "gid",
    "chroot",
    "hard-stop-after",
    "ulimit-n",
    "tune.bufsize",
    "tune.http.maxhdr",
    "tune.maxrewrite",
    "tune.idle-pool.shared",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.h2.max-frame-size",
    "tune.h2.fe.initial-window-size",
    "tune.h2.fe.max-concurrent-streams",
    "tune.h2.be.initial-window-size",
    "tune.h2.be.max-concurrent-streams",
    "description",
    "node",
    "zero-warning",
    "expose-experimental-directives",
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "crt-base",
    "ca-base",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-server-verify",
    "tune.ssl.default-dh-param",
    "ssl-dh-param-file",
    "stats",
];

fn level(s: &str) -> Option<LogLevel> {
    use LogLevel::*;
    Some(match s {
        "emerg" => Emerg,
        "alert" => Alert,
        "crit" => Crit,
        "err" => Err,
        "warning" => Warning,
        "notice" => Notice,
        "info" => Info,
        "debug" => Debug,
        _ => return None,
    })
}

/// Parses `log <target> [len <n>] [format <fmt>] <facility> [<level> [<minlevel>]]`
/// (`words[0]` is `log`; `log global` is handled by the caller).
pub(crate) fn parse_logger(ln: &Ln<'_>) -> R<Logger> {
    let w = ln.w;
    let usage = "log <target> [len <n>] [format <fmt>] <facility> [<level> [<minlevel>]]";
    if w.len() < 3 {
        return Err(ln.err(
            "log",
            "'log' expects a target and a facility",
            format!("expected syntax: {usage}"),
        ));
    }
    let dest = parse_log_target(&w[1]).map_err(|f| ln.fail("log", f))?;
    let mut i = 2;
    let mut format = LogHeaderFormat::default();
    let mut max_len = 1024usize;
    loop {
        match w.get(i).map(String::as_str) {
            Some("len") => {
                let n = parse_u32_in(ln.arg(i + 1), "'len'", 80, 65535)
                    .map_err(|f| ln.fail("log", f))?;
                max_len = n as usize;
                i += 2;
            }
            Some("format") => {
                let f = ln.arg(i + 1);
                format = match f {
                    "rfc3164" => LogHeaderFormat::Rfc3164,
                    "rfc5424" => LogHeaderFormat::Rfc5424,
                    "local" => LogHeaderFormat::Local,
                    "short" => LogHeaderFormat::Short,
                    "raw" => LogHeaderFormat::Raw,
                    "iso" => LogHeaderFormat::Iso,
                    "timed" => LogHeaderFormat::Timed,
                    "priority" => LogHeaderFormat::Priority,
                    _ => {
                        return Err(ln.err(
                            "log",
                            format!("unknown log format '{f}'"),
                            did_you_mean(
                                f,
                                [
                                    "rfc3164", "rfc5424", "local", "short", "raw", "iso", "timed",
                                    "priority",
                                ],
                                "formats: rfc3164 rfc5424 local short raw iso timed priority",
                            ),
                        ))
                    }
                };
                i += 2;
            }
            Some("sample") => {
                return Err(ln.err(
                    "log",
                    "log sampling is not supported yet",
                    "remove 'sample …'",
                ));
            }
            Some("profile") => {
                return Err(ln.err(
                    "log",
                    "log profiles are not supported yet",
                    "remove 'profile …'",
                ));
            }
            _ => break,
        }
    }
    let fac = ln.arg(i);
    let Some(facility) = LOG_FACILITIES.iter().position(|f| *f == fac) else {
        return Err(ln.err(
            "log",
            if fac.is_empty() {
                "missing log facility".to_string()
            } else {
                format!("unknown log facility '{fac}'")
            },
            did_you_mean(
                fac,
                LOG_FACILITIES.iter().copied(),
                "facilities: kern user mail daemon auth syslog … local0 to local7",
            ),
        ));
    };
    i += 1;
    let mut lvl = LogLevel::Debug;
    let mut min = LogLevel::Emerg;
    if let Some(l) = w.get(i) {
        lvl = level(l).ok_or_else(|| {
            ln.err(
                "log",
                format!("unknown log level '{l}'"),
                did_you_mean(
                    l,
                    LOG_LEVELS.iter().copied(),
                    "levels: emerg alert crit err warning notice info debug",
                ),
            )
        })?;
        i += 1;
    }
    if let Some(l) = w.get(i) {
        min = level(l).ok_or_else(|| {
            ln.err(
                "log",
                format!("unknown minimum log level '{l}'"),
                did_you_mean(
                    l,
                    LOG_LEVELS.iter().copied(),
                    "levels: emerg alert crit err warning notice info debug",
                ),
            )
        })?;
        i += 1;
    }
    if let Some(x) = w.get(i) {
        return Err(ln.err(
            "log",
            format!("unexpected '{x}' at the end of the line"),
            format!("expected syntax: {usage}"),
        ));
    }
    Ok(Logger {
        dest,
        format,
        max_len,
        facility: facility as u8,
        level: lvl,
        min_level: min,
        location: ln.loc.clone(),
    })
}

fn one_arg<'a>(ln: &'a Ln<'_>, kw: &str, what: &str) -> R<&'a str> {
    if ln.w.len() != 2 {
        return Err(ln.err(
            kw,
            format!("'{kw}' expects {what}"),
            format!("write '{kw} <{what}>'"),
        ));
    }
    Ok(&ln.w[1])
}

fn no_arg(ln: &Ln<'_>, kw: &str) -> R {
    if ln.w.len() > 1 {
        return Err(ln.err(
            kw,
            format!("'{kw}' takes no argument"),
            format!("write '{kw}' alone"),
        ));
    }
    Ok(())
}

/// Parses `cpu-map [auto:]<group>[/<threads>] <cpus>…`.
fn cpu_map(ln: &Ln<'_>) -> R<CpuMap> {
    let usage = "cpu-map [auto:]<group>[/<threads>] <cpu-set>…";
    if ln.w.len() < 3 {
        return Err(ln.err(
            "cpu-map",
            "'cpu-map' expects a thread set and a CPU set",
            format!("expected syntax: {usage}"),
        ));
    }
    let mut spec = ln.w[1].as_str();
    let auto = match spec.strip_prefix("auto:") {
        Some(r) => {
            spec = r;
            true
        }
        None => false,
    };
    let (g, t) = match spec.split_once('/') {
        Some((g, t)) => (g, Some(t)),
        None => (spec, None),
    };
    let groups = parse_num_set(g, 1, "thread group").map_err(|f| ln.fail("cpu-map", f))?;
    if groups.iter().any(|g| *g != 1) {
        return Err(ln.err(
            "cpu-map",
            format!("thread group '{g}' does not exist"),
            "sluice runs a single thread group: write '1/<threads>' or 'all'",
        ));
    }
    let threads = match t {
        None | Some("all") => None,
        Some("odd") | Some("even") => {
            return Err(ln.err(
                "cpu-map",
                "'odd' and 'even' thread sets are not supported yet",
                "write explicit thread numbers or ranges, e.g. '1/1-4'",
            ));
        }
        Some(t) => {
            Some(parse_num_set(t, MAX_THREADS, "thread").map_err(|f| ln.fail("cpu-map", f))?)
        }
    };
    if threads.as_ref().is_some_and(|t| t.contains(&0)) {
        return Err(ln.err("cpu-map", "thread numbers start at 1", "write e.g. '1/1-4'"));
    }
    let mut cpus = vec![];
    for c in &ln.w[2..] {
        cpus.extend(parse_num_set(c, 4096, "CPU").map_err(|f| ln.fail("cpu-map", f))?);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if auto && threads.is_none() {
        return Err(ln.err(
            "cpu-map",
            "'auto:' needs an explicit thread range",
            "write e.g. 'cpu-map auto:1/1-4 0-3'",
        ));
    }
    if auto {
        let n = threads.as_ref().map(Vec::len);
        if let Some(n) = n {
            if n != cpus.len() {
                return Err(ln.err(
                    "cpu-map",
                    format!("'auto:' maps {n} threads to {} CPUs", cpus.len()),
                    "with 'auto:', give as many CPUs as threads",
                ));
            }
        }
    }
    Ok(CpuMap {
        auto,
        groups,
        threads,
        cpus,
        location: ln.loc.clone(),
    })
}

/// Parses `stats socket <addr> [mode <octal>] [level user|operator|admin]
/// [expose-fd listeners]` and `stats timeout <time>` (`stats` itself is `w[0]`).
fn stats_kw(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R {
    let usage = "stats socket <path|ip:port|fd@N> [mode <octal>] [level user|operator|admin] \
                 [expose-fd listeners], or stats timeout <time>";
    match ln.arg(1) {
        "timeout" => {
            if ln.w.len() != 3 {
                return Err(ln.err(
                    "stats timeout",
                    "'stats timeout' expects a time",
                    "write e.g. 'stats timeout 30s'",
                ));
            }
            let t = parse_time(&ln.w[2]).map_err(|f| ln.fail("stats timeout", f))?;
            if t.is_zero() {
                return Err(ln.err(
                    "stats timeout",
                    "'stats timeout' must be greater than zero",
                    "write e.g. 'stats timeout 30s'",
                ));
            }
            ctx.global.stats_timeout = Some(t);
        }
        "socket" => {
            let kw = "stats socket";
            let spec = ln.arg(2);
            if spec.is_empty() {
                return Err(ln.err(
                    kw,
                    "'stats socket' expects an address",
                    format!("expected syntax: {usage}"),
                ));
            }
            // A bare path is a UNIX socket, as in HAProxy.
            let addrs = if spec.starts_with('/') || spec.starts_with('.') {
                Ok(vec![crate::model::Address::Unix(PathBuf::from(spec))])
            } else {
                super::addr::parse_bind(spec)
            }
            .map_err(|f| ln.fail(kw, f))?;
            let [addr] = <[_; 1]>::try_from(addrs).map_err(|_| {
                ln.err(
                    kw,
                    format!("'{spec}' names several addresses"),
                    "give 'stats socket' one address (repeat the line for more)",
                )
            })?;
            let mut sock = StatsSocket {
                addr,
                mode: None,
                level: CliLevel::Admin,
                expose_fd: false,
                location: ln.loc.clone(),
            };
            let mut i = 3;
            while i < ln.w.len() {
                let v = ln.arg(i + 1);
                match ln.w[i].as_str() {
                    "mode" => {
                        sock.mode = Some(u32::from_str_radix(v, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
                            ln.err(kw, format!("'mode' expects an octal file mode, not '{v}'"), "write e.g. 'mode 600'")
                        })?);
                    }
                    "level" => {
                        sock.level = match v {
                            "user" => CliLevel::User,
                            "operator" => CliLevel::Operator,
                            "admin" => CliLevel::Admin,
                            _ => {
                                return Err(ln.err(
                                    kw,
                                    format!("'level' only supports 'user', 'operator', and 'admin', not '{v}'"),
                                    "write e.g. 'level admin'",
                                ))
                            }
                        };
                    }
                    "expose-fd" => {
                        if v != "listeners" {
                            return Err(ln.err(
                                kw,
                                format!("'expose-fd' only supports 'listeners', not '{v}'"),
                                "write 'expose-fd listeners'",
                            ));
                        }
                        sock.expose_fd = true;
                    }
                    other => {
                        return Err(ln.err(
                            kw,
                            format!("'{other}' is not a supported 'stats socket' option"),
                            "sluice supports 'mode <octal>', 'level user|operator|admin' and 'expose-fd listeners'",
                        ))
                    }
                }
                i += 2;
            }
            ctx.global.stats_sockets.push(sock);
        }
        other => {
            return Err(ln.err(
                "stats",
                if other.is_empty() {
                    "'stats' expects 'socket' or 'timeout' in the global section".to_string()
                } else {
                    format!("'stats {other}' is not supported in the global section")
                },
                format!("expected syntax: {usage}"),
            ))
        }
    }
    Ok(())
}

/// Handles one line of the `global` section.
pub(crate) fn global_kw(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R {
    let kw = ln.w[0].as_str();
    let g = &mut ctx.global;
    let fail = |f| ln.fail(kw, f);
    match kw {
        "daemon" => {
            no_arg(ln, kw)?;
            g.daemon = true;
        }
        "zero-warning" => {
            no_arg(ln, kw)?;
            g.zero_warning = true;
        }
        "expose-experimental-directives" => {
            no_arg(ln, kw)?;
            g.experimental = true;
        }
        "maxconn" => {
            g.maxconn = Some(
                parse_u32_in(one_arg(ln, kw, "number")?, "'maxconn'", 1, u32::MAX).map_err(fail)?,
            )
        }
        "ulimit-n" => {
            g.ulimit_n = Some(
                parse_u32_in(one_arg(ln, kw, "number")?, "'ulimit-n'", 1, u32::MAX)
                    .map_err(fail)?,
            )
        }
        "io-mode" => return super::netstack::io_mode(ctx, ln),
        "nbthread" => {
            g.nbthread = Some(
                parse_u32_in(one_arg(ln, kw, "number")?, "'nbthread'", 1, MAX_THREADS)
                    .map_err(fail)?,
            )
        }
        "cpu-map" => {
            let m = cpu_map(ln)?;
            g.cpu_maps.push(m);
        }
        "log" => {
            if ln.arg(1) == "global" {
                return Err(ln.err(
                    kw,
                    "'log global' makes no sense in the global section",
                    "declare a log target, e.g. 'log stdout format raw local0'",
                ));
            }
            let l = parse_logger(ln)?;
            g.loggers.push(l);
        }
        "log-tag" => g.log_tag = Some(one_arg(ln, kw, "tag")?.to_string()),
        "pidfile" => g.pidfile = Some(PathBuf::from(one_arg(ln, kw, "file")?)),
        "chroot" => g.chroot = Some(PathBuf::from(one_arg(ln, kw, "directory")?)),
        "user" => g.user = Some(one_arg(ln, kw, "user name")?.to_string()),
        "group" => g.group = Some(one_arg(ln, kw, "group name")?.to_string()),
        "uid" => g.uid = Some(parse_u32(one_arg(ln, kw, "number")?, "'uid'").map_err(fail)?),
        "gid" => g.gid = Some(parse_u32(one_arg(ln, kw, "number")?, "'gid'").map_err(fail)?),
        "hard-stop-after" => {
            g.hard_stop_after = Some(parse_time(one_arg(ln, kw, "time")?).map_err(fail)?)
        }
        "tune.bufsize" => {
            g.tune.bufsize = parse_u32_in(one_arg(ln, kw, "size")?, "'tune.bufsize'", 1024, 1 << 30)
                .map_err(fail)? as usize
        }
        "tune.http.maxhdr" => {
            g.tune.http_maxhdr =
                parse_u32_in(one_arg(ln, kw, "number")?, "'tune.http.maxhdr'", 1, 32767)
                    .map_err(fail)? as usize
        }
        "tune.maxrewrite" => {
            g.tune.maxrewrite =
                parse_u32(one_arg(ln, kw, "size")?, "'tune.maxrewrite'").map_err(fail)? as usize
        }
        "tune.idle-pool.shared" => {
            use crate::model::IdlePoolShared as S;
            g.tune.idle_pool_shared = match one_arg(ln, kw, "off|on|full")? {
                "off" => S::Off,
                "on" => S::On,
                "full" => S::Full,
                other => {
                    return Err(ln.err(
                        kw,
                        format!(
                            "'tune.idle-pool.shared' expects 'off', 'on' or 'full', got '{other}'"
                        ),
                        "write 'tune.idle-pool.shared off|on|full'",
                    ))
                }
            };
        }
        k if k.starts_with("tune.h2.") && GLOBAL_KEYWORDS.contains(&k) => {
            let what = format!("'{k}'");
            let v = one_arg(ln, kw, "number")?;
            match k {
                "tune.h2.header-table-size" => {
                    g.tune.h2.header_table_size = parse_u32_in(v, &what, 0, 65535).map_err(fail)?
                }
                "tune.h2.max-frame-size" => {
                    g.tune.h2.max_frame_size =
                        parse_u32_in(v, &what, 16384, 16_777_215).map_err(fail)?
                }
                _ => {
                    let window = k.ends_with("initial-window-size");
                    let n = if window {
                        parse_u32_in(v, &what, 0, (1 << 31) - 1).map_err(fail)?
                    } else {
                        parse_u32_in(v, &what, 1, 1 << 20).map_err(fail)?
                    };
                    let key = usize::from(!window);
                    // The generic keyword sets both sides; a side's own keyword wins
                    // whatever the order.
                    let sides: Vec<usize> = if k.starts_with("tune.h2.fe.") {
                        ctx.h2_side_set[0][key] = true;
                        vec![0]
                    } else if k.starts_with("tune.h2.be.") {
                        ctx.h2_side_set[1][key] = true;
                        vec![1]
                    } else {
                        (0..2).filter(|&i| !ctx.h2_side_set[i][key]).collect()
                    };
                    let h2 = &mut ctx.global.tune.h2;
                    for i in sides {
                        let side = if i == 0 { &mut h2.fe } else { &mut h2.be };
                        if window {
                            side.initial_window_size = n;
                        } else {
                            side.max_concurrent_streams = n;
                        }
                    }
                }
            }
        }
        "description" => {
            if ln.w.len() < 2 {
                return Err(ln.err(
                    kw,
                    "'description' expects a text",
                    "write 'description <text>'",
                ));
            }
            g.description = Some(ln.w[1..].join(" "));
        }
        "node" => g.node = Some(one_arg(ln, kw, "name")?.to_string()),
        "stats" => return stats_kw(ctx, ln),
        "setenv" | "presetenv" => {
            if ln.w.len() != 3 {
                return Err(ln.err(
                    kw,
                    format!("'{kw}' expects a name and a value"),
                    format!("write '{kw} <name> <value>' (quote the value if it has blanks)"),
                ));
            }
            if kw == "setenv" || ctx.getenv(&ln.w[1]).is_none() {
                ctx.setenv(&ln.w[1], Some(ln.w[2].clone()));
            }
        }
        "unsetenv" => {
            if ln.w.len() < 2 {
                return Err(ln.err(
                    kw,
                    "'unsetenv' expects at least one name",
                    "write 'unsetenv <name>…'",
                ));
            }
            for n in &ln.w[1..] {
                ctx.setenv(n, None);
            }
        }
        "resetenv" => {
            return Err(ln.err(
                kw,
                "'resetenv' is not supported",
                "unset variables one by one with 'unsetenv'",
            ));
        }
        _ => {
            if let Some(r) = super::tls::global_tls_kw(ctx, ln) {
                return r;
            }
            if let Some(why) = super::refused::unsupported_global_kw(kw) {
                return Err(ln.err(kw, format!("'{kw}' is not supported by sluice"), why));
            }
            if kw.starts_with("tune.") {
                return Err(ln.err(
                    kw,
                    format!("unknown or unsupported tuning keyword '{kw}'"),
                    did_you_mean(
                        kw,
                        GLOBAL_KEYWORDS
                            .iter()
                            .copied()
                            .filter(|k| k.starts_with("tune.")),
                        "sluice supports tune.bufsize, tune.http.maxhdr, tune.maxrewrite, tune.idle-pool.shared and tune.h2.*",
                    ),
                ));
            }
            return Err(ln.err(
                kw,
                format!("unknown keyword '{kw}' in 'global' section"),
                did_you_mean(
                    kw,
                    GLOBAL_KEYWORDS.iter().copied(),
                    "see the list of global keywords in sluice's documentation",
                ),
            ));
        }
    }
    Ok(())
}

/// Checks `cpu-map` against `nbthread` once the whole configuration is read.
pub(crate) fn check_cpu_maps(ctx: &mut Ctx<'_>) {
    let Some(nb) = ctx.global.nbthread else {
        return;
    };
    let mut errs = vec![];
    for m in &ctx.global.cpu_maps {
        if let Some(t) = &m.threads {
            if let Some(bad) = t.iter().find(|t| **t > nb) {
                errs.push((m.location.clone(), *bad));
            }
        }
    }
    for (loc, bad) in errs {
        ctx.error(crate::error::ConfigError::new(
            Some(loc),
            "cpu-map",
            format!("thread {bad} does not exist (nbthread is {nb})"),
            "map threads from 1 to nbthread only",
        ));
    }
}
