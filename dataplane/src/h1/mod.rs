//! The sans-IO HTTP/1.1 codec: parse, frame, edit and serialise HTTP/1.x messages.
//!
//! Read RFC 9112 §2–§7 (message syntax and framing) and RFC 9110 §5 (fields) before
//! changing anything here. The codec owns no socket and no clock: functions take bytes
//! and return what to do. The connection layer drives it like this:
//!
//! 1. read bytes into a buffer and call [`parse_request`] (or [`parse_response`]) on it;
//!    it answers [`Parsed::Partial`] (read more; the buffer may only grow at its end
//!    until the next call), [`Parsed::Complete`] with the head length, or an
//!    [`H1Error`] whose [`H1Error::status`] is the status to answer;
//! 2. edit the head ([`RequestHead`], [`ResponseHead`], [`HeaderList`]) from rules, strip
//!    hop-by-hop fields ([`strip_hop_by_hop`]), and serialise it for the other side
//!    ([`write_request`], [`write_response`]);
//! 3. stream the body through a [`BodyDecoder`] built from the head's [`BodyKind`]; it
//!    returns data ranges into the input (no copy, no whole-body buffering), and re-frame
//!    it for the other side with a [`BodyEncoder`];
//! 4. answer errors with [`default_error_response`] (HAProxy's default pages) or a
//!    user's `errorfile`, checked by [`check_errorfile`].
//!
//! Invariants kept by this module:
//! - ambiguous or malformed framing (Content-Length with Transfer-Encoding, duplicate
//!   lengths, bare LF, obs-fold, bad chunk sizes, …) is an error, never forwarded;
//! - every accepted head re-serialises into bytes that parse to the same head;
//! - heads are reusable: `clear()` keeps their buffers' capacity, so steady-state
//!   parsing and serialising allocate nothing.

mod chunked;
mod errorpages;
mod errors;
mod framing;
mod head;
mod headers;
mod hop;
mod parse;
mod parts;
mod serialize;
mod syntax;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_matrix;
#[cfg(test)]
mod tests_stream;

pub use chunked::{chunk_header, ChunkHeader, LAST_CHUNK, TRAILERS_END};
pub use errorpages::{
    check_errorfile, default_error_response, error_response_closes, reason_phrase, ErrorfileError,
    ErrorfileInfo,
};
pub use errors::{ErrorKind, H1Error};
pub use framing::{
    BodyDecoder, BodyEncoder, BodyKind, BodyStep, DataFraming, Decoded, FramingError,
};
pub use head::{ConnectionTokens, RequestHead, ResponseHead, TargetForm};
pub use headers::{HeaderList, InvalidHeader};
pub use hop::{strip_hop_by_hop, HopByHop};
pub use parse::{parse_request, parse_response};
pub use parts::RequestParts;
pub use serialize::{response_wire_len, write_request, write_response};

/// Size limits applied while parsing a head (HAProxy's `tune.bufsize` and
/// `tune.http.maxhdr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (start line, fields and the empty line) accepted, in bytes.
    /// A request line alone longer than this is a 414, a longer request head a 431,
    /// a longer response head a 502. Also bounds a chunked body's trailer section.
    pub max_head_bytes: usize,
    /// HAProxy's `tune.http.maxhdr`: like HAProxy, one slot is reserved, so a message
    /// may carry at most `max_headers - 1` fields (100 with the default of 101).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16384,
            max_headers: 101,
        }
    }
}

/// Outcome of a successful parse call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is complete: it is `buf[..head_len]`; the body (or the next pipelined
    /// message) starts at `head_len`.
    Complete { head_len: usize },
    /// More bytes are needed. Call again with the same bytes plus more at the end.
    Partial,
}

/// HTTP version of a message. Only HTTP/1.0 and HTTP/1.1 are spoken on the wire;
/// `HTTP/1.x` with a higher minor version is treated as HTTP/1.1 (RFC 9110 §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Version {
    Http10,
    #[default]
    Http11,
}

impl Version {
    /// The version as written on a start line.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// The request methods whose semantics the codec knows; anything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

impl Method {
    /// Classifies a method token (case-sensitive, as RFC 9110 §9.1 says).
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}
