//! Runs the proxy under test: `sluice` by default, or the binary named by
//! `SLUICE_TEST_PROXY` (e.g. `/usr/sbin/haproxy`) to validate the tests against HAProxy.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a proxy may take to listen on all its `bind` ports.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The binary under test.
pub fn binary() -> PathBuf {
    match std::env::var_os("SLUICE_TEST_PROXY") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_sluice")),
    }
}

/// True when the binary under test is sluice itself.
pub fn is_sluice() -> bool {
    match std::env::var_os("SLUICE_TEST_PROXY") {
        Some(p) => p.is_empty(),
        None => true,
    }
}

/// True (after printing `skipped: <reason>`) when the binary under test is not sluice:
/// `if skip_unless_sluice("...") { return; }`.
pub fn skip_unless_sluice(reason: &str) -> bool {
    if is_sluice() {
        return false;
    }
    println!("skipped: {reason} (sluice-only; testing {:?})", binary());
    true
}

/// A free loopback TCP port. Ports come from a per-process range below the
/// ephemeral range, offset by the pid, and are checked free by binding them.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20000 + (std::process::id() % 600) as u16 * 20;
    for _ in 0..12000 {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 20000 + (base - 20000 + n) % 12000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A fresh directory for one proxy's files; removed on drop unless the test failed.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("sluice-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, content).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A running proxy process, killed (by pid) on drop.
pub struct Proxy {
    child: Child,
    dir: TempDir,
    pub config: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proxy {
    /// Starts the proxy on `config` and waits until every `bind` port listens.
    /// Panics with the proxy's output if it does not.
    pub fn start(config: &str) -> Proxy {
        Proxy::start_with(config, &[], &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `start`, with extra arguments and environment variables.
    pub fn start_with(config: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<Proxy, String> {
        let dir = TempDir::new("proxy");
        let cfg = dir.write("test.cfg", config);
        let mut all: Vec<String> = vec!["-db".into(), "-f".into(), cfg.display().to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        Proxy::launch(dir, cfg, &all, envs, &bind_ports(config), config)
    }

    /// Starts the binary with exactly `args` (no config file written) and waits until
    /// `ports` listen.
    pub fn start_args(args: &[&str], ports: &[u16]) -> Result<Proxy, String> {
        let dir = TempDir::new("proxy");
        let all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let cfg = dir.path().join("none.cfg");
        Proxy::launch(
            dir,
            cfg,
            &all,
            &[],
            ports,
            &format!("(no config; args {args:?})"),
        )
    }

    fn launch(
        dir: TempDir,
        cfg: PathBuf,
        args: &[String],
        envs: &[(&str, &str)],
        ports: &[u16],
        what: &str,
    ) -> Result<Proxy, String> {
        let stdout = dir.path().join("stdout.log");
        let stderr = dir.path().join("stderr.log");
        let mut cmd = Command::new(binary());
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", binary()))?;
        let mut p = Proxy {
            child,
            dir,
            config: cfg,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(st)) = p.child.try_wait() {
                return Err(format!(
                    "proxy exited early ({st}) on config:\n{what}\n--- output:\n{}",
                    p.output()
                ));
            }
            let listening = listening_ports();
            if ports.iter().all(|port| listening.contains(port)) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "proxy not listening on {ports:?} after {START_TIMEOUT:?}; config:\n{what}\n--- output:\n{}",
                    p.output()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// Everything the proxy wrote so far, stdout then stderr.
    pub fn output(&self) -> String {
        let out = fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Waits (bounded) for an output line containing every one of `needles`.
    pub fn wait_log(&self, needles: &[&str], limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.output();
            if let Some(l) = out.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Some(l.to_string());
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the proxy process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- proxy output:\n{}", self.output());
        }
    }
}

/// Ports of the `bind` lines of a config (the `:PORT` of their first argument).
pub fn bind_ports(config: &str) -> Vec<u16> {
    config
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("bind")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.rsplit(':').next().and_then(|p| p.parse().ok()))
        .collect()
}

/// TCP ports in LISTEN state on this host (from /proc/net/tcp{,6}), found without
/// connecting, so readiness probes never reach a backend.
pub fn listening_ports() -> Vec<u16> {
    let mut v = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in fs::read_to_string(f).unwrap_or_default().lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 3 && cols[3] == "0A" {
                if let Some(port) = cols[1].rsplit(':').next() {
                    if let Ok(p) = u16::from_str_radix(port, 16) {
                        v.push(p);
                    }
                }
            }
        }
    }
    v
}

/// Runs the binary under test with `args` to completion, killing it after `limit`.
pub fn run(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    run_program(binary(), args, envs, limit)
}

/// Runs `program` with `args` to completion, killing it after `limit` (a killed
/// program's status has no code).
pub fn run_program(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    envs: &[(&str, &str)],
    limit: Duration,
) -> Output {
    let program = program.as_ref();
    let dir = TempDir::new("run");
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {program:?}: {err}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: fs::read(&o).unwrap_or_default(),
        stderr: fs::read(&e).unwrap_or_default(),
    }
}

/// `global` + `defaults` for HTTP tests: logs to stdout in HAProxy's httplog format.
pub const HTTP_DEFAULTS: &str = "\
global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
";

/// A configuration with an HTTP/2 (prior knowledge) frontend on 127.0.0.1:`port`
/// whose backend is the one server `server` (`defaults`: e.g. [`HTTP_DEFAULTS`]).
pub fn h2_front_config(defaults: &str, port: u16, server: impl std::fmt::Display) -> String {
    format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{port} proto h2
    default_backend be

backend be
    server s1 {server}
"
    )
}

/// `global` + `defaults` for TCP tests.
pub const TCP_DEFAULTS: &str = "\
global
    log stdout format raw local0

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
";
