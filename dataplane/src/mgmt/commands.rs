//! The CLI commands: parsing of the words of one command and its answer, in
//! HAProxy's wording (scripts match these strings).
//!
//! Owns: [`run`] and the help table. Invariant: a command that changes state checks
//! the connection's level first and changes nothing on a bad argument.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use appliance_config::CliLevel;

use super::stat::{Filter, Format};
use super::{
    errors, frontend, info, maxconn, pools, servers, sess, stat, After, Cli, WorkerSnapshot,
};
use crate::proxy::shared::ServerState;
use crate::proxy::stats::{servers_conn, ConnRow};

/// `(usage, description, level needed)`, in HAProxy's help order; `help`, `prompt` and
/// `quit` come last, as in HAProxy.
const HELP: &[(&str, &str, CliLevel)] = &[
    (
        "add acl <acl> <pattern>",
        "add an ACL entry (or a payload of entries with '<<')",
        CliLevel::Operator,
    ),
    (
        "add map <map> <key> <value>",
        "add a map entry (or a payload of 'key value' lines with '<<')",
        CliLevel::Operator,
    ),
    (
        "add server <bk>/<srv> <addr:port> [opts]",
        "create a new server (weight, maxconn, disabled)",
        CliLevel::Admin,
    ),
    (
        "clear acl <acl>",
        "clear the contents of this ACL",
        CliLevel::Operator,
    ),
    (
        "clear counters [all]",
        "clear max statistics counters (or all counters)",
        CliLevel::Operator,
    ),
    (
        "clear map <map>",
        "clear the contents of this map",
        CliLevel::Operator,
    ),
    (
        "debug counters",
        "dump the rare-event counters (stale epoll events, stale wakes)",
        CliLevel::User,
    ),
    (
        "del acl <acl> [<key>|#<ref>]",
        "delete ACL entries matching <key>",
        CliLevel::Operator,
    ),
    (
        "del map <map> [<key>|#<ref>]",
        "delete map entries matching <key>",
        CliLevel::Operator,
    ),
    (
        "del server <bk>/<srv>",
        "remove a server in maintenance with no connection",
        CliLevel::Admin,
    ),
    (
        "disable frontend <frontend>",
        "temporarily disable specific frontend",
        CliLevel::Admin,
    ),
    (
        "disable server (DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
        CliLevel::Admin,
    ),
    (
        "enable frontend <frontend>",
        "re-enable specific frontend",
        CliLevel::Admin,
    ),
    (
        "enable server  (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
        CliLevel::Admin,
    ),
    (
        "get acl <acl> <value>",
        "report the patterns matching a sample for an ACL",
        CliLevel::User,
    ),
    (
        "get map <map> <value>",
        "report the keys and values matching a sample for a map",
        CliLevel::User,
    ),
    (
        "get weight <bk>/<srv>",
        "report a server's current weight",
        CliLevel::User,
    ),
    (
        "operator",
        "lower the level of the current CLI session to operator",
        CliLevel::Operator,
    ),
    (
        "set map <map> [<key>|#<ref>] <value>",
        "modify a map entry",
        CliLevel::Operator,
    ),
    (
        "set maxconn frontend <frontend> <value>",
        "change a frontend's maxconn setting",
        CliLevel::Admin,
    ),
    (
        "set maxconn global <value>",
        "change the per-process maxconn setting",
        CliLevel::Admin,
    ),
    (
        "set maxconn server <bk>/<srv>",
        "change a server's maxconn setting",
        CliLevel::Admin,
    ),
    (
        "set server <bk>/<srv> [opts]",
        "change a server's state, weight, address or port",
        CliLevel::Admin,
    ),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
        CliLevel::Admin,
    ),
    (
        "show acl [<acl>]",
        "report available acls or dump an acl's contents",
        CliLevel::User,
    ),
    (
        "show activity",
        "show per-thread activity stats (for support/developers)",
        CliLevel::User,
    ),
    (
        "show backend",
        "list backends in the current running config",
        CliLevel::User,
    ),
    (
        "show cli level",
        "display the level of the current CLI session",
        CliLevel::User,
    ),
    (
        "show errors [<px>] [request|response]",
        "report last request and/or response errors for each proxy",
        CliLevel::Operator,
    ),
    (
        "show fd [num]",
        "dump the file descriptors the workers and the CLI own",
        CliLevel::Operator,
    ),
    (
        "show info [typed|json]",
        "report information about the running process",
        CliLevel::User,
    ),
    (
        "show map [<map>]",
        "report available maps or dump a map's contents",
        CliLevel::User,
    ),
    (
        "show pools",
        "report information about the memory pools usage",
        CliLevel::User,
    ),
    (
        "show sess [<id>|all]",
        "report the list of current sessions or dump this exact session",
        CliLevel::Operator,
    ),
    (
        "show servers conn [<backend>]",
        "dump server connections status (all or for a single backend)",
        CliLevel::User,
    ),
    (
        "show servers state [<backend>]",
        "dump volatile server information (all or for a single backend)",
        CliLevel::User,
    ),
    (
        "show stat [<px> <type> <sid>] [typed|json]",
        "report counters for each proxy and server",
        CliLevel::User,
    ),
    (
        "shutdown frontend <frontend>",
        "stop a specific frontend",
        CliLevel::Admin,
    ),
    (
        "shutdown session <id>",
        "kill a specific session",
        CliLevel::Admin,
    ),
    (
        "shutdown sessions server <bk>/<srv>",
        "kill sessions on a server",
        CliLevel::Admin,
    ),
    (
        "user",
        "lower the level of the current CLI session to user",
        CliLevel::User,
    ),
    (
        "help [<command>]",
        "list matching or all commands",
        CliLevel::User,
    ),
    (
        "prompt",
        "toggle interactive mode with prompt",
        CliLevel::User,
    ),
    ("quit", "disconnect", CliLevel::User),
];

fn help_line(out: &mut String, usage: &str, desc: &str) {
    let _ = writeln!(out, "  {usage:<40}: {desc}");
}

/// `help`: every command allowed at `level`.
fn help(level: CliLevel) -> String {
    let mut out = String::from("The following commands are valid at this level:\n");
    for (u, d, l) in HELP {
        if *l <= level {
            help_line(&mut out, u, d);
        }
    }
    out
}

/// HAProxy's answer to an unknown command: the commands sharing a word with it.
fn unknown(words: &[&str], level: CliLevel) -> String {
    let close: Vec<_> = HELP
        .iter()
        .filter(|(u, _, l)| {
            *l <= level
                && !matches!(*u, "help [<command>]" | "prompt" | "quit")
                && u.split_whitespace().any(|uw| words.contains(&uw))
        })
        .collect();
    if close.is_empty() {
        return format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            help(level).split_once('\n').map_or("", |(_, r)| r)
        );
    }
    let mut out =
        String::from("Unknown command, but maybe one of the following ones is a better match:\n");
    for (u, d, _) in close {
        help_line(&mut out, u, d);
    }
    for (u, d, _) in &HELP[HELP.len() - 3..] {
        help_line(&mut out, u, d);
    }
    out
}

pub(crate) const DENIED: &str = "Permission denied\n";

/// Run one command; returns its answer (without the final empty line) and what the
/// connection does next.
pub(crate) fn run(
    cli: &Cli,
    level: &mut CliLevel,
    w: &[&str],
    payload: Option<&str>,
) -> (String, After) {
    let admin = *level >= CliLevel::Admin;
    if let Some(answer) = super::maps::map_command(cli, *level, w, payload) {
        return (answer, After::Continue);
    }
    let answer = match w {
        ["quit", ..] => return (String::new(), After::Quit),
        ["prompt", ..] => return (String::new(), After::TogglePrompt),
        ["help", ..] => help(*level),
        ["user"] => {
            *level = CliLevel::User;
            String::new()
        }
        ["operator"] => {
            if *level < CliLevel::Operator {
                DENIED.into()
            } else {
                *level = CliLevel::Operator;
                String::new()
            }
        }
        ["show", "cli", "level"] => match level {
            CliLevel::User => "user\n".into(),
            CliLevel::Operator => "operator\n".into(),
            CliLevel::Admin => "admin\n".into(),
        },
        ["show", "info", rest @ ..] => info::show_info(cli, format(rest)),
        ["show", "stat", rest @ ..] => show_stat(cli, rest),
        ["show", "servers", "state", rest @ ..] if rest.len() <= 1 => {
            show_servers_state(cli, rest.first().copied())
        }
        ["show", "servers", "conn", rest @ ..] if rest.len() <= 1 => {
            show_servers_conn(cli, rest.first().copied())
        }
        ["show", "errors", ..] if *level < CliLevel::Operator => DENIED.into(),
        ["show", "errors", rest @ ..] => errors::show_errors(cli, rest),
        ["show", "pools"] => {
            let snaps = cli.gather();
            pools::format_pools(&pools::sum(&snaps), snaps.len())
        }
        ["show", "activity"] => show_activity(&cli.gather()),
        ["debug", "counters", rest @ ..] if rest.iter().all(|r| *r == "show") => {
            debug_counters(&cli.gather())
        }
        ["get", "weight", rest @ ..] => match find_server(cli, rest.first().copied()) {
            Err(e) => e,
            Ok((b, s)) => format!(
                "{} (initial {})\n",
                cli.shared.servers[b][s].weight.load(Ordering::Relaxed),
                cli.shared.initial_weight(b, s)
            ),
        },
        ["set", "weight", rest @ ..] if admin => {
            set_weight(cli, rest.first().copied(), rest.get(1).copied())
        }
        ["set", "server", rest @ ..] if admin => set_server(cli, rest),
        ["add", "server", rest @ ..] if admin => servers::add_server(cli, rest),
        ["del", "server", rest @ ..] if admin => servers::del_server(cli, rest),
        ["set", "maxconn", rest @ ..] if admin => match maxconn::set_maxconn(cli, rest) {
            Some(a) => a,
            None => unknown(w, *level),
        },
        ["show", "backend"] => show_backend(cli),
        ["show", "sess" | "fd", ..] if *level < CliLevel::Operator => DENIED.into(),
        ["show", "fd", rest @ ..] if rest.len() <= 1 => {
            super::fd::show_fd(cli, rest.first().copied())
        }
        ["show", "sess", rest @ ..] if rest.len() <= 1 => {
            sess::show_sess(cli, rest.first().copied())
        }
        ["shutdown", "session", rest @ ..] if admin => {
            sess::shutdown_session(cli, rest.first().copied())
        }
        ["shutdown", "sessions", rest @ ..] if admin => sess::shutdown_sessions_server(cli, rest),
        [verb @ ("disable" | "enable" | "shutdown"), "frontend", rest @ ..] if admin => {
            frontend::frontend_admin(cli, verb, rest.first().copied())
        }
        ["enable", "server", rest @ ..] if admin => match find_server(cli, rest.first().copied()) {
            Err(e) => e,
            Ok((b, s)) => {
                set_admin(&cli.shared.servers[b][s], false, false);
                String::new()
            }
        },
        ["disable", "server", rest @ ..] if admin => {
            match find_server(cli, rest.first().copied()) {
                Err(e) => e,
                Ok((b, s)) => {
                    set_admin(&cli.shared.servers[b][s], true, false);
                    String::new()
                }
            }
        }
        // HAProxy reads only the third word: `all` needs admin, anything else operator.
        ["clear", "counters", rest @ ..] => {
            let all = rest.first() == Some(&"all");
            let need = if all {
                CliLevel::Admin
            } else {
                CliLevel::Operator
            };
            if *level < need {
                DENIED.into()
            } else {
                cli.clear_counters(all);
                String::new()
            }
        }
        ["set", "weight" | "server" | "maxconn", ..]
        | ["enable" | "disable", "server" | "frontend", ..]
        | ["shutdown", "frontend" | "session" | "sessions", ..]
        | ["add" | "del", "server", ..] => DENIED.into(),
        _ => unknown(w, *level),
    };
    (answer, After::Continue)
}

/// `<backend>/<server>` → indexes, or HAProxy's error text.
pub(crate) fn find_server(cli: &Cli, arg: Option<&str>) -> Result<(usize, usize), String> {
    let Some((be, srv)) = arg.and_then(|a| a.split_once('/')) else {
        return Err("Require 'backend/server'.\n".into());
    };
    let cfg = &cli.shared.config;
    let Some(b) = cfg.backends.iter().position(|b| b.name == be) else {
        return Err("No such backend.\n".into());
    };
    let sh = &cli.shared;
    let found = (0..cfg.backends[b].servers.len())
        .position(|s| sh.server_live(b, s) && sh.server_name(b, s) == srv);
    let Some(s) = found else {
        return Err("No such server.\n".into());
    };
    Ok((b, s))
}

/// The name of server `s` of backend `b` (`?` if there is none).
pub(crate) fn server_name(cli: &Cli, b: usize, s: usize) -> String {
    if s < cli.shared.servers[b].len() {
        cli.shared.server_name(b, s).to_string()
    } else {
        "?".into()
    }
}

fn now_s() -> u64 {
    super::wall_us() / 1_000_000
}

/// Put a server in or out of maintenance / drain (the operator's admin state).
fn set_admin(st: &ServerState, maint: bool, drain: bool) {
    st.set_admin(maint, drain);
}

/// `set weight <be>/<srv> <w>[%]` (also `set server ... weight`).
fn set_weight(cli: &Cli, target: Option<&str>, value: Option<&str>) -> String {
    let (b, s) = match find_server(cli, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(v) = value else {
        return "Require <weight> or <weight%>.\n".into();
    };
    let initial = cli.shared.initial_weight(b, s);
    let w = if let Some(p) = v.strip_suffix('%') {
        match p.parse::<u64>() {
            Ok(p) => ((u64::from(initial) * p / 100).min(256)) as u32,
            Err(_) => return "Relative weight must be positive.\n".into(),
        }
    } else {
        match v.parse::<u32>() {
            Ok(w) if w <= 256 => w,
            Ok(_) => return "Absolute weight can only be between 0 and 256 inclusive.\n".into(),
            Err(_) => return "Empty weight string empty or preceded by garbage\n".into(),
        }
    };
    let st = &cli.shared.servers[b][s];
    if st.weight.swap(w, Ordering::Relaxed) != w {
        st.last_change.store(now_s(), Ordering::Relaxed);
    }
    String::new()
}

/// `set server <be>/<srv> state ready|drain|maint`, `... weight <w>`, `... addr
/// <ip> [port <p>]`, `... port <p>`.
fn set_server(cli: &Cli, rest: &[&str]) -> String {
    let (b, s) = match find_server(cli, rest.first().copied()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let st = &cli.shared.servers[b][s];
    match (rest.get(1).copied(), rest.get(2).copied()) {
        (Some("state"), Some("ready")) => set_admin(st, false, false),
        (Some("state"), Some("drain")) => set_admin(st, false, true),
        (Some("state"), Some("maint")) => set_admin(st, true, false),
        (Some("state"), _) => {
            return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into()
        }
        (Some("weight"), v) => return set_weight(cli, rest.first().copied(), v),
        (Some(opt @ ("addr" | "port")), _) => {
            return servers::set_addr_port(cli, b, s, &rest[2..], opt == "addr")
        }
        _ => {
            return "usage: set server <backend>/<server> state ready|drain|maint, \
                    weight <weight>[%], addr <ip> [port <port>] or port <port> \
                    (other options are not supported yet)\n"
                .into()
        }
    }
    String::new()
}

/// The output format words of `show info` / `show stat`: `typed`, `json`; other
/// words (HAProxy's `desc`, `up`, `no-maint`, anything else) are ignored, as HAProxy
/// 2.6 does.
fn format(words: &[&str]) -> Format {
    let mut fmt = Format::Csv;
    for w in words {
        match *w {
            "typed" => fmt = Format::Typed,
            "json" => fmt = Format::Json,
            _ => {}
        }
    }
    fmt
}

/// `show stat [{<iid>|<proxy>} <type> <sid>] [typed|json]`: HAProxy 2.6 takes the
/// filter first when three words follow `show stat`.
fn show_stat(cli: &Cli, rest: &[&str]) -> String {
    let (flt, words) = match rest {
        [px, ty, sid, more @ ..] => {
            let cfg = &cli.shared.config;
            let iid = cfg
                .frontends
                .iter()
                .map(|f| (&f.name, f.id))
                .chain(cfg.backends.iter().map(|b| (&b.name, b.id)))
                .find(|(n, _)| n.as_str() == *px)
                .map(|(_, id)| id)
                .or_else(|| px.parse::<u32>().ok().filter(|i| *i > 0));
            let Some(iid) = iid else {
                return "No such proxy.\n".into();
            };
            let types = match ty.parse::<i64>() {
                Ok(-1) => 7,
                Ok(t) if t > 0 => (t & 7) as u32,
                _ => 0,
            };
            let sid = match sid.parse::<i64>() {
                Ok(s) if s >= 0 => Some(s as u32),
                _ => None,
            };
            (
                Filter {
                    iid: Some(iid),
                    types,
                    sid,
                },
                more,
            )
        }
        _ => (Filter::ALL, rest),
    };
    let fmt = format(words);
    let snaps = cli.gather();
    stat::show_stat(cli, &cli.totals(&snaps), flt, fmt)
}

/// `show backend`: the backends' names (`listen` sections included), in
/// configuration order.
fn show_backend(cli: &Cli) -> String {
    let mut out = String::from("# name\n");
    for b in &cli.shared.config.backends {
        out.push_str(&b.name);
        out.push('\n');
    }
    out
}

/// HAProxy's answer to `show servers state|conn` naming no backend of the
/// configuration.
fn check_backend(cli: &Cli, only: Option<&str>) -> Result<(), String> {
    match only {
        Some(name) if !cli.shared.config.backends.iter().any(|b| b.name == name) => {
            Err("Can't find backend.\n".into())
        }
        _ => Ok(()),
    }
}

/// `show servers conn [<backend>]`: the idle-pool figures of each server, summed
/// over the workers, with its idle connections per worker.
fn show_servers_conn(cli: &Cli, only: Option<&str>) -> String {
    if let Err(e) = check_backend(cli, only) {
        return e;
    }
    let snaps = cli.gather();
    let views: Vec<&[Vec<ConnRow>]> = snaps.iter().map(|s| s.conns.as_slice()).collect();
    let sh = &cli.shared;
    servers_conn(
        &sh.config,
        only,
        sh.nbthread,
        &views,
        |b, s| sh.servers[b][s].cur(),
        |b, s| {
            sh.server_live(b, s)
                .then(|| (sh.server_name(b, s).to_string(), sh.server_id(b, s)))
        },
    )
}

/// `show servers state [<backend>]` (the `server-state-file` format, version 1).
fn show_servers_state(cli: &Cli, only: Option<&str>) -> String {
    if let Err(e) = check_backend(cli, only) {
        return e;
    }
    let cfg = &cli.shared.config;
    let mut out = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight \
         srv_iweight srv_time_since_last_change srv_check_status srv_check_result \
         srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id \
         srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
         srv_agent_addr srv_agent_port\n",
    );
    for (bi, be) in cfg.backends.iter().enumerate() {
        if only.is_some_and(|n| n != be.name) {
            continue;
        }
        for (si, srv) in be.servers.iter().enumerate() {
            let st = &cli.shared.servers[bi][si];
            if !st.is_live() {
                continue;
            }
            let maint = st.maint.load(Ordering::Relaxed);
            let drain = st.drain.load(Ordering::Relaxed);
            let up = st.up.load(Ordering::Relaxed);
            let op = if maint || !up { 0 } else { 2 };
            let admin = if maint {
                1
            } else if drain {
                8
            } else {
                0
            };
            let (addr, port) = match servers::current_addr(cli, bi, si) {
                Some(a) => (a.ip().to_string(), a.port()),
                None => ("-".to_string(), 0),
            };
            let (chk_status, chk_result, chk_health, chk_state) = if srv.check {
                (
                    if up { 15 } else { 8 },
                    if up { 3 } else { 1 },
                    if up { srv.rise + srv.fall - 1 } else { 0 },
                    6,
                )
            } else {
                (1, 0, srv.rise, 0)
            };
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {} - {} {} - - 0",
                be.id,
                be.name,
                cli.shared.server_id(bi, si),
                cli.shared.server_name(bi, si),
                addr,
                op,
                admin,
                st.weight.load(Ordering::Relaxed),
                cli.shared.initial_weight(bi, si),
                stat::since_change(cli, st),
                chk_status,
                chk_result,
                chk_health,
                chk_state,
                port,
                u8::from(srv.tls.is_some()),
                srv.check_port.unwrap_or(0),
            );
        }
    }
    out
}

/// Reads one counter of a worker snapshot.
type Getter = fn(&WorkerSnapshot) -> u64;

/// `show activity`: HAProxy's `name: total [ per-thread ]` lines.
fn show_activity(snaps: &[WorkerSnapshot]) -> String {
    let mut out = format!(
        "thread_id: 1 (1..{})\ndate_now: {:.6}\n",
        snaps.len().max(1),
        super::wall_us() as f64 / 1e6
    );
    let rows: [(&str, Getter); 8] = [
        ("loops", |s| s.loops),
        ("tasksw", |s| s.exec.polls),
        ("wake_tasks", |s| s.exec.remote_wakes),
        ("poll_io", |s| s.driver.busy_polls),
        ("poll_exp", |s| s.driver.idle_polls),
        ("poll_drop_fd", |s| {
            s.driver.stale_just_closed + s.driver.stale_recycled + s.driver.stale_reopened
        }),
        ("stale_wakes", |s| s.exec.stale_wakes),
        ("fd_takeover", |s| s.takeovers),
    ];
    for (name, f) in rows {
        let per: Vec<String> = snaps.iter().map(|s| f(s).to_string()).collect();
        let total: u64 = snaps.iter().map(f).sum();
        let _ = writeln!(out, "{name}: {total} [ {} ]", per.join(" "));
    }
    out
}

/// `debug counters`: HAProxy's layout, one line per rare-event class.
fn debug_counters(snaps: &[WorkerSnapshot]) -> String {
    let sum = |f: fn(&WorkerSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
    let rows: [(u64, &str, &str); 4] = [
        (
            sum(|s| s.driver.stale_just_closed),
            "fallback-epoll/src/reactor.rs:297 poll()",
            "epoll report of event on a just closed fd (harmless)",
        ),
        (
            sum(|s| s.driver.stale_recycled),
            "fallback-epoll/src/reactor.rs:298 poll()",
            "epoll report of event on a closed recycled fd (rare)",
        ),
        (
            sum(|s| s.driver.stale_reopened),
            "fallback-epoll/src/reactor.rs:296 poll()",
            "epoll report of a harmless event on a stale fd reopened on the same thread (suspicious)",
        ),
        (
            sum(|s| s.exec.stale_wakes),
            "dataplane/src/runtime/executor.rs:253 run_one()",
            "wake of a finished task whose slot was reused (harmless)",
        ),
    ];
    let mut out = String::from("Count     Type Location function(): \"condition\" [comment]\n");
    for (n, loc, desc) in rows {
        let _ = writeln!(out, "{n:<10} {:>3} {loc}: \"{desc}\"", "CNT");
    }
    let _ = writeln!(
        out,
        "{:<10} {:>3} dataplane/src/maps/mod.rs deliver(): \"map/acl update lost to a full mailbox, or skipped after waiting for it\" [workers may differ]",
        crate::maps::dropped_updates(),
        "CNT"
    );
    let mut h2 = crate::h2::counters::H2Counters::default();
    for s in snaps {
        h2.add(&s.h2);
    }
    for (name, n, desc) in h2.rows() {
        let _ = writeln!(
            out,
            "{n:<10} {:>3} dataplane/src/h2: \"{name}\" [{desc}]",
            "CNT"
        );
    }
    out
}
