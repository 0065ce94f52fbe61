//! Responses sluice writes itself: error pages (the user's `errorfile` pages or
//! HAProxy's defaults), and `return`/`redirect` answers built from rules.
//!
//! Invariant: an error page is sent whole, as configured (errorfiles are checked
//! at load time), and the connection closes after it.

use appliance_config::Config;

use crate::h1::default_error_response;

/// The page to send for `status`: the backend's errorfile, then the frontend's,
/// then HAProxy's default page.
pub fn error_page(cfg: &Config, fe: usize, be: Option<usize>, status: u16) -> &[u8] {
    if let Some(p) = be.and_then(|b| cfg.backends[b].errorfiles.get(&status)) {
        return &p.raw;
    }
    if let Some(p) = cfg.frontends[fe].errorfiles.get(&status) {
        return &p.raw;
    }
    default_error_response(status)
}
