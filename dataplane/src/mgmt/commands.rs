//! The CLI commands: parsing of the words of one command and its answer, in
//! HAProxy's wording (scripts match these strings).
//!
//! Owns: [`run`] and the help table. Invariant: a command that changes state checks
//! the connection's level first and changes nothing on a bad argument.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use appliance_config::{Address, CliLevel};

use super::{stat, After, Cli, WorkerSnapshot};
use crate::proxy::shared::ServerState;
use crate::proxy::stats::{servers_conn, ConnRow};

/// `(usage, description, level needed)`, in HAProxy's help order; `help`, `prompt` and
/// `quit` come last, as in HAProxy.
const HELP: &[(&str, &str, CliLevel)] = &[
    (
        "debug counters",
        "dump the rare-event counters (stale epoll events, stale wakes)",
        CliLevel::User,
    ),
    (
        "disable server (DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
        CliLevel::Admin,
    ),
    (
        "enable server  (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
        CliLevel::Admin,
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
        "set server <bk>/<srv> [opts]",
        "change a server's state or weight",
        CliLevel::Admin,
    ),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
        CliLevel::Admin,
    ),
    (
        "show activity",
        "show per-thread activity stats (for support/developers)",
        CliLevel::User,
    ),
    (
        "show cli level",
        "display the level of the current CLI session",
        CliLevel::User,
    ),
    (
        "show info",
        "report information about the running process",
        CliLevel::User,
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
        "show stat",
        "report counters for each proxy and server",
        CliLevel::User,
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

const DENIED: &str = "Permission denied\n";

/// Run one command; returns its answer (without the final empty line) and what the
/// connection does next.
pub(crate) fn run(cli: &Cli, level: &mut CliLevel, w: &[&str]) -> (String, After) {
    let admin = *level >= CliLevel::Admin;
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
        ["show", "info"] => show_info(cli),
        ["show", "stat"] => {
            let snaps = cli.gather();
            stat::show_stat(cli, &cli.totals(&snaps))
        }
        ["show", "servers", "state", rest @ ..] if rest.len() <= 1 => {
            show_servers_state(cli, rest.first().copied())
        }
        ["show", "servers", "conn", rest @ ..] if rest.len() <= 1 => {
            show_servers_conn(cli, rest.first().copied())
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
                cli.shared.config.backends[b].servers[s].weight
            ),
        },
        ["set", "weight", rest @ ..] if admin => {
            set_weight(cli, rest.first().copied(), rest.get(1).copied())
        }
        ["set", "server", rest @ ..] if admin => set_server(cli, rest),
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
        ["set", "weight" | "server", ..] | ["enable" | "disable", "server", ..] => DENIED.into(),
        _ => unknown(w, *level),
    };
    (answer, After::Continue)
}

/// `<backend>/<server>` → indexes, or HAProxy's error text.
fn find_server(cli: &Cli, arg: Option<&str>) -> Result<(usize, usize), String> {
    let Some((be, srv)) = arg.and_then(|a| a.split_once('/')) else {
        return Err("Require 'backend/server'.\n".into());
    };
    let cfg = &cli.shared.config;
    let Some(b) = cfg.backends.iter().position(|b| b.name == be) else {
        return Err("No such backend.\n".into());
    };
    let Some(s) = cfg.backends[b].servers.iter().position(|s| s.name == srv) else {
        return Err("No such server.\n".into());
    };
    Ok((b, s))
}

fn now_s() -> u64 {
    super::wall_us() / 1_000_000
}

/// Put a server in or out of maintenance / drain (the operator's admin state).
fn set_admin(st: &ServerState, maint: bool, drain: bool) {
    let was = (
        st.maint.load(Ordering::Relaxed),
        st.drain.load(Ordering::Relaxed),
    );
    st.maint.store(maint, Ordering::Relaxed);
    st.drain.store(drain, Ordering::Relaxed);
    if was != (maint, drain) {
        st.last_change.store(now_s(), Ordering::Relaxed);
    }
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
    let initial = cli.shared.config.backends[b].servers[s].weight;
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

/// `set server <be>/<srv> state ready|drain|maint` and `... weight <w>`.
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
        _ => {
            return "usage: set server <backend>/<server> state ready|drain|maint, or \
                    set server <backend>/<server> weight <weight>[%] \
                    (other options are not supported yet)\n"
                .into()
        }
    }
    String::new()
}

/// `show info`: HAProxy's keys, in its order (see the notes, `stat_cols_info[]`).
fn show_info(cli: &Cli) -> String {
    let snaps = cli.gather();
    let t = cli.totals(&snaps);
    let sh = &cli.shared;
    let cfg = &sh.config;
    let up = cli.started.elapsed().as_secs();
    let cum_req: u64 = t.frontends.iter().map(|c| c.requests).sum();
    let cur = sh.process.cur();
    let tasks: u64 = snaps
        .iter()
        .map(|s| s.exec.spawned.saturating_sub(s.exec.completed))
        .sum();
    let streams: usize = snaps.iter().map(|s| s.sessions).sum();
    let ulimit = cfg.global.ulimit_n.map_or_else(nofile, u64::from);
    let node = cfg.global.node.clone().unwrap_or_else(hostname);
    let version = cli.version.as_str();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up / 3600) % 24,
        (up / 60) % 60,
        up % 60
    );
    let num = |v: u64| v.to_string();
    let kv: Vec<(&str, String)> = vec![
        ("Name", "sluice".into()),
        ("Version", version.into()),
        ("Release_date", String::new()),
        ("Nbthread", num(sh.nbthread as u64)),
        ("Nbproc", num(1)),
        ("Process_num", num(1)),
        ("Pid", num(u64::from(std::process::id()))),
        ("Uptime", uptime),
        ("Uptime_sec", num(up)),
        ("Start_time_sec", num(cli.started_wall)),
        ("Memmax_MB", num(0)),
        ("Memmax_bytes", num(0)),
        ("PoolAlloc_MB", num(0)),
        ("PoolAlloc_bytes", num(0)),
        ("PoolUsed_MB", num(0)),
        ("PoolUsed_bytes", num(0)),
        ("PoolFailed", num(0)),
        ("Ulimit-n", num(ulimit)),
        ("Maxsock", num(ulimit)),
        ("Maxconn", num(u64::from(sh.maxconn))),
        ("Hard_maxconn", num(u64::from(sh.maxconn))),
        ("CurrConns", num(u64::from(cur))),
        (
            "CumConns",
            num(sh.process.cum_conns.load(Ordering::Relaxed)),
        ),
        ("CumReq", num(cum_req)),
        ("MaxSslConns", num(0)),
        ("CurrSslConns", num(0)),
        ("CumSslConns", num(0)),
        ("Maxpipes", num(0)),
        ("PipesUsed", num(0)),
        ("PipesFree", num(0)),
        ("ConnRate", num(0)),
        ("ConnRateLimit", num(0)),
        ("MaxConnRate", num(0)),
        ("SessRate", num(0)),
        ("SessRateLimit", num(0)),
        ("MaxSessRate", num(0)),
        ("SslRate", num(0)),
        ("SslRateLimit", num(0)),
        ("MaxSslRate", num(0)),
        ("SslFrontendKeyRate", num(0)),
        ("SslFrontendMaxKeyRate", num(0)),
        ("SslFrontendSessionReuse_pct", num(0)),
        ("SslBackendKeyRate", num(0)),
        ("SslBackendMaxKeyRate", num(0)),
        ("SslCacheLookups", num(0)),
        ("SslCacheMisses", num(0)),
        ("CompressBpsIn", num(0)),
        ("CompressBpsOut", num(0)),
        ("CompressBpsRateLim", num(0)),
        ("ZlibMemUsage", num(0)),
        ("MaxZlibMemUsage", num(0)),
        ("Tasks", num(tasks)),
        ("Run_queue", num(0)),
        ("Idle_pct", num(100)),
        ("node", node),
        (
            "description",
            cfg.global.description.clone().unwrap_or_default(),
        ),
        ("Stopping", num(u64::from(sh.is_stopping()))),
        ("Jobs", num(u64::from(cur) + cli.listeners as u64)),
        ("Unstoppable Jobs", num(0)),
        ("Listeners", num(cli.listeners as u64)),
        ("ActivePeers", num(0)),
        ("ConnectedPeers", num(0)),
        ("DroppedLogs", num(0)),
        ("BusyPolling", num(0)),
        ("FailedResolutions", num(0)),
        ("TotalBytesOut", num(0)),
        ("TotalSplicedBytesOut", num(0)),
        ("BytesOutRate", num(0)),
        ("DebugCommandsIssued", num(0)),
        ("CumRecvLogs", num(0)),
        ("Build info", version.into()),
        ("Tainted", num(0)),
        ("TotalWarnings", num(0)),
        ("MaxconnReached", num(0)),
        ("BootTime_ms", num(0)),
        ("Niced_tasks", num(0)),
        ("CurrStreams", num(streams as u64)),
        ("CumStreams", num(cum_req)),
        ("BlockedTrafficWarnings", num(0)),
        ("PatternsAdded", num(0)),
        ("PatternsFreed", num(0)),
        ("NbThreadGroups", num(1)),
    ];
    let mut out = String::new();
    for (k, v) in kv {
        let _ = writeln!(out, "{k}: {v}");
    }
    out
}

/// The soft `RLIMIT_NOFILE`, read from /proc (no unsafe call needed).
fn nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
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
    servers_conn(&sh.config, only, sh.nbthread, &views, |b, s| {
        sh.servers[b][s].cur()
    })
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
            let (addr, port) = match &srv.addr {
                Address::Tcp(a) => (a.ip().to_string(), a.port()),
                _ => ("-".to_string(), 0),
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
                srv.id,
                srv.name,
                addr,
                op,
                admin,
                st.weight.load(Ordering::Relaxed),
                srv.weight,
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
