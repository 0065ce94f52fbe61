//! Server queues (maxconn, timeout queue) and connection retries / redispatch.

mod common;

use common::{free_port, get, Origin, Proxy, HTTP_DEFAULTS};
use std::thread;
use std::time::{Duration, Instant};

fn config(fe: u16, backend: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
{backend}"
    )
}

#[test]
fn maxconn_queues_requests_and_serves_them_in_order() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(
        fe,
        &format!("    server s1 {} maxconn 1\n", o.addr()),
    ));
    let start = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            // Staggered so the arrival order is known.
            thread::sleep(Duration::from_millis(60));
            thread::spawn(move || get(fe, &format!("/delay/250/q{i}")))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "4 x 250 ms served one at a time"
    );
    assert_eq!(o.max_in_flight(), 1, "server maxconn 1 respected");
    let order: Vec<String> = o.seen().iter().map(|s| s.target.clone()).collect();
    let want: Vec<String> = (0..4).map(|i| format!("/delay/250/q{i}")).collect();
    assert_eq!(order, want, "queue is FIFO");
}

#[test]
fn timeout_queue_answers_503() {
    let o = Origin::start("s1");
    let fe = free_port();
    let p = Proxy::start(&config(
        fe,
        &format!(
            "    timeout queue 200ms\n    server s1 {} maxconn 1\n",
            o.addr()
        ),
    ));
    let slow = thread::spawn(move || get(fe, "/delay/1500/slow"));
    assert!(common::wait_until(Duration::from_secs(3), || o.requests() == 1));
    let start = Instant::now();
    let r = get(fe, "/queued");
    let took = start.elapsed();
    assert_eq!(r.status, 503);
    assert!(
        r.body_str().contains("<h1>503 Service Unavailable</h1>"),
        "{}",
        r.body_str()
    );
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_millis(1200),
        "after {took:?}"
    );
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(
        o.requests(),
        1,
        "the queued request never reached the server"
    );
    let line = p.wait_log(&["/queued", " 503 "], Duration::from_secs(2));
    assert!(
        line.as_deref().is_some_and(|l| l.contains(" sQ")),
        "log: {line:?}\n{}",
        p.output()
    );
}

#[test]
fn redispatch_after_connection_refused() {
    let o = Origin::start("s1");
    let (fe, dead) = (free_port(), free_port());
    let _p = Proxy::start(&config(
        fe,
        &format!(
            "    balance roundrobin
    retries 2
    option redispatch
    server dead 127.0.0.1:{dead}
    server s1 {}
",
            o.addr()
        ),
    ));
    for i in 0..6 {
        let r = get(fe, &format!("/r{i}"));
        assert_eq!(r.status, 200, "request {i} redispatched to the live server");
        assert_eq!(r.served_by(), "s1");
    }
    assert_eq!(o.requests(), 6);
}

#[test]
fn all_servers_refusing_is_a_503() {
    let (fe, d1, d2) = (free_port(), free_port(), free_port());
    let p = Proxy::start(&config(
        fe,
        &format!(
            "    retries 1
    option redispatch
    server d1 127.0.0.1:{d1}
    server d2 127.0.0.1:{d2}
"
        ),
    ));
    let r = get(fe, "/nobody");
    assert_eq!(r.status, 503);
    assert!(
        r.body_str().contains("<h1>503 Service Unavailable</h1>"),
        "{}",
        r.body_str()
    );
    let line = p.wait_log(&["/nobody", " 503 "], Duration::from_secs(2));
    assert!(
        line.as_deref().is_some_and(|l| l.contains(" SC")),
        "log: {line:?}\n{}",
        p.output()
    );
}
