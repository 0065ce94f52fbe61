//! Rendering log-format strings (log lines, header values, `lf-string`, redirects).
//!
//! Owns: [`FormatContext`] (what a renderer asks of its caller), [`render_format`],
//! [`write_txn_log_var`] (the `%` variables a [`TxnView`] can answer) and
//! [`write_date`]. Rules (HAProxy): a missing value prints `-` (`""` when quoted);
//! `+Q` quotes text but not numbers; `+X` prints numbers and addresses in upper-case
//! hexadecimal; `+E` escapes `"`, `\` and `]`; control bytes are written `#XX`; a
//! missing `+M` value empties the whole output.

use std::io::Write as _;
use std::net::IpAddr;

use appliance_config::model::format::{Format, FormatOptions, FormatPart, LogVar};

use super::sample::{eval_last, view, Sample, Scratch};
use super::vars::Vars;
use super::TxnView;

/// What a `%` variable produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Nothing was written: the value is not known (printed `-`).
    Missing,
    /// Text was written (quoted by `+Q`).
    Text,
    /// A number was written (never quoted; `+X` prints it in hex).
    Number,
}

/// The caller's side of rendering: the transaction, its variables, and every `%`
/// variable that needs more than the transaction (timers, counters, names, dates).
pub trait FormatContext {
    /// The transaction (for `%[…]` samples and the request-derived variables).
    fn txn(&self) -> &dyn TxnView;

    /// The transaction's variables.
    fn vars(&self) -> &Vars;

    /// Appends the value of `var` to `out` and says what it wrote. Implementations
    /// usually answer timers, counters, names and dates themselves and delegate the
    /// rest to [`write_txn_log_var`].
    fn log_var(&self, var: LogVar, out: &mut Vec<u8>) -> ValueKind;
}

/// Writes the `%` variables that come straight from the transaction: `%ci %cp %fi
/// %fp %HM %HU %HP %HPO %HQ %HV %r %ST`. Returns `None` for any other variable.
pub fn write_txn_log_var(txn: &dyn TxnView, var: LogVar, out: &mut Vec<u8>) -> Option<ValueKind> {
    let http = !txn.method().is_empty();
    let text = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(s);
        ValueKind::Text
    };
    Some(match var {
        LogVar::ClientIp => match txn.src() {
            Some(a) => {
                let _ = write!(out, "{}", a.ip());
                ValueKind::Text
            }
            None => ValueKind::Missing,
        },
        LogVar::ClientPort => match txn.src() {
            Some(a) => {
                let _ = write!(out, "{}", a.port());
                ValueKind::Number
            }
            None => ValueKind::Missing,
        },
        LogVar::FrontendIp => match txn.dst() {
            Some(a) => {
                let _ = write!(out, "{}", a.ip());
                ValueKind::Text
            }
            None => ValueKind::Missing,
        },
        LogVar::FrontendPort => match txn.dst() {
            Some(a) => {
                let _ = write!(out, "{}", a.port());
                ValueKind::Number
            }
            None => ValueKind::Missing,
        },
        LogVar::Status => match txn.status() {
            Some(s) => {
                let _ = write!(out, "{s}");
                ValueKind::Number
            }
            None => ValueKind::Missing,
        },
        _ if !http => match var {
            LogVar::HttpMethod
            | LogVar::HttpUri
            | LogVar::HttpPath
            | LogVar::HttpPathOnly
            | LogVar::HttpQuery
            | LogVar::HttpVersion
            | LogVar::RequestLine => ValueKind::Missing,
            _ => return None,
        },
        LogVar::HttpMethod => text(out, txn.method()),
        LogVar::HttpUri => text(out, txn.uri()),
        LogVar::HttpPath => {
            let u = txn.uri();
            let end = u.iter().position(|c| *c == b'?').unwrap_or(u.len());
            text(out, &u[..end])
        }
        LogVar::HttpPathOnly => text(out, txn.path()),
        LogVar::HttpQuery => match txn.query() {
            Some(q) => {
                out.push(b'?');
                text(out, q)
            }
            None => ValueKind::Missing,
        },
        LogVar::HttpVersion => match txn.req_version() {
            Some(v) => {
                out.extend_from_slice(b"HTTP/");
                text(out, v)
            }
            None => ValueKind::Missing,
        },
        LogVar::RequestLine => {
            out.extend_from_slice(txn.method());
            out.push(b' ');
            out.extend_from_slice(txn.uri());
            if let Some(v) = txn.req_version() {
                out.extend_from_slice(b" HTTP/");
                out.extend_from_slice(v);
            }
            ValueKind::Text
        }
        _ => return None,
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Writes a date the way HAProxy logs it: `dd/Mon/yyyy:HH:MM:SS.mmm` (`millis`) or
/// `dd/Mon/yyyy:HH:MM:SS +hhmm` (`!millis`, `%T`/`%trg`). `unix_ms` is the time,
/// `offset_min` the local offset from UTC in minutes (0 for GMT).
pub fn write_date(out: &mut Vec<u8>, unix_ms: i64, offset_min: i32, millis: bool) {
    let t = unix_ms.div_euclid(1000) + i64::from(offset_min) * 60;
    let ms = unix_ms.rem_euclid(1000);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        out,
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if millis {
        let _ = write!(out, ".{ms:03}");
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let o = offset_min.unsigned_abs();
        let _ = write!(out, " {sign}{:02}{:02}", o / 60, o % 60);
    }
}

/// Appends `s` with control bytes as `#XX` and, with `escape`, `"` `\` `]` escaped.
fn push_clean(out: &mut Vec<u8>, s: &[u8], escape: bool) {
    for &c in s {
        if c < 0x20 || c == 0x7f {
            let _ = write!(out, "#{c:02X}");
        } else if escape && (c == b'"' || c == b'\\' || c == b']') {
            out.push(b'\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
}

fn push_missing(out: &mut Vec<u8>, o: &FormatOptions, text: bool) {
    if o.quote && text {
        out.extend_from_slice(b"\"\"");
    } else {
        out.push(b'-');
    }
}

fn push_sample(out: &mut Vec<u8>, s: Sample<'_>, o: &FormatOptions) {
    match s {
        Sample::Int(i) if o.hex => {
            let _ = write!(out, "{i:X}");
        }
        Sample::Int(_) | Sample::Bool(_) => s.write_text(out),
        Sample::Ip(ip) => {
            if o.quote {
                out.push(b'"');
            }
            if o.hex {
                match ip {
                    IpAddr::V4(v4) => {
                        let _ = write!(out, "{:08X}", u32::from(v4));
                    }
                    IpAddr::V6(v6) => {
                        let _ = write!(out, "{:032X}", u128::from(v6));
                    }
                }
            } else {
                let _ = write!(out, "{ip}");
            }
            if o.quote {
                out.push(b'"');
            }
        }
        Sample::Str(b) | Sample::Bin(b) => {
            if o.quote {
                out.push(b'"');
            }
            push_clean(out, b, o.escape);
            if o.quote {
                out.push(b'"');
            }
        }
    }
}

/// Renders `fmt` into `out` (appending). Returns false, with `out` restored to its
/// length on entry, when a `+M` (mandatory) value is missing.
pub fn render_format(
    fmt: &Format,
    ctx: &dyn FormatContext,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    for part in &fmt.0 {
        match part {
            // HAProxy's separator rule: a blank in the format is emitted only when
            // the output does not already end with one, so fields that print
            // nothing (no captured headers) leave a single space.
            FormatPart::Literal(s) => {
                for &b in s.as_bytes() {
                    if b == b' ' && (out.len() == start || out.last() == Some(&b' ')) {
                        continue;
                    }
                    out.push(b);
                }
            }
            FormatPart::Sample { expr, options } => {
                match eval_last(expr, ctx.txn(), ctx.vars(), scratch) {
                    Some(v) => push_sample(out, view(v, &scratch.cur), options),
                    None => {
                        if options.mandatory {
                            out.truncate(start);
                            return false;
                        }
                        push_missing(out, options, true);
                    }
                }
            }
            FormatPart::Var { var, options } => {
                let buf = &mut scratch.fmt;
                buf.clear();
                match ctx.log_var(*var, buf) {
                    ValueKind::Missing => {
                        if options.mandatory {
                            out.truncate(start);
                            return false;
                        }
                        push_missing(out, options, !var.is_numeric());
                    }
                    ValueKind::Number => {
                        if options.hex {
                            match super::sample::parse_int(buf) {
                                Some(i) => {
                                    let _ = write!(out, "{i:X}");
                                }
                                None => out.extend_from_slice(buf),
                            }
                        } else {
                            out.extend_from_slice(buf);
                        }
                    }
                    ValueKind::Text => {
                        let hex_ip = if options.hex {
                            std::str::from_utf8(buf)
                                .ok()
                                .and_then(|s| s.parse::<IpAddr>().ok())
                        } else {
                            None
                        };
                        match hex_ip {
                            Some(ip) => push_sample(out, Sample::Ip(ip), options),
                            None => push_sample(out, Sample::Str(buf), options),
                        }
                    }
                }
            }
        }
    }
    true
}
