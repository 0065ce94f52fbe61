//! The proxy the HTTP/2 test files (`tests/h2.rs`, `tests/h2_tools.rs`) start: one
//! frontend, one backend with one server; and the `site.test` certificate of their
//! TLS binds.

use std::path::PathBuf;

use super::proxy::{free_port, TempDir};
use super::tls::Pki;
use super::{Proxy, HTTP_DEFAULTS};

/// Starts a proxy with frontend `fe` (`bind 127.0.0.1:PORT <bind_opts>`) and backend
/// `be` (`<be_extra>` lines, then `server s1 <server>`). Returns it and the port.
pub fn start(bind_opts: &str, server: &str, be_extra: &str) -> (Proxy, u16) {
    let port = free_port();
    let cfg = format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} {bind_opts}
    default_backend be

backend be
{be_extra}    server s1 {server}
"
    );
    (Proxy::start(&cfg), port)
}

/// A certificate for `site.test` (chain + key) written in `d`.
pub fn site_pem(d: &TempDir) -> PathBuf {
    Pki::new(d.path(), "H2 Test CA").leaf("site.pem", &["site.test"], false)
}
