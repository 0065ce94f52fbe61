//! The preprocessor's condition language (`.if`, `.elif`, `sluice -cc EXPR`).
//!
//! Owns: the compatibility level [`COMPAT_VERSION`], the build feature list
//! [`FEATURES`], the runtime option list [`ENABLED`], and the evaluator
//! [`eval_cond_text`]. Grammar (HAProxy's `cfgcond.c`): `expr := and ('||' and)*`,
//! `and := term ('&&' term)*`, `term := '!'* (number | '(' expr ')' | pred '(' args ')')`.
//! A number is true when non-zero; an empty expression is false. Predicates:
//! `defined`, `feature`, `enabled`, `streq`, `strneq`, `version_atleast`,
//! `version_before`.

use crate::error::suggest;
use crate::words::EnvLookup;

/// The HAProxy version sluice claims compatibility with, used by `version_atleast()`
/// and `version_before()`: sluice understands HAProxy 3.0's configuration language
/// (the subset it supports), so conditions written for 3.0 take the 3.0 branch.
pub const COMPAT_VERSION: &str = "3.0";

/// Build features as HAProxy names them, for `feature(NAME)` and `sluice -vv`.
/// `true` means compiled in and usable. `OPENSSL` is HAProxy's name for "TLS is
/// available" (set too by its non-OpenSSL builds); sluice's TLS is rustls.
pub const FEATURES: &[(&str, bool)] = &[
    ("EPOLL", true),
    ("REUSEPORT", true),
    ("THREAD", true),
    ("CPU_AFFINITY", true),
    ("ACCEPT4", true),
    ("LINUX_SPLICE", false),
    ("LINUX_TPROXY", false),
    ("TPROXY", false),
    ("NETFILTER", false),
    ("GETADDRINFO", false),
    ("OPENSSL", true),
    ("QUIC", false),
    ("LUA", false),
    ("PCRE", false),
    ("PCRE2", false),
    ("ZLIB", false),
    ("SLZ", false),
    ("PROMEX", false),
    ("SYSTEMD", false),
    ("NS", false),
];

/// Runtime options for `enabled(NAME)` (HAProxy: pollers and tunables that can be
/// switched off at run time).
pub const ENABLED: &[(&str, bool)] = &[
    ("EPOLL", true),
    ("POLL", false),
    ("KQUEUE", false),
    ("EVPORTS", false),
    ("SPLICE", false),
    ("GETADDRINFO", false),
    ("REUSEPORT", true),
    ("FAST-FORWARD", false),
    ("SERVER-SSL-VERIFY-NONE", false),
];

/// The feature list in HAProxy's `-vv` style: `+EPOLL +REUSEPORT … +OPENSSL -QUIC …`.
pub fn feature_string() -> String {
    FEATURES
        .iter()
        .map(|(n, on)| format!("{}{n}", if *on { '+' } else { '-' }))
        .collect::<Vec<_>>()
        .join(" ")
}

const PREDICATES: &[&str] = &[
    "defined",
    "feature",
    "enabled",
    "streq",
    "strneq",
    "version_atleast",
    "version_before",
];

const MAX_DEPTH: usize = 64;

struct P<'a, 'e> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    env: EnvLookup<'e>,
}

/// Evaluates a condition whose words were already split and re-joined with spaces.
pub fn eval_cond_text(text: &str, env: EnvLookup<'_>) -> Result<bool, String> {
    let mut p = P {
        s: text.as_bytes(),
        text,
        i: 0,
        env,
    };
    p.ws();
    if p.i >= p.s.len() {
        return Ok(false);
    }
    let v = p.expr(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(format!(
            "unexpected character '{}' at the end of conditional expression '{}'",
            p.s[p.i] as char, text
        ));
    }
    Ok(v)
}

impl P<'_, '_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] == b' ' || self.s[self.i] == b'\t') {
            self.i += 1;
        }
    }

    fn expr(&mut self, depth: usize) -> Result<bool, String> {
        let mut v = self.and(depth + 1)?;
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                let r = self.and(depth + 1)?;
                v = v || r;
            } else {
                return Ok(v);
            }
        }
    }

    fn and(&mut self, depth: usize) -> Result<bool, String> {
        let mut v = self.term(depth + 1)?;
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                let r = self.term(depth + 1)?;
                v = v && r;
            } else {
                return Ok(v);
            }
        }
    }

    fn term(&mut self, depth: usize) -> Result<bool, String> {
        if depth > MAX_DEPTH {
            return Err("conditional expression nested too deeply".into());
        }
        self.ws();
        let start = self.i;
        if self.i >= self.s.len() {
            return Err(format!(
                "unparsable conditional expression '{}': a term is missing at the end",
                self.text
            ));
        }
        let mut neg = false;
        while self.i < self.s.len() && self.s[self.i] == b'!' {
            neg = !neg;
            self.i += 1;
            self.ws();
        }
        let v = if self.i < self.s.len() && self.s[self.i].is_ascii_digit()
            || (self.s.get(self.i) == Some(&b'-')
                && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit))
        {
            let b = self.i;
            self.i += 1;
            while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                self.i += 1;
            }
            let t = &self.text[b..self.i];
            let n = parse_c_long(t).ok_or_else(|| format!("invalid number '{t}' in condition"))?;
            n != 0
        } else if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            let v = self.expr(depth + 1)?;
            self.ws();
            if self.s.get(self.i) != Some(&b')') {
                return Err(format!(
                    "expected ')' after conditional expression '{}'",
                    &self.text[start..]
                ));
            }
            self.i += 1;
            v
        } else {
            let b = self.i;
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
            {
                self.i += 1;
            }
            let name = &self.text[b..self.i];
            if !PREDICATES.contains(&name) {
                let hint = match suggest(name, PREDICATES.iter().copied()) {
                    Some(s) => format!("; did you mean '{s}'?"),
                    None => format!("; known predicates: {}", PREDICATES.join(", ")),
                };
                return Err(format!(
                    "unparsable conditional expression '{}'{hint}",
                    &self.text[start..]
                ));
            }
            let args = self.args(name)?;
            self.pred(name, &args)?
        };
        Ok(v != neg)
    }

    fn args(&mut self, name: &str) -> Result<Vec<String>, String> {
        self.ws();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(format!(
                "predicate '{name}' expects its arguments in parentheses"
            ));
        }
        self.i += 1;
        let mut args = vec![];
        let mut cur = String::new();
        let mut q: Option<u8> = None;
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(format!(
                    "missing ')' after the arguments of predicate '{name}'"
                ));
            };
            self.i += 1;
            match (q, c) {
                (Some(qc), c) if c == qc => q = None,
                (None, b'"') | (None, b'\'') => q = Some(c),
                (_, b'\\') if self.i < self.s.len() => {
                    cur.push(self.s[self.i] as char);
                    self.i += 1;
                }
                (None, b',') => args.push(std::mem::take(&mut cur)),
                (None, b')') => {
                    args.push(cur);
                    break;
                }
                _ => {
                    // Re-slice to keep UTF-8 intact.
                    let st = self.i - 1;
                    let mut e = self.i;
                    while e < self.s.len() && !self.text.is_char_boundary(e) {
                        e += 1;
                    }
                    cur.push_str(&self.text[st..e]);
                    self.i = e;
                }
            }
        }
        let want = match name {
            "streq" | "strneq" => 2,
            _ => 1,
        };
        if args.len() != want || (want == 1 && args[0].is_empty()) {
            return Err(format!(
                "predicate '{name}' expects {want} argument{} (got {})",
                if want > 1 { "s" } else { "" },
                if args.len() == 1 && args[0].is_empty() {
                    0
                } else {
                    args.len()
                }
            ));
        }
        Ok(args)
    }

    fn pred(&self, name: &str, a: &[String]) -> Result<bool, String> {
        Ok(match name {
            "defined" => (self.env)(&a[0]).is_some(),
            "feature" => FEATURES.iter().any(|(n, on)| *on && *n == a[0]),
            "enabled" => ENABLED
                .iter()
                .any(|(n, on)| *on && n.eq_ignore_ascii_case(&a[0])),
            "streq" => a[0] == a[1],
            "strneq" => a[0] != a[1],
            "version_atleast" => cmp_version(COMPAT_VERSION, &a[0])? >= std::cmp::Ordering::Equal,
            "version_before" => cmp_version(COMPAT_VERSION, &a[0])? == std::cmp::Ordering::Less,
            _ => unreachable!("predicate list checked by caller"),
        })
    }
}

/// C `strtol(.., 0)`-like integer: decimal, `0x` hex, leading-0 octal.
fn parse_c_long(t: &str) -> Option<i64> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Compares dotted versions numerically (`3.0` vs `2.4.18`); a non-numeric suffix
/// such as `-dev5` is ignored.
fn cmp_version(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    fn parts(v: &str) -> Result<Vec<u64>, String> {
        let core: &str = v.split(['-', '+', '~']).next().unwrap_or("");
        if core.is_empty() {
            return Err(format!("invalid version '{v}'"));
        }
        core.split('.')
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| format!("invalid version '{v}'"))
            })
            .collect()
    }
    let (mut x, mut y) = (parts(a)?, parts(b)?);
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    Ok(x.cmp(&y))
}
