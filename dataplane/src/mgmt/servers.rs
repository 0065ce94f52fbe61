//! `set server <be>/<srv> addr <ip> [port <port>]` and `set server <be>/<srv> port
//! <port>` (move a server), `add server` and `del server` (dynamic servers), on
//! every worker.
//!
//! Owns: the parsing of those commands and HAProxy's answers. Dynamic servers fill
//! the spare slots `proxy::shared` keeps per backend; `add server` and `del server`
//! are serialised by a lock of the CLI (never taken by workers). Invariants: a bad
//! argument changes nothing; the shared record ([`ServerState::addr`]) is written
//! first (the CLI and health checks read it), then every worker updates its own
//! endpoint and drops its idle connections to the old address through the mailbox
//! (the command returns once the workers answered, or after the CLI's bounded wait).

use std::net::{IpAddr, SocketAddr};

use appliance_config::Address;

use super::Cli;
use std::sync::atomic::Ordering;

use crate::proxy::shared::{ServerState, SPARE_SERVERS};
use crate::proxy::Message;

/// The address of server `s` of backend `b` now (the CLI's, else the
/// configuration's), as a socket address when it is one.
pub(crate) fn current_addr(cli: &Cli, b: usize, s: usize) -> Option<SocketAddr> {
    let st: &ServerState = &cli.shared.servers[b][s];
    st.addr_override()
        .or(match &cli.shared.config.backends[b].servers[s].addr {
            Address::Tcp(a) => Some(*a),
            _ => None,
        })
}

/// `… addr <ip> [port <port>]` (`words` start after `addr`), or `… port <port>`
/// (`ip` is `None`).
pub(crate) fn set_addr_port(cli: &Cli, b: usize, s: usize, words: &[&str], addr: bool) -> String {
    let Some(old) = current_addr(cli, b, s) else {
        return "Server address is not an IPv4/IPv6 address, cannot change it.\n".into();
    };
    let (ip, port) = if addr {
        let ip = match words.first().map(|w| w.parse::<IpAddr>()) {
            Some(Ok(ip)) => ip,
            Some(Err(_)) => return format!("Invalid addr: '{}'.\n", words[0]),
            None => {
                return "set server <b>/<s> addr requires an address and optionally a port.\n"
                    .into()
            }
        };
        let port = match &words[1..] {
            [] => None,
            ["port", p] => match parse_port(p) {
                Ok(p) => Some(p),
                Err(e) => return e,
            },
            _ => {
                return "set server <b>/<s> addr requires an address and optionally a port.\n"
                    .into()
            }
        };
        (ip, port)
    } else {
        match words {
            [p] => match parse_port(p) {
                Ok(p) => (old.ip(), Some(p)),
                Err(e) => return e,
            },
            _ => return "set server <b>/<s> port requires a port.\n".into(),
        }
    };
    let new = SocketAddr::new(ip, port.unwrap_or(old.port()));
    let mut msg = if ip != old.ip() {
        format!("IP changed from '{}' to '{}'", old.ip(), ip)
    } else {
        "no need to change the addr".to_string()
    };
    if new.port() != old.port() {
        msg.push_str(&format!(
            ", port changed from '{}' to '{}'",
            old.port(),
            new.port()
        ));
    } else {
        msg.push_str(", no need to change the port");
    }
    msg.push_str(" by 'stats socket command'\n");
    if new != old {
        let st = &cli.shared.servers[b][s];
        *st.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some(new);
        st.last_change.store(
            super::wall_us() / 1_000_000,
            std::sync::atomic::Ordering::Relaxed,
        );
        tell_workers(cli, b, s, Some(new));
    }
    msg
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("Invalid port: '{p}'.\n")),
    }
}

/// Send every worker the new address of server `s` of `b` (or, `None`, only drop
/// its idle connections) and wait for them (bounded).
fn tell_workers(cli: &Cli, b: usize, s: usize, addr: Option<SocketAddr>) {
    cli.ask_all(|tx| Message::ServerAddr {
        backend: b,
        server: s,
        addr,
        done: Box::new(move || {
            let _ = tx.send(());
        }),
    });
}

/// What `add server` accepts after the address.
#[derive(Debug, Default, PartialEq, Eq)]
struct AddOpts {
    weight: Option<u32>,
    maxconn: Option<u32>,
}

fn parse_add_opts(words: &[&str]) -> Result<AddOpts, String> {
    let mut o = AddOpts::default();
    let mut i = 0;
    while i < words.len() {
        let num = |i: usize| -> Result<u32, String> {
            words
                .get(i + 1)
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| format!("'{}' expects an integer argument.\n", words[i]))
        };
        match words[i] {
            "weight" => {
                let w = num(i)?;
                if w > 256 {
                    return Err("weight must be between 0 and 256 inclusive.\n".into());
                }
                o.weight = Some(w);
                i += 1;
            }
            "maxconn" => {
                o.maxconn = Some(num(i)?);
                i += 1;
            }
            // Dynamic servers always start in maintenance (HAProxy's rule):
            // `disabled` says so explicitly, `enabled` cannot override it.
            "disabled" | "enabled" => {}
            // HAProxy creates the check disabled until `enable health`, which
            // sluice does not have: refused rather than accepted and never run.
            "check" => {
                return Err(
                    "'check' is not supported on dynamic servers yet: sluice has no \
                     'enable health' to start it (add the server without 'check').\n"
                        .into(),
                )
            }
            kw => {
                return Err(format!(
                    "'{kw}' is not supported on dynamic servers yet (supported: weight, \
                     maxconn, disabled).\n"
                ))
            }
        }
        i += 1;
    }
    Ok(o)
}

/// `add server <be>/<name> <ip:port> [weight N] [maxconn N] [disabled]`.
///
/// HAProxy's rules: the backend's balance algorithm must be dynamic; the name must
/// be new in the backend; the server starts in maintenance (`enable server` or `set
/// server … state ready` puts it in service). `check` is refused: HAProxy creates
/// the check disabled until `enable health`, which sluice does not have yet.
/// sluice-specific: each backend has [`SPARE_SERVERS`] slots.
pub(crate) fn add_server(cli: &Cli, rest: &[&str]) -> String {
    let Some((be, name)) = rest.first().and_then(|a| a.split_once('/')) else {
        return "Require 'backend/server'.\n".into();
    };
    let sh = &cli.shared;
    let Some(b) = sh.config.backends.iter().position(|x| x.name == be) else {
        return "No such backend.\n".into();
    };
    if !crate::proxy::shared::dynamic_capable(&sh.config.backends[b]) {
        return "Backend must use a dynamic load balancing to support dynamic servers.\n".into();
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return format!("Invalid server name '{name}'.\n");
    }
    let addr = match rest.get(1).map(|a| a.parse::<SocketAddr>()) {
        Some(Ok(a)) if a.port() != 0 => a,
        Some(_) => return format!("Invalid address '{}' (expects <ip>:<port>).\n", rest[1]),
        None => return "'add server' requires an address (<ip>:<port>).\n".into(),
    };
    let opts = match parse_add_opts(&rest[2..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let _guard = cli.dyn_servers.lock().unwrap_or_else(|e| e.into_inner());
    let n = sh.servers[b].len();
    if (0..n).any(|s| sh.server_live(b, s) && sh.server_name(b, s) == name) {
        return "Already exists a server with the same name in backend.\n".into();
    }
    let first_spare = sh.static_servers[b];
    // A slot a deleted server of that name left, else a never used one.
    let slot = (first_spare..n)
        .find(|&s| {
            !sh.server_live(b, s)
                && sh.servers[b][s].dyn_name.get().map(String::as_str) == Some(name)
        })
        .or_else(|| (first_spare..n).find(|&s| sh.servers[b][s].dyn_name.get().is_none()));
    let Some(s) = slot else {
        return format!(
            "No free dynamic server slot in backend (sluice keeps {SPARE_SERVERS} per backend).\n"
        );
    };
    let st = &sh.servers[b][s];
    let _ = st.dyn_name.set(name.to_string());
    let next_id = (0..n)
        .filter(|&i| sh.server_live(b, i))
        .map(|i| sh.server_id(b, i))
        .max()
        .unwrap_or(0)
        + 1;
    st.dyn_id.store(next_id, Ordering::Relaxed);
    st.weight.store(opts.weight.unwrap_or(1), Ordering::Relaxed);
    st.dyn_weight
        .store(opts.weight.unwrap_or(1), Ordering::Relaxed);
    st.maxconn
        .store(opts.maxconn.unwrap_or(0), Ordering::Relaxed);
    st.up.store(true, Ordering::Relaxed);
    st.set_admin(true, false);
    *st.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    tell_workers(cli, b, s, Some(addr));
    st.live.store(true, Ordering::Release);
    sh.used_spares[b].fetch_max(s + 1 - first_spare, Ordering::AcqRel);
    "New server registered.\n".into()
}

/// `del server <be>/<name>`: only a server in maintenance with no connection
/// attached and nothing queued (HAProxy's rules and texts). Its idle connections
/// are closed on every worker; a configured server can be deleted too.
pub(crate) fn del_server(cli: &Cli, rest: &[&str]) -> String {
    let _guard = cli.dyn_servers.lock().unwrap_or_else(|e| e.into_inner());
    let (b, s) = match super::commands::find_server(cli, rest.first().copied()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let st = &cli.shared.servers[b][s];
    if !st.maint.load(Ordering::Relaxed) {
        return "Only a server in maintenance mode can be deleted.\n".into();
    }
    if st.cur() > 0 || st.queued.load(Ordering::Relaxed) > 0 {
        return "Server still has connections attached to it, cannot remove it.\n".into();
    }
    st.live.store(false, Ordering::Release);
    tell_workers(cli, b, s, None);
    "Server deleted.\n".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_options() {
        assert_eq!(
            parse_add_opts(&["weight", "5", "maxconn", "9", "disabled"]),
            Ok(AddOpts {
                weight: Some(5),
                maxconn: Some(9),
            })
        );
        assert!(parse_add_opts(&["weight"]).is_err());
        assert!(parse_add_opts(&["weight", "300"]).is_err());
        assert!(parse_add_opts(&["ssl"]).unwrap_err().contains("'ssl'"));
        assert!(parse_add_opts(&["check"])
            .unwrap_err()
            .contains("'enable health'"));
    }
}
