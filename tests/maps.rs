//! Maps and ACL files at run time, end to end through the real binary with two
//! worker threads: routing by `map()`, CLI changes reaching both workers,
//! `http-request set-map` on one worker changing routing on all, ACL `-f` files with
//! `add acl`, CLI levels, errors, and a 100,000-line map.
//!
//! "Both workers": each check sends [`ROUNDS`] requests on fresh connections; the
//! kernel spreads connections over the two workers' listening sockets by a hash of
//! the client port, so a worker that missed an update answers wrongly with near
//! certainty (all 40 landing on one worker has probability 2^-39).

mod common;

use common::{cli, free_port, skip_unless_sluice, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

struct Setup {
    _proxy: Proxy,
    fe: u16,
    admin: PathBuf,
    oper: PathBuf,
    user: PathBuf,
    hosts: PathBuf,
    deny: PathBuf,
    _origins: Vec<Origin>,
    _dir: common::proxy::TempDir,
}

fn start(extra_hosts: &str) -> Setup {
    let (a, b, d) = (
        Origin::start("a"),
        Origin::start("b"),
        Origin::start("dflt"),
    );
    let dir = common::proxy::TempDir::new("maps");
    let hosts = dir.write(
        "hosts.map",
        &format!("# host backend\na.example be_a\nb.example be_b\n{extra_hosts}"),
    );
    let deny = dir.write("deny.lst", "# denied clients\nevil\n");
    let admin = dir.path().join("admin.sock");
    let oper = dir.path().join("oper.sock");
    let user = dir.path().join("user.sock");
    let fe = free_port();
    let global = format!(
        "global\n    nbthread 2\n    stats socket {} level admin\n    stats socket {} level operator\n    stats socket {} level user\n",
        admin.display(),
        oper.display(),
        user.display()
    );
    let cfg = format!(
        "{}
frontend fe
    bind 127.0.0.1:{fe}
    acl denied req.hdr(x-client) -f {deny}
    http-request deny if denied
    http-request set-map({hosts}) %[req.hdr(x-set-host)] %[req.hdr(x-set-be)] if {{ req.hdr(x-set-host) -m found }}
    http-request del-map({hosts}) %[req.hdr(x-del-host)] if {{ req.hdr(x-del-host) -m found }}
    use_backend %[req.hdr(host),lower,map({hosts},be_dflt)]
    default_backend be_dflt

backend be_a
    server a {}
backend be_b
    server b {}
backend be_dflt
    server d {}
",
        HTTP_DEFAULTS.replacen("global\n", &global, 1),
        a.addr(),
        b.addr(),
        d.addr(),
        deny = deny.display(),
        hosts = hosts.display(),
    );
    let proxy = Proxy::start(&cfg);
    assert!(common::wait_until(Duration::from_secs(5), || admin.exists()));
    Setup {
        _proxy: proxy,
        fe,
        admin,
        oper,
        user,
        hosts,
        deny,
        _origins: vec![a, b, d],
        _dir: dir,
    }
}

/// One request on a fresh connection: (status, origin that served it).
fn hit(fe: u16, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut h = vec![("host", host), ("connection", "close")];
    h.extend_from_slice(headers);
    let r = Conn::connect(fe)
        .request("GET", "/", &h, b"")
        .unwrap_or_else(|e| panic!("GET host {host}: {e}"));
    (r.status, r.served_by())
}

/// [`ROUNDS`] requests on fresh connections all go to `want`.
fn all_route(fe: u16, host: &str, want: &str) {
    for i in 0..ROUNDS {
        let (st, by) = hit(fe, host, &[]);
        assert_eq!((st, by.as_str()), (200, want), "request {i} for {host}");
    }
}

#[test]
fn map_routing_and_cli_changes_reach_both_workers() {
    if skip_unless_sluice("sluice's map store") {
        return;
    }
    let s = start("");
    let h = s.hosts.display().to_string();
    all_route(s.fe, "a.example", "a");
    all_route(s.fe, "B.Example", "b");
    all_route(s.fe, "other.example", "dflt");

    // show map: the list, then the entries with their ids.
    let list = cli(&s.admin, "show map\n");
    assert!(list.starts_with("# id (file) description\n"), "{list}");
    assert!(
        list.contains(&format!(
            "1 ({h}) pattern loaded from file '{h}' used by map at file"
        )),
        "{list}"
    );
    let entries = cli(&s.admin, &format!("show map {h}\n"));
    let lines: Vec<&str> = entries.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{entries}");
    assert!(
        lines[0].starts_with("0x") && lines[0].ends_with(" a.example be_a"),
        "{entries}"
    );
    assert_eq!(
        cli(&s.admin, "show map #1\n"),
        entries,
        "#<id> names the same map"
    );
    let got = cli(&s.user, &format!("get map {h} a.example\n"));
    assert_eq!(
        got,
        "type=str, case=sensitive, found=yes, idx=tree, key=\"a.example\", value=\"be_a\", type=\"str\"\n\n"
    );
    assert_eq!(
        cli(&s.user, &format!("get map {h} zzz\n")),
        "type=str, case=sensitive, found=no\n\n"
    );

    // set map: every worker routes a.example to be_b as soon as the command answers.
    assert_eq!(cli(&s.oper, &format!("set map {h} a.example be_b\n")), "\n");
    all_route(s.fe, "a.example", "b");
    // add map: a new host, on both workers.
    assert_eq!(
        cli(&s.admin, &format!("add map {h} c.example be_a\n")),
        "\n"
    );
    all_route(s.fe, "c.example", "a");
    // add map with a payload.
    assert_eq!(
        cli(
            &s.admin,
            &format!("add map {h} <<\nd.example be_b\ne.example be_a\n\n")
        ),
        "\n"
    );
    all_route(s.fe, "d.example", "b");
    all_route(s.fe, "e.example", "a");
    // A backend name that does not exist falls back to default_backend (HAProxy).
    assert_eq!(
        cli(&s.admin, &format!("set map {h} e.example nosuch\n")),
        "\n"
    );
    all_route(s.fe, "e.example", "dflt");
    // del map by key, then by #<ref> id.
    assert_eq!(cli(&s.admin, &format!("del map {h} c.example\n")), "\n");
    all_route(s.fe, "c.example", "dflt");
    let dump = cli(&s.admin, &format!("show map {h}\n"));
    let d_id = dump
        .lines()
        .find(|l| l.ends_with(" d.example be_b"))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    assert_eq!(cli(&s.admin, &format!("del map {h} #{d_id}\n")), "\n");
    all_route(s.fe, "d.example", "dflt");
    assert_eq!(
        cli(&s.admin, &format!("del map {h} c.example\n")),
        "Key not found.\n\n"
    );
    assert_eq!(
        cli(&s.admin, &format!("set map {h} nope be_a\n")),
        "Pattern not found.\n\n"
    );
    // clear map: everything goes to the default.
    assert_eq!(cli(&s.admin, &format!("clear map {h}\n")), "\n");
    all_route(s.fe, "b.example", "dflt");
    assert_eq!(cli(&s.admin, &format!("show map {h}\n")), "\n");
}

#[test]
fn set_map_action_on_one_worker_reaches_all() {
    if skip_unless_sluice("sluice's map store") {
        return;
    }
    let s = start("");
    all_route(s.fe, "new.example", "dflt");
    // One request sets the entry on whichever worker serves it.
    let (st, by) = hit(
        s.fe,
        "x",
        &[("x-set-host", "new.example"), ("x-set-be", "be_b")],
    );
    assert_eq!(
        (st, by.as_str()),
        (200, "dflt"),
        "the rule runs before routing, for x"
    );
    // The other worker applies it from its mailbox, within a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ok = (0..ROUNDS).all(|_| hit(s.fe, "new.example", &[]).1 == "b");
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "set-map did not reach every worker"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // An existing key is changed, not duplicated.
    hit(
        s.fe,
        "x",
        &[("x-set-host", "new.example"), ("x-set-be", "be_a")],
    );
    std::thread::sleep(Duration::from_millis(100));
    all_route(s.fe, "new.example", "a");
    let h = s.hosts.display().to_string();
    let dump = cli(&s.admin, &format!("show map {h}\n"));
    assert_eq!(dump.matches("new.example").count(), 1, "{dump}");
    // del-map removes it everywhere.
    hit(s.fe, "x", &[("x-del-host", "new.example")]);
    std::thread::sleep(Duration::from_millis(100));
    all_route(s.fe, "new.example", "dflt");
}

#[test]
fn acl_file_add_del_levels_and_errors() {
    if skip_unless_sluice("sluice's map store") {
        return;
    }
    let s = start("");
    let d = s.deny.display().to_string();
    let h = s.hosts.display().to_string();
    assert_eq!(hit(s.fe, "a.example", &[("x-client", "evil")]).0, 403);
    assert_eq!(hit(s.fe, "a.example", &[("x-client", "good")]).0, 200);
    let list = cli(&s.user, "show acl\n");
    assert!(
        list.contains(&format!(
            "0 ({d}) pattern loaded from file '{d}' used by acl"
        )),
        "{list}"
    );
    assert!(!list.contains("hosts.map"), "maps are not ACLs: {list}");
    assert_eq!(cli(&s.oper, &format!("add acl {d} good\n")), "\n");
    for _ in 0..ROUNDS {
        assert_eq!(hit(s.fe, "a.example", &[("x-client", "good")]).0, 403);
    }
    assert_eq!(
        cli(&s.user, &format!("get acl {d} good\n")),
        "type=str, case=sensitive, match=yes, idx=tree, pattern=\"good\"\n\n"
    );
    assert_eq!(cli(&s.oper, &format!("del acl {d} good\n")), "\n");
    for _ in 0..ROUNDS {
        assert_eq!(hit(s.fe, "a.example", &[("x-client", "good")]).0, 200);
    }
    // Levels: a user socket reads but does not change.
    for cmd in [
        format!("add acl {d} x"),
        format!("del acl {d} evil"),
        format!("clear acl {d}"),
        format!("set map {h} a.example be_b"),
        format!("add map {h} z be_b"),
        format!("del map {h} a.example"),
        format!("clear map {h}"),
    ] {
        assert_eq!(
            cli(&s.user, &format!("{cmd}\n")),
            "Permission denied\n\n",
            "{cmd}"
        );
    }
    assert_eq!(hit(s.fe, "a.example", &[("x-client", "evil")]).0, 403);
    all_route(s.fe, "a.example", "a");
    // Unknown identifiers, and a map is not an ACL.
    assert_eq!(
        cli(&s.admin, "show map /nope\n"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
    assert_eq!(
        cli(&s.admin, "add map #7 a b\n"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
    assert_eq!(
        cli(&s.admin, &format!("show acl {h}\n")),
        "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
    );
    assert!(cli(&s.admin, &format!("add map @1 {h} k be_a\n")).contains("not supported"));
    // Bad arguments change nothing.
    assert!(cli(&s.admin, &format!("add map {h} onlykey\n")).contains("expects three parameters"));
    assert!(cli(&s.admin, &format!("add map {h} <<\nk1 be_a\nk2\n\n"))
        .contains("expects three parameters"));
    assert!(!cli(&s.admin, &format!("show map {h}\n")).contains("k1"));
}

#[test]
fn bad_map_file_line_is_a_config_error() {
    let dir = common::proxy::TempDir::new("mapsbad");
    let m = dir.write("nets.map", "10.0.0.0/8 a\n10.0.0.300 b\n");
    let fe = free_port();
    let cfg = format!(
        "{HTTP_DEFAULTS}\nfrontend fe\n    bind 127.0.0.1:{fe}\n    http-request set-header x-net %[src,map_ip({})]\n    default_backend be\nbackend be\n    server s 127.0.0.1:1\n",
        m.display()
    );
    let cfgf = dir.write("t.cfg", &cfg);
    let out = common::proxy::run(
        &["-c", "-f", &cfgf.display().to_string()],
        &[],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("t.cfg:"), "{err}");
    assert!(err.contains("nets.map:2"), "{err}");
    assert!(err.contains("10.0.0.300"), "{err}");
}

#[test]
fn hundred_thousand_line_map_loads() {
    if skip_unless_sluice("sluice's map store") {
        return;
    }
    let mut extra = String::with_capacity(3_000_000);
    for i in 0..100_000 {
        extra.push_str(&format!(
            "h{i}.example be_{}\n",
            if i % 2 == 0 { "a" } else { "b" }
        ));
    }
    let t = Instant::now();
    let s = start(&extra);
    let took = t.elapsed();
    eprintln!("started with a 100,002-entry map in {took:?}");
    let list = cli(&s.admin, "show map\n");
    assert!(list.contains("entry_cnt=100002"), "{list}");
    all_route(s.fe, "h99999.example", "b");
    all_route(s.fe, "h50000.example", "a");
    let h = s.hosts.display().to_string();
    assert_eq!(
        cli(&s.admin, &format!("set map {h} h99999.example be_a\n")),
        "\n"
    );
    all_route(s.fe, "h99999.example", "a");
    let dump = cli(&s.admin, &format!("show map {h}\n"));
    let n = dump.lines().filter(|l| l.starts_with("0x")).count();
    assert_eq!(n, 100_002, "one line per entry");
}

#[test]
fn concurrent_set_map_from_both_workers_converges() {
    if skip_unless_sluice("sluice's map store") {
        return;
    }
    let s = start("");
    let fe = s.fe;
    // Eight clients race to create and change the same key from both workers.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..25 {
                    let be = if (t + i) % 2 == 0 { "be_a" } else { "be_b" };
                    hit(fe, "x", &[("x-set-host", "race.example"), ("x-set-be", be)]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    // Every worker holds the same single entry: all requests agree.
    let first = hit(fe, "race.example", &[]).1;
    assert!(first == "a" || first == "b", "{first}");
    all_route(fe, "race.example", &first);
    let h = s.hosts.display().to_string();
    let dump = cli(&s.admin, &format!("show map {h}\n"));
    assert_eq!(dump.matches("race.example").count(), 1, "{dump}");
    let dc = cli(&s.admin, "debug counters\n");
    assert!(
        dc.contains("0          CNT dataplane/src/maps/mod.rs deliver()"),
        "no update lost: {dc}"
    );
}
