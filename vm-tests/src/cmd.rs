//! Running a command to completion under a hard time limit.
//!
//! Owns: nothing beyond the call; the child is always reaped before returning.
//! Invariant: [`run`] never waits longer than its limit (plus the time to kill and
//! reap the child); output is collected by reader threads so a chatty child can never
//! block on a full pipe.

use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or killed) command left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
    /// True when the limit expired and the command was killed.
    pub timed_out: bool,
}

impl Finished {
    /// True when the command exited 0 in time.
    pub fn ok(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// One-line summary for error messages.
    pub fn describe(&self) -> String {
        format!(
            "{}{} after {:?}; stderr: {}",
            self.status,
            if self.timed_out {
                " (timed out, killed)"
            } else {
                ""
            },
            self.elapsed,
            self.stderr_str().trim()
        )
    }
}

/// Runs `cmd` (stdin from /dev/null, stdout/stderr captured) and waits at most
/// `limit`; on expiry the child is killed and `timed_out` is set.
pub fn run(cmd: &mut Command, limit: Duration) -> io::Result<Finished> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = start + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Ok(Finished {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        elapsed,
        timed_out,
    })
}

/// How long one `ip` invocation may take.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `ip` program: found on PATH or in /usr/sbin, /sbin (resolved once).
pub fn ip_program() -> PathBuf {
    static IP: OnceLock<PathBuf> = OnceLock::new();
    IP.get_or_init(|| crate::detect::which("ip").unwrap_or_else(|| PathBuf::from("ip")))
        .clone()
}

/// Runs `ip ARGS…`; `Err` carries the command line and its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let f = run(Command::new(ip_program()).args(args), IP_TIMEOUT)
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if f.ok() {
        Ok(f.stdout_str())
    } else {
        Err(format!("ip {}: {}", args.join(" "), f.describe()))
    }
}
