//! The management CLI: HAProxy's stats socket (`stats socket` in `global`).
//!
//! Owns: [`Cli`] (what every CLI connection shares: the [`Shared`] state, the workers'
//! mailboxes, the start time), [`CliListener`], [`serve`] (one small thread per
//! socket, one per connection, blocking std sockets: the CLI never runs on a worker)
//! and [`WorkerSnapshot`] (what a worker reports of itself). Commands live in
//! `commands`, `show info` in `info`, `set maxconn` in `maxconn`,
//! `disable|enable|shutdown frontend` in `frontend`, `show errors` in `errors`,
//! `show|get|set|add|del|clear map|acl` in `maps`, `show pools` in `pools`, `show
//! sess` and `shutdown session(s)` in `sess`, `show fd` in `fd`, `set server …
//! addr|port` in `servers`, `show stat` in `stat`, their
//! typed and JSON formats in `typed`, the Prometheus exporter (served by the
//! workers, not the CLI) in `prometheus`, and the stats page's HTML and CSV (also
//! served by the workers, see `proxy::http::statspage`) in `statspage`.
//!
//! Protocol (HAProxy's): non-interactive by default — read one line, run its commands
//! (separated by `;`), write each answer followed by an empty line, close. `prompt`
//! switches to interactive mode: after each line the prompt `> ` is written and the
//! connection stays open until `quit`, end of input or `stats timeout` of silence.
//! A line ending with `<<` is followed by a payload: the lines up to an empty line,
//! handed to the line's last command (`add map <map> <<`).
//!
//! Invariants: per-worker data is gathered (and reset, `clear counters all`) through
//! the mailbox ([`Message::Snapshot`], [`Message::ClearCounters`])
//! with a bounded wait, never by stopping traffic; a worker that does not answer in
//! time is left out of the sums. Changes of state (weights, maintenance, maxconn,
//! frontends' states) go through the [`Shared`] atomics that workers read on the
//! request path. A socket's level
//! (`user`, `operator`, `admin`) is checked before any change.

mod commands;
mod errors;
mod fd;
mod frontend;
pub mod getsocks;
mod info;
mod maps;
mod maxconn;
mod pools;
pub mod prometheus;
mod servers;
mod sess;
mod stat;
pub mod statspage;
mod typed;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use appliance_config::CliLevel;

pub use pools::worker_pools;

use crate::io::DriverCounters;
use crate::proxy::stats::{ConnRow, WorkerStats};
use crate::proxy::{Message, Shared};
use crate::runtime::mailbox::Mailbox;
use crate::runtime::ExecCounters;

/// How long a command waits for the workers' snapshots.
const GATHER_WAIT: Duration = Duration::from_secs(1);
/// At most this many CLI connections are served at once (more wait in the backlog).
const MAX_CONNS: usize = 64;
/// The longest command line accepted.
const MAX_LINE: usize = 64 * 1024;

/// Wall-clock microseconds since the epoch (the runtime's clock is per worker thread;
/// the CLI runs on its own threads).
pub(crate) fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What one worker reports of itself (answered from its loop, between two turns).
#[derive(Clone, Debug, Default)]
pub struct WorkerSnapshot {
    pub id: usize,
    pub stats: WorkerStats,
    pub driver: DriverCounters,
    pub exec: ExecCounters,
    /// Turns of the worker's loop.
    pub loops: u64,
    /// Sessions open on the worker.
    pub sessions: usize,
    /// HTTP/2 counters.
    pub h2: crate::h2::counters::H2Counters,
    /// Idle server connections taken over from other workers.
    pub takeovers: u64,
    /// `show servers conn` rows: `conns[backend][server]`, this worker's view.
    pub conns: Vec<Vec<ConnRow>>,
    /// `show errors`: the worker's last invalid request (`true`) and response.
    pub errors: Vec<(bool, crate::proxy::CapturedError)>,
    /// `show pools`: the worker's object pools.
    pub pools: Vec<pools::PoolRow>,
}

/// What every CLI connection shares.
pub struct Cli {
    pub shared: Arc<Shared>,
    pub mailboxes: Vec<Mailbox<Message>>,
    /// When the process started (`Uptime`).
    pub started: Instant,
    /// Wall-clock start, seconds since the epoch (`Start_time_sec`).
    pub started_wall: u64,
    /// The version string of `show info`.
    pub version: String,
    /// Listening sockets of the process (frontends' binds and CLI sockets).
    pub listeners: usize,
    conns: AtomicUsize,
    /// Serialises `add server` / `del server` (slot choice and checks).
    dyn_servers: std::sync::Mutex<()>,
    /// The CLI's listening sockets (`show fd`).
    cli_fds: std::sync::Mutex<Vec<i32>>,
    /// Process-wide listening sockets `_getsocks` hands to a successor.
    exports: std::sync::Mutex<Vec<(std::net::SocketAddr, i32)>>,
}

impl Cli {
    pub fn new(
        shared: Arc<Shared>,
        mailboxes: Vec<Mailbox<Message>>,
        version: String,
        listeners: usize,
    ) -> Arc<Cli> {
        Arc::new(Cli {
            shared,
            mailboxes,
            started: Instant::now(),
            started_wall: wall_us() / 1_000_000,
            version,
            listeners,
            conns: AtomicUsize::new(0),
            dyn_servers: std::sync::Mutex::new(()),
            cli_fds: std::sync::Mutex::new(Vec::new()),
            exports: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The listening sockets (address, descriptor) `_getsocks` may hand out; the
    /// caller keeps the descriptors open for the process's life.
    pub fn set_exports(&self, exports: Vec<(std::net::SocketAddr, i32)>) {
        *self.exports.lock().unwrap_or_else(|e| e.into_inner()) = exports;
    }

    /// Send every worker the message `make` builds around a reply channel; collect
    /// the replies, waiting at most [`GATHER_WAIT`] in all (a late worker is left
    /// out).
    pub(crate) fn ask_all<T: Send + 'static>(
        &self,
        make: impl Fn(mpsc::Sender<T>) -> Message,
    ) -> Vec<T> {
        let (tx, rx) = mpsc::channel();
        let asked = self
            .mailboxes
            .iter()
            .filter(|m| m.send(make(tx.clone())).is_ok())
            .count();
        drop(tx);
        let deadline = Instant::now() + GATHER_WAIT;
        let mut out = Vec::with_capacity(asked);
        while out.len() < asked {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(s) => out.push(s),
                Err(_) => break,
            }
        }
        out
    }

    /// Ask every worker for a snapshot (see [`Cli::ask_all`]), sorted by worker.
    pub fn gather(&self) -> Vec<WorkerSnapshot> {
        let mut out = self.ask_all(|tx| {
            Message::Snapshot(Box::new(move |s| {
                let _ = tx.send(s);
            }))
        });
        out.sort_by_key(|s| s.id);
        out
    }

    /// `clear counters [all]`: the highest values kept in [`Shared`] back to 0 and,
    /// with `all`, the frontends' cumulated connections and every worker's traffic
    /// counters (through the mailbox; waits at most [`GATHER_WAIT`] for the
    /// workers). The process's `CumConns` is kept, as HAProxy keeps it.
    pub fn clear_counters(&self, all: bool) {
        let sh = &self.shared;
        sh.process.clear(false);
        for f in sh.frontends.iter() {
            f.clear(all);
        }
        for s in sh.servers.iter().flatten() {
            s.clear_max();
        }
        if !all {
            return;
        }
        self.ask_all(|tx| {
            Message::ClearCounters(Box::new(move || {
                let _ = tx.send(());
            }))
        });
    }

    /// The workers' counters summed.
    pub fn totals(&self, snaps: &[WorkerSnapshot]) -> WorkerStats {
        let cfg = &self.shared.config;
        let per_backend: Vec<usize> = cfg.backends.iter().map(|b| b.servers.len()).collect();
        let mut t = WorkerStats::new(cfg.frontends.len(), &per_backend);
        for s in snaps {
            t.merge(&s.stats);
        }
        t
    }
}

/// A bound CLI socket.
pub enum CliListener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// One accepted CLI connection.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn split(
        self,
        timeout: Duration,
    ) -> io::Result<(Box<dyn io::Read + Send>, Box<dyn Write + Send>)> {
        Ok(match self {
            Conn::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                (Box::new(s.try_clone()?), Box::new(s))
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                (Box::new(s.try_clone()?), Box::new(s))
            }
        })
    }
}

/// Serve `listener` on a thread of its own at `level`; connections idle longer than
/// `timeout` are closed.
pub fn serve(
    cli: Arc<Cli>,
    listener: CliListener,
    level: CliLevel,
    timeout: Duration,
    expose_fd: bool,
) -> io::Result<()> {
    {
        use std::os::fd::AsRawFd;
        let fd = match &listener {
            CliListener::Unix(l) => l.as_raw_fd(),
            CliListener::Tcp(l) => l.as_raw_fd(),
        };
        cli.cli_fds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fd);
    }
    std::thread::Builder::new()
        .name("sluice-cli".into())
        .spawn(move || loop {
            let conn = match &listener {
                CliListener::Unix(l) => l.accept().map(|(s, _)| Conn::Unix(s)),
                CliListener::Tcp(l) => l.accept().map(|(s, _)| Conn::Tcp(s)),
            };
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    eprintln!(
                        "[WARNING]  ({}) : CLI: accept failed: {e}",
                        std::process::id()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            while cli.conns.load(Ordering::Relaxed) >= MAX_CONNS {
                std::thread::sleep(Duration::from_millis(10));
            }
            cli.conns.fetch_add(1, Ordering::Relaxed);
            let cli2 = cli.clone();
            let spawned = std::thread::Builder::new()
                .name("sluice-cli-conn".into())
                .spawn(move || {
                    let _ = session(&cli2, conn, level, timeout, expose_fd);
                    cli2.conns.fetch_sub(1, Ordering::Relaxed);
                });
            if spawned.is_err() {
                cli.conns.fetch_sub(1, Ordering::Relaxed);
            }
        })?;
    Ok(())
}

/// What a command asks of the connection after its answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// `prompt`: toggle interactive mode.
    TogglePrompt,
    /// `quit`: close now.
    Quit,
}

/// One CLI connection: HAProxy's line protocol.
fn session(
    cli: &Cli,
    conn: Conn,
    level: CliLevel,
    timeout: Duration,
    expose_fd: bool,
) -> io::Result<()> {
    // `_getsocks` answers with ancillary data on the UNIX stream itself.
    let unix = match &conn {
        Conn::Unix(s) if expose_fd => Some(s.try_clone()?),
        _ => None,
    };
    let (rd, mut wr) = conn.split(timeout)?;
    let mut rd = BufReader::new(rd);
    let mut interactive = false;
    let mut level = level;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = io::Read::take(&mut rd, MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        let mut text = text.trim_end_matches(['\n', '\r']);
        // `cmd <<`: the lines up to an empty line are the last command's payload.
        let mut payload: Option<String> = None;
        if let Some(head) = text.trim_end().strip_suffix("<<") {
            text = head;
            let mut p = String::new();
            loop {
                line.clear();
                let n = io::Read::take(&mut rd, MAX_LINE as u64).read_until(b'\n', &mut line)?;
                let l = String::from_utf8_lossy(&line);
                let l = l.trim_end_matches(['\n', '\r']);
                if n == 0 || l.is_empty() {
                    break;
                }
                p.push_str(l);
                p.push('\n');
            }
            payload = Some(p);
        }
        let mut out = String::new();
        let cmds = split_commands(text);
        let last = cmds.len().saturating_sub(1);
        for (ci, cmd) in cmds.iter().enumerate() {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let pl = if ci == last { payload.as_deref() } else { None };
            if words == ["_getsocks"] {
                // HAProxy's internal command for `-x`: admin level, on a socket
                // declared with `expose-fd listeners` only.
                match (&unix, level >= CliLevel::Admin) {
                    (Some(u), true) => {
                        let exports = cli
                            .exports
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        return getsocks::send(u, &exports);
                    }
                    _ => {
                        out.push_str("Permission denied\n\n");
                        continue;
                    }
                }
            }
            let (answer, after) = commands::run(cli, &mut level, &words, pl);
            out.push_str(&answer);
            match after {
                After::Quit => {
                    wr.write_all(out.as_bytes())?;
                    return Ok(());
                }
                After::TogglePrompt => interactive = !interactive,
                After::Continue => {}
            }
            out.push('\n');
        }
        if interactive {
            out.push_str("> ");
        }
        wr.write_all(out.as_bytes())?;
        wr.flush()?;
        if !interactive {
            return Ok(());
        }
    }
}

/// Split a command line on unescaped `;` (`\;` is a literal semicolon).
fn split_commands(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                chars.next();
                out.last_mut().unwrap().push(';');
            }
            ';' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_commands;

    #[test]
    fn splits_on_semicolons() {
        assert_eq!(split_commands("a b;c"), vec!["a b", "c"]);
        assert_eq!(split_commands(r"a\;b;c"), vec!["a;b", "c"]);
        assert_eq!(split_commands(""), vec![""]);
    }
}
