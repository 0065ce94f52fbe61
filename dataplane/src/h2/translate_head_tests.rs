//! Tests that a request head built by [`super::request_to_head`] is exactly what
//! the HTTP/1 parser makes of [`super::request_to_h1`]'s text, and that the built
//! path leaves to the text exactly the requests the parser refuses: chosen cases at
//! the edges, then a seeded sweep of generated requests.

use super::*;
use crate::h1::{parse_request, Parsed};
use crate::test_rng::TestRng;

fn req(b: http::request::Builder) -> http::request::Parts {
    b.body(()).unwrap().into_parts().0
}

/// What became of one request on each path: `Some(true)` built and equal to the
/// parsed text, `Some(false)` left to the text (which the parser refuses), `None`
/// refused by the translation (the built path refuses only as the text one does).
fn compare(
    p: &http::request::Parts,
    end_stream: bool,
    limits: &Limits,
    what: &str,
) -> Option<bool> {
    let mut built = RequestHead::new();
    let fast = request_to_head(p, end_stream, 65536, limits, &mut built);
    let mut text = vec![];
    let framing = request_to_h1(p, end_stream, 65536, &mut text);
    let fast = match (fast, &framing) {
        (Err(a), Err(b)) => {
            assert_eq!(&a, b, "{what}");
            return None;
        }
        // Left to the text, whose translation refuses it (the caller falls back).
        (Ok(None), Err(_)) => return None,
        (Ok(f), Ok(_)) => f,
        (fast, slow) => panic!("{what}: built {fast:?}, text {slow:?}"),
    };
    let mut parsed = RequestHead::new();
    match (fast, parse_request(&text, limits, &mut parsed)) {
        (Some((f, len)), Ok(Parsed::Complete { head_len })) => {
            assert_eq!(
                (Ok(f), len, head_len),
                (framing, text.len(), text.len()),
                "{what}"
            );
            assert_eq!(built.method(), parsed.method(), "{what}");
            assert_eq!(built.target(), parsed.target(), "{what}");
            assert_eq!(built.target_form(), parsed.target_form(), "{what}");
            assert_eq!(built.version, parsed.version, "{what}");
            assert_eq!(built.body_kind(), parsed.body_kind(), "{what}");
            assert_eq!(built.headers, parsed.headers, "{what}");
            Some(true)
        }
        (None, Err(_)) => Some(false),
        (fast, slow) => panic!("{what}: built {fast:?}, parsed {slow:?}"),
    }
}

/// `request_to_head` builds exactly what parsing `request_to_h1`'s text gives,
/// and leaves to the text exactly the requests whose text the parser refuses.
#[test]
fn built_head_equals_the_parsed_text() {
    let limits = Limits {
        max_head_bytes: 300,
        max_headers: 6,
    };
    let long = "v".repeat(280);
    let cases: Vec<(http::request::Builder, bool)> = vec![
        (
            http::Request::builder().uri("https://a.example/x?y=1"),
            true,
        ),
        (
            http::Request::builder().uri("https://a.example/x?y=1"),
            false,
        ),
        (
            http::Request::builder()
                .method("POST")
                .uri("https://a.example:8443/p")
                .header("content-length", "5")
                .header("cookie", "a=1")
                .header("cookie", "b=2")
                .header("te", "trailers")
                .header("x-pad", "  padded\t "),
            false,
        ),
        // Host without :authority; a Host field :authority replaces.
        (
            http::Request::builder()
                .uri("/only-path")
                .header("host", "h.example"),
            true,
        ),
        (
            http::Request::builder()
                .uri("https://a.example/")
                .header("host", "b.example"),
            true,
        ),
        (
            http::Request::builder()
                .method("CONNECT")
                .uri("c.example:443"),
            false,
        ),
        (http::Request::builder().uri("https://a.example/{x}"), true),
        // At the limits: a 300-byte head, and 5 fields.
        (
            http::Request::builder()
                .uri("https://a.example/")
                .header("x-long", &long[25..]),
            true,
        ),
        (
            (0..4).fold(
                http::Request::builder().uri("https://a.example/"),
                |b, i| b.header(format!("x-{i}"), "v"),
            ),
            true,
        ),
        // Refused by the HTTP/1 parser, so left to the text.
        (
            http::Request::builder()
                .uri("https://a.example/")
                .header("content-length", "x"),
            false,
        ),
        (
            http::Request::builder()
                .uri("https://a.example/")
                .header("content-length", "1")
                .header("content-length", "1"),
            false,
        ),
        (
            http::Request::builder()
                .uri("https://a.example/")
                .header("x-long", &long),
            true,
        ),
        (
            (0..5).fold(
                http::Request::builder().uri("https://a.example/"),
                |b, i| b.header(format!("x-{i}"), "v"),
            ),
            true,
        ),
    ];
    let (mut took, mut left) = (0, 0);
    for (i, (b, end_stream)) in cases.into_iter().enumerate() {
        match compare(&req(b), end_stream, &limits, &format!("case {i}")) {
            Some(true) => took += 1,
            Some(false) => left += 1,
            None => panic!("case {i} refused by the translation"),
        }
    }
    assert_eq!((took, left), (9, 4));
}

/// Generated requests: methods, targets and fields chosen near the parser's edges
/// (framing fields, Host against :authority, whitespace, obs-text, limits).
#[test]
fn generated_requests_take_the_same_way_on_both_paths() {
    const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "CONNECT", "PUT", "X-Y"];
    const TARGETS: [&str; 10] = [
        "https://a.example/p?q=1",
        "http://a.example:80/",
        "/rel",
        "*",
        "a.example:443",
        "a.example",
        "https://a.example:99999/",
        "https://[::1]:8443/x",
        "/{x}|y^`",
        "/%zz",
    ];
    const NAMES: [&str; 12] = [
        "host",
        "content-length",
        "transfer-encoding",
        "te",
        "cookie",
        "connection",
        "upgrade",
        "keep-alive",
        "x-a",
        "expect",
        "user-agent",
        "x-long",
    ];
    const VALUES: [&str; 18] = [
        "",
        " ",
        "5",
        "0",
        "5, 5",
        "-1",
        "99999999999999999999",
        "chunked",
        "gzip, chunked",
        "trailers",
        "trailers, deflate",
        "a\tb",
        "  padded \t",
        "h.example",
        "a.example",
        "a.example:80",
        "close",
        "bad host",
    ];
    let mut g = TestRng(0x5eed_0005);
    let (mut took, mut left) = (0, 0);
    for i in 0..4000 {
        let mut b = http::Request::builder()
            .method(g.pick(&METHODS))
            .uri(g.pick(&TARGETS));
        for _ in 0..g.below(7) {
            let name = g.pick(&NAMES);
            let value = if name == "x-long" {
                "l".repeat(g.below(400))
            } else if g.below(8) == 0 {
                // obs-text and visible bytes at random
                (0..g.below(12))
                    .map(|_| [b'a', b'\x80', b'\xff', b'~', b' ', b'"'][g.below(6)] as char)
                    .collect::<String>()
            } else {
                g.pick(&VALUES).to_string()
            };
            let v = http::HeaderValue::from_bytes(value.as_bytes());
            if let Ok(v) = v {
                b = b.header(name, v);
            }
        }
        let Ok(r) = b.body(()) else { continue };
        let p = r.into_parts().0;
        let limits = Limits {
            max_head_bytes: [120, 300, 16384][g.below(3)],
            max_headers: [3, 6, 101][g.below(3)],
        };
        match compare(&p, g.below(2) == 0, &limits, &format!("request {i}: {p:?}")) {
            Some(true) => took += 1,
            Some(false) => left += 1,
            None => {}
        }
    }
    // Both ways were taken often: the sweep says something about each.
    assert!(
        took > 300 && left > 300,
        "built {took}, left to the text {left}"
    );
}
