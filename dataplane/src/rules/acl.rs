//! ACL matching and condition evaluation.
//!
//! Owns: [`eval_term`] (one `acl` line or `{ … }` block), [`eval_acl`] (a named
//! ACL: OR of its terms) and [`eval_condition`] (`if`/`unless`: OR of ANDs).
//! Invariants: a missing sample never matches; patterns of `-i` terms are already
//! lower-case, the sample is compared case-insensitively in place; string sets
//! (`-m str`) are sorted and searched by bisection; `-f` files are looked up in the
//! worker's pattern store (`crate::maps`), where the CLI can change them.

use std::cmp::Ordering;
use std::io::Write as _;

use appliance_config::model::sample::{Acl, AclRef, AclTerm, Condition, MatchMethod, Patterns};

use super::sample::{for_each_value, Sample, Scratch};
use super::vars::Vars;
use super::TxnView;

/// The text of a sample, for string matches on non-string samples.
pub(crate) fn text<'a>(s: &Sample<'a>, buf: &'a mut [u8; 48]) -> &'a [u8] {
    match *s {
        Sample::Str(b) | Sample::Bin(b) => b,
        Sample::Bool(b) => {
            if b {
                b"1"
            } else {
                b"0"
            }
        }
        Sample::Int(i) => {
            let mut c = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(c, "{i}");
            let n = c.position() as usize;
            &buf[..n]
        }
        Sample::Ip(ip) => {
            let mut c = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(c, "{ip}");
            let n = c.position() as usize;
            &buf[..n]
        }
    }
}

fn cmp_ci(a: &[u8], lower_b: &[u8]) -> Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(lower_b.iter().copied())
}

fn eq(a: &[u8], b: &[u8], ci: bool) -> bool {
    if ci {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

pub(crate) fn find_from(hay: &[u8], needle: &[u8], from: usize, ci: bool) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    if hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| eq(&hay[i..i + needle.len()], needle, ci))
}

/// `dom` (delimiters `/ ? . :`) and `dir` (delimiters `/ ?`): the pattern must appear
/// as a whole run of delimited words.
pub(crate) fn delimited(hay: &[u8], pat: &[u8], ci: bool, delims: &[u8]) -> bool {
    let pat = {
        // Leading/trailing delimiters of the pattern are ignored (HAProxy).
        let a = pat
            .iter()
            .position(|c| !delims.contains(c))
            .unwrap_or(pat.len());
        let b = pat
            .iter()
            .rposition(|c| !delims.contains(c))
            .map_or(a, |p| p + 1);
        &pat[a..b]
    };
    if pat.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = find_from(hay, pat, from, ci) {
        let before_ok = i == 0 || delims.contains(&hay[i - 1]);
        let end = i + pat.len();
        let after_ok = end == hay.len() || delims.contains(&hay[end]);
        if before_ok && after_ok {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Does one sample value match the term's patterns?
fn matches(term: &AclTerm, s: &Sample<'_>) -> bool {
    if term.files.iter().any(|f| crate::maps::acl_match(*f, s)) {
        return true;
    }
    let ci = term.ignore_case;
    let mut buf = [0u8; 48];
    match (&term.patterns, term.method) {
        (_, MatchMethod::Found) => true,
        (_, MatchMethod::Bool) => s.as_bool(),
        (Patterns::Str(v), _) => {
            let t = text(s, &mut buf);
            if ci {
                v.binary_search_by(|p| cmp_ci(t, p.as_bytes()).reverse())
                    .is_ok()
            } else {
                v.binary_search_by(|p| p.as_bytes().cmp(t)).is_ok()
            }
        }
        (Patterns::Substrings(v), m) => {
            let t = text(s, &mut buf);
            v.iter().any(|p| {
                let p = p.as_bytes();
                match m {
                    MatchMethod::Beg => t.len() >= p.len() && eq(&t[..p.len()], p, ci),
                    MatchMethod::End => t.len() >= p.len() && eq(&t[t.len() - p.len()..], p, ci),
                    MatchMethod::Sub => find_from(t, p, 0, ci).is_some(),
                    MatchMethod::Dom => delimited(t, p, ci, b"/?.:"),
                    MatchMethod::Dir => delimited(t, p, ci, b"/?"),
                    _ => eq(t, p, ci),
                }
            })
        }
        (Patterns::Reg(v), _) => {
            let t = text(s, &mut buf);
            v.iter().any(|r| r.is_match(t))
        }
        (Patterns::Int(v), MatchMethod::Len) => {
            let n = text(s, &mut buf).len() as i64;
            v.iter().any(|r| r.contains(n))
        }
        (Patterns::Int(v), _) => match s.as_int() {
            Some(n) => v.iter().any(|r| r.contains(n)),
            None => false,
        },
        (Patterns::Ip(v), _) => match s.as_ip() {
            Some(ip) => v.iter().any(|n| n.contains(ip)),
            None => false,
        },
        (Patterns::None, _) => false,
    }
}

/// Evaluates one ACL term: true when any value of its sample matches any pattern.
pub fn eval_term(term: &AclTerm, txn: &dyn TxnView, vars: &Vars, scratch: &mut Scratch) -> bool {
    for_each_value(&term.expr, txn, vars, scratch, &mut |s| matches(term, &s))
}

/// Evaluates a named ACL: the OR of its terms.
pub fn eval_acl(acl: &Acl, txn: &dyn TxnView, vars: &Vars, scratch: &mut Scratch) -> bool {
    acl.terms.iter().any(|t| eval_term(t, txn, vars, scratch))
}

/// Evaluates `if|unless` conditions; `acls` is the owning proxy's ACL list (the one
/// [`AclRef::Named`] indexes). An index out of range counts as not matching.
pub fn eval_condition(
    cond: &Condition,
    acls: &[Acl],
    txn: &dyn TxnView,
    vars: &Vars,
    scratch: &mut Scratch,
) -> bool {
    let r = cond.or_terms.iter().any(|and| {
        and.iter().all(|t| {
            let m = match &t.acl {
                AclRef::Named(i) => acls
                    .get(*i)
                    .is_some_and(|a| eval_acl(a, txn, vars, scratch)),
                AclRef::Anonymous(term) => eval_term(term, txn, vars, scratch),
            };
            m != t.negated
        })
    });
    r != cond.unless
}
