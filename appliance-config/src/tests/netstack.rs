//! `io-mode` and the `netstack` section: parsing, defaults, and the poll-mode
//! checks of binds and servers against the declared addresses and routes.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{expect_err, load as load_ok};
use crate::model::netstack::{IoMode, NetDriver, NetQueues};

const HEAD: &str = "global\n  io-mode poll\n";
const NS: &str = "netstack\n  port lan0 af-packet veth0 queues 2 mtu 1400 gso-repair mac 02:00:00:00:00:20\n  port lab1 tap tap7\n  address lan0 10.231.1.2/24\n  address lab1 10.231.2.2/24\n  route 10.9.0.0/16 via 10.231.1.1 dev lan0\n  tcp-buffers 128k 32k\n  local-ports 40000-50000\n  busy-poll 20us\n  idle-backoff off\n  time-wait 5s\n";
const PX: &str = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend fe\n  bind 10.231.1.2:80\n  bind 0.0.0.0:81\n  default_backend be\nbackend be\n  server s1 10.231.2.9:8080\n  server s2 10.9.3.4:8080\n";

#[test]
fn full_section_parses() {
    let l = load_ok(&format!("{HEAD}{NS}{PX}"));
    let g = &l.config.global;
    assert_eq!(g.io_mode, IoMode::Poll);
    let ns = g.netstack.as_ref().unwrap();
    assert_eq!(ns.ports.len(), 2);
    assert_eq!(
        ns.ports[0].driver,
        NetDriver::AfPacket {
            iface: "veth0".into()
        }
    );
    assert_eq!(ns.ports[0].queues, NetQueues::Count(2));
    assert_eq!(ns.ports[0].mtu, 1400);
    assert_eq!(ns.ports[0].mac, Some([2, 0, 0, 0, 0, 0x20]));
    assert!(ns.ports[0].gso_repair);
    assert!(!ns.ports[1].gso_repair);
    assert_eq!(
        ns.ports[1].driver,
        NetDriver::Tap {
            iface: "tap7".into()
        }
    );
    assert_eq!(ns.ports[1].queues, NetQueues::Auto);
    assert_eq!(ns.addresses[1].ip, Ipv4Addr::new(10, 231, 2, 2));
    assert_eq!((ns.routes[0].prefix, ns.routes[0].port), (16, 0));
    assert_eq!((ns.rx_buffer, ns.tx_buffer), (128 * 1024, 32 * 1024));
    assert_eq!(ns.local_ports, (40000, 50000));
    assert_eq!(ns.busy_poll, Duration::from_micros(20));
    assert_eq!(ns.idle_backoff, None);
    assert_eq!(ns.time_wait, Duration::from_secs(5));
    assert_eq!(ns.port_for(Ipv4Addr::new(10, 9, 200, 1)), Some(0));
    assert_eq!(ns.port_for(Ipv4Addr::new(10, 231, 2, 200)), Some(1));
    assert_eq!(ns.port_for(Ipv4Addr::new(192, 168, 0, 1)), None);
}

#[test]
fn defaults_and_epoll_warning() {
    let l = load_ok(&format!(
        "netstack\n  port p tap tap0\n  address p 10.0.0.2/24\n{PX}"
    ));
    let ns = l.config.global.netstack.as_ref().unwrap();
    assert_eq!(l.config.global.io_mode, IoMode::Epoll);
    assert_eq!(ns.idle_backoff, Some(Duration::from_millis(1)));
    assert_eq!(ns.local_ports, (32768, 60999));
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("not used in 'io-mode epoll'")),
        "{:?}",
        l.diagnostics
    );
}

#[test]
fn keyword_errors_name_the_line() {
    expect_err(
        "global\n  io-mode dpdk\n",
        2,
        "io-mode",
        "expects 'epoll' or 'poll'",
    );
    expect_err(
        "netstack\n  port p foo eth0\n",
        2,
        "port",
        "unknown driver 'foo'",
    );
    expect_err(
        "netstack\n  port p dpdk eth0\n",
        2,
        "port",
        "not in this build",
    );
    expect_err(
        "netstack\n  port p tap t0\n  port p tap t1\n",
        3,
        "port",
        "already declared",
    );
    expect_err(
        "netstack\n  port p tap t0 queues 2\n",
        2,
        "port",
        "single queue",
    );
    expect_err(
        "netstack\n  port p tap t0 mac 01:00:00:00:00:01\n",
        2,
        "port",
        "invalid MAC",
    );
    expect_err(
        "netstack\n  port p tap t0 speed 10g\n",
        2,
        "port",
        "unknown port option",
    );
    expect_err(
        "netstack\n  address q 10.0.0.1/24\n",
        2,
        "address",
        "unknown port 'q'",
    );
    expect_err(
        "netstack\n  port p tap t0\n  address p 10.0.0.1\n",
        3,
        "address",
        "invalid IPv4 network",
    );
    expect_err(
        "netstack\n  port p tap t0\n  address p 127.0.0.5/8\n",
        3,
        "address",
        "cannot be a port's address",
    );
    expect_err(
        "netstack\n  port p tap t0\n  address p 10.0.0.1/24\n  route default via 10.1.0.1 dev p\n",
        4,
        "route",
        "not in a subnet of port 'p'",
    );
    expect_err(
        "netstack\n  local-ports 80-90\n",
        2,
        "local-ports",
        "invalid port range",
    );
    expect_err(
        "netstack\n  tcp-buffers 64k\n",
        2,
        "tcp-buffers",
        "receive and a send size",
    );
    expect_err(
        "netstack\n  idle-backoff soon\n",
        2,
        "idle-backoff",
        "invalid time value",
    );
    expect_err(
        "netstack\n  pport p tap t0\n",
        2,
        "pport",
        "did you mean 'port'",
    );
}

#[test]
fn poll_mode_checks_binds_and_servers() {
    let ns = "netstack\n  port p af-packet v0\n  address p 10.231.1.2/24\n";
    let px = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend fe\n  bind 10.231.1.3:80\n  bind [::1]:81\n  bind /tmp/x.sock\n  default_backend be\nbackend be\n  server s1 10.231.9.9:8080\n  server s2 127.0.0.1:8080\n";
    let text = format!("{HEAD}{ns}{px}");
    expect_err(
        &text,
        12,
        "bind",
        "10.231.1.3 is not an address of the netstack section (declared: 10.231.1.2/24)",
    );
    expect_err(&text, 13, "bind", "IPv6 is not available in io-mode poll");
    expect_err(&text, 14, "bind", "UNIX sockets");
    expect_err(
        &text,
        17,
        "server",
        "server 's1' at '10.231.9.9:8080' is unreachable",
    );
    expect_err(&text, 18, "server", "server 's2'");
    // A default route makes every server reachable.
    let routed = format!(
        "{HEAD}{ns}  route default via 10.231.1.1 dev p\ndefaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nfrontend fe\n  bind :80\n  default_backend be\nbackend be\n  server s1 192.0.2.7:8080\n"
    );
    load_ok(&routed);
    expect_err(
        "global\n  io-mode poll\n",
        2,
        "io-mode",
        "needs a 'netstack' section",
    );
}
