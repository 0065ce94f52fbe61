//! Strict parsing of request and response heads (RFC 9112 §2–§6, RFC 9110 §5).
//!
//! Two passes: a resumable line scan finds the end of the head (rejecting bare LF and
//! oversize heads as bytes arrive, so a slow sender costs O(n) in total, not O(n²)),
//! then a full pass over the complete head validates every byte, copies the fields
//! into the head's reusable buffers and decides the body's framing.
//!
//! Invariant: `Parsed::Complete` is only returned for a head with unambiguous framing:
//! no Content-Length with Transfer-Encoding, at most one Content-Length value, `chunked`
//! once and last, no obs-fold, no bare CR or LF, no control bytes in values.

use super::errors::{ErrorKind as K, H1Error, Side};
use super::framing::BodyKind;
use super::head::{classify_target, RequestHead, ResponseHead, TargetForm};
use super::headers::HeaderList;
use super::syntax::{
    eq_ci, find_invalid_host, find_invalid_value, find_non_token, is_target_byte, is_tchar,
    parse_content_length, split_host_port, trim_ows,
};
use super::{Limits, Method, Parsed, Version};

/// Progress of the line scan over an incomplete head, kept in the head between calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes already scanned: every LF before this was checked.
    pos: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// End of the start line (after its CRLF); 0 while it is incomplete.
    start_line_end: usize,
    /// Bytes of empty lines skipped before the start line.
    lead: usize,
    /// Field lines seen so far.
    lines: usize,
}

/// Scans for the end of the head. `Ok(None)`: incomplete.
fn scan_head(
    buf: &[u8],
    scan: &mut Scan,
    limits: &Limits,
    side: Side,
) -> Result<Option<usize>, H1Error> {
    if scan.pos > buf.len() {
        *scan = Scan::default();
    }
    let too_large = |scan: &Scan, at: usize| {
        if scan.start_line_end == 0 && side == Side::Request {
            side.err(K::UriTooLong, at)
        } else {
            side.err(K::HeadTooLarge, at)
        }
    };
    let mut i = scan.pos;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let lf = i + p;
        if lf == scan.line_start || buf[lf - 1] != b'\r' {
            return Err(side.err(K::BareLf, lf));
        }
        if lf + 1 > limits.max_head_bytes {
            return Err(too_large(scan, limits.max_head_bytes));
        }
        if lf - 1 == scan.line_start {
            if scan.start_line_end != 0 {
                scan.pos = lf + 1;
                return Ok(Some(lf + 1));
            }
            // RFC 9112 §2.2: empty lines before the start line are ignored.
            scan.lead = lf + 1;
        } else if scan.start_line_end == 0 {
            scan.start_line_end = lf + 1;
            // Reject a bad start line as soon as it is complete, not when the head is.
            let line = &buf[scan.lead..lf - 1];
            match side {
                Side::Request => {
                    parse_request_line(line, scan.lead, None)?;
                }
                Side::Response => {
                    parse_status_line(line, scan.lead, None)?;
                }
            }
        } else {
            scan.lines += 1;
            if scan.lines >= limits.max_headers {
                return Err(side.err(K::TooManyHeaders, scan.line_start));
            }
        }
        scan.line_start = lf + 1;
        i = lf + 1;
    }
    scan.pos = buf.len();
    // Non-HTTP garbage (a TLS hello, binary) is refused at its first byte.
    if side == Side::Request && scan.start_line_end == 0 {
        if let Some(&c) = buf.get(scan.line_start) {
            if !is_tchar(c) && c != b'\r' {
                return Err(side.err(K::Method, scan.line_start));
            }
        }
    }
    if buf.len() > limits.max_head_bytes {
        return Err(too_large(scan, limits.max_head_bytes));
    }
    Ok(None)
}

fn parse_version(v: &[u8]) -> Option<Version> {
    match v {
        b"HTTP/1.1" => Some(Version::Http11),
        b"HTTP/1.0" => Some(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => {
            Some(Version::Http11)
        }
        _ => None,
    }
}

/// Parses `method SP target SP version`; `base` is the line's offset in the buffer.
/// Fills `head` when given.
fn parse_request_line(
    line: &[u8],
    base: usize,
    head: Option<&mut RequestHead>,
) -> Result<(), H1Error> {
    let side = Side::Request;
    let sp1 = match line.iter().position(|&c| c == b' ') {
        Some(p) => p,
        None => {
            let bad = find_non_token(line).unwrap_or(line.len());
            let kind = if bad < line.len() {
                K::Method
            } else {
                K::StartLine
            };
            return Err(side.err(kind, base + bad));
        }
    };
    let method = &line[..sp1];
    check_method(method, base)?;
    let rest = &line[sp1 + 1..];
    let rest_base = base + sp1 + 1;
    let sp2 = rest
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| side.err(K::Version, base + line.len()))?;
    let target = &rest[..sp2];
    check_target_bytes(target, rest_base)?;
    let version =
        parse_version(&rest[sp2 + 1..]).ok_or_else(|| side.err(K::Version, rest_base + sp2 + 1))?;
    let kind = Method::from_bytes(method);
    let form = check_target(target, kind).map_err(|off| side.err(K::Target, rest_base + off))?;
    if let Some(h) = head {
        h.method.extend_from_slice(method);
        h.method_kind = kind;
        h.target.extend_from_slice(target);
        h.form = form;
        h.version = version;
    }
    Ok(())
}

/// A method is a non-empty token (`base`: its offset).
pub(super) fn check_method(method: &[u8], base: usize) -> Result<(), H1Error> {
    if method.is_empty() {
        return Err(Side::Request.err(K::Method, base));
    }
    if let Some(bad) = find_non_token(method) {
        return Err(Side::Request.err(K::Method, base + bad));
    }
    Ok(())
}

/// A request target is non-empty and made of target bytes only (`base`: its offset).
pub(super) fn check_target_bytes(target: &[u8], base: usize) -> Result<(), H1Error> {
    if target.is_empty() {
        return Err(Side::Request.err(K::Target, base));
    }
    if let Some(bad) = target.iter().position(|&c| !is_target_byte(c)) {
        return Err(Side::Request.err(K::Target, base + bad));
    }
    Ok(())
}

/// Validates a target's form against the method; `Err(offset)` of the problem.
pub(super) fn check_target(t: &[u8], method: Method) -> Result<TargetForm, usize> {
    let form = classify_target(t);
    match (form, method) {
        (TargetForm::Authority, Method::Connect) => {
            check_authority(t, true)?;
        }
        (_, Method::Connect) | (TargetForm::Authority, _) => return Err(0),
        (TargetForm::Asterisk, m) if m != Method::Options => return Err(0),
        (TargetForm::Absolute, _) => {
            let sep = t.windows(3).position(|w| w == b"://").ok_or(0usize)?;
            let scheme = &t[..sep];
            let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
                && scheme
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
            if !scheme_ok {
                return Err(0);
            }
            let a = sep + 3;
            let end = t[a..]
                .iter()
                .position(|&c| c == b'/' || c == b'?')
                .map_or(t.len(), |p| p + a);
            check_authority(&t[a..end], false).map_err(|o| o + a)?;
        }
        _ => {}
    }
    Ok(form)
}

/// Validates `host[:port]` (no userinfo); `port_required` for CONNECT targets.
fn check_authority(a: &[u8], port_required: bool) -> Result<(), usize> {
    if a.is_empty() {
        return Err(0);
    }
    if let Some(bad) = find_invalid_host(a) {
        return Err(bad);
    }
    let (host, port) = split_host_port(a);
    if host.is_empty() {
        return Err(0);
    }
    match port {
        Some(p) if !p.iter().all(u8::is_ascii_digit) || p.len() > 5 => Err(host.len() + 1),
        Some(p) if p.is_empty() && port_required => Err(a.len()),
        None if port_required => Err(a.len()),
        _ => Ok(()),
    }
}

/// Parses `version SP status [SP reason]`. Fills `head` when given.
fn parse_status_line(
    line: &[u8],
    base: usize,
    head: Option<&mut ResponseHead>,
) -> Result<(), H1Error> {
    let side = Side::Response;
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| side.err(K::StartLine, base + line.len()))?;
    let version = parse_version(&line[..sp]).ok_or_else(|| side.err(K::Version, base))?;
    let rest = &line[sp + 1..];
    let sbase = base + sp + 1;
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(side.err(K::Status, sbase));
    }
    let status = rest[..3]
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(side.err(K::Status, sbase));
    }
    // RFC 9112 §4 wants a SP even before an empty reason; many servers omit it.
    let reason = match rest.get(3) {
        None => &[][..],
        Some(b' ') => &rest[4..],
        Some(_) => return Err(side.err(K::Status, sbase + 3)),
    };
    if let Some(bad) = find_invalid_value(reason) {
        return Err(side.err(K::Reason, sbase + 4 + bad));
    }
    if let Some(h) = head {
        h.version = version;
        h.status = status;
        h.reason.extend_from_slice(reason);
    }
    Ok(())
}

/// What the field pass learnt about framing and routing fields.
#[derive(Default)]
pub(super) struct Facts {
    /// Content-Length value and the offset of its field line.
    content_length: Option<(u64, usize)>,
    /// Offset of the first Transfer-Encoding field line.
    transfer_encoding: Option<usize>,
    /// Host fields seen, and the offset of the first one's value.
    hosts: usize,
    host_at: usize,
}

/// Validates the field lines of `buf[start..end]` (each ending with CRLF), copies them
/// into `headers` and collects framing facts.
fn parse_fields(
    buf: &[u8],
    start: usize,
    end: usize,
    headers: &mut HeaderList,
    side: Side,
    facts: &mut Facts,
) -> Result<(), H1Error> {
    let base = headers.push_raw(&buf[start..end]);
    let at = |o: usize| base + (o - start) as u32;
    let mut ls = start;
    while ls < end {
        // Lines were checked by the scan: each ends with CRLF.
        let le = ls + memchr::memchr(b'\n', &buf[ls..end]).unwrap_or(end) - 1;
        let line = &buf[ls..le];
        if matches!(line[0], b' ' | b'\t') {
            return Err(side.err(K::ObsFold, ls));
        }
        let colon = match find_non_token(line) {
            Some(0) => return Err(side.err(K::HeaderName, ls)),
            Some(p) if line[p] == b':' => p,
            Some(p) if matches!(line[p], b' ' | b'\t') && !line[p..].contains(&b':') => {
                return Err(side.err(K::MissingColon, le));
            }
            Some(p) => return Err(side.err(K::HeaderName, ls + p)),
            None => return Err(side.err(K::MissingColon, le)),
        };
        let raw_value = &line[colon + 1..];
        let value = trim_ows(raw_value);
        let vstart = ls + colon + 1 + (raw_value.len() - trim_start_len(raw_value));
        let name = &line[..colon];
        note_field(name, value, (ls, vstart), side, facts)?;
        headers.push_parsed((at(ls), colon as u32), (at(vstart), value.len() as u32));
        ls = le + 2;
    }
    Ok(())
}

/// Checks the value of one field (its name already checked, the value trimmed of
/// OWS) and notes what the field says about framing and routing. `at`: offsets of
/// the field's line and of its value, for errors.
pub(super) fn note_field(
    name: &[u8],
    value: &[u8],
    at: (usize, usize),
    side: Side,
    facts: &mut Facts,
) -> Result<(), H1Error> {
    let (ls, vstart) = at;
    if let Some(bad) = find_invalid_value(value) {
        let kind = if value[bad] == b'\r' {
            K::BareCr
        } else {
            K::HeaderValue
        };
        return Err(side.err(kind, vstart + bad));
    }
    match name.len() {
        4 if eq_ci(name, b"host") => {
            facts.hosts += 1;
            if facts.hosts == 1 {
                facts.host_at = vstart;
            } else if side == Side::Request {
                return Err(side.err(K::DuplicateHost, ls));
            }
        }
        14 if eq_ci(name, b"content-length") => {
            if facts.content_length.is_some() {
                return Err(side.err(K::DuplicateContentLength, ls));
            }
            let n = parse_content_length(value).ok_or_else(|| {
                let kind = if value.contains(&b',') {
                    K::DuplicateContentLength
                } else {
                    K::ContentLength
                };
                side.err(kind, vstart)
            })?;
            facts.content_length = Some((n, ls));
        }
        17 if eq_ci(name, b"transfer-encoding") => {
            facts.transfer_encoding.get_or_insert(ls);
        }
        _ => {}
    }
    Ok(())
}

/// Length of `s` once leading OWS is removed.
fn trim_start_len(s: &[u8]) -> usize {
    s.len() - s.iter().take_while(|&&c| c == b' ' || c == b'\t').count()
}

/// Checks Transfer-Encoding / Content-Length together and returns the framing they
/// declare (`None` when neither is present).
fn message_framing(
    headers: &HeaderList,
    version: Version,
    facts: &Facts,
    side: Side,
) -> Result<Option<BodyKind>, H1Error> {
    if let Some(te_at) = facts.transfer_encoding {
        if version == Version::Http10 {
            return Err(side.err(K::TransferEncodingHttp10, te_at));
        }
        if let Some((_, cl_at)) = facts.content_length {
            return Err(side.err(K::ContentLengthWithTransferEncoding, te_at.max(cl_at)));
        }
        let (mut chunked, mut last_chunked, mut other, mut any) = (0, false, false, false);
        for coding in headers.comma_values(b"transfer-encoding") {
            any = true;
            let name = trim_ows(coding.split(|&c| c == b';').next().unwrap_or(coding));
            if eq_ci(name, b"chunked") {
                if name.len() != coding.len() {
                    // `chunked` takes no parameter (RFC 9112 §7.1).
                    return Err(side.err(K::TransferEncoding, te_at));
                }
                chunked += 1;
                if chunked > 1 {
                    return Err(side.err(K::DuplicateChunked, te_at));
                }
                last_chunked = true;
            } else {
                if find_non_token(name).is_some() || name.is_empty() {
                    return Err(side.err(K::TransferEncoding, te_at));
                }
                other = true;
                last_chunked = false;
            }
        }
        if !any || !last_chunked {
            return Err(side.err(K::TransferEncoding, te_at));
        }
        if other {
            return Err(side.err(K::UnsupportedTransferCoding, te_at));
        }
        return Ok(Some(BodyKind::Chunked));
    }
    Ok(facts.content_length.map(|(n, _)| BodyKind::length(n)))
}

/// Parses a request head at the start of `buf` into `head` (cleared first).
///
/// Between a [`Parsed::Partial`] answer and the next call the buffer may only grow at
/// its end: the head remembers how far it scanned, so that a slowly arriving head costs
/// O(n) in total. To parse a different buffer after `Partial`, call
/// [`RequestHead::clear`] first (after `Complete` or an error the head resets itself).
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Parsed, H1Error> {
    let result = parse_request_inner(buf, limits, head);
    if result.is_err() {
        head.scan = Scan::default();
    }
    result
}

fn parse_request_inner(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Parsed, H1Error> {
    let side = Side::Request;
    let mut scan = head.scan;
    let found = scan_head(buf, &mut scan, limits, side);
    head.scan = scan;
    let Some(head_len) = found? else {
        return Ok(Parsed::Partial);
    };
    head.clear();
    parse_request_line(
        &buf[scan.lead..scan.start_line_end - 2],
        scan.lead,
        Some(head),
    )?;
    let mut facts = Facts::default();
    let fields_end = head_len - 2;
    parse_fields(
        buf,
        scan.start_line_end,
        fields_end,
        &mut head.headers,
        side,
        &mut facts,
    )?;
    finish_request(head, &facts, fields_end)?;
    Ok(Parsed::Complete { head_len })
}

/// The checks of a request head once its fields are in: Host present (HTTP/1.1),
/// valid and agreeing with the target, then the body's framing. `fields_end`: offset
/// of the end of the fields, for errors.
pub(super) fn finish_request(
    head: &mut RequestHead,
    facts: &Facts,
    fields_end: usize,
) -> Result<(), H1Error> {
    let side = Side::Request;
    if facts.hosts == 0 && head.version == Version::Http11 {
        return Err(side.err(K::MissingHost, fields_end));
    }
    if facts.hosts == 1 {
        check_host(head, facts.host_at)?;
    }
    head.body = match message_framing(&head.headers, head.version, facts, side)? {
        _ if head.method_kind == Method::Connect => BodyKind::None,
        Some(kind) => kind,
        None => BodyKind::None,
    };
    Ok(())
}

/// Validates the Host value and its agreement with the target's authority.
fn check_host(head: &RequestHead, host_at: usize) -> Result<(), H1Error> {
    let side = Side::Request;
    let host = head.headers.get(b"host").unwrap_or_default();
    if let Some(bad) = find_invalid_host(host) {
        return Err(side.err(K::InvalidHost, host_at + bad));
    }
    if !host.is_empty() {
        let (h, port) = split_host_port(host);
        if h.is_empty() || port.is_some_and(|p| !p.iter().all(u8::is_ascii_digit)) {
            return Err(side.err(K::InvalidHost, host_at));
        }
    }
    // RFC 9112 §3.2.2: the authority of the target wins over Host; like HAProxy we
    // refuse a request where they disagree rather than guess which one a server reads.
    if let Some(auth) = head.authority() {
        if !same_authority(auth, host, head.scheme()) {
            return Err(side.err(K::HostMismatch, host_at));
        }
    }
    Ok(())
}

/// Case-insensitive authority comparison where an omitted or empty port equals the
/// scheme's default port (80 for http, 443 for https).
fn same_authority(a: &[u8], b: &[u8], scheme: Option<&[u8]>) -> bool {
    if eq_ci(a, b) {
        return true;
    }
    let Some(scheme) = scheme else {
        return false;
    };
    let default: &[u8] = if eq_ci(scheme, b"https") {
        b"443"
    } else if eq_ci(scheme, b"http") {
        b"80"
    } else {
        return false;
    };
    let (ha, pa) = split_host_port(a);
    let (hb, pb) = split_host_port(b);
    eq_ci(ha, hb) && effective_port(pa, default) == effective_port(pb, default)
}

fn effective_port<'a>(port: Option<&'a [u8]>, default: &'a [u8]) -> &'a [u8] {
    match port {
        None | Some(b"") => default,
        Some(p) => p,
    }
}

/// Parses a response head at the start of `buf` into `head` (cleared first), for a
/// request made with `request_method` (HEAD and CONNECT change the framing). The same
/// resumption contract as [`parse_request`] applies.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    request_method: Method,
    head: &mut ResponseHead,
) -> Result<Parsed, H1Error> {
    let result = parse_response_inner(buf, limits, request_method, head);
    if result.is_err() {
        head.scan = Scan::default();
    }
    result
}

fn parse_response_inner(
    buf: &[u8],
    limits: &Limits,
    request_method: Method,
    head: &mut ResponseHead,
) -> Result<Parsed, H1Error> {
    let side = Side::Response;
    let mut scan = head.scan;
    let found = scan_head(buf, &mut scan, limits, side);
    head.scan = scan;
    let Some(head_len) = found? else {
        return Ok(Parsed::Partial);
    };
    head.clear();
    parse_status_line(
        &buf[scan.lead..scan.start_line_end - 2],
        scan.lead,
        Some(head),
    )?;
    let mut facts = Facts::default();
    parse_fields(
        buf,
        scan.start_line_end,
        head_len - 2,
        &mut head.headers,
        side,
        &mut facts,
    )?;
    let declared = message_framing(&head.headers, head.version, &facts, side)?;
    let status = head.status;
    // RFC 9112 §6.3, rules 1–2, then the declared framing, then read-until-close.
    head.body = if status == 101 {
        BodyKind::Tunnel
    } else if status < 200 || status == 204 || status == 304 || request_method == Method::Head {
        BodyKind::None
    } else if request_method == Method::Connect && status < 300 {
        BodyKind::Tunnel
    } else {
        declared.unwrap_or(BodyKind::UntilClose)
    };
    Ok(Parsed::Complete { head_len })
}

/// Validates a block of trailer fields (`name: value\r\n` lines, without the final
/// empty line) found at `base` in the caller's buffer.
pub(crate) fn check_trailer_fields(block: &[u8], base: usize, side: Side) -> Result<(), H1Error> {
    let mut ls = 0;
    while ls < block.len() {
        let lf = match memchr::memchr(b'\n', &block[ls..]) {
            Some(p) => ls + p,
            None => return Err(side.err(K::Trailer, base + block.len())),
        };
        if lf == ls || block[lf - 1] != b'\r' {
            return Err(side.err(K::BareLf, base + lf));
        }
        let line = &block[ls..lf - 1];
        if line.is_empty() || matches!(line[0], b' ' | b'\t') {
            return Err(side.err(K::Trailer, base + ls));
        }
        let colon = match find_non_token(line) {
            Some(p) if p > 0 && line[p] == b':' => p,
            Some(p) => return Err(side.err(K::Trailer, base + ls + p)),
            None => return Err(side.err(K::Trailer, base + lf)),
        };
        if let Some(bad) = find_invalid_value(&line[colon + 1..]) {
            return Err(side.err(K::Trailer, base + ls + colon + 1 + bad));
        }
        ls = lf + 1;
    }
    Ok(())
}
