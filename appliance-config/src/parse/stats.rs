//! `stats …` lines of proxy sections: the stats page.
//!
//! Owns: [`stats_kw`]. Invariants: every `stats` keyword that configures the page
//! also enables it (HAProxy); the keywords sluice does not implement (`scope`,
//! `show-node`, `show-desc`, `http-request`, …) and the `global`-only ones are
//! errors naming the keyword, never ignored; a condition declared in a `defaults`
//! section keeps a copy of that section's ACLs (see [`StatsPage::admin_acls`]).

use super::acl::parse_condition;
use super::options::usage_err;
use super::proxy::{Kind, ProxyConf};
use super::units::parse_time;
use super::{Ln, R};
use crate::error::did_you_mean;
use crate::model::StatsPage;

/// The `stats` sub-keywords sluice accepts in a proxy section.
const ACCEPTED: &[&str] = &[
    "enable",
    "uri",
    "refresh",
    "auth",
    "realm",
    "admin",
    "hide-version",
    "show-legends",
];

/// One `stats <what> …` line in a proxy section.
pub(crate) fn stats_kw(px: &mut ProxyConf, ln: &Ln<'_>) -> R {
    let what = ln.arg(1);
    let kw = format!("stats {what}");
    let kw = kw.trim_end();
    let refused = match what {
        "scope" => Some("restricting the page to some proxies ('stats scope') is not supported yet; the page shows every proxy"),
        "show-node" | "show-desc" => Some("the node name and description on the page are not supported yet"),
        "show-modules" => Some("per-module counters on the page are not supported yet"),
        "http-request" => Some("'stats http-request' rules are not supported yet; use 'stats auth' and 'stats admin', or 'http-request' rules before the page"),
        "bind-process" => Some("it was removed from HAProxy; sluice runs every proxy on every thread"),
        "socket" | "timeout" | "maxconn" => Some("this 'stats' keyword belongs in the global section"),
        "" => None,
        _ => None,
    };
    if let Some(why) = refused {
        return Err(ln.err(
            kw,
            format!("'{kw}' is not supported by sluice in a proxy section"),
            why,
        ));
    }
    if !ACCEPTED.contains(&what) {
        return Err(ln.err(
            "stats",
            if what.is_empty() {
                "'stats' expects a keyword".to_string()
            } else {
                format!("unknown keyword 'stats {what}'")
            },
            did_you_mean(
                what,
                ACCEPTED.iter().copied(),
                "stats keywords: enable, uri, refresh, auth, realm, admin, hide-version, show-legends",
            ),
        ));
    }
    let nargs = ln.w.len() - 2;
    let want_args = |n: usize, usage: &str| -> R {
        if nargs != n {
            return Err(usage_err(ln, kw, usage));
        }
        Ok(())
    };
    // Later lines extend the page (a section's first line extends what `defaults`
    // gave it, as HAProxy copies the defaults' settings).
    px.stats_inherited = false;
    let mut page = px
        .stats
        .take()
        .unwrap_or_else(|| StatsPage::new(ln.loc.clone()));
    let r = (|| -> R {
        match what {
            "enable" => want_args(0, "stats enable")?,
            "hide-version" => {
                want_args(0, "stats hide-version")?;
                page.hide_version = true;
            }
            "show-legends" => {
                want_args(0, "stats show-legends")?;
                page.show_legends = true;
            }
            "uri" => {
                want_args(1, "stats uri <prefix>")?;
                let u = &ln.w[2];
                if !u.starts_with('/') || u.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(ln.err(
                        kw,
                        format!("invalid stats URI '{u}'"),
                        "write a path prefix starting with '/', e.g. 'stats uri /stats'",
                    ));
                }
                page.uri = u.clone();
            }
            "realm" => {
                want_args(1, "stats realm <realm> (escape spaces with '\\')")?;
                let r = &ln.w[2];
                if r.is_empty() || r.contains('"') || r.bytes().any(|b| b < b' ' || b == 0x7f) {
                    return Err(ln.err(
                        kw,
                        format!("invalid realm '{r}'"),
                        "a realm is printable text without double quotes",
                    ));
                }
                page.realm = r.clone();
            }
            "refresh" => {
                want_args(1, "stats refresh <delay>")?;
                let d = parse_time(&ln.w[2]).map_err(|f| ln.fail(kw, f))?;
                if d.as_secs() == 0 {
                    return Err(ln.err(
                        kw,
                        format!("refresh delay '{}' is below one second", ln.w[2]),
                        "browsers refresh in whole seconds: write e.g. 'stats refresh 10s'",
                    ));
                }
                page.refresh = Some(d);
            }
            "auth" => {
                want_args(1, "stats auth <user>:<password>")?;
                let Some((u, p)) = ln.w[2].split_once(':').filter(|(u, _)| !u.is_empty()) else {
                    return Err(ln.err(
                        kw,
                        format!("'{}' is not '<user>:<password>'", ln.w[2]),
                        "write 'stats auth admin:secret'",
                    ));
                };
                page.auth.push((u.to_string(), p.to_string()));
            }
            "admin" => {
                if nargs == 0 {
                    return Err(usage_err(ln, kw, "stats admin { if | unless } <condition>"));
                }
                let cond = parse_condition(&ln.w[2..], &mut px.acls, &ln.loc)
                    .map_err(|f| ln.fail(kw, f))?;
                page.admin = Some(cond);
                page.admin_acls = if px.kind == Kind::Defaults {
                    px.acls.clone()
                } else {
                    vec![]
                };
                px.stats_admin_own_acls = px.kind != Kind::Defaults;
            }
            _ => unreachable!("ACCEPTED and the match are out of sync: {what}"),
        }
        Ok(())
    })();
    px.stats = Some(page);
    r
}
