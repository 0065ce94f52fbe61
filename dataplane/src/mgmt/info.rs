//! `show info`: the process's figures as `Key: value` lines (HAProxy's keys and order,
//! 3.x's full list), or in the typed / JSON formats of `typed`.
//!
//! Owns: [`show_info`]. Invariant: the key order never changes (field numbers of the
//! typed and JSON formats are positions in it); empty fields are left out of the
//! typed and JSON formats.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::stat::Format;
use super::{typed, Cli};

/// `show info`'s fields: HAProxy's keys, in its order (see the notes,
/// `stat_cols_info[]`).
fn fields(cli: &Cli) -> Vec<(&'static str, String)> {
    let snaps = cli.gather();
    let t = cli.totals(&snaps);
    let sh = &cli.shared;
    let cfg = &sh.config;
    let up = cli.started.elapsed().as_secs();
    let cum_req: u64 = t.frontends.iter().map(|c| c.requests).sum();
    let cur = sh.process.cur();
    let tasks: u64 = snaps
        .iter()
        .map(|s| s.exec.spawned.saturating_sub(s.exec.completed))
        .sum();
    let streams: usize = snaps.iter().map(|s| s.sessions).sum();
    let ulimit = cfg.global.ulimit_n.map_or_else(nofile, u64::from);
    let node = cfg.global.node.clone().unwrap_or_else(hostname);
    let version = cli.version.as_str();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up / 3600) % 24,
        (up / 60) % 60,
        up % 60
    );
    let num = |v: u64| v.to_string();
    let kv: Vec<(&str, String)> = vec![
        ("Name", "sluice".into()),
        ("Version", version.into()),
        ("Release_date", String::new()),
        ("Nbthread", num(sh.nbthread as u64)),
        ("Nbproc", num(1)),
        ("Process_num", num(1)),
        ("Pid", num(u64::from(std::process::id()))),
        ("Uptime", uptime),
        ("Uptime_sec", num(up)),
        ("Start_time_sec", num(cli.started_wall)),
        ("Memmax_MB", num(0)),
        ("Memmax_bytes", num(0)),
        ("PoolAlloc_MB", num(0)),
        ("PoolAlloc_bytes", num(0)),
        ("PoolUsed_MB", num(0)),
        ("PoolUsed_bytes", num(0)),
        ("PoolFailed", num(0)),
        ("Ulimit-n", num(ulimit)),
        ("Maxsock", num(ulimit)),
        ("Maxconn", num(u64::from(sh.process.limit()))),
        ("Hard_maxconn", num(u64::from(sh.maxconn))),
        ("CurrConns", num(u64::from(cur))),
        (
            "CumConns",
            num(sh.process.cum_conns.load(Ordering::Relaxed)),
        ),
        ("CumReq", num(cum_req)),
        ("MaxSslConns", num(0)),
        ("CurrSslConns", num(0)),
        ("CumSslConns", num(0)),
        ("Maxpipes", num(0)),
        ("PipesUsed", num(0)),
        ("PipesFree", num(0)),
        ("ConnRate", num(0)),
        ("ConnRateLimit", num(0)),
        ("MaxConnRate", num(0)),
        ("SessRate", num(0)),
        ("SessRateLimit", num(0)),
        ("MaxSessRate", num(0)),
        ("SslRate", num(0)),
        ("SslRateLimit", num(0)),
        ("MaxSslRate", num(0)),
        ("SslFrontendKeyRate", num(0)),
        ("SslFrontendMaxKeyRate", num(0)),
        ("SslFrontendSessionReuse_pct", num(0)),
        ("SslBackendKeyRate", num(0)),
        ("SslBackendMaxKeyRate", num(0)),
        ("SslCacheLookups", num(0)),
        ("SslCacheMisses", num(0)),
        ("CompressBpsIn", num(0)),
        ("CompressBpsOut", num(0)),
        ("CompressBpsRateLim", num(0)),
        ("ZlibMemUsage", num(0)),
        ("MaxZlibMemUsage", num(0)),
        ("Tasks", num(tasks)),
        ("Run_queue", num(0)),
        ("Idle_pct", num(100)),
        ("node", node),
        (
            "description",
            cfg.global.description.clone().unwrap_or_default(),
        ),
        ("Stopping", num(u64::from(sh.is_stopping()))),
        ("Jobs", num(u64::from(cur) + cli.listeners as u64)),
        ("Unstoppable Jobs", num(0)),
        ("Listeners", num(cli.listeners as u64)),
        ("ActivePeers", num(0)),
        ("ConnectedPeers", num(0)),
        ("DroppedLogs", num(0)),
        ("BusyPolling", num(0)),
        ("FailedResolutions", num(0)),
        ("TotalBytesOut", num(0)),
        ("TotalSplicedBytesOut", num(0)),
        ("BytesOutRate", num(0)),
        ("DebugCommandsIssued", num(0)),
        ("CumRecvLogs", num(0)),
        ("Build info", version.into()),
        ("Tainted", num(0)),
        ("TotalWarnings", num(0)),
        ("MaxconnReached", num(0)),
        ("BootTime_ms", num(0)),
        ("Niced_tasks", num(0)),
        ("CurrStreams", num(streams as u64)),
        ("CumStreams", num(cum_req)),
        ("BlockedTrafficWarnings", num(0)),
        ("PatternsAdded", num(0)),
        ("PatternsFreed", num(0)),
        ("NbThreadGroups", num(1)),
    ];
    kv
}

/// `show info [typed|json]`.
pub(crate) fn show_info(cli: &Cli, fmt: Format) -> String {
    format(&fields(cli), fmt)
}

fn format(kv: &[(&str, String)], fmt: Format) -> String {
    let mut out = String::new();
    match fmt {
        Format::Csv => {
            for (k, v) in kv {
                let _ = writeln!(out, "{k}: {v}");
            }
        }
        Format::Typed => {
            for (i, (k, v)) in kv.iter().enumerate().filter(|(_, (_, v))| !v.is_empty()) {
                typed::typed_line(&mut out, &format!("{i}.{k}.1:"), typed::info_meta(k), v);
            }
        }
        Format::Json => {
            out.push('[');
            for (n, (i, (k, v))) in kv
                .iter()
                .enumerate()
                .filter(|(_, (_, v))| !v.is_empty())
                .enumerate()
            {
                if n > 0 {
                    out.push(',');
                }
                typed::json_field(&mut out, "", i, k, typed::info_meta(k), v);
            }
            out.push_str("]\n");
        }
    }
    out
}

/// The soft `RLIMIT_NOFILE`, read from /proc (no unsafe call needed).
fn nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{format, Format};

    #[test]
    fn three_formats() {
        let kv = vec![
            ("Name", "sluice".to_string()),
            ("Release_date", String::new()),
            ("Pid", "42".to_string()),
        ];
        assert_eq!(
            format(&kv, Format::Csv),
            "Name: sluice\nRelease_date: \nPid: 42\n"
        );
        assert_eq!(
            format(&kv, Format::Typed),
            "0.Name.1:POS:str:sluice\n2.Pid.1:SGP:u32:42\n"
        );
        let j = format(&kv, Format::Json);
        assert!(j.starts_with(r#"[{"field":{"pos":0,"name":"Name"},"processNum":1,"tags":{"origin":"Product","nature":"Output","scope":"Service"},"value":{"type":"str","value":"sluice"}},{"field":{"pos":2,"#), "{j}");
        assert!(
            j.ends_with(
                r#""value":{"type":"u32","value":42}}]
"#
            ),
            "{j}"
        );
    }
}
