//! A compact, editable list of header fields: one byte buffer plus index ranges.
//!
//! Invariants: entries keep wire order; every name is a valid token and every value is
//! a valid field value without leading/trailing whitespace (parsed fields are validated
//! by the parser, added fields by [`HeaderList::append`] and friends), so serialising
//! the list can never inject a line. Deleting an entry removes its index only (its
//! bytes stay in the buffer until `clear()`); edits append new bytes at the end of the
//! buffer. `clear()` keeps the capacity of both vectors, so a list reused across
//! messages stops allocating once it has seen its largest message.

use super::syntax::{eq_ci, find_invalid_value, is_token, trim_ows, CommaSplit};
use std::fmt;

/// One field: byte ranges into [`HeaderList`]'s buffer.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    name_start: u32,
    name_len: u32,
    value_start: u32,
    value_len: u32,
    /// Scratch mark used by bulk removals (e.g. hop-by-hop stripping).
    marked: bool,
}

/// A rejected header edit: the name is not a token, or the value contains a byte that
/// is not allowed in a field value (CR, LF, NUL or another control character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidHeader {
    Name,
    Value,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidHeader::Name => "invalid header name",
            InvalidHeader::Value => "invalid header value",
        })
    }
}

impl std::error::Error for InvalidHeader {}

/// An ordered, editable list of header fields.
#[derive(Clone, Default)]
pub struct HeaderList {
    buf: Vec<u8>,
    entries: Vec<Entry>,
}

impl fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

impl PartialEq for HeaderList {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for HeaderList {}

impl HeaderList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every field, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn name_of(&self, e: &Entry) -> &[u8] {
        &self.buf[e.name_start as usize..(e.name_start + e.name_len) as usize]
    }

    fn value_of(&self, e: &Entry) -> &[u8] {
        &self.buf[e.value_start as usize..(e.value_start + e.value_len) as usize]
    }

    /// Name of the field at `index`.
    pub fn name(&self, index: usize) -> &[u8] {
        self.name_of(&self.entries[index])
    }

    /// Value of the field at `index`.
    pub fn value(&self, index: usize) -> &[u8] {
        self.value_of(&self.entries[index])
    }

    /// All fields in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries
            .iter()
            .map(move |e| (self.name_of(e), self.value_of(e)))
    }

    /// The fields, each value a slice of one shared copy of the field bytes: one
    /// allocation for a whole head where owned values would take one each.
    pub fn iter_shared(&self) -> impl Iterator<Item = (&[u8], bytes::Bytes)> + '_ {
        let shared = bytes::Bytes::copy_from_slice(&self.buf);
        self.entries.iter().map(move |e| {
            let start = e.value_start as usize;
            (
                self.name_of(e),
                shared.slice(start..start + e.value_len as usize),
            )
        })
    }

    /// Index of the first field named `name` (case-insensitive) at or after `from`.
    pub fn find_from(&self, name: &[u8], from: usize) -> Option<usize> {
        self.entries
            .iter()
            .skip(from)
            .position(|e| e.name_len as usize == name.len() && eq_ci(self.name_of(e), name))
            .map(|p| p + from)
    }

    /// Value of the first field named `name` (case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.find_from(name, 0).map(|i| self.value(i))
    }

    /// Values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.name_len as usize == name.len() && eq_ci(self.name_of(e), name))
            .map(move |e| self.value_of(e))
    }

    /// The comma-separated elements of every field named `name` (RFC 9110 §5.6.1:
    /// quoted commas do not split, empty elements are skipped).
    pub fn comma_values<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).flat_map(CommaSplit::new)
    }

    /// True when a field named `name` exists.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.find_from(name, 0).is_some()
    }

    /// Number of fields named `name`.
    pub fn count(&self, name: &[u8]) -> usize {
        self.get_all(name).count()
    }

    fn push_bytes(&mut self, s: &[u8]) -> (u32, u32) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(s);
        (start, s.len() as u32)
    }

    /// Appends a field at the end (HAProxy's `add-header`). The value is trimmed of
    /// surrounding whitespace.
    pub fn append(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
        let value = check(name, value)?;
        let (name_start, name_len) = self.push_bytes(name);
        let (value_start, value_len) = self.push_bytes(value);
        self.entries.push(Entry {
            name_start,
            name_len,
            value_start,
            value_len,
            marked: false,
        });
        Ok(())
    }

    /// Appends a field that went through the parser's checks (name a token, value
    /// trimmed and valid).
    pub(crate) fn push_validated(&mut self, name: &[u8], value: &[u8]) {
        let name = self.push_bytes(name);
        let value = self.push_bytes(value);
        self.push_parsed(name, value);
    }

    /// Removes every field named `name` then appends one (HAProxy's `set-header`).
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
        check(name, value)?;
        self.remove(name);
        self.append(name, value)
    }

    /// Replaces the value of the field at `index` (HAProxy's `replace-header` /
    /// `replace-value` write through this), keeping its position and name.
    pub fn set_value(&mut self, index: usize, value: &[u8]) -> Result<(), InvalidHeader> {
        let value = trim_ows(value);
        if find_invalid_value(value).is_some() {
            return Err(InvalidHeader::Value);
        }
        let (value_start, value_len) = self.push_bytes(value);
        let e = &mut self.entries[index];
        e.value_start = value_start;
        e.value_len = value_len;
        Ok(())
    }

    /// Removes every field named `name`; returns how many were removed (`del-header`).
    pub fn remove(&mut self, name: &[u8]) -> usize {
        let before = self.entries.len();
        let buf = &self.buf;
        self.entries.retain(|e| {
            !(e.name_len as usize == name.len()
                && eq_ci(
                    &buf[e.name_start as usize..(e.name_start + e.name_len) as usize],
                    name,
                ))
        });
        before - self.entries.len()
    }

    /// Removes the field at `index`.
    pub fn remove_at(&mut self, index: usize) {
        self.entries.remove(index);
    }

    /// Marks the field at `index` for [`HeaderList::remove_marked`].
    pub(crate) fn mark(&mut self, index: usize) {
        self.entries[index].marked = true;
    }

    /// Removes every marked field.
    pub(crate) fn remove_marked(&mut self) {
        self.entries.retain(|e| !e.marked);
    }

    /// Appends a field whose bytes were validated by the parser: `src[name]` and
    /// `src[value]` are copied (the caller copies the whole head region once with
    /// [`HeaderList::push_raw`] and then indexes into it with [`HeaderList::push_parsed`]).
    pub(crate) fn push_raw(&mut self, src: &[u8]) -> u32 {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(src);
        start
    }

    /// Records a parsed field at buffer offsets (see [`HeaderList::push_raw`]).
    pub(crate) fn push_parsed(&mut self, name: (u32, u32), value: (u32, u32)) {
        self.entries.push(Entry {
            name_start: name.0,
            name_len: name.1,
            value_start: value.0,
            value_len: value.1,
            marked: false,
        });
    }

    /// Bytes needed to serialise the fields (`name: value\r\n` each).
    pub fn wire_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| (e.name_len + e.value_len) as usize + 4)
            .sum()
    }
}

/// Validates an added field; returns the trimmed value.
fn check<'v>(name: &[u8], value: &'v [u8]) -> Result<&'v [u8], InvalidHeader> {
    if !is_token(name) {
        return Err(InvalidHeader::Name);
    }
    let value = trim_ows(value);
    if find_invalid_value(value).is_some() {
        return Err(InvalidHeader::Value);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> HeaderList {
        let mut h = HeaderList::new();
        h.append(b"Host", b"example.com").unwrap();
        h.append(b"Accept", b"text/html, application/json").unwrap();
        h.append(b"X-Forwarded-For", b"10.0.0.1").unwrap();
        h.append(b"accept", b"*/*;q=0.8").unwrap();
        h
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let h = list();
        assert_eq!(h.get(b"HOST"), Some(&b"example.com"[..]));
        assert_eq!(h.get(b"missing"), None);
        let all: Vec<&[u8]> = h.get_all(b"Accept").collect();
        assert_eq!(all, vec![&b"text/html, application/json"[..], b"*/*;q=0.8"]);
        let items: Vec<&[u8]> = h.comma_values(b"accept").collect();
        assert_eq!(
            items,
            vec![&b"text/html"[..], b"application/json", b"*/*;q=0.8"]
        );
        assert_eq!(h.count(b"accept"), 2);
        assert_eq!(h.find_from(b"accept", 2), Some(3));
        assert!(h.contains(b"x-forwarded-for"));
    }

    #[test]
    fn edits() {
        let mut h = list();
        assert_eq!(h.remove(b"accept"), 2);
        assert_eq!(h.len(), 2);
        h.set(b"X-Forwarded-For", b" 10.0.0.2 ").unwrap();
        assert_eq!(h.get(b"x-forwarded-for"), Some(&b"10.0.0.2"[..]));
        assert_eq!(h.name(1), b"X-Forwarded-For");
        h.set_value(0, b"other.example").unwrap();
        assert_eq!(h.value(0), b"other.example");
        h.remove_at(0);
        assert_eq!(h.len(), 1);
        assert_eq!(h.wire_len(), "X-Forwarded-For: 10.0.0.2\r\n".len());
    }

    #[test]
    fn rejects_injection() {
        let mut h = HeaderList::new();
        assert_eq!(
            h.append(b"X-A", b"a\r\nInjected: 1"),
            Err(InvalidHeader::Value)
        );
        assert_eq!(h.append(b"X A", b"1"), Err(InvalidHeader::Name));
        assert_eq!(h.append(b"", b"1"), Err(InvalidHeader::Name));
        assert_eq!(h.append(b"X-A", b"a\0"), Err(InvalidHeader::Value));
        assert!(h.is_empty());
        h.append(b"X-A", b"ok").unwrap();
        assert_eq!(h.set_value(0, b"\n"), Err(InvalidHeader::Value));
        assert_eq!(h.set(b"X-A", b"\r"), Err(InvalidHeader::Value));
        assert_eq!(h.value(0), b"ok");
    }

    #[test]
    fn clear_keeps_capacity() {
        let mut h = list();
        let (cb, ce) = (h.buf.capacity(), h.entries.capacity());
        h.clear();
        assert!(h.is_empty());
        assert_eq!((h.buf.capacity(), h.entries.capacity()), (cb, ce));
        assert_eq!(list(), list());
    }
}
