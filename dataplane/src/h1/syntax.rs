//! Byte-level grammar of RFC 9110/9112: character classes and small validators.
//!
//! Invariant: these are pure functions over byte slices (no allocation); every other
//! module of the codec validates through them, so one table decides what a token, a
//! field value or a request-target byte is.

/// `tchar` of RFC 9110 §5.6.2.
const fn build_tchar() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
}

/// Field-value bytes: HTAB, SP, VCHAR and obs-text (RFC 9110 §5.5); no other CTL.
const fn build_value() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i == 0x09 || (i >= 0x20 && i != 0x7f);
        i += 1;
    }
    t
}

/// Request-target bytes: visible ASCII except `#` (a fragment never goes on the wire).
const fn build_target() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0x21;
    while i < 0x7f {
        t[i] = i != b'#' as usize;
        i += 1;
    }
    t
}

/// Host bytes: unreserved / pct-encoded / sub-delims / ":" / "[" / "]" (RFC 3986).
const fn build_host() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            );
        i += 1;
    }
    t
}

static TCHAR: [bool; 256] = build_tchar();
static VALUE: [bool; 256] = build_value();
static TARGET: [bool; 256] = build_target();
static HOST: [bool; 256] = build_host();

#[inline]
pub(crate) fn is_tchar(c: u8) -> bool {
    TCHAR[c as usize]
}

#[inline]
pub(crate) fn is_value_byte(c: u8) -> bool {
    VALUE[c as usize]
}

#[inline]
pub(crate) fn is_target_byte(c: u8) -> bool {
    TARGET[c as usize]
}

/// Position of the first byte that is not a tchar, if any.
pub(crate) fn find_non_token(s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| !is_tchar(c))
}

/// True when `s` is a non-empty token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && find_non_token(s).is_none()
}

/// Position of the first byte not allowed in a field value, if any.
pub(crate) fn find_invalid_value(s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| !is_value_byte(c))
}

/// Position of the first byte not allowed in a host (Host field or authority), if any.
pub(crate) fn find_invalid_host(s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| !HOST[c as usize])
}

/// Strips optional whitespace (SP / HTAB) on both sides.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// ASCII case-insensitive equality.
#[inline]
pub(crate) fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Iterator over the elements of a comma-separated list (RFC 9110 §5.6.1): commas inside
/// quoted strings do not split, elements are trimmed of OWS and empty ones skipped.
#[derive(Clone, Debug)]
pub struct CommaSplit<'a> {
    rest: &'a [u8],
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        CommaSplit { rest: s }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let mut quoted = false;
            let mut escaped = false;
            let mut end = self.rest.len();
            for (i, &c) in self.rest.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if quoted {
                    match c {
                        b'\\' => escaped = true,
                        b'"' => quoted = false,
                        _ => {}
                    }
                } else if c == b'"' {
                    quoted = true;
                } else if c == b',' {
                    end = i;
                    break;
                }
            }
            let item = trim_ows(&self.rest[..end]);
            self.rest = if end < self.rest.len() {
                &self.rest[end + 1..]
            } else {
                &[]
            };
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// Parses a Content-Length value: one or more ASCII digits, at most 2^62 (larger is
/// certainly an attack and would overflow arithmetic downstream).
pub(crate) fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    (n <= 1 << 62).then_some(n)
}

/// Validates a quoted-string starting at `s[0] == '"'`; returns its length including
/// both quotes.
pub(crate) fn quoted_string_len(s: &[u8]) -> Option<usize> {
    debug_assert_eq!(s.first(), Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let n = *s.get(i + 1)?;
                if !(n == b'\t' || n >= 0x20) || n == 0x7f {
                    return None;
                }
                i += 2;
            }
            c if c == b'\t' || (c >= 0x20 && c != 0x7f) => i += 1,
            _ => return None,
        }
    }
    None
}

/// Splits `host[:port]` into host and optional port (port text after the last colon
/// outside an IPv6 literal).
pub(crate) fn split_host_port(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    let search_from = if s.first() == Some(&b'[') {
        match s.iter().position(|&c| c == b']') {
            Some(p) => p,
            None => return (s, None),
        }
    } else {
        0
    };
    match s[search_from..].iter().rposition(|&c| c == b':') {
        Some(p) => (&s[..search_from + p], Some(&s[search_from + p + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"X-Custom_Header~1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"Bad Name"));
        assert!(!is_token(b"a:b"));
        assert_eq!(find_non_token(b"ab\0c"), Some(2));
    }

    #[test]
    fn values() {
        assert_eq!(find_invalid_value(b"text/html; q=1\t\x80\xff"), None);
        assert_eq!(find_invalid_value(b"a\0b"), Some(1));
        assert_eq!(find_invalid_value(b"a\rb"), Some(1));
        assert_eq!(find_invalid_value(b"ab\n"), Some(2));
        assert_eq!(find_invalid_value(b"a\x7f"), Some(1));
    }

    #[test]
    fn comma_split() {
        let v: Vec<&[u8]> = CommaSplit::new(b" a , b,, \"c,d\" ,e\t").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"\"c,d\"", b"e"]);
        assert_eq!(CommaSplit::new(b" , ,").count(), 0);
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"0012"), Some(12));
        assert_eq!(parse_content_length(b"+1"), None);
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"1 2"), None);
        assert_eq!(parse_content_length(b"0x10"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"99999999999999999999"), None);
        assert_eq!(parse_content_length(b"9223372036854775807"), None);
        assert_eq!(parse_content_length(b"4611686018427387904"), Some(1 << 62));
    }

    #[test]
    fn quoted() {
        assert_eq!(quoted_string_len(b"\"abc\" rest"), Some(5));
        assert_eq!(quoted_string_len(b"\"a\\\"b\""), Some(6));
        assert_eq!(quoted_string_len(b"\"abc"), None);
        assert_eq!(quoted_string_len(b"\"a\rb\""), None);
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port(b"a.com:80"),
            (&b"a.com"[..], Some(&b"80"[..]))
        );
        assert_eq!(split_host_port(b"a.com"), (&b"a.com"[..], None));
        assert_eq!(
            split_host_port(b"[::1]:443"),
            (&b"[::1]"[..], Some(&b"443"[..]))
        );
        assert_eq!(split_host_port(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(find_invalid_host(b"a b"), Some(1));
        assert_eq!(find_invalid_host(b"user@h"), Some(4));
        assert!(trim_ows(b" \t x \t").eq(b"x"));
    }
}
