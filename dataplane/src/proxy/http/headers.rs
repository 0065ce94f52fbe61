//! Connection-level header handling for a forwarded HTTP/1 message: hop-by-hop
//! hygiene and the `Connection` field sluice writes itself, then serialisation.
//!
//! Invariants: no hop-by-hop field of one side reaches the other; the framing fields
//! (`Content-Length`, `Transfer-Encoding`) are kept because bodies are forwarded with
//! the framing they arrived with; `Upgrade` passes only for a real upgrade.

use appliance_config::HttpConnMode;

use crate::h1::{strip_hop_by_hop, write_request, write_response, HopByHop, Version};
use crate::proxy::http::txn::Txn;

/// Clean the request head for the server and serialise it into `t.out`. Returns
/// whether the request asks for a protocol upgrade.
pub fn prepare_request(t: &mut Txn, mode: HttpConnMode) -> bool {
    let upgrade = t.req.upgrade().is_some() && t.req.connection().upgrade;
    strip_hop_by_hop(
        &mut t.req.headers,
        HopByHop {
            keep_upgrade: upgrade,
            reframe: false,
        },
    );
    // Fixed, valid values: appending cannot fail.
    let _ = if upgrade {
        t.req.headers.append(b"connection", b"upgrade")
    } else {
        match (mode, t.req.version) {
            (HttpConnMode::KeepAlive, Version::Http10) => {
                t.req.headers.append(b"connection", b"keep-alive")
            }
            (HttpConnMode::KeepAlive, Version::Http11) => Ok(()),
            _ => t.req.headers.append(b"connection", b"close"),
        }
    };
    t.out.clear();
    write_request(&t.req, &mut t.out);
    upgrade
}

/// Clean the response head for the client. The caller serialises it with
/// [`write_response`] unless it hands the head over whole (an HTTP/2 stream).
pub fn prepare_response(t: &mut Txn, client_keep: bool, switching: bool) {
    let upgrading = switching && t.rsp.status() == 101;
    strip_hop_by_hop(
        &mut t.rsp.headers,
        HopByHop {
            keep_upgrade: upgrading,
            reframe: false,
        },
    );
    let _ = if upgrading {
        t.rsp.headers.append(b"connection", b"upgrade")
    } else if !client_keep {
        t.rsp.headers.append(b"connection", b"close")
    } else if t.req.version == Version::Http10 {
        t.rsp.headers.append(b"connection", b"keep-alive")
    } else {
        Ok(())
    };
}

/// Serialise the (prepared) response head into `t.out`.
pub fn serialize_response(t: &mut Txn) {
    t.out.clear();
    write_response(&t.rsp, &mut t.out);
}
