//! Helpers of the backend-reuse tests (`tests/reuse.rs`, `tests/reuse_table.rs`):
//! one-at-a-time execution, their proxy configuration, and the origins' per-connection
//! numbering (`x-conn-id`, `x-req-no`).

use std::sync::{Mutex, MutexGuard};

use super::Response;

/// Serialises the tests of one test binary: the static is per binary, as each
/// compiles its own `common`.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A proxy config: frontend `fe` on `port` (`bind_opts` appended to its `bind`),
/// default backend `be` with `be_lines` and `server s1 <server>`. Requests whose
/// path starts with `/other` go to backend `other` (`server o1 <other>`) when given.
pub fn config(
    port: u16,
    threads: u32,
    bind_opts: &str,
    be_lines: &str,
    server: &str,
    other: Option<&str>,
) -> String {
    let (route, other_be) = match other {
        Some(o) => (
            "    use_backend other if { path_beg /other }\n".to_string(),
            format!("\nbackend other\n    server o1 {o}\n"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "global
    nbthread {threads}

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{port} {bind_opts}
{route}    default_backend be

backend be
{be_lines}
    server s1 {server}
{other_be}"
    )
}

/// The `x-conn-id` the origins put on every answer.
pub fn conn_id(r: &Response) -> usize {
    r.header("x-conn-id")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no x-conn-id in {r:?}"))
}

/// The `x-req-no` (request number on its server connection) of an H1 origin answer.
pub fn req_no(r: &Response) -> usize {
    r.header("x-req-no")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no x-req-no in {r:?}"))
}
