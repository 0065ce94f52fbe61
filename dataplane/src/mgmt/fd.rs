//! `show fd [<num>]`: the file descriptors the workers' drivers own (listeners,
//! client and server connections) and the CLI's listening sockets, one line each
//! in HAProxy's layout as far as it applies.
//!
//! Owns: the formatting. Invariants: the list is gathered through the mailbox
//! ([`Message::Fds`]) with the CLI's bounded wait; nothing is made up: `st` carries
//! sluice's readiness bits (0x01 readable, 0x02 writable, 0x04 read hang-up, 0x08
//! write hang-up, 0x10 error, spelled `R W H h E` in the parentheses), `gen` the
//! descriptor's generation, `tid` the owning worker; a poll-mode worker has no
//! descriptor per connection and says so in a `#` comment line instead. CLI
//! connections (short-lived, on their own threads) are not listed.

use std::fmt::Write as _;

use super::Cli;
use crate::io::{FdInfo, FdRole};
use crate::proxy::Message;

fn st(f: &FdInfo) -> (u8, String) {
    let bits = [
        (f.readable, 'R'),
        (f.writable, 'W'),
        (f.read_hup, 'H'),
        (f.write_hup, 'h'),
        (f.error, 'E'),
    ];
    let mut v = 0u8;
    let mut s = String::new();
    for (i, (on, c)) in bits.iter().enumerate() {
        if *on {
            v |= 1 << i;
            s.push(*c);
        } else {
            s.push('-');
        }
    }
    (v, s)
}

/// One worker descriptor's line.
fn line(out: &mut String, worker: usize, f: &FdInfo) {
    let (v, flags) = st(f);
    let (iocb, extra) = match f.role {
        FdRole::Listener => ("listener_accept", " l.st=RDY"),
        FdRole::Client => ("sock_conn_iocb", " back=0"),
        FdRole::Server => ("sock_conn_iocb", " back=1"),
        FdRole::Other => ("unknown", ""),
    };
    let _ = writeln!(
        out,
        "{:>7} : st=0x{v:02x}({flags}) tid={} gen={} pwait=R:{}W:{} out={} owner=worker{} iocb=({iocb}){extra}",
        f.fd,
        worker + 1,
        f.gen,
        u8::from(f.reader_waits),
        u8::from(f.writer_waits),
        u8::from(f.out_subscribed),
        worker + 1,
    );
}

/// `show fd [<num>]`.
pub(crate) fn show_fd(cli: &Cli, only: Option<&str>) -> String {
    let only = match only.map(str::parse::<i32>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => return "Expects a positive file descriptor number.\n".into(),
    };
    let per: Vec<(usize, Option<Vec<FdInfo>>)> = cli.ask_all(|tx| {
        Message::Fds(Box::new(move |id, fds| {
            let _ = tx.send((id, fds));
        }))
    });
    let cli_fds = cli
        .cli_fds
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    format_fds(per, &cli_fds, only)
}

/// The answer from every worker's descriptors (`None`: a poll-mode worker) and the
/// CLI's listening sockets, by descriptor number, only `only` if given.
fn format_fds(
    mut per: Vec<(usize, Option<Vec<FdInfo>>)>,
    cli_fds: &[i32],
    only: Option<i32>,
) -> String {
    per.sort_by_key(|(id, _)| *id);
    let mut out = String::new();
    let mut rows: Vec<(i32, String)> = Vec::new();
    for (id, fds) in &per {
        match fds {
            None => {
                let _ = writeln!(
                    out,
                    "# worker {}: poll mode, connections are userspace TCP sockets \
                     without file descriptors (see 'show sess')",
                    id + 1
                );
            }
            Some(fds) => {
                for f in fds.iter().filter(|f| only.is_none_or(|n| n == f.fd)) {
                    let mut l = String::new();
                    line(&mut l, *id, f);
                    rows.push((f.fd, l));
                }
            }
        }
    }
    for fd in cli_fds {
        if only.is_none_or(|n| n == *fd) {
            rows.push((
                *fd,
                format!(
                    "{fd:>7} : st=0x00(-----) tid=0 owner=cli iocb=(listener_accept) fe=GLOBAL\n"
                ),
            ));
        }
    }
    rows.sort_by_key(|(fd, _)| *fd);
    for (_, l) in rows {
        out.push_str(&l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_role_and_readiness() {
        let f = FdInfo {
            fd: 12,
            gen: 3,
            role: FdRole::Server,
            readable: true,
            read_hup: true,
            reader_waits: true,
            ..FdInfo::default()
        };
        let mut out = String::new();
        line(&mut out, 0, &f);
        assert_eq!(
            out,
            "     12 : st=0x05(R-H--) tid=1 gen=3 pwait=R:1W:0 out=0 owner=worker1 \
             iocb=(sock_conn_iocb) back=1\n"
        );
        let l = FdInfo {
            role: FdRole::Listener,
            ..FdInfo::default()
        };
        out.clear();
        line(&mut out, 1, &l);
        assert!(out.contains("iocb=(listener_accept) l.st=RDY"), "{out}");
        assert!(out.contains("tid=2"), "{out}");
    }

    #[test]
    fn poll_mode_workers_say_they_have_no_descriptors() {
        let fd = |n| FdInfo {
            fd: n,
            role: FdRole::Client,
            ..FdInfo::default()
        };
        let out = format_fds(vec![(1, Some(vec![fd(9), fd(5)])), (0, None)], &[3], None);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("# worker 1: poll mode"), "{out}");
        let fds: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split(':').next().unwrap().trim())
            .collect();
        assert_eq!(fds, ["3", "5", "9"], "sorted by descriptor: {out}");
        assert!(lines[1].contains("owner=cli"), "{out}");
        let one = format_fds(vec![(0, Some(vec![fd(9), fd(5)]))], &[3], Some(5));
        assert_eq!(one.lines().count(), 1, "{one}");
    }
}
