//! The management CLI's session commands end to end through the real binary:
//! `show sess [<id>|all]`, `shutdown session <id>`, `shutdown sessions server`.
//!
//! Session ids and the detailed view's layout are sluice's (HAProxy prints stream
//! pointers); the error texts are HAProxy's.

mod common;

use common::{cli, wait_until, Conn, Origin};
use std::time::Duration;

type Setup = common::cli_proxy::CliProxy;

fn setup() -> Setup {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let backends = format!(
        "backend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        a.addr(),
        b.addr()
    );
    Setup::start("clisess", vec![a, b], "", &backends)
}

/// A client whose request the origin holds for 20 s.
fn slow_client(fe: u16) -> Conn {
    let mut c = Conn::connect(fe);
    c.send(b"GET /delay/20000/ HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    c
}

/// `show sess` lines that name a server.
fn attached(sock: &std::path::Path) -> Vec<String> {
    cli(sock, "show sess\n")
        .lines()
        .filter(|l| l.contains(" srv=a ") || l.contains(" srv=b "))
        .map(str::to_string)
        .collect()
}

fn id_of(line: &str) -> String {
    line.split(':').next().unwrap().to_string()
}

#[test]
fn show_sess_lists_and_shutdown_session_closes() {
    let s = setup();
    assert_eq!(cli(&s.admin, "show sess\n"), "\n", "no session yet");
    let mut c = slow_client(s.fe);
    assert!(wait_until(Duration::from_secs(5), || attached(&s.admin)
        .len()
        == 1));
    let line = attached(&s.admin).remove(0);
    assert!(line.starts_with("0x"), "{line}");
    for f in [
        "proto=tcpv4 src=127.0.0.1:",
        " fe=fe ",
        " be=be ",
        " age=",
        " calls=",
    ] {
        assert!(line.contains(f), "{f} in {line}");
    }
    let id = id_of(&line);
    // The user level neither sees sessions (HAProxy: operator) nor ends them.
    assert_eq!(cli(&s.user, "show sess\n"), "Permission denied\n\n");
    assert_eq!(
        cli(&s.user, &format!("shutdown session {id}\n")),
        "Permission denied\n\n"
    );
    let detail = cli(&s.admin, &format!("show sess {id}\n"));
    assert!(detail.starts_with(&format!("{id}: [")), "{detail}");
    assert!(detail.contains("  frontend=fe (id="), "{detail}");
    assert!(detail.contains("  backend=be (id="), "{detail}");
    assert!(detail.contains("  server="), "{detail}");
    let all = cli(&s.admin, "show sess all\n");
    assert!(all.contains(&format!("{id}: [")), "{all}");
    assert_eq!(cli(&s.admin, "show sess 0x7\n"), "Session not found.\n\n");
    // Bad ids change nothing.
    assert_eq!(
        cli(&s.admin, "shutdown session\n"),
        "Session pointer expected (use 'show sess').\n\n"
    );
    for bad in ["0xdeadbeef", "nonsense"] {
        assert_eq!(
            cli(&s.admin, &format!("shutdown session {bad}\n")),
            "No such session (use 'show sess').\n\n"
        );
    }
    assert_eq!(attached(&s.admin).len(), 1);
    assert_eq!(cli(&s.admin, &format!("shutdown session {id}\n")), "\n");
    assert!(c.closed_within(Duration::from_secs(3)), "session closed");
    assert!(wait_until(Duration::from_secs(3), || !cli(
        &s.admin,
        "show sess\n"
    )
    .contains(&id)));
    // A second shutdown of the same id finds nothing.
    assert_eq!(
        cli(&s.admin, &format!("shutdown session {id}\n")),
        "No such session (use 'show sess').\n\n"
    );
}

#[test]
fn shutdown_sessions_server_closes_only_that_servers_sessions() {
    let s = setup();
    let mut conns: Vec<Conn> = (0..4).map(|_| slow_client(s.fe)).collect();
    assert!(wait_until(Duration::from_secs(5), || attached(&s.admin)
        .len()
        == 4));
    let on_a = attached(&s.admin)
        .iter()
        .filter(|l| l.contains(" srv=a "))
        .count();
    assert_eq!(on_a, 2, "round robin: two sessions on each server");
    assert_eq!(
        cli(&s.user, "shutdown sessions server be/a\n"),
        "Permission denied\n\n"
    );
    assert_eq!(
        cli(&s.admin, "shutdown sessions server be/nope\n"),
        "No such server.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "shutdown sessions server nope/a\n"),
        "No such backend.\n\n"
    );
    assert_eq!(cli(&s.admin, "shutdown sessions server be/a\n"), "\n");
    assert!(wait_until(Duration::from_secs(3), || attached(&s.admin)
        .len()
        == 2));
    assert!(attached(&s.admin).iter().all(|l| l.contains(" srv=b ")));
    let closed = conns
        .iter_mut()
        .filter_map(|c| c.closed_within(Duration::from_millis(300)).then_some(()))
        .count();
    assert_eq!(closed, 2, "the two sessions on b are still open");
}

#[test]
fn help_lists_the_session_commands_by_level() {
    let s = setup();
    let admin = cli(&s.admin, "help\n");
    let user = cli(&s.user, "help\n");
    for c in [
        "show sess [<id>|all]",
        "shutdown session <id>",
        "shutdown sessions server",
    ] {
        assert!(admin.contains(c), "{c} in admin help");
    }
    assert!(!user.contains("show sess"));
    assert!(!user.contains("shutdown session"));
}

#[test]
fn show_fd_lists_listeners_and_connections() {
    let s = setup();
    assert_eq!(cli(&s.user, "show fd\n"), "Permission denied\n\n");
    let _c = slow_client(s.fe);
    assert!(wait_until(Duration::from_secs(5), || attached(&s.admin)
        .len()
        == 1));
    let out = cli(&s.admin, "show fd\n");
    let has = |needle: &str| out.lines().any(|l| l.contains(needle));
    assert!(has("iocb=(listener_accept) l.st=RDY"), "{out}");
    assert!(
        has("iocb=(sock_conn_iocb) back=0"),
        "client connection: {out}"
    );
    assert!(
        has("iocb=(sock_conn_iocb) back=1"),
        "server connection: {out}"
    );
    assert!(has("owner=cli iocb=(listener_accept) fe=GLOBAL"), "{out}");
    let first = out.lines().next().unwrap();
    let fd: i32 = first.split(':').next().unwrap().trim().parse().unwrap();
    let one = cli(&s.admin, &format!("show fd {fd}\n"));
    assert_eq!(one.lines().filter(|l| !l.is_empty()).count(), 1, "{one}");
    assert_eq!(
        cli(&s.admin, "show fd -3\n"),
        "Expects a positive file descriptor number.\n\n"
    );
}
