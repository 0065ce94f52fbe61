//! Message body framing (RFC 9112 §6): the [`BodyKind`] a head declares, a streaming
//! [`BodyDecoder`] and a [`BodyEncoder`] for the other side.
//!
//! Invariants: the decoder never buffers body bytes: it returns ranges into the input it
//! was given (zero-copy) and tells how many input bytes it consumed; only a chunk-size
//! line (≤ 4 KiB) or the trailer section (≤ `max_head_bytes`) is waited for whole, by
//! consuming nothing until it is complete. It never reads past the end of the body, so
//! the bytes after `End` belong to the next message. The encoder writes canonical chunk
//! headers itself and refuses to send more or fewer bytes than a Content-Length promised.

use super::chunked::{self, ChunkHeader, CHUNK_DATA_END, LAST_CHUNK, TRAILERS_END};
use super::errors::{ErrorKind as K, H1Error, Side};
use super::parse::check_trailer_fields;
use super::Limits;
use std::fmt;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// No body (also `Content-Length: 0`, HEAD responses, 1xx/204/304).
    #[default]
    None,
    /// Exactly this many bytes (never 0).
    Length(u64),
    /// Chunked transfer coding, possibly with trailers.
    Chunked,
    /// Everything until the server closes (responses without framing fields).
    UntilClose,
    /// The connection becomes a tunnel after the head (101, 2xx to CONNECT).
    Tunnel,
}

impl BodyKind {
    /// `Length(n)`, or `None` for 0.
    pub fn length(n: u64) -> BodyKind {
        if n == 0 {
            BodyKind::None
        } else {
            BodyKind::Length(n)
        }
    }
}

/// What one [`BodyDecoder::decode`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyStep {
    /// Body bytes `input[start..end]`, to forward.
    Data { start: usize, end: usize },
    /// The trailer fields `input[start..end]` (complete, validated lines each ending with
    /// CRLF, without the final empty line). `End` follows.
    Trailers { start: usize, end: usize },
    /// The body is complete. Input after `consumed` is the next message.
    End,
    /// More input is needed.
    NeedMore,
}

/// Result of a decode call: how many input bytes were used, and what was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input that were used (data included); drop them from the buffer.
    pub consumed: usize,
    /// What was found.
    pub step: BodyStep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkCrlf,
    Trailers,
    /// Trailers were reported; `End` comes next.
    TrailersDone,
    Raw,
    Done,
}

/// A streaming body decoder. Feed it the unconsumed bytes after the head, drop what it
/// consumed, call again; bytes it did not consume must be presented again (with more
/// appended) on the next call.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    side: Side,
    max_trailers: usize,
    decoded: u64,
}

impl BodyDecoder {
    fn new(kind: BodyKind, limits: &Limits, side: Side) -> Self {
        let state = match kind {
            BodyKind::None => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose | BodyKind::Tunnel => State::Raw,
        };
        BodyDecoder {
            state,
            side,
            max_trailers: limits.max_head_bytes,
            decoded: 0,
        }
    }

    /// A decoder for a request body (errors answer 400).
    pub fn request(kind: BodyKind, limits: &Limits) -> Self {
        Self::new(kind, limits, Side::Request)
    }

    /// A decoder for a response body (errors answer 502).
    pub fn response(kind: BodyKind, limits: &Limits) -> Self {
        Self::new(kind, limits, Side::Response)
    }

    /// Body bytes returned so far (framing excluded).
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    /// True once `End` was reached.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` (the unconsumed bytes). Returns at most one data range per
    /// call; loop until `NeedMore` or `End`.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, H1Error> {
        let side = self.side;
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done | State::TrailersDone => {
                    self.state = State::Done;
                    return Ok(done(pos, BodyStep::End));
                }
                State::Length(remaining) | State::ChunkData(remaining) => {
                    if rest.is_empty() {
                        return Ok(done(pos, BodyStep::NeedMore));
                    }
                    let n = remaining.min(rest.len() as u64);
                    let left = remaining - n;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::ChunkCrlf,
                        (_, l) => State::ChunkData(l),
                    };
                    self.decoded += n;
                    let end = pos + n as usize;
                    return Ok(done(end, BodyStep::Data { start: pos, end }));
                }
                State::Raw => {
                    if rest.is_empty() {
                        return Ok(done(pos, BodyStep::NeedMore));
                    }
                    self.decoded += rest.len() as u64;
                    return Ok(done(
                        input.len(),
                        BodyStep::Data {
                            start: pos,
                            end: input.len(),
                        },
                    ));
                }
                State::ChunkSize => match chunked::parse_chunk_line(rest, pos, side)? {
                    None => return Ok(done(pos, BodyStep::NeedMore)),
                    Some((0, len)) => {
                        pos += len;
                        self.state = State::Trailers;
                    }
                    Some((size, len)) => {
                        pos += len;
                        self.state = State::ChunkData(size);
                    }
                },
                State::ChunkCrlf => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(done(pos, BodyStep::NeedMore)),
                    [b'\r', ..] => return Err(side.err(K::ChunkDataCrlf, pos + 1)),
                    _ => return Err(side.err(K::ChunkDataCrlf, pos)),
                },
                State::Trailers => return self.trailers(input, pos),
            }
        }
    }

    /// Waits for the whole trailer section at `input[pos..]` and reports it.
    fn trailers(&mut self, input: &[u8], pos: usize) -> Result<Decoded, H1Error> {
        let side = self.side;
        let rest = &input[pos..];
        let mut ls = 0;
        while let Some(p) = memchr::memchr(b'\n', &rest[ls..]) {
            let lf = ls + p;
            if lf == ls || rest[lf - 1] != b'\r' {
                return Err(side.err(K::BareLf, pos + lf));
            }
            if lf - 1 == ls {
                // Empty line: end of the trailer section.
                check_trailer_fields(&rest[..ls], pos, side)?;
                if ls == 0 {
                    self.state = State::Done;
                    return Ok(done(pos + 2, BodyStep::End));
                }
                self.state = State::TrailersDone;
                return Ok(done(
                    pos + lf + 1,
                    BodyStep::Trailers {
                        start: pos,
                        end: pos + ls,
                    },
                ));
            }
            ls = lf + 1;
        }
        if rest.len() > self.max_trailers {
            return Err(side.err(K::TrailersTooLarge, pos + self.max_trailers));
        }
        Ok(done(pos, BodyStep::NeedMore))
    }

    /// The peer closed the connection: fine for a read-until-close body or a finished
    /// one, a [`K::Truncated`] error otherwise.
    pub fn finish(&mut self) -> Result<(), H1Error> {
        match self.state {
            State::Raw | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(self.side.err(K::Truncated, 0)),
        }
    }
}

fn done(consumed: usize, step: BodyStep) -> Decoded {
    Decoded { consumed, step }
}

/// The bytes to send around one piece of body data: `prefix`, the data, `suffix`
/// (for a vectored write; both are empty except with chunked encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFraming {
    /// Chunk header, or empty.
    pub prefix: ChunkHeader,
    /// Chunk data CRLF, or empty.
    pub suffix: &'static [u8],
}

/// The encoder was asked to break the framing it announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// More data than the Content-Length sent, or data for a body-less message.
    TooMuchData,
    /// The body ended before the Content-Length was reached.
    TooLittleData,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FramingError::TooMuchData => "more body data than announced",
            FramingError::TooLittleData => "less body data than announced",
        })
    }
}

impl std::error::Error for FramingError {}

/// Frames body data for the other side: counted pass-through for Content-Length,
/// fresh chunk headers for chunked, nothing for read-until-close and tunnels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyEncoder {
    kind: BodyKind,
    remaining: u64,
    finished: bool,
}

impl BodyEncoder {
    /// An encoder for a body announced as `kind` in the head sent to the other side.
    pub fn new(kind: BodyKind) -> Self {
        let remaining = match kind {
            BodyKind::Length(n) => n,
            _ => 0,
        };
        BodyEncoder {
            kind,
            remaining,
            finished: false,
        }
    }

    /// Framing for `len` bytes of data about to be sent.
    pub fn frame(&mut self, len: usize) -> Result<DataFraming, FramingError> {
        let none = DataFraming {
            prefix: ChunkHeader::EMPTY,
            suffix: b"",
        };
        if len == 0 {
            return Ok(none);
        }
        match self.kind {
            BodyKind::None => Err(FramingError::TooMuchData),
            BodyKind::Length(_) => {
                self.remaining = self
                    .remaining
                    .checked_sub(len as u64)
                    .ok_or(FramingError::TooMuchData)?;
                Ok(none)
            }
            BodyKind::Chunked => Ok(DataFraming {
                prefix: chunked::chunk_header(len as u64),
                suffix: CHUNK_DATA_END,
            }),
            BodyKind::UntilClose | BodyKind::Tunnel => Ok(none),
        }
    }

    /// Appends `data`, framed, to `out` (the copying convenience over [`Self::frame`]).
    pub fn write_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
        let f = self.frame(data.len())?;
        out.extend_from_slice(f.prefix.as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(f.suffix);
        Ok(())
    }

    /// Ends the body: for chunked, writes the last chunk, `trailers` (validated field
    /// lines as [`BodyStep::Trailers`] returns them; dropped for other framings) and
    /// the final CRLF. For Content-Length, checks every promised byte was sent.
    pub fn finish(&mut self, trailers: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        match self.kind {
            BodyKind::Chunked => {
                out.extend_from_slice(LAST_CHUNK);
                out.extend_from_slice(trailers);
                out.extend_from_slice(TRAILERS_END);
                Ok(())
            }
            BodyKind::Length(_) if self.remaining > 0 => Err(FramingError::TooLittleData),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(kind: BodyKind) -> BodyDecoder {
        BodyDecoder::request(kind, &Limits::default())
    }

    #[test]
    fn length_body_stops_at_its_end() {
        let mut d = dec(BodyKind::Length(5));
        let input = b"helloGET / HTTP/1.1";
        let r = d.decode(input).unwrap();
        assert_eq!(r, done(5, BodyStep::Data { start: 0, end: 5 }));
        assert_eq!(d.decode(&input[5..]).unwrap(), done(0, BodyStep::End));
        assert_eq!(d.decoded_bytes(), 5);
        assert!(d.is_done());
    }

    #[test]
    fn chunked_with_trailers() {
        let mut d = dec(BodyKind::Chunked);
        let input = b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nnext";
        let r = d.decode(input).unwrap();
        assert_eq!(r, done(10, BodyStep::Data { start: 7, end: 10 }));
        let r = d.decode(&input[10..]).unwrap();
        assert_eq!(r, done(7, BodyStep::Data { start: 5, end: 7 }));
        let r = d.decode(&input[17..]).unwrap();
        assert_eq!(r, done(15, BodyStep::Trailers { start: 5, end: 13 }));
        assert_eq!(&input[17 + 5..17 + 13], b"X-T: 1\r\n");
        assert_eq!(d.decode(&input[32..]).unwrap(), done(0, BodyStep::End));
        assert_eq!(&input[32..], b"next");
    }

    #[test]
    fn chunked_errors() {
        let mut d = dec(BodyKind::Chunked);
        let input = b"3\r\nabcX\r\n";
        assert_eq!(d.decode(input).unwrap().consumed, 6);
        let e = d.decode(&input[6..]).unwrap_err();
        assert_eq!((e.kind, e.offset, e.status()), (K::ChunkDataCrlf, 0, 400));
        let mut d = dec(BodyKind::Chunked);
        assert_eq!(d.decode(b"3\r\nabc").unwrap().consumed, 6);
        assert_eq!(d.decode(b"\r").unwrap(), done(0, BodyStep::NeedMore));
        let e = d.decode(b"\rX").unwrap_err();
        assert_eq!((e.kind, e.offset), (K::ChunkDataCrlf, 1));
        let e = BodyDecoder::response(BodyKind::Chunked, &Limits::default())
            .decode(b"0\r\nbad line\r\n\r\n")
            .unwrap_err();
        assert_eq!((e.kind, e.status()), (K::Trailer, 502));
        let e = dec(BodyKind::Chunked)
            .decode(b"0\r\nX: 1\n\r\n")
            .unwrap_err();
        assert_eq!(e.kind, K::BareLf);
        let limits = Limits {
            max_head_bytes: 8,
            ..Limits::default()
        };
        let e = BodyDecoder::request(BodyKind::Chunked, &limits)
            .decode(b"0\r\nX-Long: 123456789")
            .unwrap_err();
        assert_eq!((e.kind, e.status()), (K::TrailersTooLarge, 431));
    }

    #[test]
    fn finish_and_raw() {
        let mut d = dec(BodyKind::UntilClose);
        assert_eq!(
            d.decode(b"abc").unwrap(),
            done(3, BodyStep::Data { start: 0, end: 3 })
        );
        assert_eq!(d.decode(b"").unwrap(), done(0, BodyStep::NeedMore));
        assert!(d.finish().is_ok());
        let mut d = dec(BodyKind::Length(4));
        d.decode(b"ab").unwrap();
        assert_eq!(d.finish().unwrap_err().kind, K::Truncated);
        assert_eq!(
            dec(BodyKind::None).decode(b"x").unwrap(),
            done(0, BodyStep::End)
        );
    }

    #[test]
    fn encoder() {
        let mut out = Vec::new();
        let mut e = BodyEncoder::new(BodyKind::Chunked);
        e.write_data(b"hello", &mut out).unwrap();
        e.write_data(b"", &mut out).unwrap();
        e.finish(b"X-T: 1\r\n", &mut out).unwrap();
        assert_eq!(out, b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n");

        let mut e = BodyEncoder::new(BodyKind::Length(4));
        assert!(e.frame(3).is_ok());
        assert_eq!(e.frame(2), Err(FramingError::TooMuchData));
        assert_eq!(e.finish(b"", &mut out), Err(FramingError::TooLittleData));
        let mut e = BodyEncoder::new(BodyKind::Length(2));
        e.frame(2).unwrap();
        assert_eq!(e.finish(b"X: y\r\n", &mut Vec::new()), Ok(()));
        assert_eq!(
            BodyEncoder::new(BodyKind::None).frame(1),
            Err(FramingError::TooMuchData)
        );
    }
}
