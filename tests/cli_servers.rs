//! The management CLI's server commands end to end through the real binary:
//! `set server <be>/<srv> addr|port` (and, where present, dynamic servers).
//!
//! Answers are HAProxy's texts.

mod common;

use common::{cli, get_closed, wait_until, Origin};
use std::collections::HashMap;
use std::time::Duration;

type Setup = common::cli_proxy::CliProxy;

/// The shared CLI setup with `backend` (which must define `be`).
fn setup(backend: &str) -> Setup {
    Setup::start("clisrv", Vec::new(), "", backend)
}

fn served(fe: u16, n: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let r = get_closed(fe, "/");
        assert_eq!(r.status, 200);
        *m.entry(r.served_by()).or_insert(0) += 1;
    }
    m
}

/// The `show servers state` fields of server `name`.
fn state_of(sock: &std::path::Path, name: &str) -> Vec<String> {
    cli(sock, "show servers state\n")
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[3] == name)
        .expect("server row")
}

#[test]
fn set_server_addr_and_port_move_new_traffic() {
    let (a, b, c) = (Origin::start("a"), Origin::start("b"), Origin::start("c"));
    // `http-reuse always`: a request may take any idle connection of the pool, so
    // one left to the old address would show up as a request served by `a`.
    let s = setup(&format!(
        "backend be\n    balance roundrobin\n    http-reuse always\n    server a {}\n    server b {}\n",
        a.addr(),
        b.addr()
    ));
    let before = served(s.fe, 6);
    assert_eq!(before.get("a"), Some(&3), "{before:?}");
    let pooled = cli(&s.admin, "show servers conn be\n");
    let a_row = pooled
        .lines()
        .find(|l| l.starts_with("be/a "))
        .unwrap()
        .to_string();
    let idle_cur: u32 = a_row.split(' ').nth(14).unwrap().parse().unwrap();
    assert!(idle_cur >= 1, "an idle connection to a is pooled: {pooled}");
    // Refused and bad arguments change nothing.
    let cmd = format!("set server be/a addr 127.0.0.1 port {}\n", c.port());
    assert_eq!(cli(&s.user, &cmd), "Permission denied\n\n");
    assert_eq!(
        cli(&s.admin, "set server be/a addr nonsense\n"),
        "Invalid addr: 'nonsense'.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "set server be/a addr 127.0.0.1 port 0\n"),
        "Invalid port: '0'.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "set server be/a port\n"),
        "set server <b>/<s> port requires a port.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "set server be/zz port 80\n"),
        "No such server.\n\n"
    );
    assert_eq!(state_of(&s.admin, "a")[18], a.port().to_string());
    assert_eq!(
        cli(
            &s.admin,
            &format!("set server be/a addr 127.0.0.1 port {}\n", a.port())
        ),
        "no need to change the addr, no need to change the port by 'stats socket command'\n\n"
    );
    // Move a to c's port: idle connections to a are dropped, new traffic goes to c.
    assert_eq!(
        cli(&s.admin, &cmd),
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
            a.port(),
            c.port()
        )
    );
    let a_reqs = a.requests();
    let after = served(s.fe, 6);
    assert_eq!(after.get("a"), None, "{after:?}");
    assert_eq!(after.get("c"), Some(&3), "{after:?}");
    assert_eq!(a.requests(), a_reqs);
    let st = state_of(&s.admin, "a");
    assert_eq!(
        (st[4].as_str(), st[18].as_str()),
        ("127.0.0.1", &*c.port().to_string())
    );
    let stat = cli(&s.admin, "show stat\n");
    assert!(stat.contains(&format!("127.0.0.1:{}", c.port())), "{stat}");
    // `port` alone, then a new IP.
    assert_eq!(
        cli(&s.admin, &format!("set server be/a port {}\n", a.port())),
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
            c.port(),
            a.port()
        )
    );
    assert_eq!(served(s.fe, 4).get("a"), Some(&2));
    assert_eq!(
        cli(&s.admin, "set server be/b addr 127.0.0.2\n"),
        "IP changed from '127.0.0.1' to '127.0.0.2', no need to change the port by 'stats socket command'\n\n"
    );
}

/// `show stat` field `col` of row `px/sv`, if the row exists.
fn stat_field(sock: &std::path::Path, row: &str, col: &str) -> Option<String> {
    let out = cli(sock, "show stat\n");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next()?[2..].split(',').collect();
    let i = header.iter().position(|h| *h == col)?;
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > i && format!("{}/{}", f[0], f[1]) == row)
        .map(|f| f[i].to_string())
}

#[test]
fn add_and_del_server_under_load_lose_no_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let (a, new) = (Origin::start("a"), Origin::start("new"));
    let s = setup(&format!(
        "backend be\n    balance roundrobin\n    server a {a}\n\n\
         backend st\n    balance static-rr\n    server x {a}\n",
        a = a.addr()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, fe) = (stop.clone(), s.fe);
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed)
                && seen.len() < 20_000
                && start.elapsed() < Duration::from_secs(30)
            {
                let r = get_closed(fe, "/");
                seen.push((r.status, r.served_by()));
            }
            seen
        })
    };
    // Refusals change nothing.
    let add = format!("add server be/new {} weight 3\n", new.addr());
    assert_eq!(cli(&s.user, &add), "Permission denied\n\n");
    assert_eq!(cli(&s.user, "del server be/a\n"), "Permission denied\n\n");
    assert_eq!(
        cli(&s.admin, &format!("add server be/a {}\n", new.addr())),
        "Already exists a server with the same name in backend.\n\n"
    );
    assert_eq!(
        cli(&s.admin, &format!("add server st/y {}\n", new.addr())),
        "Backend must use a dynamic load balancing to support dynamic servers.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "add server be/new nonsense\n"),
        "Invalid address 'nonsense' (expects <ip>:<port>).\n\n"
    );
    assert!(
        cli(&s.admin, &format!("add server be/new {} ssl\n", new.addr()))
            .contains("'ssl' is not supported on dynamic servers")
    );
    assert_eq!(
        cli(&s.admin, "add server nope/new 127.0.0.1:1\n"),
        "No such backend.\n\n"
    );
    assert_eq!(stat_field(&s.admin, "be/new", "status"), None);
    // Added: listed, in maintenance, no traffic yet.
    assert_eq!(cli(&s.admin, &add), "New server registered.\n\n");
    assert_eq!(
        stat_field(&s.admin, "be/new", "status").as_deref(),
        Some("MAINT")
    );
    assert_eq!(stat_field(&s.admin, "be/new", "sid").as_deref(), Some("2"));
    assert!(cli(&s.admin, "show servers state be\n").contains(" new 127.0.0.1 "));
    assert_eq!(cli(&s.admin, "get weight be/new\n"), "3 (initial 3)\n\n");
    assert!(cli(&s.admin, "help\n").contains("add server <bk>/<srv>"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(new.requests(), 0);
    // In service: traffic reaches it.
    assert_eq!(cli(&s.admin, "set server be/new state ready\n"), "\n");
    assert!(wait_until(Duration::from_secs(10), || new.requests() >= 20));
    assert_eq!(
        cli(&s.admin, "del server be/new\n"),
        "Only a server in maintenance mode can be deleted.\n\n"
    );
    // Out of service, then deleted once its sessions ended.
    assert_eq!(cli(&s.admin, "set server be/new state maint\n"), "\n");
    let mut answers = Vec::new();
    assert!(wait_until(Duration::from_secs(10), || {
        let a = cli(&s.admin, "del server be/new\n");
        let done = a == "Server deleted.\n\n";
        answers.push(a);
        done
    }));
    for a in &answers[..answers.len() - 1] {
        assert_eq!(
            a,
            "Server still has connections attached to it, cannot remove it.\n\n"
        );
    }
    assert_eq!(stat_field(&s.admin, "be/new", "status"), None);
    assert!(!cli(&s.admin, "show servers state\n").contains(" new "));
    assert_eq!(cli(&s.admin, "del server be/new\n"), "No such server.\n\n");
    let after_del = new.requests();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().expect("no request failed");
    assert_eq!(new.requests(), after_del, "no traffic after del server");
    assert!(seen.len() > 50, "{} requests", seen.len());
    assert!(seen.iter().all(|(st, _)| *st == 200), "every response 200");
    assert!(seen.iter().any(|(_, by)| by == "new"));
    // The name can be used again.
    assert_eq!(cli(&s.admin, &add), "New server registered.\n\n");
    assert_eq!(
        stat_field(&s.admin, "be/new", "status").as_deref(),
        Some("MAINT")
    );
}
