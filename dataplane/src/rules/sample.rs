//! Sample fetches and converters.
//!
//! Owns: [`Sample`], [`Scratch`], and the evaluation entry points
//! [`for_each_value`] (every occurrence: ACLs), [`fetch_last`] (one value: formats,
//! `set-var`) and [`set_var`]. Invariant: a value produced by converters lives in
//! `Scratch::cur`; converters rewrite it in place or through `Scratch::tmp`, so no
//! allocation happens once the buffers are warm (except `regsub`, which uses the
//! regex crate's replacement and allocates when it replaces something). Map
//! converters read the worker's pattern store (`crate::maps`) and copy the value
//! found into `Scratch::cur`.

use std::io::Write as _;
use std::net::IpAddr;

use appliance_config::model::sample::{
    ArithOp, Converter, DnFetch, Fetch, HdrSide, SampleExpr, VarName,
};

use super::vars::Vars;
use super::TxnView;

/// One sample value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    /// Boolean.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Address.
    Ip(IpAddr),
    /// Text (bytes; not necessarily UTF-8).
    Str(&'a [u8]),
    /// Binary.
    Bin(&'a [u8]),
}

impl Sample<'_> {
    /// The value as an integer (booleans are 0/1; text must be a whole integer).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Sample::Bool(b) => Some(i64::from(b)),
            Sample::Int(i) => Some(i),
            Sample::Ip(_) => None,
            Sample::Str(s) | Sample::Bin(s) => parse_int(s),
        }
    }

    /// The value as an address (text is parsed).
    pub fn as_ip(&self) -> Option<IpAddr> {
        match *self {
            Sample::Ip(ip) => Some(ip),
            Sample::Str(s) | Sample::Bin(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean (integers are true when non-zero, text when non-empty).
    pub fn as_bool(&self) -> bool {
        match *self {
            Sample::Bool(b) => b,
            Sample::Int(i) => i != 0,
            Sample::Ip(_) => true,
            Sample::Str(s) | Sample::Bin(s) => !s.is_empty(),
        }
    }

    /// Appends the value's text form to `out` (`1`/`0` for booleans).
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match *self {
            Sample::Bool(b) => out.push(if b { b'1' } else { b'0' }),
            Sample::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Sample::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Sample::Str(s) | Sample::Bin(s) => out.extend_from_slice(s),
        }
    }
}

/// Parses a whole decimal integer with an optional sign, blanks trimmed.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    s.parse().ok()
}

/// Reusable buffers for evaluation; keep one per worker (or per session) and pass it
/// to every call.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Value being converted.
    pub(crate) cur: Vec<u8>,
    /// Second buffer for converters that cannot work in place.
    pub(crate) tmp: Vec<u8>,
    /// Composite fetch values (`base`).
    pub(crate) base: Vec<u8>,
    /// Format rendering of samples.
    pub(crate) fmt: Vec<u8>,
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Scratch::default()
    }
}

/// A converted value; `Str`/`Bin` bytes are in `Scratch::cur`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Val {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str,
    Bin,
}

pub(crate) fn view(v: Val, cur: &[u8]) -> Sample<'_> {
    match v {
        Val::Bool(b) => Sample::Bool(b),
        Val::Int(i) => Sample::Int(i),
        Val::Ip(ip) => Sample::Ip(ip),
        Val::Str => Sample::Str(cur),
        Val::Bin => Sample::Bin(cur),
    }
}

/// Which occurrences of a multi-valued fetch to produce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occ {
    All,
    Nth(i64),
}

fn pick(occ: Option<i64>, all: bool) -> Occ {
    match occ {
        Some(n) => Occ::Nth(n),
        None if all => Occ::All,
        None => Occ::Nth(-1),
    }
}

/// Iterates the values of a header fetch, honouring the occurrence.
fn hdr_values(
    txn: &dyn TxnView,
    side: HdrSide,
    name: Option<&str>,
    full: bool,
    occ: Occ,
    f: &mut dyn FnMut(&[u8]),
) {
    let each = |f: &mut dyn FnMut(&[u8])| match name {
        Some(n) if full => txn.full_header_values(side, n.as_bytes(), f),
        Some(n) => txn.header_values(side, n.as_bytes(), f),
        None => txn.all_headers(side, &mut |_, v| {
            if full {
                f(v)
            } else {
                super::split_values(v, &mut *f)
            }
        }),
    };
    match occ {
        Occ::All => each(f),
        Occ::Nth(n) if n > 0 => {
            let mut i = 0;
            each(&mut |v| {
                i += 1;
                if i == n {
                    f(v)
                }
            });
        }
        Occ::Nth(n) => {
            let mut total = 0i64;
            each(&mut |_| total += 1);
            let want = total + n; // 0-based
            if want < 0 {
                return;
            }
            let mut i = 0;
            each(&mut |v| {
                if i == want {
                    f(v)
                }
                i += 1;
            });
        }
    }
}

/// Calls `f` with each raw value of `fetch` (`all`: every occurrence, else the one a
/// sample context uses). `base` holds composite values.
fn fetch_raw(
    fetch: &Fetch,
    txn: &dyn TxnView,
    vars: &Vars,
    all: bool,
    base: &mut Vec<u8>,
    f: &mut dyn FnMut(Sample<'_>),
) {
    let http = !txn.method().is_empty();
    match fetch {
        Fetch::Path if http => f(Sample::Str(txn.path())),
        Fetch::Url if http => f(Sample::Str(txn.uri())),
        Fetch::Query if http => {
            if let Some(q) = txn.query() {
                f(Sample::Str(q))
            }
        }
        Fetch::Method if http => f(Sample::Str(txn.method())),
        Fetch::Base if http => {
            base.clear();
            let mut host: Option<usize> = None;
            txn.full_header_values(HdrSide::Request, b"host", &mut |v| {
                if host.is_none() {
                    base.extend_from_slice(v);
                    host = Some(v.len());
                }
            });
            base.extend_from_slice(txn.path());
            f(Sample::Str(base));
        }
        Fetch::UrlParam(name) if http => {
            if let Some(q) = txn.query() {
                for kv in q.split(|c| *c == b'&' || *c == b';') {
                    let (k, v) = match kv.iter().position(|c| *c == b'=') {
                        Some(p) => (&kv[..p], &kv[p + 1..]),
                        None => (kv, &kv[kv.len()..]),
                    };
                    if k == name.as_bytes() {
                        f(Sample::Str(v));
                        if !all {
                            break;
                        }
                    }
                }
            }
        }
        Fetch::Hdr {
            side,
            name,
            occ,
            full,
        } => {
            hdr_values(
                txn,
                *side,
                name.as_deref(),
                *full,
                pick(*occ, all),
                &mut |v| f(Sample::Str(v)),
            );
        }
        Fetch::HdrCnt { side, name, full } => {
            let mut n = 0i64;
            hdr_values(txn, *side, name.as_deref(), *full, Occ::All, &mut |_| {
                n += 1
            });
            f(Sample::Int(n));
        }
        Fetch::HdrVal { side, name, occ } => {
            hdr_values(txn, *side, Some(name), false, pick(*occ, all), &mut |v| {
                if let Some(i) = leading_int(v) {
                    f(Sample::Int(i))
                }
            });
        }
        Fetch::HdrIp { side, name, occ } => {
            hdr_values(txn, *side, Some(name), false, pick(*occ, all), &mut |v| {
                if let Some(ip) = parse_ip_maybe_port(v) {
                    f(Sample::Ip(ip))
                }
            });
        }
        Fetch::Status => {
            if let Some(s) = txn.status() {
                f(Sample::Int(i64::from(s)))
            }
        }
        Fetch::Src => {
            if let Some(a) = txn.src() {
                f(Sample::Ip(a.ip()))
            }
        }
        Fetch::SrcPort => {
            if let Some(a) = txn.src() {
                f(Sample::Int(i64::from(a.port())))
            }
        }
        Fetch::Dst => {
            if let Some(a) = txn.dst() {
                f(Sample::Ip(a.ip()))
            }
        }
        Fetch::DstPort => {
            if let Some(a) = txn.dst() {
                f(Sample::Int(i64::from(a.port())))
            }
        }
        Fetch::Var(v) => {
            if let Some(s) = vars.get(v) {
                f(s)
            }
        }
        Fetch::AlwaysTrue => f(Sample::Bool(true)),
        Fetch::AlwaysFalse => f(Sample::Bool(false)),
        Fetch::Nbsrv(b) => {
            if let Some(n) = txn.nbsrv(b.as_deref()) {
                f(Sample::Int(n))
            }
        }
        Fetch::ReqVer => {
            if let Some(v) = txn.req_version() {
                f(Sample::Str(v))
            }
        }
        Fetch::ResVer => {
            if let Some(v) = txn.res_version() {
                f(Sample::Str(v))
            }
        }
        Fetch::HttpFirstReq if http => f(Sample::Bool(txn.first_request())),
        Fetch::SslFc => f(Sample::Bool(txn.tls().is_some())),
        Fetch::SslFcSni => {
            if let Some(sni) = txn.tls().and_then(|t| t.sni.as_deref()) {
                f(Sample::Str(sni.as_bytes()))
            }
        }
        Fetch::SslFcAlpn => {
            if let Some(a) = txn.tls().and_then(|t| t.alpn.as_deref()) {
                f(Sample::Str(a))
            }
        }
        Fetch::SslFcProtocol => {
            if let Some(t) = txn.tls() {
                f(Sample::Str(t.protocol.as_bytes()))
            }
        }
        Fetch::SslFcCipher => {
            if let Some(t) = txn.tls() {
                f(Sample::Str(t.cipher.as_bytes()))
            }
        }
        Fetch::SslCUsed => {
            if let Some(t) = txn.tls() {
                f(Sample::Bool(t.client_cert.is_some()))
            }
        }
        Fetch::SslCVerify => {
            if let Some(t) = txn.tls() {
                f(Sample::Int(t.client_cert.as_ref().map_or(0, |c| c.verify)))
            }
        }
        Fetch::SslCDn(d) => {
            if let Some(c) = txn.tls().and_then(|t| t.client_cert.as_ref()) {
                let dn = if d.issuer { &c.issuer } else { &c.subject };
                if let Some(v) = dn_value(d, dn, base) {
                    f(Sample::Str(v))
                }
            }
        }
        Fetch::Str(s) => f(Sample::Str(s.as_bytes())),
        Fetch::Int(i) => f(Sample::Int(*i)),
        Fetch::Bool(b) => f(Sample::Bool(*b)),
        Fetch::ProxyName(k) => {
            if let Some(n) = txn.proxy_name(*k) {
                f(Sample::Str(n.as_bytes()))
            }
        }
        // HTTP fetches without an HTTP request: no sample.
        _ => {}
    }
}

/// `ssl_c_s_dn` / `ssl_c_i_dn`: one entry's value, or the whole DN written into
/// `buf` (OpenSSL one-line `/C=FR/O=x/CN=y`, or RFC 2253 `CN=y,O=x,C=FR`).
fn dn_value<'a>(d: &DnFetch, dn: &'a [(String, String)], buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    if let Some(entry) = &d.entry {
        let mut it = dn.iter().filter(|(k, _)| k == entry).map(|(_, v)| v);
        let v = if d.occ > 0 {
            it.nth(d.occ as usize - 1)
        } else {
            it.rev().nth(d.occ.unsigned_abs() as usize - 1)
        };
        return v.map(|v| v.as_bytes());
    }
    if dn.is_empty() {
        return None;
    }
    buf.clear();
    if d.rfc2253 {
        for (i, (k, v)) in dn.iter().rev().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(k.as_bytes());
            buf.push(b'=');
            let last = v.len().saturating_sub(1);
            for (j, c) in v.bytes().enumerate() {
                let special = matches!(c, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
                    || (j == 0 && (c == b' ' || c == b'#'))
                    || (j == last && c == b' ');
                if special {
                    buf.push(b'\\');
                }
                buf.push(c);
            }
        }
    } else {
        for (k, v) in dn {
            buf.push(b'/');
            buf.extend_from_slice(k.as_bytes());
            buf.push(b'=');
            buf.extend_from_slice(v.as_bytes());
        }
    }
    Some(buf)
}

/// The integer at the start of a header value (`hdr_val`), HAProxy-style.
fn leading_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.trim_start();
    let end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

fn parse_ip_maybe_port(v: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(v).ok()?.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(r) = s.strip_prefix('[') {
        return r.split(']').next()?.parse().ok();
    }
    let (h, _) = s.rsplit_once(':')?;
    h.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Loads a raw value into the scratch representation.
fn load(raw: Sample<'_>, cur: &mut Vec<u8>) -> Val {
    match raw {
        Sample::Bool(b) => Val::Bool(b),
        Sample::Int(i) => Val::Int(i),
        Sample::Ip(ip) => Val::Ip(ip),
        Sample::Str(s) => {
            cur.clear();
            cur.extend_from_slice(s);
            Val::Str
        }
        Sample::Bin(s) => {
            cur.clear();
            cur.extend_from_slice(s);
            Val::Bin
        }
    }
}

/// Makes the value text in `cur`.
fn to_bytes(v: Val, cur: &mut Vec<u8>) {
    match v {
        Val::Str | Val::Bin => {}
        other => {
            cur.clear();
            view_copy(other).write_text(cur);
        }
    }
}

fn view_copy(v: Val) -> Sample<'static> {
    match v {
        Val::Bool(b) => Sample::Bool(b),
        Val::Int(i) => Sample::Int(i),
        Val::Ip(ip) => Sample::Ip(ip),
        Val::Str | Val::Bin => Sample::Str(&[]),
    }
}

/// Byte range of field `index` (1-based, negative from the end) and the `count`
/// following ones (0: all remaining); `word`: runs of delimiters count once and
/// leading/trailing delimiters are ignored.
fn field_range(s: &[u8], delims: &[u8], index: i64, count: i64, word: bool) -> (usize, usize) {
    let is_d = |c: &u8| delims.contains(c);
    // Field boundaries as (start, end) pairs, computed lazily twice to avoid storage.
    let fields = |emit: &mut dyn FnMut(usize, usize)| {
        let mut start = 0;
        let mut i = 0;
        while i <= s.len() {
            if i == s.len() || is_d(&s[i]) {
                if !(word && start == i) {
                    emit(start, i);
                }
                start = i + 1;
            }
            i += 1;
        }
    };
    let mut total = 0i64;
    fields(&mut |_, _| total += 1);
    let first = if index > 0 { index - 1 } else { total + index };
    if first < 0 || first >= total {
        return (0, 0);
    }
    let last = if count <= 0 {
        total - 1
    } else {
        (first + count - 1).min(total - 1)
    };
    let (mut a, mut b) = (0, 0);
    let mut k = 0i64;
    fields(&mut |st, en| {
        if k == first {
            a = st;
        }
        if k == last {
            b = en;
        }
        k += 1;
    });
    (a, b)
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Applies converters to `v` (bytes in `cur`); `None` when a converter fails.
fn convert(convs: &[Converter], mut v: Val, cur: &mut Vec<u8>, tmp: &mut Vec<u8>) -> Option<Val> {
    for c in convs {
        v = match c {
            Converter::Lower | Converter::Upper => {
                to_bytes(v, cur);
                if matches!(c, Converter::Lower) {
                    cur.make_ascii_lowercase();
                } else {
                    cur.make_ascii_uppercase();
                }
                Val::Str
            }
            Converter::Field {
                index,
                delims,
                count,
            }
            | Converter::Word {
                index,
                delims,
                count,
            } => {
                to_bytes(v, cur);
                let word = matches!(c, Converter::Word { .. });
                let (a, b) = field_range(cur, delims.as_bytes(), *index, *count, word);
                cur.copy_within(a..b, 0);
                cur.truncate(b - a);
                Val::Str
            }
            Converter::Regsub {
                regex,
                replacement,
                global,
            } => {
                to_bytes(v, cur);
                let limit = if *global { 0 } else { 1 };
                if let std::borrow::Cow::Owned(o) =
                    regex.replacen(cur, limit, replacement.as_bytes())
                {
                    *cur = o;
                }
                Val::Str
            }
            Converter::Bytes { offset, length } => {
                to_bytes(v, cur);
                let off = *offset as usize;
                if off >= cur.len() {
                    return None;
                }
                let end = match length {
                    Some(l) => (off + *l as usize).min(cur.len()),
                    None => cur.len(),
                };
                cur.copy_within(off..end, 0);
                cur.truncate(end - off);
                Val::Bin
            }
            Converter::Length => {
                to_bytes(v, cur);
                Val::Int(cur.len() as i64)
            }
            Converter::Hex => {
                to_bytes(v, cur);
                tmp.clear();
                for b in cur.iter() {
                    let _ = write!(tmp, "{b:02X}");
                }
                std::mem::swap(cur, tmp);
                Val::Str
            }
            Converter::UrlDec => {
                to_bytes(v, cur);
                let (mut r, mut w) = (0, 0);
                while r < cur.len() {
                    let c = cur[r];
                    if c == b'%' {
                        let hi = cur.get(r + 1).copied().and_then(hexval)?;
                        let lo = cur.get(r + 2).copied().and_then(hexval)?;
                        cur[w] = hi * 16 + lo;
                        r += 3;
                    } else {
                        cur[w] = c;
                        r += 1;
                    }
                    w += 1;
                }
                cur.truncate(w);
                Val::Str
            }
            Converter::Arith(op, n) => {
                let i = match v {
                    Val::Str | Val::Bin => parse_int(cur)?,
                    other => view_copy(other).as_int()?,
                };
                Val::Int(match op {
                    ArithOp::Add => i.saturating_add(*n),
                    ArithOp::Sub => i.saturating_sub(*n),
                    ArithOp::Mul => i.saturating_mul(*n),
                    ArithOp::Div => i.checked_div(*n)?,
                    ArithOp::Mod => i.checked_rem(*n)?,
                })
            }
            Converter::Map {
                pat,
                output,
                default,
            } => {
                let key = match v {
                    Val::Str | Val::Bin => Sample::Str(cur),
                    other => view_copy(other),
                };
                crate::maps::map_lookup(*pat, &key, default.as_deref(), |val| {
                    tmp.clear();
                    tmp.extend_from_slice(val);
                })?;
                std::mem::swap(cur, tmp);
                match crate::maps::typed_value(*output, cur)? {
                    Sample::Int(i) => Val::Int(i),
                    Sample::Ip(ip) => Val::Ip(ip),
                    _ => Val::Str,
                }
            }
        };
    }
    Some(v)
}

/// Calls `f` with every value of `expr` (all occurrences, converters applied) until
/// `f` returns true; returns true if it did. Missing values are never passed.
pub fn for_each_value(
    expr: &SampleExpr,
    txn: &dyn TxnView,
    vars: &Vars,
    scratch: &mut Scratch,
    f: &mut dyn FnMut(Sample<'_>) -> bool,
) -> bool {
    let Scratch { cur, tmp, base, .. } = scratch;
    let mut done = false;
    fetch_raw(&expr.fetch, txn, vars, true, base, &mut |raw| {
        if done {
            return;
        }
        if expr.converters.is_empty() {
            done = f(raw);
            return;
        }
        let v = load(raw, cur);
        if let Some(v) = convert(&expr.converters, v, cur, tmp) {
            done = f(view(v, cur));
        }
    });
    done
}

/// Evaluates `expr` in a sample context (one value: the last occurrence unless the
/// expression names one) and returns it in `scratch`.
pub(crate) fn eval_last(
    expr: &SampleExpr,
    txn: &dyn TxnView,
    vars: &Vars,
    scratch: &mut Scratch,
) -> Option<Val> {
    let Scratch { cur, tmp, base, .. } = scratch;
    let mut out: Option<Val> = None;
    fetch_raw(&expr.fetch, txn, vars, false, base, &mut |raw| {
        let v = load(raw, cur);
        out = convert(&expr.converters, v, cur, tmp);
    });
    out
}

/// Evaluates `expr` in a sample context and passes the value (or `None` when
/// missing) to `f`.
pub fn fetch_last<R>(
    expr: &SampleExpr,
    txn: &dyn TxnView,
    vars: &Vars,
    scratch: &mut Scratch,
    f: impl FnOnce(Option<Sample<'_>>) -> R,
) -> R {
    let v = eval_last(expr, txn, vars, scratch);
    f(v.map(|v| view(v, &scratch.cur)))
}

/// `set-var(<var>) <expr>`: stores the value; returns false (and leaves the variable
/// as it was, like HAProxy) when the sample is missing.
pub fn set_var(
    vars: &mut Vars,
    var: &VarName,
    expr: &SampleExpr,
    txn: &dyn TxnView,
    scratch: &mut Scratch,
) -> bool {
    match eval_last(expr, txn, vars, scratch) {
        Some(v) => {
            vars.set(var, view(v, &scratch.cur));
            true
        }
        None => false,
    }
}
