//! `show sess [<id>|all]`, `shutdown session <id>` and `shutdown sessions server
//! <be>/<srv>`: the live client sessions of every worker, in HAProxy's formats.
//!
//! Owns: the formatting of [`SessRow`]s and the two shutdown commands. Invariants:
//! rows are gathered through the mailbox ([`Message::Sessions`]) with the CLI's
//! bounded wait — traffic never stops; a shutdown only marks sessions on the worker
//! that owns them, which closes them itself (see `proxy::sessions`). A session is
//! one client connection (an HTTP/2 connection is one session, not one per stream).
//! Fields sluice does not track (HAProxy's stream and channel flags, analysers,
//! buffers, per-fd timers) are left out rather than made up.

use std::fmt::Write as _;

use super::Cli;
use crate::proxy::sessions::SessRow;
use crate::proxy::Message;

/// Every worker's sessions, sorted by id.
fn gather(cli: &Cli) -> Vec<SessRow> {
    let mut rows: Vec<SessRow> = cli
        .ask_all(|tx| {
            Message::Sessions(Box::new(move |id, s| {
                let _ = tx.send(s.rows(id));
            }))
        })
        .into_iter()
        .flatten()
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

fn proto(r: &SessRow) -> &'static str {
    match r.src {
        Some(a) if a.is_ipv6() => "tcpv6",
        Some(_) => "tcpv4",
        None => "?",
    }
}

fn addr(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "?".into(), |a| a.to_string())
}

/// HAProxy's age: `3s`, `2m5s`, `1h2m`, `2d3h`.
fn human(us: u64) -> String {
    let s = us / 1_000_000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

fn names(cli: &Cli, r: &SessRow) -> (String, String, String) {
    let cfg = &cli.shared.config;
    let fe = cfg
        .frontends
        .get(r.fe)
        .map_or("?".into(), |f| f.name.clone());
    let be =
        r.be.and_then(|b| cfg.backends.get(b))
            .map_or("<NONE>".into(), |b| b.name.clone());
    let srv = match (r.be, r.srv) {
        (Some(b), Some(s)) => super::commands::server_name(cli, b, s),
        _ => "<none>".into(),
    };
    (fe, be, srv)
}

/// One `show sess` line.
fn short_line(cli: &Cli, r: &SessRow) -> String {
    let (fe, be, srv) = names(cli, r);
    format!(
        "0x{:x}: proto={} src={} fe={fe} be={be} srv={srv} ts=00 age={} calls={} \
         cpu=0 lat=0 tid={}\n",
        r.id,
        proto(r),
        addr(r.src),
        human(r.age_us),
        r.calls,
        r.worker + 1,
    )
}

/// One session in detail (`show sess <id>`, `show sess all`).
fn long_entry(cli: &Cli, r: &SessRow, out: &mut String) {
    let cfg = &cli.shared.config;
    let (fe, be, srv) = names(cli, r);
    let date = super::errors::date(r.accept_wall_us);
    let _ = writeln!(
        out,
        "0x{:x}: [{date}] id={} proto={} source={}",
        r.id,
        r.id,
        proto(r),
        addr(r.src)
    );
    if let Some(f) = cfg.frontends.get(r.fe) {
        let (lname, laddr) = f.binds.get(r.bind).map_or(("?", String::from("?")), |b| {
            (b.name.as_deref().unwrap_or("?"), b.addr.to_string())
        });
        let _ = writeln!(
            out,
            "  frontend={fe} (id={} mode={}), listener={lname} (id={}) addr={laddr}",
            f.id,
            mode(f.mode),
            r.bind + 1,
        );
    }
    match r.be.and_then(|b| cfg.backends.get(b).map(|c| (b, c))) {
        Some((bi, b)) => {
            let _ = writeln!(out, "  backend={be} (id={} mode={})", b.id, mode(b.mode));
            match r.srv.and_then(|s| cfg.backends[bi].servers.get(s)) {
                Some(s) => {
                    let _ = writeln!(out, "  server={srv} (id={}) addr={}", s.id, s.addr);
                }
                None => out.push_str("  server=<NONE>\n"),
            }
        }
        None => out.push_str("  backend=<NONE>\n  server=<NONE>\n"),
    }
    let _ = writeln!(
        out,
        "  task (calls={} tid={} age={})",
        r.calls,
        r.worker + 1,
        human(r.age_us)
    );
}

fn mode(m: appliance_config::Mode) -> &'static str {
    match m {
        appliance_config::Mode::Http => "http",
        appliance_config::Mode::Tcp => "tcp",
    }
}

/// Parse a session id as HAProxy's `strtoul(.., 0)` does (`0x` hex, else decimal).
fn parse_id(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `show sess [<id>|all]`.
pub(crate) fn show_sess(cli: &Cli, arg: Option<&str>) -> String {
    let rows = gather(cli);
    let mut out = String::new();
    match arg {
        None => {
            for r in &rows {
                out.push_str(&short_line(cli, r));
            }
        }
        Some("all") => {
            for r in &rows {
                long_entry(cli, r, &mut out);
                out.push('\n');
            }
        }
        Some(id) => match parse_id(id).and_then(|id| rows.iter().find(|r| r.id == id)) {
            Some(r) => long_entry(cli, r, &mut out),
            None => out.push_str("Session not found.\n"),
        },
    }
    out
}

/// Mark the sessions `pick` selects on every worker; returns how many were.
fn kill(cli: &Cli, pick: impl Fn(&SessRow) -> bool + Clone + Send + 'static) -> usize {
    cli.ask_all(move |tx| {
        let pick = pick.clone();
        Message::Sessions(Box::new(move |worker, s| {
            let n = s.kill(|i| {
                let (be, srv) = i.server();
                pick(&SessRow {
                    id: i.id,
                    worker,
                    fe: i.fe,
                    bind: i.bind,
                    src: i.src,
                    be,
                    srv,
                    age_us: 0,
                    accept_wall_us: i.accept_wall_us,
                    calls: 0,
                })
            });
            let _ = tx.send(n);
        }))
    })
    .into_iter()
    .sum()
}

/// `shutdown session <id>` (admin level checked by the caller).
pub(crate) fn shutdown_session(cli: &Cli, arg: Option<&str>) -> String {
    let Some(arg) = arg else {
        return "Session pointer expected (use 'show sess').\n".into();
    };
    let Some(id) = parse_id(arg).filter(|i| *i != 0) else {
        return "No such session (use 'show sess').\n".into();
    };
    if kill(cli, move |r| r.id == id) == 0 {
        return "No such session (use 'show sess').\n".into();
    }
    String::new()
}

/// `shutdown sessions server <be>/<srv>` (admin level checked by the caller): every
/// session attached to that server now.
pub(crate) fn shutdown_sessions_server(cli: &Cli, rest: &[&str]) -> String {
    match rest {
        ["server", target, ..] => match super::commands::find_server(cli, Some(target)) {
            Err(e) => e,
            Ok((b, s)) => {
                kill(cli, move |r| r.be == Some(b) && r.srv == Some(s));
                String::new()
            }
        },
        ["server"] => "Require 'backend/server'.\n".into(),
        _ => "'shutdown sessions' only supports 'server'.\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_ids() {
        assert_eq!(human(3_000_000), "3s");
        assert_eq!(human(125_000_000), "2m5s");
        assert_eq!(human(3_720_000_000), "1h2m");
        assert_eq!(human(97_200_000_000), "1d3h");
        assert_eq!(parse_id("0x1f"), Some(31));
        assert_eq!(parse_id("31"), Some(31));
        assert_eq!(parse_id("zz"), None);
    }
}
