//! `stats …` lines in proxy sections: the stats page's settings and their errors.

use std::time::Duration;

use super::{expect_err, load};
use crate::model::{DEFAULT_STATS_REALM, DEFAULT_STATS_URI};

const HEAD: &str =
    "defaults\n  mode http\n  timeout client 5s\n  timeout connect 5s\n  timeout server 5s\n";

#[test]
fn stats_enable_gives_haproxy_defaults() {
    let l = load(&format!(
        "{HEAD}listen st\n  bind :8404\n  stats enable\n  server s 127.0.0.1:1\n"
    ));
    let fe = l.config.frontend("st").unwrap();
    let p = fe.stats.as_ref().expect("stats page");
    assert_eq!(p.uri, DEFAULT_STATS_URI);
    assert_eq!(p.realm, DEFAULT_STATS_REALM);
    assert!(p.auth.is_empty() && p.admin.is_none() && p.refresh.is_none());
    assert!(!p.hide_version && !p.show_legends);
    assert_eq!(p.location.line, 8);
    assert!(l.config.backend("st").unwrap().stats.is_some());
}

#[test]
fn every_stats_keyword_enables_and_sets() {
    let l = load(&format!(
        "{HEAD}frontend st\n  bind :8404\n  stats uri /stats\n  stats refresh 10s\n  \
         stats auth admin:s3cret\n  stats auth ops:x:y\n  stats realm Haproxy\\ Stats\n  \
         stats admin if LOCALHOST\n  stats hide-version\n  stats show-legends\n"
    ));
    let fe = l.config.frontend("st").unwrap();
    let p = fe.stats.as_ref().expect("stats page");
    assert_eq!(p.uri, "/stats");
    assert_eq!(p.refresh, Some(Duration::from_secs(10)));
    assert_eq!(
        p.auth,
        vec![
            ("admin".to_string(), "s3cret".to_string()),
            ("ops".to_string(), "x:y".to_string())
        ]
    );
    assert_eq!(p.realm, "Haproxy Stats");
    assert!(p.admin.is_some() && p.hide_version && p.show_legends);
    assert!(p.admin_acls.iter().any(|a| a.name == "LOCALHOST"));
    // A stats-only frontend is not warned about its missing backend.
    assert!(
        !l.diagnostics.iter().any(|d| d.message.contains("503")),
        "{:?}",
        l.diagnostics
    );
    let l = load(&format!(
        "{HEAD}backend b\n  stats auth a:b\n  server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        l.config
            .backend("b")
            .unwrap()
            .stats
            .as_ref()
            .unwrap()
            .auth
            .len(),
        1
    );
}

#[test]
fn defaults_stats_are_inherited_with_their_acls() {
    let l = load(&format!(
        "{HEAD}  stats uri /s\n  stats admin if TRUE\nbackend b\n  acl x path /x\n  \
         server s 127.0.0.1:1\nbackend c\n  stats realm R\n  server s 127.0.0.1:1\n"
    ));
    let b = l.config.backend("b").unwrap().stats.as_ref().unwrap();
    assert_eq!(b.uri, "/s");
    assert!(b.admin_acls.iter().any(|a| a.name == "TRUE"));
    let c = l.config.backend("c").unwrap().stats.as_ref().unwrap();
    assert_eq!((c.uri.as_str(), c.realm.as_str()), ("/s", "R"));
}

#[test]
fn stats_errors_name_the_line_and_keyword() {
    let fe = |line: &str| format!("{HEAD}frontend f\n  bind :1\n  {line}\n");
    expect_err(&fe("stats"), 8, "stats", "expects a keyword");
    expect_err(&fe("stats enabled"), 8, "stats", "did you mean 'enable'?");
    expect_err(&fe("stats enable now"), 8, "stats enable", "stats enable");
    expect_err(&fe("stats uri"), 8, "stats uri", "stats uri <prefix>");
    expect_err(&fe("stats uri stats"), 8, "stats uri", "starting with '/'");
    expect_err(
        &fe("stats auth admin"),
        8,
        "stats auth",
        "<user>:<password>",
    );
    expect_err(&fe("stats auth :pw"), 8, "stats auth", "<user>:<password>");
    expect_err(
        &fe("stats refresh soon"),
        8,
        "stats refresh",
        "invalid time",
    );
    expect_err(
        &fe("stats refresh 100ms"),
        8,
        "stats refresh",
        "below one second",
    );
    expect_err(&fe("stats admin"), 8, "stats admin", "if | unless");
    expect_err(
        &fe("stats admin when TRUE"),
        8,
        "stats admin",
        "'if' or 'unless'",
    );
    expect_err(
        &fe("stats admin if nosuchacl"),
        8,
        "stats admin",
        "nosuchacl",
    );
    expect_err(&fe("stats scope be"), 8, "stats scope", "every proxy");
    expect_err(&fe("stats socket /x"), 8, "stats socket", "global section");
    expect_err(&fe("stats realm a\\\"b"), 8, "stats realm", "double quotes");
    // A TCP proxy cannot serve the page; inheriting it from defaults is not an error.
    expect_err(
        "listen l\n  mode tcp\n  bind :1\n  stats enable\n  server s 127.0.0.1:1\n",
        4,
        "stats",
        "needs 'mode http'",
    );
    let l = load(&format!(
        "{HEAD}  stats enable\nlisten l\n  mode tcp\n  bind :1\n  server s 127.0.0.1:1\n"
    ));
    assert!(l.config.frontend("l").unwrap().stats.is_none());
}
