//! HTTP/2 protections on an H2 frontend, with hand-crafted frames (common::h2raw):
//! rapid reset (CVE-2023-44487), PING / SETTINGS / empty-DATA / CONTINUATION floods,
//! oversized header lists and malformed stream-level input.
//!
//! Connection-level attacks must end in GOAWAY ENHANCE_YOUR_CALM and a close, while a
//! second, well-behaved connection to the same frontend keeps getting 200s.
//! Stream-level faults must cost only that stream. Every case is counted in
//! `debug counters` on the stats socket.
//!
//! Sluice-only: the limits and counter names are sluice's own. HAProxy 2.6.12 with
//! the same input (skip removed, `SLUICE_TEST_PROXY=/usr/sbin/haproxy`): no GOAWAY
//! for rapid reset, PING, SETTINGS, empty-DATA or CONTINUATION floods (it ACKs all
//! 1000 PINGs and SETTINGS, answers nothing on the reset streams, and serves the
//! 4000-CONTINUATION request with 200); an 84 KB header list gets GOAWAY
//! INTERNAL_ERROR for the whole connection; an uppercase name or `connection:` gets
//! RST_STREAM PROTOCOL_ERROR on that stream only, as here. The well-behaved
//! connection got its 200s throughout. HAProxy 2.6 has no `debug counters`.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::h2raw::{self, Outcome, RawConn};
use common::proxy::{free_port, h2_front_config, TempDir};
use common::{skip_unless_sluice, Origin, Proxy, HTTP_DEFAULTS};

const REASON: &str = "sluice's own H2 flood limits";
/// How long we wait for the proxy to react to an attack.
const REACT: Duration = Duration::from_secs(3);
/// How many frames a flood sends.
const FLOOD: usize = 1000;

struct Setup {
    proxy: Proxy,
    port: u16,
    sock: PathBuf,
    _origin: Origin,
    _dir: TempDir,
}

/// An H2 (prior knowledge) frontend in front of an H1 origin, with an admin socket.
fn setup() -> Setup {
    let origin = Origin::start("app");
    let port = free_port();
    let dir = TempDir::new("h2p");
    let sock = dir.path().join("s.sock");
    let defaults = HTTP_DEFAULTS.replacen(
        "global\n",
        &format!("global\n    stats socket {} level admin\n", sock.display()),
        1,
    );
    let proxy = Proxy::start(&h2_front_config(&defaults, port, origin.addr()));
    assert!(
        common::wait_until(Duration::from_secs(5), || sock.exists()),
        "no stats socket"
    );
    Setup {
        proxy,
        port,
        sock,
        _origin: origin,
        _dir: dir,
    }
}

/// One command on a fresh CLI connection; the answer up to the proxy's close.
fn cli(sock: &Path, cmd: &str) -> String {
    let mut s = UnixStream::connect(sock).expect("connect to the stats socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The count of the `debug counters` row whose description contains `name` (as a
/// whole word): the leading integer of that line. 0 when there is no such row.
fn h2_counter(sock: &Path, name: &str) -> u64 {
    counter_in(&cli(sock, "debug counters"), name)
}

fn counter_in(dump: &str, name: &str) -> u64 {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    dump.lines()
        .find(|l| {
            l.match_indices(name)
                .any(|(i, _)| !l[..i].ends_with(word) && !l[i + name.len()..].starts_with(word))
        })
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Asserts every counter in `names` is 0.
fn assert_zero(s: &Setup, names: &[&str]) {
    let dump = cli(&s.sock, "debug counters");
    for n in names {
        assert_eq!(counter_in(&dump, n), 0, "{n} before the attack:\n{dump}");
    }
}

/// Asserts every counter in `names` is at least 1.
fn assert_counted(s: &Setup, names: &[&str]) {
    let dump = cli(&s.sock, "debug counters");
    for n in names {
        assert!(
            counter_in(&dump, n) >= 1,
            "{n} not counted after the attack:\n{dump}"
        );
    }
}

/// A GET on a well-behaved connection answers 200.
fn assert_200(c: &mut RawConn, stream: u32, when: &str, s: &Setup) {
    let (st, frames) =
        h2raw::request_status(c, stream, &format!("/{when}"), Duration::from_secs(5));
    assert_eq!(
        st,
        Some(200),
        "well-behaved stream {stream} ({when}): {frames:?}\n{}",
        s.proxy.output()
    );
}

/// Runs a connection-level attack: `prelude` then `flood` written from another
/// thread on one connection, while a second connection (opened before) keeps
/// working. Returns what the attacking connection received afterwards.
fn attack(s: &Setup, prelude: &[u8], flood: Vec<u8>) -> Outcome {
    let mut good = RawConn::open(s.port);
    assert_200(&mut good, 1, "before", s);

    let mut bad = RawConn::open(s.port);
    bad.send(prelude).expect("send the attack prelude");
    let writer = bad.flood(flood);
    assert_200(&mut good, 3, "during", s);
    let sent = writer.join().unwrap_or(0);
    let out = bad.outcome(REACT);
    eprintln!("attack: {sent} bytes written; got {out:?}");

    assert_200(&mut good, 5, "after", s);
    let (st, frames) = h2raw::get_status(s.port, "/fresh");
    assert_eq!(
        st,
        Some(200),
        "fresh connection after the attack: {frames:?}"
    );
    out
}

/// GOAWAY ENHANCE_YOUR_CALM, then the connection closed.
fn assert_calm(out: &Outcome, s: &Setup) {
    let g = out.goaway.as_ref().unwrap_or_else(|| {
        panic!(
            "no GOAWAY (closed: {}); frames: {:?}\n{}",
            out.closed,
            out.sample,
            s.proxy.output()
        )
    });
    assert_eq!(
        g.code,
        h2raw::ENHANCE_YOUR_CALM,
        "GOAWAY {} ({g:?}), expected ENHANCE_YOUR_CALM; frames: {:?}",
        h2raw::code_name(g.code),
        out.sample
    );
    assert!(
        out.closed,
        "connection still open {REACT:?} after GOAWAY: {:?}",
        out.sample
    );
}

/// The status decoder of the toolkit (no proxy involved).
#[test]
fn raw_toolkit_decodes_status_and_counters() {
    assert_eq!(h2raw::decode_status(&[0x88]), Some(200));
    assert_eq!(h2raw::decode_status(&[0x20, 0x8d]), Some(404));
    // Literal without indexing, name index 8, raw "431".
    assert_eq!(
        h2raw::decode_status(&[0x08, 3, b'4', b'3', b'1']),
        Some(431)
    );
    // Literal with incremental indexing, Huffman "431": 011010 011001 00001 + EOS bits.
    assert_eq!(
        h2raw::decode_status(&[0x48, 0x83, 0x69, 0x90, 0xff]),
        Some(431)
    );
    let dump = "Count     Type Location  Function(): \"Description\"\n\
                \x20     12 CNT  h2.rs:10  recv(): \"h2_ping_flood_x\"\n\
                \x20      3 CNT  h2.rs:20  recv(): \"h2_ping_flood: too many PINGs\"\n";
    assert_eq!(counter_in(dump, "h2_ping_flood"), 3);
    assert_eq!(counter_in(dump, "h2_settings_flood"), 0);
}

/// 1000 × (HEADERS + RST_STREAM CANCEL) on new streams.
#[test]
fn rapid_reset_gets_goaway_enhance_your_calm() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_rapid_reset", "h2_goaway_sent"]);
    let mut flood = Vec::new();
    for i in 0..FLOOD as u32 {
        let id = 1 + 2 * i;
        flood.extend(h2raw::get(id, "/reset"));
        flood.extend(h2raw::rst_stream(id, h2raw::CANCEL));
    }
    let out = attack(&s, &[], flood);
    assert_calm(&out, &s);
    assert_counted(&s, &["h2_rapid_reset", "h2_goaway_sent"]);
}

/// 1000 PINGs, not reading the ACKs.
#[test]
fn ping_flood_gets_goaway_enhance_your_calm() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_ping_flood", "h2_goaway_sent"]);
    let mut flood = Vec::new();
    for i in 0..FLOOD as u64 {
        flood.extend(h2raw::ping(i.to_be_bytes()));
    }
    let out = attack(&s, &[], flood);
    assert_calm(&out, &s);
    assert_counted(&s, &["h2_ping_flood", "h2_goaway_sent"]);
}

/// 1000 empty SETTINGS frames (each asks for an ACK).
#[test]
fn settings_flood_gets_goaway_enhance_your_calm() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_settings_flood", "h2_goaway_sent"]);
    let flood: Vec<u8> = (0..FLOOD).flat_map(|_| h2raw::settings(&[])).collect();
    let out = attack(&s, &[], flood);
    assert_calm(&out, &s);
    assert_counted(&s, &["h2_settings_flood", "h2_goaway_sent"]);
}

/// A POST, then 1000 DATA frames of length 0 without END_STREAM.
#[test]
fn empty_data_flood_gets_goaway_enhance_your_calm() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_empty_frame_flood", "h2_goaway_sent"]);
    let post = h2raw::headers(
        1,
        h2raw::request_block("POST", "/upload", "test.local").bytes(),
        false,
        true,
    );
    let flood: Vec<u8> = (0..FLOOD)
        .flat_map(|_| h2raw::data(1, &[], false))
        .collect();
    let out = attack(&s, &post, flood);
    assert_calm(&out, &s);
    assert_counted(&s, &["h2_empty_frame_flood", "h2_goaway_sent"]);
}

/// HEADERS without END_HEADERS, then 4000 CONTINUATION frames of 3 bytes each, all
/// parts of one 12000-byte header value (small enough that only the frame count
/// is abnormal).
#[test]
fn continuation_flood_gets_goaway_enhance_your_calm() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_continuation_flood", "h2_goaway_sent"]);
    let value = "c".repeat(12000);
    let block = h2raw::request_block("GET", "/cont", "test.local").literal("x-long", &value);
    let b = block.bytes();
    let first = b.len() - value.len();
    let prelude = h2raw::headers(1, &b[..first], true, false);
    let mut flood = Vec::new();
    let mut chunks = b[first..].chunks(3).peekable();
    while let Some(c) = chunks.next() {
        flood.extend(h2raw::continuation(1, c, chunks.peek().is_none()));
    }
    let out = attack(&s, &prelude, flood);
    if out.goaway.as_ref().map(|g| g.code) != Some(h2raw::ENHANCE_YOUR_CALM) {
        eprintln!(
            "continuation flood: expected GOAWAY ENHANCE_YOUR_CALM, got {:?}",
            out.sample
        );
    }
    assert_calm(&out, &s);
    assert_counted(&s, &["h2_continuation_flood", "h2_goaway_sent"]);
}

/// ~84 KB of header list (100 literal headers of 800 bytes) over HEADERS +
/// CONTINUATION frames of 16384 bytes: that stream gets 431 (or a reset), the
/// streams before and after it on the same connection get 200.
#[test]
fn oversized_header_list_costs_only_its_stream() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_header_list_too_large"]);
    let mut c = RawConn::open(s.port);
    assert_200(&mut c, 1, "before", &s);

    let mut block = h2raw::request_block("GET", "/big-headers", "test.local");
    let value = "v".repeat(800);
    for i in 0..100 {
        block = block.literal(&format!("x-big-{i:03}"), &value);
    }
    assert!(block.bytes().len() > 64 * 1024);
    c.send(&h2raw::headers_split(
        3,
        block.bytes(),
        true,
        h2raw::MAX_FRAME,
    ))
    .expect("send the oversized request");
    let (st, frames) = h2raw::wait_status(&mut c, 3, Duration::from_secs(5));
    let reset = frames
        .iter()
        .find(|f| f.stream == 3 && f.ty == h2raw::RST_STREAM);
    eprintln!("oversized header list: status {st:?}, frames {frames:?}");
    assert!(
        st == Some(431) || reset.is_some(),
        "expected 431 or RST_STREAM on stream 3, got {frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f.ty == h2raw::GOAWAY),
        "the connection was closed for one stream's headers: {frames:?}"
    );

    assert_200(&mut c, 5, "after", &s);
    assert_counted(&s, &["h2_header_list_too_large"]);
}

/// A stream with a malformed header block is reset with PROTOCOL_ERROR; the
/// connection and its other streams carry on.
fn malformed_costs_only_its_stream(name: &str, value: &str) {
    let s = setup();
    assert_zero(&s, &["h2_strm_protocol_errors", "h2_rst_stream_sent"]);
    let mut c = RawConn::open(s.port);
    assert_200(&mut c, 1, "before", &s);

    let block = h2raw::request_block("GET", "/malformed", "test.local").literal(name, value);
    c.send(&h2raw::headers(3, block.bytes(), true, true))
        .expect("send the malformed request");
    let (st, frames) = h2raw::wait_status(&mut c, 3, Duration::from_secs(5));
    eprintln!("malformed `{name}: {value}`: status {st:?}, frames {frames:?}");
    let rst = frames
        .iter()
        .find(|f| f.stream == 3 && f.ty == h2raw::RST_STREAM)
        .and_then(|f| f.rst_code());
    assert_eq!(
        rst,
        Some(h2raw::PROTOCOL_ERROR),
        "expected RST_STREAM PROTOCOL_ERROR on stream 3, got {frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f.ty == h2raw::GOAWAY),
        "the connection was closed for one stream: {frames:?}"
    );

    assert_200(&mut c, 5, "after", &s);
    assert_counted(&s, &["h2_strm_protocol_errors", "h2_rst_stream_sent"]);
    // Logged when the connection ends.
    drop(c);
    assert!(
        s.proxy
            .wait_log(
                &["1 stream(s) reset for protocol errors"],
                Duration::from_secs(3)
            )
            .is_some(),
        "{}",
        s.proxy.output()
    );
    assert_eq!(
        h2_counter(&s.sock, "h2_conn_protocol_errors"),
        0,
        "a stream error counted as a connection error"
    );
}

#[test]
fn te_other_than_trailers_resets_only_its_stream() {
    if skip_unless_sluice(REASON) {
        return;
    }
    malformed_costs_only_its_stream("te", "gzip");
}

/// An uppercase field name cannot even be decoded by the `h2` crate's HPACK
/// decoder: it answers GOAWAY(PROTOCOL_ERROR) — RFC 9113 §5.4.1 lets an endpoint
/// treat a stream error as a connection error. The streams before it completed
/// (the GOAWAY's last stream id says so), and other connections carry on.
#[test]
fn uppercase_header_name_ends_the_connection_after_its_earlier_streams() {
    if skip_unless_sluice(REASON) {
        return;
    }
    let s = setup();
    assert_zero(&s, &["h2_conn_protocol_errors"]);
    let mut c = RawConn::open(s.port);
    assert_200(&mut c, 1, "before", &s);
    let block = h2raw::request_block("GET", "/malformed", "test.local").literal("X-Upper", "1");
    c.send(&h2raw::headers(3, block.bytes(), true, true))
        .expect("send the malformed request");
    let (_, frames) = h2raw::wait_status(&mut c, 3, Duration::from_secs(5));
    let goaway = frames.iter().find(|f| f.ty == h2raw::GOAWAY);
    assert!(
        goaway.is_some_and(|g| format!("{g:?}").contains("last=1 code=PROTOCOL_ERROR")),
        "expected GOAWAY(last=1, PROTOCOL_ERROR), got {frames:?}"
    );
    let mut other = RawConn::open(s.port);
    assert_200(&mut other, 1, "other", &s);
    assert_counted(&s, &["h2_conn_protocol_errors", "h2_goaway_sent"]);
}

#[test]
fn connection_specific_header_resets_only_its_stream() {
    if skip_unless_sluice(REASON) {
        return;
    }
    malformed_costs_only_its_stream("connection", "keep-alive");
}
