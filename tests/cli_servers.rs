//! The management CLI's server commands end to end through the real binary:
//! `set server <be>/<srv> addr|port` (and, where present, dynamic servers).
//!
//! Answers are HAProxy's texts.

mod common;

use common::{cli, free_port, get_closed, wait_until, Origin, Proxy, HTTP_DEFAULTS};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

struct Setup {
    _proxy: Proxy,
    fe: u16,
    admin: PathBuf,
    user: PathBuf,
    _dir: common::proxy::TempDir,
}

fn setup(backend: &str) -> Setup {
    let fe = free_port();
    let dir = common::proxy::TempDir::new("clisrv");
    let admin = dir.path().join("admin.sock");
    let user = dir.path().join("user.sock");
    let defaults = HTTP_DEFAULTS.replacen(
        "global\n",
        &format!(
            "global\n    stats socket {} mode 600 level admin\n    stats socket {} level user\n",
            admin.display(),
            user.display()
        ),
        1,
    );
    let cfg = format!(
        "{defaults}\nfrontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\n{backend}"
    );
    let proxy = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(5), || admin.exists()));
    Setup {
        _proxy: proxy,
        fe,
        admin,
        user,
        _dir: dir,
    }
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
    let s = setup(&format!(
        "backend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        a.addr(),
        b.addr()
    ));
    let before = served(s.fe, 6);
    assert_eq!(before.get("a"), Some(&3), "{before:?}");
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
