//! Process model: several threads serving under concurrency; stopping on signals.

mod common;

use common::{free_port, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::thread;
use std::time::{Duration, Instant};

fn config(fe: u16, o: &Origin, global: &str) -> String {
    let defaults = HTTP_DEFAULTS.replacen("global\n", &format!("global\n{global}"), 1);
    format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 {}
",
        o.addr()
    )
}

#[test]
fn two_threads_answer_many_concurrent_connections() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, "    nbthread 2\n"));
    const CLIENTS: usize = 64;
    const PER_CLIENT: usize = 10;
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut conn = Conn::connect(fe);
                for r in 0..PER_CLIENT {
                    let target = format!("/c{c}/r{r}");
                    let resp = conn
                        .get(&target)
                        .unwrap_or_else(|e| panic!("{target}: {e}"));
                    assert_eq!(resp.status, 200, "{target}");
                    assert_eq!(
                        resp.header("x-target"),
                        Some(target.as_str()),
                        "answer for its own request"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    assert_eq!(o.requests(), CLIENTS * PER_CLIENT);
}

#[test]
fn sigterm_stops_promptly_even_with_open_connections() {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut p = Proxy::start(&config(fe, &o, ""));
    let mut idle = Conn::connect(fe);
    assert_eq!(idle.get("/").unwrap().status, 200);
    let _busy = thread::spawn(move || {
        let _ = Conn::connect(fe).get("/delay/5000/busy");
    });
    assert!(common::wait_until(Duration::from_secs(3), || o.requests() == 2));
    let start = Instant::now();
    p.signal(libc::SIGTERM);
    let status = p.wait_exit(Duration::from_secs(3));
    assert!(status.is_some(), "still running 3 s after SIGTERM");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        idle.closed_within(Duration::from_secs(2)),
        "client connections closed"
    );
    assert!(
        !common::proxy::listening_ports().contains(&fe),
        "listener gone"
    );
}

#[test]
fn sigusr1_soft_stop_finishes_in_flight_requests() {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut p = Proxy::start(&config(fe, &o, ""));
    let slow = thread::spawn(move || Conn::connect(fe).get("/delay/800/in-flight"));
    assert!(common::wait_until(Duration::from_secs(3), || o.requests() == 1));
    p.signal(libc::SIGUSR1);
    // The listener goes away at once...
    assert!(
        common::wait_until(Duration::from_secs(2), || !common::proxy::listening_ports()
            .contains(&fe)),
        "still listening after SIGUSR1"
    );
    // ...the request in flight completes...
    let r = slow.join().unwrap().expect("in-flight request answered");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-target"), Some("/delay/800/in-flight"));
    // ...and then the process exits.
    assert!(
        p.wait_exit(Duration::from_secs(5)).is_some(),
        "did not exit after soft stop"
    );
}
