//! A [`Lab`]: network namespaces (hosts), veth pairs, bridges, addresses and routes,
//! built with iproute2's `ip`, and torn down on drop.
//!
//! Owns: every namespace it created (`slt-<pid>-<n>-<role>`), every link inside
//! them, every process started through one of its [`Host`]s, and a scratch
//! directory for configs and logs.
//!
//! Invariants:
//! - Links are created *inside* lab namespaces (`ip -n NS link add … peer … netns
//!   NS2`): nothing is ever added to, or addressed in, the root namespace, so link
//!   names (`eth0`, …) only need to be unique per host and labs never collide.
//! - Drop order: processes first (killed by pid, reaped), then any process still
//!   inside a lab namespace (`ip netns pids`, those are ours by construction), then
//!   the namespaces (deleting a namespace deletes its veth ends and their peers).
//!   This runs during a panic's unwinding as well.
//! - Namespaces named `slt-<pid>-…` whose pid is dead (a test process that was
//!   killed) are swept once per process by the first lab, with the scratch
//!   directories `<tmp>/slt-<pid>-…` of dead pids.

use crate::cmd::{self, Finished};
use crate::detect::{self, Skip};
use crate::process::{NsProcess, Registry};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Result type of lab operations: the error names the failing command and its stderr.
pub type LabResult<T> = Result<T, String>;

/// The prefix of every namespace the lab creates.
pub const PREFIX: &str = "slt-";

/// A set of hosts (namespaces) and the links between them; see module docs.
pub struct Lab {
    prefix: String,
    namespaces: Mutex<Vec<String>>,
    registry: Arc<Registry>,
    dir: PathBuf,
}

impl Lab {
    /// A new, empty lab; `Err(skip)` when this machine cannot run it.
    pub fn new() -> Result<Lab, Skip> {
        detect::lab()?;
        static SWEEP: Once = Once::new();
        SWEEP.call_once(sweep_stale);
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Skip::NoNetns(format!("temp dir {}: {e}", dir.display())))?;
        Ok(Lab {
            prefix,
            namespaces: Mutex::new(Vec::new()),
            registry: Arc::new(Registry::default()),
            dir,
        })
    }

    /// `slt-<pid>-<n>`: unique to this lab.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The lab's scratch directory (configs, logs); removed on drop unless panicking.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a host: a namespace `<prefix>-<role>` with `lo` up.
    pub fn host(&self, role: &str) -> LabResult<Host> {
        let ns = format!("{}-{role}", self.prefix);
        self.namespaces.lock().unwrap().push(ns.clone());
        cmd::ip(&["netns", "add", &ns])?;
        let h = Host {
            ns,
            registry: self.registry.clone(),
            dir: self.dir.clone(),
        };
        h.ip(&["link", "set", "lo", "up"])?;
        Ok(h)
    }

    /// A veth pair: `a_if` in host `a`, `b_if` in host `b`, both up.
    pub fn veth(&self, a: &Host, a_if: &str, b: &Host, b_if: &str) -> LabResult<()> {
        a.ip(&[
            "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.ns,
        ])?;
        a.link_up(a_if)?;
        b.link_up(b_if)
    }

    /// A Linux bridge `name` in host `on`, up (STP off: ports forward at once).
    pub fn bridge(&self, on: &Host, name: &str) -> LabResult<()> {
        on.ip(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        on.link_up(name)
    }

    /// A veth pair from `host`'s `host_if` to port `port_if` of `bridge` (in `on`).
    pub fn attach(
        &self,
        host: &Host,
        host_if: &str,
        on: &Host,
        bridge: &str,
        port_if: &str,
    ) -> LabResult<()> {
        self.veth(host, host_if, on, port_if)?;
        on.ip(&["link", "set", port_if, "master", bridge])?;
        Ok(())
    }

    /// Deletes host `h`'s namespace now (a host that vanishes): its processes are
    /// killed, its links (and their peers in other hosts) disappear.
    pub fn remove_host(&self, h: &Host) -> LabResult<()> {
        kill_ns_pids(&h.ns);
        let r = cmd::ip(&["netns", "del", &h.ns]);
        self.namespaces.lock().unwrap().retain(|n| n != &h.ns);
        r.map(|_| ())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.registry.kill_all();
        let namespaces = std::mem::take(&mut *self.namespaces.lock().unwrap());
        for ns in namespaces.iter().rev() {
            kill_ns_pids(ns);
            let _ = cmd::ip(&["netns", "del", ns]);
        }
        if std::thread::panicking() {
            eprintln!("lab files kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// SIGKILLs every process inside namespace `ns` (all started by the lab).
fn kill_ns_pids(ns: &str) {
    let pids = cmd::ip(&["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.split_whitespace().filter(|p| p.parse::<u32>().is_ok()) {
        let _ = cmd::run(
            Command::new("kill").args(["-KILL", pid]),
            Duration::from_secs(5),
        );
    }
}

/// Deletes `slt-<pid>-…` namespaces whose creating process is gone.
fn sweep_stale() {
    let list = cmd::ip(&["netns", "list"]).unwrap_or_default();
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_ns_pids(name);
            let _ = cmd::ip(&["netns", "del", name]);
        }
    }
    // Scratch directories of dead test processes (a killed process, or a panic's
    // kept files), `<tmp>/slt-<pid>-<n>`.
    let tmp = std::env::temp_dir();
    for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A host of a [`Lab`]: a handle on one namespace (cheap to clone; the lab owns it).
#[derive(Clone)]
pub struct Host {
    ns: String,
    registry: Arc<Registry>,
    dir: PathBuf,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Host({})", self.ns)
    }
}

impl Host {
    /// The namespace name.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The lab's scratch directory (configs, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ip -n NS ARGS…`.
    pub fn ip(&self, args: &[&str]) -> LabResult<String> {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        cmd::ip(&all)
    }

    /// Adds `cidr` (e.g. `10.231.1.2/24`) to `ifname`.
    pub fn addr(&self, ifname: &str, cidr: &str) -> LabResult<()> {
        self.ip(&["addr", "add", cidr, "dev", ifname]).map(|_| ())
    }

    pub fn link_up(&self, ifname: &str) -> LabResult<()> {
        self.ip(&["link", "set", ifname, "up"]).map(|_| ())
    }

    pub fn link_down(&self, ifname: &str) -> LabResult<()> {
        self.ip(&["link", "set", ifname, "down"]).map(|_| ())
    }

    /// Default route via `gw`.
    pub fn default_route(&self, gw: &str) -> LabResult<()> {
        self.ip(&["route", "add", "default", "via", gw]).map(|_| ())
    }

    /// A route to `dst` (CIDR) via `gw`.
    pub fn route(&self, dst: &str, gw: &str) -> LabResult<()> {
        self.ip(&["route", "add", dst, "via", gw]).map(|_| ())
    }

    /// A `Command` that runs `program` inside this host (`ip netns exec NS program`).
    /// `ip netns exec` execs the program, so the child's pid is the program's.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(cmd::ip_program());
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Runs `program ARGS…` inside this host to completion, at most `limit`.
    pub fn run<S: AsRef<OsStr>>(
        &self,
        program: impl AsRef<OsStr>,
        args: &[S],
        limit: Duration,
    ) -> LabResult<Finished> {
        let mut c = self.command(program.as_ref());
        c.args(args);
        cmd::run(&mut c, limit).map_err(|e| format!("{:?} in {}: {e}", program.as_ref(), self.ns))
    }

    /// Starts `program ARGS…` inside this host in the background; its stdout and
    /// stderr go to `<lab dir>/<tag>.out|.err`. Killed when the returned process, or
    /// the lab, is dropped.
    pub fn spawn<S: AsRef<OsStr>>(
        &self,
        tag: &str,
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> LabResult<NsProcess> {
        let out = self.dir.join(format!("{tag}.out"));
        let err = self.dir.join(format!("{tag}.err"));
        let mut c = self.command(program.as_ref());
        c.args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).map_err(|e| e.to_string())?)
            .stderr(std::fs::File::create(&err).map_err(|e| e.to_string())?);
        let child = c
            .spawn()
            .map_err(|e| format!("spawn {:?} in {}: {e}", program.as_ref(), self.ns))?;
        Ok(NsProcess::new(
            tag,
            child,
            out,
            err,
            self.ns.clone(),
            &self.registry,
        ))
    }
}
