//! Log-format strings (`log-format`, header values, `lf-string`, redirect targets).
//!
//! Owns: [`Format`], [`FormatPart`], [`LogVar`], [`FormatOptions`] and HAProxy's
//! default formats ([`HTTPLOG_FORMAT`], [`HTTPLOG_CLF_FORMAT`], [`TCPLOG_FORMAT`]).
//! Invariant: consecutive literal text is merged into one part, and runs of blanks in
//! literal text collapse into one space (HAProxy's separator rule).

use super::sample::SampleExpr;

/// `option httplog`'s format (HAProxy 3.0).
pub const HTTPLOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`'s format.
pub const HTTPLOG_CLF_FORMAT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option tcplog`'s format.
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// Per-part options set with `%{+Q}`, `%{-Q}`, `%{+X}`, `%{+E}`, `%{+M}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FormatOptions {
    /// `+Q`: surround the value with double quotes.
    pub quote: bool,
    /// `+X`: integers and addresses in hexadecimal.
    pub hex: bool,
    /// `+E`: escape `"`, `\` and `]` with a backslash (RFC 5424 structured data).
    pub escape: bool,
    /// `+M`: a missing value makes the whole line empty.
    pub mandatory: bool,
}

/// The `%` variables of HAProxy's log format. [`LogVar::name`] gives the spelling.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogVar {
    /// `%B`: bytes sent to the client.
    BytesOut,
    /// `%U`: bytes received from the client.
    BytesIn,
    /// `%CC`: captured request cookie.
    CaptureCookieClient,
    /// `%CS`: captured response cookie.
    CaptureCookieServer,
    /// `%H`: host name.
    Hostname,
    /// `%ID`: unique id.
    UniqueId,
    /// `%ST`: status code.
    Status,
    /// `%T`: accept date, GMT.
    DateGmt,
    /// `%Tl`: accept date, local time.
    DateLocal,
    /// `%Ts`: accept date as a Unix timestamp.
    Timestamp,
    /// `%Ta`: active time of the request (from `%tr` to the end).
    Ta,
    /// `%Tc`: time to connect to the server.
    Tc,
    /// `%Td`: data transmission time.
    Td,
    /// `%Th`: handshake time.
    Th,
    /// `%Ti`: idle time before the request.
    Ti,
    /// `%Tq`: `%Th + %Ti + %TR`.
    Tq,
    /// `%TR`: time to receive the full request head.
    TR,
    /// `%Tr`: server response time.
    Tr,
    /// `%Tt`: total session time.
    Tt,
    /// `%Tu`: total time minus idle time.
    Tu,
    /// `%Tw`: time waiting in queues.
    Tw,
    /// `%ac`: active connections of the process.
    ActConn,
    /// `%b`: backend name.
    Backend,
    /// `%bc`: backend connections.
    BeConn,
    /// `%bi`: backend source IP.
    BackendSrcIp,
    /// `%bp`: backend source port.
    BackendSrcPort,
    /// `%bq`: backend queue.
    BeQueue,
    /// `%ci`: client IP.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%f`: frontend name.
    Frontend,
    /// `%fc`: frontend connections.
    FeConn,
    /// `%fi`: frontend IP (destination of the client connection).
    FrontendIp,
    /// `%fp`: frontend port.
    FrontendPort,
    /// `%ft`: frontend name with transport (`~` suffix for TLS).
    FrontendTransport,
    /// `%hr`: captured request headers, `{a|b}`.
    CapturedReqHeaders,
    /// `%hrl`: captured request headers, space-separated.
    CapturedReqHeadersList,
    /// `%hs`: captured response headers.
    CapturedResHeaders,
    /// `%hsl`: captured response headers, space-separated.
    CapturedResHeadersList,
    /// `%HM`: HTTP method.
    HttpMethod,
    /// `%HP`: HTTP path (relative or absolute target without query).
    HttpPath,
    /// `%HPO`: path only.
    HttpPathOnly,
    /// `%HQ`: query string with its `?`.
    HttpQuery,
    /// `%HU`: request URI.
    HttpUri,
    /// `%HV`: HTTP version.
    HttpVersion,
    /// `%lc`: log counter.
    LogCounter,
    /// `%ms`: accept date milliseconds.
    AcceptMs,
    /// `%pid`: process id.
    Pid,
    /// `%r`: request line.
    RequestLine,
    /// `%rc`: retries.
    Retries,
    /// `%rt`: request counter.
    RequestCounter,
    /// `%s`: server name.
    Server,
    /// `%sc`: server connections.
    SrvConn,
    /// `%si`: server IP.
    ServerIp,
    /// `%sp`: server port.
    ServerPort,
    /// `%sq`: server queue.
    SrvQueue,
    /// `%sslc`: TLS cipher.
    SslCipher,
    /// `%sslv`: TLS version.
    SslVersion,
    /// `%t`: accept date, local, `dd/Mmm/yyyy:HH:MM:SS.mmm`.
    Date,
    /// `%tr`: request date, local.
    RequestDate,
    /// `%trg`: request date, GMT.
    RequestDateGmt,
    /// `%trl`: request date, local with zone.
    RequestDateLocal,
    /// `%ts`: termination state (2 characters).
    TermState,
    /// `%tsc`: termination state with cookie status (4 characters).
    TermStateCookie,
}

/// Every variable with its spelling (used by the parser and by [`LogVar::name`]).
pub const LOG_VARS: &[(&str, LogVar)] = &[
    ("B", LogVar::BytesOut),
    ("CC", LogVar::CaptureCookieClient),
    ("CS", LogVar::CaptureCookieServer),
    ("H", LogVar::Hostname),
    ("ID", LogVar::UniqueId),
    ("ST", LogVar::Status),
    ("T", LogVar::DateGmt),
    ("Ta", LogVar::Ta),
    ("Tc", LogVar::Tc),
    ("Td", LogVar::Td),
    ("Th", LogVar::Th),
    ("Ti", LogVar::Ti),
    ("Tl", LogVar::DateLocal),
    ("Tq", LogVar::Tq),
    ("TR", LogVar::TR),
    ("Tr", LogVar::Tr),
    ("Ts", LogVar::Timestamp),
    ("Tt", LogVar::Tt),
    ("Tu", LogVar::Tu),
    ("Tw", LogVar::Tw),
    ("U", LogVar::BytesIn),
    ("ac", LogVar::ActConn),
    ("b", LogVar::Backend),
    ("bc", LogVar::BeConn),
    ("bi", LogVar::BackendSrcIp),
    ("bp", LogVar::BackendSrcPort),
    ("bq", LogVar::BeQueue),
    ("ci", LogVar::ClientIp),
    ("cp", LogVar::ClientPort),
    ("f", LogVar::Frontend),
    ("fc", LogVar::FeConn),
    ("fi", LogVar::FrontendIp),
    ("fp", LogVar::FrontendPort),
    ("ft", LogVar::FrontendTransport),
    ("hr", LogVar::CapturedReqHeaders),
    ("hrl", LogVar::CapturedReqHeadersList),
    ("hs", LogVar::CapturedResHeaders),
    ("hsl", LogVar::CapturedResHeadersList),
    ("HM", LogVar::HttpMethod),
    ("HP", LogVar::HttpPath),
    ("HPO", LogVar::HttpPathOnly),
    ("HQ", LogVar::HttpQuery),
    ("HU", LogVar::HttpUri),
    ("HV", LogVar::HttpVersion),
    ("lc", LogVar::LogCounter),
    ("ms", LogVar::AcceptMs),
    ("pid", LogVar::Pid),
    ("r", LogVar::RequestLine),
    ("rc", LogVar::Retries),
    ("rt", LogVar::RequestCounter),
    ("s", LogVar::Server),
    ("sc", LogVar::SrvConn),
    ("si", LogVar::ServerIp),
    ("sp", LogVar::ServerPort),
    ("sq", LogVar::SrvQueue),
    ("sslc", LogVar::SslCipher),
    ("sslv", LogVar::SslVersion),
    ("t", LogVar::Date),
    ("tr", LogVar::RequestDate),
    ("trg", LogVar::RequestDateGmt),
    ("trl", LogVar::RequestDateLocal),
    ("ts", LogVar::TermState),
    ("tsc", LogVar::TermStateCookie),
];

impl LogVar {
    /// The variable's spelling without `%`, e.g. `ci`.
    pub fn name(self) -> &'static str {
        LOG_VARS
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Looks a variable up by its exact (case-sensitive) spelling.
    pub fn from_name(name: &str) -> Option<LogVar> {
        LOG_VARS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// True for variables whose natural type is an integer (they are never quoted by
    /// `+Q`, as in HAProxy).
    pub fn is_numeric(self) -> bool {
        use LogVar::*;
        matches!(
            self,
            BytesOut
                | BytesIn
                | Status
                | Timestamp
                | Ta
                | Tc
                | Td
                | Th
                | Ti
                | Tq
                | TR
                | Tr
                | Tt
                | Tu
                | Tw
                | ActConn
                | BeConn
                | BeQueue
                | ClientPort
                | FeConn
                | FrontendPort
                | ServerPort
                | BackendSrcPort
                | LogCounter
                | AcceptMs
                | Pid
                | Retries
                | RequestCounter
                | SrvConn
                | SrvQueue
        )
    }
}

/// One piece of a format.
#[derive(Clone, Debug)]
pub enum FormatPart {
    /// Text copied as is.
    Literal(String),
    /// `%[expr]`.
    Sample {
        /// The expression.
        expr: SampleExpr,
        /// Its options.
        options: FormatOptions,
    },
    /// `%ci`, `%{+Q}r` …
    Var {
        /// Which variable.
        var: LogVar,
        /// Its options.
        options: FormatOptions,
    },
}

/// A parsed format string.
#[derive(Clone, Debug, Default)]
pub struct Format(pub Vec<FormatPart>);

impl Format {
    /// True when the format has no part (renders to nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text when the format is a constant (no variable, no sample).
    pub fn as_literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                FormatPart::Literal(t) => s.push_str(t),
                _ => return None,
            }
        }
        Some(s)
    }
}
