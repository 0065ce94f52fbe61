//! HAProxy's default error responses, standard reason phrases, and the check of a
//! user's `errorfile` (a raw HTTP/1 response).
//!
//! The pages are observable protocol output that users' tests match, so their status
//! lines and HTML bodies are HAProxy's, byte for byte (including its quirks: "400 Bad
//! request", "407 Unauthorized", the stray `>` in the 431 body and `.` in the 501 body).
//! Header names are lowercase, as HAProxy's H1 mux emits them.
//!
//! Invariant: every page's `content-length` equals its body length (tested), and the
//! pages sent after a request that could not be framed (400, 408, 413, 414, 431, 501)
//! carry `connection: close`: the connection cannot be resynchronised after them. The
//! others leave the connection's fate to the proxy, like HAProxy's table.

use super::errors::H1Error;
use super::framing::BodyKind;
use super::head::ResponseHead;
use super::parse::parse_response;
use super::{Limits, Method, Parsed};
use std::fmt;

macro_rules! page {
    ($status:literal, $len:literal, $conn:literal, $body:literal) => {
        concat!(
            "HTTP/1.1 ",
            $status,
            "\r\ncontent-length: ",
            $len,
            "\r\ncache-control: no-cache\r\n",
            $conn,
            "content-type: text/html\r\n\r\n",
            $body
        )
        .as_bytes()
    };
}

const CLOSE: &str = "connection: close\r\n";

static PAGES: &[(u16, &[u8])] = &[
    (200, page!("200 OK", "58", "", "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n")),
    (400, page!("400 Bad request", "90", "connection: close\r\n",
        "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n")),
    (401, page!("401 Unauthorized", "112", "",
        "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n")),
    (403, page!("403 Forbidden", "93", "",
        "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n")),
    (404, page!("404 Not Found", "83", "",
        "<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n")),
    (405, page!("405 Method Not Allowed", "146", "",
        "<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n")),
    (407, page!("407 Unauthorized", "112", "",
        "<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n")),
    (408, page!("408 Request Time-out", "110", "connection: close\r\n",
        "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n")),
    (410, page!("410 Gone", "114", "",
        "<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n")),
    (413, page!("413 Payload Too Large", "106", "connection: close\r\n",
        "<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n")),
    (414, page!("414 URI Too Long", "110", "connection: close\r\n",
        "<html><body><h1>414 URI Too Long</h1>\nThe URI provided was too long for the server to process.\n</body></html>\n")),
    (425, page!("425 Too Early", "80", "",
        "<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n")),
    (429, page!("429 Too Many Requests", "117", "",
        "<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n")),
    (431, page!("431 Request Header Fields Too Large", "106", "connection: close\r\n",
        "<html><body><h1>431 Request Header Fields Too Large</h1>\n>Request Header Fields Too Large.\n</body></html>\n")),
    (500, page!("500 Internal Server Error", "97", "",
        "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n")),
    (501, page!("501 Not Implemented", "136", "connection: close\r\n",
        "<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n")),
    (502, page!("502 Bad Gateway", "107", "",
        "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n")),
    (503, page!("503 Service Unavailable", "107", "",
        "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")),
    (504, page!("504 Gateway Time-out", "92", "",
        "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n")),
];

/// HAProxy's default response for `status` (status line, headers, HTML body). Like
/// HAProxy, a status without a page of its own gets the 500 page.
pub fn default_error_response(status: u16) -> &'static [u8] {
    PAGES
        .iter()
        .find(|(s, _)| *s == status)
        .or_else(|| PAGES.iter().find(|(s, _)| *s == 500))
        .map_or(&[][..], |(_, p)| p)
}

/// True when the default page for `status` announces `connection: close` (the proxy
/// must then close the client connection after sending it).
pub fn error_response_closes(status: u16) -> bool {
    let page = default_error_response(status);
    page.windows(CLOSE.len()).any(|w| w == CLOSE.as_bytes())
}

/// The reason phrase HAProxy uses for a status (`set-status` without a reason).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        507 => "Insufficient storage",
        508 => "Loop detected",
        511 => "Network authentication required",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Other",
        },
    }
}

/// A valid `errorfile`'s shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorfileInfo {
    /// Status code of the response.
    pub status: u16,
    /// Length of the head (the body starts here).
    pub head_len: usize,
    /// Length of the body.
    pub body_len: usize,
}

/// Why an `errorfile` is unusable: a reason and the byte offset where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorfileError {
    pub reason: &'static str,
    pub offset: usize,
}

impl fmt::Display for ErrorfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

impl std::error::Error for ErrorfileError {}

/// Checks the contents of an `errorfile`: a complete raw HTTP/1 response (status line,
/// CRLF-terminated fields, empty line, body) that fits in `limits.max_head_bytes`
/// (`tune.bufsize`), with a final status (≥ 200), no Transfer-Encoding, and a
/// Content-Length equal to the body's length (required unless the body is empty).
pub fn check_errorfile(raw: &[u8], limits: &Limits) -> Result<ErrorfileInfo, ErrorfileError> {
    let err = |reason, offset| ErrorfileError { reason, offset };
    if raw.len() > limits.max_head_bytes {
        return Err(err(
            "errorfile larger than tune.bufsize",
            limits.max_head_bytes,
        ));
    }
    let mut head = ResponseHead::new();
    let head_len = match parse_response(raw, limits, Method::Get, &mut head) {
        Ok(Parsed::Complete { head_len }) => head_len,
        Ok(Parsed::Partial) => {
            return Err(err(
                "incomplete head (no empty line after the fields)",
                raw.len(),
            ))
        }
        Err(e) => return Err(from_h1(e)),
    };
    if head.status() < 200 {
        return Err(err("interim (1xx) status not allowed", 9));
    }
    let body_len = raw.len() - head_len;
    match head.body_kind() {
        BodyKind::Chunked | BodyKind::Tunnel => {
            return Err(err(
                "transfer-encoding not allowed in an errorfile",
                head_len,
            ))
        }
        BodyKind::Length(n) if n != body_len as u64 => {
            return Err(err(
                "content-length does not match the body length",
                head_len,
            ))
        }
        BodyKind::UntilClose | BodyKind::None if body_len > 0 => {
            let has_zero_cl = head.headers.get(b"content-length").is_some();
            return Err(err(
                if has_zero_cl {
                    "content-length does not match the body length"
                } else {
                    "missing content-length for a non-empty body"
                },
                head_len,
            ));
        }
        _ => {}
    }
    Ok(ErrorfileInfo {
        status: head.status(),
        head_len,
        body_len,
    })
}

fn from_h1(e: H1Error) -> ErrorfileError {
    ErrorfileError {
        reason: e.kind.as_str(),
        offset: e.offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUSES: [u16; 19] = [
        200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 425, 429, 431, 500, 501, 502, 503,
        504,
    ];

    #[test]
    fn every_page_is_a_valid_response_with_exact_length() {
        for status in STATUSES {
            let page = default_error_response(status);
            let info = check_errorfile(page, &Limits::default())
                .unwrap_or_else(|e| panic!("{status}: {e}"));
            assert_eq!(info.status, status);
            assert!(info.body_len > 0);
            let body = &page[info.head_len..];
            let needle = format!("<html><body><h1>{status} ");
            assert!(body.starts_with(needle.as_bytes()), "{status}");
            let head = std::str::from_utf8(&page[..info.head_len]).unwrap();
            assert!(head.contains("cache-control: no-cache\r\n"));
            assert!(head.contains("content-type: text/html\r\n"));
        }
    }

    #[test]
    fn exact_bytes_of_some_pages() {
        assert_eq!(
            default_error_response(503),
            &b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\n\
cache-control: no-cache\r\ncontent-type: text/html\r\n\r\n\
<html><body><h1>503 Service Unavailable</h1>\n\
No server is available to handle this request.\n</body></html>\n"[..]
        );
        assert!(default_error_response(400).starts_with(
            b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\n\
connection: close\r\ncontent-type: text/html\r\n\r\n"
        ));
        assert_eq!(default_error_response(418), default_error_response(500));
    }

    #[test]
    fn closing_pages() {
        for s in [400, 408, 413, 414, 431, 501] {
            assert!(error_response_closes(s), "{s}");
        }
        for s in [200, 401, 403, 404, 503, 502, 504] {
            assert!(!error_response_closes(s), "{s}");
        }
    }

    #[test]
    fn errorfile_checks() {
        let l = Limits::default();
        let ok = b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy";
        assert_eq!(
            check_errorfile(ok, &l),
            Ok(ErrorfileInfo {
                status: 503,
                head_len: 40,
                body_len: 4
            })
        );
        assert!(check_errorfile(b"HTTP/1.0 204 No Content\r\n\r\n", &l).is_ok());
        let cases: [(&[u8], &str); 6] = [
            (
                b"HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nbusy",
                "content-length does not match",
            ),
            (b"HTTP/1.1 503 Busy\r\n\r\nbusy", "missing content-length"),
            (b"HTTP/1.1 503 Busy\nContent-Length: 4\n\nbusy", "bare LF"),
            (
                b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n",
                "incomplete head",
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", "interim"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "transfer-encoding",
            ),
        ];
        for (raw, want) in cases {
            let e = check_errorfile(raw, &l).unwrap_err();
            assert!(e.reason.contains(want), "{want}: got {e}");
        }
        let small = Limits {
            max_head_bytes: 10,
            ..l
        };
        assert!(check_errorfile(ok, &small).is_err());
    }

    #[test]
    fn reasons() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(504), "Gateway Time-out");
        assert_eq!(reason_phrase(299), "Success");
        assert_eq!(reason_phrase(999), "Other");
    }
}
