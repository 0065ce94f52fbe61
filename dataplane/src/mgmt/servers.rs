//! `set server <be>/<srv> addr <ip> [port <port>]` and `set server <be>/<srv> port
//! <port>`: move a server, on every worker.
//!
//! Owns: the parsing of those options and HAProxy's answer. Invariants: a bad
//! argument changes nothing; the shared record ([`ServerState::addr`]) is written
//! first (the CLI and health checks read it), then every worker updates its own
//! endpoint and drops its idle connections to the old address through the mailbox
//! (the command returns once the workers answered, or after the CLI's bounded wait).

use std::net::{IpAddr, SocketAddr};

use appliance_config::Address;

use super::Cli;
use crate::proxy::shared::ServerState;
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
        cli.ask_all(|tx| Message::ServerAddr {
            backend: b,
            server: s,
            addr: new,
            done: Box::new(move || {
                let _ = tx.send(());
            }),
        });
    }
    msg
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("Invalid port: '{p}'.\n")),
    }
}
