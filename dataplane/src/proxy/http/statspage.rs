//! Serving the stats page from the traffic path: a request whose path starts with a
//! proxy's `stats uri` is answered by sluice (like `use-service
//! prometheus-exporter`), after that proxy's `http-request` rules.
//!
//! Owns: [`matches`] (the URI prefix test), Basic authentication against `stats
//! auth` (401 with the realm), the admin POST (reading the form body, applying
//! `ready|drain|maint` to the selected servers, answering 303 back to the page with
//! `;st=<status>`), and the page and `;csv` answers. The content is rendered by
//! `mgmt::statspage`.
//!
//! Invariants: nothing is shown or changed before authentication succeeds; a POST
//! changes nothing unless the `stats admin` condition held for this request (it is
//! then redirected with `;st=DENY`); a server's admin state is changed through
//! [`ServerState::set_admin`], the very path of the CLI's `set server … state`, so
//! every worker sees it on its next server choice; a form body larger than
//! [`MAX_FORM`] is not read (answer `;st=EXCD` and close).
//!
//! [`ServerState::set_admin`]: crate::proxy::shared::ServerState::set_admin

use std::future::poll_fn;
use std::io::Write;
use std::task::Poll;

use appliance_config::StatsPage;

use crate::buf::write_all;
use crate::h1::{BodyDecoder, BodyKind, BodyStep};
use crate::io::Driver;
use crate::mgmt::statspage::{self as page, PageFlags, Status};
use crate::proxy::http::session::{Next, Session};
use crate::proxy::http::txn::Txn;
use crate::proxy::Shared;

/// The largest admin form read (HAProxy reads it within one buffer).
pub const MAX_FORM: usize = 16 * 1024;

/// When `target` (path and query) starts with the page's URI: what follows it.
pub fn matches<'a>(p: &StatsPage, target: &'a [u8]) -> Option<&'a [u8]> {
    target.strip_prefix(p.uri.as_bytes())
}

/// Decode standard base64 (with or without padding); `None` when invalid.
fn base64(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// Whether the `Authorization` header carries one of the page's `stats auth`
/// credentials (always true without `stats auth`).
pub fn authorized(p: &StatsPage, authorization: Option<&[u8]>) -> bool {
    if p.auth.is_empty() {
        return true;
    }
    let Some(v) = authorization else { return false };
    let v = v.trim_ascii();
    let Some(sp) = v.iter().position(|&b| b == b' ') else {
        return false;
    };
    if !v[..sp].eq_ignore_ascii_case(b"basic") {
        return false;
    }
    let Some(cred) = base64(v[sp..].trim_ascii()) else {
        return false;
    };
    p.auth.iter().any(|(u, pw)| {
        cred.len() == u.len() + 1 + pw.len()
            && cred.starts_with(u.as_bytes())
            && cred[u.len()] == b':'
            && cred.ends_with(pw.as_bytes())
    })
}

/// Percent-decoding of a form field (`+` is a space).
fn form_decode(s: &[u8]) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fields of the admin form: `b` (backend, `#<id>` or a name), `s` (servers,
/// repeated) and `action`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AdminForm {
    pub backend: Option<String>,
    pub servers: Vec<String>,
    pub action: Option<String>,
}

impl AdminForm {
    pub fn parse(body: &[u8]) -> AdminForm {
        let mut f = AdminForm::default();
        for kv in body.split(|&b| b == b'&').filter(|kv| !kv.is_empty()) {
            let (k, v) = match kv.iter().position(|&b| b == b'=') {
                Some(i) => (&kv[..i], &kv[i + 1..]),
                None => (kv, &b""[..]),
            };
            let v = form_decode(v);
            match form_decode(k).as_str() {
                "b" => f.backend = Some(v),
                "s" => f.servers.push(v),
                "action" => f.action = Some(v),
                _ => {}
            }
        }
        f
    }
}

/// Apply an admin form (the caller checked the admin rights): the outcome.
pub fn apply(sh: &Shared, f: &AdminForm) -> Status {
    let action = f.action.as_deref().unwrap_or("");
    if action.is_empty() || f.servers.is_empty() {
        return Status::None;
    }
    let (maint, drain) = match action {
        "ready" | "enable" => (false, false),
        "drain" => (false, true),
        "maint" | "disable" => (true, false),
        _ => return Status::Errp,
    };
    let cfg = &sh.config;
    let be = f
        .backend
        .as_deref()
        .and_then(|b| match b.strip_prefix('#') {
            Some(id) => {
                let id: u32 = id.parse().ok()?;
                cfg.backends.iter().position(|x| x.id == id)
            }
            None => cfg.backend_index(b),
        });
    let Some(be) = be else { return Status::Errp };
    let mut done = 0;
    for name in &f.servers {
        if let Some(si) = cfg.backends[be]
            .servers
            .iter()
            .position(|s| &s.name == name)
        {
            sh.servers[be][si].set_admin(maint, drain);
            done += 1;
        }
    }
    match done {
        0 => Status::Errp,
        n if n == f.servers.len() => Status::Done,
        _ => Status::Partial,
    }
}

/// Why the form body could not be read.
enum BodyError {
    TooLarge,
    Broken,
}

/// Read the (small) request body into memory, decoding its framing.
async fn read_body<D: Driver>(s: &mut Session<D>, t: &mut Txn) -> Result<Vec<u8>, BodyError> {
    let kind = t.req.body_kind();
    match kind {
        BodyKind::None => return Ok(Vec::new()),
        BodyKind::Length(n) if n > MAX_FORM as u64 => return Err(BodyError::TooLarge),
        _ => {}
    }
    if t.req.expects_continue() && s.h2.is_none() {
        let _ = write_all(&mut s.client, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    let mut dec = BodyDecoder::request(kind, &s.w.limits);
    let tmo = s.w.shared.config.frontends[s.fe].timeouts.client;
    let mut body = Vec::new();
    let (cbuf, client) = (&mut s.cbuf, &mut s.client);
    let r = crate::runtime::timeout(
        tmo,
        poll_fn(|cx| loop {
            let d = match dec.decode(cbuf.data()) {
                Ok(d) => d,
                Err(_) => return Poll::Ready(Err(BodyError::Broken)),
            };
            let step = d.step;
            if let BodyStep::Data { start, end } = step {
                body.extend_from_slice(&cbuf.data()[start..end]);
                if body.len() > MAX_FORM {
                    return Poll::Ready(Err(BodyError::TooLarge));
                }
            }
            cbuf.consume(d.consumed);
            match step {
                BodyStep::End => return Poll::Ready(Ok(())),
                BodyStep::Data { .. } | BodyStep::Trailers { .. } => continue,
                BodyStep::NeedMore => {}
            }
            match cbuf.poll_fill(client, cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    return Poll::Ready(Err(BodyError::Broken))
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }),
    )
    .await;
    t.bytes_in += dec.decoded_bytes();
    match r {
        Ok(Ok(())) => {
            t.req.mark_body_read();
            Ok(body)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(BodyError::Broken),
    }
}

/// Answer a request for the page: `rest` is what follows the page's URI; `admin`
/// says whether the `stats admin` condition held.
pub async fn serve<D: Driver>(
    s: &mut Session<D>,
    t: &mut Txn,
    p: &StatsPage,
    rest: &[u8],
    admin: bool,
) -> Next {
    if !authorized(p, t.req.headers.get(b"authorization")) {
        let body = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
        let out = &mut t.out;
        out.clear();
        let _ = write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/html\r\ncontent-length: {}\r\ncache-control: no-cache\r\nwww-authenticate: Basic realm=\"{}\"\r\n\r\n{body}",
            body.len(),
            p.realm
        );
        return super::actions::send_local(s, t, 401, false).await;
    }
    let flags = PageFlags::parse(&String::from_utf8_lossy(rest));
    if t.req.method() == b"POST" {
        let (status, close) = if !admin {
            (Status::Deny, false)
        } else {
            match read_body(s, t).await {
                Ok(body) => (apply(&s.w.shared, &AdminForm::parse(&body)), false),
                Err(BodyError::TooLarge) => (Status::Excd, true),
                Err(BodyError::Broken) => return Next::Close,
            }
        };
        let out = &mut t.out;
        out.clear();
        let _ = write!(
            out,
            "HTTP/1.1 303 See Other\r\ncontent-length: 0\r\ncache-control: no-cache\r\nlocation: {}{};st={}\r\n\r\n",
            p.uri,
            flags.view_suffix(),
            status.code()
        );
        return super::actions::send_local(s, t, 303, close).await;
    }
    let shared = s.w.shared.clone();
    let snaps = crate::mgmt::prometheus::gather(&shared).await;
    let totals = crate::mgmt::prometheus::totals(&shared, &snaps);
    let (body, ctype) = if flags.csv {
        (
            page::render_csv(&shared, &totals),
            "text/plain; charset=utf-8",
        )
    } else {
        let v = page::View {
            page: p,
            flags,
            admin,
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            now: std::time::Instant::now(),
        };
        (
            page::render_html(&shared, &totals, &v),
            "text/html; charset=utf-8",
        )
    };
    let out = &mut t.out;
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\ncache-control: no-cache\r\n\r\n",
        body.len()
    );
    if t.req.method() != b"HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    super::actions::send_local(s, t, 200, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(auth: &[(&str, &str)]) -> StatsPage {
        let mut p = StatsPage::new(appliance_config::Location {
            file: "t".into(),
            line: 1,
        });
        p.uri = "/stats".into();
        p.auth = auth
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        p
    }

    #[test]
    fn uri_prefix() {
        let p = page(&[]);
        assert_eq!(matches(&p, b"/stats"), Some(&b""[..]));
        assert_eq!(matches(&p, b"/stats;csv"), Some(&b";csv"[..]));
        assert_eq!(matches(&p, b"/stat"), None);
        assert_eq!(matches(&p, b"/other/stats"), None);
    }

    #[test]
    fn basic_auth() {
        assert_eq!(base64(b"YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(base64(b"YTpi").unwrap(), b"a:b");
        assert_eq!(base64(b"YTpiYw==").unwrap(), b"a:bc");
        assert_eq!(base64(b"YTpiYw").unwrap(), b"a:bc");
        assert!(base64(b"Y!pi").is_none());
        let p = page(&[("admin", "s3cret"), ("ops", "x:y")]);
        assert!(authorized(&p, Some(b"Basic YWRtaW46czNjcmV0")));
        assert!(authorized(&p, Some(b"basic  b3BzOng6eQ== ")));
        assert!(!authorized(&p, Some(b"Basic YWRtaW46d3Jvbmc=")));
        assert!(!authorized(&p, Some(b"Bearer YWRtaW46czNjcmV0")));
        assert!(!authorized(&p, Some(b"Basic")));
        assert!(!authorized(&p, None));
        assert!(authorized(&page(&[]), None));
    }

    #[test]
    fn admin_form_fields() {
        let f = AdminForm::parse(b"s=a&s=b%2Dc&action=maint&b=%233&x=1&s=d+e");
        assert_eq!(f.backend.as_deref(), Some("#3"));
        assert_eq!(f.servers, ["a", "b-c", "d e"]);
        assert_eq!(f.action.as_deref(), Some("maint"));
        assert_eq!(form_decode(b"%zz%4"), "%zz%4");
    }

    #[test]
    fn admin_actions_change_the_shared_state() {
        let cfg =
            "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
            backend web\n server a 127.0.0.1:8001\n server b 127.0.0.1:8002\n";
        let cfg = appliance_config::load_str("t.cfg", cfg).unwrap().config;
        let id = cfg.backends[0].id;
        let sh = Shared::new(cfg, 100, 1, false);
        let form = |s: &str| AdminForm::parse(s.as_bytes());
        let maint = |i: usize| {
            sh.servers[0][i]
                .maint
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let st = apply(&sh, &form(&format!("s=a&action=maint&b=%23{id}")));
        assert_eq!((st, maint(0), maint(1)), (Status::Done, true, false));
        let st = apply(&sh, &form("s=a&s=zz&action=ready&b=web"));
        assert_eq!((st, maint(0)), (Status::Partial, false));
        assert_eq!(apply(&sh, &form("s=a&action=drain&b=nope")), Status::Errp);
        assert_eq!(apply(&sh, &form("s=a&action=dhlth&b=web")), Status::Errp);
        assert_eq!(apply(&sh, &form("action=maint&b=web")), Status::None);
        assert_eq!(apply(&sh, &form("s=zz&action=maint&b=web")), Status::Errp);
        assert!(apply(&sh, &form("s=b&action=drain&b=web")) == Status::Done);
        assert!(sh.servers[0][1]
            .drain
            .load(std::sync::atomic::Ordering::Relaxed));
    }
}
