//! [`FrameScanner`]: follows the frame boundaries of one direction of an HTTP/2
//! connection without decoding it — 9-byte frame headers, and the first bytes of
//! the payloads worth counting (GOAWAY's error code and debug data, RST_STREAM's
//! code).
//!
//! Sans-IO: bytes in, events out; it never buffers a payload. Invariants: the byte
//! count fed is the byte count of the wire, in order (partial reads and writes are
//! fine); the client preface, when expected, is skipped before the first frame.

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// The connection preface a client sends first.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

/// What the scanner saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// A complete frame header; `at` is the offset of its first byte in the slice
    /// just fed (negative when it began in an earlier slice).
    Head { head: FrameHead, at: isize },
    /// The first bytes of a GOAWAY or RST_STREAM payload (up to [`CAPTURE`] bytes).
    Payload { head: FrameHead, bytes: &'a [u8] },
}

/// Payload bytes kept of a GOAWAY (8 fixed bytes and the start of the debug data).
pub const CAPTURE: usize = 40;

/// Follows frames through a byte stream.
pub struct FrameScanner {
    preface_left: usize,
    hdr: [u8; 9],
    hdr_len: usize,
    cur: Option<FrameHead>,
    payload_left: u32,
    cap: [u8; CAPTURE],
    cap_len: usize,
    cap_want: usize,
}

impl FrameScanner {
    /// A scanner for a client's stream (`preface`: skip the client preface first) or
    /// for a server's.
    pub fn new(preface: bool) -> Self {
        FrameScanner {
            preface_left: if preface { PREFACE.len() } else { 0 },
            hdr: [0; 9],
            hdr_len: 0,
            cur: None,
            payload_left: 0,
            cap: [0; CAPTURE],
            cap_len: 0,
            cap_want: 0,
        }
    }

    /// Feed the next bytes of the stream. `on` returns `false` to stop; `feed` then
    /// returns `Some(offset)` of the first byte of the frame that stopped it (≤ 0
    /// when it began in an earlier slice), else `None` when everything was consumed.
    pub fn feed(&mut self, mut data: &[u8], mut on: impl FnMut(Seen<'_>) -> bool) -> Option<isize> {
        let mut base = 0usize; // offset of `data` in the slice fed
        if self.preface_left > 0 {
            let n = self.preface_left.min(data.len());
            self.preface_left -= n;
            data = &data[n..];
            base += n;
        }
        while !data.is_empty() {
            if self.cur.is_none() {
                let n = (9 - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                self.hdr_len += n;
                data = &data[n..];
                base += n;
                if self.hdr_len < 9 {
                    return None;
                }
                let h = &self.hdr;
                let head = FrameHead {
                    len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
                    kind: h[3],
                    flags: h[4],
                    stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                };
                self.hdr_len = 0;
                let at = base as isize - 9;
                if !on(Seen::Head { head, at }) {
                    return Some(at);
                }
                self.cur = Some(head);
                self.payload_left = head.len;
                self.cap_len = 0;
                self.cap_want = match head.kind {
                    kind::GOAWAY => (head.len as usize).min(CAPTURE),
                    kind::RST_STREAM => (head.len as usize).min(4),
                    _ => 0,
                };
                if self.cap_want == 0 && matches!(head.kind, kind::GOAWAY | kind::RST_STREAM) {
                    on(Seen::Payload { head, bytes: &[] });
                }
            }
            let head = self.cur.expect("inside a frame");
            let n = (self.payload_left as usize).min(data.len());
            if self.cap_len < self.cap_want {
                let take = (self.cap_want - self.cap_len).min(n);
                self.cap[self.cap_len..self.cap_len + take].copy_from_slice(&data[..take]);
                self.cap_len += take;
                if self.cap_len == self.cap_want {
                    on(Seen::Payload {
                        head,
                        bytes: &self.cap[..self.cap_len],
                    });
                }
            }
            self.payload_left -= n as u32;
            data = &data[n..];
            base += n;
            if self.payload_left == 0 {
                self.cur = None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        v.push(kind);
        v.push(flags);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn heads(s: &mut FrameScanner, bytes: &[u8], step: usize) -> Vec<(FrameHead, Vec<u8>)> {
        let mut out = vec![];
        for chunk in bytes.chunks(step) {
            s.feed(chunk, |seen| {
                match seen {
                    Seen::Head { head, .. } => out.push((head, vec![])),
                    Seen::Payload { bytes, .. } => out.last_mut().unwrap().1 = bytes.to_vec(),
                }
                true
            });
        }
        out
    }

    #[test]
    fn frames_are_found_whatever_the_read_sizes() {
        let mut wire = PREFACE.to_vec();
        wire.extend(frame(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        wire.extend(frame(kind::HEADERS, flag::END_HEADERS, 1, b"abc"));
        let mut ga = 1u32.to_be_bytes().to_vec();
        ga.extend(0xbu32.to_be_bytes());
        ga.extend(b"too_many_resets");
        wire.extend(frame(kind::GOAWAY, 0, 0, &ga));
        wire.extend(frame(kind::RST_STREAM, 0, 3, &8u32.to_be_bytes()));
        for step in [1, 2, 7, 9, 10, 1000] {
            let got = heads(&mut FrameScanner::new(true), &wire, step);
            let kinds: Vec<u8> = got.iter().map(|g| g.0.kind).collect();
            assert_eq!(
                kinds,
                [
                    kind::SETTINGS,
                    kind::HEADERS,
                    kind::GOAWAY,
                    kind::RST_STREAM
                ],
                "step {step}"
            );
            assert_eq!(got[1].0.stream, 1);
            assert_eq!(&got[2].1[4..8], &[0, 0, 0, 0xb]);
            assert_eq!(&got[2].1[8..], b"too_many_resets");
            assert_eq!(got[3].1, 8u32.to_be_bytes());
        }
    }

    #[test]
    fn stopping_reports_where_the_frame_began() {
        let mut wire = frame(kind::PING, 0, 0, &[0; 8]);
        wire.extend(frame(kind::PING, 0, 0, &[1; 8]));
        let mut s = FrameScanner::new(false);
        let mut pings = 0;
        let at = s.feed(&wire, |seen| {
            if let Seen::Head { .. } = seen {
                pings += 1;
            }
            pings < 2
        });
        assert_eq!(at, Some(17));
    }
}
