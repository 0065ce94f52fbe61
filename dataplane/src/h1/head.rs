//! Parsed message heads ([`RequestHead`], [`ResponseHead`]) and the accessors and edits
//! the proxy needs on them (target parts, Host, Connection tokens, Upgrade, Expect).
//!
//! Invariants: a head's fields are valid (the parser or the edit functions checked
//! them), so serialising never produces an ambiguous message; `clear()` keeps every
//! buffer's capacity. The framing decided at parse time ([`BodyKind`]) stays with the
//! head: edits do not change how the body that follows is delimited.

use super::framing::BodyKind;
use super::headers::{HeaderList, InvalidHeader};
use super::syntax::{eq_ci, find_invalid_value, is_target_byte, is_token, CommaSplit};
use super::{Method, Version};

/// Which of RFC 9112 §3.2's forms a request target has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetForm {
    /// `/path?query`
    #[default]
    Origin,
    /// `scheme://authority/path?query`
    Absolute,
    /// `host:port` (CONNECT only)
    Authority,
    /// `*` (OPTIONS only)
    Asterisk,
}

/// What a message's Connection field(s) say (RFC 9110 §7.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConnectionTokens {
    /// `close` was listed.
    pub close: bool,
    /// `keep-alive` was listed.
    pub keep_alive: bool,
    /// `upgrade` was listed.
    pub upgrade: bool,
    /// Other tokens were listed (fields to strip as hop-by-hop).
    pub other: bool,
}

impl ConnectionTokens {
    pub(crate) fn from_headers(h: &HeaderList) -> Self {
        let mut t = ConnectionTokens::default();
        for value in h.get_all(b"connection") {
            if is_token(value) {
                // The usual single token (`keep-alive`, `close`): nothing to split.
                t.note(value);
            } else {
                CommaSplit::new(value).for_each(|tok| t.note(tok));
            }
        }
        t
    }

    fn note(&mut self, tok: &[u8]) {
        if eq_ci(tok, b"close") {
            self.close = true;
        } else if eq_ci(tok, b"keep-alive") {
            self.keep_alive = true;
        } else if eq_ci(tok, b"upgrade") {
            self.upgrade = true;
        } else {
            self.other = true;
        }
    }

    /// Whether the connection persists after this message, given its version
    /// (RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`).
    pub fn persistent(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

/// A parsed (and editable) request head.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    pub(crate) method: Vec<u8>,
    pub(crate) method_kind: Method,
    pub(crate) target: Vec<u8>,
    pub(crate) form: TargetForm,
    /// Version of the request line.
    pub version: Version,
    /// Header fields, editable.
    pub headers: HeaderList,
    pub(crate) body: BodyKind,
    /// Resumable scan position of an incomplete head (see `parse::Scan`).
    pub(crate) scan: super::parse::Scan,
}

impl RequestHead {
    /// An empty head, ready to parse into.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resets the head for the next message, keeping buffer capacity.
    pub fn clear(&mut self) {
        self.method.clear();
        self.method_kind = Method::Get;
        self.target.clear();
        self.form = TargetForm::Origin;
        self.version = Version::Http11;
        self.headers.clear();
        self.body = BodyKind::None;
        self.scan = Default::default();
    }

    /// The method token.
    pub fn method(&self) -> &[u8] {
        &self.method
    }

    /// The method, classified.
    pub fn method_kind(&self) -> Method {
        self.method_kind
    }

    /// The request target as it will be sent.
    pub fn target(&self) -> &[u8] {
        &self.target
    }

    /// The target's form.
    pub fn target_form(&self) -> TargetForm {
        self.form
    }

    /// How the request body is delimited (decided at parse time).
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }

    /// The body was read by sluice itself (a local service): nothing is left to
    /// forward or discard.
    pub fn mark_body_read(&mut self) {
        self.body = BodyKind::None;
    }

    /// Offset where the authority starts and where the path starts, for an
    /// absolute-form target.
    fn absolute_parts(&self) -> Option<(usize, usize)> {
        if self.form != TargetForm::Absolute {
            return None;
        }
        let t = &self.target;
        let auth_start = t.windows(3).position(|w| w == b"://")? + 3;
        let path_start = t[auth_start..]
            .iter()
            .position(|&c| c == b'/' || c == b'?')
            .map_or(t.len(), |p| p + auth_start);
        Some((auth_start, path_start))
    }

    /// The scheme of an absolute-form target (`http`, `https`, …).
    pub fn scheme(&self) -> Option<&[u8]> {
        let (auth, _) = self.absolute_parts()?;
        Some(&self.target[..auth - 3])
    }

    /// The authority of an absolute-form or authority-form target.
    pub fn authority(&self) -> Option<&[u8]> {
        match self.form {
            TargetForm::Authority => Some(&self.target),
            TargetForm::Absolute => {
                let (a, p) = self.absolute_parts()?;
                Some(&self.target[a..p])
            }
            _ => None,
        }
    }

    /// Path and query part of the target (`/a/b?x=1`); empty for authority-form and
    /// `*`, and for an absolute-form target without a path.
    pub fn path_and_query(&self) -> &[u8] {
        match self.form {
            TargetForm::Origin => &self.target,
            TargetForm::Absolute => match self.absolute_parts() {
                Some((_, p)) => &self.target[p..],
                None => &[],
            },
            _ => &[],
        }
    }

    /// The path (before `?`), HAProxy's `path` sample.
    pub fn path(&self) -> &[u8] {
        let pq = self.path_and_query();
        match pq.iter().position(|&c| c == b'?') {
            Some(q) => &pq[..q],
            None => pq,
        }
    }

    /// The query string (after `?`, without it), HAProxy's `query` sample.
    pub fn query(&self) -> Option<&[u8]> {
        let pq = self.path_and_query();
        pq.iter().position(|&c| c == b'?').map(|q| &pq[q + 1..])
    }

    /// The effective host (RFC 9112 §3.2.2 / §3.3): the target's authority when it has
    /// one, else the Host field.
    pub fn host(&self) -> Option<&[u8]> {
        self.authority().or_else(|| self.headers.get(b"host"))
    }

    /// Connection tokens of the request.
    pub fn connection(&self) -> ConnectionTokens {
        ConnectionTokens::from_headers(&self.headers)
    }

    /// Whether the client asks to keep the connection open after this exchange.
    pub fn keep_alive(&self) -> bool {
        self.connection().persistent(self.version)
    }

    /// The Upgrade field when the request asks for a protocol upgrade (Connection lists
    /// `upgrade` and Upgrade is present, HTTP/1.1 only).
    pub fn upgrade(&self) -> Option<&[u8]> {
        if self.version == Version::Http11 && self.connection().upgrade {
            self.headers.get(b"upgrade")
        } else {
            None
        }
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .headers
                .comma_values(b"expect")
                .any(|v| eq_ci(v, b"100-continue"))
    }

    /// Replaces the method (`http-request set-method`).
    pub fn set_method(&mut self, method: &[u8]) -> Result<(), InvalidHeader> {
        if !is_token(method) {
            return Err(InvalidHeader::Value);
        }
        self.method.clear();
        self.method.extend_from_slice(method);
        self.method_kind = Method::from_bytes(method);
        Ok(())
    }

    /// Replaces the whole target (`http-request set-uri`). The form is re-detected.
    pub fn set_target(&mut self, target: &[u8]) -> Result<(), InvalidHeader> {
        if target.is_empty() || !target.iter().all(|&c| is_target_byte(c)) {
            return Err(InvalidHeader::Value);
        }
        self.form = classify_target(target);
        self.target.clear();
        self.target.extend_from_slice(target);
        Ok(())
    }

    /// Replaces the path, keeping scheme, authority and query (`set-path`).
    pub fn set_path(&mut self, path: &[u8]) -> Result<(), InvalidHeader> {
        if !path.iter().all(|&c| is_target_byte(c) && c != b'?') {
            return Err(InvalidHeader::Value);
        }
        let (start, end) = self.path_span();
        splice(&mut self.target, start, end, path);
        if self.form == TargetForm::Origin && !self.target.starts_with(b"/") {
            self.target.insert(0, b'/');
        }
        Ok(())
    }

    /// Replaces the query (without `?`; `None` removes it) (`set-query`).
    pub fn set_query(&mut self, query: Option<&[u8]>) -> Result<(), InvalidHeader> {
        if let Some(q) = query {
            if !q.iter().all(|&c| is_target_byte(c)) {
                return Err(InvalidHeader::Value);
            }
        }
        let (_, path_end) = self.path_span();
        self.target.truncate(path_end);
        if let Some(q) = query {
            self.target.push(b'?');
            self.target.extend_from_slice(q);
        }
        Ok(())
    }

    /// Start and end offsets of the path within the target.
    fn path_span(&self) -> (usize, usize) {
        let start = match self.form {
            TargetForm::Absolute => self.absolute_parts().map_or(0, |(_, p)| p),
            _ => 0,
        };
        let end = self.target[start..]
            .iter()
            .position(|&c| c == b'?')
            .map_or(self.target.len(), |q| q + start);
        (start, end)
    }
}

/// Replaces `v[start..end]` with `with`, without a temporary allocation.
fn splice(v: &mut Vec<u8>, start: usize, end: usize, with: &[u8]) {
    let tail = v.len() - end;
    if with.len() > end - start {
        let grow = with.len() - (end - start);
        v.resize(v.len() + grow, 0);
        v.copy_within(end..end + tail, end + grow);
    } else {
        let shrink = (end - start) - with.len();
        v.copy_within(end..end + tail, end - shrink);
        v.truncate(v.len() - shrink);
    }
    v[start..start + with.len()].copy_from_slice(with);
}

/// Detects a target's form from its first bytes (syntax checked elsewhere).
pub(crate) fn classify_target(t: &[u8]) -> TargetForm {
    match t.first() {
        Some(b'/') => TargetForm::Origin,
        Some(b'*') if t.len() == 1 => TargetForm::Asterisk,
        _ if t.windows(3).any(|w| w == b"://") => TargetForm::Absolute,
        _ => TargetForm::Authority,
    }
}

/// A parsed (and editable) response head.
#[derive(Clone, Debug, Default)]
pub struct ResponseHead {
    /// Version of the status line.
    pub version: Version,
    pub(crate) status: u16,
    pub(crate) reason: Vec<u8>,
    /// Header fields, editable.
    pub headers: HeaderList,
    pub(crate) body: BodyKind,
    pub(crate) scan: super::parse::Scan,
}

impl ResponseHead {
    /// An empty head, ready to parse into.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resets the head for the next message, keeping buffer capacity.
    pub fn clear(&mut self) {
        self.version = Version::Http11;
        self.status = 0;
        self.reason.clear();
        self.headers.clear();
        self.body = BodyKind::None;
        self.scan = Default::default();
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase (may be empty).
    pub fn reason(&self) -> &[u8] {
        &self.reason
    }

    /// How the response body is delimited (decided at parse time from the status, the
    /// request method and the framing fields).
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }

    /// True for 1xx other than 101: another response head follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Connection tokens of the response.
    pub fn connection(&self) -> ConnectionTokens {
        ConnectionTokens::from_headers(&self.headers)
    }

    /// Whether the server keeps the connection open after this response.
    pub fn keep_alive(&self) -> bool {
        self.connection().persistent(self.version) && self.body != BodyKind::UntilClose
    }

    /// Sets status and reason (`http-response set-status`); `None` picks the standard
    /// reason phrase for the code.
    pub fn set_status(&mut self, status: u16, reason: Option<&[u8]>) -> Result<(), InvalidHeader> {
        if !(100..=599).contains(&status) {
            return Err(InvalidHeader::Value);
        }
        let reason = reason.unwrap_or(super::errorpages::reason_phrase(status).as_bytes());
        if find_invalid_value(reason).is_some() {
            return Err(InvalidHeader::Value);
        }
        self.status = status;
        self.reason.clear();
        self.reason.extend_from_slice(reason);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &[u8]) -> RequestHead {
        let mut r = RequestHead::new();
        r.set_method(b"GET").unwrap();
        r.set_target(target).unwrap();
        r
    }

    #[test]
    fn origin_form_parts() {
        let r = req(b"/a/b?x=1&y=2");
        assert_eq!(r.target_form(), TargetForm::Origin);
        assert_eq!(r.path(), b"/a/b");
        assert_eq!(r.query(), Some(&b"x=1&y=2"[..]));
        assert_eq!(r.authority(), None);
        let r = req(b"/only");
        assert_eq!(r.query(), None);
    }

    #[test]
    fn absolute_form_parts() {
        let r = req(b"http://Example.com:8080/p?q");
        assert_eq!(r.target_form(), TargetForm::Absolute);
        assert_eq!(r.scheme(), Some(&b"http"[..]));
        assert_eq!(r.authority(), Some(&b"Example.com:8080"[..]));
        assert_eq!(r.path(), b"/p");
        assert_eq!(r.query(), Some(&b"q"[..]));
        assert_eq!(r.host(), Some(&b"Example.com:8080"[..]));
        let r = req(b"https://h?q=1");
        assert_eq!(r.authority(), Some(&b"h"[..]));
        assert_eq!(r.path(), b"");
        assert_eq!(r.query(), Some(&b"q=1"[..]));
    }

    #[test]
    fn edits_of_target() {
        let mut r = req(b"/old/path?k=v");
        r.set_path(b"/new").unwrap();
        assert_eq!(r.target(), b"/new?k=v");
        r.set_path(b"/much/longer/path").unwrap();
        assert_eq!(r.target(), b"/much/longer/path?k=v");
        r.set_query(Some(b"a=1")).unwrap();
        assert_eq!(r.target(), b"/much/longer/path?a=1");
        r.set_query(None).unwrap();
        assert_eq!(r.target(), b"/much/longer/path");
        assert!(r.set_path(b"/a b").is_err());
        let mut r = req(b"http://h/x?y");
        r.set_path(b"/z").unwrap();
        assert_eq!(r.target(), b"http://h/z?y");
        assert!(r.set_target(b"/a\r\n").is_err());
        assert!(r.set_method(b"GE T").is_err());
        r.set_method(b"POST").unwrap();
        assert_eq!(r.method_kind(), Method::Post);
    }

    #[test]
    fn connection_and_expect() {
        let mut r = req(b"/");
        r.headers.append(b"Connection", b"Upgrade, X-Foo").unwrap();
        r.headers.append(b"Upgrade", b"websocket").unwrap();
        r.headers.append(b"Expect", b"100-Continue").unwrap();
        let c = r.connection();
        assert!(c.upgrade && c.other && !c.close && !c.keep_alive);
        assert_eq!(r.upgrade(), Some(&b"websocket"[..]));
        assert!(r.expects_continue());
        assert!(r.keep_alive());
        r.version = Version::Http10;
        assert!(!r.keep_alive());
        assert_eq!(r.upgrade(), None);
        assert!(!r.expects_continue());
        r.headers.set(b"connection", b"keep-alive").unwrap();
        assert!(r.keep_alive());
    }

    #[test]
    fn response_status_edit() {
        let mut r = ResponseHead::new();
        r.set_status(404, None).unwrap();
        assert_eq!((r.status(), r.reason()), (404, &b"Not Found"[..]));
        r.set_status(299, Some(b"Custom")).unwrap();
        assert_eq!(r.reason(), b"Custom");
        assert!(r.set_status(99, None).is_err());
        assert!(r.set_status(200, Some(b"a\r\nb")).is_err());
        r.status = 100;
        assert!(r.is_interim());
    }
}
