//! HTTP/2 flow control toward the client on an H2 frontend, with hand-crafted frames
//! (common::h2raw): a response's DATA waits for the client's window, whatever the
//! size of the body and whether it ends the stream, and flows once the client opens
//! its window with WINDOW_UPDATE. RFC 9113 §5.2 and §6.9.
//!
//! Runs against HAProxy too (`SLUICE_TEST_PROXY=/usr/sbin/haproxy`): nothing here is
//! sluice-specific.

mod common;

use std::time::Duration;

use common::h2raw::{self, Frame, RawConn, DATA, END_STREAM, SETTINGS_INITIAL_WINDOW_SIZE};
use common::proxy::{free_port, h2_front_config};
use common::{Origin, Proxy, HTTP_DEFAULTS};

/// How long a held-back DATA frame is watched for.
const HOLD: Duration = Duration::from_millis(600);
/// How long a response may take once the window is open.
const FLOW: Duration = Duration::from_secs(5);

/// An H2 (prior knowledge) frontend in front of an H1 origin.
fn setup() -> (Proxy, u16, Origin) {
    let origin = Origin::start("app");
    let port = free_port();
    let proxy = Proxy::start(&h2_front_config(HTTP_DEFAULTS, port, origin.addr()));
    (proxy, port, origin)
}

/// A connection whose streams start with a zero send window for the proxy
/// (SETTINGS_INITIAL_WINDOW_SIZE 0; the connection window stays at 65 535).
fn zero_window_conn(port: u16) -> RawConn {
    let mut c = RawConn::open(port);
    c.send(&h2raw::settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]))
        .expect("send SETTINGS");
    c
}

/// DATA bytes of `stream` among `frames`, and whether one of them ended the stream.
fn data_of(frames: &[Frame], stream: u32) -> (usize, bool) {
    frames
        .iter()
        .filter(|f| f.ty == DATA && f.stream == stream)
        .fold((0, false), |(n, end), f| {
            (n + f.payload.len(), end || f.flags & END_STREAM != 0)
        })
}

/// Reads until `stream` ends (or `limit`), returning every frame read.
fn read_to_end(c: &mut RawConn, stream: u32, limit: Duration) -> Vec<Frame> {
    c.read_until(limit, |f| {
        f.stream == stream && f.flags & END_STREAM != 0 && (f.ty == DATA || f.ty == 0x1)
    })
}

#[test]
fn small_final_data_waits_for_the_stream_window() {
    let (_p, port, _o) = setup();
    let mut c = zero_window_conn(port);
    c.send(&h2raw::get(1, "/size/6")).expect("send request");
    // The head comes; the six body bytes may not while the window is 0.
    let mut frames = c.read_until(HOLD, |_| false);
    assert_eq!(
        frames.iter().find_map(Frame::status),
        Some(200),
        "{frames:?}"
    );
    assert_eq!(
        data_of(&frames, 1).0,
        0,
        "DATA beyond a zero window: {frames:?}"
    );
    // Three bytes of window: three bytes, the stream stays open.
    c.send(&h2raw::window_update(1, 3)).unwrap();
    frames.extend(c.read_until(HOLD, |_| false));
    assert_eq!(data_of(&frames, 1), (3, false), "{frames:?}");
    // The rest of the window: the rest of the body, and the end of the stream.
    c.send(&h2raw::window_update(1, 100)).unwrap();
    frames.extend(read_to_end(&mut c, 1, FLOW));
    assert_eq!(data_of(&frames, 1), (6, true), "{frames:?}");
}

#[test]
fn large_body_flows_as_the_client_opens_its_windows() {
    let (_p, port, _o) = setup();
    let mut c = zero_window_conn(port);
    const SIZE: u32 = 200_000;
    c.send(&h2raw::get(1, &format!("/size/{SIZE}")))
        .expect("send request");
    let mut frames = c.read_until(HOLD, |_| false);
    assert_eq!(frames.iter().find_map(Frame::status), Some(200));
    assert_eq!(data_of(&frames, 1).0, 0, "DATA beyond a zero window");
    // Open the stream window fully: the connection window (65 535) is the limit now.
    c.send(&h2raw::window_update(1, SIZE)).unwrap();
    frames.extend(c.read_until(HOLD, |_| false));
    assert_eq!(data_of(&frames, 1), (65_535, false), "connection window");
    // Then the connection window: the whole body.
    c.send(&h2raw::window_update(0, SIZE)).unwrap();
    frames.extend(read_to_end(&mut c, 1, FLOW));
    assert_eq!(data_of(&frames, 1), (SIZE as usize, true));
}
