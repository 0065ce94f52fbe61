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
mod global;
pub mod netstack;
pub mod pattern;
pub mod rules;
pub mod sample;
mod stats;
mod tls;

pub use global::{CliLevel, CpuMap, Global, H2Side, H2Tune, IdlePoolShared, StatsSocket, Tune};
pub use stats::{StatsPage, DEFAULT_STATS_REALM, DEFAULT_STATS_URI};
pub use tls::{BindTls, ServerTls, TlsVersion, Verify};

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
    /// The stats page (`stats enable` and friends), answered after the frontend's
    /// `http-request` rules.
    pub stats: Option<StatsPage>,
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
    /// The stats page, answered after the backend's `http-request` rules (for a
    /// `listen`, the frontend side answers first).
    pub stats: Option<StatsPage>,
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
    /// Map and ACL files (pattern references); the index is the CLI's `#id`.
    pub pattern_files: Vec<pattern::PatternFile>,
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
