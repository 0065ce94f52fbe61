//! Shared end-to-end harness: origins, clients and the proxy under test.
//!
//! Run against sluice: `cargo test`. Validate against HAProxy:
//! `SLUICE_TEST_PROXY=/usr/sbin/haproxy cargo test`.

#![allow(dead_code, unused_imports)]

pub mod cli_proxy;
pub mod client;
pub mod grpc;
pub mod h2;
mod h2_client;
pub mod h2_proxy;
pub mod h2raw;
pub mod http;
pub mod origin;
pub mod proxy;
pub mod reuse;
pub mod tls;

use std::time::{Duration, Instant};

pub use client::{get, get_closed, get_with, Conn, Response};
pub use origin::{Behaviour, Origin, TcpEcho};
pub use proxy::{free_port, is_sluice, skip_unless_sluice, Proxy, HTTP_DEFAULTS, TCP_DEFAULTS};

/// One exchange with the management socket at `sock`: send `input`, read the answer
/// until the proxy closes the connection.
pub fn cli(sock: &std::path::Path, input: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("connect to the CLI");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(input.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the CLI answer");
    out
}

/// Polls `f` every 10 ms until it returns true or `limit` elapses.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
