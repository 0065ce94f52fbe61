//! `http-request`, `http-response` and `redirect` lines.
//!
//! Owns: [`parse_http_rule`] and [`parse_redirect`]. Each action consumes its own
//! arguments (fixed-arity actions take exactly their count, so a header value may be
//! the word `if`), then an optional `if|unless` condition. Actions sluice does not
//! run are refused with the reason, never ignored.

use std::collections::BTreeMap;
use std::path::Path;

use regex::bytes::RegexBuilder;

use super::acl::parse_condition;
use super::format::parse_format;
use super::sample::{parse_sample, parse_var_name};
use super::units::Fail;
use crate::error::{did_you_mean, Location};
use crate::model::rules::{
    HttpAction, HttpReturn, HttpRule, NameMatch, Redirect, RedirectKind, ReturnBody, Service,
};
use crate::model::sample::{Acl, Condition};

/// Which rule set a line belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    Request,
    Response,
}

const REQ_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-path",
    "set-query",
    "set-uri",
    "set-method",
    "redirect",
    "deny",
    "allow",
    "return",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "use-service",
    "set-map",
    "del-map",
    "add-acl",
    "del-acl",
];
const RES_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "redirect",
    "deny",
    "allow",
    "return",
    "set-status",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "set-map",
    "del-map",
    "add-acl",
    "del-acl",
];

fn refused_action(a: &str) -> Option<&'static str> {
    Some(match a {
        "tarpit" => "tarpit is not supported yet; use 'deny'",
        "capture" => "'http-request capture' is not supported yet; use 'capture request header'",
        "auth" => "userlists and HTTP authentication are not supported yet",
        "reject" | "silent-drop" => "connection-level actions are not supported yet; use 'deny'",
        "cache-use" | "cache-store" => "caching is not supported yet",
        "set-log-level"
        | "set-nice"
        | "set-mark"
        | "set-tos"
        | "set-priority-class"
        | "set-priority-offset"
        | "set-fc-mark"
        | "set-fc-tos"
        | "set-bc-mark"
        | "set-bc-tos"
        | "set-timeout" => "this tuning action is not supported yet",
        "set-src" | "set-src-port" | "set-dst" | "set-dst-port" => {
            "address rewriting is not supported yet"
        }
        "normalize-uri" => "URI normalisation is not supported yet",
        "wait-for-body" | "wait-for-handshake" | "early-hint" => "this action is not supported yet",
        "do-resolve" => "DNS resolvers are not supported",
        "send-spoe-group" => "SPOE filters are not supported",
        "set-pathq" => "'set-pathq' is not supported yet; use 'set-path' and 'set-query'",
        "sc-inc-gpc" | "sc-inc-gpc0" | "sc-inc-gpc1" | "sc-set-gpt" | "sc-set-gpt0"
        | "sc-add-gpc" => "stick tables are not supported yet",
        "strict-mode" => "this action is not supported yet",
        _ if a.starts_with("track-sc") => "stick tables are not supported yet",
        _ if a.starts_with("lua.") => "Lua is not supported",
        _ => return None,
    })
}

/// The service a `use-service` line names; sluice has only HAProxy's Prometheus
/// exporter.
fn service(name: &str) -> Result<Service, Fail> {
    match name {
        "prometheus-exporter" => Ok(Service::PrometheusExporter),
        _ => Err((
            format!("service '{name}' is not supported by sluice"),
            "the only service sluice provides is 'prometheus-exporter'".into(),
        )),
    }
}

/// Splits `words` at the first `if`/`unless` at or after `from`.
fn split_cond(words: &[String], from: usize) -> (&[String], &[String]) {
    let pos = words[from..]
        .iter()
        .position(|w| w == "if" || w == "unless")
        .map(|p| p + from)
        .unwrap_or(words.len());
    (&words[..pos], &words[pos..])
}

fn cond(
    rest: &[String],
    acls: &mut Vec<Acl>,
    loc: &Location,
    usage: &str,
) -> Result<Option<Condition>, Fail> {
    if rest.is_empty() {
        return Ok(None);
    }
    if rest[0] != "if" && rest[0] != "unless" {
        return Err((
            format!("unexpected '{}' after the action's arguments", rest[0]),
            format!("expected syntax: {usage} [if|unless <condition>]"),
        ));
    }
    parse_condition(rest, acls, loc).map(Some)
}

fn fmt_arg(s: &str, what: &str) -> Result<crate::model::format::Format, Fail> {
    parse_format(s).map_err(|(m, h)| (format!("{what}: {m}"), h))
}

fn status(s: &str, min: u16, max: u16) -> Result<u16, Fail> {
    match s.parse::<u16>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err((
            format!("invalid status code '{s}'"),
            format!("use a status from {min} to {max}"),
        )),
    }
}

pub(crate) fn load_file(path: &str, what: &str) -> Result<Vec<u8>, Fail> {
    std::fs::read(Path::new(path)).map_err(|e| {
        (
            format!("failed to read {what} '{path}': {e}"),
            "check the path (relative paths are relative to the working directory)".into(),
        )
    })
}

/// Parses `[status N] [content-type T] [body…] [hdr n v]*` (return) or
/// `[deny_status N] …` (deny, defaulting to `deny_default`). `args` excludes the
/// action word.
fn parse_return(
    args: &[String],
    deny: bool,
    deny_default: u16,
    http_errors: &BTreeMap<String, ()>,
    bufsize: usize,
) -> Result<HttpReturn, Fail> {
    let mut r = HttpReturn {
        status: if deny { deny_default } else { 200 },
        content_type: None,
        body: ReturnBody::Default,
        headers: vec![],
    };
    let usage = if deny {
        "deny [deny_status <code>] [content-type <type>] [string|lf-string|file|lf-file|errorfile|errorfiles <arg>] [hdr <name> <value>]*"
    } else {
        "return [status <code>] [content-type <type>] [string|lf-string|file|lf-file|errorfile|errorfiles <arg>] [hdr <name> <value>]*"
    };
    let mut i = 0;
    let need = |i: usize, n: usize| -> Result<(), Fail> {
        if i + n > args.len() {
            return Err((
                format!(
                    "'{}' expects {n} argument{}",
                    args[i - 1],
                    if n > 1 { "s" } else { "" }
                ),
                format!("expected syntax: {usage}"),
            ));
        }
        Ok(())
    };
    while i < args.len() {
        let k = args[i].as_str();
        i += 1;
        match k {
            "status" | "deny_status" => {
                if (k == "deny_status") != deny && k == "deny_status" {
                    return Err((
                        "'deny_status' is only valid for 'deny'".into(),
                        format!("expected syntax: {usage}"),
                    ));
                }
                need(i, 1)?;
                r.status = status(&args[i], 200, 599)?;
                i += 1;
            }
            "content-type" => {
                need(i, 1)?;
                r.content_type = Some(args[i].clone());
                i += 1;
            }
            "string" | "lf-string" | "file" | "lf-file" | "errorfile" | "errorfiles"
            | "default-errorfiles" => {
                if !matches!(r.body, ReturnBody::Default) {
                    return Err((
                        "only one body source may be given".into(),
                        format!("expected syntax: {usage}"),
                    ));
                }
                if k == "default-errorfiles" {
                    continue;
                }
                need(i, 1)?;
                let a = &args[i];
                i += 1;
                r.body = match k {
                    "string" => ReturnBody::String(a.clone()),
                    "lf-string" => ReturnBody::LfString(fmt_arg(a, "lf-string")?),
                    "file" => {
                        let data = load_file(a, "file")?;
                        if data.len() > bufsize {
                            return Err((
                                format!("file '{a}' is larger than tune.bufsize ({bufsize})"),
                                "use a smaller file or raise tune.bufsize".into(),
                            ));
                        }
                        ReturnBody::File(data)
                    }
                    "lf-file" => {
                        let data = load_file(a, "lf-file")?;
                        let text = String::from_utf8(data).map_err(|_| {
                            (
                                format!("lf-file '{a}' is not UTF-8 text"),
                                "use a text file".into(),
                            )
                        })?;
                        ReturnBody::LfFile(fmt_arg(&text, "lf-file")?)
                    }
                    "errorfile" => {
                        let data = load_file(a, "errorfile")?;
                        let raw = super::errorfile::check_errorfile(&data, None, bufsize)?;
                        ReturnBody::ErrorFile(raw)
                    }
                    _ => {
                        if !http_errors.contains_key(a.as_str()) {
                            return Err((
                                format!("unknown http-errors section '{a}'"),
                                did_you_mean(
                                    a,
                                    http_errors.keys().map(String::as_str),
                                    "declare it with 'http-errors <name>' before using it",
                                ),
                            ));
                        }
                        ReturnBody::ErrorFiles(a.clone())
                    }
                };
            }
            "hdr" => {
                need(i, 2)?;
                r.headers
                    .push((args[i].clone(), fmt_arg(&args[i + 1], "hdr")?));
                i += 2;
            }
            _ => {
                return Err((
                    format!("unknown option '{k}'"),
                    did_you_mean(
                        k,
                        [
                            "status",
                            "deny_status",
                            "content-type",
                            "string",
                            "lf-string",
                            "file",
                            "lf-file",
                            "errorfile",
                            "errorfiles",
                            "hdr",
                        ],
                        &format!("expected syntax: {usage}"),
                    ),
                ))
            }
        }
    }
    let has_payload = matches!(
        r.body,
        ReturnBody::String(_)
            | ReturnBody::LfString(_)
            | ReturnBody::File(_)
            | ReturnBody::LfFile(_)
    );
    if has_payload && r.content_type.is_none() {
        return Err((
            "a 'content-type' is required with a string or file body".into(),
            "add e.g. 'content-type text/plain'".into(),
        ));
    }
    if !has_payload && r.content_type.is_some() && !matches!(r.body, ReturnBody::Default) {
        return Err((
            "'content-type' cannot be used with errorfile/errorfiles".into(),
            "the error file carries its own headers".into(),
        ));
    }
    if matches!(r.body, ReturnBody::ErrorFile(_) | ReturnBody::ErrorFiles(_))
        && !r.headers.is_empty()
    {
        return Err((
            "'hdr' cannot be used with errorfile/errorfiles".into(),
            "put the headers in the error file".into(),
        ));
    }
    if (r.status == 204 || r.status == 304) && has_payload {
        return Err((
            format!("status {} cannot carry a body", r.status),
            "remove the body or use another status".into(),
        ));
    }
    Ok(r)
}

/// Parses `<kind> <to> [code N] [drop-query] [append-slash]`; `args` excludes the
/// leading `redirect`. Returns the redirect and the index of the first unused word.
pub(crate) fn parse_redirect(args: &[String]) -> Result<(Redirect, usize), Fail> {
    let usage = "redirect location|prefix|scheme <to> [code <n>] [drop-query] [append-slash] [if|unless <cond>]";
    let kind = match args.first().map(String::as_str) {
        Some("location") => RedirectKind::Location,
        Some("prefix") => RedirectKind::Prefix,
        Some("scheme") => RedirectKind::Scheme,
        Some(k) => {
            return Err((
                format!("unknown redirect type '{k}'"),
                did_you_mean(
                    k,
                    ["location", "prefix", "scheme"],
                    &format!("expected syntax: {usage}"),
                ),
            ))
        }
        None => {
            return Err((
                "missing redirect type".into(),
                format!("expected syntax: {usage}"),
            ))
        }
    };
    let Some(to) = args.get(1) else {
        return Err((
            "missing redirect target".into(),
            format!("expected syntax: {usage}"),
        ));
    };
    let mut r = Redirect {
        kind,
        target: fmt_arg(to, "redirect target")?,
        code: 302,
        drop_query: false,
        append_slash: false,
    };
    let mut i = 2;
    while i < args.len() {
        match args[i].as_str() {
            "if" | "unless" => break,
            "code" => {
                let Some(c) = args.get(i + 1) else {
                    return Err(("'code' expects a status".into(), "use 301, 302, 303, 307 or 308".into()));
                };
                r.code = match c.parse::<u16>() {
                    Ok(n @ (301 | 302 | 303 | 307 | 308)) => n,
                    _ => return Err((format!("invalid redirect code '{c}'"), "use 301, 302, 303, 307 or 308".into())),
                };
                i += 2;
            }
            "drop-query" => {
                r.drop_query = true;
                i += 1;
            }
            "append-slash" => {
                r.append_slash = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" => {
                return Err((format!("'{}' is not supported yet", args[i]), "cookies are not supported yet; set the header with 'http-request return … hdr Set-Cookie …'".into()))
            }
            "ignore-empty" | "keep-query" => {
                return Err((format!("'{}' is not supported yet", args[i]), format!("expected syntax: {usage}")))
            }
            o => {
                return Err((
                    format!("unknown redirect option '{o}'"),
                    did_you_mean(o, ["code", "drop-query", "append-slash"], &format!("expected syntax: {usage}")),
                ))
            }
        }
    }
    Ok((r, i))
}

fn name_match(args: &[String]) -> Result<NameMatch, Fail> {
    let name = args[0].clone();
    let lname = name.to_ascii_lowercase();
    match args.get(1).map(String::as_str) {
        None => Ok(NameMatch::Str(lname)),
        Some("-m") => match args.get(2).map(String::as_str) {
            Some("str") => Ok(NameMatch::Str(lname)),
            Some("beg") => Ok(NameMatch::Beg(lname)),
            Some("end") => Ok(NameMatch::End(lname)),
            Some("sub") => Ok(NameMatch::Sub(lname)),
            Some("reg") => RegexBuilder::new(&name)
                .case_insensitive(true)
                .build()
                .map(NameMatch::Reg)
                .map_err(|e| {
                    (
                        format!("invalid regex '{name}': {e}"),
                        "fix the regular expression".into(),
                    )
                }),
            other => Err((
                format!("invalid header match method '{}'", other.unwrap_or("")),
                "use -m str, beg, end, sub or reg".into(),
            )),
        },
        Some(o) => Err((
            format!("unexpected '{o}'"),
            "expected syntax: del-header <name> [-m str|beg|end|sub|reg]".into(),
        )),
    }
}

/// What a rule line needs from its surroundings.
pub(crate) struct RuleCtx<'a> {
    /// The proxy's ACLs (predefined ones may be appended).
    pub acls: &'a mut Vec<Acl>,
    /// Known `http-errors` sections.
    pub http_errors: &'a BTreeMap<String, ()>,
    /// `tune.bufsize`.
    pub bufsize: usize,
}

/// Parses `http-request|http-response <action> …`; `words[0]` is the keyword.
pub(crate) fn parse_http_rule(
    words: &[String],
    dir: Dir,
    ctx: RuleCtx<'_>,
    loc: &Location,
) -> Result<HttpRule, Fail> {
    let kw = words[0].as_str();
    let Some(action_word) = words.get(1) else {
        let list = if dir == Dir::Request {
            REQ_ACTIONS
        } else {
            RES_ACTIONS
        };
        return Err((
            format!("'{kw}' expects an action"),
            format!("actions: {}", list.join(", ")),
        ));
    };
    let (aname, paren) = match action_word.find('(') {
        Some(p) => (&action_word[..p], Some(&action_word[p..])),
        None => (action_word.as_str(), None),
    };
    let allowed = if dir == Dir::Request {
        REQ_ACTIONS
    } else {
        RES_ACTIONS
    };
    if !allowed.contains(&aname) {
        if let Some(why) = refused_action(aname) {
            return Err((
                format!("action '{aname}' is not supported by sluice"),
                why.into(),
            ));
        }
        let other = if dir == Dir::Request {
            RES_ACTIONS
        } else {
            REQ_ACTIONS
        };
        if other.contains(&aname) {
            return Err((
                format!("action '{aname}' is not valid in '{kw}'"),
                format!(
                    "use it with '{}'",
                    if dir == Dir::Request {
                        "http-response"
                    } else {
                        "http-request"
                    }
                ),
            ));
        }
        return Err((
            format!("unknown action '{aname}'"),
            did_you_mean(
                aname,
                allowed.iter().copied(),
                &format!("actions: {}", allowed.join(", ")),
            ),
        ));
    }
    let a = &words[2..];
    let fixed = |n: usize, usage: &str| -> Result<(&[String], &[String]), Fail> {
        if a.len() < n {
            return Err((
                format!(
                    "'{aname}' expects {n} argument{}",
                    if n > 1 { "s" } else { "" }
                ),
                format!("expected syntax: {kw} {usage}"),
            ));
        }
        Ok((&a[..n], &a[n..]))
    };
    let (action, rest, usage): (HttpAction, &[String], String) = match aname {
        "set-header" | "add-header" => {
            let u = format!("{aname} <name> <format>");
            let (x, rest) = fixed(2, &u)?;
            let value = fmt_arg(&x[1], aname)?;
            let name = x[0].clone();
            let act = if aname == "set-header" {
                HttpAction::SetHeader { name, value }
            } else {
                HttpAction::AddHeader { name, value }
            };
            (act, rest, u)
        }
        "del-header" => {
            let u = "del-header <name> [-m str|beg|end|sub|reg]".to_string();
            let (args, rest) = split_cond(a, 0);
            if args.is_empty() {
                return Err((
                    "'del-header' expects a header name".into(),
                    format!("expected syntax: {kw} {u}"),
                ));
            }
            (HttpAction::DelHeader(name_match(args)?), rest, u)
        }
        "replace-header" | "replace-value" => {
            let u = format!("{aname} <name> <regex> <format>");
            let (x, rest) = fixed(3, &u)?;
            let regex = RegexBuilder::new(&x[1]).build().map_err(|e| {
                (
                    format!("invalid regex '{}': {e}", x[1]),
                    "fix the regular expression (Rust regex syntax)".to_string(),
                )
            })?;
            let replace = fmt_arg(&x[2], aname)?;
            let name = x[0].to_ascii_lowercase();
            let act = if aname == "replace-header" {
                HttpAction::ReplaceHeader {
                    name,
                    regex,
                    replace,
                }
            } else {
                HttpAction::ReplaceValue {
                    name,
                    regex,
                    replace,
                }
            };
            (act, rest, u)
        }
        "set-path" | "set-query" | "set-uri" | "set-method" => {
            let u = format!("{aname} <format>");
            let (x, rest) = fixed(1, &u)?;
            let f = fmt_arg(&x[0], aname)?;
            let act = match aname {
                "set-path" => HttpAction::SetPath(f),
                "set-query" => HttpAction::SetQuery(f),
                "set-uri" => HttpAction::SetUri(f),
                _ => HttpAction::SetMethod(f),
            };
            (act, rest, u)
        }
        "redirect" => {
            let (r, used) = parse_redirect(a)?;
            (
                HttpAction::Redirect(r),
                &a[used..],
                "redirect …".to_string(),
            )
        }
        "deny" | "return" => {
            let (args, rest) = split_cond(a, 0);
            // HAProxy: `http-request deny` answers 403, `http-response deny` 502.
            let deny_default = if dir == Dir::Request { 403 } else { 502 };
            let r = parse_return(
                args,
                aname == "deny",
                deny_default,
                ctx.http_errors,
                ctx.bufsize,
            )?;
            let act = if aname == "deny" {
                HttpAction::Deny(r)
            } else {
                HttpAction::Return(r)
            };
            (act, rest, aname.to_string())
        }
        "allow" => (HttpAction::Allow, a, "allow".to_string()),
        "use-service" => {
            let u = "use-service prometheus-exporter".to_string();
            let (x, rest) = fixed(1, &u)?;
            (HttpAction::UseService(service(&x[0])?), rest, u)
        }
        "set-status" => {
            let u = "set-status <code> [reason <text>]".to_string();
            let (x, mut rest) = fixed(1, &u)?;
            let st = status(&x[0], 100, 999)?;
            let mut reason = None;
            if rest.first().map(String::as_str) == Some("reason") {
                let Some(r) = rest.get(1) else {
                    return Err((
                        "'reason' expects a text".into(),
                        format!("expected syntax: {kw} {u}"),
                    ));
                };
                reason = Some(r.clone());
                rest = &rest[2..];
            }
            (HttpAction::SetStatus { status: st, reason }, rest, u)
        }
        "set-var" | "set-var-fmt" | "unset-var" => {
            let u = format!(
                "{aname}(<scope>.<name>){}",
                if aname == "unset-var" { "" } else { " <expr>" }
            );
            let inner = paren
                .and_then(|p| p.strip_prefix('('))
                .and_then(|p| p.strip_suffix(')'))
                .ok_or_else(|| {
                    (
                        format!("'{aname}' needs a variable name in parentheses"),
                        format!("expected syntax: {kw} {u}"),
                    )
                })?;
            if inner.contains(',') {
                return Err((
                    format!("conditions inside '{aname}(…)' are not supported yet"),
                    format!("expected syntax: {kw} {u}"),
                ));
            }
            let var = parse_var_name(inner)?;
            if aname == "unset-var" {
                (HttpAction::UnsetVar(var), a, u)
            } else {
                let (x, rest) = fixed(1, &u)?;
                let act = if aname == "set-var" {
                    HttpAction::SetVar {
                        var,
                        expr: parse_sample(&x[0])?,
                    }
                } else {
                    HttpAction::SetVarFmt {
                        var,
                        format: fmt_arg(&x[0], aname)?,
                    }
                };
                (act, rest, u)
            }
        }
        "set-map" | "del-map" | "add-acl" | "del-acl" => {
            let two = aname == "set-map";
            let u = format!(
                "{aname}(<file>) <key format>{}",
                if two { " <value format>" } else { "" }
            );
            let file = paren
                .and_then(|p| p.strip_prefix('('))
                .and_then(|p| p.strip_suffix(')'))
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    (
                        format!("'{aname}' needs a file name in parentheses"),
                        format!("expected syntax: {kw} {u}"),
                    )
                })?;
            let is_map = aname.ends_with("-map");
            let file = super::pattern::register(file, is_map, None, aname)?.file;
            let (x, rest) = fixed(if two { 2 } else { 1 }, &u)?;
            let key = fmt_arg(&x[0], aname)?;
            let act = match aname {
                "set-map" => HttpAction::SetMap {
                    file,
                    key,
                    value: fmt_arg(&x[1], aname)?,
                },
                "del-map" => HttpAction::DelMap { file, key },
                "add-acl" => HttpAction::AddAcl { file, key },
                _ => HttpAction::DelAcl { file, key },
            };
            (act, rest, u)
        }
        _ => unreachable!("action list checked above"),
    };
    if paren.is_some()
        && !matches!(
            aname,
            "set-var" | "set-var-fmt" | "unset-var" | "set-map" | "del-map" | "add-acl" | "del-acl"
        )
    {
        return Err((
            format!("unexpected parentheses after '{aname}'"),
            format!("expected syntax: {kw} {usage}"),
        ));
    }
    let cond = cond(rest, ctx.acls, loc, &format!("{kw} {usage}"))?;
    Ok(HttpRule {
        action,
        cond,
        location: loc.clone(),
    })
}
