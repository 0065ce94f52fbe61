//! ACL terms, pattern lists and conditions.
//!
//! Owns: [`parse_acl_term`] (criterion, `-i -m -f -n --` flags, patterns),
//! [`parse_condition`] (`if|unless`, `!`, `or`/`||`, implicit and, `{ … }`), and
//! HAProxy's predefined ACLs. Invariant: a condition only refers to ACLs that exist in
//! the proxy's list when it is parsed (HAProxy requires declaration before use);
//! predefined ACLs are appended to that list on first use.

use std::net::IpAddr;

use regex::bytes::RegexBuilder;

use super::sample::{leading_name, parse_sample, parse_sample_as, FETCHES};
use super::units::Fail;
use crate::error::{did_you_mean, Location};
use crate::model::sample::{
    Acl, AclRef, AclTerm, CondTerm, Condition, IntRange, IpNet, MatchMethod, Patterns, SampleType,
};

/// ACL keywords that imply a fetch and a match method (`path_beg` = `path -m beg`).
fn acl_alias(name: &str) -> Option<(&'static str, MatchMethod)> {
    let bases: &[(&str, &str)] = &[
        ("path", "path"),
        ("url", "url"),
        ("base", "base"),
        ("hdr", "hdr"),
        ("req.hdr", "req.hdr"),
        ("shdr", "res.hdr"),
        ("res.hdr", "res.hdr"),
        ("urlp", "urlp"),
        ("url_param", "urlp"),
        ("query", "query"),
        ("ssl_fc_sni", "ssl_fc_sni"),
        ("ssl_c_s_dn", "ssl_c_s_dn"),
        ("ssl_c_i_dn", "ssl_c_i_dn"),
    ];
    let (base, suffix) = name.rsplit_once('_')?;
    let method = match suffix {
        "beg" => MatchMethod::Beg,
        "end" => MatchMethod::End,
        "sub" => MatchMethod::Sub,
        "reg" => MatchMethod::Reg,
        "dir" => MatchMethod::Dir,
        "dom" => MatchMethod::Dom,
        "len" => MatchMethod::Len,
        _ => return None,
    };
    bases
        .iter()
        .find(|(b, _)| *b == base)
        .map(|(_, f)| (*f, method))
}

/// All names usable as an ACL criterion (fetches and aliases), for did-you-mean.
fn criterion_names() -> Vec<String> {
    let mut v: Vec<String> = FETCHES.iter().map(|s| s.to_string()).collect();
    for b in ["path", "url", "base", "hdr", "shdr", "urlp", "ssl_fc_sni"] {
        for s in ["beg", "end", "sub", "reg", "dir", "dom", "len"] {
            v.push(format!("{b}_{s}"));
        }
    }
    v
}

fn method_by_name(m: &str) -> Result<MatchMethod, Fail> {
    Ok(match m {
        "bool" => MatchMethod::Bool,
        "str" => MatchMethod::Str,
        "beg" => MatchMethod::Beg,
        "end" => MatchMethod::End,
        "sub" => MatchMethod::Sub,
        "reg" => MatchMethod::Reg,
        "found" => MatchMethod::Found,
        "int" => MatchMethod::Int,
        "ip" => MatchMethod::Ip,
        "len" => MatchMethod::Len,
        "dom" => MatchMethod::Dom,
        "dir" => MatchMethod::Dir,
        "bin" => {
            return Err((
                "match method 'bin' is not supported yet".into(),
                "match the hex form with '-m str' after a ',hex' converter".into(),
            ))
        }
        _ => {
            return Err((
                format!("unknown match method '{m}'"),
                did_you_mean(
                    m,
                    [
                        "bool", "str", "beg", "end", "sub", "reg", "found", "int", "ip", "len",
                        "dom", "dir",
                    ],
                    "methods: bool str beg end sub reg found int ip len dom dir",
                ),
            ))
        }
    })
}

/// Parses one integer pattern; `op` is a pending `eq/ge/gt/le/lt`.
fn int_pattern(p: &str, op: Option<&str>) -> Result<IntRange, Fail> {
    let bad = || {
        (
            format!("'{p}' is not a valid integer pattern"),
            "write N, MIN:MAX, :MAX, MIN:, or an operator (eq ge gt le lt) followed by N"
                .to_string(),
        )
    };
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    if let Some(op) = op {
        let v = num(p)?;
        return Ok(match op {
            "eq" => IntRange {
                min: Some(v),
                max: Some(v),
            },
            "ge" => IntRange {
                min: Some(v),
                max: None,
            },
            "gt" => IntRange {
                min: Some(v.saturating_add(1)),
                max: None,
            },
            "le" => IntRange {
                min: None,
                max: Some(v),
            },
            _ => IntRange {
                min: None,
                max: Some(v.saturating_sub(1)),
            },
        });
    }
    match p.split_once(':') {
        Some((a, b)) => {
            let min = if a.is_empty() { None } else { Some(num(a)?) };
            let max = if b.is_empty() { None } else { Some(num(b)?) };
            if min.is_none() && max.is_none() {
                return Err(bad());
            }
            Ok(IntRange { min, max })
        }
        None => {
            let v = num(p)?;
            Ok(IntRange {
                min: Some(v),
                max: Some(v),
            })
        }
    }
}

/// Parses `a.b.c.d[/len|/mask]` or `v6[/len]`.
pub(crate) fn ip_pattern(p: &str) -> Result<IpNet, Fail> {
    let bad = || {
        (
            format!("'{p}' is not an IP address or network"),
            "write an address or CIDR network, e.g. 10.0.0.0/8 or ::1 (host names are not resolved in patterns)".to_string(),
        )
    };
    let (a, m) = match p.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (p, None),
    };
    let ip: IpAddr = a.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match m {
        None => max,
        Some(m) => match m.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return Err(bad()),
            Err(_) => {
                // Dotted netmask.
                let mask: std::net::Ipv4Addr = m.parse().map_err(|_| bad())?;
                let bits = u32::from(mask);
                if !ip.is_ipv4() || bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(bad());
                }
                bits.leading_ones() as u8
            }
        },
    };
    Ok(IpNet::new(ip, prefix))
}

/// Builds an ACL term from `criterion [flags] [patterns…]`.
pub(crate) fn parse_acl_term(words: &[String], loc: &Location) -> Result<AclTerm, Fail> {
    let Some(crit) = words.first() else {
        return Err((
            "missing ACL criterion".into(),
            "write e.g. 'path_beg /api' or 'hdr(host) -i example.com'".into(),
        ));
    };
    let name = leading_name(crit);
    let (expr, implied) = match acl_alias(name) {
        Some((fetch, m)) => (parse_sample_as(crit, fetch), Some(m)),
        None => (parse_sample(crit), None),
    };
    let expr = expr.map_err(|(m, h)| {
        if m.starts_with("unknown sample fetch") {
            let names = criterion_names();
            (m, did_you_mean(name, names.iter().map(String::as_str), &h))
        } else {
            (m, h)
        }
    })?;
    let mut ignore_case = false;
    let mut explicit: Option<MatchMethod> = None;
    let mut files: Vec<String> = vec![];
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "-i" => ignore_case = true,
            "-n" => {}
            "--" => {
                i += 1;
                break;
            }
            "-m" => {
                let Some(m) = words.get(i + 1) else {
                    return Err((
                        "'-m' needs a match method".into(),
                        "write e.g. '-m beg'".into(),
                    ));
                };
                explicit = Some(method_by_name(m)?);
                i += 1;
            }
            "-f" => {
                let Some(f) = words.get(i + 1) else {
                    return Err((
                        "'-f' needs a file name".into(),
                        "write '-f /path/to/patterns.lst'".into(),
                    ));
                };
                files.push(f.clone());
                i += 1;
            }
            "-M" => {
                return Err((
                    "'-M' (map files as pattern files) is not supported yet".into(),
                    "maps arrive with the management plane; use '-f' with a plain pattern file"
                        .into(),
                ))
            }
            "-u" => {
                return Err((
                    "'-u' (unique pattern ids) is not supported yet".into(),
                    "remove '-u'; a '-f' file is already one pattern reference for the CLI".into(),
                ))
            }
            _ if w.starts_with('-')
                && w.len() > 1
                && !w[1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                return Err((
                    format!("'{w}' is not a valid ACL option"),
                    "options are -i -m -f -n; put '--' before a pattern that begins with '-'"
                        .into(),
                ))
            }
            _ => break,
        }
        i += 1;
    }
    if let (Some(imp), Some(exp)) = (implied, explicit) {
        if imp != exp {
            return Err((
                format!("'{name}' already implies '-m {}'", imp.name()),
                format!("use the plain fetch with '-m {}' instead", exp.name()),
            ));
        }
    }
    let method = match explicit.or(implied) {
        Some(m) => m,
        None => match expr.output_type() {
            SampleType::Bool => MatchMethod::Bool,
            SampleType::Int => MatchMethod::Int,
            SampleType::Ip => MatchMethod::Ip,
            SampleType::Str | SampleType::Bin => MatchMethod::Str,
            SampleType::Any => {
                return Err((
                    format!("'{crit}' has no default match method"),
                    "add '-m str', '-m int', '-m found' … to say how to compare".into(),
                ))
            }
        },
    };
    let raw: Vec<(String, Option<(String, u32)>)> =
        words[i..].iter().map(|p| (p.clone(), None)).collect();
    let mut refs = Vec::with_capacity(files.len());
    for f in &files {
        if matches!(method, MatchMethod::Bool | MatchMethod::Found) {
            return Err((
                format!("'-m {}' takes no pattern file", method.name()),
                "remove '-f', or choose another match method".into(),
            ));
        }
        let u = crate::model::pattern::PatternUse {
            method,
            ignore_case,
            output: None,
        };
        refs.push(super::pattern::register(f, false, Some(u), "acl")?);
    }
    let located = |msg: String, src: &Option<(String, u32)>| match src {
        Some((f, l)) => format!("{msg} (in pattern file {f}:{l})"),
        None => msg,
    };
    let patterns = match method {
        MatchMethod::Bool | MatchMethod::Found => {
            if let Some((p, _)) = raw.first() {
                return Err((
                    format!("'-m {}' takes no pattern, got '{p}'", method.name()),
                    "remove the patterns, or choose another match method".into(),
                ));
            }
            Patterns::None
        }
        MatchMethod::Str => {
            let mut v: Vec<String> = raw
                .into_iter()
                .map(|(p, _)| if ignore_case { p.to_lowercase() } else { p })
                .collect();
            v.sort();
            v.dedup();
            Patterns::Str(v)
        }
        MatchMethod::Beg
        | MatchMethod::End
        | MatchMethod::Sub
        | MatchMethod::Dom
        | MatchMethod::Dir => Patterns::Substrings(
            raw.into_iter()
                .map(|(p, _)| if ignore_case { p.to_lowercase() } else { p })
                .collect(),
        ),
        MatchMethod::Reg => {
            let mut v = vec![];
            for (p, src) in raw {
                let re = RegexBuilder::new(&p)
                    .case_insensitive(ignore_case)
                    .build()
                    .map_err(|e| {
                        (
                            located(format!("invalid regex '{p}': {e}"), &src),
                            "fix the regular expression (Rust regex syntax: no back-references or look-around)".into(),
                        )
                    })?;
                v.push(re);
            }
            Patterns::Reg(v)
        }
        MatchMethod::Int | MatchMethod::Len => {
            let mut v = vec![];
            let mut op: Option<String> = None;
            for (p, src) in raw {
                if matches!(p.as_str(), "eq" | "ge" | "gt" | "le" | "lt") {
                    op = Some(p);
                    continue;
                }
                v.push(int_pattern(&p, op.as_deref()).map_err(|(m, h)| (located(m, &src), h))?);
                op = None;
            }
            if let Some(op) = op {
                return Err((
                    format!("operator '{op}' is not followed by a value"),
                    format!("write e.g. '{op} 10'"),
                ));
            }
            Patterns::Int(v)
        }
        MatchMethod::Ip => {
            let mut v = vec![];
            for (p, src) in raw {
                v.push(ip_pattern(&p).map_err(|(m, h)| (located(m, &src), h))?);
            }
            Patterns::Ip(v)
        }
    };
    Ok(AclTerm {
        expr,
        method,
        ignore_case,
        patterns,
        files: refs,
        location: loc.clone(),
    })
}

/// HAProxy's predefined ACLs, as ACL lines.
const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("HTTP", &["always_true"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("HTTP_CONTENT", &["hdr_val(content-length)", "gt", "0"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("LOCALHOST", &["src", "127.0.0.1/8", "::1"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
];

/// Finds (or instantiates a predefined) ACL by name in `acls`.
fn lookup_acl(name: &str, acls: &mut Vec<Acl>, loc: &Location) -> Result<usize, Fail> {
    if let Some(i) = acls.iter().position(|a| a.name == name) {
        return Ok(i);
    }
    if let Some((_, words)) = PREDEFINED.iter().find(|(n, _)| *n == name) {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let term = parse_acl_term(&words, loc)?;
        acls.push(Acl {
            name: name.to_string(),
            terms: vec![term],
            location: loc.clone(),
            predefined: true,
        });
        return Ok(acls.len() - 1);
    }
    let mut names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    names.extend(PREDEFINED.iter().map(|(n, _)| *n));
    Err((
        format!("no such ACL : '{name}'"),
        did_you_mean(
            name,
            names,
            "declare it with 'acl <name> …' before using it",
        ),
    ))
}

/// Parses `if|unless …` (words[0] must be `if` or `unless`).
pub(crate) fn parse_condition(
    words: &[String],
    acls: &mut Vec<Acl>,
    loc: &Location,
) -> Result<Condition, Fail> {
    let unless = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        other => {
            return Err((
                format!("expected 'if' or 'unless', got '{}'", other.unwrap_or("")),
                "conditions start with 'if' or 'unless'".into(),
            ))
        }
    };
    let body = &words[1..];
    if body.is_empty() {
        return Err((
            format!("missing condition after '{}'", words[0]),
            "name an ACL or write an anonymous one, e.g. 'if { path_beg /api }'".into(),
        ));
    }
    let mut or_terms: Vec<Vec<CondTerm>> = vec![vec![]];
    let mut i = 0;
    let mut pending_neg = false;
    while i < body.len() {
        let mut w = body[i].as_str();
        if w == "or" || w == "||" {
            if or_terms.last().is_some_and(Vec::is_empty) || pending_neg {
                return Err((
                    format!("'{w}' is missing a term on its left"),
                    "write 'if a || b'".into(),
                ));
            }
            or_terms.push(vec![]);
            i += 1;
            continue;
        }
        let mut neg = pending_neg;
        pending_neg = false;
        while let Some(r) = w.strip_prefix('!') {
            neg = !neg;
            w = r;
        }
        if w.is_empty() {
            pending_neg = neg;
            i += 1;
            continue;
        }
        if w == "{" {
            let Some(close) = body[i + 1..].iter().position(|x| x == "}") else {
                return Err((
                    "missing '}' after anonymous ACL".into(),
                    "write '{ <criterion> <patterns> }' with blanks around the braces".into(),
                ));
            };
            let inner = &body[i + 1..i + 1 + close];
            let term = parse_acl_term(inner, loc)?;
            or_terms.last_mut().unwrap_or(&mut vec![]).push(CondTerm {
                negated: neg,
                acl: AclRef::Anonymous(Box::new(term)),
            });
            i += close + 2;
            continue;
        }
        if w.starts_with('{') {
            return Err((
                format!("'{w}': a blank is needed after '{{'"),
                "write '{ path_beg /api }' with blanks around the braces".into(),
            ));
        }
        if w == "}" {
            return Err((
                "unexpected '}'".into(),
                "remove it or add the matching '{'".into(),
            ));
        }
        let idx = lookup_acl(w, acls, loc)?;
        if let Some(last) = or_terms.last_mut() {
            last.push(CondTerm {
                negated: neg,
                acl: AclRef::Named(idx),
            });
        }
        i += 1;
    }
    if pending_neg || or_terms.last().is_some_and(Vec::is_empty) {
        return Err((
            "the condition ends without a term".into(),
            "add an ACL after '!' or '||'".into(),
        ));
    }
    Ok(Condition {
        unless,
        or_terms,
        text: body.join(" "),
    })
}
