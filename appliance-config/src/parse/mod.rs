//! The loader: reads files, runs the preprocessor, splits lines into words, tracks
//! sections and hands each line to the keyword parsers.
//!
//! Owns: [`Loader`], the per-line context [`Ln`], and the shared state [`Ctx`]
//! (errors, diagnostics, environment overlay from `setenv`, the `global` being
//! built). Invariants: a line is handled only when every enclosing `.if` branch is
//! active; an error never stops the load (every line is still checked), only the
//! final result; a section sluice does not support is reported once, at its header,
//! and its body is skipped.

pub(crate) mod acl;
pub(crate) mod addr;
pub(crate) mod bind;
pub(crate) mod errorfile;
pub(crate) mod format;
pub(crate) mod global;
pub(crate) mod http;
pub(crate) mod netstack;
pub(crate) mod options;
pub(crate) mod pattern;
pub(crate) mod proxy;
pub(crate) mod refused;
pub(crate) mod sample;
mod server;
pub(crate) mod stats;
pub(crate) mod tls;
pub(crate) mod units;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::cond::eval_cond_text;
use crate::error::{did_you_mean, ConfigError, ConfigErrors, Diagnostic, Location, Severity};
use crate::model::{Global, HttpErrors};
use crate::words::{split_line, LineCtx};
use proxy::{Kind, ProxyConf};
use units::Fail;

/// One configuration line: where it is and its words.
pub(crate) struct Ln<'a> {
    /// Where.
    pub loc: Location,
    /// The words (at least one).
    pub w: &'a [String],
}

impl Ln<'_> {
    /// An error for keyword `kw` from a `(message, hint)` pair.
    pub fn fail(&self, kw: &str, f: Fail) -> ConfigError {
        ConfigError::new(Some(self.loc.clone()), kw, f.0, f.1)
    }

    /// An error for keyword `kw`.
    pub fn err(&self, kw: &str, msg: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        ConfigError::new(Some(self.loc.clone()), kw, msg, hint)
    }

    /// Word `i`, or "" when absent.
    pub fn arg(&self, i: usize) -> &str {
        self.w.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Result of a keyword parser.
pub(crate) type R<T = ()> = Result<T, ConfigError>;

/// State shared by every keyword parser.
pub(crate) struct Ctx<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    /// `setenv`/`presetenv`/`unsetenv` changes (None = unset).
    env_overlay: HashMap<String, Option<String>>,
    pub errors: Vec<ConfigError>,
    pub truncated: bool,
    pub diags: Vec<Diagnostic>,
    pub global: Global,
    /// `http-errors` sections declared so far (names → nothing; pages in `http_errors`).
    pub http_error_names: BTreeMap<String, ()>,
    pub http_errors: Vec<HttpErrors>,
    /// `tune.h2.{fe,be}.{initial-window-size,max-concurrent-streams}` seen: the
    /// generic `tune.h2.*` keyword no longer overrides that side's value.
    pub h2_side_set: [[bool; 2]; 2],
}

impl Ctx<'_> {
    /// Looks up an environment variable, honouring `setenv` and friends.
    pub fn getenv(&self, name: &str) -> Option<String> {
        match self.env_overlay.get(name) {
            Some(v) => v.clone(),
            None => (self.env)(name),
        }
    }

    /// Sets (or unsets) a variable for the rest of the load.
    pub fn setenv(&mut self, name: &str, value: Option<String>) {
        self.env_overlay.insert(name.to_string(), value);
    }

    /// Records an error (up to the limit).
    pub fn error(&mut self, e: ConfigError) {
        if self.errors.len() < ConfigErrors::LIMIT {
            self.errors.push(e);
        } else {
            self.truncated = true;
        }
    }

    /// Records a warning.
    pub fn warn(&mut self, loc: Option<&Location>, msg: impl Into<String>) {
        self.diags.push(Diagnostic {
            severity: Severity::Warning,
            location: loc.cloned(),
            message: msg.into(),
        });
    }
}

/// The section being parsed.
enum Cur {
    None,
    Global,
    Netstack,
    Proxy(Box<ProxyConf>),
    HttpErrors(HttpErrors),
    Skip,
}

/// `.if` nesting state for one level.
struct IfLevel {
    /// The enclosing level is active.
    parent_active: bool,
    /// Some branch of this level was already taken.
    taken: bool,
    /// The current branch is active.
    active: bool,
    /// `.else` seen.
    in_else: bool,
    /// Where the `.if` is.
    loc: Location,
}

const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "http-errors",
    "netstack",
];

/// Loads files into proxies and the global section.
pub(crate) struct Loader<'e> {
    pub ctx: Ctx<'e>,
    cur: Cur,
    section_kw: String,
    pub proxies: Vec<ProxyConf>,
    pub defaults: Vec<ProxyConf>,
    last_defaults: Option<usize>,
}

impl<'e> Loader<'e> {
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        pattern::reset();
        Loader {
            ctx: Ctx {
                env,
                env_overlay: HashMap::new(),
                errors: vec![],
                truncated: false,
                diags: vec![],
                global: Global::default(),
                http_error_names: BTreeMap::new(),
                http_errors: vec![],
                h2_side_set: [[false; 2]; 2],
            },
            cur: Cur::None,
            section_kw: String::new(),
            proxies: vec![],
            defaults: vec![],
            last_defaults: None,
        }
    }

    /// Expands a list of paths: directories give their `*.cfg` files in lexical order.
    pub fn expand_paths(&mut self, paths: &[PathBuf]) -> Vec<PathBuf> {
        let mut out = vec![];
        for p in paths {
            if p.is_dir() {
                match std::fs::read_dir(p) {
                    Ok(rd) => {
                        let mut files: Vec<PathBuf> = rd
                            .filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|f| f.is_file() && f.extension().is_some_and(|e| e == "cfg"))
                            .collect();
                        files.sort();
                        if files.is_empty() {
                            self.ctx.warn(
                                None,
                                format!("directory '{}' contains no '*.cfg' file", p.display()),
                            );
                        }
                        out.extend(files);
                    }
                    Err(e) => self.ctx.error(ConfigError::new(
                        None,
                        "",
                        format!("cannot read directory '{}': {e}", p.display()),
                        "check the path and its permissions",
                    )),
                }
            } else {
                out.push(p.clone());
            }
        }
        out
    }

    /// Loads one file from disk.
    pub fn load_file(&mut self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.load_text(&path.display().to_string(), &text),
                Err(_) => self.ctx.error(ConfigError::new(
                    Some(Location::new(path.display().to_string(), 0)),
                    "",
                    "the file is not valid UTF-8",
                    "save the configuration as UTF-8 text",
                )),
            },
            Err(e) => self.ctx.error(ConfigError::new(
                None,
                "",
                format!(
                    "could not open configuration file '{}': {e}",
                    path.display()
                ),
                "check the path given with -f and its permissions",
            )),
        }
    }

    /// Loads one configuration text named `file`.
    pub fn load_text(&mut self, file: &str, text: &str) {
        let mut ifs: Vec<IfLevel> = vec![];
        for (n, raw) in text.split('\n').enumerate() {
            let loc = Location::new(file, n as u32 + 1);
            let active = ifs.last().is_none_or_active();
            let lctx = LineCtx {
                file,
                line: loc.line,
                section: &self.section_kw,
            };
            let env = |name: &str| self.ctx.getenv(name);
            let split = split_line(raw, &env, lctx);
            let split = match split {
                Ok(s) => s,
                Err(e) => {
                    if active || raw.trim_start().starts_with('.') {
                        self.ctx
                            .error(ConfigError::new(Some(loc), "", e.message, e.hint));
                    }
                    continue;
                }
            };
            let words = split.words;
            if words.is_empty() {
                continue;
            }
            if words[0].starts_with('.') {
                self.directive(&words, loc, &mut ifs);
                continue;
            }
            if !active {
                continue;
            }
            for w in split.warnings {
                self.ctx.warn(Some(&loc), w);
            }
            let ln = Ln { loc, w: &words };
            self.line(&ln);
        }
        for lvl in ifs {
            self.ctx.error(ConfigError::new(
                Some(lvl.loc),
                ".if",
                "missing '.endif' at the end of the file",
                "close every '.if' block with '.endif' in the same file",
            ));
        }
    }

    fn directive(&mut self, w: &[String], loc: Location, ifs: &mut Vec<IfLevel>) {
        let active = ifs.last().is_none_or_active();
        let kw = w[0].as_str();
        let cond_text = w[1..].join(" ");
        let env = |name: &str| self.ctx.getenv(name);
        match kw {
            ".if" => {
                let v = if active {
                    match eval_cond_text(&cond_text, &env) {
                        Ok(v) => v,
                        Err(e) => {
                            self.ctx.error(ConfigError::new(
                                Some(loc.clone()),
                                ".if",
                                e,
                                "conditions use defined(), feature(), streq(), strneq(), version_atleast(), version_before(), enabled(), !, &&, || and parentheses",
                            ));
                            false
                        }
                    }
                } else {
                    false
                };
                ifs.push(IfLevel {
                    parent_active: active,
                    taken: v,
                    active: v && active,
                    in_else: false,
                    loc,
                });
            }
            ".elif" | ".else" => {
                let Some(lvl) = ifs.last_mut() else {
                    self.ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        format!("'{kw}' without a matching '.if'"),
                        "open the block with '.if <condition>'",
                    ));
                    return;
                };
                if lvl.in_else {
                    self.ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        format!("'{kw}' after '.else'"),
                        "'.else' must be the last branch of its '.if' block",
                    ));
                    return;
                }
                if kw == ".else" {
                    if w.len() > 1 {
                        self.ctx.error(ConfigError::new(
                            Some(loc.clone()),
                            kw,
                            "'.else' takes no argument",
                            "use '.elif <condition>' for a conditional branch",
                        ));
                    }
                    lvl.in_else = true;
                    lvl.active = lvl.parent_active && !lvl.taken;
                    lvl.taken = true;
                } else if lvl.parent_active && !lvl.taken {
                    match eval_cond_text(&cond_text, &env) {
                        Ok(v) => {
                            lvl.active = v;
                            lvl.taken = v;
                        }
                        Err(e) => {
                            lvl.active = false;
                            self.ctx.error(ConfigError::new(
                                Some(loc),
                                ".elif",
                                e,
                                "conditions use defined(), feature(), streq(), strneq(), version_atleast(), version_before(), enabled(), !, &&, || and parentheses",
                            ));
                        }
                    }
                } else {
                    lvl.active = false;
                }
            }
            ".endif" => {
                if ifs.pop().is_none() {
                    self.ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        "'.endif' without a matching '.if'",
                        "remove it or open the block with '.if <condition>'",
                    ));
                }
            }
            ".diag" | ".notice" | ".warning" | ".alert" => {
                if !active {
                    return;
                }
                let severity = match kw {
                    ".diag" => Severity::Diag,
                    ".notice" => Severity::Notice,
                    ".warning" => Severity::Warning,
                    _ => Severity::Alert,
                };
                self.ctx.diags.push(Diagnostic {
                    severity,
                    location: Some(loc.clone()),
                    message: cond_text.clone(),
                });
                if severity == Severity::Alert {
                    self.ctx.error(ConfigError::new(
                        Some(loc),
                        ".alert",
                        cond_text,
                        "the configuration stops here on purpose ('.alert' is fatal)",
                    ));
                }
            }
            _ => {
                if active {
                    self.ctx.error(ConfigError::new(
                        Some(loc),
                        kw,
                        format!("unknown directive '{kw}'"),
                        did_you_mean(
                            kw,
                            [
                                ".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning",
                                ".alert",
                            ],
                            "directives: .if .elif .else .endif .diag .notice .warning .alert",
                        ),
                    ));
                }
            }
        }
    }

    /// Closes the current section, storing what it built.
    pub fn close_section(&mut self) {
        match std::mem::replace(&mut self.cur, Cur::None) {
            Cur::Proxy(px) => {
                if px.kind == Kind::Defaults {
                    self.defaults.push(*px);
                    self.last_defaults = Some(self.defaults.len() - 1);
                } else {
                    self.proxies.push(*px);
                }
            }
            Cur::HttpErrors(h) => self.ctx.http_errors.push(h),
            Cur::None | Cur::Global | Cur::Netstack | Cur::Skip => {}
        }
    }

    fn line(&mut self, ln: &Ln<'_>) {
        let kw = ln.w[0].as_str();
        pattern::set_location(&ln.loc);
        if SECTIONS.contains(&kw) || refused::section(kw).is_some() {
            self.close_section();
            self.section_kw = kw.to_string();
            if let Err(e) = self.open_section(ln) {
                self.ctx.error(e);
                self.cur = Cur::Skip;
            }
            return;
        }
        let res = match &mut self.cur {
            Cur::None => Err(ln.err(
                kw,
                format!("unknown keyword '{kw}' out of section"),
                did_you_mean(kw, SECTIONS.iter().copied(), "start a section first: global, defaults, frontend, backend, listen, http-errors or netstack"),
            )),
            Cur::Skip => Ok(()),
            Cur::Global => global::global_kw(&mut self.ctx, ln),
            Cur::Netstack => netstack::netstack_kw(&mut self.ctx, ln),
            Cur::HttpErrors(h) => http_errors_kw(&self.ctx, h, ln),
            Cur::Proxy(px) => proxy::proxy_kw(&mut self.ctx, px, ln),
        };
        if let Err(e) = res {
            self.ctx.error(e);
        }
    }

    fn open_section(&mut self, ln: &Ln<'_>) -> R {
        let kw = ln.w[0].as_str();
        if let Some(why) = refused::section(kw) {
            return Err(ln.err(
                kw,
                format!("section '{kw}' is not supported by sluice"),
                why,
            ));
        }
        match kw {
            "global" => {
                if ln.w.len() > 1 {
                    return Err(ln.err(
                        kw,
                        "'global' takes no argument",
                        "write 'global' alone on its line",
                    ));
                }
                if self.ctx.global.location.is_none() {
                    self.ctx.global.location = Some(ln.loc.clone());
                }
                self.cur = Cur::Global;
                Ok(())
            }
            "netstack" => {
                netstack::open(&mut self.ctx, ln)?;
                self.cur = Cur::Netstack;
                Ok(())
            }
            "http-errors" => {
                let name = ln.arg(1);
                if name.is_empty() || ln.w.len() > 2 {
                    return Err(ln.err(
                        kw,
                        "'http-errors' expects exactly one name",
                        "write 'http-errors <name>'",
                    ));
                }
                if self.ctx.http_error_names.contains_key(name) {
                    return Err(ln.err(
                        kw,
                        format!("http-errors section '{name}' is declared twice"),
                        "give each http-errors section a unique name",
                    ));
                }
                self.ctx.http_error_names.insert(name.to_string(), ());
                self.cur = Cur::HttpErrors(HttpErrors {
                    name: name.to_string(),
                    pages: BTreeMap::new(),
                    location: ln.loc.clone(),
                });
                Ok(())
            }
            _ => {
                let kind = match kw {
                    "defaults" => Kind::Defaults,
                    "frontend" => Kind::Frontend,
                    "backend" => Kind::Backend,
                    _ => Kind::Listen,
                };
                let mut name = ln.arg(1).to_string();
                let mut rest = &ln.w[ln.w.len().min(2)..];
                if kind == Kind::Defaults && name == "from" {
                    name.clear();
                    rest = &ln.w[1..];
                }
                if kind != Kind::Defaults && name.is_empty() {
                    return Err(ln.err(
                        kw,
                        format!("'{kw}' expects a name"),
                        format!("write '{kw} <name>'"),
                    ));
                }
                if !name.is_empty() {
                    if let Some(c) = name
                        .chars()
                        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
                    {
                        return Err(ln.err(
                            kw,
                            format!("character '{c}' is not permitted in {kw} name '{name}'"),
                            "use letters, digits, '-', '_', '.' and ':'",
                        ));
                    }
                }
                let base = match rest {
                    [] => self.last_defaults.map(|i| self.defaults[i].clone()),
                    [from, dname] if from == "from" => {
                        match self.defaults.iter().rev().find(|d| &d.name == dname) {
                            Some(d) => Some(d.clone()),
                            None => {
                                let names: Vec<&str> = self
                                    .defaults
                                    .iter()
                                    .map(|d| d.name.as_str())
                                    .filter(|n| !n.is_empty())
                                    .collect();
                                return Err(ln.err(
                                    kw,
                                    format!("defaults section '{dname}' not found"),
                                    did_you_mean(
                                        dname,
                                        names,
                                        "declare 'defaults <name>' before the sections that use it",
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(ln.err(
                            kw,
                            format!("unexpected '{}' after the {kw} name", rest.join(" ")),
                            format!("write '{kw} <name> [from <defaults>]'"),
                        ));
                    }
                };
                let px = ProxyConf::new(kind, name, ln.loc.clone(), base);
                self.cur = Cur::Proxy(Box::new(px));
                Ok(())
            }
        }
    }
}

trait IfState {
    fn is_none_or_active(&self) -> bool;
}

impl IfState for Option<&IfLevel> {
    fn is_none_or_active(&self) -> bool {
        match self {
            None => true,
            Some(l) => l.active,
        }
    }
}

fn http_errors_kw(ctx: &Ctx<'_>, h: &mut HttpErrors, ln: &Ln<'_>) -> R {
    let kw = ln.w[0].as_str();
    if kw != "errorfile" {
        return Err(ln.err(
            kw,
            format!("unknown keyword '{kw}' in 'http-errors' section"),
            did_you_mean(
                kw,
                ["errorfile"],
                "an http-errors section holds only 'errorfile <status> <file>' lines",
            ),
        ));
    }
    let page = errorfile_line(ctx, ln)?;
    h.pages.insert(page.status, page);
    Ok(())
}

/// Parses `errorfile <status> <file>` and loads the page.
pub(crate) fn errorfile_line(ctx: &Ctx<'_>, ln: &Ln<'_>) -> R<crate::model::ErrorPage> {
    if ln.w.len() != 3 {
        return Err(ln.err(
            "errorfile",
            "'errorfile' expects a status code and a file name",
            "write 'errorfile <status> <file>'",
        ));
    }
    let status: u16 = ln.w[1].parse().map_err(|_| {
        ln.err(
            "errorfile",
            format!("invalid status code '{}'", ln.w[1]),
            "write a 3-digit status, e.g. 503",
        )
    })?;
    if !errorfile::ERRORFILE_CODES.contains(&status) {
        errorfile::check_errorfile(b"", Some(status), 0).map_err(|f| ln.fail("errorfile", f))?;
    }
    let data = http::load_file(&ln.w[2], "error file").map_err(|f| ln.fail("errorfile", f))?;
    let raw = errorfile::check_errorfile(&data, Some(status), ctx.global.tune.bufsize)
        .map_err(|(m, h)| ln.fail("errorfile", (format!("'{}': {m}", ln.w[2]), h)))?;
    Ok(crate::model::ErrorPage {
        status,
        raw,
        path: PathBuf::from(&ln.w[2]),
    })
}
