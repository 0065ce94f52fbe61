//! Rules and routing of an HTTP transaction, in HAProxy's order: frontend
//! `http-request` rules, `redirect` rules, the frontend's stats page, `monitor-uri`,
//! `use_backend` / `default_backend`, backend `http-request` rules, the backend's
//! stats page, `option forwardfor`; then on the response, backend `http-response`
//! rules before frontend ones.
//!
//! Owns: applying each action to the transaction's heads, and building the answers
//! sluice gives itself (`return`, `redirect`, `deny`, `use-service
//! prometheus-exporter`). Invariants: a rule's condition is evaluated against the
//! head as modified by the rules before it; a final action (`allow`, `deny`,
//! `return`, `redirect`, `use-service`) ends its rule set; a header rewrite that
//! would produce an invalid field is refused and answered with a 500, never sent.

use std::io::Write;
use std::net::SocketAddr;

use appliance_config::model::format::Format;
use appliance_config::model::rules::{
    BackendRef, HttpAction, HttpReturn, HttpRule, NameMatch, Redirect, RedirectKind, ReturnBody,
    Service,
};
use appliance_config::model::sample::Acl;
use appliance_config::StatsPage;

use crate::buf::write_all;
use crate::h1::{default_error_response, reason_phrase};
use crate::io::{Driver, Stream};
use crate::proxy::http::session::{Next, Session};
use crate::proxy::http::txn::{TermState, Txn};
use crate::proxy::http::{reply, statspage};
use crate::proxy::view::{Ctx, View};
use crate::proxy::{Shared, Worker};
use crate::rules::{eval_condition, render_format, set_var, Vars};

/// Where a request goes.
pub enum Route {
    /// To this backend.
    Backend(usize),
    /// Answered locally (and logged by the caller); what to do with the connection.
    Replied(Next),
}

/// The outcome of running a rule set.
enum Flow {
    Continue,
    /// `allow`: stop this rule set, go on.
    Stop,
    /// Send `t.out` (a complete response) and then keep or close the connection.
    Reply {
        status: u16,
        close: bool,
    },
    /// `use-service`: the service answers the request.
    Service(Service),
}

/// What the rules may look at, fixed for the transaction.
struct Env<'a> {
    shared: &'a Shared,
    fe: usize,
    be: Option<usize>,
    srv: Option<usize>,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    accept_us: u64,
    tls: Option<std::rc::Rc<crate::tls::TlsInfo>>,
}

impl Env<'_> {
    fn view<'b>(&'b self, t: &'b Txn, response: bool) -> View<'b> {
        View {
            req: Some(&t.req),
            rsp: response.then_some(&t.rsp),
            src: self.src,
            dst: self.dst,
            first: t.first,
            shared: self.shared,
            fe: self.fe,
            be: self.be,
            srv: self.srv,
            tls: self.tls.as_deref(),
        }
    }

    fn matches(&self, t: &mut Txn, vars: &Vars, acls: &[Acl], rule: &HttpRule, rsp: bool) -> bool {
        let Some(cond) = &rule.cond else { return true };
        let mut rs = std::mem::take(&mut t.rs);
        let ok = eval_condition(cond, acls, &self.view(t, rsp), vars, &mut rs);
        t.rs = rs;
        ok
    }

    /// Render a format into a buffer taken from the transaction (give it back with
    /// `t.scratch = buf`).
    fn render(&self, t: &mut Txn, vars: &Vars, fmt: &Format, rsp: bool) -> Vec<u8> {
        let mut out = std::mem::take(&mut t.scratch);
        out.clear();
        let mut rs = std::mem::take(&mut t.rs);
        {
            let ctx = Ctx {
                view: self.view(t, rsp),
                vars,
                t,
                accept_us: self.accept_us,
                http: true,
            };
            render_format(fmt, &ctx, &mut rs, &mut out);
        }
        t.rs = rs;
        out
    }
}

fn env<'a, D: Driver>(
    w: &'a Worker<D>,
    s: &Session<D>,
    be: Option<usize>,
    srv: Option<usize>,
) -> Env<'a> {
    Env {
        shared: &w.shared,
        fe: s.fe,
        be,
        srv,
        src: s.client.peer_addr(),
        dst: s.client.local_addr(),
        accept_us: s.accept_us,
        tls: s.tls.clone(),
    }
}

/// Run the request side: rules, routing, forwardfor.
pub async fn process_request<D: Driver>(s: &mut Session<D>, t: &mut Txn) -> Route {
    let w = s.w.clone();
    let cfg = &w.shared.config;
    let fe = &cfg.frontends[s.fe];
    w.stats.borrow_mut().request(s.fe);
    let e = env(&w, s, None, None);
    let mut flow = run_rules(&e, t, &mut s.vars, &fe.http_request, &fe.acls, false);
    if matches!(flow, Flow::Continue | Flow::Stop) {
        flow = run_rules(&e, t, &mut s.vars, &fe.redirects, &fe.acls, false);
    }
    if let Some(next) = answer(s, t, flow).await {
        return Route::Replied(next);
    }
    if let Some(next) = stats_page(s, t, &e, fe.stats.as_ref()).await {
        return Route::Replied(next);
    }
    if let Some(uri) = &fe.monitor_uri {
        if t.req.target() == uri.as_bytes() {
            t.out.clear();
            t.out.extend_from_slice(default_error_response(200));
            return Route::Replied(send_local(s, t, 200, false).await);
        }
    }
    let Some(be) = choose_backend(&e, t, &s.vars, fe) else {
        t.term = TermState(b'P', b'R');
        s.reply_error(t, 503).await;
        return Route::Replied(Next::Close);
    };
    t.backend = Some(be);
    let bcfg = &cfg.backends[be];
    let e = env(&w, s, Some(be), None);
    let flow = run_rules(&e, t, &mut s.vars, &bcfg.http_request, &bcfg.acls, false);
    if let Some(next) = answer(s, t, flow).await {
        return Route::Replied(next);
    }
    if let Some(next) = stats_page(s, t, &e, bcfg.stats.as_ref()).await {
        return Route::Replied(next);
    }
    if let Some(ff) = fe.forwardfor.as_ref().or(bcfg.forwardfor.as_ref()) {
        add_forwarded_for(t, ff, e.src);
    }
    Route::Backend(be)
}

/// The stats page of the proxy whose rules just ran, when the request is for it
/// (`stats uri` prefix): evaluates `stats admin` and answers.
async fn stats_page<D: Driver>(
    s: &mut Session<D>,
    t: &mut Txn,
    e: &Env<'_>,
    page: Option<&StatsPage>,
) -> Option<Next> {
    let page = page?;
    let rest = statspage::matches(page, t.req.path_and_query())?.to_vec();
    let admin = match &page.admin {
        None => false,
        Some(c) => {
            let mut rs = std::mem::take(&mut t.rs);
            let ok = eval_condition(c, &page.admin_acls, &e.view(t, false), &s.vars, &mut rs);
            t.rs = rs;
            ok
        }
    };
    Some(statspage::serve(s, t, page, &rest, admin).await)
}

fn add_forwarded_for(t: &mut Txn, ff: &appliance_config::ForwardFor, src: Option<SocketAddr>) {
    let Some(src) = src else { return };
    if ff.except.as_ref().is_some_and(|n| n.contains(src.ip())) {
        return;
    }
    if ff.if_none && t.req.headers.contains(ff.header.as_bytes()) {
        return;
    }
    let mut v = std::mem::take(&mut t.scratch);
    v.clear();
    let _ = write!(v, "{}", src.ip());
    let _ = t.req.headers.append(ff.header.as_bytes(), &v);
    t.scratch = v;
}

fn choose_backend(
    e: &Env<'_>,
    t: &mut Txn,
    vars: &Vars,
    fe: &appliance_config::Frontend,
) -> Option<usize> {
    let cfg = &e.shared.config;
    for ub in &fe.use_backends {
        if let Some(c) = &ub.cond {
            let mut rs = std::mem::take(&mut t.rs);
            let ok = eval_condition(c, &fe.acls, &e.view(t, false), vars, &mut rs);
            t.rs = rs;
            if !ok {
                continue;
            }
        }
        let found = match &ub.backend {
            BackendRef::Name(n) => cfg.backend_index(n),
            BackendRef::Dynamic(fmt) => {
                let name = e.render(t, vars, fmt, false);
                let idx = std::str::from_utf8(&name)
                    .ok()
                    .and_then(|n| cfg.backend_index(n));
                t.scratch = name;
                idx
            }
        };
        // HAProxy: a dynamic name that does not exist falls back to the default.
        if found.is_some() {
            return found;
        }
        break;
    }
    fe.default_backend
        .as_deref()
        .and_then(|n| cfg.backend_index(n))
}

/// Run the response rules (backend then frontend). `Some(status)`: the response is
/// replaced by `t.out` (deny or return) and the server connection must not be kept.
pub fn process_response<D: Driver>(s: &mut Session<D>, t: &mut Txn, be: usize) -> Option<u16> {
    let w = s.w.clone();
    let cfg = &w.shared.config;
    let e = env(&w, s, Some(be), t.server);
    let bcfg = &cfg.backends[be];
    let fe = &cfg.frontends[s.fe];
    // A `listen` keeps its rules on the frontend side only, so both sets run once.
    let mut flow = run_rules(&e, t, &mut s.vars, &bcfg.http_response, &bcfg.acls, true);
    if matches!(flow, Flow::Continue | Flow::Stop) {
        flow = run_rules(&e, t, &mut s.vars, &fe.http_response, &fe.acls, true);
    }
    match flow {
        Flow::Reply { status, .. } => Some(status),
        _ => None,
    }
}

/// Backend choice of a TCP-mode session (`use_backend` conditions see only layer-4
/// fetches).
pub fn tcp_route<D: Driver>(
    w: &Worker<D>,
    fe: usize,
    client: &crate::tls::MaybeTls<D::Stream>,
    tls: Option<&std::rc::Rc<crate::tls::TlsInfo>>,
) -> Option<usize> {
    let e = Env {
        shared: &w.shared,
        fe,
        be: None,
        srv: None,
        src: client.peer_addr(),
        dst: client.local_addr(),
        accept_us: 0,
        tls: tls.cloned(),
    };
    let mut t = crate::proxy::http::txn::take();
    let vars = Vars::new();
    let cfg = &w.shared.config.frontends[fe];
    let view_empty = View {
        req: None,
        rsp: None,
        src: e.src,
        dst: e.dst,
        first: true,
        shared: e.shared,
        fe,
        be: None,
        srv: None,
        tls: tls.map(|t| &**t),
    };
    let mut result = None;
    for ub in &cfg.use_backends {
        if let Some(c) = &ub.cond {
            if !eval_condition(c, &cfg.acls, &view_empty, &vars, &mut t.rs) {
                continue;
            }
        }
        if let BackendRef::Name(n) = &ub.backend {
            result = w.shared.config.backend_index(n);
        }
        break;
    }
    crate::proxy::http::txn::give(t);
    result.or_else(|| {
        cfg.default_backend
            .as_deref()
            .and_then(|n| w.shared.config.backend_index(n))
    })
}

fn run_rules(
    e: &Env<'_>,
    t: &mut Txn,
    vars: &mut Vars,
    rules: &[HttpRule],
    acls: &[Acl],
    rsp: bool,
) -> Flow {
    for rule in rules {
        if !e.matches(t, vars, acls, rule, rsp) {
            continue;
        }
        match apply(e, t, vars, &rule.action, rsp) {
            Flow::Continue => {}
            other => return other,
        }
    }
    Flow::Continue
}

/// Build a complete response in `t.out` for a `return`/`deny` action.
fn build_return(e: &Env<'_>, t: &mut Txn, vars: &Vars, r: &HttpReturn, rsp: bool) {
    let cfg = &e.shared.config;
    let body: Vec<u8> = match &r.body {
        ReturnBody::Default => Vec::new(),
        ReturnBody::String(s) => s.as_bytes().to_vec(),
        ReturnBody::File(b) => b.clone(),
        ReturnBody::LfString(f) | ReturnBody::LfFile(f) => {
            let v = e.render(t, vars, f, rsp);
            let b = v.clone();
            t.scratch = v;
            b
        }
        ReturnBody::ErrorFile(raw) => {
            t.out.clear();
            t.out.extend_from_slice(raw);
            return;
        }
        ReturnBody::ErrorFiles(name) => {
            let page = cfg
                .http_errors
                .iter()
                .find(|h| &h.name == name)
                .and_then(|h| h.pages.get(&r.status))
                .map(|p| p.raw.as_slice())
                .unwrap_or_else(|| default_error_response(r.status));
            t.out.clear();
            t.out.extend_from_slice(page);
            return;
        }
    };
    let mut hdrs: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, f) in &r.headers {
        let v = e.render(t, vars, f, rsp);
        hdrs.push((n.clone(), v.clone()));
        t.scratch = v;
    }
    let out = &mut t.out;
    out.clear();
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", r.status, reason_phrase(r.status));
    if let Some(ct) = &r.content_type {
        let _ = write!(out, "content-type: {ct}\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", body.len());
    for (n, v) in hdrs {
        if v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            continue;
        }
        let _ = write!(out, "{n}: ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
}

fn build_redirect(e: &Env<'_>, t: &mut Txn, vars: &Vars, r: &Redirect) {
    let target = e.render(t, vars, &r.target, false);
    let mut loc: Vec<u8> = Vec::with_capacity(target.len() + t.req.target().len() + 16);
    let path = t.req.path().to_vec();
    let query = t.req.query().map(|q| q.to_vec());
    let push_path_query = |loc: &mut Vec<u8>| {
        loc.extend_from_slice(&path);
        if r.append_slash && !path.ends_with(b"/") {
            loc.push(b'/');
        }
        if !r.drop_query {
            if let Some(q) = &query {
                loc.push(b'?');
                loc.extend_from_slice(q);
            }
        }
    };
    match r.kind {
        RedirectKind::Location => loc.extend_from_slice(&target),
        RedirectKind::Prefix => {
            // A prefix of "/" only rewrites with the options (HAProxy).
            if target.as_slice() != b"/" {
                loc.extend_from_slice(target.strip_suffix(b"/").unwrap_or(&target));
            }
            push_path_query(&mut loc);
        }
        RedirectKind::Scheme => {
            loc.extend_from_slice(&target);
            loc.extend_from_slice(b"://");
            if let Some(h) = t.req.host() {
                loc.extend_from_slice(h);
            }
            push_path_query(&mut loc);
        }
    }
    t.scratch = target;
    let out = &mut t.out;
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: ",
        r.code,
        reason_phrase(r.code)
    );
    out.extend_from_slice(&loc);
    out.extend_from_slice(b"\r\ncache-control: no-cache\r\n\r\n");
}

/// `replace-header`'s template: `\N` back-references expanded against `caps`.
fn expand(template: &[u8], caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < template.len() {
        let c = template[i];
        if c == b'\\' && i + 1 < template.len() && template[i + 1].is_ascii_digit() {
            let n = usize::from(template[i + 1] - b'0');
            if let Some(m) = caps.get(n) {
                out.extend_from_slice(m.as_bytes());
            }
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
}

fn name_matches(m: &NameMatch, name: &[u8]) -> bool {
    let lower = |n: &[u8]| n.to_ascii_lowercase();
    match m {
        NameMatch::Str(s) => name.eq_ignore_ascii_case(s.as_bytes()),
        NameMatch::Beg(s) => lower(name).starts_with(s.as_bytes()),
        NameMatch::End(s) => lower(name).ends_with(s.as_bytes()),
        NameMatch::Sub(s) => lower(name)
            .windows(s.len().max(1))
            .any(|w| w == s.as_bytes()),
        NameMatch::Reg(re) => re.is_match(name),
    }
}

fn apply(e: &Env<'_>, t: &mut Txn, vars: &mut Vars, action: &HttpAction, rsp: bool) -> Flow {
    let rewrite_failed = |t: &mut Txn| {
        t.out.clear();
        t.out.extend_from_slice(default_error_response(500));
        Flow::Reply {
            status: 500,
            close: true,
        }
    };
    macro_rules! headers {
        ($t:expr) => {
            if rsp {
                &mut $t.rsp.headers
            } else {
                &mut $t.req.headers
            }
        };
    }
    match action {
        HttpAction::SetHeader { name, value } | HttpAction::AddHeader { name, value } => {
            let v = e.render(t, vars, value, rsp);
            let set = matches!(action, HttpAction::SetHeader { .. });
            let h = headers!(t);
            let r = if set {
                h.set(name.as_bytes(), &v)
            } else {
                h.append(name.as_bytes(), &v)
            };
            t.scratch = v;
            if r.is_err() {
                return rewrite_failed(t);
            }
        }
        HttpAction::DelHeader(m) => {
            let h = headers!(t);
            let mut i = h.len();
            while i > 0 {
                i -= 1;
                if name_matches(m, h.name(i)) {
                    h.remove_at(i);
                }
            }
        }
        HttpAction::ReplaceHeader {
            name,
            regex,
            replace,
        }
        | HttpAction::ReplaceValue {
            name,
            regex,
            replace,
        } => {
            let whole = matches!(action, HttpAction::ReplaceHeader { .. });
            let template = e.render(t, vars, replace, rsp);
            let h = headers!(t);
            let mut failed = false;
            for i in 0..h.len() {
                if !h.name(i).eq_ignore_ascii_case(name.as_bytes()) {
                    continue;
                }
                let value = h.value(i).to_vec();
                let mut new = Vec::with_capacity(value.len() + template.len());
                let mut changed = false;
                let parts: Vec<&[u8]> = if whole {
                    vec![&value[..]]
                } else {
                    value
                        .split(|&b| b == b',')
                        .map(|p| p.trim_ascii())
                        .collect()
                };
                for (k, part) in parts.iter().enumerate() {
                    if k > 0 {
                        new.extend_from_slice(b", ");
                    }
                    match regex.captures(part) {
                        Some(caps) => {
                            expand(&template, &caps, &mut new);
                            changed = true;
                        }
                        None => new.extend_from_slice(part),
                    }
                }
                if changed && h.set_value(i, &new).is_err() {
                    failed = true;
                }
            }
            t.scratch = template;
            if failed {
                return rewrite_failed(t);
            }
        }
        HttpAction::SetPath(f)
        | HttpAction::SetQuery(f)
        | HttpAction::SetUri(f)
        | HttpAction::SetMethod(f) => {
            let v = e.render(t, vars, f, rsp);
            let r = match action {
                HttpAction::SetPath(_) => t.req.set_path(&v),
                HttpAction::SetQuery(_) => t.req.set_query(if v.is_empty() {
                    None
                } else {
                    Some(v.strip_prefix(b"?").unwrap_or(&v))
                }),
                HttpAction::SetUri(_) => t.req.set_target(&v),
                _ => t.req.set_method(&v),
            };
            t.scratch = v;
            if r.is_err() {
                return rewrite_failed(t);
            }
        }
        HttpAction::Redirect(r) => {
            build_redirect(e, t, vars, r);
            return Flow::Reply {
                status: r.code,
                close: false,
            };
        }
        HttpAction::Deny(r) => {
            let status = r.status;
            if matches!(r.body, ReturnBody::Default)
                && r.headers.is_empty()
                && r.content_type.is_none()
            {
                let page = reply::error_page(&e.shared.config, e.fe, e.be, status);
                t.out.clear();
                t.out.extend_from_slice(page);
            } else {
                build_return(e, t, vars, r, rsp);
            }
            return Flow::Reply {
                status,
                close: true,
            };
        }
        HttpAction::Return(r) => {
            build_return(e, t, vars, r, rsp);
            return Flow::Reply {
                status: r.status,
                close: false,
            };
        }
        HttpAction::Allow => return Flow::Stop,
        HttpAction::UseService(svc) => return Flow::Service(*svc),
        HttpAction::SetStatus { status, reason } => {
            if rsp
                && t.rsp
                    .set_status(*status, reason.as_deref().map(str::as_bytes))
                    .is_err()
            {
                return rewrite_failed(t);
            }
        }
        HttpAction::SetVar { var, expr } => {
            let mut rs = std::mem::take(&mut t.rs);
            set_var(vars, var, expr, &e.view(t, rsp), &mut rs);
            t.rs = rs;
        }
        HttpAction::SetVarFmt { var, format } => {
            let v = e.render(t, vars, format, rsp);
            vars.set(var, crate::rules::Sample::Str(&v));
            t.scratch = v;
        }
        HttpAction::UnsetVar(var) => vars.unset(var),
        HttpAction::SetMap { file, key, value } => {
            let k = e.render(t, vars, key, rsp);
            let key = String::from_utf8_lossy(&k).into_owned();
            t.scratch = k;
            let v = e.render(t, vars, value, rsp);
            let value = String::from_utf8_lossy(&v).into_owned();
            t.scratch = v;
            let id = crate::maps::new_id();
            let up = crate::maps::Update::SetOrAdd {
                file: *file,
                id,
                key,
                value,
            };
            crate::maps::propagate(e.shared, up);
        }
        HttpAction::DelMap { file, key } | HttpAction::DelAcl { file, key } => {
            let k = e.render(t, vars, key, rsp);
            let key = String::from_utf8_lossy(&k).into_owned();
            t.scratch = k;
            crate::maps::propagate(e.shared, crate::maps::Update::Del { file: *file, key });
        }
        HttpAction::AddAcl { file, key } => {
            let k = e.render(t, vars, key, rsp);
            let key = String::from_utf8_lossy(&k).into_owned();
            t.scratch = k;
            let id = crate::maps::new_id();
            crate::maps::propagate(
                e.shared,
                crate::maps::Update::AddIfAbsent {
                    file: *file,
                    id,
                    key,
                },
            );
        }
    }
    Flow::Continue
}

/// A request rule set's outcome: `Some` when sluice answered the request itself
/// (`return`, `deny`, `redirect`, `use-service`), with what to do with the connection.
async fn answer<D: Driver>(s: &mut Session<D>, t: &mut Txn, flow: Flow) -> Option<Next> {
    match flow {
        Flow::Continue | Flow::Stop => None,
        Flow::Reply { status, close } => Some(send_local(s, t, status, close).await),
        Flow::Service(Service::PrometheusExporter) => {
            let shared = s.w.shared.clone();
            let snaps = crate::mgmt::prometheus::gather(&shared).await;
            let body = crate::mgmt::prometheus::render(&shared, &snaps, env!("CARGO_PKG_VERSION"));
            let out = &mut t.out;
            out.clear();
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\n\r\n",
                crate::mgmt::prometheus::CONTENT_TYPE,
                body.len()
            );
            if t.req.method() != b"HEAD" {
                out.extend_from_slice(body.as_bytes());
            }
            Some(send_local(s, t, 200, false).await)
        }
    }
}

/// Send the local answer in `t.out`; returns what to do with the connection.
pub(crate) async fn send_local<D: Driver>(
    s: &mut Session<D>,
    t: &mut Txn,
    status: u16,
    close: bool,
) -> Next {
    t.status = Some(status);
    t.term = if close {
        TermState(b'P', b'R')
    } else {
        TermState(b'L', b'R')
    };
    if status == 403 || (close && (400..500).contains(&status)) {
        s.w.stats.borrow_mut().denied(s.fe);
    }
    s.w.stats.borrow_mut().local_response(s.fe, status);
    t.bytes_out += t.out.len() as u64;
    let tmo = s.w.shared.config.frontends[s.fe].timeouts.client;
    let ok = matches!(
        crate::runtime::timeout(tmo, write_all(&mut s.client, &t.out)).await,
        Ok(Ok(()))
    );
    let keep = ok && !close && t.req.keep_alive();
    if keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}
