//! Log-format strings: `%ci:%cp [%tr] %{+Q}r %[req.hdr(host),lower]`.
//!
//! Owns: [`parse_format`]. Rules (HAProxy): `%%` is a literal percent; `%{flags}`
//! sets options (`+Q`, `-Q`, `+X`, `+E`, `+M`) for the next variable, or for all the
//! following ones with `%{…}o`; `%[expr]` is a sample expression; `%name` a log
//! variable; runs of blanks in literal text collapse into one space, and a blank at
//! the very start is dropped.

use super::sample::parse_sample;
use super::units::Fail;
use crate::error::did_you_mean;
use crate::model::format::{Format, FormatOptions, FormatPart, LogVar, LOG_VARS};

fn push_lit(parts: &mut Vec<FormatPart>, s: &str) {
    // A separator at the very start of a format is dropped (HAProxy starts every
    // line as if a blank had just been written).
    let s = if parts.is_empty() {
        s.strip_prefix(' ').unwrap_or(s)
    } else {
        s
    };
    if s.is_empty() {
        return;
    }
    if let Some(FormatPart::Literal(prev)) = parts.last_mut() {
        prev.push_str(s);
    } else {
        parts.push(FormatPart::Literal(s.to_string()));
    }
}

fn apply_flags(flags: &str, opts: &mut FormatOptions) -> Result<(), Fail> {
    for f in flags.split(',').filter(|f| !f.is_empty()) {
        let (on, name) = match f.as_bytes()[0] {
            b'+' => (true, &f[1..]),
            b'-' => (false, &f[1..]),
            _ => {
                return Err((
                    format!("invalid format flag '{f}'"),
                    "flags look like +Q or -Q (Q quote, X hex, E escape, M mandatory)".into(),
                ))
            }
        };
        match name {
            "Q" => opts.quote = on,
            "X" => opts.hex = on,
            "E" => opts.escape = on,
            "M" => opts.mandatory = on,
            _ => {
                return Err((
                    format!("unknown format flag '{f}'"),
                    "known flags: Q (quote), X (hex), E (escape), M (mandatory)".into(),
                ))
            }
        }
    }
    Ok(())
}

/// Parses a log-format string into a [`Format`].
pub(crate) fn parse_format(s: &str) -> Result<Format, Fail> {
    let mut parts: Vec<FormatPart> = vec![];
    let b = s.as_bytes();
    let mut defaults = FormatOptions::default();
    let mut i = 0;
    let mut lit_start = 0;
    let mut lit = String::new();
    let flush_lit = |lit: &mut String, parts: &mut Vec<FormatPart>| {
        push_lit(parts, lit);
        lit.clear();
    };
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => {
                lit.push_str(&s[lit_start..i]);
                lit.push(' ');
                while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                    i += 1;
                }
                lit_start = i;
            }
            b'%' => {
                lit.push_str(&s[lit_start..i]);
                i += 1;
                if b.get(i) == Some(&b'%') {
                    lit.push('%');
                    i += 1;
                    lit_start = i;
                    continue;
                }
                let mut opts = defaults;
                let mut had_flags = false;
                if b.get(i) == Some(&b'{') {
                    let Some(end) = s[i..].find('}') else {
                        return Err((
                            "missing '}' after format flags".into(),
                            "write flags like %{+Q}r".into(),
                        ));
                    };
                    apply_flags(&s[i + 1..i + end], &mut opts)?;
                    had_flags = true;
                    i += end + 1;
                }
                if b.get(i) == Some(&b'[') {
                    let start = i + 1;
                    let mut depth = 0i32;
                    let mut q: Option<u8> = None;
                    let mut j = start;
                    let mut end = None;
                    while j < b.len() {
                        match (q, b[j]) {
                            (Some(qc), c) if c == qc => q = None,
                            (None, b'"') | (None, b'\'') => q = Some(b[j]),
                            (_, b'\\') => j += 1,
                            (None, b'(') => depth += 1,
                            (None, b')') => depth -= 1,
                            (None, b']') if depth <= 0 => {
                                end = Some(j);
                                break;
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    let Some(end) = end else {
                        return Err((
                            format!("missing ']' after sample expression in '{s}'"),
                            "write %[expression], e.g. %[src]".into(),
                        ));
                    };
                    let text = &s[start..end];
                    let expr = parse_sample(text).map_err(|(m, h)| {
                        (
                            format!("failed to parse sample expression <{text}>: {m}"),
                            h,
                        )
                    })?;
                    flush_lit(&mut lit, &mut parts);
                    parts.push(FormatPart::Sample {
                        expr,
                        options: opts,
                    });
                    i = end + 1;
                    lit_start = i;
                    continue;
                }
                let vstart = i;
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let name = &s[vstart..i];
                if name == "o" && had_flags {
                    defaults = opts;
                    lit_start = i;
                    continue;
                }
                if name.is_empty() {
                    return Err((
                        format!("'%' at position {} is not followed by a variable", vstart),
                        "write '%%' for a literal percent sign, or %[expr] / %var".into(),
                    ));
                }
                // HAProxy takes the longest run of letters and digits as the name;
                // fall back to the longest known prefix so '%Tq1' is an error, not
                // silently '%Tq' + '1'.
                let Some(var) = LogVar::from_name(name) else {
                    return Err((
                        format!("no such format variable '%{name}'"),
                        did_you_mean(
                            name,
                            LOG_VARS.iter().map(|(n, _)| *n),
                            "write '%%' for a literal percent sign",
                        ),
                    ));
                };
                flush_lit(&mut lit, &mut parts);
                parts.push(FormatPart::Var { var, options: opts });
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    lit.push_str(&s[lit_start..]);
    push_lit(&mut parts, &lit);
    Ok(Format(parts))
}
