//! HTTP rules: `http-request`, `http-response`, `redirect`, `use_backend`.
//!
//! Owns: [`HttpRule`], [`HttpAction`], [`Redirect`], [`HttpReturn`], [`UseBackend`].
//! Invariant: every action here is one the parser accepted for the direction it sits
//! in (request-only actions never appear in `http_response`).

use regex::bytes::Regex;

use super::format::Format;
use super::sample::{Condition, SampleExpr, VarName};
use crate::error::Location;

/// How `del-header` compares header names (`-m str|beg|end|sub|reg`).
#[derive(Clone, Debug)]
pub enum NameMatch {
    /// Exact name (case-insensitive; stored lower-case).
    Str(String),
    /// Name prefix (lower-case).
    Beg(String),
    /// Name suffix (lower-case).
    End(String),
    /// Name substring (lower-case).
    Sub(String),
    /// Name regex (compiled case-insensitive).
    Reg(Regex),
}

/// `redirect location|prefix|scheme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedirectKind {
    /// Replace the whole target: `Location: <to>`.
    Location,
    /// Prepend to the request path.
    Prefix,
    /// Change the scheme: `<to>://<host><uri>`.
    Scheme,
}

/// A redirect (the `redirect` keyword or `http-request redirect`).
#[derive(Clone, Debug)]
pub struct Redirect {
    /// Which kind.
    pub kind: RedirectKind,
    /// The target (a log-format string, as in HAProxy).
    pub target: Format,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`: remove the query string (prefix/scheme).
    pub drop_query: bool,
    /// `append-slash`: add `/` after the path (with `drop-query`).
    pub append_slash: bool,
}

/// The body of an `http-request return` / `deny` response.
#[derive(Clone, Debug)]
pub enum ReturnBody {
    /// No body given: for `deny`, the proxy's error page for the status is sent; for
    /// `return`, an empty body.
    Default,
    /// `string <text>`.
    String(String),
    /// `lf-string <fmt>`.
    LfString(Format),
    /// `file <path>`: the file's content, loaded at parse time.
    File(Vec<u8>),
    /// `lf-file <path>`: the file's content parsed as a format.
    LfFile(Format),
    /// `errorfile <path>`: a full raw HTTP response, loaded and checked at parse time.
    ErrorFile(Vec<u8>),
    /// `errorfiles <name>`: the page for the status from that `http-errors` section
    /// (falls back to the default page when the section has none for the status).
    ErrorFiles(String),
}

/// `return` / `deny` response parameters.
#[derive(Clone, Debug)]
pub struct HttpReturn {
    /// Status code (`return`: 200 by default; `deny`: 403 by default).
    pub status: u16,
    /// `content-type` (required with a body string or file, HAProxy's rule).
    pub content_type: Option<String>,
    /// The body.
    pub body: ReturnBody,
    /// `hdr <name> <fmt>` pairs, in order.
    pub headers: Vec<(String, Format)>,
}

/// An `http-request` or `http-response` action.
#[derive(Clone, Debug)]
pub enum HttpAction {
    /// `set-header <name> <fmt>`: remove every `<name>` then add one.
    SetHeader {
        /// Header name as written.
        name: String,
        /// Value.
        value: Format,
    },
    /// `add-header <name> <fmt>`.
    AddHeader {
        /// Header name as written.
        name: String,
        /// Value.
        value: Format,
    },
    /// `del-header <name> [-m meth]`.
    DelHeader(NameMatch),
    /// `replace-header <name> <regex> <fmt>`: rewrite whole header lines.
    ReplaceHeader {
        /// Header name (lower-case).
        name: String,
        /// Matched against the full value.
        regex: Regex,
        /// Replacement format; `\1`… back-references are kept as written and
        /// resolved at run time against the regex captures.
        replace: Format,
    },
    /// `replace-value <name> <regex> <fmt>`: rewrite each comma-separated value.
    ReplaceValue {
        /// Header name (lower-case).
        name: String,
        /// Matched against each value.
        regex: Regex,
        /// Replacement format.
        replace: Format,
    },
    /// `set-path <fmt>`.
    SetPath(Format),
    /// `set-query <fmt>`.
    SetQuery(Format),
    /// `set-uri <fmt>`.
    SetUri(Format),
    /// `set-method <fmt>`.
    SetMethod(Format),
    /// `redirect …`.
    Redirect(Redirect),
    /// `deny [deny_status N] [return options]`.
    Deny(HttpReturn),
    /// `allow`: stop evaluating this rule set.
    Allow,
    /// `return …`.
    Return(HttpReturn),
    /// `set-status <code> [reason <text>]` (response only).
    SetStatus {
        /// New status.
        status: u16,
        /// New reason phrase.
        reason: Option<String>,
    },
    /// `set-var(scope.name) <expr>`.
    SetVar {
        /// The variable.
        var: VarName,
        /// Its new value.
        expr: SampleExpr,
    },
    /// `set-var-fmt(scope.name) <fmt>`.
    SetVarFmt {
        /// The variable.
        var: VarName,
        /// Its new value.
        format: Format,
    },
    /// `unset-var(scope.name)`.
    UnsetVar(VarName),
    /// `use-service <name>`: sluice answers the request itself (request only).
    UseService(Service),
    /// `set-map(<file>) <key fmt> <value fmt>`: set the value of every entry with that
    /// key, or add one; on every worker.
    SetMap {
        /// Index in `Config::pattern_files`.
        file: usize,
        /// The key.
        key: Format,
        /// The value.
        value: Format,
    },
    /// `del-map(<file>) <key fmt>`: delete every entry with that key.
    DelMap {
        /// Index in `Config::pattern_files`.
        file: usize,
        /// The key.
        key: Format,
    },
    /// `add-acl(<file>) <fmt>`: add the pattern unless it is already there.
    AddAcl {
        /// Index in `Config::pattern_files`.
        file: usize,
        /// The pattern.
        key: Format,
    },
    /// `del-acl(<file>) <fmt>`: delete every entry with that pattern.
    DelAcl {
        /// Index in `Config::pattern_files`.
        file: usize,
        /// The pattern.
        key: Format,
    },
}

/// A service `http-request use-service` can hand a request to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `prometheus-exporter`: the counters in Prometheus' text format.
    PrometheusExporter,
}

impl HttpAction {
    /// The action's configuration keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            HttpAction::SetHeader { .. } => "set-header",
            HttpAction::AddHeader { .. } => "add-header",
            HttpAction::DelHeader(_) => "del-header",
            HttpAction::ReplaceHeader { .. } => "replace-header",
            HttpAction::ReplaceValue { .. } => "replace-value",
            HttpAction::SetPath(_) => "set-path",
            HttpAction::SetQuery(_) => "set-query",
            HttpAction::SetUri(_) => "set-uri",
            HttpAction::SetMethod(_) => "set-method",
            HttpAction::Redirect(_) => "redirect",
            HttpAction::Deny(_) => "deny",
            HttpAction::Allow => "allow",
            HttpAction::Return(_) => "return",
            HttpAction::SetStatus { .. } => "set-status",
            HttpAction::SetVar { .. } => "set-var",
            HttpAction::SetVarFmt { .. } => "set-var-fmt",
            HttpAction::UnsetVar(_) => "unset-var",
            HttpAction::UseService(_) => "use-service",
            HttpAction::SetMap { .. } => "set-map",
            HttpAction::DelMap { .. } => "del-map",
            HttpAction::AddAcl { .. } => "add-acl",
            HttpAction::DelAcl { .. } => "del-acl",
        }
    }

    /// True for actions that end rule evaluation (`allow`, `deny`, `return`,
    /// `redirect`, `use-service`).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            HttpAction::Allow
                | HttpAction::Deny(_)
                | HttpAction::Return(_)
                | HttpAction::Redirect(_)
                | HttpAction::UseService(_)
        )
    }
}

/// One `http-request` / `http-response` / `redirect` line.
#[derive(Clone, Debug)]
pub struct HttpRule {
    /// What to do.
    pub action: HttpAction,
    /// When (always when `None`).
    pub cond: Option<Condition>,
    /// Where it was written.
    pub location: Location,
}

/// The backend a `use_backend` rule names.
#[derive(Clone, Debug)]
pub enum BackendRef {
    /// A backend name, checked at load time.
    Name(String),
    /// `%[expr]`/log-format: the name is computed per request; an unknown name falls
    /// back to the default backend.
    Dynamic(Format),
}

/// `use_backend <name> [if|unless cond]`.
#[derive(Clone, Debug)]
pub struct UseBackend {
    /// Target.
    pub backend: BackendRef,
    /// When.
    pub cond: Option<Condition>,
    /// Where it was written.
    pub location: Location,
}
