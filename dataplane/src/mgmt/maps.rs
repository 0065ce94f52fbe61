//! `show|get|set|add|del|clear map` and the same for `acl`: HAProxy's commands on
//! map and ACL files (pattern references) at run time.
//!
//! Owns: [`map_command`]. Reads (`show`, `get`) are answered by worker 0 from its own
//! pattern store (every worker holds the same entries); changes are one
//! [`Update`] broadcast to every worker through its mailbox, and the command waits
//! (at most [`super::GATHER_WAIT`]) for the workers to say whether the key was found.
//! Invariants: the file is resolved (`<file>` or `#<id>`) and the key and value are
//! checked against every use of the file before anything is sent, so a refused
//! command changes nothing; changes need the `operator` level, as in HAProxy.

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::Instant;

use appliance_config::model::pattern::PatternFile;
use appliance_config::CliLevel;

use super::Cli;
use crate::maps::{new_id, with_store, Update};
use crate::proxy::Message;

/// Map commands (`true`) or ACL commands (`false`).
#[derive(Clone, Copy)]
struct Kind(bool);

impl Kind {
    fn word(self) -> &'static str {
        if self.0 {
            "map"
        } else {
            "acl"
        }
    }

    fn unknown(self) -> String {
        if self.0 {
            "Unknown map identifier. Please use #<id> or <file>.\n".into()
        } else {
            "Unknown ACL identifier. Please use #<id> or <file>.\n".into()
        }
    }

    fn fits(self, f: &PatternFile) -> bool {
        if self.0 {
            f.is_map
        } else {
            f.is_acl
        }
    }
}

/// Resolves `<file>` or `#<id>`.
fn resolve(cli: &Cli, kind: Kind, arg: Option<&str>) -> Result<usize, String> {
    let files = &cli.shared.config.pattern_files;
    let arg = arg.ok_or_else(|| kind.unknown())?;
    let found = match arg.strip_prefix('#') {
        Some(n) => n.parse::<usize>().ok().filter(|&i| i < files.len()),
        None => files.iter().position(|f| f.name == arg),
    };
    found
        .filter(|&i| kind.fits(&files[i]))
        .ok_or_else(|| kind.unknown())
}

/// Runs `f` on worker 0's pattern store and returns its answer.
fn ask_worker0<T: Send + 'static>(
    cli: &Cli,
    f: impl FnOnce(&mut crate::maps::PatternStore) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let m = cli.mailboxes.first()?;
    m.send(Message::Run(Box::new(move |_| {
        let _ = tx.send(with_store(f));
    })))
    .ok()?;
    rx.recv_timeout(super::GATHER_WAIT).ok()
}

/// Sends `up` to every worker (retrying while a mailbox is full) and collects what
/// they found. `Ok` when at least one worker applied it.
fn broadcast(cli: &Cli, up: Update) -> Result<(), String> {
    let up = crate::maps::sequence(up);
    let (tx, rx) = mpsc::channel();
    let deadline = Instant::now() + super::GATHER_WAIT;
    let mut asked = 0;
    for m in &cli.mailboxes {
        let mut msg = Message::Pattern(up.clone(), Some(tx.clone()));
        loop {
            match m.send(msg) {
                Ok(()) => {
                    asked += 1;
                    break;
                }
                Err(back) if Instant::now() < deadline => {
                    msg = back;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(_) => break,
            }
        }
    }
    drop(tx);
    let mut found = false;
    let mut answers = 0;
    while answers < asked {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(r) => {
                answers += 1;
                found |= r.is_ok();
            }
            Err(_) => break,
        }
    }
    if answers < cli.mailboxes.len() {
        return Err(format!(
            "Update sent to {answers} of {} workers only (mailbox full or worker busy).\n",
            cli.mailboxes.len()
        ));
    }
    if found {
        Ok(())
    } else {
        Err(String::new())
    }
}

/// Checks `key` (unless `None`) and `value` against every use of file `fi`.
fn check(cli: &Cli, fi: usize, key: Option<&str>, value: &str) -> Result<(), String> {
    let f = &cli.shared.config.pattern_files[fi];
    for u in &f.uses {
        if let Some(m) = key
            .and_then(|k| appliance_config::check_key(u.method, k))
            .or_else(|| appliance_config::check_value(u.output, value))
        {
            return Err(format!("Failed to add an entry: {m}.\n"));
        }
    }
    Ok(())
}

/// `show map|acl` without argument: the files and their ids.
fn list(cli: &Cli, kind: Kind) -> String {
    let files = &cli.shared.config.pattern_files;
    let counts = ask_worker0(cli, |s| {
        (0..)
            .map_while(|i| s.file(i).map(|f| f.len()))
            .collect::<Vec<_>>()
    })
    .unwrap_or_default();
    let mut out = String::from("# id (file) description\n");
    for (i, f) in files.iter().enumerate().filter(|(_, f)| kind.fits(f)) {
        let _ = writeln!(
            out,
            "{i} ({n}) pattern loaded from file '{n}' used by {w} at file '{cf}' line {l}. entry_cnt={c}",
            n = f.name,
            w = kind.word(),
            cf = f.first_use.file,
            l = f.first_use.line,
            c = counts.get(i).copied().unwrap_or(0),
        );
    }
    out
}

/// `show map|acl <ref>`: `0x<id> key[ value]` per entry, oldest first.
fn show(cli: &Cli, kind: Kind, fi: usize) -> String {
    let is_map = kind.0;
    ask_worker0(cli, move |s| {
        let mut out = String::new();
        if let Some(f) = s.file(fi) {
            for (id, e) in f.entries() {
                if is_map {
                    let _ = writeln!(out, "0x{id:x} {} {}", e.key, e.value);
                } else {
                    let _ = writeln!(out, "0x{id:x} {}", e.key);
                }
            }
        }
        out
    })
    .unwrap_or_else(|| "Timeout while reading the workers' maps.\n".into())
}

/// `get map|acl <ref> <sample>`: one line per use of the file.
fn get(cli: &Cli, kind: Kind, fi: usize, sample: String) -> String {
    let is_map = kind.0;
    let uses: Vec<_> = cli.shared.config.pattern_files[fi]
        .uses
        .iter()
        .copied()
        .enumerate()
        .collect();
    ask_worker0(cli, move |s| {
        let mut out = String::new();
        for (ui, u) in uses {
            if is_map != u.output.is_some() {
                continue;
            }
            let p = appliance_config::model::pattern::PatRef {
                file: fi,
                use_idx: ui,
            };
            let smp = crate::rules::Sample::Str(sample.as_bytes());
            let hit = s.lookup(p, &smp);
            let idx = match u.method.name() {
                "str" | "beg" | "ip" | "end" => "tree",
                _ => "list",
            };
            let case = if u.ignore_case {
                "insensitive"
            } else {
                "sensitive"
            };
            let _ = write!(out, "type={}, case={case}, ", u.method.name());
            let e = hit.and_then(|id| s.file(fi).and_then(|f| f.entry(id)));
            match (e, is_map) {
                (Some(e), true) => {
                    let _ = writeln!(
                        out,
                        "found=yes, idx={idx}, key=\"{}\", value=\"{}\", type=\"{}\"",
                        e.key,
                        e.value,
                        u.output.map_or("str", |o| o.name())
                    );
                }
                (Some(e), false) => {
                    let _ = writeln!(out, "match=yes, idx={idx}, pattern=\"{}\"", e.key);
                }
                (None, true) => out.push_str("found=no\n"),
                (None, false) => out.push_str("match=no\n"),
            }
        }
        out
    })
    .unwrap_or_else(|| "Timeout while reading the workers' maps.\n".into())
}

fn entry_id(s: &str) -> Option<u64> {
    let h = s.strip_prefix("#0x").or_else(|| s.strip_prefix("#0X"))?;
    u64::from_str_radix(h, 16).ok()
}

/// Adds one `key value` (maps) or `pattern` (ACLs).
fn add_one(cli: &Cli, fi: usize, key: &str, value: &str) -> Result<(), String> {
    check(cli, fi, Some(key), value)?;
    broadcast(
        cli,
        Update::Add {
            file: fi,
            id: new_id(),
            key: key.into(),
            value: value.into(),
        },
    )
}

/// Handles a `map` or `acl` command (`w[1]` is `map` or `acl`); `None` when `w` is
/// not one.
pub(crate) fn map_command(
    cli: &Cli,
    level: CliLevel,
    w: &[&str],
    payload: Option<&str>,
) -> Option<String> {
    let (verb, kind) = match w {
        [v @ ("show" | "get" | "set" | "add" | "del" | "clear"), "map", ..] => (*v, Kind(true)),
        [v @ ("show" | "get" | "set" | "add" | "del" | "clear"), "acl", ..] => (*v, Kind(false)),
        _ => return None,
    };
    let rest = &w[2..];
    let kw = kind.word();
    if matches!(verb, "set" | "add" | "del" | "clear") && level < CliLevel::Operator {
        return Some(super::commands::DENIED.into());
    }
    if verb == "show" && rest.is_empty() {
        return Some(list(cli, kind));
    }
    if rest.iter().any(|a| a.starts_with('@')) {
        return Some(
            "Versioned updates (@<version>, 'prepare'/'commit map') are not supported; changes apply at once.\n"
                .into(),
        );
    }
    let fi = match resolve(cli, kind, rest.first().copied()) {
        Ok(i) => i,
        Err(e) => return Some(e),
    };
    let args = &rest[1..];
    let answer = match verb {
        "show" => show(cli, kind, fi),
        "get" => match args {
            [] => format!("Missing {kw} identifier and/or key.\n"),
            a => get(cli, kind, fi, a.join(" ")),
        },
        "clear" => match broadcast(cli, Update::Clear { file: fi }) {
            Ok(()) => String::new(),
            Err(e) => e,
        },
        "del" => match args {
            [k] => {
                let up = match entry_id(k) {
                    Some(id) => Update::DelId { file: fi, id },
                    None => Update::Del {
                        file: fi,
                        key: (*k).into(),
                    },
                };
                match broadcast(cli, up) {
                    Ok(()) => String::new(),
                    Err(e) if e.is_empty() => "Key not found.\n".into(),
                    Err(e) => e,
                }
            }
            _ => format!(
                "This command expects two parameters: {} identifier and key.\n",
                if kind.0 { "map" } else { "ACL" }
            ),
        },
        "set" => {
            if !kind.0 {
                return Some(
                    "'set acl' does not exist: ACL patterns have no value; use 'del acl' and 'add acl'.\n"
                        .into(),
                );
            }
            match args {
                [k, v @ ..] if !v.is_empty() => {
                    let value = v.join(" ");
                    if let Err(e) = check(cli, fi, None, &value)
                        .map_err(|e| e.replace("add an entry", "update an entry"))
                    {
                        return Some(e);
                    }
                    let up = match entry_id(k) {
                        Some(id) => Update::SetId {
                            file: fi,
                            id,
                            value,
                        },
                        None => Update::Set {
                            file: fi,
                            key: (*k).into(),
                            value,
                        },
                    };
                    match broadcast(cli, up) {
                        Ok(()) => String::new(),
                        Err(e) if e.is_empty() => "Pattern not found.\n".into(),
                        Err(e) => e,
                    }
                }
                _ => "'set map' expects three parameters: map identifier, key and value.\n".into(),
            }
        }
        _ => add(cli, kind, fi, args, payload),
    };
    Some(answer)
}

/// `add map|acl <ref> <key> [<value>]` and the payload form `add map <ref> <<`.
fn add(cli: &Cli, kind: Kind, fi: usize, args: &[&str], payload: Option<&str>) -> String {
    let usage = if kind.0 {
        "'add map' expects three parameters: map identifier, key and value (or a payload of 'key value' lines).\n"
    } else {
        "'add acl' expects two parameters: ACL identifier and pattern (or a payload of patterns).\n"
    };
    let split = |line: &str| -> (String, String) {
        let line = line.trim();
        if kind.0 {
            match line.split_once([' ', '\t']) {
                Some((k, v)) => (k.to_string(), v.trim().to_string()),
                None => (line.to_string(), String::new()),
            }
        } else {
            (line.to_string(), String::new())
        }
    };
    let items: Vec<(String, String)> = match (args, payload) {
        ([], Some(p)) => p
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(split)
            .collect(),
        ([k, v @ ..], None) if kind.0 && !v.is_empty() => vec![(k.to_string(), v.join(" "))],
        ([k], None) if !kind.0 => vec![(k.to_string(), String::new())],
        _ => return usage.into(),
    };
    if items.is_empty() || (kind.0 && items.iter().any(|(_, v)| v.is_empty())) {
        return usage.into();
    }
    // Check everything first: a refused payload adds nothing.
    for (k, v) in &items {
        if let Err(e) = check(cli, fi, Some(k), v) {
            return e;
        }
    }
    for (k, v) in &items {
        if let Err(e) = add_one(cli, fi, k, v) {
            return if e.is_empty() {
                "Failed to add an entry.\n".into()
            } else {
                e
            };
        }
    }
    String::new()
}
