//! The management CLI (`stats socket`): HAProxy's protocol (levels, prompt, several
//! commands on a line) and the commands that act: server state and weight,
//! `set maxconn`, frontends disabled, enabled and shut down; also `show backend`,
//! `show errors` and `show pools`, end to end through the real binary and a UNIX
//! socket. The reporting commands (`show stat`, `show info`, `show servers conn`,
//! `clear counters`) are in `tests/cli_stats.rs`.
//!
//! Formats are HAProxy 2.6's (`SLUICE_TEST_PROXY=/usr/sbin/haproxy` runs the same
//! assertions against it); assertions marked "sluice-specific" are skipped there.

mod common;

use common::cli_proxy::{setup, start, stat};
use common::{cli, get_closed, is_sluice, wait_until, Conn, Origin};
use std::collections::HashMap;
use std::time::Duration;

fn served(fe: u16, n: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        *m.entry(get_closed(fe, "/").served_by()).or_insert(0) += 1;
    }
    m
}

#[test]
fn disable_server_avoids_it_and_shows_maint() {
    let s = setup();
    assert_eq!(cli(&s.admin, "disable server be/a\n"), "\n");
    assert_eq!(stat(&s.admin)["be/a"]["status"], "MAINT");
    let m = served(s.fe, 6);
    assert_eq!(m.get("a"), None, "{m:?}");
    assert_eq!(m.get("b"), Some(&6));
    // `set server ... state ready` brings it back.
    assert_eq!(cli(&s.admin, "set server be/a state ready\n"), "\n");
    assert_eq!(stat(&s.admin)["be/a"]["status"], "no check");
    let m = served(s.fe, 6);
    assert!(m.get("a").copied().unwrap_or(0) > 0, "{m:?}");
    // drain
    assert_eq!(cli(&s.admin, "set server be/b state drain\n"), "\n");
    assert_eq!(stat(&s.admin)["be/b"]["status"], "DRAIN");
    let state = cli(&s.admin, "show servers state be\n");
    let mut l = state.lines();
    assert_eq!(l.next(), Some("1"));
    assert!(l
        .next()
        .unwrap()
        .starts_with("# be_id be_name srv_id srv_name srv_addr"));
    let b: Vec<&str> = l.find(|l| l.contains(" b ")).unwrap().split(' ').collect();
    assert_eq!(b.len(), 25);
    assert_eq!(b[6], "8", "srv_admin_state FDRAIN");
    assert_eq!(
        cli(&s.admin, "show servers state nope\n"),
        "Can't find backend.\n\n"
    );
}

#[test]
fn weights() {
    let s = setup();
    assert_eq!(cli(&s.admin, "get weight be/a\n"), "1 (initial 1)\n\n");
    assert_eq!(cli(&s.admin, "set weight be/a 3\n"), "\n");
    assert_eq!(cli(&s.admin, "get weight be/a\n"), "3 (initial 1)\n\n");
    let m = served(s.fe, 8);
    assert_eq!(m.get("a"), Some(&6), "3:1 split {m:?}");
    assert_eq!(
        cli(&s.admin, "set weight be/a 300\n"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(cli(&s.admin, "get weight nope/a\n"), "No such backend.\n\n");
    assert_eq!(cli(&s.admin, "get weight be/zz\n"), "No such server.\n\n");
    assert_eq!(cli(&s.admin, "get weight be/a\n"), "3 (initial 1)\n\n");
}

#[test]
fn levels_prompt_and_several_commands() {
    let s = setup();
    assert_eq!(
        cli(&s.user, "disable server be/a\n"),
        "Permission denied\n\n"
    );
    assert_eq!(cli(&s.user, "set weight be/a 5\n"), "Permission denied\n\n");
    assert_eq!(stat(&s.admin)["be/a"]["status"], "no check");
    // Several commands on one line.
    assert_eq!(
        cli(&s.user, "get weight be/a;get weight be/b\n"),
        "1 (initial 1)\n\n1 (initial 1)\n\n"
    );
    // Interactive mode: prompt, an empty line after each answer, quit.
    assert_eq!(
        cli(&s.admin, "prompt\nget weight be/a\nquit\n"),
        "\n> 1 (initial 1)\n\n> "
    );
    let unknown = cli(&s.admin, "foo\n");
    assert!(unknown.starts_with("Unknown command"), "{unknown}");
    let help = cli(&s.admin, "help\n");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    assert!(help.contains("  quit                                    : disconnect\n"));
}

#[test]
fn set_maxconn_errors_values_and_enforcement() {
    let s = setup();
    assert_eq!(
        cli(&s.user, "set maxconn global 5\n"),
        "Permission denied\n\n"
    );
    for (cmd, want) in [
        ("set maxconn global", "Expects an integer value.\n\n"),
        ("set maxconn global 99999999", "Value out of range.\n\n"),
        ("set maxconn frontend", "A frontend name is expected.\n\n"),
        ("set maxconn frontend nope 3", "No such frontend.\n\n"),
        ("set maxconn frontend fe", "Integer value expected.\n\n"),
        ("set maxconn frontend fe -1", "Value out of range.\n\n"),
        ("set maxconn server be 5", "Require 'backend/server'.\n\n"),
        ("set maxconn server nob/a 5", "No such backend.\n\n"),
        ("set maxconn server be/zz 5", "No such server.\n\n"),
        ("set maxconn server be/a", "Require <maxconn>.\n\n"),
        (
            "set maxconn server be/a x",
            "maxconn string empty or preceded by garbage\n",
        ),
        (
            "set maxconn server be/a 5x",
            "Trailing garbage in maxconn string\n",
        ),
    ] {
        assert_eq!(cli(&s.admin, &format!("{cmd}\n")), want, "{cmd}");
    }
    let unknown = cli(&s.admin, "set maxconn foo\n");
    assert!(unknown.starts_with("Unknown command"), "{unknown}");
    let slim = |row: &str| stat(&s.admin)[row]["slim"].clone();
    let fe_slim = slim("fe/FRONTEND");
    assert_eq!(slim("be/a"), "");
    // Server and frontend limits show in show stat.
    assert_eq!(cli(&s.admin, "set maxconn server be/a 3\n"), "\n");
    assert_eq!(slim("be/a"), "3");
    assert_eq!(cli(&s.admin, "set maxconn frontend fe 7\n"), "\n");
    assert_eq!(slim("fe/FRONTEND"), "7");
    assert_ne!(fe_slim, "7");
    // The global limit: at most Hard_maxconn, 0 restores it.
    let info = |k: &str| {
        let out = cli(&s.admin, "show info\n");
        let line = out.lines().find(|l| l.starts_with(&format!("{k}: ")));
        line.unwrap_or_else(|| panic!("{k} in {out}"))[k.len() + 2..].to_string()
    };
    let hard = info("Hard_maxconn");
    assert_eq!(cli(&s.admin, "set maxconn global 100\n"), "\n");
    assert_eq!(info("Maxconn"), "100");
    assert_eq!(info("Hard_maxconn"), hard);
    assert_eq!(cli(&s.admin, "set maxconn global 0\n"), "\n");
    assert_eq!(info("Maxconn"), hard);
    // Enforcement: with a frontend limit of 1, a second connection waits until the
    // limit is raised. sluice-specific: HAProxy 2.6.12's watchdog kills the process
    // when `set maxconn frontend` runs while a connection waits on the full
    // frontend (the CLI applet gets stuck; observed on Debian's 2.6.12-1+deb12u4).
    if !is_sluice() {
        println!("skipped: raising a full frontend's maxconn (HAProxy 2.6.12 aborts)");
        return;
    }
    assert_eq!(cli(&s.admin, "set maxconn frontend fe 1\n"), "\n");
    let mut first = Conn::connect(s.fe);
    assert_eq!(first.get("/").unwrap().status, 200);
    let mut second = Conn::connect(s.fe);
    second.set_read_timeout(Duration::from_millis(400));
    second.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    assert!(
        second.read_response("GET").is_err(),
        "served beyond the frontend's maxconn"
    );
    assert_eq!(cli(&s.admin, "set maxconn frontend fe 2\n"), "\n");
    second.set_read_timeout(Duration::from_secs(5));
    assert_eq!(second.read_response("GET").unwrap().status, 200);
    drop(first);
}

#[test]
fn show_backend_lists_backends() {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let backends = format!(
        "backend be\n    server a {}\n\nbackend other\n    server b {}\n",
        a.addr(),
        b.addr()
    );
    let s = start(vec![a, b], "", &backends);
    assert_eq!(cli(&s.user, "show backend\n"), "# name\nbe\nother\n\n");
}

#[test]
fn disable_enable_shutdown_frontend() {
    let s = setup();
    let status = || stat(&s.admin)["fe/FRONTEND"]["status"].clone();
    for (sock, cmd, want) in [
        (&s.user, "disable frontend fe", "Permission denied\n\n"),
        (
            &s.admin,
            "disable frontend",
            "A frontend name is expected.\n\n",
        ),
        (&s.admin, "disable frontend nope", "No such frontend.\n\n"),
    ] {
        assert_eq!(cli(sock, &format!("{cmd}\n")), want, "{cmd}");
    }
    // disable: new connections wait (in the backlog) until enabled.
    assert_eq!(cli(&s.admin, "disable frontend fe\n"), "\n");
    assert_eq!(
        cli(&s.admin, "disable frontend fe\n"),
        "All sockets are already disabled.\n\n"
    );
    assert_eq!(status(), "PAUSED");
    // Nothing is served while disabled. HAProxy releases the port (connections are
    // refused); sluice-specific: sluice keeps listening without accepting, so a
    // connection waits in the backlog and is served once the frontend is enabled.
    let mut waiting = Conn::try_connect(s.fe).ok();
    if let Some(c) = waiting.as_mut() {
        c.set_read_timeout(Duration::from_millis(400));
        if c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").is_ok() {
            assert!(c.read_response("GET").is_err(), "served while disabled");
        }
    }
    assert_eq!(is_sluice(), waiting.is_some(), "connect while disabled");
    assert_eq!(cli(&s.admin, "enable frontend fe\n"), "\n");
    if let Some(c) = waiting.as_mut() {
        c.set_read_timeout(Duration::from_secs(5));
        assert_eq!(c.read_response("GET").unwrap().status, 200);
    }
    let mut kept = Conn::connect(s.fe);
    assert_eq!(kept.get("/").unwrap().status, 200);
    assert_eq!(
        cli(&s.admin, "enable frontend fe\n"),
        "All sockets are already enabled.\n\n"
    );
    assert_eq!(status(), "OPEN");
    assert_eq!(get_closed(s.fe, "/").status, 200);
    // shutdown: the listeners close for good.
    assert_eq!(cli(&s.admin, "shutdown frontend fe\n"), "\n");
    assert_eq!(
        cli(&s.admin, "shutdown frontend fe\n"),
        "Frontend was already shut down.\n\n"
    );
    for verb in ["enable", "disable"] {
        assert_eq!(
            cli(&s.admin, &format!("{verb} frontend fe\n")),
            format!("Frontend was previously shut down, cannot {verb}.\n\n")
        );
    }
    assert_eq!(status(), "STOP");
    assert!(
        wait_until(Duration::from_secs(3), || Conn::try_connect(s.fe).is_err()),
        "still accepting after shutdown"
    );
    // A connection accepted before goes on.
    assert_eq!(kept.get("/").unwrap().status, 200);
}

#[test]
fn show_errors_captures_invalid_request() {
    let s = setup();
    // Operator level at least, as in HAProxy.
    assert_eq!(cli(&s.user, "show errors\n"), "Permission denied\n\n");
    let before = cli(&s.admin, "show errors\n");
    assert!(before.starts_with("Total events captured on ["), "{before}");
    assert!(!before.contains("invalid request"), "{before}");
    let r = common::client::raw(s.fe, b"GET / HTTP/1.1\r\nhost: x\r\nba d: x\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let ok = wait_until(Duration::from_secs(3), || {
        cli(&s.admin, "show errors\n").contains("invalid request")
    });
    assert!(ok, "no capture");
    let out = cli(&s.admin, "show errors\n");
    assert!(out.contains("] frontend fe (#"), "{out}");
    assert!(out.contains("): invalid request\n"), "{out}");
    assert!(out.contains("error at position "), "{out}");
    // The dump: offsets, then the bytes with CR LF escaped.
    assert!(out.contains("  00000  GET / HTTP/1.1\\r\\n\n"), "{out}");
    // HAProxy's blank lines hold spaces: one after the total, two before the dump.
    assert!(out.contains("] : 1\n \n["), "{out}");
    assert!(out.contains(" :\n  \n  00000  GET"), "{out}");
    assert!(out.contains("ba d: x\\r\\n\n"), "{out}");
    for (args, shown) in [
        ("fe", true),
        ("fe request", true),
        ("fe response", false),
        ("-1 request", true),
        ("-1 response", false),
        ("be", false),
    ] {
        let o = cli(&s.admin, &format!("show errors {args}\n"));
        assert!(o.starts_with("Total events captured on ["), "{args}: {o}");
        assert_eq!(o.contains("invalid request"), shown, "{args}: {o}");
    }
    assert_eq!(cli(&s.admin, "show errors nope\n"), "No such proxy.\n\n");
    // sluice-specific: the parser's cause and the worker in the info line.
    if is_sluice() {
        assert!(out.contains(", worker #"), "{out}");
        assert!(out.contains(", cause "), "{out}");
        assert!(out.contains("Total events captured on [") && out.contains("] : 1\n"));
    }
}

#[test]
fn show_pools_lists_pools_and_total() {
    let s = setup();
    assert_eq!(get_closed(s.fe, "/").status, 200);
    let out = cli(&s.user, "show pools\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "Dumping pools usage. Use SIGQUIT to flush them.",
        "{out}"
    );
    let pools: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("  - Pool "))
        .collect();
    assert!(!pools.is_empty(), "{out}");
    for p in &pools {
        assert!(
            p.contains(" bytes) : ")
                && p.contains(" allocated (")
                && p.contains(" by thread caches), needed_avg "),
            "{p}"
        );
    }
    let total = lines.iter().find(|l| l.starts_with("Total: ")).expect(&out);
    assert!(
        total.contains(" pools, ") && total.contains(" bytes allocated, "),
        "{total}"
    );
    // sluice-specific: its three pools; a request went through, so the I/O buffer
    // pool has allocated buffers, and the figures add up to the total.
    if is_sluice() {
        let field = |l: &str, after: &str| -> usize {
            let rest = &l[l.find(after).unwrap() + after.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(pools.len(), 3, "{out}");
        for (p, name) in pools.iter().zip(["buffer", "txn", "h2_pipe"]) {
            assert!(p.starts_with(&format!("  - Pool {name} (")), "{p}");
        }
        assert!(field(pools[0], " : ") >= 1, "{out}");
        let sum: usize = pools.iter().map(|p| field(p, "allocated (")).sum();
        assert_eq!(field(total, "pools, "), sum, "{out}");
    }
}
