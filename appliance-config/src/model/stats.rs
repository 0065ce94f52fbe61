//! The stats page of a proxy (`stats enable|uri|refresh|auth|realm|admin|hide-version|
//! show-legends`).
//!
//! Owns: [`StatsPage`]. Invariants (set by the loader): `uri` is not empty; every
//! `auth` entry has a non-empty user; `admin`'s named ACLs index into `admin_acls`
//! (the ACL list of the section that declared the condition, a `defaults` section's
//! when inherited), never into the proxy's own list.

use std::time::Duration;

use crate::error::Location;
use crate::model::sample::{Acl, Condition};

/// HAProxy's default stats URI prefix.
pub const DEFAULT_STATS_URI: &str = "/haproxy?stats";
/// HAProxy's default authentication realm.
pub const DEFAULT_STATS_REALM: &str = "HAProxy Statistics";

/// A proxy's stats page: requests whose path starts with `uri` are answered by it.
#[derive(Clone, Debug)]
pub struct StatsPage {
    /// `stats uri` (default [`DEFAULT_STATS_URI`]): a prefix of the request target.
    pub uri: String,
    /// `stats refresh`: the page asks the browser to reload itself this often.
    pub refresh: Option<Duration>,
    /// `stats auth <user>:<password>` lines: empty means no authentication.
    pub auth: Vec<(String, String)>,
    /// `stats realm` (default [`DEFAULT_STATS_REALM`]).
    pub realm: String,
    /// `stats admin if|unless <cond>`: when it holds, the page offers (and accepts)
    /// server state changes.
    pub admin: Option<Condition>,
    /// The ACLs `admin` refers to by index.
    pub admin_acls: Vec<Acl>,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats show-legends`.
    pub show_legends: bool,
    /// The first `stats` line that enabled the page.
    pub location: Location,
}

impl StatsPage {
    /// A page with HAProxy's defaults, enabled at `location`.
    pub fn new(location: Location) -> Self {
        StatsPage {
            uri: DEFAULT_STATS_URI.into(),
            refresh: None,
            auth: vec![],
            realm: DEFAULT_STATS_REALM.into(),
            admin: None,
            admin_acls: vec![],
            hide_version: false,
            show_legends: false,
            location,
        }
    }
}
