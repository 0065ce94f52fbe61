//! Sample expressions: `fetch[(args)][,converter[(args)]]…`.
//!
//! Owns: [`parse_sample`], [`split_args`], [`parse_var_name`] and the fetch and
//! converter name tables (used for did-you-mean). Invariant: every fetch and converter
//! returned is one the data plane evaluates; names sluice knows but cannot evaluate
//! are refused with the reason (TLS, stick tables, cookies). Map converters register
//! their file with [`super::pattern`].

use regex::bytes::RegexBuilder;

use super::units::Fail;
use crate::error::did_you_mean;
use crate::model::sample::{
    ArithOp, Converter, DnFetch, Fetch, HdrSide, NameKind, SampleExpr, VarName, VarScope,
};

/// Fetch names sluice evaluates.
pub(crate) const FETCHES: &[&str] = &[
    "path",
    "url",
    "query",
    "method",
    "base",
    "urlp",
    "url_param",
    "hdr",
    "req.hdr",
    "req.fhdr",
    "fhdr",
    "res.hdr",
    "res.fhdr",
    "shdr",
    "hdr_cnt",
    "req.hdr_cnt",
    "req.fhdr_cnt",
    "fhdr_cnt",
    "res.hdr_cnt",
    "res.fhdr_cnt",
    "shdr_cnt",
    "hdr_val",
    "req.hdr_val",
    "res.hdr_val",
    "shdr_val",
    "hdr_ip",
    "req.hdr_ip",
    "res.hdr_ip",
    "shdr_ip",
    "status",
    "src",
    "src_port",
    "dst",
    "dst_port",
    "var",
    "always_true",
    "always_false",
    "nbsrv",
    "req.ver",
    "req_ver",
    "res.ver",
    "resp_ver",
    "http_first_req",
    "ssl_fc",
    "ssl_fc_sni",
    "ssl_fc_alpn",
    "ssl_fc_protocol",
    "ssl_fc_cipher",
    "ssl_fc_has_crt",
    "ssl_c_used",
    "ssl_c_verify",
    "ssl_c_s_dn",
    "ssl_c_i_dn",
    "str",
    "int",
    "bool",
    "fe_name",
    "be_name",
    "srv_name",
];

/// Converter names sluice evaluates.
pub(crate) const CONVERTERS: &[&str] = &[
    "lower", "upper", "field", "word", "regsub", "bytes", "length", "hex", "url_dec", "add", "sub",
    "mul", "div", "mod", "map", "map_str", "map_beg", "map_end", "map_sub", "map_dom", "map_dir",
    "map_reg", "map_ip", "map_int",
];

/// Splits `a,b,"c,d",e\,f` into arguments; quotes group, a backslash escapes.
pub(crate) fn split_args(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut q: Option<char> = None;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match (q, c) {
            (Some(qc), c) if c == qc => q = None,
            (None, '"') | (None, '\'') => q = Some(c),
            (_, '\\') => {
                if let Some(n) = it.next() {
                    if n != ',' && n != ')' && n != '\\' && n != '"' && n != '\'' {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
            }
            (None, ',') => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Finds the end of a `name(args)` item starting at `i`: returns (name, args, next).
fn item(s: &str, mut i: usize) -> Result<(&str, Option<&str>, usize), Fail> {
    let b = s.as_bytes();
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b"._-".contains(&b[i])) {
        i += 1;
    }
    let name = &s[start..i];
    if name.is_empty() {
        return Err((
            format!("expected a name at position {} in '{s}'", start + 1),
            "a sample expression looks like 'hdr(host),lower'".into(),
        ));
    }
    if b.get(i) != Some(&b'(') {
        return Ok((name, None, i));
    }
    let astart = i + 1;
    let mut j = astart;
    let mut q: Option<u8> = None;
    let mut depth = 0usize;
    while j < b.len() {
        match (q, b[j]) {
            (Some(qc), c) if c == qc => q = None,
            (None, b'"') | (None, b'\'') => q = Some(b[j]),
            (_, b'\\') => j += 1,
            (None, b'(') => depth += 1,
            (None, b')') if depth > 0 => depth -= 1,
            (None, b')') => return Ok((name, Some(&s[astart..j]), j + 1)),
            _ => {}
        }
        j += 1;
    }
    Err((
        format!("missing closing ')' after the arguments of '{name}'"),
        "close the argument list, e.g. 'hdr(host)'".into(),
    ))
}

/// Parses a variable name `scope.name`.
pub(crate) fn parse_var_name(s: &str) -> Result<VarName, Fail> {
    let hint =
        || "write scope.name with scope proc, sess, txn, req or res, e.g. 'txn.user'".to_string();
    let Some((scope, name)) = s.split_once('.') else {
        return Err((format!("variable '{s}' has no scope"), hint()));
    };
    let scope = match scope {
        "proc" => VarScope::Proc,
        "sess" => VarScope::Sess,
        "txn" => VarScope::Txn,
        "req" => VarScope::Req,
        "res" => VarScope::Res,
        _ => return Err((format!("unknown variable scope '{scope}'"), hint())),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
    {
        return Err((
            format!("invalid variable name '{name}'"),
            "variable names use letters, digits, '_' and '.'".into(),
        ));
    }
    Ok(VarName {
        scope,
        name: name.to_string(),
    })
}

fn no_args(name: &str, args: &Option<Vec<String>>) -> Result<(), Fail> {
    if args
        .as_ref()
        .is_some_and(|a| a.len() > 1 || !a[0].is_empty())
    {
        return Err((
            format!("fetch '{name}' takes no argument"),
            format!("write '{name}' without parentheses"),
        ));
    }
    Ok(())
}

fn parse_i64(s: &str, what: &str) -> Result<i64, Fail> {
    s.trim().parse::<i64>().map_err(|_| {
        (
            format!("{what} expects an integer, got '{s}'"),
            "write a decimal integer".into(),
        )
    })
}

fn hdr_args(
    name: &str,
    args: &Option<Vec<String>>,
    need_name: bool,
) -> Result<(Option<String>, Option<i64>), Fail> {
    let a = args.clone().unwrap_or_default();
    let hname = a
        .first()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase());
    if need_name && hname.is_none() {
        return Err((
            format!("fetch '{name}' needs a header name"),
            format!("write '{name}(<header>)'"),
        ));
    }
    let occ = match a.get(1) {
        Some(o) if !o.is_empty() => {
            let v = parse_i64(o, &format!("occurrence of '{name}'"))?;
            if v == 0 {
                None
            } else {
                Some(v)
            }
        }
        _ => None,
    };
    if a.len() > 2 {
        return Err((
            format!("fetch '{name}' takes at most 2 arguments"),
            format!("write '{name}(<header>[,<occurrence>])'"),
        ));
    }
    Ok((hname, occ))
}

fn side(name: &str) -> HdrSide {
    if name.starts_with("res.") || name.starts_with('s') {
        HdrSide::Response
    } else {
        HdrSide::Request
    }
}

fn refused_fetch(name: &str) -> Option<Fail> {
    let why = if name.starts_with("ssl_") || name.starts_with("ssl.") {
        let supported = "sluice has ssl_fc, ssl_fc_sni, ssl_fc_alpn, ssl_fc_protocol, ssl_fc_cipher, ssl_fc_has_crt, ssl_c_used, ssl_c_verify, ssl_c_s_dn and ssl_c_i_dn";
        // A one-letter typo of a supported fetch is more likely than a real fetch.
        if let Some(s) = FETCHES
            .iter()
            .find(|f| f.starts_with("ssl_") && crate::error::edit_distance(name, f) == 1)
        {
            return Some((
                format!("unknown sample fetch '{name}'"),
                format!("did you mean '{s}'? ({supported})"),
            ));
        }
        return Some((
            format!("sample fetch '{name}' is not supported by sluice"),
            format!("this TLS fetch is not supported yet; {supported}"),
        ));
    } else if name.starts_with("req.ssl_") || name.starts_with("req_ssl_") {
        "TLS ClientHello inspection needs TCP content rules, which are not supported yet; with 'ssl' on the bind use ssl_fc_sni"
    } else if name.starts_with("sc_")
        || name.starts_with("sc0_")
        || name.starts_with("sc1_")
        || name.starts_with("sc2_")
        || (name.starts_with("src_") && name != "src_port")
        || name.starts_with("table_")
    {
        "stick tables are not supported yet"
    } else if name.contains("cook") {
        "cookie fetches are not supported yet"
    } else if name.starts_with("req.body") || name == "req.payload" || name.starts_with("res.body")
    {
        "body inspection is not supported yet"
    } else if name.starts_with("lua.") {
        "Lua is not supported"
    } else if name.starts_with("http_auth") {
        "userlists and HTTP authentication are not supported yet"
    } else {
        return None;
    };
    Some((
        format!("sample fetch '{name}' is not supported by sluice"),
        why.to_string(),
    ))
}

/// `ssl_c_s_dn([<entry>[,<occ>[,<format>]]])`.
fn dn_args(name: &str, a: &Option<Vec<String>>) -> Result<DnFetch, Fail> {
    let usage = format!("write '{name}', '{name}(CN)', '{name}(CN,-1)' or '{name}(,0,rfc2253)'");
    let v = a.clone().unwrap_or_default();
    if v.len() > 3 {
        return Err((format!("fetch '{name}' takes at most 3 arguments"), usage));
    }
    let entry = v.first().filter(|e| !e.is_empty()).cloned();
    if let Some(e) = &entry {
        if !e
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err((
                format!("'{e}' is not a distinguished-name entry in '{name}'"),
                "name an entry by its short name (CN, O, OU, C, L, ST, emailAddress) or its OID"
                    .into(),
            ));
        }
    }
    let occ = match v.get(1).filter(|o| !o.is_empty()) {
        Some(o) => parse_i64(o, &format!("occurrence of '{name}'"))?,
        None => 0,
    };
    if entry.is_none() && occ != 0 {
        return Err((format!("an occurrence in '{name}' needs an entry"), usage));
    }
    let rfc2253 = match v.get(2).map(String::as_str) {
        None | Some("") => false,
        Some("rfc2253") if entry.is_none() => true,
        Some("rfc2253") => {
            return Err((
                format!("the format of '{name}' applies to the whole DN, not to one entry"),
                format!("write '{name}(,0,rfc2253)', or drop the format"),
            ))
        }
        Some(f) => {
            return Err((
                format!("unknown DN format '{f}' in '{name}'"),
                "the only format is 'rfc2253'; without it the DN reads /C=../O=../CN=..".into(),
            ))
        }
    };
    Ok(DnFetch {
        issuer: name == "ssl_c_i_dn",
        entry,
        occ: if occ == 0 { 1 } else { occ },
        rfc2253,
    })
}

fn parse_fetch(name: &str, args: Option<&str>) -> Result<Fetch, Fail> {
    let a: Option<Vec<String>> = args.map(split_args);
    let f = match name {
        "path" => Fetch::Path,
        "url" => Fetch::Url,
        "query" => Fetch::Query,
        "method" => Fetch::Method,
        "base" => Fetch::Base,
        "status" => Fetch::Status,
        "src" => Fetch::Src,
        "src_port" => Fetch::SrcPort,
        "dst" => Fetch::Dst,
        "dst_port" => Fetch::DstPort,
        "always_true" => Fetch::AlwaysTrue,
        "always_false" => Fetch::AlwaysFalse,
        "req.ver" | "req_ver" => Fetch::ReqVer,
        "res.ver" | "resp_ver" => Fetch::ResVer,
        "http_first_req" => Fetch::HttpFirstReq,
        "ssl_fc" => Fetch::SslFc,
        "ssl_fc_sni" => Fetch::SslFcSni,
        "ssl_fc_alpn" => Fetch::SslFcAlpn,
        "ssl_fc_protocol" => Fetch::SslFcProtocol,
        "ssl_fc_cipher" => Fetch::SslFcCipher,
        "ssl_c_used" | "ssl_fc_has_crt" => Fetch::SslCUsed,
        "ssl_c_verify" => Fetch::SslCVerify,
        "ssl_c_s_dn" | "ssl_c_i_dn" => Fetch::SslCDn(dn_args(name, &a)?),
        "fe_name" => Fetch::ProxyName(NameKind::Frontend),
        "be_name" => Fetch::ProxyName(NameKind::Backend),
        "srv_name" => Fetch::ProxyName(NameKind::Server),
        "urlp" | "url_param" => {
            let v = a.clone().unwrap_or_default();
            match v.first() {
                Some(p) if !p.is_empty() && v.len() == 1 => Fetch::UrlParam(p.clone()),
                _ => {
                    return Err((
                        format!("fetch '{name}' needs exactly one parameter name"),
                        format!("write '{name}(<param>)'"),
                    ))
                }
            }
        }
        "hdr" | "req.hdr" | "res.hdr" | "shdr" | "req.fhdr" | "res.fhdr" | "fhdr" => {
            let (hname, occ) = hdr_args(name, &a, false)?;
            Fetch::Hdr {
                side: side(name),
                name: hname,
                occ,
                full: name.contains("fhdr"),
            }
        }
        "hdr_cnt" | "req.hdr_cnt" | "res.hdr_cnt" | "shdr_cnt" | "req.fhdr_cnt"
        | "res.fhdr_cnt" | "fhdr_cnt" => {
            let (hname, _) = hdr_args(name, &a, false)?;
            Fetch::HdrCnt {
                side: side(name),
                name: hname,
                full: name.contains("fhdr"),
            }
        }
        "hdr_val" | "req.hdr_val" | "res.hdr_val" | "shdr_val" => {
            let (hname, occ) = hdr_args(name, &a, true)?;
            Fetch::HdrVal {
                side: side(name),
                name: hname.unwrap_or_default(),
                occ,
            }
        }
        "hdr_ip" | "req.hdr_ip" | "res.hdr_ip" | "shdr_ip" => {
            let (hname, occ) = hdr_args(name, &a, true)?;
            Fetch::HdrIp {
                side: side(name),
                name: hname.unwrap_or_default(),
                occ,
            }
        }
        "var" => {
            let v = a.clone().unwrap_or_default();
            if v.len() != 1 || v[0].is_empty() {
                return Err((
                    "fetch 'var' needs exactly one variable name".into(),
                    "write 'var(txn.name)'".into(),
                ));
            }
            Fetch::Var(parse_var_name(&v[0])?)
        }
        "nbsrv" => {
            let v = a.clone().unwrap_or_default();
            match v.as_slice() {
                [] => Fetch::Nbsrv(None),
                [b] if b.is_empty() => Fetch::Nbsrv(None),
                [b] => Fetch::Nbsrv(Some(b.clone())),
                _ => {
                    return Err((
                        "fetch 'nbsrv' takes at most one backend name".into(),
                        "write 'nbsrv(<backend>)'".into(),
                    ))
                }
            }
        }
        "str" => Fetch::Str(
            a.clone()
                .and_then(|v| v.into_iter().next())
                .unwrap_or_default(),
        ),
        "int" => {
            let v = a.clone().unwrap_or_default();
            Fetch::Int(parse_i64(
                v.first().map(String::as_str).unwrap_or(""),
                "int()",
            )?)
        }
        "bool" => {
            let v = a.clone().unwrap_or_default();
            Fetch::Bool(parse_i64(v.first().map(String::as_str).unwrap_or(""), "bool()")? != 0)
        }
        _ => {
            if let Some(f) = refused_fetch(name) {
                return Err(f);
            }
            return Err((
                format!("unknown sample fetch '{name}'"),
                did_you_mean(
                    name,
                    FETCHES.iter().copied(),
                    "see the list of fetches in sluice's documentation",
                ),
            ));
        }
    };
    match &f {
        Fetch::Path
        | Fetch::Url
        | Fetch::Query
        | Fetch::Method
        | Fetch::Base
        | Fetch::Status
        | Fetch::Src
        | Fetch::SrcPort
        | Fetch::Dst
        | Fetch::DstPort
        | Fetch::AlwaysTrue
        | Fetch::AlwaysFalse
        | Fetch::ReqVer
        | Fetch::ResVer
        | Fetch::HttpFirstReq
        | Fetch::SslFc
        | Fetch::SslFcSni
        | Fetch::SslFcAlpn
        | Fetch::SslFcProtocol
        | Fetch::SslFcCipher
        | Fetch::SslCUsed
        | Fetch::SslCVerify
        | Fetch::ProxyName(_) => no_args(name, &a)?,
        _ => {}
    }
    Ok(f)
}

pub(crate) fn arg_count(
    name: &str,
    a: &[String],
    min: usize,
    max: usize,
    usage: &str,
) -> Result<(), Fail> {
    let n = if a.len() == 1 && a[0].is_empty() {
        0
    } else {
        a.len()
    };
    if n < min || n > max {
        return Err((
            format!("converter '{name}' expects {min} to {max} arguments, got {n}"),
            format!("write '{usage}'"),
        ));
    }
    Ok(())
}

/// Turns `\1`..`\9` into `${1}` for the regex crate; `$` is escaped.
pub(crate) fn backrefs_to_regex(repl: &str) -> String {
    let mut out = String::new();
    let mut it = repl.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' if it.peek().is_some_and(char::is_ascii_digit) => {
                let d = it.next().unwrap_or('0');
                out.push_str("${");
                out.push(d);
                out.push('}');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn parse_converter(name: &str, args: Option<&str>) -> Result<Converter, Fail> {
    let a: Vec<String> = args.map(split_args).unwrap_or_else(|| vec![String::new()]);
    let c = match name {
        "lower" => Converter::Lower,
        "upper" => Converter::Upper,
        "length" => Converter::Length,
        "hex" => Converter::Hex,
        "url_dec" => Converter::UrlDec,
        "field" | "word" => {
            arg_count(
                name,
                &a,
                2,
                3,
                &format!("{name}(<index>,<delimiters>[,<count>])"),
            )?;
            let index = parse_i64(&a[0], name)?;
            if index == 0 {
                return Err((
                    format!("converter '{name}': index 0 is invalid"),
                    "indexes start at 1; negative ones count from the end".into(),
                ));
            }
            if a[1].is_empty() {
                return Err((
                    format!("converter '{name}' needs at least one delimiter"),
                    format!("write e.g. '{name}(1,:)'"),
                ));
            }
            let count = match a.get(2) {
                Some(c) => parse_i64(c, name)?,
                None => 1,
            };
            if name == "field" {
                Converter::Field {
                    index,
                    delims: a[1].clone(),
                    count,
                }
            } else {
                Converter::Word {
                    index,
                    delims: a[1].clone(),
                    count,
                }
            }
        }
        "regsub" => {
            arg_count(name, &a, 2, 3, "regsub(<regex>,<replacement>[,<flags>])")?;
            let flags = a.get(2).cloned().unwrap_or_default();
            if let Some(bad) = flags.chars().find(|c| *c != 'g' && *c != 'i') {
                return Err((
                    format!("unknown regsub flag '{bad}'"),
                    "flags are 'g' (global) and 'i' (ignore case)".into(),
                ));
            }
            let regex = RegexBuilder::new(&a[0])
                .case_insensitive(flags.contains('i'))
                .build()
                .map_err(|e| (format!("invalid regex '{}' in regsub: {e}", a[0]), "fix the regular expression (Rust regex syntax: no back-references or look-around)".into()))?;
            Converter::Regsub {
                regex,
                replacement: backrefs_to_regex(&a[1]),
                global: flags.contains('g'),
            }
        }
        "bytes" => {
            arg_count(name, &a, 1, 2, "bytes(<offset>[,<length>])")?;
            let offset = parse_i64(&a[0], name)?;
            let length = match a.get(1) {
                Some(l) => Some(parse_i64(l, name)?),
                None => None,
            };
            if offset < 0 || length.is_some_and(|l| l < 0) {
                return Err((
                    "converter 'bytes' needs non-negative offset and length".into(),
                    "write 'bytes(<offset>[,<length>])'".into(),
                ));
            }
            Converter::Bytes { offset, length }
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            arg_count(name, &a, 1, 1, &format!("{name}(<integer>)"))?;
            if a[0].starts_with("txn.")
                || a[0].starts_with("sess.")
                || a[0].starts_with("req.")
                || a[0].starts_with("res.")
                || a[0].starts_with("proc.")
            {
                return Err((
                    format!("converter '{name}' with a variable argument is not supported yet"),
                    "use an integer constant".into(),
                ));
            }
            let v = parse_i64(&a[0], name)?;
            let op = match name {
                "add" => ArithOp::Add,
                "sub" => ArithOp::Sub,
                "mul" => ArithOp::Mul,
                "div" => ArithOp::Div,
                _ => ArithOp::Mod,
            };
            if matches!(op, ArithOp::Div | ArithOp::Mod) && v == 0 {
                return Err((
                    format!("converter '{name}' by zero"),
                    "use a non-zero divisor".into(),
                ));
            }
            Converter::Arith(op, v)
        }
        n if n == "map" || n.starts_with("map_") => super::pattern::map_converter(n, &a)?,
        _ => {
            return Err((
                format!("unknown converter '{name}'"),
                did_you_mean(
                    name,
                    CONVERTERS.iter().copied(),
                    "see the list of converters in sluice's documentation",
                ),
            ))
        }
    };
    if matches!(
        c,
        Converter::Lower
            | Converter::Upper
            | Converter::Length
            | Converter::Hex
            | Converter::UrlDec
    ) && !(a.len() == 1 && a[0].is_empty())
    {
        return Err((
            format!("converter '{name}' takes no argument"),
            format!("write ',{name}' without parentheses"),
        ));
    }
    Ok(c)
}

/// Parses converters starting at byte `i` of `s` (each introduced by a comma).
fn parse_converters(s: &str, mut i: usize) -> Result<Vec<Converter>, Fail> {
    let mut convs = vec![];
    while i < s.len() {
        if s.as_bytes()[i] != b',' {
            return Err((
                format!("unexpected '{}' in sample expression '{s}'", &s[i..]),
                "separate converters with commas, e.g. 'hdr(host),lower'".into(),
            ));
        }
        let (name, args, next) = item(s, i + 1)?;
        convs.push(parse_converter(name, args)?);
        i = next;
    }
    Ok(convs)
}

/// Parses a complete sample expression such as `req.hdr(host),lower,field(1,:)`.
pub(crate) fn parse_sample(s: &str) -> Result<SampleExpr, Fail> {
    let (name, args, next) = item(s, 0)?;
    let fetch = parse_fetch(name, args)?;
    let converters = parse_converters(s, next)?;
    Ok(SampleExpr {
        fetch,
        converters,
        text: s.to_string(),
    })
}

/// Parses an expression whose fetch name has already been mapped (ACL keywords such
/// as `hdr_beg(host)` → fetch `hdr` with the same arguments).
pub(crate) fn parse_sample_as(s: &str, fetch_name: &str) -> Result<SampleExpr, Fail> {
    let (_, args, next) = item(s, 0)?;
    let fetch = parse_fetch(fetch_name, args)?;
    let converters = parse_converters(s, next)?;
    Ok(SampleExpr {
        fetch,
        converters,
        text: s.to_string(),
    })
}

/// The name part of `name(args),conv` (for keyword lookup).
pub(crate) fn leading_name(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        .unwrap_or(s.len());
    &s[..end]
}
