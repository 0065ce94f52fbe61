//! Debug-mode traffic traces (`sluice -d`), in the shape of HAProxy's: one stderr
//! line per event of a session, prefixed with the session's id and proxy name.
//!
//! ```text
//! 0000000a:fe.accept(0000)=0001 from [127.0.0.1:53214]
//! 0000000a:fe.clireq[0001:ffff]: GET / HTTP/1.1
//! 0000000a:fe.clihdr[0001:ffff]: host: example.com
//! 0000000a:be.srvrep[0001:0002]: HTTP/1.1 200 OK
//! 0000000a:be.srvhdr[0001:0002]: content-length: 5
//! 0000000a:fe.closed[0001:0002]
//! ```
//!
//! Owns: the process-wide session id counter. Invariant: nothing here runs unless
//! debug mode is on (`Shared::debug`), so the request path pays one branch.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::h1::HeaderList;

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A new session id (also used in logs' `%ID`-like positions later).
pub fn next_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn line(id: u32, proxy: &str, what: &str, rest: std::fmt::Arguments<'_>) {
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "{id:08x}:{proxy}.{what}{rest}");
}

pub fn accept(id: u32, fe: &str, peer: Option<std::net::SocketAddr>) {
    let peer = peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
    line(id, fe, "accept", format_args!("(0000)=0001 from [{peer}]"));
}

/// A head: its start line and each header field.
pub fn head(id: u32, proxy: &str, first: &str, fields: &str, start_line: &[u8], h: &HeaderList) {
    line(
        id,
        proxy,
        first,
        format_args!("[0001:ffff]: {}", String::from_utf8_lossy(start_line)),
    );
    for (n, v) in h.iter() {
        line(
            id,
            proxy,
            fields,
            format_args!(
                "[0001:ffff]: {}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            ),
        );
    }
}

pub fn closed(id: u32, fe: &str) {
    line(id, fe, "closed", format_args!("[0001:0002]"));
}
