//! Load-balancing algorithms over HTTP: which server answers which request.

mod common;

use common::{free_port, get, get_closed, get_with, Origin, Proxy, HTTP_DEFAULTS};
use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::Duration;

/// A frontend on a fresh port with one backend `be` holding `balance` and `servers`.
fn config(fe: u16, balance: &str, servers: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    balance {balance}
{servers}"
    )
}

fn server_lines(origins: &[&Origin], extra: &str) -> String {
    origins
        .iter()
        .map(|o| format!("    server {} {} {extra}\n", o.name, o.addr()))
        .collect()
}

/// One request on its own connection, returning once the proxy has closed it and has
/// had a moment to release the server slot (it may do so just after the close), so
/// connection-counting algorithms see an idle server again.
fn settled_get(fe: u16) -> String {
    let who = get_closed(fe, "/").served_by();
    thread::sleep(Duration::from_millis(50));
    who
}

fn counts(names: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn roundrobin_alternates_exactly_over_equal_weights() {
    let (a, b, c) = (
        Origin::start("s1"),
        Origin::start("s2"),
        Origin::start("s3"),
    );
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "roundrobin", &server_lines(&[&a, &b, &c], "")));
    let seq: Vec<String> = (0..12).map(|_| get(fe, "/").served_by()).collect();
    for w in seq.windows(3) {
        let set: HashSet<&String> = w.iter().collect();
        assert_eq!(
            set.len(),
            3,
            "every 3 consecutive requests hit 3 servers: {seq:?}"
        );
    }
    for i in 3..seq.len() {
        assert_eq!(seq[i], seq[i - 3], "period of 3: {seq:?}");
    }
}

#[test]
fn roundrobin_follows_weights() {
    let (a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let servers = format!(
        "    server s1 {} weight 3\n    server s2 {} weight 1\n",
        a.addr(),
        b.addr()
    );
    let _p = Proxy::start(&config(fe, "roundrobin", &servers));
    let seq: Vec<String> = (0..40).map(|_| get(fe, "/").served_by()).collect();
    let c = counts(&seq);
    assert_eq!(c.get("s1"), Some(&30), "weight 3 of 4: {seq:?}");
    assert_eq!(c.get("s2"), Some(&10), "weight 1 of 4: {seq:?}");
}

#[test]
fn static_rr_follows_weights() {
    let (a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let servers = format!(
        "    server s1 {} weight 2\n    server s2 {} weight 1\n",
        a.addr(),
        b.addr()
    );
    let _p = Proxy::start(&config(fe, "static-rr", &servers));
    let seq: Vec<String> = (0..30).map(|_| get(fe, "/").served_by()).collect();
    let c = counts(&seq);
    assert_eq!(c.get("s1"), Some(&20), "{seq:?}");
    assert_eq!(c.get("s2"), Some(&10), "{seq:?}");
}

#[test]
fn leastconn_avoids_the_busy_server() {
    let (a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "leastconn", &server_lines(&[&a, &b], "")));
    // One slow request holds a connection on one server...
    let slow = thread::spawn(move || get(fe, "/delay/1500").served_by());
    assert!(
        common::wait_until(Duration::from_secs(3), || a
            .stats()
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            + b.stats()
                .in_flight
                .load(std::sync::atomic::Ordering::SeqCst)
            == 1),
        "slow request never reached a server"
    );
    let busy = if a.requests() == 1 { "s1" } else { "s2" };
    // ...so every quick request meanwhile goes to the other one.
    let quick: Vec<String> = (0..5).map(|_| settled_get(fe)).collect();
    assert!(
        quick.iter().all(|s| s != busy),
        "busy {busy}, quick went to {quick:?}"
    );
    assert_eq!(slow.join().unwrap(), busy);
}

#[test]
fn first_fills_servers_in_order_up_to_maxconn() {
    let (a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "first", &server_lines(&[&a, &b], "maxconn 1")));
    let seq: Vec<String> = (0..5).map(|_| settled_get(fe)).collect();
    assert!(
        seq.iter().all(|s| s == "s1"),
        "idle: always the first server: {seq:?}"
    );
    let slow = thread::spawn(move || get(fe, "/delay/1500").served_by());
    assert!(common::wait_until(Duration::from_secs(3), || a
        .stats()
        .in_flight
        .load(std::sync::atomic::Ordering::SeqCst)
        == 1));
    let seq: Vec<String> = (0..3).map(|_| settled_get(fe)).collect();
    assert!(
        seq.iter().all(|s| s == "s2"),
        "s1 full: next server: {seq:?}"
    );
    assert_eq!(slow.join().unwrap(), "s1");
}

#[test]
fn source_is_sticky_per_client_ip() {
    let (a, b, c) = (
        Origin::start("s1"),
        Origin::start("s2"),
        Origin::start("s3"),
    );
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "source", &server_lines(&[&a, &b, &c], "")));
    let seq: Vec<String> = (0..10).map(|_| get(fe, "/").served_by()).collect();
    assert!(
        seq.iter().all(|s| *s == seq[0]),
        "same IP, same server: {seq:?}"
    );
    // Other loopback source addresses (via curl --interface) spread over servers, each
    // one sticky.
    if !common::client::have_curl() {
        return;
    }
    let url = format!("http://127.0.0.1:{fe}/");
    let mut chosen = HashSet::new();
    for i in 1..=16 {
        let ip = format!("127.0.0.{}", i + 1);
        let names: Vec<String> = (0..2)
            .map(|_| {
                let out = common::client::curl(&["--interface", &ip, &url]);
                assert_eq!(out.status, 0, "curl from {ip}: {}", out.stderr);
                out.stdout_str()
            })
            .collect();
        assert_eq!(names[0], names[1], "source {ip} must stick");
        chosen.insert(names[0].clone());
    }
    assert!(
        chosen.len() >= 2,
        "16 source addresses all hashed to {chosen:?}"
    );
}

#[test]
fn uri_hash_is_sticky_per_path() {
    let (a, b, c) = (
        Origin::start("s1"),
        Origin::start("s2"),
        Origin::start("s3"),
    );
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "uri", &server_lines(&[&a, &b, &c], "")));
    let mut chosen = HashSet::new();
    for i in 0..20 {
        let path = format!("/item/{i}");
        let first = get(fe, &path).served_by();
        for _ in 0..2 {
            assert_eq!(get(fe, &path).served_by(), first, "{path} must stick");
        }
        chosen.insert(first);
    }
    assert!(chosen.len() >= 2, "20 paths all went to {chosen:?}");
}

#[test]
fn hdr_hash_is_sticky_per_header_value() {
    let (a, b, c) = (
        Origin::start("s1"),
        Origin::start("s2"),
        Origin::start("s3"),
    );
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "hdr(x-user)", &server_lines(&[&a, &b, &c], "")));
    let mut chosen = HashSet::new();
    for i in 0..20 {
        let user = format!("user-{i}");
        let first = get_with(fe, "/", &[("x-user", &user)]).served_by();
        for _ in 0..2 {
            let again = get_with(fe, &format!("/other{i}"), &[("x-user", &user)]).served_by();
            assert_eq!(again, first, "x-user {user} must stick");
        }
        chosen.insert(first);
    }
    assert!(chosen.len() >= 2, "20 header values all went to {chosen:?}");
}

#[test]
fn random_reaches_every_server() {
    let (a, b, c) = (
        Origin::start("s1"),
        Origin::start("s2"),
        Origin::start("s3"),
    );
    let fe = free_port();
    let _p = Proxy::start(&config(fe, "random", &server_lines(&[&a, &b, &c], "")));
    let seq: Vec<String> = (0..90).map(|_| get(fe, "/").served_by()).collect();
    let c = counts(&seq);
    for s in ["s1", "s2", "s3"] {
        assert!(
            c.get(s).copied().unwrap_or(0) >= 5,
            "{s} got too few of 90: {c:?}"
        );
    }
}

#[test]
fn backup_is_unused_while_a_normal_server_is_up() {
    let (a, bk) = (Origin::start("s1"), Origin::start("b1"));
    let fe = free_port();
    let servers = format!(
        "    server s1 {}\n    server b1 {} backup\n",
        a.addr(),
        bk.addr()
    );
    let _p = Proxy::start(&config(fe, "roundrobin", &servers));
    let seq: Vec<String> = (0..6).map(|_| get(fe, "/").served_by()).collect();
    assert!(seq.iter().all(|s| s == "s1"), "{seq:?}");
    assert_eq!(bk.requests(), 0);
}

#[test]
fn backup_serves_when_normal_servers_are_disabled() {
    let (a, bk) = (Origin::start("s1"), Origin::start("b1"));
    let fe = free_port();
    let servers = format!(
        "    server s1 {} disabled\n    server b1 {} backup\n",
        a.addr(),
        bk.addr()
    );
    let _p = Proxy::start(&config(fe, "roundrobin", &servers));
    let seq: Vec<String> = (0..4).map(|_| get(fe, "/").served_by()).collect();
    assert!(seq.iter().all(|s| s == "b1"), "{seq:?}");
    assert_eq!(a.requests(), 0);
}

#[test]
fn backup_serves_when_normal_servers_fail_checks() {
    let bk = Origin::start("b1");
    let (fe, dead) = (free_port(), free_port());
    let servers = format!(
        "    server s1 127.0.0.1:{dead} check inter 100ms fall 1 rise 1\n    server b1 {} backup\n",
        bk.addr()
    );
    let _p = Proxy::start(&config(fe, "roundrobin", &servers));
    // Once s1 is seen DOWN, every request goes to the backup.
    assert!(
        common::wait_until(Duration::from_secs(5), || get(fe, "/").served_by() == "b1"),
        "backup never took over"
    );
    let seq: Vec<String> = (0..4).map(|_| get(fe, "/").served_by()).collect();
    assert!(seq.iter().all(|s| s == "b1"), "{seq:?}");
}
