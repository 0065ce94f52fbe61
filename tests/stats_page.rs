//! The stats page (`stats enable` and friends) end to end through the real binary:
//! curl for authentication (401 with the realm, 200 with credentials), the `;csv`
//! export (exactly `show stat`'s header and rows) and a POST without admin rights
//! (`;st=DENY`, no change); headless Chromium (Debian's `chromium`; prints
//! `skipped: chromium not installed` when absent) for the rendered page — every
//! proxy and server row with its state — and the admin action: Chromium submits the
//! page's own form (MAINT on server `a`) and follows the 303, the page after the
//! redirect shows the banner and `a` in MAINT, the CLI agrees, `a` gets no traffic;
//! then a curl POST with the form's fields sets it back to READY and it serves again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::{curl, have_curl};
use common::proxy::TempDir;
use common::{cli, free_port, get, skip_unless_sluice, wait_until, Origin, Proxy, HTTP_DEFAULTS};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Setup {
    _proxy: Proxy,
    a: Origin,
    _b: Origin,
    fe: u16,
    /// `listen stats`: auth, admin.
    auth: u16,
    /// `frontend pub`: no auth, admin for local clients.
    public: u16,
    /// `frontend ro`: no auth, no admin.
    ro: u16,
    sock: PathBuf,
    _dir: TempDir,
}

fn setup() -> Setup {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let (fe, auth, public, ro) = (free_port(), free_port(), free_port(), free_port());
    let dir = TempDir::new("statspage");
    let sock = dir.path().join("admin.sock");
    let defaults = HTTP_DEFAULTS.replacen(
        "global\n",
        &format!(
            "global\n    nbthread 2\n    stats socket {} level admin\n",
            sock.display()
        ),
        1,
    );
    let cfg = format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    balance roundrobin
    server a {a} check inter 500ms
    server b {b} check inter 500ms

listen stats
    bind 127.0.0.1:{auth}
    stats enable
    stats uri /stats
    stats refresh 10s
    stats auth admin:s3cret
    stats auth ops:pa:ss
    stats realm Sluice\\ Stats
    stats admin if TRUE

frontend pub
    bind 127.0.0.1:{public}
    stats uri /
    stats admin if LOCALHOST
    stats show-legends

frontend ro
    bind 127.0.0.1:{ro}
    stats uri /monitor
    stats hide-version
",
        a = a.addr(),
        b = b.addr()
    );
    let proxy = Proxy::start(&cfg);
    assert!(wait_until(Duration::from_secs(5), || sock.exists()));
    Setup {
        _proxy: proxy,
        a,
        _b: b,
        fe,
        auth,
        public,
        ro,
        sock,
        _dir: dir,
    }
}

/// `show stat` rows as `(pxname, svname, status)`.
fn cli_rows(sock: &Path) -> Vec<(String, String, String)> {
    cli(sock, "show stat\n")
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].into(), f[1].into(), f[17].into())
        })
        .collect()
}

/// `curl -i` (head and body), with extra arguments.
fn curl_i(args: &[&str]) -> (u16, String) {
    let mut a = vec!["-i"];
    a.extend_from_slice(args);
    let out = curl(&a);
    assert_eq!(out.status, 0, "curl {args:?}: {}", out.stderr);
    let text = out.stdout_str();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn auth_page_and_csv_through_curl() {
    if skip_unless_sluice("the page layout is sluice's") || !have_curl() {
        return;
    }
    let s = setup();
    let url = format!("http://127.0.0.1:{}/stats", s.auth);
    // No credentials, wrong ones: 401 with the realm, and no page.
    for extra in [
        &[][..],
        &["-u", "admin:wrong"][..],
        &["-u", "nobody:s3cret"][..],
    ] {
        let mut args: Vec<&str> = extra.to_vec();
        args.push(&url);
        let (status, text) = curl_i(&args);
        assert_eq!(status, 401, "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"sluice stats\""),
            "{text}"
        );
        assert!(!text.contains("data-proxy"), "{text}");
    }
    // Either account works (a password may contain ':').
    for user in ["admin:s3cret", "ops:pa:ss"] {
        let (status, text) = curl_i(&["-u", user, &url]);
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("content-type: text/html"), "{text}");
        assert!(
            text.contains("<meta http-equiv=\"refresh\" content=\"10\">"),
            "{text}"
        );
        assert!(text.contains("data-proxy=\"be\" data-name=\"a\""), "{text}");
    }
    // `;csv`: exactly `show stat`'s header, and the same rows.
    let out = curl(&["-u", "admin:s3cret", &format!("{url};csv")]);
    let csv = out.stdout_str();
    let cli_out = cli(&s.sock, "show stat\n");
    assert_eq!(csv.lines().next(), cli_out.lines().next(), "{csv}");
    assert!(csv.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
    let rows = |t: &str| -> Vec<(String, String)> {
        t.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(
                    f.len(),
                    cli_out.lines().next().unwrap().split(',').count(),
                    "{l}"
                );
                (f[0].to_string(), f[1].to_string())
            })
            .collect()
    };
    let want: Vec<(String, String)> = [
        ("fe", "FRONTEND"),
        ("be", "a"),
        ("be", "b"),
        ("be", "BACKEND"),
        ("stats", "FRONTEND"),
        ("stats", "BACKEND"),
        ("pub", "FRONTEND"),
        ("ro", "FRONTEND"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rows(&csv), want, "{csv}");
    assert_eq!(rows(&cli_out), want);
    // Paths outside the prefix are not the page (this listen has no server: 503).
    let (status, _) = curl_i(&[
        "-u",
        "admin:s3cret",
        &format!("http://127.0.0.1:{}/other", s.auth),
    ]);
    assert_eq!(status, 503);
    // A page without admin rights refuses a POST: 303 with `;st=DENY`, nothing changes.
    let (status, text) = curl_i(&[
        "-d",
        "s=a&action=maint&b=be",
        &format!("http://127.0.0.1:{}/monitor", s.ro),
    ]);
    assert_eq!(status, 303, "{text}");
    assert!(text.contains("location: /monitor;st=DENY"), "{text}");
    assert!(cli_rows(&s.sock).contains(&("be".into(), "a".into(), "UP".into())));
    // With admin rights: an unknown action is refused (ERRP), a form too large is
    // not read (EXCD); nothing changes.
    let (status, text) = curl_i(&["-u", "admin:s3cret", "-d", "s=a&action=dhlth&b=be", &url]);
    assert_eq!(status, 303, "{text}");
    assert!(text.contains("location: /stats;st=ERRP"), "{text}");
    let big = format!("s=a&action=maint&b=be&pad={}", "x".repeat(20_000));
    let (status, text) = curl_i(&["-u", "admin:s3cret", "-H", "Expect:", "-d", &big, &url]);
    assert_eq!(status, 303, "{text}");
    assert!(text.contains("location: /stats;st=EXCD"), "{text}");
    assert!(cli_rows(&s.sock).contains(&("be".into(), "a".into(), "UP".into())));
    let (_, text) = curl_i(&[&format!("http://127.0.0.1:{}/monitor;st=DENY", s.ro)]);
    assert!(text.contains("Action denied"), "{text}");
    assert!(!text.contains("<form"), "{text}");
    assert!(
        !text.contains(env!("CARGO_PKG_VERSION")),
        "hide-version: {text}"
    );
}

/// Headless Chromium's serialised DOM of `url`.
fn dump_dom(url: &str, profile: &Path) -> String {
    dump_dom_after(url, profile, false)
}

/// Like [`dump_dom`]; with `navigations`, Chromium waits (virtual time) for what the
/// page's script starts, e.g. a form submission and its redirect.
fn dump_dom_after(url: &str, profile: &Path, navigations: bool) -> String {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    if navigations {
        cmd.arg("--virtual-time-budget=10000");
    }
    let mut child = cmd
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s for {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of attribute `attr` of the first element whose markup contains `marker`.
fn attr_of(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let k = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    Some(tag[k..k + tag[k..].find('"')?].to_string())
}

fn row(px: &str, name: &str, status: &str) -> String {
    format!("data-proxy=\"{px}\" data-name=\"{name}\" data-status=\"{status}\"")
}

#[test]
fn chromium_renders_the_page_and_the_admin_action_takes_effect() {
    if skip_unless_sluice("the page layout is sluice's") || !have_curl() {
        return;
    }
    if !Path::new(CHROMIUM).exists() {
        println!("skipped: chromium not installed");
        return;
    }
    let s = setup();
    let profile = TempDir::new("chromium");
    let base = format!("http://127.0.0.1:{}/", s.public);
    // Checks run every 500 ms: wait for both servers to be seen up by the CLI.
    assert!(wait_until(Duration::from_secs(10), || {
        let r = cli_rows(&s.sock);
        r.contains(&("be".into(), "a".into(), "UP".into()))
            && r.contains(&("be".into(), "b".into(), "UP".into()))
    }));
    let dom = dump_dom(&base, profile.path());
    for (px, name, status) in [
        ("fe", "FRONTEND", "OPEN"),
        ("be", "a", "UP"),
        ("be", "b", "UP"),
        ("be", "BACKEND", "UP"),
        ("stats", "FRONTEND", "OPEN"),
        ("stats", "BACKEND", "UP"),
        ("pub", "FRONTEND", "OPEN"),
        ("ro", "FRONTEND", "OPEN"),
    ] {
        assert!(
            dom.contains(&row(px, name, status)),
            "no row {px}/{name} {status} in\n{dom}"
        );
    }
    assert!(dom.contains("General process information"), "{dom}");
    // The page with credentials in the URL renders too (Chromium sends Basic auth).
    let with_auth = dump_dom(
        &format!("http://admin:s3cret@127.0.0.1:{}/stats", s.auth),
        profile.path(),
    );
    let auth_rendered = with_auth.contains(&row("be", "a", "UP"));
    println!("chromium with URL credentials rendered the page: {auth_rendered}");

    // The admin form, as the browser shows it: its action, backend field and the
    // checkbox of server `a`.
    let action = attr_of(&dom, "method=\"post\"", "action").expect("an admin form");
    let b = attr_of(&dom, "type=\"hidden\" name=\"b\"", "value").expect("hidden field b");
    let s_val = attr_of(&dom, "name=\"s\" value=\"a\"", "value").expect("checkbox of a");
    assert!(dom.contains("<option value=\"maint\">"), "{dom}");
    let post = |act: &str| {
        let form = format!("s={s_val}&action={act}&b={}", b.replace('#', "%23"));
        let out = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-raw",
            &form,
            &format!("http://127.0.0.1:{}{action}", s.public),
        ]);
        out.stdout_str()
    };
    // The browser submits the page's own form (its markup from the rendered DOM,
    // `a` checked, MAINT chosen, the action made absolute for a local file), then
    // follows the 303: the DOM dumped is the page after the redirect.
    let start = dom.find("<form method=\"post\"").expect("form");
    let end = start + dom[start..].find("</form>").expect("form end") + "</form>".len();
    let form = dom[start..end]
        .replacen(
            &format!("action=\"{action}\""),
            &format!("action=\"http://127.0.0.1:{}{action}\"", s.public),
            1,
        )
        .replacen(
            "name=\"s\" value=\"a\"",
            "name=\"s\" value=\"a\" checked",
            1,
        )
        .replacen(
            "<option value=\"maint\">",
            "<option value=\"maint\" selected>",
            1,
        );
    let file = profile.write(
        "submit.html",
        &format!("<!DOCTYPE html><html><body>{form}<script>document.forms[0].submit()</script></body></html>"),
    );
    let dom = dump_dom_after(&format!("file://{}", file.display()), profile.path(), true);
    assert!(dom.contains("Action processed successfully."), "{dom}");
    assert!(dom.contains(&row("be", "a", "MAINT")), "{dom}");
    assert!(dom.contains("class=\"maint\""), "{dom}");
    assert!(cli_rows(&s.sock).contains(&("be".into(), "a".into(), "MAINT".into())));
    assert!(dom.contains(&row("be", "b", "UP")), "{dom}");
    // The same page through curl: the 303 and its location.
    assert_eq!(post("maint"), format!("303 {base};st=DONE"));
    // No traffic to `a` (both workers see it).
    let before = s.a.requests();
    for i in 0..10 {
        assert_eq!(get(s.fe, &format!("/x{i}")).status, 200);
    }
    assert_eq!(s.a.requests(), before, "a server in MAINT got traffic");
    // Back to ready: `a` serves again.
    assert_eq!(post("ready"), format!("303 {base};st=DONE"));
    assert!(wait_until(Duration::from_secs(5), || cli_rows(&s.sock)
        .contains(&("be".into(), "a".into(), "UP".into()))));
    for i in 0..10 {
        assert_eq!(get(s.fe, &format!("/y{i}")).status, 200);
    }
    assert!(s.a.requests() > before, "a did not get traffic back");
}
