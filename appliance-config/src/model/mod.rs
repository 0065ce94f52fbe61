//! The typed, validated configuration model that the data plane consumes.
//!
//! Owns: [`Config`] and everything in it. Invariants (established by the loader and
//! relied on by consumers): every proxy and server has a unique id and a
//! [`Location`]; every `use_backend` with a static name and every `default_backend`
//! names an existing backend of the same mode; `log global` has been replaced by the
//! global loggers; `errorfiles` references have been resolved into `errorfiles`
//! pages; all durations are HAProxy-checked (fit in 2^31-1 ms); TLS settings
//! ([`BindTls`], [`ServerTls`]) have the global defaults applied, their paths
//! resolved (`crt-base`, `ca-base`) and existing, a CA file whenever peers are
//! verified, and a non-empty TLS version range.

pub mod format;
pub mod rules;
pub mod sample;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Location;
use format::Format;
use rules::{HttpRule, UseBackend};
use sample::{Acl, IpNet};

/// Where to listen or connect (maps 1:1 to the data plane's endpoint type).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// TCP over IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A UNIX stream socket at a path.
    Unix(PathBuf),
    /// A UNIX socket in Linux's abstract namespace (name without the leading NUL).
    Abstract(String),
    /// An inherited file descriptor (`fd@N`).
    Fd(i32),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "{a}"),
            Address::Unix(p) => write!(f, "unix@{}", p.display()),
            Address::Abstract(n) => write!(f, "abns@{n}"),
            Address::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

/// `mode http|tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Layer 4 (HAProxy's default).
    #[default]
    Tcp,
    /// Layer 7.
    Http,
}

impl Mode {
    /// Configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }
    }
}

/// Every `timeout` kind. `None` means not set (HAProxy: infinite, with a warning for
/// `client`, `server` and `connect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// `timeout connect`.
    pub connect: Option<Duration>,
    /// `timeout client`.
    pub client: Option<Duration>,
    /// `timeout server`.
    pub server: Option<Duration>,
    /// `timeout http-request` (HAProxy: defaults to `timeout client` when unset).
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive` (HAProxy: defaults to `http-request`).
    pub http_keep_alive: Option<Duration>,
    /// `timeout queue` (HAProxy: defaults to `connect`).
    pub queue: Option<Duration>,
    /// `timeout check` (HAProxy: `inter` is used when unset).
    pub check: Option<Duration>,
    /// `timeout tunnel`.
    pub tunnel: Option<Duration>,
    /// `timeout client-fin`.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`.
    pub server_fin: Option<Duration>,
    /// `timeout tarpit`.
    pub tarpit: Option<Duration>,
}

/// Syslog levels, most severe first.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Emerg = 0,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

/// Names of [`LogLevel`]s, in order.
pub const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Syslog facility names, by number.
pub const LOG_FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog header format (`log … format <fmt>`).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LogHeaderFormat {
    #[default]
    Rfc3164,
    Rfc5424,
    Local,
    Short,
    Raw,
    Iso,
    Timed,
    Priority,
}

/// Where log lines go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogDest {
    /// Standard output (`stdout`, `fd@1`).
    Stdout,
    /// Standard error (`stderr`, `fd@2`).
    Stderr,
    /// UDP syslog (port 514 when not given).
    Udp(SocketAddr),
    /// A UNIX datagram socket (e.g. `/dev/log`).
    UnixDgram(PathBuf),
}

/// One `log` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    /// Destination.
    pub dest: LogDest,
    /// Header format.
    pub format: LogHeaderFormat,
    /// `len`: maximum line length (HAProxy default 1024).
    pub max_len: usize,
    /// Facility number (index into [`LOG_FACILITIES`]).
    pub facility: u8,
    /// Lines more verbose than this are dropped (default `debug`: keep all).
    pub level: LogLevel,
    /// Lines are sent at least at this severity (default `emerg`: no change).
    pub min_level: LogLevel,
    /// Where it was declared.
    pub location: Location,
}

/// `cpu-map`, unresolved: see [`Global::thread_cpus`] for the per-thread result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMap {
    /// `auto:` prefix: threads and CPUs are paired one to one.
    pub auto: bool,
    /// Thread group numbers (the part before `/`; sluice runs one group, so `1`,
    /// or `all`).
    pub groups: Vec<u32>,
    /// Thread numbers after `/` (1-based); `None` means every thread of the group.
    pub threads: Option<Vec<u32>>,
    /// CPU numbers.
    pub cpus: Vec<u32>,
    /// Where it was declared.
    pub location: Location,
}

/// `tune.*` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tune {
    /// `tune.bufsize` (default 16384).
    pub bufsize: usize,
    /// `tune.http.maxhdr` (default 101).
    pub http_maxhdr: usize,
    /// `tune.maxrewrite` (default 1024).
    pub maxrewrite: usize,
    /// `tune.idle-pool.shared` (default on).
    pub idle_pool_shared: IdlePoolShared,
}

/// `tune.idle-pool.shared off|on|full`: may a worker take an idle server connection
/// from another worker's pool? (Accepted; sluice does not take over across workers
/// yet and warns when it is set.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdlePoolShared {
    /// Each worker uses only its own pool.
    Off,
    /// Within the thread group (HAProxy's default).
    #[default]
    On,
    /// Across thread groups too.
    Full,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            bufsize: 16384,
            http_maxhdr: 101,
            maxrewrite: 1024,
            idle_pool_shared: IdlePoolShared::On,
        }
    }
}

/// A TLS protocol version sluice can speak (rustls supports TLS 1.2 and 1.3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    /// Configuration spelling (`TLSv1.2`, `TLSv1.3`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// Peer certificate verification (`verify none|optional|required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Verify {
    /// No certificate is asked for (bind) or checked (server).
    #[default]
    None,
    /// Bind only: a client certificate is asked for; when one is sent it must verify.
    Optional,
    /// A valid certificate is required.
    Required,
}

impl Verify {
    /// Configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Verify::None => "none",
            Verify::Optional => "optional",
            Verify::Required => "required",
        }
    }
}

/// TLS settings of a `bind … ssl` line, global defaults already applied.
///
/// Paths are resolved (`crt-base`, `ca-base`) and exist at load time; whether the
/// PEM contents are valid, match their key and are not expired is checked by the data
/// plane at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BindTls {
    /// Certificate files in order (`crt <file|dir>`, repeatable; a directory
    /// contributes its files in lexical order, skipping `*.key`, `*.ocsp`,
    /// `*.issuer`, `*.sctl`, `*.dh` and dot-files). The first one is the default
    /// certificate (no SNI or no match). A PEM without a private key has it in
    /// `<file>.key` (HAProxy's `ssl-load-extra-files` default).
    pub certs: Vec<PathBuf>,
    /// ALPN protocols offered, in preference order (`alpn h2,http/1.1`); empty: no
    /// ALPN.
    pub alpn: Vec<String>,
    /// Lowest version (`ssl-min-ver`, `no-tlsv12`, global `ssl-default-bind-options`);
    /// `None`: TLS 1.2.
    pub min_ver: Option<TlsVersion>,
    /// Highest version (`ssl-max-ver`, `no-tlsv13`, …); `None`: TLS 1.3.
    pub max_ver: Option<TlsVersion>,
    /// TLS 1.3 suites (`ciphersuites`, default global `ssl-default-bind-ciphersuites`),
    /// as written (colon-separated IANA names).
    pub ciphersuites: Option<String>,
    /// TLS 1.2 OpenSSL cipher list (`ciphers`, default global
    /// `ssl-default-bind-ciphers`), as written.
    pub ciphers: Option<String>,
    /// Client certificates (`verify`, default `none`).
    pub verify: Verify,
    /// CA bundle for client certificates (`ca-file`, `ca-base` applied); always set
    /// when `verify` is not `None`.
    pub ca_file: Option<PathBuf>,
    /// `prefer-client-ciphers` (bind or `ssl-default-bind-options`): follow the
    /// client's cipher order; HAProxy's default (false) is the server's order.
    pub prefer_client_ciphers: bool,
    /// `no-tls-tickets` (bind or `ssl-default-bind-options`): no session tickets
    /// (HAProxy's default is to issue them).
    pub no_tls_tickets: bool,
    /// `strict-sni`: refuse the handshake when no certificate matches the SNI
    /// (instead of answering with the default certificate).
    pub strict_sni: bool,
    /// Where the bind line is.
    pub location: Location,
}

/// TLS settings of a `server … ssl`, defaults (`default-server`, global
/// `ssl-default-server-*`, `ssl-server-verify`) already applied.
#[derive(Clone, Debug, Default)]
pub struct ServerTls {
    /// `verify none|required`; default from global `ssl-server-verify` (HAProxy's
    /// default: required).
    pub verify: Verify,
    /// CA bundle to verify the server (`ca-file`, `ca-base` applied); always set when
    /// `verify` is `Required`.
    pub ca_file: Option<PathBuf>,
    /// `sni <expr>`; `None`: the request's Host (the data plane does that).
    pub sni: Option<crate::model::sample::SampleExpr>,
    /// ALPN protocols offered (`alpn h2,http/1.1`); empty: no ALPN.
    pub alpn: Vec<String>,
    /// Client certificate and key PEM (`crt`, `crt-base` applied).
    pub crt: Option<PathBuf>,
    /// Lowest version (`ssl-min-ver`, `no-tlsv12`, `ssl-default-server-options`).
    pub min_ver: Option<TlsVersion>,
    /// Highest version.
    pub max_ver: Option<TlsVersion>,
    /// TLS 1.3 suites (`ciphersuites`, default global
    /// `ssl-default-server-ciphersuites`), as written.
    pub ciphersuites: Option<String>,
    /// TLS 1.2 OpenSSL cipher list (`ciphers`, default global
    /// `ssl-default-server-ciphers`), as written.
    pub ciphers: Option<String>,
    /// `no-tls-tickets` (server or `ssl-default-server-options`): do not resume
    /// with session tickets.
    pub no_tls_tickets: bool,
    /// Where the server line is.
    pub location: Location,
}

impl PartialEq for ServerTls {
    fn eq(&self, o: &Self) -> bool {
        self.verify == o.verify
            && self.ca_file == o.ca_file
            && self.sni.as_ref().map(|e| &e.text) == o.sni.as_ref().map(|e| &e.text)
            && self.alpn == o.alpn
            && self.crt == o.crt
            && self.min_ver == o.min_ver
            && self.max_ver == o.max_ver
            && self.ciphersuites == o.ciphersuites
            && self.ciphers == o.ciphers
            && self.no_tls_tickets == o.no_tls_tickets
            && self.location == o.location
    }
}

impl Eq for ServerTls {}

/// The `global` section.
#[derive(Clone, Debug)]
pub struct Global {
    /// Where the (first) `global` section starts.
    pub location: Option<Location>,
    /// `daemon`.
    pub daemon: bool,
    /// `maxconn`; `None`: derived from the file-descriptor limit at start-up.
    pub maxconn: Option<u32>,
    /// `nbthread`; `None`: one per available CPU.
    pub nbthread: Option<u32>,
    /// `cpu-map` lines.
    pub cpu_maps: Vec<CpuMap>,
    /// `log` targets.
    pub loggers: Vec<Logger>,
    /// `log-tag` (default: the program name).
    pub log_tag: Option<String>,
    /// `pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `user` (a name, resolved by the binary).
    pub user: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `uid`.
    pub uid: Option<u32>,
    /// `gid`.
    pub gid: Option<u32>,
    /// `chroot`.
    pub chroot: Option<PathBuf>,
    /// `hard-stop-after`.
    pub hard_stop_after: Option<Duration>,
    /// `ulimit-n`.
    pub ulimit_n: Option<u32>,
    /// `tune.*`.
    pub tune: Tune,
    /// `description`.
    pub description: Option<String>,
    /// `node`.
    pub node: Option<String>,
    /// `zero-warning`: warnings are fatal.
    pub zero_warning: bool,
    /// `expose-experimental-directives`.
    pub experimental: bool,
    /// `crt-base`: directory for relative certificate paths.
    pub crt_base: Option<PathBuf>,
    /// `ca-base`: directory for relative CA file paths.
    pub ca_base: Option<PathBuf>,
    /// `ssl-default-bind-ciphers` (TLS 1.2 OpenSSL cipher list, as written).
    pub ssl_default_bind_ciphers: Option<String>,
    /// `ssl-default-bind-ciphersuites` (TLS 1.3 suites, as written).
    pub ssl_default_bind_ciphersuites: Option<String>,
    /// `ssl-default-bind-options ssl-min-ver …` / `no-tlsv12` / `force-tlsv13`.
    pub ssl_default_bind_min_ver: Option<TlsVersion>,
    /// `ssl-default-bind-options ssl-max-ver …` / `no-tlsv13` / `force-tlsv12`.
    pub ssl_default_bind_max_ver: Option<TlsVersion>,
    /// `ssl-default-bind-options prefer-client-ciphers`.
    pub ssl_default_bind_prefer_client_ciphers: bool,
    /// `ssl-default-bind-options no-tls-tickets`.
    pub ssl_default_bind_no_tls_tickets: bool,
    /// `ssl-default-server-ciphers`.
    pub ssl_default_server_ciphers: Option<String>,
    /// `ssl-default-server-ciphersuites`.
    pub ssl_default_server_ciphersuites: Option<String>,
    /// `ssl-default-server-options ssl-min-ver …`.
    pub ssl_default_server_min_ver: Option<TlsVersion>,
    /// `ssl-default-server-options ssl-max-ver …`.
    pub ssl_default_server_max_ver: Option<TlsVersion>,
    /// `ssl-default-server-options no-tls-tickets`.
    pub ssl_default_server_no_tls_tickets: bool,
    /// `ssl-server-verify none|required` (default `required`, as HAProxy).
    pub ssl_server_verify: Verify,
    /// `stats socket` lines (the management CLI).
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (idle time of a CLI connection; HAProxy's default is 10 s).
    pub stats_timeout: Option<Duration>,
}

/// Privilege level of a CLI socket (`level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum CliLevel {
    /// Read-only commands.
    User,
    /// Read-only commands plus some non-sensitive changes.
    Operator,
    /// Every command (HAProxy's default for `stats socket`).
    #[default]
    Admin,
}

/// One `stats socket <addr> [mode <octal>] [level <l>] [expose-fd listeners]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsSocket {
    /// Where it listens (a UNIX path, `ip:port`, `abns@` or `fd@N`).
    pub addr: Address,
    /// `mode`: permissions of a UNIX socket file.
    pub mode: Option<u32>,
    /// `level`.
    pub level: CliLevel,
    /// `expose-fd listeners` (accepted; listener passing is not implemented yet).
    pub expose_fd: bool,
    /// Where the line is.
    pub location: Location,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            location: None,
            daemon: false,
            maxconn: None,
            nbthread: None,
            cpu_maps: vec![],
            loggers: vec![],
            log_tag: None,
            pidfile: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            chroot: None,
            hard_stop_after: None,
            ulimit_n: None,
            tune: Tune::default(),
            description: None,
            node: None,
            zero_warning: false,
            experimental: false,
            crt_base: None,
            ca_base: None,
            ssl_default_bind_ciphers: None,
            ssl_default_bind_ciphersuites: None,
            ssl_default_bind_min_ver: None,
            ssl_default_bind_max_ver: None,
            ssl_default_bind_prefer_client_ciphers: false,
            ssl_default_bind_no_tls_tickets: false,
            ssl_default_server_ciphers: None,
            ssl_default_server_ciphersuites: None,
            ssl_default_server_min_ver: None,
            ssl_default_server_max_ver: None,
            ssl_default_server_no_tls_tickets: false,
            ssl_server_verify: Verify::Required,
            stats_sockets: vec![],
            stats_timeout: None,
        }
    }
}

impl Global {
    /// Per-thread CPU sets for `nbthread` threads (index 0 is thread 1); `None` for a
    /// thread without `cpu-map`. Later lines override earlier ones (HAProxy).
    pub fn thread_cpus(&self, nbthread: u32) -> Vec<Option<Vec<u32>>> {
        let mut out = vec![None; nbthread as usize];
        for m in &self.cpu_maps {
            let threads: Vec<u32> = match &m.threads {
                Some(t) => t.clone(),
                None => (1..=nbthread).collect(),
            };
            for (i, t) in threads.iter().enumerate() {
                let Some(slot) = out.get_mut((*t as usize).wrapping_sub(1)) else {
                    continue;
                };
                if m.auto {
                    if let Some(c) = m.cpus.get(i) {
                        *slot = Some(vec![*c]);
                    }
                } else {
                    *slot = Some(m.cpus.clone());
                }
            }
        }
        out
    }
}

/// One listening address of a frontend (a `bind` line may produce several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Where to listen.
    pub addr: Address,
    /// The address as written on the line (before range/list expansion).
    pub spec: String,
    /// `name`.
    pub name: Option<String>,
    /// `backlog` (HAProxy default: the frontend's maxconn).
    pub backlog: Option<u32>,
    /// `maxconn`.
    pub maxconn: Option<u32>,
    /// `v4v6`: an IPv6 socket also accepts IPv4.
    pub v4v6: bool,
    /// `v6only`.
    pub v6only: bool,
    /// `id`.
    pub id: Option<u32>,
    /// TLS (`ssl` on the line); `None`: clear text.
    pub tls: Option<BindTls>,
    /// `proto h1|h2`: force the HTTP version instead of detecting it (ALPN or the
    /// HTTP/2 preface).
    pub proto: Option<String>,
    /// Where it was declared.
    pub location: Location,
}

/// `http-reuse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HttpReuse {
    /// Never share idle server connections.
    Never,
    /// Share only connections that served a request (HAProxy default).
    #[default]
    Safe,
    /// Also reuse connections whose server proved keep-alive capable.
    Aggressive,
    /// Reuse any idle connection.
    Always,
}

/// HTTP connection mode (`option http-keep-alive|http-server-close|httpclose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HttpConnMode {
    /// Keep both sides alive (default).
    #[default]
    KeepAlive,
    /// Close the server side after each response.
    ServerClose,
    /// Close both sides after each response.
    Close,
}

/// `option forwardfor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardFor {
    /// Header name (default `X-Forwarded-For`).
    pub header: String,
    /// `except <net>`: do not add for these clients.
    pub except: Option<IpNet>,
    /// `if-none`: only add when the header is absent.
    pub if_none: bool,
}

/// `balance`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    /// `roundrobin` (default).
    #[default]
    RoundRobin,
    /// `static-rr`.
    StaticRr,
    /// `leastconn`.
    LeastConn,
    /// `first`.
    First,
    /// `source`: hash of the client address.
    Source,
    /// `uri [whole] [len n] [depth n] [path-only]`.
    Uri {
        /// Hash the query string too.
        whole: bool,
        /// Hash only the first `len` characters (0: all).
        len: u32,
        /// Hash only the first `depth` directories (0: all).
        depth: u32,
        /// Ignore the authority of absolute URIs.
        path_only: bool,
    },
    /// `url_param <name>`.
    UrlParam(String),
    /// `hdr(<name>) [use_domain_only]`.
    Hdr {
        /// Header name (lower-case).
        name: String,
        /// Hash only the domain part (`Host`-like headers).
        use_domain_only: bool,
    },
    /// `random[(<draws>)]` (power of `draws` choices, default 2).
    Random(u32),
}

/// `hash-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HashType {
    /// `map-based` (default).
    #[default]
    MapBased,
    /// `consistent`.
    Consistent,
}

/// `http-check expect`.
#[derive(Clone, Debug)]
pub enum CheckExpect {
    /// `status <codes>`: comma-separated codes or ranges (`200-399`).
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>`.
    RStatus(regex::Regex),
    /// `string <text>`: in the body.
    String(String),
    /// `rstring <regex>`: on the body.
    RString(regex::Regex),
}

/// HTTP health-check request and expectation.
#[derive(Clone, Debug)]
pub struct HttpCheck {
    /// Method (default `OPTIONS`).
    pub method: String,
    /// URI (default `/`).
    pub uri: String,
    /// Version (default `HTTP/1.0`).
    pub version: String,
    /// Extra headers (`http-check send hdr`).
    pub headers: Vec<(String, String)>,
    /// Body (`http-check send body`).
    pub body: Option<String>,
    /// Expectation; `None` means a 2xx or 3xx status.
    pub expect: Option<CheckExpect>,
    /// `!` in `http-check expect !…`: inverted.
    pub expect_negated: bool,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: vec![],
            body: None,
            expect: None,
            expect_negated: false,
        }
    }
}

/// A server of a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// Name.
    pub name: String,
    /// `id`, or assigned in declaration order from 1.
    pub id: u32,
    /// Resolved address.
    pub addr: Address,
    /// The address as written (`host:port`), for the CLI.
    pub addr_spec: String,
    /// `weight` 0..=256 (default 1).
    pub weight: u32,
    /// `backup`.
    pub backup: bool,
    /// `maxconn` (0: unlimited).
    pub maxconn: u32,
    /// `maxqueue` (0: unlimited).
    pub maxqueue: u32,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    /// `check`: health checks on.
    pub check: bool,
    /// `inter` (default 2s).
    pub inter: Duration,
    /// `fastinter` (default: `inter`).
    pub fastinter: Duration,
    /// `downinter` (default: `inter`).
    pub downinter: Duration,
    /// `rise` (default 2).
    pub rise: u32,
    /// `fall` (default 3).
    pub fall: u32,
    /// `addr`: health-check address.
    pub check_addr: Option<IpAddr>,
    /// `port`: health-check port.
    pub check_port: Option<u16>,
    /// TLS to the server (`ssl`); `None`: clear text.
    pub tls: Option<ServerTls>,
    /// Health checks over TLS: `check-ssl`, or implied by `ssl` without a check
    /// `port`/`addr` (HAProxy); `no-check-ssl` turns it off.
    pub check_ssl: bool,
    /// `proto h1|h2`: the HTTP version spoken to the server (`None`: by ALPN over TLS,
    /// else HTTP/1.1).
    pub proto: Option<String>,
    /// `pool-max-conn`: idle connections kept (-1: unlimited, the default; 0: none).
    pub pool_max_conn: i32,
    /// `pool-low-conn` (default 0): idle connections kept beyond the estimated need.
    pub pool_low_conn: u32,
    /// `pool-purge-delay` (default 5s; 0: keep no idle connection).
    pub pool_purge_delay: Duration,
    /// `max-reuse` (-1: unlimited, the default): a connection is not reused after
    /// serving this many reuses. HAProxy ignores it for HTTP/1; sluice applies it.
    pub max_reuse: i32,
    /// Where it was declared.
    pub location: Location,
}

/// `capture request|response header <name> len <n>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// Header name (lower-case).
    pub name: String,
    /// Maximum captured length.
    pub len: usize,
}

/// An error page: a full raw HTTP response, its head normalised to CRLF line ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    /// The status it serves.
    pub status: u16,
    /// Raw bytes to send.
    pub raw: Vec<u8>,
    /// The file it came from.
    pub path: PathBuf,
}

/// An `http-errors` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpErrors {
    /// Its name.
    pub name: String,
    /// Pages by status.
    pub pages: BTreeMap<u16, ErrorPage>,
    /// Where it starts.
    pub location: Location,
}

/// A frontend (or the frontend side of a `listen`).
#[derive(Clone, Debug)]
pub struct Frontend {
    /// Name.
    pub name: String,
    /// Proxy id (`id`, or assigned from 1 in declaration order; shared by both
    /// sides of a `listen`).
    pub id: u32,
    /// True when this comes from a `listen` section.
    pub listen: bool,
    /// `disabled`.
    pub disabled: bool,
    /// `description`.
    pub description: Option<String>,
    /// `mode`.
    pub mode: Mode,
    /// Listening addresses.
    pub binds: Vec<Bind>,
    /// `maxconn`; `None`: the global maxconn.
    pub maxconn: Option<u32>,
    /// Timeouts (client-side ones matter here).
    pub timeouts: Timeouts,
    /// HTTP connection mode.
    pub http_conn_mode: HttpConnMode,
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// Loggers (`log global` already expanded). Empty: no logging.
    pub loggers: Vec<Logger>,
    /// The log line format (`log-format`, or `option httplog`/`tcplog`); `None`
    /// means HAProxy's legacy minimal line (connection-level only).
    pub log_format: Option<Format>,
    /// `option dontlognull`.
    pub dontlognull: bool,
    /// Named ACLs, referenced by index from conditions.
    pub acls: Vec<Acl>,
    /// `http-request` rules.
    pub http_request: Vec<HttpRule>,
    /// `redirect` rules (evaluated after `http-request` rules, as in HAProxy).
    pub redirects: Vec<HttpRule>,
    /// `http-response` rules.
    pub http_response: Vec<HttpRule>,
    /// `use_backend` rules, in order.
    pub use_backends: Vec<UseBackend>,
    /// `default_backend` (for a `listen`, itself unless set).
    pub default_backend: Option<String>,
    /// Error pages by status.
    pub errorfiles: BTreeMap<u16, ErrorPage>,
    /// `monitor-uri`.
    pub monitor_uri: Option<String>,
    /// `capture request header`.
    pub capture_request: Vec<Capture>,
    /// `capture response header`.
    pub capture_response: Vec<Capture>,
    /// Where it was declared.
    pub location: Location,
}

/// A backend (or the backend side of a `listen`).
#[derive(Clone, Debug)]
pub struct Backend {
    /// Name.
    pub name: String,
    /// Proxy id.
    pub id: u32,
    /// True when this comes from a `listen` section.
    pub listen: bool,
    /// `disabled`.
    pub disabled: bool,
    /// `description`.
    pub description: Option<String>,
    /// `mode`.
    pub mode: Mode,
    /// Servers, in declaration order.
    pub servers: Vec<Server>,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type`.
    pub hash_type: HashType,
    /// Timeouts (server-side ones matter here).
    pub timeouts: Timeouts,
    /// `retries` (default 3).
    pub retries: u32,
    /// `option redispatch [interval]`: `None` when off; `Some(n)`: with `n > 0`,
    /// redispatch to another server on every n-th retry; with `n < 0`, on the |n|-th
    /// retry before the last (the bare option gives -1: the last retry, HAProxy's
    /// historical behaviour).
    pub redispatch: Option<i32>,
    /// HTTP connection mode.
    pub http_conn_mode: HttpConnMode,
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// `http-reuse`.
    pub http_reuse: HttpReuse,
    /// `option httpchk` + `http-check` (`None`: TCP checks).
    pub http_check: Option<HttpCheck>,
    /// `option log-health-checks`.
    pub log_health_checks: bool,
    /// `option abortonclose`.
    pub abortonclose: bool,
    /// Loggers (used for health-check logs).
    pub loggers: Vec<Logger>,
    /// Named ACLs.
    pub acls: Vec<Acl>,
    /// `http-request` rules (empty for a `listen`: they live on the frontend side).
    pub http_request: Vec<HttpRule>,
    /// `http-response` rules (idem).
    pub http_response: Vec<HttpRule>,
    /// Error pages by status.
    pub errorfiles: BTreeMap<u16, ErrorPage>,
    /// Where it was declared.
    pub location: Location,
}

/// The whole configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `global`.
    pub global: Global,
    /// Frontends and listen sections, in declaration order.
    pub frontends: Vec<Frontend>,
    /// Backends and listen sections, in declaration order.
    pub backends: Vec<Backend>,
    /// `http-errors` sections.
    pub http_errors: Vec<HttpErrors>,
}

impl Config {
    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Index of the backend called `name` in [`Config::backends`].
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }

    /// The frontend called `name`.
    pub fn frontend(&self, name: &str) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.name == name)
    }
}
