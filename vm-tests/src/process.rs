//! A program running inside a lab namespace, started by [`crate::Host::spawn`].
//!
//! Owns: its child process (shared with the lab's [`Registry`] so the lab can kill
//! it too) and the paths of its stdout/stderr logs.
//! Invariants: a process is killed by its own pid (std's `Child::kill`, which never
//! signals a pid it has already reaped) and reaped on drop — its own or the lab's,
//! whichever comes first; no process outlives the test that started it.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The processes of one lab, killed when the lab is dropped.
#[derive(Default)]
pub struct Registry {
    children: Mutex<Vec<Arc<Mutex<Child>>>>,
}

impl Registry {
    fn add(&self, c: Arc<Mutex<Child>>) {
        self.children.lock().unwrap().push(c);
    }

    /// Kills and reaps every registered process that is still running.
    pub fn kill_all(&self) {
        let children = std::mem::take(&mut *self.children.lock().unwrap());
        for c in children {
            let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A background program inside a host; see module docs.
pub struct NsProcess {
    tag: String,
    pid: u32,
    child: Arc<Mutex<Child>>,
    out: PathBuf,
    err: PathBuf,
    ns: String,
}

impl NsProcess {
    pub(crate) fn new(
        tag: &str,
        child: Child,
        out: PathBuf,
        err: PathBuf,
        ns: String,
        registry: &Registry,
    ) -> NsProcess {
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        registry.add(child.clone());
        NsProcess {
            tag: tag.to_string(),
            pid,
            child,
            out,
            err,
            ns,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Everything the process wrote so far: stdout, then stderr.
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        let err = std::fs::read_to_string(&self.err).unwrap_or_default();
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

    /// Waits (bounded) until the process listens on every TCP port of `ports` in its
    /// namespace. Reads `/proc/<pid>/net/tcp`, which shows the table of the
    /// namespace the process is in, once the process has exec'd past `ip netns exec`
    /// (so a port listening in the root namespace is never mistaken for it).
    pub fn wait_listening(&self, ports: &[u16], limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.exited() {
                return Err(format!(
                    "{} (in {}) exited ({st}) before listening on {ports:?}:\n{}",
                    self.tag,
                    self.ns,
                    self.output()
                ));
            }
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", self.pid)).unwrap_or_default();
            if !comm.is_empty() && comm.trim() != "ip" {
                let listening = listening_ports(self.pid);
                if ports.iter().all(|p| listening.contains(p)) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} (in {}) not listening on {ports:?} after {limit:?}:\n{}",
                    self.tag,
                    self.ns,
                    self.output()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills (SIGKILL) and reaps the process now.
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- {} (in {}) output:\n{}",
                self.tag,
                self.ns,
                self.output()
            );
        }
    }
}

/// TCP ports in LISTEN state in the network namespace of process `pid`.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let mut v = Vec::new();
    for f in ["tcp", "tcp6"] {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 3 && cols[3] == "0A" {
                if let Some(p) = cols[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                {
                    v.push(p);
                }
            }
        }
    }
    v
}
