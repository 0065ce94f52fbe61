//! The `netstack` section's keywords (see [`crate::model::netstack`] for the
//! syntax) and `global io-mode`.
//!
//! Owns: line-level parsing and checks that need only the line and what was
//! declared before it (a port named twice, an address on an unknown port, a
//! gateway outside its port's subnets). Cross-section checks — binds and servers
//! against the declared addresses in `io-mode poll` — are in
//! [`crate::finalize`]. Invariant: every failure names the keyword and says what
//! to write instead.

use std::net::Ipv4Addr;
use std::str::FromStr;

use super::units::{parse_time, parse_u32_in};
use super::{Ctx, Ln, R};
use crate::error::did_you_mean;
use crate::model::netstack::{
    in_subnet, IoMode, NetAddress, NetDriver, NetPort, NetQueues, NetRoute, Netstack,
};

const KEYWORDS: &[&str] = &[
    "port",
    "address",
    "route",
    "tcp-buffers",
    "local-ports",
    "busy-poll",
    "idle-backoff",
    "time-wait",
];

/// Opens (or continues) the `netstack` section.
pub(crate) fn open(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R {
    if ln.w.len() > 1 {
        return Err(ln.err(
            "netstack",
            "'netstack' takes no argument",
            "write 'netstack' alone on its line; several sections are merged",
        ));
    }
    if ctx.global.netstack.is_none() {
        ctx.global.netstack = Some(Netstack::new(ln.loc.clone()));
    }
    Ok(())
}

/// `io-mode epoll|poll` in `global`.
pub(crate) fn io_mode(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R {
    let mode = match (ln.arg(1), ln.w.len()) {
        ("epoll", 2) => IoMode::Epoll,
        ("poll", 2) => IoMode::Poll,
        (other, _) => {
            return Err(ln.err(
                "io-mode",
                format!("'io-mode' expects 'epoll' or 'poll', got '{other}'"),
                "write 'io-mode epoll' (kernel sockets) or 'io-mode poll' (the userspace stack on the 'netstack' section's ports)",
            ))
        }
    };
    ctx.global.io_mode = mode;
    ctx.global.io_mode_location = Some(ln.loc.clone());
    Ok(())
}

/// One line inside `netstack`.
pub(crate) fn netstack_kw(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> R {
    let kw = ln.w[0].as_str();
    let ns = ctx
        .global
        .netstack
        .as_mut()
        .expect("netstack section opened");
    match kw {
        "port" => port(ns, ln),
        "address" => address(ns, ln),
        "route" => route(ns, ln),
        "tcp-buffers" => {
            if ln.w.len() != 3 {
                return Err(ln.err(
                    kw,
                    "'tcp-buffers' expects a receive and a send size",
                    "write 'tcp-buffers <rx> <tx>', e.g. 'tcp-buffers 64k 64k'",
                ));
            }
            ns.rx_buffer = size(ln, kw, ln.arg(1))?;
            ns.tx_buffer = size(ln, kw, ln.arg(2))?;
            Ok(())
        }
        "local-ports" => {
            let range = (ln.w.len() == 2)
                .then(|| ln.arg(1).split_once('-'))
                .flatten()
                .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
                .filter(|(a, b)| *a >= 1024 && a < b);
            match range {
                Some(r) => {
                    ns.local_ports = r;
                    Ok(())
                }
                None => Err(ln.err(
                    kw,
                    format!("invalid port range '{}'", ln.w[1..].join(" ")),
                    "write 'local-ports <low>-<high>' with 1024 <= low < high <= 65535",
                )),
            }
        }
        "busy-poll" => {
            ns.busy_poll = time(ln, kw)?;
            Ok(())
        }
        "idle-backoff" => {
            ns.idle_backoff = if ln.arg(1) == "off" && ln.w.len() == 2 {
                None
            } else {
                Some(time(ln, kw)?)
            };
            Ok(())
        }
        "time-wait" => {
            ns.time_wait = time(ln, kw)?;
            Ok(())
        }
        _ => Err(ln.err(
            kw,
            format!("unknown keyword '{kw}' in 'netstack' section"),
            did_you_mean(
                kw,
                KEYWORDS.iter().copied(),
                "the netstack section holds port, address, route, tcp-buffers, local-ports, busy-poll, idle-backoff and time-wait",
            ),
        )),
    }
}

fn time(ln: &Ln<'_>, kw: &str) -> R<std::time::Duration> {
    if ln.w.len() != 2 {
        return Err(ln.err(
            kw,
            format!("'{kw}' expects one time value"),
            format!("write '{kw} <time>', e.g. '{kw} 1ms'"),
        ));
    }
    parse_time(ln.arg(1)).map_err(|f| ln.fail(kw, f))
}

fn size(ln: &Ln<'_>, kw: &str, s: &str) -> R<usize> {
    let (num, mul) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .map(|n| n * mul)
        .filter(|n| (1024..=64 * 1024 * 1024).contains(n))
        .ok_or_else(|| {
            ln.err(
                kw,
                format!("invalid buffer size '{s}'"),
                "write a size between 1k and 64m, e.g. '64k'",
            )
        })
}

fn port_index(ns: &Netstack, ln: &Ln<'_>, kw: &str, name: &str) -> R<usize> {
    ns.ports.iter().position(|p| p.name == name).ok_or_else(|| {
        ln.err(
            kw,
            format!("unknown port '{name}'"),
            did_you_mean(
                name,
                ns.ports.iter().map(|p| p.name.as_str()),
                "declare it first with 'port <name> af-packet|tap <interface>'",
            ),
        )
    })
}

fn cidr(ln: &Ln<'_>, kw: &str, s: &str) -> R<(Ipv4Addr, u8)> {
    let parsed = s.split_once('/').and_then(|(ip, p)| {
        Some((
            Ipv4Addr::from_str(ip).ok()?,
            p.parse::<u8>().ok().filter(|p| *p <= 32)?,
        ))
    });
    parsed.ok_or_else(|| {
        ln.err(
            kw,
            format!("invalid IPv4 network '{s}'"),
            "write an IPv4 address and prefix length, e.g. '10.0.0.2/24' (IPv6 is not supported in poll mode yet)",
        )
    })
}

fn port(ns: &mut Netstack, ln: &Ln<'_>) -> R {
    let kw = "port";
    let usage = "write 'port <name> af-packet|tap <interface> [queues <n>|auto] [mtu <n>] [mac <xx:xx:xx:xx:xx:xx>] [gso-repair]'";
    if ln.w.len() < 4 {
        return Err(ln.err(
            kw,
            "'port' expects a name, a driver and an interface",
            usage,
        ));
    }
    let name = ln.arg(1);
    if let Some(p) = ns.ports.iter().find(|p| p.name == name) {
        return Err(ln.err(
            kw,
            format!("port '{name}' is already declared at {}", p.location),
            "give every port a unique name",
        ));
    }
    let iface = ln.arg(3).to_string();
    if iface.is_empty() || iface.len() > 15 || iface.contains('/') {
        return Err(ln.err(
            kw,
            format!("invalid interface name '{iface}'"),
            "a Linux interface name has 1 to 15 characters and no '/'",
        ));
    }
    let driver = match ln.arg(2) {
        "af-packet" => NetDriver::AfPacket { iface },
        "tap" => NetDriver::Tap { iface },
        "dpdk" => {
            return Err(ln.err(
                kw,
                "driver 'dpdk' is not in this build",
                "use 'af-packet' or 'tap'; the DPDK driver comes with the 'dpdk' cargo feature in a later release",
            ))
        }
        other => {
            return Err(ln.err(
                kw,
                format!("unknown driver '{other}'"),
                did_you_mean(other, ["af-packet", "tap"], usage),
            ))
        }
    };
    let mut p = NetPort {
        name: name.to_string(),
        driver,
        queues: NetQueues::Auto,
        mtu: 1500,
        mac: None,
        gso_repair: false,
        location: ln.loc.clone(),
    };
    let mut i = 4;
    while i < ln.w.len() {
        let opt = ln.arg(i);
        if opt == "gso-repair" {
            if !matches!(p.driver, NetDriver::AfPacket { .. }) {
                return Err(ln.err(
                    kw,
                    "'gso-repair' applies to af-packet ports",
                    "a tap device receives frames the kernel already segmented; remove 'gso-repair'",
                ));
            }
            p.gso_repair = true;
            i += 1;
            continue;
        }
        let val = ln.arg(i + 1);
        if val.is_empty() {
            return Err(ln.err(kw, format!("'{opt}' expects a value"), usage));
        }
        match opt {
            "queues" => {
                p.queues = if val == "auto" {
                    NetQueues::Auto
                } else {
                    NetQueues::Count(
                        parse_u32_in(val, "'queues'", 1, 64).map_err(|f| ln.fail(kw, f))?,
                    )
                };
                if matches!(p.driver, NetDriver::Tap { .. })
                    && !matches!(p.queues, NetQueues::Count(1) | NetQueues::Auto)
                {
                    return Err(ln.err(
                        kw,
                        "a tap port has a single queue",
                        "remove 'queues' or use an af-packet port for several workers",
                    ));
                }
            }
            "mtu" => {
                p.mtu = parse_u32_in(val, "'mtu'", 576, 9000).map_err(|f| ln.fail(kw, f))? as u16
            }
            "mac" => p.mac = Some(mac(ln, val)?),
            _ => {
                return Err(ln.err(
                    kw,
                    format!("unknown port option '{opt}'"),
                    did_you_mean(opt, ["queues", "mtu", "mac", "gso-repair"], usage),
                ))
            }
        }
        i += 2;
    }
    ns.ports.push(p);
    Ok(())
}

fn mac(ln: &Ln<'_>, s: &str) -> R<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut out = [0u8; 6];
    let ok = parts.len() == 6
        && parts.iter().zip(out.iter_mut()).all(|(p, o)| {
            p.len() == 2
                && u8::from_str_radix(p, 16)
                    .map(|v| {
                        *o = v;
                    })
                    .is_ok()
        });
    if !ok || out[0] & 1 == 1 {
        return Err(ln.err(
            "port",
            format!("invalid MAC address '{s}'"),
            "write six hex pairs of a unicast address, e.g. '02:00:00:00:00:20'",
        ));
    }
    Ok(out)
}

fn address(ns: &mut Netstack, ln: &Ln<'_>) -> R {
    let kw = "address";
    if ln.w.len() != 3 {
        return Err(ln.err(
            kw,
            "'address' expects a port and an IPv4 network",
            "write 'address <port> <ip>/<prefix>', e.g. 'address lan0 10.0.0.2/24'",
        ));
    }
    let port = port_index(ns, ln, kw, ln.arg(1))?;
    let (ip, prefix) = cidr(ln, kw, ln.arg(2))?;
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
        return Err(ln.err(
            kw,
            format!("'{ip}' cannot be a port's address"),
            "use a unicast address that is not 0.0.0.0 or in 127.0.0.0/8",
        ));
    }
    if let Some(a) = ns.addresses.iter().find(|a| a.ip == ip) {
        return Err(ln.err(
            kw,
            format!("address {ip} is already declared at {}", a.location),
            "declare each address once",
        ));
    }
    if ns.addresses.len() >= 8 {
        return Err(ln.err(
            kw,
            "too many addresses (at most 8)",
            "the userspace stack holds up to 8 addresses",
        ));
    }
    ns.addresses.push(NetAddress {
        port,
        ip,
        prefix,
        location: ln.loc.clone(),
    });
    Ok(())
}

fn route(ns: &mut Netstack, ln: &Ln<'_>) -> R {
    let kw = "route";
    let usage = "write 'route default|<network>/<prefix> via <gateway> dev <port>'";
    if ln.w.len() != 6 || ln.arg(2) != "via" || ln.arg(4) != "dev" {
        return Err(ln.err(kw, "malformed 'route'", usage));
    }
    let (dest, prefix) = if ln.arg(1) == "default" {
        (Ipv4Addr::UNSPECIFIED, 0)
    } else {
        cidr(ln, kw, ln.arg(1))?
    };
    let via = Ipv4Addr::from_str(ln.arg(3)).map_err(|_| {
        ln.err(
            kw,
            format!("invalid gateway address '{}'", ln.arg(3)),
            usage,
        )
    })?;
    let port = port_index(ns, ln, kw, ln.arg(5))?;
    if !ns
        .addresses
        .iter()
        .any(|a| a.port == port && in_subnet(via, a.ip, a.prefix))
    {
        return Err(ln.err(
            kw,
            format!("gateway {via} is not in a subnet of port '{}'", ln.arg(5)),
            "declare the port's 'address' (whose subnet holds the gateway) before the route",
        ));
    }
    if ns.routes.len() >= 16 {
        return Err(ln.err(
            kw,
            "too many routes (at most 16)",
            "the userspace stack holds up to 16 routes",
        ));
    }
    ns.routes.push(NetRoute {
        dest,
        prefix,
        via,
        port,
        location: ln.loc.clone(),
    });
    Ok(())
}
