//! Keywords and sections that sluice refuses, with the reason or the replacement.
//!
//! Owns: the tables of HAProxy sections sluice does not have, keywords HAProxy
//! removed (with their modern replacement), and keywords HAProxy has but sluice does
//! not support (yet). Invariant: nothing listed here is ever silently accepted.

/// Reason a section is refused, when it is one sluice does not support.
pub(crate) fn section(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "peers" => "peers (stick-table replication) are not supported yet",
        "resolvers" => {
            "DNS resolvers are not supported yet; server names are resolved once at load time"
        }
        "userlist" => "userlists and HTTP authentication are not supported yet",
        "mailers" => "email alerts are not supported",
        "program" => "sluice does not start external programs",
        "cache" => "HTTP caching is not supported yet",
        "ring" => "log rings are not supported yet",
        "log-forward" => "log forwarding is not supported",
        "fcgi-app" => "FastCGI applications are not supported",
        "crt-store" => "certificate stores are not supported yet; name certificates with 'crt' on bind lines (and 'crt-base' in global)",
        "traces" => "traces are not supported",
        "acme" => "ACME certificate management is not supported",
        "dynamic-update" => "dynamic updates are not supported",
        _ => return None,
    })
}

/// A removed HAProxy keyword: `(message, modern replacement)`.
pub(crate) fn removed_proxy_kw(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "contimeout" => "use 'timeout connect'",
        "clitimeout" => "use 'timeout client'",
        "srvtimeout" => "use 'timeout server'",
        "redispatch" => "use 'option redispatch'",
        "block" => "use 'http-request deny'",
        "reqadd" => "use 'http-request add-header'",
        "reqrep" | "reqirep" => "use 'http-request replace-header', 'replace-value' or 'set-path'",
        "reqdel" | "reqidel" => "use 'http-request del-header'",
        "reqallow" | "reqiallow" => "use 'http-request allow'",
        "reqdeny" | "reqideny" => "use 'http-request deny'",
        "reqpass" | "reqipass" => "remove it; it had no effect",
        "reqtarpit" | "reqitarpit" => {
            "use 'http-request tarpit' (not supported by sluice yet) or 'http-request deny'"
        }
        "reqsetbe" | "reqisetbe" => "use 'use_backend <backend> if <condition>'",
        "rspadd" => "use 'http-response add-header'",
        "rsprep" | "rspirep" => "use 'http-response replace-header' or 'replace-value'",
        "rspdel" | "rspidel" => "use 'http-response del-header'",
        "rspdeny" | "rspideny" => "use 'http-response deny'",
        "monitor-net" => "use 'http-request return status 200 if { src <net> }' or 'monitor-uri'",
        "grace" => "remove it; use 'hard-stop-after' in the global section",
        "appsession" => "cookie persistence is not supported by sluice yet",
        "bind-process" => "remove it; sluice runs every proxy on every thread",
        "dispatch" => "declare a 'server' instead",
        "transparent" => "transparent proxying is not supported",
        _ => return None,
    })
}

/// A proxy keyword HAProxy has and sluice does not support (yet): the reason.
pub(crate) fn unsupported_proxy_kw(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "stick-table" | "stick" => "stick tables are not supported yet",
        "tcp-request" | "tcp-response" => "TCP content rules are not supported yet",
        "compression" => "HTTP compression is not supported yet",
        "cookie" => "cookie-based persistence is not supported yet",
        "filter" => "filters (compression, SPOE, cache, trace, bandwidth limits) are not supported",
        "http-after-response" => {
            "'http-after-response' rules are not supported yet; use 'http-response'"
        }
        "unique-id-format" | "unique-id-header" => "unique request ids are not supported yet",
        "source" => "choosing the source address of server connections is not supported yet",
        "server-template" => "server templates need DNS resolvers, which are not supported yet",
        "use-server" | "force-persist" | "ignore-persist" | "persist" => {
            "persistence rules are not supported yet"
        }
        "rate-limit" => "rate limiting is not supported yet",
        "declare" => "'declare capture' is not supported yet",
        "tcp-check" | "external-check" => "only TCP-connect and HTTP health checks are supported",
        "email-alert" => "email alerts are not supported",
        "fullconn" => "dynamic server limits (minconn/fullconn) are not supported yet",
        "errorloc" | "errorloc302" | "errorloc303" => "use 'http-request redirect' or 'errorfile'",
        "load-server-state-from-file" | "server-state-file-name" => {
            "server state files are not supported"
        }
        "log-format-sd" => "RFC 5424 structured data is not supported yet",
        "error-log-format" => "'error-log-format' is not supported yet",
        "log-tag" => "a per-proxy log tag is not supported yet; use 'log-tag' in global",
        "http-error" => "'http-error' is not supported yet; use 'errorfile'",
        "max-keep-alive-queue"
        | "max-session-srv-conns"
        | "pool-purge-delay"
        | "pool-max-conn"
        | "pool-low-conn" => "idle-pool tuning is not configurable yet",
        "retry-on" => "'retry-on' is not supported yet (connection failures are retried)",
        "backlog" => "set the backlog per listener with 'bind … backlog <n>'",
        "guid" => "proxy GUIDs are not supported",
        "http-send-name-header" => "'http-send-name-header' is not supported yet",
        "monitor" => "'monitor fail' is not supported yet",
        "lua-load" | "lua-load-per-thread" | "lua-prepend-path" => "Lua is not supported",
        _ => return None,
    })
}

/// Options HAProxy has and sluice does not support (yet): the reason.
pub(crate) fn unsupported_option(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "forceclose" => "it was removed from HAProxy; use 'option httpclose'",
        "http-tunnel" => "it was removed from HAProxy; keep-alive is the default",
        "http-use-htx" => "it was removed from HAProxy; remove it",
        "httpclose" => return None,
        "splice-auto" | "splice-request" | "splice-response" => {
            "kernel splicing is not in this build (feature LINUX_SPLICE is off)"
        }
        "tcpka" | "clitcpka" | "srvtcpka" => "TCP keep-alive options are not supported yet",
        "http-buffer-request" => "request buffering is not supported yet",
        "logasap" => "'option logasap' is not supported yet",
        "http-pretend-keepalive" => "'option http-pretend-keepalive' is not supported yet",
        "http-no-delay" => "'option http-no-delay' is not supported yet",
        "allbackups" => "'option allbackups' is not supported yet",
        "persist" | "prefer-last-server" => "persistence options are not supported yet",
        "socket-stats" | "contstats" => "per-listener statistics are not supported yet",
        "transparent" => "transparent proxying is not supported",
        "ssl-hello-chk" => "SSLv3 hello checks are not supported; use 'check-ssl' on the server for TLS health checks",
        "mysql-check" | "pgsql-check" | "redis-check" | "smtpchk" | "ldap-check" | "spop-check"
        | "tcp-check" | "external-check" => "only TCP-connect and HTTP health checks are supported",
        "accept-invalid-http-request"
        | "accept-invalid-http-response"
        | "accept-unsafe-violations-in-http-request"
        | "accept-unsafe-violations-in-http-response" => {
            "sluice never accepts invalid HTTP (request smuggling is impossible by construction)"
        }
        "nolinger" => "'option nolinger' is not supported yet",
        "originalto" => "'option originalto' is not supported yet",
        "independent-streams" => "'option independent-streams' is not supported yet",
        "log-separate-errors" | "log-health-checks-detail" => {
            "this log option is not supported yet"
        }
        "checkcache" => "'option checkcache' is not supported yet",
        "disable-h2-upgrade" | "h1-case-adjust-bogus-client" | "h1-case-adjust-bogus-server" => {
            "this HTTP option is not supported yet"
        }
        "http-restrict-req-hdr-names" => "sluice rejects invalid header names always",
        "http-ignore-probes" => "'option http-ignore-probes' is not supported yet",
        "idle-close-on-response" => "'option idle-close-on-response' is not supported yet",
        "spop-check-bogus" => "SPOP checks are not supported",
        "httpslog" => "'option httpslog' is not supported yet; use 'option httplog' or a 'log-format' with %[ssl_fc_protocol] and %[ssl_fc_cipher]",
        "dontlog-normal" => "'option dontlog-normal' is not supported yet",
        _ => return None,
    })
}

/// Global keywords HAProxy has and sluice does not support (yet): the reason.
pub(crate) fn unsupported_global_kw(kw: &str) -> Option<&'static str> {
    if kw.starts_with("lua-") || kw.starts_with("tune.lua.") {
        return Some("Lua is not supported");
    }
    if kw.starts_with("tune.quic.") || kw.starts_with("quic-") {
        return Some("QUIC is not in this build");
    }
    Some(match kw {
        "nbproc" => "it was removed from HAProxy 2.5; use 'nbthread'",
        "debug" => "it was removed from HAProxy; run sluice in the foreground instead",
        "master-worker" => "master-worker mode is not supported yet; run sluice under a supervisor",
        "peers" | "localpeer" => "peers are not supported yet",
        "server-state-file" | "server-state-base" => "server state files are not supported",
        "spread-checks" => "'spread-checks' is not supported yet",
        "maxconnrate" | "maxsessrate" | "maxpipes" | "maxcomprate" | "maxcompcpuusage" => {
            "this limit is not supported yet"
        }
        "log-send-hostname" => "'log-send-hostname' is not supported yet",
        "h1-case-adjust" | "h1-case-adjust-file" => "header case adjustment is not supported yet",
        "unix-bind" => "'unix-bind' is not supported yet",
        "thread-groups" => "sluice runs a single thread group",
        "insecure-fork-wanted" | "insecure-setuid-wanted" => "sluice never forks helpers",
        "set-dumpable" => "'set-dumpable' is not supported yet",
        "quiet" => "'quiet' is not supported yet; sluice prints only warnings and errors",
        "external-check" => "external checks are not supported",
        "numa-cpu-mapping" => "'numa-cpu-mapping' is not supported yet",
        "busy-polling" => "set the I/O mode on the command line instead",
        "noepoll" | "nopoll" | "nokqueue" | "noevports" | "nosplice" | "nogetaddrinfo"
        | "noreuseport" => "set the I/O mode on the command line instead",
        "httpclient.resolvers.disabled"
        | "httpclient.resolvers.id"
        | "httpclient.resolvers.prefer"
        | "httpclient.retries"
        | "httpclient.timeout.connect" => "the HTTP client is not supported",
        "limited-quic" => "QUIC is not in this build",
        "profiling.tasks" | "profiling.memory" => "profiling is not supported",
        _ => return None,
    })
}
