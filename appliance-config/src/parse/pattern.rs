//! The registry of pattern files (maps and ACL `-f` files) built while a
//! configuration is parsed.
//!
//! Owns: [`map_converter`] (the `map*` converters), [`register`] (load a file on
//! first use, add a use, check every entry against it), the line reader for map and
//! ACL files, and [`take`] (hands the files to the finished configuration). The registry is a per-thread value reset by
//! [`reset`] when a load starts: parsers of sample expressions are free functions
//! that do not carry a context, and one load runs on one thread. [`set_location`]
//! records the configuration line being parsed, for `show map`'s description.
//!
//! Paths are resolved as HAProxy resolves them: relative to the working directory.
//! Invariants: one entry per file name; a file that cannot be read, or a line that
//! does not fit a use, is an error naming the pattern file's `file:line`.

use std::cell::RefCell;

use super::acl::ip_pattern;
use super::sample::arg_count;
use super::units::Fail;
use crate::error::Location;
use crate::model::pattern::{MapOutput, PatEntry, PatRef, PatternFile, PatternUse};
use crate::model::sample::{Converter, MatchMethod};

#[derive(Default)]
struct Registry {
    files: Vec<PatternFile>,
    loc: Option<Location>,
}

thread_local! {
    static REG: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Starts a new configuration load.
pub(crate) fn reset() {
    REG.with(|r| *r.borrow_mut() = Registry::default());
}

/// The configuration line now being parsed.
pub(crate) fn set_location(loc: &Location) {
    REG.with(|r| r.borrow_mut().loc = Some(loc.clone()));
}

/// The files registered by this load, in `#id` order.
pub(crate) fn take() -> Vec<PatternFile> {
    REG.with(|r| std::mem::take(&mut r.borrow_mut().files))
}

/// Reads `path`: one entry per line, blanks around trimmed, empty and `#` lines
/// skipped; for maps the key ends at the first blank and the value is the rest.
fn read(path: &str, is_map: bool) -> Result<Vec<PatEntry>, Fail> {
    let text = std::fs::read(path).map_err(|e| {
        (
            format!("failed to open pattern file '{path}': {e}"),
            "check the path (relative paths are relative to the working directory, as in HAProxy)"
                .into(),
        )
    })?;
    let text = String::from_utf8(text).map_err(|_| {
        (
            format!("pattern file '{path}' is not valid UTF-8"),
            "save the file as UTF-8 text".into(),
        )
    })?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (key, value) = if is_map {
            match t.split_once([' ', '\t']) {
                Some((k, v)) => (k, v.trim()),
                None => (t, ""),
            }
        } else {
            (t, "")
        };
        out.push(PatEntry {
            key: key.to_string(),
            value: value.to_string(),
            line: i as u32 + 1,
        });
    }
    Ok(out)
}

/// Checks one key for a match method (`None`: it fits), the message otherwise.
pub fn check_key(method: MatchMethod, key: &str) -> Option<String> {
    match method {
        MatchMethod::Ip => ip_pattern(key).err().map(|e| e.0),
        MatchMethod::Int | MatchMethod::Len => {
            let ok = match key.split_once(':') {
                Some((a, b)) => {
                    (a.is_empty() || a.parse::<i64>().is_ok())
                        && (b.is_empty() || b.parse::<i64>().is_ok())
                        && !(a.is_empty() && b.is_empty())
                }
                None => key.parse::<i64>().is_ok(),
            };
            (!ok).then(|| format!("'{key}' is not a valid integer pattern"))
        }
        MatchMethod::Reg => regex::bytes::Regex::new(key)
            .err()
            .map(|e| format!("invalid regex '{key}': {e}")),
        _ => None,
    }
}

/// Checks one map value for an output type.
pub fn check_value(output: Option<MapOutput>, value: &str) -> Option<String> {
    match output {
        Some(MapOutput::Int) if value.trim().parse::<i64>().is_err() => {
            Some(format!("map value '{value}' is not an integer"))
        }
        Some(MapOutput::Ip) if value.trim().parse::<std::net::IpAddr>().is_err() => {
            Some(format!("map value '{value}' is not an IP address"))
        }
        _ => None,
    }
}

fn check_use(f: &PatternFile, u: &PatternUse) -> Result<(), Fail> {
    for e in &f.entries {
        let bad = check_key(u.method, &e.key).or_else(|| check_value(u.output, &e.value));
        if let Some(m) = bad {
            return Err((
                format!("{m} (in pattern file {}:{})", f.name, e.line),
                format!(
                    "fix line {} of '{}'; '-m {}' needs a valid pattern on every line",
                    e.line,
                    f.name,
                    u.method.name()
                ),
            ));
        }
        if u.output.is_some() && e.value.is_empty() && u.output != Some(MapOutput::Str) {
            return Err((
                format!(
                    "map key '{}' has no value (in pattern file {}:{})",
                    e.key, f.name, e.line
                ),
                "write 'key value' on each line".into(),
            ));
        }
    }
    Ok(())
}

/// Registers a use of file `name` by `user` (`map`, `acl`, `set-map` …): loads the
/// file on first use, checks its entries against `u`, and returns the reference
/// (`u == None`: actions, which only name the file; `use_idx` is then meaningless).
pub(crate) fn register(
    name: &str,
    is_map: bool,
    u: Option<PatternUse>,
    user: &str,
) -> Result<PatRef, Fail> {
    if name.is_empty() {
        return Err((
            format!("'{user}' needs a file name"),
            "name a map or pattern file, e.g. '/etc/sluice/hosts.map'".into(),
        ));
    }
    REG.with(|r| {
        let mut r = r.borrow_mut();
        let loc = r.loc.clone().unwrap_or_else(|| Location::new("", 0));
        let file = match r.files.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                let entries = read(name, is_map)?;
                r.files.push(PatternFile {
                    name: name.to_string(),
                    is_map,
                    is_acl: !is_map,
                    entries,
                    uses: vec![],
                    first_use: loc,
                    first_user: user.to_string(),
                });
                r.files.len() - 1
            }
        };
        let f = &mut r.files[file];
        if is_map && !f.is_map {
            // An ACL file now read as a map: re-split its lines into key and value.
            f.entries = read(name, true)?;
        }
        f.is_map |= is_map;
        f.is_acl |= !is_map;
        let Some(u) = u else {
            return Ok(PatRef { file, use_idx: 0 });
        };
        let use_idx = match f.uses.iter().position(|x| *x == u) {
            Some(i) => i,
            None => {
                check_use(f, &u)?;
                f.uses.push(u);
                f.uses.len() - 1
            }
        };
        Ok(PatRef { file, use_idx })
    })
}

/// `map[_<match>[_<output>]](<file>[,<default>])`.
pub(crate) fn map_converter(name: &str, a: &[String]) -> Result<Converter, Fail> {
    let usage = format!("{name}(<map file>[,<default value>])");
    let mut parts = name.split('_').skip(1);
    let method = match parts.next() {
        None | Some("str") => MatchMethod::Str,
        Some("beg") => MatchMethod::Beg,
        Some("end") => MatchMethod::End,
        Some("sub") => MatchMethod::Sub,
        Some("dom") => MatchMethod::Dom,
        Some("dir") => MatchMethod::Dir,
        Some("reg") => MatchMethod::Reg,
        Some("ip") => MatchMethod::Ip,
        Some("int") => MatchMethod::Int,
        Some("regm") => {
            return Err((
                "converter 'map_regm' is not supported yet".into(),
                "use 'map_reg' (the value is returned as written, without back-references)".into(),
            ))
        }
        Some(m) => {
            return Err((
                format!("unknown match type '{m}' in converter '{name}'"),
                "map_str, map_beg, map_end, map_sub, map_dom, map_dir, map_reg, map_ip, map_int"
                    .into(),
            ))
        }
    };
    let output = match parts.next() {
        None | Some("str") => MapOutput::Str,
        Some("int") => MapOutput::Int,
        Some("ip") => MapOutput::Ip,
        Some(o) => {
            return Err((
                format!("unknown output type '{o}' in converter '{name}'"),
                "the output type is str, int or ip, e.g. 'map_str_int'".into(),
            ))
        }
    };
    if parts.next().is_some() {
        return Err((
            format!("unknown converter '{name}'"),
            format!("write '{usage}'"),
        ));
    }
    arg_count(name, a, 1, 2, &usage)?;
    let default = a.get(1).cloned();
    if let Some(d) = &default {
        if let Some(m) = check_value(Some(output), d) {
            return Err((
                format!("default of '{name}': {m}"),
                format!("write '{usage}'"),
            ));
        }
    }
    let pat = register(
        &a[0],
        true,
        Some(PatternUse {
            method,
            ignore_case: false,
            output: Some(output),
        }),
        name,
    )?;
    Ok(Converter::Map {
        pat,
        output,
        default,
    })
}
