//! The `typed` and `json` output formats of `show info` and `show stat` (HAProxy's
//! management guide, "show info" / "show stat" / "typed output format").
//!
//! Owns: the tags and type of every field ([`info_meta`], [`stat_meta`]: three letters
//! origin / nature / scope, then `u32`, `u64`, `s32` or `str`, as HAProxy 2.6 reports
//! them), one typed line ([`typed_line`]) and one JSON object ([`json_field`]).
//! Invariant: empty fields are never emitted (HAProxy leaves them out of both
//! formats); numbers are bare in JSON, strings escaped.

use std::fmt::Write as _;

/// Tags (`origin nature scope`, one letter each) and type of a `show info` field.
pub(crate) fn info_meta(name: &str) -> (&'static str, &'static str) {
    match name {
        "Name" | "Version" | "Release_date" | "Build info" => ("POS", "str"),
        "Nbthread" | "Nbproc" | "NbThreadGroups" => ("CGS", "u32"),
        "Process_num" => ("KGP", "u32"),
        "Pid" => ("SGP", "u32"),
        "Tainted" => ("SGP", "str"),
        "Uptime" => ("MDP", "str"),
        "Uptime_sec" | "Start_time_sec" | "BootTime_ms" => ("MDP", "u32"),
        "node" | "description" => ("COS", "str"),
        "Memmax_MB" | "Memmax_bytes" | "Ulimit-n" | "Maxsock" | "Maxconn" | "Hard_maxconn"
        | "Maxpipes" | "ConnRateLimit" | "SessRateLimit" | "SslRateLimit"
        | "CompressBpsRateLim" | "MaxZlibMemUsage" => ("CLP", "u32"),
        "PoolAlloc_bytes"
        | "PoolUsed_bytes"
        | "TotalBytesOut"
        | "TotalSplicedBytesOut"
        | "CurrStreams" => ("MGP", "u64"),
        "BytesOutRate" => ("MRP", "u64"),
        "CumStreams" | "PatternsAdded" | "PatternsFreed" => ("MCP", "u64"),
        "PoolFailed"
        | "CumConns"
        | "CumReq"
        | "CumSslConns"
        | "SslCacheLookups"
        | "SslCacheMisses"
        | "CumRecvLogs"
        | "TotalWarnings"
        | "MaxconnReached"
        | "BlockedTrafficWarnings" => ("MCP", "u32"),
        "ConnRate" | "SessRate" | "MaxSessRate" | "SslRate" | "SslBackendKeyRate"
        | "CompressBpsIn" | "CompressBpsOut" => ("MRP", "u32"),
        "MaxSslConns"
        | "MaxConnRate"
        | "MaxSslRate"
        | "SslFrontendMaxKeyRate"
        | "SslBackendMaxKeyRate" => ("MMP", "u32"),
        "Idle_pct" => ("MaP", "u32"),
        _ => ("MGP", "u32"),
    }
}

/// Tags and type of a `show stat` column for an object of `kind` (`'F'`, `'B'`, `'S'`).
pub(crate) fn stat_meta(kind: char, name: &str) -> (&'static str, &'static str) {
    let be = kind == 'B';
    match name {
        "pxname" | "svname" => ("KNS", "str"),
        "qcur"
        | "scur"
        | "srv_icur"
        | "idle_conn_cur"
        | "safe_conn_cur"
        | "used_conn_cur"
        | "need_conn_est"
        | "agg_server_status"
        | "agg_server_check_status"
        | "agg_check_status" => ("MGP", "u32"),
        "qmax" | "smax" | "req_rate_max" | "conn_rate_max" | "qtime_max" | "ctime_max"
        | "rtime_max" | "ttime_max" => ("MMP", "u32"),
        "slim" | "qlimit" | "rate_lim" | "src_ilim" => ("CLP", "u32"),
        "status" => ("SGP", "str"),
        "weight" | "uweight" | "throttle" | "qtime" | "ctime" | "rtime" | "ttime" => ("MaP", "u32"),
        "act" | "bck" if be => ("MGP", "u32"),
        "act" | "bck" => ("SGP", "u32"),
        "lastchg" => ("MAP", "u32"),
        "lastsess" => ("MAP", "s32"),
        "downtime" => ("MCP", "u32"),
        "pid" => ("KGP", "u32"),
        "iid" | "sid" => ("KGS", "u32"),
        "type" | "check_rise" | "check_fall" | "check_health" | "agent_rise" | "agent_fall"
        | "agent_health" => ("CGS", "u32"),
        "tracked" | "addr" | "cookie" | "mode" | "algo" => ("CGS", "str"),
        "rate" | "rate_max" if be => ("MGP", "u32"),
        "rate" | "req_rate" | "conn_rate" => ("MRP", "u32"),
        "rate_max" => ("MMP", "u32"),
        "check_status" | "last_chk" | "last_agt" | "agent_status" | "check_desc" | "agent_desc" => {
            ("MOP", "str")
        }
        "check_code" | "agent_code" => ("MOP", "u32"),
        "check_duration" | "agent_duration" => ("MDP", "u64"),
        "h2_open_connections"
        | "h2_backend_open_streams"
        | "h1_open_connections"
        | "h1_open_streams" => ("MGP", "u64"),
        _ => ("MCP", "u64"),
    }
}

/// `<tags>:<type>:<value>` after `prefix` (which ends with `:`), one line.
pub(crate) fn typed_line(out: &mut String, prefix: &str, meta: (&str, &str), value: &str) {
    let _ = writeln!(out, "{prefix}{}:{}:{value}", meta.0, meta.1);
}

fn tag_names(tags: &str) -> (&'static str, &'static str, &'static str) {
    let b = tags.as_bytes();
    let origin = match b[0] {
        b'M' => "Metric",
        b'S' => "Status",
        b'K' => "Key",
        b'C' => "Config",
        _ => "Product",
    };
    let nature = match b[1] {
        b'A' => "Age",
        b'a' => "Avg",
        b'C' => "Counter",
        b'D' => "Duration",
        b'G' => "Gauge",
        b'L' => "Limit",
        b'M' => "Max",
        b'm' => "Min",
        b'N' => "Name",
        b'O' => "Output",
        b'R' => "Rate",
        _ => "Time",
    };
    let scope = match b[2] {
        b'P' => "Process",
        b'S' => "Service",
        b's' => "System",
        _ => "Cluster",
    };
    (origin, nature, scope)
}

/// A JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One field as HAProxy's JSON object: `head` (e.g. `"objType":"Server","proxyId":3,
/// "id":1,` or nothing) then position, name, process, tags and typed value. A number
/// field whose text is not a number is written as a string.
pub(crate) fn json_field(
    out: &mut String,
    head: &str,
    pos: usize,
    name: &str,
    meta: (&str, &str),
    value: &str,
) {
    let (origin, nature, scope) = tag_names(meta.0);
    let _ = write!(out, "{{{head}\"field\":{{\"pos\":{pos},\"name\":");
    json_str(out, name);
    let _ = write!(
        out,
        "}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\
         \"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{}\",\"value\":",
        meta.1
    );
    if meta.1 != "str" && value.parse::<i64>().is_ok() {
        out.push_str(value);
    } else {
        json_str(out, value);
    }
    out.push_str("}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_json_fields() {
        let mut t = String::new();
        typed_line(&mut t, "0.Name.1:", info_meta("Name"), "sluice");
        typed_line(&mut t, "F.2.0.4.scur.1:", stat_meta('F', "scur"), "0");
        assert_eq!(t, "0.Name.1:POS:str:sluice\nF.2.0.4.scur.1:MGP:u32:0\n");
        assert_eq!(stat_meta('B', "act"), ("MGP", "u32"));
        assert_eq!(stat_meta('S', "act"), ("SGP", "u32"));
        assert_eq!(stat_meta('S', "lastsess"), ("MAP", "s32"));
        let mut j = String::new();
        json_field(&mut j, "", 3, "Nbthread", info_meta("Nbthread"), "2");
        assert_eq!(
            j,
            r#"{"field":{"pos":3,"name":"Nbthread"},"processNum":1,"tags":{"origin":"Config","nature":"Gauge","scope":"Service"},"value":{"type":"u32","value":2}}"#
        );
        let mut j = String::new();
        json_field(&mut j, "", 0, "x", ("MOP", "str"), "a\"b\n");
        assert!(
            j.ends_with(r#""value":{"type":"str","value":"a\"b\n"}}"#),
            "{j}"
        );
    }
}
