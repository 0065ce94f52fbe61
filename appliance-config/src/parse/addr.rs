//! Socket addresses for `bind`, `server` and `log`, HAProxy style.
//!
//! Owns: [`parse_bind`], [`parse_server`], [`parse_log_target`]. Accepted forms:
//! `ip:port`, `[v6]:port`, `:port` and `*:port` (any address), `host:port` (resolved
//! now), `ip:8000-8010` (bind only), `ipv4@`, `ipv6@`, `tcp@`, `tcp4@`, `tcp6@`,
//! `unix@path` or a plain `/path`, `abns@name`, `fd@N`. Prefixes for transports that
//! sluice does not have (`quic4@`, `udp@` outside `log`, `rhttp@`, `sockpair@`,
//! `mptcp@` …) are refused with the reason. The port follows the last colon, as in
//! HAProxy, so `:::80` is "any IPv6 address, port 80".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::units::Fail;
use crate::model::{Address, LogDest};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

enum Prefixed<'a> {
    Inet(Family, &'a str),
    Unix(&'a str),
    Abns(&'a str),
    Fd(&'a str),
    Udp(Family, &'a str),
}

fn refuse(prefix: &str, why: &str) -> Fail {
    (
        format!("address family '{prefix}' is not supported by sluice"),
        why.to_string(),
    )
}

fn split_prefix(s: &str) -> Result<Prefixed<'_>, Fail> {
    if s.starts_with('/') {
        return Ok(Prefixed::Unix(s));
    }
    let Some((p, rest)) = s.split_once('@') else {
        return Ok(Prefixed::Inet(Family::Any, s));
    };
    Ok(match p {
        "ipv4" | "tcp4" => Prefixed::Inet(Family::V4, rest),
        "ipv6" | "tcp6" => Prefixed::Inet(Family::V6, rest),
        "tcp" => Prefixed::Inet(Family::Any, rest),
        "unix" | "uxst" => Prefixed::Unix(rest),
        "abns" => Prefixed::Abns(rest),
        "fd" => Prefixed::Fd(rest),
        "udp" => Prefixed::Udp(Family::Any, rest),
        "udp4" => Prefixed::Udp(Family::V4, rest),
        "udp6" => Prefixed::Udp(Family::V6, rest),
        "quic4" | "quic6" | "quic" => {
            return Err(refuse(
                &format!("{p}@"),
                "QUIC/HTTP/3 is not in this build (feature QUIC is off); use a TCP address",
            ))
        }
        "rhttp" => {
            return Err(refuse(
                "rhttp@",
                "reverse HTTP is not supported yet; use a regular server address",
            ))
        }
        "sockpair" => {
            return Err(refuse(
                "sockpair@",
                "socket pairs are not supported; use a TCP or unix@ address",
            ))
        }
        "mptcp" | "mptcp4" | "mptcp6" => {
            return Err(refuse(
                &format!("{p}@"),
                "Multipath TCP is not supported yet; use ipv4@/ipv6@",
            ))
        }
        "abnsz" => {
            return Err(refuse(
                "abnsz@",
                "use abns@ (abstract socket names are not zero-padded in sluice)",
            ))
        }
        "uxdg" => {
            return Err(refuse(
                "uxdg@",
                "datagram unix sockets are only usable as log targets",
            ))
        }
        _ => {
            // Not a prefix: an '@' inside a host name is invalid anyway.
            return Err((
                format!("unknown address prefix '{p}@'"),
                "known prefixes: ipv4@, ipv6@, unix@, abns@, fd@ (and udp@ for log targets)"
                    .to_string(),
            ));
        }
    })
}

/// Splits `host:port` at the last colon, removing IPv6 brackets.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), Fail> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err((
                format!("missing ']' in address '{s}'"),
                "write IPv6 addresses as [addr]:port".to_string(),
            ));
        };
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host, Some(p))),
                None => Err((
                    format!("unexpected '{a}' after ']' in '{s}'"),
                    "write IPv6 addresses as [addr]:port".to_string(),
                )),
            },
        };
    }
    match s.rfind(':') {
        Some(i) => Ok((&s[..i], Some(&s[i + 1..]))),
        None => Ok((s, None)),
    }
}

fn any_addr(f: Family) -> IpAddr {
    match f {
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Resolves a host (literal or name) for the given family.
fn resolve(host: &str, f: Family) -> Result<IpAddr, Fail> {
    if host.is_empty() || host == "*" {
        return Ok(any_addr(f));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match (f, ip) {
            (Family::V4, IpAddr::V6(_)) => Err((
                format!("'{host}' is not an IPv4 address"),
                "remove the ipv4@ prefix or use an IPv4 address".to_string(),
            )),
            (Family::V6, IpAddr::V4(v4)) => Ok(IpAddr::V6(v4.to_ipv6_mapped())),
            _ => Ok(ip),
        };
    }
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| {
            (
                format!("could not resolve address '{host}': {e}"),
                "check the host name, or write an IP address".to_string(),
            )
        })?
        .collect();
    addrs
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| match f {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        })
        .ok_or_else(|| {
            (
                format!("'{host}' has no address of the requested family"),
                "remove the ipv4@/ipv6@ prefix or use another host".to_string(),
            )
        })
}

fn parse_port(p: &str, s: &str) -> Result<u16, Fail> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err((
            format!("invalid port '{p}' in address '{s}'"),
            "ports are numbers from 1 to 65535".to_string(),
        )),
    }
}

fn parse_fd(n: &str) -> Result<i32, Fail> {
    n.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        (
            format!("invalid file descriptor 'fd@{n}'"),
            "write fd@ followed by a descriptor number, e.g. fd@3".to_string(),
        )
    })
}

fn nonempty<'a>(what: &str, v: &'a str) -> Result<&'a str, Fail> {
    if v.is_empty() {
        Err((
            format!("missing {what} after the address prefix"),
            format!("write the {what} right after '@'"),
        ))
    } else {
        Ok(v)
    }
}

/// Parses one `bind` address argument: a comma-separated list, each item possibly
/// with a port range. Returns one address per listener.
pub(crate) fn parse_bind(spec: &str) -> Result<Vec<Address>, Fail> {
    let mut out = vec![];
    for item in spec.split(',') {
        if item.is_empty() {
            return Err((
                format!("empty address in '{spec}'"),
                "separate addresses with single commas, e.g. ':80,:8080'".into(),
            ));
        }
        match split_prefix(item)? {
            Prefixed::Unix(p) => out.push(Address::Unix(PathBuf::from(nonempty("path", p)?))),
            Prefixed::Abns(n) => out.push(Address::Abstract(nonempty("name", n)?.to_string())),
            Prefixed::Fd(n) => out.push(Address::Fd(parse_fd(n)?)),
            Prefixed::Udp(..) => {
                return Err(refuse(
                    "udp@",
                    "sluice listens on TCP only; UDP is for log targets",
                ))
            }
            Prefixed::Inet(f, rest) => {
                let (host, port) = split_host_port(rest)?;
                let Some(port) = port.filter(|p| !p.is_empty()) else {
                    return Err((
                        format!("missing port in bind address '{item}'"),
                        "write address:port, e.g. ':80' or '0.0.0.0:8080'".into(),
                    ));
                };
                let ip = resolve(host, f)?;
                let (lo, hi) = match port.split_once('-') {
                    Some((a, b)) => (parse_port(a, item)?, parse_port(b, item)?),
                    None => {
                        let p = parse_port(port, item)?;
                        (p, p)
                    }
                };
                if lo > hi {
                    return Err((
                        format!("inverted port range '{port}' in '{item}'"),
                        "write the lower port first, e.g. 8000-8010".into(),
                    ));
                }
                for p in lo..=hi {
                    out.push(Address::Tcp(SocketAddr::new(ip, p)));
                }
            }
        }
    }
    Ok(out)
}

/// Parses a `server` address: one address with a port (or a unix/abns path).
pub(crate) fn parse_server(spec: &str) -> Result<Address, Fail> {
    match split_prefix(spec)? {
        Prefixed::Unix(p) => Ok(Address::Unix(PathBuf::from(nonempty("path", p)?))),
        Prefixed::Abns(n) => Ok(Address::Abstract(nonempty("name", n)?.to_string())),
        Prefixed::Fd(_) => Err(refuse(
            "fd@",
            "a server needs an address to connect to; fd@ is for bind lines",
        )),
        Prefixed::Udp(..) => Err(refuse(
            "udp@",
            "servers are reached over TCP; UDP is for log targets",
        )),
        Prefixed::Inet(f, rest) => {
            if rest.contains(',') {
                return Err((
                    format!("a server has one address, got the list '{spec}'"),
                    "declare one server line per address".into(),
                ));
            }
            let (host, port) = split_host_port(rest)?;
            let Some(port) = port.filter(|p| !p.is_empty()) else {
                return Err((
                    format!("missing port in server address '{spec}'"),
                    "write address:port; sluice does not reuse the client's destination port"
                        .into(),
                ));
            };
            if port.starts_with('+') || port.starts_with('-') {
                return Err((
                    format!("port offset '{port}' is not supported"),
                    "write an absolute port number".into(),
                ));
            }
            if port.contains('-') {
                return Err((
                    format!("port range '{port}' is not allowed on a server"),
                    "write a single port".into(),
                ));
            }
            if host.is_empty() || host == "*" {
                return Err((
                    format!("server address '{spec}' has no host"),
                    "write the server's IP address or host name before the port".into(),
                ));
            }
            let p = parse_port(port, spec)?;
            Ok(Address::Tcp(SocketAddr::new(resolve(host, f)?, p)))
        }
    }
}

/// Parses a `log` target: `stdout`, `stderr`, `fd@1`, `fd@2`, a path (UNIX
/// datagram), `[udp@]ip[:port]` (port 514 by default).
pub(crate) fn parse_log_target(spec: &str) -> Result<LogDest, Fail> {
    match spec {
        "stdout" => return Ok(LogDest::Stdout),
        "stderr" => return Ok(LogDest::Stderr),
        _ => {}
    }
    if let Some(r) = spec.strip_prefix("ring@") {
        return Err((
            format!("log ring '{r}' is not supported"),
            "log to stdout, stderr, a UNIX socket or a UDP address".into(),
        ));
    }
    if let Some(p) = spec.strip_prefix("uxdg@") {
        return Ok(LogDest::UnixDgram(PathBuf::from(p)));
    }
    let pre = split_prefix(spec)?;
    let (f, rest) = match pre {
        Prefixed::Unix(p) => return Ok(LogDest::UnixDgram(PathBuf::from(nonempty("path", p)?))),
        Prefixed::Fd(n) => {
            return match parse_fd(n)? {
                1 => Ok(LogDest::Stdout),
                2 => Ok(LogDest::Stderr),
                n => Err((
                    format!("log to fd@{n} is not supported"),
                    "use fd@1 (stdout) or fd@2 (stderr)".into(),
                )),
            }
        }
        Prefixed::Abns(_) => {
            return Err(refuse(
                "abns@",
                "log to stdout, stderr, a UNIX socket path or a UDP address",
            ))
        }
        Prefixed::Udp(f, r) => (f, r),
        Prefixed::Inet(f, r) => {
            if spec.starts_with("tcp") {
                return Err(refuse(
                    "tcp@",
                    "logging over TCP needs a ring, which sluice does not have yet; use UDP",
                ));
            }
            (f, r)
        }
    };
    let (host, port) = split_host_port(rest)?;
    // A bare IPv6 address without brackets: the whole thing is the host.
    let (host, port) = if port.is_some() && host.contains(':') && !rest.starts_with('[') {
        match rest.parse::<IpAddr>() {
            Ok(_) => (rest, None),
            Err(_) => (host, port),
        }
    } else {
        (host, port)
    };
    let port = match port {
        Some(p) => parse_port(p, spec)?,
        None => 514,
    };
    if host.is_empty() {
        return Err((
            format!("log target '{spec}' has no address"),
            "write an IP address, e.g. 127.0.0.1:514".into(),
        ));
    }
    Ok(LogDest::Udp(SocketAddr::new(resolve(host, f)?, port)))
}
