//! `_getsocks`: hand the process's listening sockets to its successor over the
//! CLI's UNIX socket (`SCM_RIGHTS`), for a reload that never closes a listener —
//! HAProxy's `stats socket … expose-fd listeners` with `haproxy -x <socket>`.
//!
//! Owns: the message format and [`send`]. The receiving side (`sluice -x`) is the
//! binary's (it turns raw descriptors into owned ones). Format (sluice's own, both
//! ends are sluice): one write of text — `sluice-listeners 1\n`, then one
//! `tcp <address>\n` line per socket — carrying the descriptors in the same order
//! as ancillary data. Invariants: only a UNIX connection of a socket declared with
//! `expose-fd listeners`, at level admin, gets the sockets; the descriptors stay
//! open here (the successor gets duplicates); at most [`MAX_SOCKETS`] per reply.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;

use sendfd::SendWithFd;

/// The first line of the reply.
pub const MAGIC: &str = "sluice-listeners 1";

/// Most descriptors one reply carries (the kernel's SCM_RIGHTS limit is 253).
pub const MAX_SOCKETS: usize = 200;

/// The reply's text for `exports`.
pub fn text(exports: &[(SocketAddr, RawFd)]) -> String {
    let mut t = format!("{MAGIC}\n");
    for (a, _) in exports {
        t.push_str(&format!("tcp {a}\n"));
    }
    t
}

/// Sends `exports` (address and descriptor of each listening socket) on `stream`.
pub fn send(stream: &UnixStream, exports: &[(SocketAddr, RawFd)]) -> io::Result<()> {
    if exports.len() > MAX_SOCKETS {
        return Err(io::Error::other(format!(
            "{} listening sockets: at most {MAX_SOCKETS} can be passed",
            exports.len()
        )));
    }
    let text = text(exports);
    let fds: Vec<RawFd> = exports.iter().map(|(_, fd)| *fd).collect();
    let n = stream.send_with_fd(text.as_bytes(), &fds)?;
    if n != text.len() {
        return Err(io::Error::other("short write of the listener list"));
    }
    Ok(())
}

/// Parses a reply's text into addresses, in descriptor order.
pub fn parse(text: &str) -> io::Result<Vec<SocketAddr>> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(io::Error::other(format!(
            "not a sluice listener list (is the old process sluice, and its stats socket 'level admin expose-fd listeners'?): {:?}",
            text.lines().next().unwrap_or("")
        )));
    }
    lines
        .map(|l| {
            l.strip_prefix("tcp ")
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| io::Error::other(format!("bad listener line {l:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let e = vec![
            ("127.0.0.1:80".parse().unwrap(), 7),
            ("[::1]:8443".parse().unwrap(), 9),
        ];
        let t = text(&e);
        assert_eq!(t, "sluice-listeners 1\ntcp 127.0.0.1:80\ntcp [::1]:8443\n");
        assert_eq!(parse(&t).unwrap(), vec![e[0].0, e[1].0]);
        assert!(parse("Permission denied\n").is_err());
        assert!(parse("sluice-listeners 1\nudp x\n").is_err());
    }

    #[test]
    fn descriptors_cross_a_socketpair() {
        let (a, b) = UnixStream::pair().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        use std::os::fd::AsRawFd;
        send(&a, &[(addr, l.as_raw_fd())]).unwrap();
        let mut buf = [0u8; 256];
        let mut fds = [0 as RawFd; 4];
        let (n, nfd) = sendfd::RecvWithFd::recv_with_fd(&b, &mut buf, &mut fds).unwrap();
        assert_eq!(nfd, 1);
        assert_ne!(fds[0], l.as_raw_fd(), "a duplicate arrives");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(parse(text).unwrap(), vec![addr]);
    }
}
