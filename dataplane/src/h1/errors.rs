//! The codec's error type: what went wrong, where, and which status to answer.
//!
//! Invariant: an [`H1Error`] is small and `Copy` (hot path), carries the byte offset of
//! the offending byte in the buffer the caller passed (for `show errors`), and its status
//! is decided when it is raised: request errors answer 400/413/414/431/501, response
//! errors always 502 (the server sent something we will not forward).

use std::fmt;

/// Why a message was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A line ended with LF not preceded by CR.
    BareLf,
    /// A CR not followed by LF.
    BareCr,
    /// Malformed request line or status line (spaces, missing parts).
    StartLine,
    /// Invalid character in the method token.
    Method,
    /// Invalid character or form of the request target.
    Target,
    /// Not `HTTP/1.0` or `HTTP/1.1` (or `HTTP/1.x`).
    Version,
    /// Status code not three digits in 100..=599.
    Status,
    /// Invalid character in a reason phrase.
    Reason,
    /// Invalid character in a field name (includes space before the colon).
    HeaderName,
    /// Field line without a colon.
    MissingColon,
    /// NUL, CR, LF or another control character in a field value.
    HeaderValue,
    /// A line starting with whitespace (obs-fold, or whitespace after the start line).
    ObsFold,
    /// Request line longer than the head limit.
    UriTooLong,
    /// Head larger than the limit.
    HeadTooLarge,
    /// More fields than `tune.http.maxhdr` allows.
    TooManyHeaders,
    /// Content-Length not a plain decimal number, or too large.
    ContentLength,
    /// More than one Content-Length value (identical or not).
    DuplicateContentLength,
    /// Both Content-Length and Transfer-Encoding.
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`, or malformed.
    TransferEncoding,
    /// A transfer coding other than `chunked` (request: 501).
    UnsupportedTransferCoding,
    /// `chunked` listed more than once.
    DuplicateChunked,
    /// Transfer-Encoding in an HTTP/1.0 message.
    TransferEncodingHttp10,
    /// HTTP/1.1 request without Host.
    MissingHost,
    /// More than one Host field.
    DuplicateHost,
    /// Host value with invalid characters.
    InvalidHost,
    /// Host differs from the authority of an absolute-form or authority-form target.
    HostMismatch,
    /// Invalid chunk size (not hex, empty, more than 13 hex digits).
    ChunkSize,
    /// Invalid chunk extension.
    ChunkExtension,
    /// Chunk-size line longer than the limit.
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF.
    ChunkDataCrlf,
    /// Malformed trailer section.
    Trailer,
    /// Trailer section larger than the limit.
    TrailersTooLarge,
    /// The connection closed before the end of a length-delimited or chunked body.
    Truncated,
}

impl ErrorKind {
    /// A short human-readable reason, for logs.
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BareLf => "bare LF line ending",
            BareCr => "CR not followed by LF",
            StartLine => "malformed start line",
            Method => "invalid method",
            Target => "invalid request target",
            Version => "invalid HTTP version",
            Status => "invalid status code",
            Reason => "invalid reason phrase",
            HeaderName => "invalid header name",
            MissingColon => "header line without colon",
            HeaderValue => "invalid header value",
            ObsFold => "obsolete line folding",
            UriTooLong => "request line too long",
            HeadTooLarge => "head too large",
            TooManyHeaders => "too many headers",
            ContentLength => "invalid content-length",
            DuplicateContentLength => "several content-length values",
            ContentLengthWithTransferEncoding => "content-length with transfer-encoding",
            TransferEncoding => "invalid transfer-encoding",
            UnsupportedTransferCoding => "unsupported transfer coding",
            DuplicateChunked => "chunked applied more than once",
            TransferEncodingHttp10 => "transfer-encoding in HTTP/1.0",
            MissingHost => "missing host",
            DuplicateHost => "several host headers",
            InvalidHost => "invalid host",
            HostMismatch => "host does not match the target's authority",
            ChunkSize => "invalid chunk size",
            ChunkExtension => "invalid chunk extension",
            ChunkLineTooLong => "chunk size line too long",
            ChunkDataCrlf => "missing CRLF after chunk data",
            Trailer => "invalid trailer",
            TrailersTooLarge => "trailers too large",
            Truncated => "truncated body",
        }
    }

    /// The status to answer a client whose request had this error.
    fn request_status(self) -> u16 {
        use ErrorKind::*;
        match self {
            UriTooLong => 414,
            HeadTooLarge | TrailersTooLarge => 431,
            UnsupportedTransferCoding => 501,
            _ => 400,
        }
    }
}

/// A rejected message: the kind, the status to answer and the offending byte's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H1Error {
    /// What was wrong.
    pub kind: ErrorKind,
    /// Offset of the offending byte in the buffer passed to the failing call.
    pub offset: usize,
    status: u16,
}

impl H1Error {
    /// An error found in a request (client side): 400, 413, 414, 431 or 501.
    pub fn request(kind: ErrorKind, offset: usize) -> H1Error {
        H1Error {
            kind,
            offset,
            status: kind.request_status(),
        }
    }

    /// An error found in a response (server side): always 502.
    pub fn response(kind: ErrorKind, offset: usize) -> H1Error {
        H1Error {
            kind,
            offset,
            status: 502,
        }
    }

    /// The HTTP status to answer the client with.
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Display for H1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} (status {})",
            self.kind.as_str(),
            self.offset,
            self.status
        )
    }
}

impl std::error::Error for H1Error {}

/// Which side a message comes from; decides the status of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

impl Side {
    pub(crate) fn err(self, kind: ErrorKind, offset: usize) -> H1Error {
        match self {
            Side::Request => H1Error::request(kind, offset),
            Side::Response => H1Error::response(kind, offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_side() {
        assert_eq!(H1Error::request(ErrorKind::BareLf, 3).status(), 400);
        assert_eq!(H1Error::request(ErrorKind::UriTooLong, 3).status(), 414);
        assert_eq!(H1Error::request(ErrorKind::HeadTooLarge, 3).status(), 431);
        assert_eq!(H1Error::request(ErrorKind::TooManyHeaders, 3).status(), 400);
        assert_eq!(
            H1Error::request(ErrorKind::UnsupportedTransferCoding, 0).status(),
            501
        );
        assert_eq!(H1Error::response(ErrorKind::HeadTooLarge, 3).status(), 502);
        let e = H1Error::request(ErrorKind::Target, 7);
        assert!(e.to_string().contains("byte 7"));
    }
}
