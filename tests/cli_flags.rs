//! Command-line flags: versions, condition checks, and the embedded default
//! configuration (sluice only).

mod common;

use common::proxy::{listening_ports, run};
use common::{skip_unless_sluice, Proxy};
use std::time::Duration;

fn stdout_of(args: &[&str]) -> (bool, String) {
    let out = run(args, &[], Duration::from_secs(10));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn dash_v_prints_a_version() {
    let (ok, text) = stdout_of(&["-v"]);
    assert!(ok, "{text}");
    assert!(text.contains("version"), "{text}");
    if !skip_unless_sluice("sluice's version string") {
        assert!(text.to_lowercase().contains("sluice"), "{text}");
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    }
}

#[test]
fn dash_vv_prints_build_options_and_features() {
    let (ok, text) = stdout_of(&["-vv"]);
    assert!(ok, "{text}");
    assert!(text.contains("version"), "{text}");
    // HAProxy's headings, kept so scripts that grep `-vv` keep working.
    assert!(text.contains("Build options"), "{text}");
    assert!(text.contains("Feature list"), "{text}");
    if !skip_unless_sluice("sluice's -vv content") {
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
        assert!(text.contains("epoll"), "names its I/O modes: {text}");
    }
}

#[test]
fn dash_cc_evaluates_conditions() {
    let ok = |args: &[&str]| run(args, &[], Duration::from_secs(10)).status.success();
    assert!(ok(&["-cc", "version_atleast(2.0)"]));
    assert!(!ok(&["-cc", "version_atleast(99.0)"]));
    assert!(!ok(&["-cc", "defined(SLUICE_E2E_NOPE_NOT_SET)"]));
    let out = run(
        &["-cc", "defined(SLUICE_E2E_SET)"],
        &[("SLUICE_E2E_SET", "1")],
        Duration::from_secs(10),
    );
    assert!(out.status.success());
}

#[test]
fn no_config_starts_the_embedded_default() {
    if skip_unless_sluice("embedded default configuration") {
        return;
    }
    if listening_ports().contains(&8080) || std::net::TcpListener::bind("127.0.0.1:8080").is_err() {
        println!("skipped: port 8080 is busy");
        return;
    }
    let _p = Proxy::start_args(&["-db"], &[8080]).unwrap_or_else(|e| panic!("{e}"));
    let r = common::get(8080, "/");
    assert!(
        (200..600).contains(&r.status),
        "an HTTP answer through the proxy: {:?}",
        r.head
    );
}

#[test]
fn dash_d_traces_requests_and_responses_on_stderr() {
    // HAProxy's debug mode prints each request and response head, prefixed with
    // the session id and proxy name (`.clireq`, `.clihdr`, `.srvrep`, `.srvhdr`).
    let o = common::Origin::start("s1");
    let fe = common::free_port();
    let p = Proxy::start_with(
        &format!(
            "{}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    server s1 {}
",
            common::HTTP_DEFAULTS,
            o.addr()
        ),
        &["-d"],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(common::get(fe, "/traced").status, 200);
    let line = p.wait_log(
        &["fe.clireq", "GET /traced HTTP/1.1"],
        Duration::from_secs(5),
    );
    assert!(line.is_some(), "{}", p.output());
    assert!(
        p.wait_log(&["be.srvrep", "HTTP/1.1 200"], Duration::from_secs(5))
            .is_some(),
        "{}",
        p.output()
    );
    assert!(p.output().contains("fe.accept("), "{}", p.output());
}
