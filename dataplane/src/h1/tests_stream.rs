//! Split-input tests: every head of the matrices and several bodies are fed byte by
//! byte and in seeded random splits; the outcome must be the one of the whole input.

use super::tests::{same_request, same_response};
use super::tests_matrix::{decode_all, CHUNKED_BODIES, REQUESTS, RESPONSES};
use super::*;
use crate::test_rng::TestRng as Rng;

/// What a parse sequence ended with: the head (as a comparable summary) or the error.
type ReqOutcome = Result<(usize, RequestHead), H1Error>;

fn request_in_pieces(raw: &[u8], pieces: &[usize]) -> Option<ReqOutcome> {
    let limits = Limits::default();
    let mut head = RequestHead::new();
    let mut len = 0;
    for &p in pieces {
        len += p;
        match parse_request(&raw[..len], &limits, &mut head) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { head_len }) => return Some(Ok((head_len, head))),
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

fn same_outcome(a: &Option<ReqOutcome>, b: &Option<ReqOutcome>) -> bool {
    match (a, b) {
        (Some(Ok((la, ha))), Some(Ok((lb, hb)))) => la == lb && same_request(ha, hb),
        (Some(Err(ea)), Some(Err(eb))) => ea == eb,
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn request_heads_byte_by_byte_and_random_splits() {
    let mut rng = Rng(0x5eed_0001);
    for (name, raw, _) in REQUESTS {
        let whole = request_in_pieces(raw, &[raw.len()]);
        let bytes = request_in_pieces(raw, &vec![1; raw.len()]);
        assert!(
            same_outcome(&whole, &bytes),
            "{name}: byte by byte {bytes:?} vs {whole:?}"
        );
        for _ in 0..20 {
            let pieces = rng.splits(raw.len(), 9);
            let split = request_in_pieces(raw, &pieces);
            assert!(same_outcome(&whole, &split), "{name}: {pieces:?}");
        }
    }
}

#[test]
fn response_heads_byte_by_byte() {
    let limits = Limits::default();
    for (name, raw, method, _) in RESPONSES {
        let mut whole = ResponseHead::new();
        let want = parse_response(raw, &limits, *method, &mut whole);
        let mut head = ResponseHead::new();
        let mut got = Ok(Parsed::Partial);
        for len in 1..=raw.len() {
            got = parse_response(&raw[..len], &limits, *method, &mut head);
            if got != Ok(Parsed::Partial) {
                break;
            }
        }
        assert_eq!(got, want, "{name}");
        if want.is_ok() {
            assert!(same_response(&head, &whole), "{name}");
        }
    }
}

#[test]
fn large_head_fed_slowly() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..90 {
        raw.extend_from_slice(format!("X-Header-{i}: {}\r\n", "v".repeat(150)).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert!(raw.len() < 16384);
    let whole = request_in_pieces(&raw, &[raw.len()]);
    let bytes = request_in_pieces(&raw, &vec![1; raw.len()]);
    assert!(matches!(&whole, Some(Ok((n, h))) if *n == raw.len() && h.headers.len() == 91));
    assert!(same_outcome(&whole, &bytes));
}

#[test]
fn shrinking_buffer_restarts_the_scan() {
    let limits = Limits::default();
    let mut head = RequestHead::new();
    let raw = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        parse_request(&raw[..20], &limits, &mut head),
        Ok(Parsed::Partial)
    );
    // The caller dropped its buffer and starts over with fewer bytes: still correct.
    assert_eq!(
        parse_request(&raw[..5], &limits, &mut head),
        Ok(Parsed::Partial)
    );
    assert_eq!(
        parse_request(raw, &limits, &mut head),
        Ok(Parsed::Complete {
            head_len: raw.len()
        })
    );
    assert_eq!(head.target(), b"/a");
}

/// Everything a body decode produced: data, trailers, or the error kind.
#[derive(Debug, PartialEq)]
struct BodyOutcome {
    data: Vec<u8>,
    trailers: Vec<u8>,
    end: bool,
    error: Option<ErrorKind>,
}

/// Feeds `body` in `pieces` through a decoder the way a connection does: unconsumed
/// bytes stay in a pending buffer, new bytes are appended.
fn body_in_pieces(kind: BodyKind, body: &[u8], pieces: &[usize]) -> BodyOutcome {
    let mut dec = BodyDecoder::response(kind, &Limits::default());
    let mut out = BodyOutcome {
        data: Vec::new(),
        trailers: Vec::new(),
        end: false,
        error: None,
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    'feed: for &p in pieces {
        pending.extend_from_slice(&body[fed..fed + p]);
        fed += p;
        loop {
            match dec.decode(&pending) {
                Err(e) => {
                    out.error = Some(e.kind);
                    break 'feed;
                }
                Ok(d) => {
                    match d.step {
                        BodyStep::Data { start, end } => {
                            assert!(end > start, "empty data step");
                            out.data.extend_from_slice(&pending[start..end])
                        }
                        BodyStep::Trailers { start, end } => {
                            out.trailers.extend_from_slice(&pending[start..end])
                        }
                        BodyStep::End => {
                            out.end = true;
                            pending.drain(..d.consumed);
                            break 'feed;
                        }
                        BodyStep::NeedMore => {
                            pending.drain(..d.consumed);
                            continue 'feed;
                        }
                    }
                    pending.drain(..d.consumed);
                }
            }
        }
    }
    out
}

fn chunked_sample(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let mut wire = Vec::new();
    let mut data = Vec::new();
    for i in 0..12u8 {
        let n = 1 + rng.next() as usize % 300;
        let chunk: Vec<u8> = (0..n)
            .map(|j| b'a' + ((j + i as usize) % 26) as u8)
            .collect();
        if i % 3 == 0 {
            wire.extend_from_slice(format!("{n:X};ext{i}=\"v;{i}\"\r\n").as_bytes());
        } else {
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        wire.extend_from_slice(&chunk);
        wire.extend_from_slice(b"\r\n");
        data.extend_from_slice(&chunk);
    }
    wire.extend_from_slice(b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\nNEXT");
    (wire, data)
}

#[test]
fn chunked_body_in_any_split() {
    let mut rng = Rng(0x5eed_0002);
    for round in 0..10 {
        let (wire, data) = chunked_sample(&mut rng);
        let whole = body_in_pieces(BodyKind::Chunked, &wire, &[wire.len()]);
        assert_eq!(whole.data, data, "round {round}");
        assert_eq!(whole.trailers, b"X-Checksum: abc\r\nX-Other: 1\r\n");
        assert!(whole.end && whole.error.is_none());
        let bytes = body_in_pieces(BodyKind::Chunked, &wire, &vec![1; wire.len()]);
        assert_eq!(bytes, whole, "round {round} byte by byte");
        for _ in 0..10 {
            let pieces = rng.splits(wire.len(), 700);
            assert_eq!(body_in_pieces(BodyKind::Chunked, &wire, &pieces), whole);
        }
    }
}

#[test]
fn length_body_in_any_split() {
    let mut rng = Rng(0x5eed_0003);
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = body.clone();
    wire.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    for _ in 0..20 {
        let pieces = rng.splits(wire.len(), 1500);
        let got = body_in_pieces(BodyKind::Length(5000), &wire, &pieces);
        assert_eq!(got.data, body);
        assert!(got.end);
    }
}

#[test]
fn chunked_errors_same_in_pieces() {
    let mut rng = Rng(0x5eed_0004);
    for (name, body, kind) in CHUNKED_BODIES {
        assert_eq!(decode_all(body).unwrap_err().kind, *kind, "{name}");
        let bytes = body_in_pieces(BodyKind::Chunked, body, &vec![1; body.len()]);
        assert_eq!(bytes.error, Some(*kind), "{name} byte by byte");
        for _ in 0..10 {
            let pieces = rng.splits(body.len(), 7);
            let got = body_in_pieces(BodyKind::Chunked, body, &pieces);
            assert_eq!(got.error, Some(*kind), "{name} {pieces:?}");
        }
    }
}
