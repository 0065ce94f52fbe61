//! Backend connection reuse by HAProxy's table of which request may take which idle
//! connection (reference notes §1, `conn_backend_get`): each `http-reuse` mode probed
//! in every pool state, for first and later requests, and an idle connection of a
//! still-open session serving other sessions. The tests run one at a time (`serial`).

mod common;

use common::reuse::{config, conn_id, req_no, serial};
use common::{free_port, is_sluice, Conn, Origin, Proxy, Response};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// What the pool holds when the probe request comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolHas {
    /// One safe connection (served 2 requests) and one idle one (served 1).
    SafeAndIdle,
    IdleOnly,
    SafeOnly,
}

/// Which connection the probe request got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Safe,
    Idle,
    New,
}

/// HAProxy's table (reference notes §1; `conn_backend_get`):
///
/// | mode       | first request of a session | later request  |
/// |------------|----------------------------|----------------|
/// | never      | none                       | none           |
/// | safe       | none                       | idle, then safe |
/// | aggressive | safe only                  | idle, then safe |
/// | always     | safe, then idle            | idle, then safe |
fn table(mode: &str, pool: PoolHas, later: bool) -> Got {
    let (safe, idle) = match pool {
        PoolHas::SafeAndIdle => (true, true),
        PoolHas::IdleOnly => (false, true),
        PoolHas::SafeOnly => (true, false),
    };
    let pick = |order: &[Got]| {
        order
            .iter()
            .copied()
            .find(|g| (*g == Got::Safe && safe) || (*g == Got::Idle && idle))
            .unwrap_or(Got::New)
    };
    match (mode, later) {
        ("never", _) | ("safe", false) => Got::New,
        (_, true) => pick(&[Got::Idle, Got::Safe]),
        ("aggressive", false) => pick(&[Got::Safe]),
        ("always", false) => pick(&[Got::Safe, Got::Idle]),
        _ => unreachable!("{mode}"),
    }
}

/// Builds the pool state `pool` on a fresh one-worker proxy with `http-reuse mode`,
/// then sends one probe request: the first of a new session, or (`later`) the
/// second of a session whose first request went to another backend. Returns which
/// connection the probe got.
fn probe(mode: &str, pool: PoolHas, later: bool) -> Got {
    let o = Origin::start("s1");
    let other = Origin::start("other");
    let port = free_port();
    // `pool-low-conn 100`: every released connection enters the pool (HAProxy
    // otherwise keeps no more than its need estimate); a long purge delay: no purge.
    let cfg = config(
        port,
        1,
        "",
        &format!("    http-reuse {mode}"),
        &format!("{} pool-low-conn 100 pool-purge-delay 30s", o.addr()),
        Some(&other.addr()),
    );
    let _p = Proxy::start(&cfg);
    let what = format!(
        "{mode}, pool {pool:?}, {} request",
        if later { "later" } else { "first" }
    );
    // The probing session's first request goes elsewhere: its next one is a later
    // request (HAProxy's TX_NOT_FIRST) with no connection of its own to `s1`.
    let mut prober = later.then(|| {
        let mut c = Conn::connect(port);
        let r = c.get("/other/first").unwrap();
        assert_eq!(r.served_by(), "other", "{what}");
        c
    });
    let get = |c: &mut Conn, path: &str| {
        let r = c
            .get(path)
            .unwrap_or_else(|e| panic!("{what}: {path}: {e}"));
        assert_eq!(
            (r.status, r.served_by().as_str()),
            (200, "s1"),
            "{what}: {path}"
        );
        r
    };
    let (mut safe_id, mut idle_id) = (None, None);
    match pool {
        PoolHas::IdleOnly => {
            let mut a = Conn::connect(port);
            idle_id = Some(conn_id(&get(&mut a, "/setup/idle")));
        }
        PoolHas::SafeOnly => {
            let mut a = Conn::connect(port);
            let first = get(&mut a, "/setup/s1");
            let second = get(&mut a, "/setup/s2");
            // The pool held only the first one's connection.
            assert_eq!(
                conn_id(&first),
                conn_id(&second),
                "{what}: the second request of a session opened a new server connection"
            );
            assert_eq!(req_no(&second), 2, "{what}");
            safe_id = Some(conn_id(&second));
        }
        PoolHas::SafeAndIdle => {
            // Two sessions at once: two server connections (nothing idle yet).
            let barrier = Arc::new(Barrier::new(2));
            let hs: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|tag| {
                    let b = barrier.clone();
                    thread::spawn(move || {
                        let mut c = Conn::connect(port);
                        b.wait();
                        let r = c.get(&format!("/delay/200/setup/{tag}")).unwrap();
                        (c, r)
                    })
                })
                .collect();
            let mut done: Vec<(Conn, Response)> =
                hs.into_iter().map(|h| h.join().unwrap()).collect();
            let ids: Vec<usize> = done.iter().map(|(_, r)| conn_id(r)).collect();
            assert_ne!(
                ids[0], ids[1],
                "{what}: concurrent requests shared a connection"
            );
            // A later request of one session makes one of them safe.
            let r = get(&mut done[0].0, "/setup/again");
            assert_eq!(
                req_no(&r),
                2,
                "{what}: the second request of a session opened a new server connection: {r:?}"
            );
            let s = conn_id(&r);
            assert!(
                ids.contains(&s),
                "{what}: later setup request opened a connection"
            );
            safe_id = Some(s);
            idle_id = ids.into_iter().find(|&i| i != s);
        }
    }
    // The setup sessions end; their connections stay in the pool.
    thread::sleep(Duration::from_millis(100));
    let before = o.conns();
    let r = match prober.as_mut() {
        Some(c) => get(c, "/probe"),
        None => get(&mut Conn::connect(port), "/probe"),
    };
    let id = conn_id(&r);
    if Some(id) == safe_id {
        Got::Safe
    } else if Some(id) == idle_id {
        Got::Idle
    } else {
        assert!(
            id > before,
            "{what}: got connection {id}, neither new nor known"
        );
        Got::New
    }
}

/// Probes every pool state, first and later requests, for `mode`; asserts the table
/// (all cells checked before failing, so a failure lists every wrong cell).
fn check_table(mode: &str, haproxy26_differs: &[(PoolHas, bool)]) {
    let mut wrong = Vec::new();
    for pool in [PoolHas::SafeAndIdle, PoolHas::IdleOnly, PoolHas::SafeOnly] {
        for later in [false, true] {
            let got = probe(mode, pool, later);
            let want = table(mode, pool, later);
            println!("{mode:10} {pool:12?} later={later:5}: got {got:?}, table {want:?}");
            if got != want {
                if !is_sluice() && haproxy26_differs.contains(&(pool, later)) {
                    println!("  (HAProxy 2.6 differs from the reference table here: not checked)");
                    continue;
                }
                wrong.push(format!(
                    "pool {pool:?}, later {later}: got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "http-reuse {mode}:\n{}", wrong.join("\n"));
}

#[test]
fn reuse_table_never() {
    let _g = serial();
    // `never` still keeps a connection for the session that opened it: HAProxy makes
    // it private (`conn_set_private()`, reference notes §1) and the session's later
    // requests use it (`session_get_conn()`); it is never shared with another session.
    let o = Origin::start("s1");
    let port = free_port();
    let cfg = config(port, 1, "", "    http-reuse never", &o.addr(), None);
    let p = Proxy::start(&cfg);
    for s in 0..2 {
        let mut c = Conn::connect(port);
        let ids: Vec<(usize, usize)> = (0..3)
            .map(|k| {
                let r = c.get(&format!("/n{s}/{k}")).unwrap();
                assert_eq!(r.status, 200);
                (conn_id(&r), req_no(&r))
            })
            .collect();
        let own = ids[0].0;
        assert_eq!(
            ids,
            [(own, 1), (own, 2), (own, 3)],
            "http-reuse never: session {s}'s requests (conn id, request number)"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(o.conns(), 2, "one server connection per session");
    drop(p);
    check_table("never", &[]);
}

#[test]
fn reuse_table_safe() {
    let _g = serial();
    check_table("safe", &[]);
}

#[test]
fn reuse_table_aggressive() {
    let _g = serial();
    check_table("aggressive", &[]);
}

#[test]
fn reuse_table_always() {
    let _g = serial();
    check_table("always", &[]);
}

/// An HTTP/1 server connection returns to the server's pool as soon as its response
/// ends, although its client session stays open (HAProxy: `h1_detach` ->
/// `srv_add_to_idle_list` for a connection that is not private; reference notes §1,
/// "Entering the pool"), so another session takes it by the table: with `always`
/// any first request, with `aggressive` once it is safe. The session that opened it
/// then takes a connection by the table like any later request.
#[test]
fn idle_connection_of_an_open_session_serves_other_sessions() {
    let _g = serial();
    let mut wrong = Vec::new();
    for mode in ["always", "aggressive"] {
        let o = Origin::start("s1");
        let port = free_port();
        let cfg = config(
            port,
            1,
            "",
            &format!("    http-reuse {mode}"),
            &format!("{} pool-low-conn 100", o.addr()),
            None,
        );
        let _p = Proxy::start(&cfg);
        let got = |c: &mut Conn, path: &str| {
            let r = c.get(path).unwrap_or_else(|e| panic!("{mode} {path}: {e}"));
            assert_eq!(r.status, 200, "{mode} {path}");
            (conn_id(&r), req_no(&r))
        };
        let mut a = Conn::connect(port);
        let mut seq = vec![got(&mut a, "/a1")];
        if mode == "aggressive" {
            // Safe: it served two requests.
            seq.push(got(&mut a, "/a2"));
        }
        thread::sleep(Duration::from_millis(50));
        // Session `a` stays open, idle.
        let mut b = Conn::connect(port);
        seq.push(got(&mut b, "/b1"));
        seq.push(got(&mut a, "/a3"));
        seq.push(got(&mut b, "/b2"));
        let want: Vec<(usize, usize)> = (1..=seq.len()).map(|n| (1, n)).collect();
        if seq != want || o.conns() != 1 {
            wrong.push(format!(
                "http-reuse {mode}: (conn id, request number) of a1{} b1 a3 b2: got {seq:?}, want {want:?} (one server connection for both sessions)",
                if mode == "aggressive" { " a2" } else { "" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
