//! Active health checks: servers go DOWN after `fall` failures and UP after `rise`
//! successes, traffic follows, and each transition is logged.

mod common;

use common::{free_port, get_closed, Origin, Proxy, HTTP_DEFAULTS};
use std::time::Duration;

fn config(fe: u16, a: &Origin, b: &Origin, check: &str, server_opts: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    balance roundrobin
{check}
    server s1 {} {server_opts}
    server s2 {} {server_opts}
",
        a.addr(),
        b.addr()
    )
}

fn served(fe: u16, n: usize) -> Vec<String> {
    (0..n).map(|_| get_closed(fe, "/").served_by()).collect()
}

#[test]
fn tcp_check_marks_a_refusing_server_down_then_up() {
    let (mut a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let p = Proxy::start(&config(fe, &a, &b, "", "check inter 100ms fall 2 rise 2"));
    assert!(served(fe, 4).contains(&"s1".to_string()));

    a.pause();
    let down = p.wait_log(&["be/s1", "is DOWN"], Duration::from_secs(5));
    assert!(down.is_some(), "no DOWN log line:\n{}", p.output());
    let seq = served(fe, 6);
    assert!(
        seq.iter().all(|s| s == "s2"),
        "traffic avoids the DOWN server: {seq:?}"
    );

    a.resume();
    let up = p.wait_log(&["be/s1", "is UP"], Duration::from_secs(5));
    assert!(up.is_some(), "no UP log line:\n{}", p.output());
    let seq = served(fe, 6);
    assert!(seq.contains(&"s1".to_string()), "traffic returns: {seq:?}");
}

#[test]
fn httpchk_expect_status_marks_down_and_up() {
    let (a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    let p = Proxy::start(&config(
        fe,
        &a,
        &b,
        "    option httpchk GET /health\n    http-check expect status 200",
        "check inter 100ms fall 3 rise 2",
    ));
    // Checks arrive with the configured method and path.
    assert!(common::wait_until(Duration::from_secs(3), || a
        .seen()
        .iter()
        .any(|s| s.method == "GET" && s.target == "/health")));
    assert!(served(fe, 4).contains(&"s1".to_string()));

    a.force_status(500);
    let down = p.wait_log(&["be/s1", "is DOWN"], Duration::from_secs(5));
    assert!(down.is_some(), "no DOWN log line:\n{}", p.output());
    let line = down.unwrap();
    assert!(
        line.contains("Layer7"),
        "reason names the layer-7 failure: {line}"
    );
    // s1 answers 500 to everything now: only s2 may be chosen.
    let seq = served(fe, 6);
    assert!(seq.iter().all(|s| s == "s2"), "{seq:?}");

    a.force_status(0);
    let up = p.wait_log(&["be/s1", "is UP"], Duration::from_secs(5));
    assert!(up.is_some(), "no UP log line:\n{}", p.output());
    let seq = served(fe, 6);
    assert!(seq.contains(&"s1".to_string()), "{seq:?}");
}

#[test]
fn down_needs_fall_consecutive_failures() {
    let (mut a, b) = (Origin::start("s1"), Origin::start("s2"));
    let fe = free_port();
    // 1 s between checks and fall 3: at least ~2 s between the first failure and DOWN.
    let p = Proxy::start(&config(fe, &a, &b, "", "check inter 1s fall 3 rise 1"));
    a.pause();
    let start = std::time::Instant::now();
    assert!(
        p.wait_log(&["be/s1", "is DOWN"], Duration::from_millis(1500))
            .is_none(),
        "DOWN too early"
    );
    assert!(
        p.wait_log(&["be/s1", "is DOWN"], Duration::from_secs(5))
            .is_some(),
        "never DOWN:\n{}",
        p.output()
    );
    assert!(start.elapsed() >= Duration::from_millis(1500));
}
