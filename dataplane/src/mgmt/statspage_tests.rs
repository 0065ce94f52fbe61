//! Unit tests of the stats page: one table per proxy with its rows and states,
//! escaping of every name, the admin form only with admin rights, the refresh
//! meta, the status banner, and the CSV export equal to `show stat`'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::proxy::stats::WorkerStats;

fn shared(cfg: &str) -> Arc<Shared> {
    let cfg = appliance_config::load_str("t.cfg", cfg).unwrap().config;
    Shared::new(cfg, 100, 2, false)
}

const CFG: &str = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
    frontend fe\n bind 127.0.0.1:1\n default_backend web\n\
    listen st\n bind 127.0.0.1:2\n stats uri /stats\n stats refresh 5s\n stats admin if TRUE\n\
    backend web\n server a 127.0.0.1:8001 check\n server b 127.0.0.1:8002\n server c 127.0.0.1:8003\n";

fn totals(sh: &Shared) -> WorkerStats {
    let per: Vec<usize> = sh.config.backends.iter().map(|b| b.servers.len()).collect();
    WorkerStats::new(sh.config.frontends.len(), &per)
}

fn page(sh: &Shared, admin: bool, flags: PageFlags) -> String {
    let p = sh.config.frontend("st").unwrap().stats.clone().unwrap();
    render_html(
        sh,
        &totals(sh),
        &View {
            page: &p,
            flags,
            admin,
            version: "1.2.3",
            pid: 42,
            now: Instant::now(),
        },
    )
}

#[test]
fn every_proxy_and_server_has_a_row_with_its_state() {
    let sh = shared(CFG);
    let web = sh.config.backend_index("web").unwrap();
    sh.servers[web][1].set_admin(true, false);
    sh.servers[web][2].set_admin(false, true);
    let h = page(&sh, false, PageFlags::default());
    for (px, name, status, class) in [
        ("fe", "FRONTEND", "OPEN", "frontend"),
        ("st", "FRONTEND", "OPEN", "frontend"),
        ("st", "BACKEND", "UP", "backend"),
        ("web", "a", "UP", "up"),
        ("web", "b", "MAINT", "maint"),
        ("web", "c", "DRAIN", "drain"),
        ("web", "BACKEND", "UP", "backend"),
    ] {
        let row = format!(
            "<tr class=\"{class}\" data-proxy=\"{px}\" data-name=\"{name}\" data-status=\"{status}\">"
        );
        assert!(h.contains(&row), "missing {row} in\n{h}");
    }
    assert_eq!(h.matches("<table class=\"px\"").count(), 3, "{h}");
    assert!(h.contains("pid = 42 (process #1, nbthread = 2)"), "{h}");
    assert!(h.contains("sluice 1.2.3"), "{h}");
    assert!(
        h.contains("<meta http-equiv=\"refresh\" content=\"5\">"),
        "{h}"
    );
    // Unchecked servers say so.
    sh.servers[web][1].set_admin(false, false);
    let h = page(&sh, false, PageFlags::default());
    assert!(
        h.contains("data-name=\"b\" data-status=\"no check\""),
        "{h}"
    );
    // Down.
    sh.servers[web][0].up.store(false, Ordering::Relaxed);
    let h = page(&sh, false, PageFlags::default());
    assert!(
        h.contains("<tr class=\"down\" data-proxy=\"web\" data-name=\"a\" data-status=\"DOWN\">"),
        "{h}"
    );
}

#[test]
fn admin_form_only_with_admin_rights() {
    let sh = shared(CFG);
    let h = page(&sh, false, PageFlags::default());
    assert!(!h.contains("<form"), "{h}");
    let h = page(&sh, true, PageFlags::default());
    // One form: the backend with servers (the listen has none).
    assert_eq!(
        h.matches("<form method=\"post\" action=\"/stats\">")
            .count(),
        1,
        "{h}"
    );
    let web_id = sh.config.backend("web").unwrap().id;
    assert!(
        h.contains(&format!(
            "<input type=\"hidden\" name=\"b\" value=\"#{web_id}\">"
        )),
        "{h}"
    );
    for s in ["a", "b", "c"] {
        assert!(
            h.contains(&format!(
                "<input type=\"checkbox\" name=\"s\" value=\"{s}\">"
            )),
            "{h}"
        );
    }
    for a in ["ready", "drain", "maint"] {
        assert!(h.contains(&format!("<option value=\"{a}\">")), "{h}");
    }
}

#[test]
fn names_and_texts_are_escaped() {
    // Configuration names are restricted to safe characters; what is not (the
    // version string, anything from a request) goes through `escape`.
    let cfg = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
        listen st\n bind 127.0.0.1:2\n stats enable\n stats admin if TRUE\n\
        backend b.x:y-z_1\n server s.1:a-b_c 127.0.0.1:8001\n";
    let sh = shared(cfg);
    let p = sh.config.frontend("st").unwrap().stats.clone().unwrap();
    let h = render_html(
        &sh,
        &totals(&sh),
        &View {
            page: &p,
            flags: PageFlags::default(),
            admin: true,
            version: "<script>alert(1)</script>",
            pid: 1,
            now: Instant::now(),
        },
    );
    assert!(!h.contains("<script>"), "{h}");
    assert!(
        h.contains("sluice &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{h}"
    );
    assert!(
        h.contains("data-proxy=\"b.x:y-z_1\" data-name=\"s.1:a-b_c\""),
        "{h}"
    );
    assert_eq!(escape("a<>&\"'b"), "a&lt;&gt;&amp;&quot;&#39;b");
}

#[test]
fn hide_version_norefresh_and_banner() {
    let cfg = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
        listen st\n bind 127.0.0.1:2\n stats hide-version\n stats refresh 10s\n stats show-legends\n server s 127.0.0.1:1\n";
    let sh = shared(cfg);
    let flags = PageFlags::parse(";norefresh;st=DONE");
    assert!(flags.norefresh && !flags.csv && flags.status == Some(Status::Done));
    let h = page(&sh, false, flags);
    assert!(!h.contains("1.2.3"), "{h}");
    assert!(!h.contains("http-equiv=\"refresh\""), "{h}");
    assert!(h.contains("Action processed successfully."), "{h}");
    assert!(h.contains("class=\"legend\""), "{h}");
    assert!(
        h.contains("href=\"/haproxy?stats;norefresh\">Refresh now"),
        "{h}"
    );
    let h = page(&sh, false, PageFlags::parse(";st=DENY"));
    assert!(
        h.contains("data-status=\"DENY\"") && h.contains("Action denied"),
        "{h}"
    );
    assert!(PageFlags::parse(";csv").csv);
    assert_eq!(PageFlags::parse(";st=BOGUS").status, None);
}

#[test]
fn csv_is_show_stat() {
    let sh = shared(CFG);
    let csv = render_csv(&sh, &totals(&sh));
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), format!("# {},", stat::COLUMNS));
    let names: Vec<(String, String)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), stat::COLUMNS.split(',').count() + 1, "{l}");
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let want = [
        ("fe", "FRONTEND"),
        ("st", "FRONTEND"),
        ("st", "BACKEND"),
        ("web", "a"),
        ("web", "b"),
        ("web", "c"),
        ("web", "BACKEND"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(names, want);
}
