//! Can this machine run the lab? Root, iproute2, and a working `ip netns add`.
//!
//! Owns: the one probe namespace created (and deleted at once) by [`lab`], and the
//! cached verdict. Invariant: tests that cannot run print `skipped: <reason>` and
//! pass; they never fail because the environment lacks something (CI installs
//! iproute2 and curl and runs as root, so there everything runs).

use crate::cmd;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Why a test cannot run here. `Display` is the text after `skipped: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    NotRoot,
    NoIp,
    NoNetns(String),
    NoTool(&'static str),
    NoSluice(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotRoot => write!(f, "needs root"),
            Skip::NoIp => write!(f, "ip (iproute2) not installed"),
            Skip::NoNetns(e) => write!(f, "cannot create network namespaces: {e}"),
            Skip::NoTool(t) => write!(f, "{t} not installed"),
            Skip::NoSluice(e) => write!(f, "sluice binary not built ({e})"),
        }
    }
}

/// The effective uid, from /proc/self/status (no unsafe needed).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The first executable `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn probe() -> Result<(), Skip> {
    if effective_uid() != Some(0) {
        return Err(Skip::NotRoot);
    }
    if which("ip").is_none() {
        return Err(Skip::NoIp);
    }
    let name = format!("slt-{}-probe", std::process::id());
    let _ = cmd::ip(&["netns", "del", &name]);
    cmd::ip(&["netns", "add", &name]).map_err(Skip::NoNetns)?;
    let veth = cmd::ip(&[
        "-n", &name, "link", "add", "p0", "type", "veth", "peer", "name", "p1",
    ]);
    let _ = cmd::ip(&["netns", "del", &name]);
    veth.map_err(|e| Skip::NoNetns(format!("veth: {e}")))?;
    Ok(())
}

/// `Ok` when namespaces and veth pairs can be created here (probed once per process).
pub fn lab() -> Result<(), Skip> {
    static VERDICT: OnceLock<Result<(), Skip>> = OnceLock::new();
    VERDICT.get_or_init(probe).clone()
}

/// `Ok(path)` when `tool` is installed and answers `--version`.
pub fn tool(tool: &'static str) -> Result<PathBuf, Skip> {
    let p = which(tool).ok_or(Skip::NoTool(tool))?;
    match cmd::run(Command::new(&p).arg("--version"), Duration::from_secs(5)) {
        Ok(f) if f.ok() => Ok(p),
        _ => Err(Skip::NoTool(tool)),
    }
}
