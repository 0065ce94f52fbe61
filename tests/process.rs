//! The process model from the outside: soft reload (`-sf`/`-st`), soft and hard stop,
//! daemon mode and pidfiles, bind failures, privilege drop, CPU pinning and `maxconn`.

mod common;

use common::client::build_request;
use common::proxy::{listening_ports, run, TempDir};
use common::{free_port, skip_unless_sluice, wait_until, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

/// An HTTP proxy on `fe` in front of `o`, tagging its answers with `x-proxy: <tag>`.
fn config(fe: u16, o: &Origin, tag: &str, global: &str) -> String {
    let defaults = HTTP_DEFAULTS.replacen("global\n", &format!("global\n{global}"), 1);
    format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    http-response set-header x-proxy {tag}
    default_backend be

backend be
    server s1 {}
",
        o.addr()
    )
}

/// Socket inodes of the TCP sockets listening on `port`, host-wide.
fn listening_inodes(port: u16) -> Vec<String> {
    let mut v = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in fs::read_to_string(f).unwrap_or_default().lines().skip(1) {
            let c: Vec<&str> = line.split_whitespace().collect();
            if c.len() > 9
                && c[3] == "0A"
                && c[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
            {
                v.push(c[9].to_string());
            }
        }
    }
    v
}

/// True if process `pid` holds a socket listening on `port`.
fn listens(pid: i32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|e| {
        fs::read_link(e.path())
            .map(|l| {
                let l = l.to_string_lossy();
                inodes.iter().any(|i| l == format!("socket:[{i}]"))
            })
            .unwrap_or(false)
    })
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// A process we started but do not own as a child (a daemon): killed by pid on drop.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: kill(2) on the pid of the daemon this test launched.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// One request on a fresh `connection: close` connection.
fn try_get(port: u16, target: &str) -> io::Result<common::Response> {
    Conn::try_connect(port)?.request("GET", target, &[("connection", "close")], b"")
}

/// Sends requests one after another until `done` or `limit`; returns every answer
/// (or error) with the tag of the proxy that answered.
fn requests_across(
    fe: u16,
    limit: Duration,
    mut done: impl FnMut(&[Result<String, io::Error>]) -> bool,
) -> Vec<Result<String, io::Error>> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut n = 0;
    while !done(&out) && Instant::now() < deadline {
        n += 1;
        out.push(try_get(fe, &format!("/switch/{n}")).and_then(|r| {
            if r.status == 200 {
                Ok(r.header("x-proxy").unwrap_or("").to_string())
            } else {
                Err(io::Error::other(format!("status {}", r.status)))
            }
        }));
        thread::sleep(Duration::from_millis(5));
    }
    out
}

#[test]
fn sf_soft_reload_hands_over_and_finishes_in_flight_requests() {
    sf_handover(false);
}

#[test]
fn sf_soft_reload_loses_no_request() {
    sf_handover(true);
}

/// `-sf`: B starts on A's port, A stops accepting, finishes its slow request and
/// exits 0; B serves. Requests sent one after another across the switch are never
/// refused. With `strict`, the connections queued in A's listener when the stop
/// arrives are served too (A drains its accept queue before closing): at most one
/// connection may be reset, the one a SYN can still put in A's queue in the
/// microseconds between its last accept and its close — a kernel race that HAProxy
/// 2.6 without `-x` loses the same way (only `net.ipv4.tcp_migrate_req` or socket
/// passing closes it).
fn sf_handover(strict: bool) {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut a = Proxy::start(&config(fe, &o, "A", ""));
    let apid = a.pid();
    assert_eq!(try_get(fe, "/before").unwrap().header("x-proxy"), Some("A"));

    let slow = thread::spawn(move || {
        let r = try_get(fe, "/delay/2000/slow");
        (r, Instant::now())
    });
    assert!(wait_until(Duration::from_secs(3), || o.requests() == 2));

    let b = Proxy::start_with(&config(fe, &o, "B", ""), &["-sf", &apid.to_string()], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    // New requests keep being served while B takes over.
    let answers = requests_across(fe, Duration::from_secs(5), |done| {
        done.iter()
            .filter(|r| matches!(r, Ok(t) if t == "B"))
            .count()
            >= 20
            && !listens(apid, fe)
    });
    let refused: Vec<_> = answers
        .iter()
        .filter(|r| matches!(r, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused))
        .collect();
    assert!(
        refused.is_empty(),
        "requests refused across the switch: {refused:?} (of {})",
        answers.len()
    );
    if strict {
        let failed: Vec<_> = answers.iter().filter(|r| r.is_err()).collect();
        assert!(
            failed.len() <= 1,
            "more than the one racing connection failed: {failed:?} (of {})",
            answers.len()
        );
    }
    assert!(
        answers.iter().any(|r| matches!(r, Ok(t) if t == "B")),
        "B never answered: {answers:?}\nB output:\n{}",
        b.output()
    );
    // A stopped accepting but is still there: its slow request is not finished.
    assert!(
        wait_until(Duration::from_secs(2), || !listens(apid, fe)),
        "A still listening after -sf"
    );
    assert!(
        a.wait_exit(Duration::ZERO).is_none(),
        "A exited before its in-flight request completed"
    );
    let (slow, finished) = slow.join().unwrap();
    let slow = slow.expect("in-flight request answered");
    assert_eq!(slow.status, 200);
    assert_eq!(slow.header("x-proxy"), Some("A"));
    assert_eq!(slow.header("x-target"), Some("/delay/2000/slow"));
    let st = a
        .wait_exit(Duration::from_secs(5))
        .expect("A did not exit after its last session");
    assert!(st.success(), "A exit status {st}");
    assert!(finished.elapsed() < Duration::from_secs(5));
    for n in 0..5 {
        let r = try_get(fe, &format!("/after/{n}")).expect("B serves");
        assert_eq!((r.status, r.header("x-proxy")), (200, Some("B")));
    }
}

#[test]
fn st_hard_reload_terminates_the_old_process_promptly() {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut a = Proxy::start(&config(fe, &o, "A", ""));
    let apid = a.pid();
    let slow = thread::spawn(move || try_get(fe, "/delay/5000/slow"));
    assert!(wait_until(Duration::from_secs(3), || o.requests() == 1));
    let start = Instant::now();
    let b = Proxy::start_with(&config(fe, &o, "B", ""), &["-st", &apid.to_string()], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let answers = requests_across(fe, Duration::from_secs(4), |_| {
        a.wait_exit(Duration::ZERO).is_some()
    });
    assert!(
        a.wait_exit(Duration::ZERO).is_some(),
        "A still running {:?} after -st",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "A took {:?} to exit",
        start.elapsed()
    );
    // No connection is ever refused: B listens before A is told to go. (A request A
    // had accepted when it was killed may be cut, which is what -st means.)
    let refused: Vec<_> = answers
        .iter()
        .filter(|r| matches!(r, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused))
        .collect();
    assert!(refused.is_empty(), "refused during -st: {refused:?}");
    // The slow request was cut, well before its 5 s.
    let cut = slow.join().unwrap();
    assert!(cut.is_err(), "slow request answered after -st: {:?}", cut);
    for n in 0..5 {
        let r = try_get(fe, &format!("/after/{n}")).expect("B serves");
        assert_eq!(
            (r.status, r.header("x-proxy")),
            (200, Some("B")),
            "{}",
            b.output()
        );
    }
}

#[test]
fn sigusr1_soft_stop_closes_listener_finishes_session_exits_zero() {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut p = Proxy::start(&config(fe, &o, "A", ""));
    let slow = thread::spawn(move || (try_get(fe, "/delay/1500/slow"), Instant::now()));
    assert!(wait_until(Duration::from_secs(3), || o.requests() == 1));
    p.signal(libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(2), || !listening_ports().contains(&fe)),
        "still listening after SIGUSR1"
    );
    // Nobody listens: a new connection is refused, and the old process is still busy.
    let e = Conn::try_connect(fe)
        .err()
        .expect("connect refused after SIGUSR1");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert!(p.wait_exit(Duration::ZERO).is_none(), "exited too early");
    let (r, finished) = slow.join().unwrap();
    let r = r.expect("in-flight request answered");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-target"), Some("/delay/1500/slow"));
    let st = p
        .wait_exit(Duration::from_secs(5))
        .expect("exit after soft stop");
    assert!(st.success(), "exit status {st}");
    assert!(finished.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigterm_hard_stop_exits_promptly() {
    let o = Origin::start("s1");
    let fe = free_port();
    let mut p = Proxy::start(&config(fe, &o, "A", ""));
    let slow = thread::spawn(move || try_get(fe, "/delay/5000/slow"));
    assert!(wait_until(Duration::from_secs(3), || o.requests() == 1));
    let start = Instant::now();
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit(Duration::from_secs(3)).is_some(),
        "still running 3 s after SIGTERM"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(slow.join().unwrap().is_err(), "in-flight request is cut");
    assert!(Conn::try_connect(fe).is_err(), "nothing listens any more");
}

/// Launches the binary detached (`args` include `-D` or a `daemon` config) and
/// returns the daemon's pid from `pidfile`, checking the launcher exited 0 promptly
/// with the service already up.
fn launch_daemon(args: &[&str], pidfile: &std::path::Path, fe: u16) -> Daemon {
    let start = Instant::now();
    let out = run(args, &[], Duration::from_secs(10));
    let took = start.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "launcher: {} {text}", out.status);
    assert!(took < Duration::from_secs(5), "launcher took {took:?}");
    // When the launcher has returned, the pidfile exists and the port listens.
    let pid: i32 = fs::read_to_string(pidfile)
        .unwrap_or_else(|e| panic!("pidfile {}: {e}\n{text}", pidfile.display()))
        .trim()
        .parse()
        .expect("pidfile holds a pid");
    let d = Daemon(pid);
    assert!(alive(pid), "pid {pid} from the pidfile is not running");
    assert!(
        listening_ports().contains(&fe),
        "not listening once the launcher has exited"
    );
    d
}

fn stop_daemon(d: &Daemon, fe: u16) {
    // SAFETY: kill(2) on the pid of the daemon this test launched.
    unsafe { libc::kill(d.0, libc::SIGTERM) };
    assert!(
        wait_until(Duration::from_secs(3), || !alive(d.0)),
        "daemon {} still alive 3 s after SIGTERM",
        d.0
    );
    assert!(
        wait_until(Duration::from_secs(2), || !listening_ports().contains(&fe)),
        "port still listening after the daemon stopped"
    );
}

#[test]
fn dash_d_daemon_with_pidfile() {
    let o = Origin::start("s1");
    let fe = free_port();
    let dir = TempDir::new("daemon");
    let cfg = dir.write("d.cfg", &config(fe, &o, "D", ""));
    let pidfile = dir.path().join("sluice.pid");
    let d = launch_daemon(
        &[
            "-D",
            "-p",
            &pidfile.display().to_string(),
            "-f",
            &cfg.display().to_string(),
        ],
        &pidfile,
        fe,
    );
    let r = try_get(fe, "/through-daemon").expect("daemon serves");
    assert_eq!((r.status, r.header("x-proxy")), (200, Some("D")));
    assert_eq!(o.requests(), 1);
    stop_daemon(&d, fe);
}

#[test]
fn daemon_and_pidfile_keywords_in_global() {
    let o = Origin::start("s1");
    let fe = free_port();
    let dir = TempDir::new("daemon-kw");
    let pidfile = dir.path().join("kw.pid");
    let global = format!("    daemon\n    pidfile {}\n", pidfile.display());
    let cfg = dir.write("d.cfg", &config(fe, &o, "K", &global));
    let d = launch_daemon(&["-f", &cfg.display().to_string()], &pidfile, fe);
    let r = try_get(fe, "/kw").expect("daemon serves");
    assert_eq!((r.status, r.header("x-proxy")), (200, Some("K")));
    stop_daemon(&d, fe);
}

/// Runs the proxy on a config it cannot bind and returns (exit status, stderr).
fn failing_start(args_before_f: &[&str], cfg_text: &str) -> (std::process::ExitStatus, String) {
    let dir = TempDir::new("bindfail");
    let cfg = dir.write("b.cfg", cfg_text);
    let cfg = cfg.display().to_string();
    let mut args: Vec<&str> = args_before_f.to_vec();
    args.extend(["-f", &cfg]);
    let start = Instant::now();
    let out = run(&args, &[], Duration::from_secs(10));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?} to give up",
        start.elapsed()
    );
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_bind_alert(stderr: &str, addr: &str) {
    let line = stderr
        .lines()
        .find(|l| l.contains("[ALERT]") && l.contains("frontend fe") && l.contains(addr));
    assert!(
        line.is_some(),
        "no [ALERT] line naming frontend fe and {addr}:\n{stderr}"
    );
}

#[test]
fn bind_on_a_busy_port_fails_with_an_alert() {
    let o = Origin::start("s1");
    // Held by the test without SO_REUSEPORT, so nobody else may bind it.
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let (st, err) = failing_start(&["-db"], &config(port, &o, "X", ""));
    assert!(!st.success(), "started on a busy port:\n{err}");
    assert_bind_alert(&err, &format!("127.0.0.1:{port}"));
}

#[test]
fn bind_on_an_address_not_of_this_host_fails_with_an_alert() {
    let o = Origin::start("s1");
    let port = free_port();
    // 192.0.2.0/24 is TEST-NET-1: never a local address (nothing is sent to it).
    let cfg = config(port, &o, "X", "").replace("bind 127.0.0.1:", "bind 192.0.2.1:");
    let (st, err) = failing_start(&["-db"], &cfg);
    assert!(!st.success(), "started on a foreign address:\n{err}");
    assert_bind_alert(&err, &format!("192.0.2.1:{port}"));
}

#[test]
fn daemon_launcher_reports_a_bind_failure() {
    let o = Origin::start("s1");
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let (st, err) = failing_start(&["-D"], &config(port, &o, "X", ""));
    assert!(
        !st.success(),
        "the -D launcher exited 0 though nothing could bind:\n{err}"
    );
    assert_bind_alert(&err, &format!("127.0.0.1:{port}"));
}

/// The four ids of a `Uid:`/`Gid:` line of /proc/<pid>[/task/<tid>]/status.
fn ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| {
            l[key.len()..]
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn user_and_group_drop_privileges_after_binding() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root");
        return;
    }
    let o = Origin::start("s1");
    let fe = free_port();
    let p = Proxy::start(&config(fe, &o, "U", "    user nobody\n    group nogroup\n"));
    // It bound (as root) and serves (as nobody).
    let r = try_get(fe, "/as-nobody").expect("serves after dropping privileges");
    assert_eq!(r.status, 200);
    let mut tasks = 0;
    for t in fs::read_dir(format!("/proc/{}/task", p.pid()))
        .unwrap()
        .flatten()
    {
        let st = fs::read_to_string(t.path().join("status")).unwrap_or_default();
        if st.is_empty() {
            continue;
        }
        tasks += 1;
        assert_eq!(ids(&st, "Uid:"), [65534; 4], "uids of task {:?}", t.path());
        assert_eq!(ids(&st, "Gid:"), [65534; 4], "gids of task {:?}", t.path());
        let groups = st
            .lines()
            .find(|l| l.starts_with("Groups:"))
            .unwrap_or("")
            .to_string();
        assert!(
            groups.split_whitespace().skip(1).all(|g| g == "65534"),
            "supplementary groups kept: {groups}"
        );
    }
    assert!(tasks > 0);
}

#[test]
fn cpu_map_pins_each_worker_thread() {
    if skip_unless_sluice("worker threads are named sluice-wN") {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        println!("skipped: needs 2 CPUs");
        return;
    }
    let o = Origin::start("s1");
    let fe = free_port();
    let p = Proxy::start(&config(
        fe,
        &o,
        "C",
        "    nbthread 2\n    cpu-map auto:1/1-2 0-1\n",
    ));
    let mut pinned = Vec::new();
    for t in fs::read_dir(format!("/proc/{}/task", p.pid()))
        .unwrap()
        .flatten()
    {
        let comm = fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if !comm.starts_with("sluice-w") {
            continue;
        }
        let st = fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let cpus = st
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string();
        pinned.push((comm.to_string(), cpus));
    }
    pinned.sort();
    assert_eq!(
        pinned,
        [
            ("sluice-w0".to_string(), "0".to_string()),
            ("sluice-w1".to_string(), "1".to_string())
        ],
        "worker threads and their CPUs"
    );
    assert_eq!(try_get(fe, "/pinned").unwrap().status, 200);
}

/// With `maxconn 2` (in `global` or the frontend), further connections wait in the
/// kernel's queue while two are open, and are served once one of them closes.
fn extra_connections_wait_for_a_slot(global: &str, frontend: &str, extra: usize) {
    let o = Origin::start("s1");
    let fe = free_port();
    let cfg = config(fe, &o, "M", global).replace(
        "    http-response set-header",
        &format!("{frontend}    http-response set-header"),
    );
    let _p = Proxy::start(&cfg);
    let mut c1 = Conn::connect(fe);
    let mut c2 = Conn::connect(fe);
    assert_eq!(c1.get("/c1").unwrap().status, 200);
    assert_eq!(c2.get("/c2").unwrap().status, 200);
    // Further connections are accepted by the kernel (not refused) but not served.
    let mut waiting: Vec<Conn> = (0..extra)
        .map(|n| {
            let mut c = Conn::try_connect(fe).expect("extra connection is not refused");
            c.send(&build_request("GET", &format!("/w{n}"), &[], b""))
                .unwrap();
            c
        })
        .collect();
    for (n, c) in waiting.iter_mut().enumerate() {
        c.set_read_timeout(Duration::from_millis(if n == 0 { 800 } else { 50 }));
        match c.read_response("GET") {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            other => panic!("connection {} served while two are open: {other:?}", n + 3),
        }
    }
    assert_eq!(o.requests(), 2, "the origin saw a waiting request");
    // The two first ones still work.
    assert_eq!(c2.get("/c2-again").unwrap().status, 200);
    // Closing them frees slots: the waiting connections are served, in turn.
    drop(c1);
    drop(c2);
    for (n, mut c) in waiting.into_iter().enumerate() {
        c.set_read_timeout(Duration::from_secs(5));
        let r = c.read_response("GET").expect("served once a slot is free");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-target"), Some(format!("/w{n}").as_str()));
        drop(c);
    }
}

#[test]
fn global_maxconn_delays_the_third_connection() {
    extra_connections_wait_for_a_slot("    nbthread 1\n    maxconn 2\n", "", 1);
}

#[test]
fn frontend_maxconn_delays_the_third_connection() {
    extra_connections_wait_for_a_slot("    nbthread 1\n", "    maxconn 2\n", 1);
}

#[test]
fn maxconn_holds_across_worker_threads() {
    extra_connections_wait_for_a_slot("    nbthread 2\n    maxconn 2\n", "", 1);
}

/// `-x`: B takes A's listening sockets through A's stats socket (`level admin
/// expose-fd listeners`), HAProxy's seamless reload: one socket throughout (the
/// same inode before and after, shared by all workers), and no request across
/// the switch fails — not even the one racing A's close, since nothing closes.
#[test]
fn x_takes_the_listening_sockets_over_the_stats_socket() {
    let o = Origin::start("s1");
    let fe = free_port();
    let sock = std::env::temp_dir().join(format!("sluice-x-{}-{fe}.sock", std::process::id()));
    let user_sock =
        std::env::temp_dir().join(format!("sluice-xu-{}-{fe}.sock", std::process::id()));
    let global = format!(
        "    nbthread 2\n    stats socket {} level admin expose-fd listeners\n    stats socket {} level admin\n",
        sock.display(),
        user_sock.display()
    );
    let mut a = Proxy::start(&config(fe, &o, "A", &global));
    let apid = a.pid();
    let before = listening_inodes(fe);
    assert_eq!(
        before.len(),
        1,
        "one process-wide socket for both workers: {before:?}"
    );
    assert_eq!(try_get(fe, "/before").unwrap().header("x-proxy"), Some("A"));
    // A socket without expose-fd does not hand out listeners.
    assert!(
        common::cli(&user_sock, "_getsocks\n").contains("Permission denied"),
        "_getsocks on a socket without expose-fd"
    );

    let b = Proxy::start_with(
        &config(fe, &o, "B", &global),
        &["-x", &sock.display().to_string(), "-sf", &apid.to_string()],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let answers = requests_across(fe, Duration::from_secs(8), |done| {
        done.iter()
            .filter(|r| matches!(r, Ok(t) if t == "B"))
            .count()
            >= 20
            && !alive(apid)
    });
    let failed: Vec<_> = answers.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "requests failed across the switch: {failed:?} (of {})\nB output:\n{}",
        answers.len(),
        b.output()
    );
    assert!(
        answers.iter().any(|r| matches!(r, Ok(t) if t == "B")),
        "B never answered: {answers:?}\nB output:\n{}",
        b.output()
    );
    let st = a
        .wait_exit(Duration::from_secs(5))
        .expect("A exits after -sf");
    assert!(st.success(), "A exit status {st}");
    assert_eq!(listening_inodes(fe), before, "B listens on A's very socket");
    assert!(listens(b.pid(), fe));
    // B's own stats socket replaced A's path: B can pass the sockets on again.
    let c = Proxy::start_with(
        &config(fe, &o, "C", &global),
        &[
            "-x",
            &sock.display().to_string(),
            "-sf",
            &b.pid().to_string(),
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(5), || {
        try_get(fe, "/c")
            .map(|r| r.header("x-proxy") == Some("C"))
            .unwrap_or(false)
    }));
    assert_eq!(listening_inodes(fe), before);
    drop(c);
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&user_sock);
}
