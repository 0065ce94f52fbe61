//! Sample expressions, ACLs and conditions: the typed form of `hdr(host),lower`,
//! `acl api path_beg -i /api`, and `if api !local || { src 10.0.0.0/8 }`.
//!
//! Owns: [`SampleExpr`], [`Fetch`], [`Converter`], [`AclTerm`], [`MatchMethod`],
//! [`Patterns`], [`Acl`], [`Condition`]. Invariants: regexes are compiled, IP networks
//! are masked, string patterns are lower-cased when `ignore_case` is set (so the data
//! plane only lower-cases the sample), and `Patterns::Str` is sorted for binary search.

use std::net::IpAddr;

use regex::bytes::Regex;

use crate::error::Location;

/// Variable scopes (`txn.name`, `sess.name`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// Process-wide.
    Proc,
    /// The client session (connection).
    Sess,
    /// The transaction (one request and its response).
    Txn,
    /// Request processing only.
    Req,
    /// Response processing only.
    Res,
}

impl VarScope {
    /// The scope's configuration name.
    pub fn name(self) -> &'static str {
        match self {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
        }
    }
}

/// A variable reference `scope.name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarName {
    /// Its scope.
    pub scope: VarScope,
    /// Its name, without the scope.
    pub name: String,
}

impl std::fmt::Display for VarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.scope.name(), self.name)
    }
}

/// Which header list a header fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HdrSide {
    /// Request headers (`hdr`, `req.hdr`, `req.fhdr`).
    Request,
    /// Response headers (`res.hdr`, `shdr`, `res.fhdr`).
    Response,
}

/// The type a fetch or converter produces (HAProxy's `SMP_T_*`, reduced).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleType {
    /// Boolean.
    Bool,
    /// Signed integer.
    Int,
    /// IPv4 or IPv6 address.
    Ip,
    /// Text.
    Str,
    /// Bytes.
    Bin,
    /// Not known until run time (variables).
    Any,
}

/// A sample fetch: where a value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// `path`: the request path, without query string.
    Path,
    /// `url`: the request target as received.
    Url,
    /// `query`: the query string, after `?` (absent when there is no `?`).
    Query,
    /// `method`: the request method.
    Method,
    /// `base`: Host header value followed by the path.
    Base,
    /// `urlp(name)` / `url_param(name)`: a query-string parameter's value.
    UrlParam(String),
    /// `hdr(name[,occ])`, `req.hdr`, `res.hdr`: each comma-separated value of a header
    /// (`name == None` means every header). `occ`: 1-based occurrence, negative counts
    /// from the last, `None` means every occurrence (ACLs) — in a plain sample context
    /// the last one is used (HAProxy).
    Hdr {
        /// Request or response.
        side: HdrSide,
        /// Lower-cased header name.
        name: Option<String>,
        /// Occurrence selector.
        occ: Option<i64>,
        /// `true` for `fhdr`: whole lines, not split on commas.
        full: bool,
    },
    /// `hdr_cnt(name)` / `req.hdr_cnt` / `res.hdr_cnt`: number of values.
    HdrCnt {
        /// Request or response.
        side: HdrSide,
        /// Lower-cased name; `None` counts all header lines.
        name: Option<String>,
        /// Full lines (`fhdr_cnt`) rather than comma-separated values.
        full: bool,
    },
    /// `hdr_val(name[,occ])`: a header value as an integer.
    HdrVal {
        /// Request or response.
        side: HdrSide,
        /// Lower-cased name.
        name: String,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `hdr_ip(name[,occ])`: a header value as an IP address.
    HdrIp {
        /// Request or response.
        side: HdrSide,
        /// Lower-cased name.
        name: String,
        /// Occurrence.
        occ: Option<i64>,
    },
    /// `status`: the response status.
    Status,
    /// `src`: the client address.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the address the client connected to.
    Dst,
    /// `dst_port`.
    DstPort,
    /// `var(scope.name)`.
    Var(VarName),
    /// `always_true`.
    AlwaysTrue,
    /// `always_false`.
    AlwaysFalse,
    /// `nbsrv([backend])`: usable servers of a backend (`None`: the current one).
    Nbsrv(Option<String>),
    /// `req.ver` / `req_ver`: the request's HTTP version, e.g. `1.1`.
    ReqVer,
    /// `res.ver` / `resp_ver`.
    ResVer,
    /// `http_first_req`: the first request of the connection.
    HttpFirstReq,
    /// `ssl_fc`: the client connection uses TLS.
    SslFc,
    /// `ssl_fc_sni`: the server name the client sent (absent without SNI or TLS).
    SslFcSni,
    /// `ssl_fc_alpn`: the negotiated ALPN protocol (absent when none).
    SslFcAlpn,
    /// `ssl_fc_protocol`: the TLS version, e.g. `TLSv1.3`.
    SslFcProtocol,
    /// `ssl_fc_cipher`: the negotiated cipher suite name.
    SslFcCipher,
    /// `ssl_c_used` / `ssl_fc_has_crt`: the client sent a certificate (absent on
    /// clear connections).
    SslCUsed,
    /// `ssl_c_verify`: the client certificate's verification result (0: ok, also
    /// when no certificate was sent; absent on clear connections).
    SslCVerify,
    /// `ssl_c_s_dn([entry[,occ[,format]]])` (subject) and `ssl_c_i_dn(…)` (issuer)
    /// of the client certificate.
    SslCDn(DnFetch),
    /// `str(text)`: a constant string.
    Str(String),
    /// `int(n)`: a constant integer.
    Int(i64),
    /// `bool(n)`: a constant boolean.
    Bool(bool),
    /// `be_name` / `fe_name` / `srv_name`: proxy names of the transaction.
    ProxyName(NameKind),
}

/// Arguments of `ssl_c_s_dn` / `ssl_c_i_dn`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnFetch {
    /// `false`: the subject (`ssl_c_s_dn`); `true`: the issuer (`ssl_c_i_dn`).
    pub issuer: bool,
    /// One entry (`CN`, `O`, …, compared case-sensitively as OpenSSL's short names);
    /// `None`: the whole DN.
    pub entry: Option<String>,
    /// Which occurrence of `entry`: 1-based from the start, negative from the end
    /// (HAProxy's default: 1, the first).
    pub occ: i64,
    /// Whole DN in RFC 2253 form (`CN=y,O=x,C=FR`: reversed, comma-separated,
    /// special characters escaped) instead of OpenSSL's one-line `/C=FR/O=x/CN=y`.
    pub rfc2253: bool,
}

/// What `ProxyName` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// `fe_name`.
    Frontend,
    /// `be_name`.
    Backend,
    /// `srv_name`.
    Server,
}

impl Fetch {
    /// The type this fetch produces.
    pub fn output_type(&self) -> SampleType {
        match self {
            Fetch::Path
            | Fetch::Url
            | Fetch::Query
            | Fetch::Method
            | Fetch::Base
            | Fetch::UrlParam(_)
            | Fetch::Hdr { .. }
            | Fetch::ReqVer
            | Fetch::ResVer
            | Fetch::Str(_)
            | Fetch::ProxyName(_)
            | Fetch::SslFcSni
            | Fetch::SslFcAlpn
            | Fetch::SslFcProtocol
            | Fetch::SslFcCipher
            | Fetch::SslCDn(_) => SampleType::Str,
            Fetch::HdrCnt { .. }
            | Fetch::HdrVal { .. }
            | Fetch::Status
            | Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::Nbsrv(_)
            | Fetch::SslCVerify
            | Fetch::Int(_) => SampleType::Int,
            Fetch::HdrIp { .. } | Fetch::Src | Fetch::Dst => SampleType::Ip,
            Fetch::AlwaysTrue
            | Fetch::AlwaysFalse
            | Fetch::HttpFirstReq
            | Fetch::SslFc
            | Fetch::SslCUsed
            | Fetch::Bool(_) => SampleType::Bool,
            Fetch::Var(_) => SampleType::Any,
        }
    }
}

/// A converter applied to a sample (`,lower`, `,field(2,:)` …).
#[derive(Clone, Debug)]
pub enum Converter {
    /// `lower`.
    Lower,
    /// `upper`.
    Upper,
    /// `field(index,delimiters[,count])`: 1-based, negative from the end.
    Field {
        /// Field index (never 0).
        index: i64,
        /// Any of these bytes separates fields.
        delims: String,
        /// How many fields to keep (0 = all remaining).
        count: i64,
    },
    /// `word(index,delimiters[,count])`: like `field` but runs of delimiters count once.
    Word {
        /// Word index (never 0).
        index: i64,
        /// Delimiter bytes.
        delims: String,
        /// How many words to keep (0 = all remaining).
        count: i64,
    },
    /// `regsub(regex,subst[,flags])`: `flags` may hold `g` (global) and `i`.
    Regsub {
        /// Compiled pattern.
        regex: Regex,
        /// Replacement, with `\1`..`\9` back-references turned into `${1}`.
        replacement: String,
        /// Replace every match, not only the first.
        global: bool,
    },
    /// `bytes(offset[,length])`.
    Bytes {
        /// Start offset.
        offset: i64,
        /// Length (`None`: up to the end).
        length: Option<i64>,
    },
    /// `length`: the number of bytes, as an integer.
    Length,
    /// `hex`: bytes as upper-case hexadecimal.
    Hex,
    /// `url_dec`: percent-decoding (and `+` → space in the query part).
    UrlDec,
    /// `add(n)`, `sub(n)`, `mul(n)`, `div(n)`, `mod(n)` on integers.
    Arith(ArithOp, i64),
    /// `map(file[,default])`, `map_<match>[_<output>](file[,default])`: looks the
    /// sample up in a map file (see [`crate::model::pattern`]).
    Map {
        /// The file and the use (match method, output type).
        pat: crate::model::pattern::PatRef,
        /// The output type.
        output: crate::model::pattern::MapOutput,
        /// Returned when the key is not found (`None`: the sample is missing).
        default: Option<String>,
    },
}

/// Integer operations for [`Converter::Arith`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `mul`.
    Mul,
    /// `div` (a zero divisor is refused at load time).
    Div,
    /// `mod`.
    Mod,
}

impl Converter {
    /// The type produced by this converter.
    pub fn output_type(&self) -> SampleType {
        match self {
            Converter::Length | Converter::Arith(..) => SampleType::Int,
            Converter::Map { output, .. } => match output {
                crate::model::pattern::MapOutput::Str => SampleType::Str,
                crate::model::pattern::MapOutput::Int => SampleType::Int,
                crate::model::pattern::MapOutput::Ip => SampleType::Ip,
            },
            Converter::Bytes { .. } => SampleType::Bin,
            _ => SampleType::Str,
        }
    }
}

/// `fetch,conv1,conv2…`.
#[derive(Clone, Debug)]
pub struct SampleExpr {
    /// Where the value comes from.
    pub fetch: Fetch,
    /// Applied left to right.
    pub converters: Vec<Converter>,
    /// The expression as written, for logs and error messages.
    pub text: String,
}

impl SampleExpr {
    /// The type of the final value.
    pub fn output_type(&self) -> SampleType {
        self.converters
            .last()
            .map(Converter::output_type)
            .unwrap_or_else(|| self.fetch.output_type())
    }
}

/// How an ACL compares a sample with its patterns (`-m …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchMethod {
    /// The sample is a boolean (or an integer, true when non-zero); no pattern.
    Bool,
    /// Exact string.
    Str,
    /// Prefix.
    Beg,
    /// Suffix.
    End,
    /// Substring.
    Sub,
    /// Regular expression.
    Reg,
    /// The sample exists; patterns forbidden.
    Found,
    /// Integer, with ranges and operators.
    Int,
    /// IP address or network.
    Ip,
    /// The sample's length, matched as an integer.
    Len,
    /// Domain: a pattern matches a dot/slash-delimited run of words.
    Dom,
    /// Directory: a pattern matches a slash-delimited run of path segments.
    Dir,
}

impl MatchMethod {
    /// The `-m` name.
    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Bool => "bool",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::End => "end",
            MatchMethod::Sub => "sub",
            MatchMethod::Reg => "reg",
            MatchMethod::Found => "found",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Len => "len",
            MatchMethod::Dom => "dom",
            MatchMethod::Dir => "dir",
        }
    }
}

/// An inclusive integer range; `None` is unbounded. `eq 5` is `5..=5`, `gt 5` is
/// `6..`, `1:10` is `1..=10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntRange {
    /// Lowest matching value.
    pub min: Option<i64>,
    /// Highest matching value.
    pub max: Option<i64>,
}

impl IntRange {
    /// True when `v` is within the range.
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or_le(v) && self.max.is_none_or_ge(v)
    }
}

trait Bound {
    fn is_none_or_le(&self, v: i64) -> bool;
    fn is_none_or_ge(&self, v: i64) -> bool;
}

impl Bound for Option<i64> {
    fn is_none_or_le(&self, v: i64) -> bool {
        match self {
            None => true,
            Some(m) => *m <= v,
        }
    }
    fn is_none_or_ge(&self, v: i64) -> bool {
        match self {
            None => true,
            Some(m) => *m >= v,
        }
    }
}

/// An IP network; the address is already masked to `prefix` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub prefix: u8,
}

impl IpNet {
    /// Builds a network, masking `addr`.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        IpNet {
            addr: mask(addr, prefix),
            prefix,
        }
    }

    /// True when `ip` is inside the network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) match IPv4 networks, as in HAProxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// The precompiled patterns of an ACL term.
#[derive(Clone, Debug)]
pub enum Patterns {
    /// No pattern (`-m found`, `-m bool`).
    None,
    /// Exact strings, sorted (lower-cased when the term ignores case).
    Str(Vec<String>),
    /// Strings for `beg`, `end`, `sub`, `dom`, `dir` (lower-cased with `-i`).
    Substrings(Vec<String>),
    /// Compiled regexes (case-insensitive ones compiled that way).
    Reg(Vec<Regex>),
    /// Integer ranges (`int`, `len`).
    Int(Vec<IntRange>),
    /// Networks.
    Ip(Vec<IpNet>),
}

impl Patterns {
    /// Number of patterns.
    pub fn len(&self) -> usize {
        match self {
            Patterns::None => 0,
            Patterns::Str(v) | Patterns::Substrings(v) => v.len(),
            Patterns::Reg(v) => v.len(),
            Patterns::Int(v) => v.len(),
            Patterns::Ip(v) => v.len(),
        }
    }

    /// True when there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One `acl` line (or one anonymous `{ … }` block): a sample, a match method and
/// patterns; it matches when any pattern matches.
#[derive(Clone, Debug)]
pub struct AclTerm {
    /// The sample to test.
    pub expr: SampleExpr,
    /// How to compare.
    pub method: MatchMethod,
    /// `-i`: compare strings case-insensitively.
    pub ignore_case: bool,
    /// The patterns written inline.
    pub patterns: Patterns,
    /// Pattern files given with `-f`, matched at run time from the worker's pattern
    /// store (they change with `add acl` / `del acl`).
    pub files: Vec<crate::model::pattern::PatRef>,
    /// Where it was written.
    pub location: Location,
}

/// A named ACL of a proxy: every `acl NAME …` line of that name, OR-ed together
/// (HAProxy's rule), or a predefined ACL (`TRUE`, `METH_GET`, `LOCALHOST` …).
#[derive(Clone, Debug)]
pub struct Acl {
    /// The name.
    pub name: String,
    /// The terms, any of which must match.
    pub terms: Vec<AclTerm>,
    /// Where it was first declared (the first use for predefined ACLs).
    pub location: Location,
    /// True for HAProxy's predefined ACLs.
    pub predefined: bool,
}

/// What a condition term refers to.
#[derive(Clone, Debug)]
pub enum AclRef {
    /// Index into the owning proxy's `acls`.
    Named(usize),
    /// An anonymous `{ … }` ACL.
    Anonymous(Box<AclTerm>),
}

/// One term of a condition: an ACL, possibly negated with `!`.
#[derive(Clone, Debug)]
pub struct CondTerm {
    /// `!acl`.
    pub negated: bool,
    /// The ACL.
    pub acl: AclRef,
}

/// `if|unless term term || term …`: OR of ANDs.
#[derive(Clone, Debug)]
pub struct Condition {
    /// True for `unless` (the result is inverted).
    pub unless: bool,
    /// Outer list: OR; inner list: AND.
    pub or_terms: Vec<Vec<CondTerm>>,
    /// The condition as written (after `if`/`unless`), for logs.
    pub text: String,
}
