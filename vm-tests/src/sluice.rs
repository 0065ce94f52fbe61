//! The real `sluice` binary: finding it (building it once if needed) and running it
//! inside a lab host with a given configuration.
//!
//! Owns: the lookup verdict (cached per process, so parallel tests build at most
//! once) and, per [`Sluice`], one running process and its config file.
//!
//! Lookup order: `$SLUICE_BIN`; `$CARGO_TARGET_DIR/{debug,release}/sluice`;
//! `<workspace>/target/{debug,release}/sluice`; `/work/target-lab/debug/sluice`.
//! When none exists, `cargo build --bin sluice` runs once in the workspace (bounded
//! in time) and the lookup is repeated; still nothing is `skipped: sluice binary not
//! built`.

use crate::cmd;
use crate::detect::Skip;
use crate::netns::{Host, LabResult};
use crate::process::NsProcess;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How long sluice may take to listen on all its `bind` ports.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the fallback `cargo build --bin sluice` may take.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(1200);

/// The workspace root (the parent of this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("vm-tests lives in the workspace")
        .to_path_buf()
}

fn candidates() -> Vec<PathBuf> {
    let ws = workspace();
    let mut v = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        let t = ws.join(t); // absolute stays absolute; relative is taken from the workspace
        v.push(t.join("debug/sluice"));
        v.push(t.join("release/sluice"));
    }
    v.push(ws.join("target/debug/sluice"));
    v.push(ws.join("target/release/sluice"));
    v.push(PathBuf::from("/work/target-lab/debug/sluice"));
    v
}

fn lookup() -> Result<PathBuf, Skip> {
    if let Some(p) = std::env::var_os("SLUICE_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Skip::NoSluice(format!(
                "SLUICE_BIN={} does not exist",
                p.display()
            )))
        };
    }
    if let Some(p) = candidates().into_iter().find(|p| p.is_file()) {
        return Ok(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("vm-tests: sluice binary not found; running `cargo build --bin sluice`");
    let built = cmd::run(
        Command::new(cargo)
            .args(["build", "--bin", "sluice"])
            .current_dir(workspace()),
        BUILD_TIMEOUT,
    );
    match built {
        Ok(f) if f.ok() => candidates()
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| Skip::NoSluice("built, but not found".into())),
        Ok(f) => Err(Skip::NoSluice(format!(
            "cargo build --bin sluice failed: {}",
            f.describe()
        ))),
        Err(e) => Err(Skip::NoSluice(format!("cargo: {e}"))),
    }
}

/// The sluice binary to test (see module docs); looked up once per process.
pub fn binary() -> Result<PathBuf, Skip> {
    static BIN: OnceLock<Result<PathBuf, Skip>> = OnceLock::new();
    BIN.get_or_init(lookup).clone()
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

/// The interfaces of `port NAME tap IFACE` lines.
fn tap_ports(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["port", _, "tap", iface, ..] => Some(iface.to_string()),
            _ => None,
        })
        .collect()
}

/// Waits (bounded) until bridge port `iface` of `host` has its carrier and forwards.
fn wait_forwarding(host: &Host, iface: &str) -> LabResult<()> {
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    loop {
        let text = host.ip(&["-d", "link", "show", iface])?;
        if text.contains("state forwarding") && !text.contains("NO-CARRIER") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{iface} never forwarded: {text}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A sluice process running in a lab host (killed on drop, like any [`NsProcess`]).
pub struct Sluice {
    proc: NsProcess,
    pub config: PathBuf,
}

impl Sluice {
    /// Writes `config` into the lab directory, runs `BIN -db -f CONFIG` inside `host`
    /// and waits until every `bind` port listens there.
    pub fn start(host: &Host, bin: &Path, config: &str) -> LabResult<Sluice> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!("sluice-{}", N.fetch_add(1, Ordering::SeqCst));
        let cfg = host.dir().join(format!("{tag}.cfg"));
        std::fs::write(&cfg, config).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let proc = host.spawn(&tag, bin, &["-db".as_ref(), "-f".as_ref(), cfg.as_os_str()])?;
        if config.contains("io-mode poll") {
            // The userspace stack listens outside the kernel's tables: wait for the
            // start-up notice instead.
            if proc.wait_log(&["sluice started"], START_TIMEOUT).is_none() {
                return Err(format!(
                    "{tag} did not start in poll mode (status {:?}):\n{}\n--- config:\n{config}",
                    proc.exited(),
                    proc.output()
                ));
            }
            // A TAP gets its carrier when sluice opens it, and the kernel applies
            // that asynchronously: wait until each bridged TAP forwards, or the
            // first frames of a test are lost (and cost a SYN retransmission).
            for tap in tap_ports(config) {
                wait_forwarding(host, &tap)?;
            }
        } else {
            proc.wait_listening(&bind_ports(config), START_TIMEOUT)
                .map_err(|e| format!("{e}\n--- config:\n{config}"))?;
        }
        Ok(Sluice { proc, config: cfg })
    }
}

impl Deref for Sluice {
    type Target = NsProcess;
    fn deref(&self) -> &NsProcess {
        &self.proc
    }
}
