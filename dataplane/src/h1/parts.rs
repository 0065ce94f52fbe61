//! Request heads built from parts that another codec already split (an HTTP/2
//! request's method, target and fields, on their way to an HTTP/1 server).
//!
//! Invariant: [`RequestParts`] accepts exactly the heads whose HTTP/1.1 text
//! (`METHOD SP target SP HTTP/1.1`, then `name: value` lines, as the HTTP/2
//! translation writes it) [`super::parse_request`] accepts, and builds the same head,
//! through the same checks (they live in `parse`). Its errors carry no offsets:
//! a caller that must report one (the `show errors` capture) parses the text instead.

use super::errors::{ErrorKind as K, H1Error, Side};
use super::head::RequestHead;
use super::parse::{
    check_method, check_target, check_target_bytes, finish_request, note_field, Facts,
};
use super::syntax::{find_non_token, trim_ows};
use super::{Limits, Method, Version};

/// A request head being built field by field; [`RequestParts::finish`] completes it.
pub struct RequestParts<'h> {
    head: &'h mut RequestHead,
    facts: Facts,
    /// Length of the head's HTTP/1.1 text so far.
    wire_len: usize,
    fields: usize,
}

impl<'h> RequestParts<'h> {
    /// Starts `head` (cleared first) with its request line; the version is HTTP/1.1.
    pub fn start(head: &'h mut RequestHead, method: &[u8], target: &[u8]) -> Result<Self, H1Error> {
        let side = Side::Request;
        head.clear();
        check_method(method, 0)?;
        check_target_bytes(target, 0)?;
        let kind = Method::from_bytes(method);
        let form = check_target(target, kind).map_err(|_| side.err(K::Target, 0))?;
        head.method.extend_from_slice(method);
        head.method_kind = kind;
        head.target.extend_from_slice(target);
        head.form = form;
        head.version = Version::Http11;
        Ok(RequestParts {
            head,
            facts: Facts::default(),
            wire_len: method.len() + 1 + target.len() + 1 + 8 + 2,
            fields: 0,
        })
    }

    /// Adds a field (`value` as it would follow `name: ` on the line).
    pub fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), H1Error> {
        if name.is_empty() || find_non_token(name).is_some() {
            return Err(Side::Request.err(K::HeaderName, 0));
        }
        let trimmed = trim_ows(value);
        note_field(name, trimmed, (0, 0), Side::Request, &mut self.facts)?;
        self.head.headers.push_validated(name, trimmed);
        self.wire_len += name.len() + 2 + value.len() + 2;
        self.fields += 1;
        Ok(())
    }

    /// Completes the head under `limits`: the checks that need every field, and the
    /// body's framing. Returns the length of the head's HTTP/1.1 text.
    pub fn finish(self, limits: &Limits) -> Result<usize, H1Error> {
        let len = self.wire_len + 2;
        if self.fields >= limits.max_headers {
            return Err(Side::Request.err(K::TooManyHeaders, 0));
        }
        if len > limits.max_head_bytes {
            return Err(Side::Request.err(K::HeadTooLarge, 0));
        }
        finish_request(self.head, &self.facts, 0)?;
        Ok(len)
    }
}
