//! `show errors [<px>] [request|response]`: the last invalid request of each
//! frontend and the last invalid response of each backend, in HAProxy's layout.
//!
//! Owns: [`show_errors`] and its formatting. Captures are per worker
//! (`Worker::last_request_error`, `last_response_error`) and reach the CLI in the
//! [`WorkerSnapshot`]s; the most recent per proxy and direction is shown.
//! sluice-specific: there is no client address, session or H1 parser state in a
//! capture, so the info lines name the worker and the parser's cause instead.

use std::fmt::Write as _;

use super::{wall_us, Cli, WorkerSnapshot};
use crate::proxy::CapturedError;

/// One capture to show: its proxy's name and id, its direction, where it was seen.
pub(crate) struct Shown<'a> {
    pub name: &'a str,
    pub id: u32,
    pub request: bool,
    pub worker: usize,
    pub err: &'a CapturedError,
}

/// Escaped output characters per dump line before it is continued (`+`).
const DUMP_WIDTH: usize = 72;

/// `show errors` with its arguments: `<px>` (a name, an id, or `-1` for all), then
/// `request` or `response` (anything else: both).
pub(crate) fn show_errors(cli: &Cli, args: &[&str]) -> String {
    let px = args.first().copied().filter(|p| *p != "-1");
    let dir = match args.get(1).copied() {
        Some("request") => Some(true),
        Some("response") => Some(false),
        _ => None,
    };
    let cfg = &cli.shared.config;
    let wanted_id = match px {
        None => None,
        Some(p) => {
            let id = match p.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => cfg
                    .frontends
                    .iter()
                    .find(|f| f.name == p)
                    .map(|f| f.id)
                    .or_else(|| cfg.backends.iter().find(|b| b.name == p).map(|b| b.id)),
            };
            match id {
                Some(id) => Some(id),
                None => return "No such proxy.\n".into(),
            }
        }
    };
    let snaps = cli.gather();
    let shown: Vec<Shown<'_>> = latest(&snaps, |request, proxy| {
        if request {
            cfg.frontends.get(proxy).map(|f| (f.name.as_str(), f.id))
        } else {
            cfg.backends.get(proxy).map(|b| (b.name.as_str(), b.id))
        }
    })
    .into_iter()
    .filter(|s| wanted_id.is_none_or(|id| id == s.id) && dir.is_none_or(|d| d == s.request))
    .collect();
    format_errors(wall_us(), &shown)
}

/// The most recent capture per proxy and direction over the workers, oldest first.
/// `name` gives a proxy's name and id (`None`: unknown, left out).
pub(crate) fn latest<'a>(
    snaps: &'a [WorkerSnapshot],
    name: impl Fn(bool, usize) -> Option<(&'a str, u32)>,
) -> Vec<Shown<'a>> {
    let mut out: Vec<Shown<'a>> = Vec::new();
    for s in snaps {
        for (request, err) in &s.errors {
            let Some((pname, id)) = name(*request, err.proxy) else {
                continue;
            };
            let same = out
                .iter_mut()
                .find(|o| o.request == *request && o.err.proxy == err.proxy);
            match same {
                Some(o) if o.err.wall_us >= err.wall_us => {}
                Some(o) => {
                    o.worker = s.id;
                    o.err = err;
                }
                None => out.push(Shown {
                    name: pname,
                    id,
                    request: *request,
                    worker: s.id,
                    err,
                }),
            }
        }
    }
    out.sort_by_key(|s| s.err.wall_us);
    out
}

/// HAProxy's date of CLI answers (`06/Dec/2026:22:57:00.123`).
pub(crate) fn date(us: u64) -> String {
    let mut v = Vec::new();
    crate::rules::write_date(&mut v, (us / 1000) as i64, 0, true);
    String::from_utf8_lossy(&v).into_owned()
}

/// The whole answer: the total line, then each capture.
pub(crate) fn format_errors(now_us: u64, shown: &[Shown<'_>]) -> String {
    let mut out = format!(
        "Total events captured on [{}] : {}\n",
        date(now_us),
        shown.len()
    );
    for s in shown {
        let e = s.err;
        let (kind, other) = if s.request {
            ("frontend", "backend")
        } else {
            ("backend", "frontend")
        };
        let what = if s.request { "request" } else { "response" };
        let _ = write!(
            out,
            " \n[{}] {kind} {} (#{}): invalid {what}\n",
            date(e.wall_us),
            s.name,
            s.id
        );
        let _ = writeln!(
            out,
            "  {other} <NONE> (#-1), server <NONE> (#-1), worker #{}, cause {}",
            s.worker, e.kind
        );
        let _ = writeln!(
            out,
            "  len {}, error at position {} :\n  ",
            e.bytes.len(),
            e.offset
        );
        dump(&mut out, &e.bytes);
    }
    out
}

/// One byte as HAProxy's dumps show it.
fn escape(out: &mut String, b: u8) {
    match b {
        b'\t' => out.push_str("\\t"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        0x1b => out.push_str("\\e"),
        b'\\' => out.push_str("\\\\"),
        0x20..=0x7e => out.push(b as char),
        _ => {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
}

/// The buffer, one line per input line: `  <offset>  <text>`, a line longer than
/// [`DUMP_WIDTH`] continued on lines marked `<offset>+`.
fn dump(out: &mut String, bytes: &[u8]) {
    let mut i = 0;
    let mut continued = false;
    while i < bytes.len() {
        let mark = if continued { '+' } else { ' ' };
        let mut line = String::new();
        let start = i;
        while i < bytes.len() && line.len() < DUMP_WIDTH {
            escape(&mut line, bytes[i]);
            i += 1;
            if bytes[i - 1] == b'\n' {
                break;
            }
        }
        continued = bytes[i - 1] != b'\n' && i < bytes.len();
        let _ = writeln!(out, "  {start:05}{mark} {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(proxy: usize, us: u64, bytes: &[u8], offset: usize) -> CapturedError {
        CapturedError {
            proxy,
            kind: "bad header name",
            offset,
            bytes: bytes.to_vec(),
            wall_us: us,
        }
    }

    #[test]
    fn layout_and_dump() {
        let e = cap(
            0,
            1_700_000_000_123_000,
            b"GET / HTTP/1.1\r\nba d: x\x01\r\n\r\n",
            16,
        );
        let shown = [Shown {
            name: "fe",
            id: 2,
            request: true,
            worker: 1,
            err: &e,
        }];
        let out = format_errors(1_700_000_001_000_000, &shown);
        assert_eq!(
            out,
            "Total events captured on [14/Nov/2023:22:13:21.000] : 1\n \
             \n\
             [14/Nov/2023:22:13:20.123] frontend fe (#2): invalid request\n  \
             backend <NONE> (#-1), server <NONE> (#-1), worker #1, cause bad header name\n  \
             len 28, error at position 16 :\n  \
             \n  \
             00000  GET / HTTP/1.1\\r\\n\n  \
             00016  ba d: x\\x01\\r\\n\n  \
             00026  \\r\\n\n"
        );
    }

    #[test]
    fn long_lines_continue() {
        let long = vec![b'a'; 100];
        let mut out = String::new();
        dump(&mut out, &long);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("  00000  aaa"));
        assert!(lines[1].starts_with("  00072+ aaa"));
        assert_eq!(lines[1].len(), 9 + 28);
    }

    #[test]
    fn latest_per_proxy_and_direction() {
        let snap = |id, errors| WorkerSnapshot {
            id,
            errors,
            ..Default::default()
        };
        let snaps = vec![
            snap(
                0,
                vec![(true, cap(0, 10, b"old", 0)), (false, cap(0, 5, b"r", 0))],
            ),
            snap(1, vec![(true, cap(0, 20, b"new", 0))]),
        ];
        let got = latest(&snaps, |req, _| Some((if req { "fe" } else { "be" }, 1)));
        assert_eq!(got.len(), 2);
        assert!(!got[0].request);
        assert_eq!(got[1].err.bytes, b"new");
        assert_eq!(got[1].worker, 1);
    }
}
