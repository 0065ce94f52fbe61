//! The stats page's content (`stats enable` in a proxy): an HTML report with one
//! table per proxy, and its `;csv` export.
//!
//! Owns: [`render_html`], [`render_csv`], [`escape`], [`Status`] (the outcome of an
//! admin action, carried in the redirect URL as `;st=XXXX`) and [`PageFlags`] (the
//! `;csv`, `;norefresh`, `;up`, `;st=` suffixes after the page's URI). Serving,
//! authentication and the admin actions live in `proxy::http::statspage`.
//!
//! Invariants: the page is a pure function of the shared state and the workers'
//! summed counters; every figure comes from the same rows as `show stat` (so the
//! CSV export is byte for byte the CLI's, header included, and the HTML cannot
//! disagree with it); every name or text that comes from the configuration or the
//! request is HTML-escaped; the page needs no script (only a refresh `meta`).

use std::fmt::Write;
use std::time::Instant;

use appliance_config::StatsPage;

use super::stat::{self, Filter, Row};
use crate::proxy::stats::WorkerStats;
use crate::proxy::Shared;

/// The outcome of an admin POST, as HAProxy spells it in `;st=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every selected server changed.
    Done,
    /// Some did.
    Partial,
    /// Nothing selected, or nothing changed.
    None,
    /// Invalid parameters (unknown action, backend or server).
    Errp,
    /// No admin rights: nothing was done.
    Deny,
    /// The form was too large.
    Excd,
}

impl Status {
    /// The four letters of `;st=`.
    pub fn code(self) -> &'static str {
        match self {
            Status::Done => "DONE",
            Status::Partial => "PART",
            Status::None => "NONE",
            Status::Errp => "ERRP",
            Status::Deny => "DENY",
            Status::Excd => "EXCD",
        }
    }

    /// Parse the four letters of `;st=`.
    pub fn from_code(c: &str) -> Option<Status> {
        [
            Status::Done,
            Status::Partial,
            Status::None,
            Status::Errp,
            Status::Deny,
            Status::Excd,
        ]
        .into_iter()
        .find(|s| s.code() == c)
    }

    /// The banner shown after the redirect, and whether it reports success.
    fn banner(self) -> (&'static str, bool) {
        match self {
            Status::Done => ("Action processed successfully.", true),
            Status::Partial => ("Action processed for some of the servers only.", false),
            Status::None => ("Nothing has changed.", true),
            Status::Errp => ("Action not processed: invalid parameters.", false),
            Status::Deny => ("Action denied: administration is not allowed.", false),
            Status::Excd => ("Action not processed: the form was too large.", false),
        }
    }
}

/// The options written after the page's URI (`/stats;csv;norefresh`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageFlags {
    /// `;csv`: the CSV export.
    pub csv: bool,
    /// `;norefresh`: no automatic refresh.
    pub norefresh: bool,
    /// `;up`: hide servers that are not up.
    pub up: bool,
    /// `;st=XXXX`: the outcome of the last admin action.
    pub status: Option<Status>,
}

impl PageFlags {
    /// Read the flags in what follows the page's URI prefix.
    pub fn parse(rest: &str) -> PageFlags {
        let mut f = PageFlags::default();
        for part in rest.split(';') {
            match part {
                "csv" => f.csv = true,
                "norefresh" => f.norefresh = true,
                "up" => f.up = true,
                p => {
                    if let Some(c) = p.strip_prefix("st=") {
                        f.status = Status::from_code(c.get(..4).unwrap_or(c));
                    }
                }
            }
        }
        f
    }

    /// The suffix that keeps these view options (not `csv`, not `st`) in links.
    pub fn view_suffix(&self) -> String {
        let mut s = String::new();
        if self.up {
            s.push_str(";up");
        }
        if self.norefresh {
            s.push_str(";norefresh");
        }
        s
    }
}

/// HTML-escape text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The CSV export: exactly `show stat`'s output.
pub fn render_csv(sh: &Shared, t: &WorkerStats) -> String {
    stat::csv(&stat::rows(sh, sh.started, t, Filter::ALL))
}

/// What the HTML page needs besides the counters.
pub struct View<'a> {
    /// The proxy's page settings.
    pub page: &'a StatsPage,
    /// The flags of this request.
    pub flags: PageFlags,
    /// The admin condition holds: forms are shown.
    pub admin: bool,
    /// sluice's version (not shown with `stats hide-version`).
    pub version: &'a str,
    /// The process id shown.
    pub pid: u32,
    /// Now (uptime).
    pub now: Instant,
}

const STYLE: &str =
    "body{font-family:arial,helvetica,sans-serif;font-size:12px;background:#fff;color:#000}\
h1{font-size:18px;background:#20377a;color:#fff;padding:4px}\
h2{font-size:14px}\
table.px{border-collapse:collapse;margin-bottom:12px}\
table.px th,table.px td{border:1px solid #999;padding:1px 4px;text-align:right}\
table.px td.name,table.px th.name{text-align:left}\
table.px caption{text-align:left;font-weight:bold;background:#b0b0ff;padding:2px}\
tr.titre{background:#20377a;color:#fff}\
tr.frontend{background:#e8e8d0}tr.backend{background:#e8e8d0;font-weight:bold}\
tr.up{background:#c0ffc0}tr.down{background:#ff9090}tr.maint{background:#c07820}\
tr.drain{background:#20a0ff}tr.nocheck{background:#e0e0e0}tr.stop{background:#ff9090}\
div.ok{background:#c0ffc0;border:1px solid #080;padding:4px;margin:6px 0}\
div.err{background:#ff9090;border:1px solid #800;padding:4px;margin:6px 0}\
table.legend td{padding:1px 6px}";

/// The row class (colour) for a status: HAProxy's page colours by state.
fn class_of(status: &str, kind: &str) -> &'static str {
    match (kind, status) {
        ("0", "OPEN") => "frontend",
        ("0", _) => "stop",
        ("1", "UP") => "backend",
        ("1", _) => "down",
        (_, "UP") => "up",
        (_, "DOWN") => "down",
        (_, "MAINT") => "maint",
        (_, "DRAIN") => "drain",
        _ => "nocheck",
    }
}

/// `1d 2h03m04s`-style durations (HAProxy's uptime format).
fn human(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The whole HTML page.
pub fn render_html(sh: &Shared, t: &WorkerStats, v: &View<'_>) -> String {
    let rows = stat::rows(sh, sh.started, t, Filter::ALL);
    let mut o = String::with_capacity(16 * 1024 + rows.len() * 1024);
    let uri = escape(&v.page.uri);
    let suffix = v.flags.view_suffix();
    let title = if v.page.hide_version {
        "Statistics Report for sluice".to_string()
    } else {
        format!("Statistics Report for sluice {}", escape(v.version))
    };
    o.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n");
    if let (Some(r), false) = (v.page.refresh, v.flags.norefresh) {
        let _ = writeln!(
            o,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            r.as_secs().max(1)
        );
    }
    let _ = writeln!(
        o,
        "<title>{title}</title>\n<style>{STYLE}</style>\n</head><body>\n<h1>{title}</h1>"
    );
    // Process information.
    let up = v.now.saturating_duration_since(sh.started).as_secs();
    let _ = writeln!(
        o,
        "<h2>General process information</h2>\n<table class=\"info\"><tr><td id=\"procinfo\">\
         pid = {} (process #1, nbthread = {})<br>\nuptime = {}d {}h{:02}m{:02}s<br>\n\
         maxconn = {}, current conns = {}, total conns = {}<br>\n\
         </td>",
        v.pid,
        sh.nbthread,
        up / 86400,
        up / 3600 % 24,
        up / 60 % 60,
        up % 60,
        sh.process.limit(),
        sh.process.cur(),
        sh.process
            .cum_conns
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    if v.page.show_legends {
        o.push_str(
            "<td><table class=\"legend\">\
             <tr class=\"up\"><td>active UP</td></tr>\
             <tr class=\"down\"><td>active DOWN</td></tr>\
             <tr class=\"drain\"><td>active or backup DRAIN</td></tr>\
             <tr class=\"maint\"><td>MAINT (set by the operator)</td></tr>\
             <tr class=\"nocheck\"><td>not checked</td></tr>\
             </table></td>",
        );
    }
    o.push_str("</tr></table>\n");
    let _ = writeln!(
        o,
        "<p><a href=\"{uri}{suffix}\">Refresh now</a> | <a href=\"{uri};csv\">CSV export</a> | {}</p>",
        if v.flags.norefresh {
            format!("<a href=\"{uri}{}\">Enable refresh</a>", if v.flags.up { ";up" } else { "" })
        } else {
            format!("<a href=\"{uri}{};norefresh\">Disable refresh</a>", if v.flags.up { ";up" } else { "" })
        }
    );
    if let Some(st) = v.flags.status {
        let (text, ok) = st.banner();
        let _ = writeln!(
            o,
            "<div class=\"{}\" id=\"status\" data-status=\"{}\">{text} <a href=\"{uri}{suffix}\">[X]</a></div>",
            if ok { "ok" } else { "err" },
            st.code()
        );
    }
    // One table per proxy: consecutive rows share the proxy id.
    let mut i = 0;
    while i < rows.len() {
        let iid = rows[i].get("iid").to_string();
        let mut j = i;
        while j < rows.len() && rows[j].get("iid") == iid {
            j += 1;
        }
        proxy_table(&mut o, &rows[i..j], v, &uri, &suffix);
        i = j;
    }
    o.push_str("</body></html>\n");
    o
}

/// The table of one proxy (frontend, servers, backend rows).
fn proxy_table(o: &mut String, rows: &[Row], v: &View<'_>, uri: &str, suffix: &str) {
    let name = escape(rows[0].get("pxname"));
    let iid = rows[0].get("iid");
    let has_servers = rows.iter().any(|r| r.get("type") == "2");
    let form = v.admin && has_servers;
    if form {
        let _ = writeln!(o, "<form method=\"post\" action=\"{uri}{suffix}\">");
    }
    let _ = writeln!(
        o,
        "<table class=\"px\" id=\"px-{iid}\" data-proxy=\"{name}\"><caption>{name}</caption>"
    );
    let check = if form { "<th rowspan=\"2\"></th>" } else { "" };
    let _ = writeln!(
        o,
        "<tr class=\"titre\">{check}<th rowspan=\"2\" class=\"name\">Name</th>\
         <th colspan=\"2\">Queue</th><th colspan=\"3\">Session rate</th>\
         <th colspan=\"5\">Sessions</th><th colspan=\"2\">Bytes</th>\
         <th colspan=\"2\">Denied</th><th colspan=\"3\">Errors</th>\
         <th colspan=\"2\">Warnings</th><th colspan=\"2\">Reuse</th>\
         <th colspan=\"6\">Server</th></tr>\n<tr class=\"titre\">\
         <th>Cur</th><th>Max</th><th>Cur</th><th>Max</th><th>Limit</th>\
         <th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>\
         <th>In</th><th>Out</th><th>Req</th><th>Resp</th>\
         <th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th>\
         <th>Connect</th><th>Reuse</th>\
         <th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Addr</th></tr>"
    );
    for r in rows {
        let kind = r.get("type");
        let status = r.get("status");
        if v.flags.up && kind == "2" && status != "UP" && status != "no check" {
            continue;
        }
        let sv = r.get("svname");
        let cls = class_of(status, kind);
        let _ = write!(
            o,
            "<tr class=\"{cls}\" data-proxy=\"{name}\" data-name=\"{}\" data-status=\"{}\">",
            escape(sv),
            escape(status)
        );
        if form {
            if kind == "2" {
                let _ = write!(
                    o,
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                    escape(sv)
                );
            } else {
                o.push_str("<td></td>");
            }
        }
        let _ = write!(o, "<td class=\"name\">{}</td>", escape(sv));
        for col in [
            "qcur", "qmax", "rate", "rate_max", "rate_lim", "scur", "smax", "slim", "stot",
            "lbtot", "bin", "bout", "dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis",
            "connect", "reuse",
        ] {
            let _ = write!(o, "<td>{}</td>", escape(r.get(col)));
        }
        let lastchg = r.get("lastchg").parse::<u64>().ok().map(human);
        let status_cell = match (kind, lastchg) {
            ("0", _) => escape(status),
            (_, Some(l)) => format!("{} {}", escape(status), l),
            (_, None) => escape(status),
        };
        let chk = if r.get("check_status").is_empty() {
            String::new()
        } else {
            let code = r.get("check_code");
            format!(
                "{}{}{} in {}ms",
                escape(r.get("check_status")),
                if code.is_empty() { "" } else { "/" },
                escape(code),
                escape(r.get("check_duration"))
            )
        };
        let _ = writeln!(
            o,
            "<td class=\"status\">{status_cell}</td><td>{chk}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"name\">{}</td></tr>",
            escape(r.get("weight")),
            escape(r.get("act")),
            escape(r.get("bck")),
            escape(r.get("addr")),
        );
    }
    o.push_str("</table>\n");
    if form {
        let _ = writeln!(
            o,
            "<div class=\"admin\">Choose the action to perform on the checked servers: \
             <select name=\"action\"><option value=\"\"></option>\
             <option value=\"ready\">Set state to READY</option>\
             <option value=\"drain\">Set state to DRAIN</option>\
             <option value=\"maint\">Set state to MAINT</option></select>\
             <input type=\"hidden\" name=\"b\" value=\"#{iid}\">\
             <input type=\"submit\" value=\"Apply\"></div>\n</form>"
        );
    }
}

#[cfg(test)]
#[path = "statspage_tests.rs"]
mod tests;
