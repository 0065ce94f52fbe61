//! Log delivery: where a finished log line goes and in which syslog framing.
//!
//! Owns: the per-worker log targets (stdout, stderr, UDP syslog, UNIX datagram
//! syslog) and the framing (`raw`, `short`, `rfc3164`, `rfc5424`), as HAProxy's
//! `log <target> [format F] <facility> [level [minlevel]]`.
//!
//! Invariants: sending a log line never blocks the worker (datagram sockets are
//! non-blocking; a full socket buffer drops the line and counts it, like HAProxy's
//! `DroppedLogs`); one line is one write/datagram; the line buffer is reused.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use crate::runtime::clock;

/// Syslog framing of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// The message alone.
    Raw,
    /// `<LEVEL>` then the message (HAProxy's `short`: the severity only, as
    /// systemd/journald read it on stdout).
    Short,
    /// `<PRI>Mmm dd hh:mm:ss tag[pid]: message` (BSD syslog; HAProxy adds no
    /// hostname unless `log-send-hostname`).
    #[default]
    Rfc3164,
    /// `<PRI>1 timestamp host tag pid - - message`.
    Rfc5424,
}

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDest {
    Stdout,
    Stderr,
    Udp(SocketAddr),
    Unix(PathBuf),
}

/// One `log` line of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTargetSpec {
    pub dest: LogDest,
    pub format: LogFormat,
    /// Syslog facility number (local0 = 16).
    pub facility: u8,
    /// Highest (least severe) level sent: 0 emerg .. 7 debug.
    pub max_level: u8,
    /// Levels below (more severe than) this are raised to it.
    pub min_level: u8,
}

enum Sock {
    Stdout,
    Stderr,
    Udp(UdpSocket),
    Unix(UnixDatagram, PathBuf),
}

struct Target {
    spec: LogTargetSpec,
    sock: Sock,
}

/// A worker's log targets for one proxy (or global).
pub struct LogSink {
    targets: Vec<Target>,
    tag: String,
    host: String,
    pid: u32,
    line: RefCell<Vec<u8>>,
    dropped: Cell<u64>,
}

/// Syslog levels by name, as HAProxy spells them.
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl LogSink {
    /// Open the targets (sockets are non-blocking). `tag` is the program name in the
    /// syslog header (HAProxy: `log-tag`, default the program name).
    pub fn open(specs: &[LogTargetSpec], tag: &str) -> io::Result<LogSink> {
        let mut targets = Vec::with_capacity(specs.len());
        for spec in specs {
            let sock = match &spec.dest {
                LogDest::Stdout => Sock::Stdout,
                LogDest::Stderr => Sock::Stderr,
                LogDest::Udp(addr) => {
                    let bind: SocketAddr = if addr.is_ipv4() {
                        "0.0.0.0:0".parse().expect("literal")
                    } else {
                        "[::]:0".parse().expect("literal")
                    };
                    let s = UdpSocket::bind(bind)?;
                    s.connect(addr)?;
                    s.set_nonblocking(true)?;
                    Sock::Udp(s)
                }
                LogDest::Unix(path) => {
                    let s = UnixDatagram::unbound()?;
                    s.set_nonblocking(true)?;
                    Sock::Unix(s, path.clone())
                }
            };
            targets.push(Target {
                spec: spec.clone(),
                sock,
            });
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Ok(LogSink {
            targets,
            tag: tag.to_string(),
            host,
            pid: std::process::id(),
            line: RefCell::new(Vec::with_capacity(1024)),
            dropped: Cell::new(0),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Lines that could not be sent.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Send `msg` at syslog `level` to every target that accepts that level.
    pub fn send(&self, level: u8, msg: &[u8]) {
        for t in &self.targets {
            if level > t.spec.max_level {
                continue;
            }
            let level = level.max(t.spec.min_level);
            let mut line = self.line.borrow_mut();
            line.clear();
            let pri = u32::from(t.spec.facility) * 8 + u32::from(level);
            match t.spec.format {
                LogFormat::Raw => {}
                LogFormat::Short => {
                    let _ = write!(line, "<{level}>");
                }
                LogFormat::Rfc3164 => {
                    let _ = write!(line, "<{pri}>");
                    rfc3164_date(&mut line, clock::wall_us() / 1_000_000);
                    let _ = write!(line, " {}[{}]: ", self.tag, self.pid);
                }
                LogFormat::Rfc5424 => {
                    let _ = write!(line, "<{pri}>1 ");
                    rfc5424_date(&mut line, clock::wall_us());
                    let _ = write!(line, " {} {} {} - - ", self.host, self.tag, self.pid);
                }
            }
            line.extend_from_slice(msg);
            let ok = match &t.sock {
                Sock::Stdout => {
                    line.push(b'\n');
                    io::stdout().lock().write_all(&line).is_ok()
                }
                Sock::Stderr => {
                    line.push(b'\n');
                    io::stderr().lock().write_all(&line).is_ok()
                }
                Sock::Udp(s) => s.send(&line).is_ok(),
                Sock::Unix(s, p) => s.send_to(&line, p).is_ok(),
            };
            if !ok {
                self.dropped.set(self.dropped.get() + 1);
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date from days since 1970-01-01 (proleptic Gregorian, UTC).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `Mmm dd hh:mm:ss` (UTC), with a space-padded day as syslog wants.
fn rfc3164_date(out: &mut Vec<u8>, secs: u64) {
    let (_, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let _ = write!(
        out,
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

/// `yyyy-mm-ddThh:mm:ss.uuuuuuZ`.
fn rfc5424_date(out: &mut Vec<u8>, us: u64) {
    let secs = us / 1_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        us % 1_000_000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn udp_syslog_framing() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let spec = LogTargetSpec {
            dest: LogDest::Udp(rx.local_addr().unwrap()),
            format: LogFormat::Rfc3164,
            facility: 16,
            max_level: 6,
            min_level: 0,
        };
        let sink = LogSink::open(std::slice::from_ref(&spec), "sluice").unwrap();
        clock::update();
        sink.send(6, b"hello");
        sink.send(7, b"debug is above max level: not sent");
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.starts_with("<134>"), "{line}");
        assert!(
            line.ends_with(&format!("sluice[{}]: hello", std::process::id())),
            "{line}"
        );
        let raw = LogSink::open(
            &[LogTargetSpec {
                format: LogFormat::Raw,
                ..spec
            }],
            "sluice",
        )
        .unwrap();
        raw.send(6, b"just this");
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"just this");
    }
}
