//! Poll mode: `global io-mode` and the `netstack` section — the NIC ports the
//! userspace TCP/IP stack owns, their addresses and routes, and its tuning.
//!
//! Owns: [`IoMode`], [`Netstack`], [`NetPort`], [`NetDriver`], [`NetQueues`],
//! [`NetAddress`], [`NetRoute`]. Invariants (checked when the configuration is
//! finalized): port names are unique; every address and route names a declared
//! port; a route's gateway lies in a subnet of its port; in `io-mode poll` there is
//! at least one port with an address, every `bind` is one of those addresses (or
//! the IPv4 wildcard) and every server is reachable (a connected subnet or a
//! route).
//!
//! Syntax (sluice's own, in HAProxy's style — HAProxy has no such section):
//!
//! ```text
//! global
//!     io-mode poll                      # epoll (default) | poll
//! netstack
//!     port lan0 af-packet veth0 queues auto mtu 1500 mac 02:00:00:00:00:20 gso-repair
//!     port lab1 tap tap0
//!     address lan0 10.231.1.2/24
//!     route default via 10.231.1.1 dev lan0
//!     route 10.9.0.0/16 via 10.231.1.1 dev lan0
//!     tcp-buffers 64k 64k               # per-connection receive / send buffers
//!     local-ports 32768-60999           # source ports for server connections
//!     busy-poll 50us                    # spin this long with no work, then back off
//!     idle-backoff 1ms                  # longest sleep when idle; 'off' = always spin
//!     time-wait 10s
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::error::Location;

/// How workers do their I/O (`global io-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoMode {
    /// Kernel sockets through epoll (the default).
    #[default]
    Epoll,
    /// The userspace stack on the `netstack` section's ports.
    Poll,
}

impl IoMode {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Epoll => "epoll",
            IoMode::Poll => "poll",
        }
    }
}

/// Which driver carries a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetDriver {
    /// AF_PACKET TPACKET_V3 rings on a kernel interface (one fanout queue per worker).
    AfPacket {
        /// The kernel interface (`veth0`, `eth1`).
        iface: String,
    },
    /// A TAP device (single queue).
    Tap {
        /// The TAP interface name (created if missing).
        iface: String,
    },
}

impl NetDriver {
    /// The driver keyword.
    pub fn kind(&self) -> &'static str {
        match self {
            NetDriver::AfPacket { .. } => "af-packet",
            NetDriver::Tap { .. } => "tap",
        }
    }

    /// The kernel interface name.
    pub fn iface(&self) -> &str {
        match self {
            NetDriver::AfPacket { iface } | NetDriver::Tap { iface } => iface,
        }
    }
}

/// How many queues a port has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetQueues {
    /// One per worker thread.
    Auto,
    /// Exactly this many (must equal the worker count in poll mode).
    Count(u32),
}

/// `port <name> <driver> <iface> [queues N|auto] [mtu N] [mac XX:..]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPort {
    /// The port's name in the configuration.
    pub name: String,
    /// The driver and its interface.
    pub driver: NetDriver,
    /// `queues` (default auto).
    pub queues: NetQueues,
    /// `mtu`: the IP MTU (default 1500).
    pub mtu: u16,
    /// `mac`; `None`: chosen at start-up (AF_PACKET: the interface's; TAP: a
    /// locally administered address derived from the name).
    pub mac: Option<[u8; 6]>,
    /// `gso-repair` (af-packet): take GSO super-frames (a peer's TSO, the
    /// interface's GRO) with their virtio header and cut them in software, at
    /// the cost of 64 KiB receive slots. Without it the receive ring has small
    /// slots and such frames are dropped and counted: turn GRO/LRO off on the
    /// interface (and TSO/GSO on directly attached virtual peers).
    pub gso_repair: bool,
    /// Where it was declared.
    pub location: Location,
}

/// `address <port> <ip>/<prefix>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetAddress {
    /// Index into [`Netstack::ports`].
    pub port: usize,
    /// The address.
    pub ip: Ipv4Addr,
    /// The prefix length of its subnet.
    pub prefix: u8,
    /// Where it was declared.
    pub location: Location,
}

/// `route default|<cidr> via <gateway> dev <port>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRoute {
    /// Destination network and prefix length (`default` = 0.0.0.0/0).
    pub dest: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// The gateway.
    pub via: Ipv4Addr,
    /// Index into [`Netstack::ports`].
    pub port: usize,
    /// Where it was declared.
    pub location: Location,
}

/// The `netstack` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netstack {
    /// Where the (first) section starts.
    pub location: Location,
    /// Ports in declaration order.
    pub ports: Vec<NetPort>,
    /// Addresses.
    pub addresses: Vec<NetAddress>,
    /// Routes.
    pub routes: Vec<NetRoute>,
    /// Per-connection receive buffer (default 64 KiB).
    pub rx_buffer: usize,
    /// Per-connection send buffer (default 64 KiB).
    pub tx_buffer: usize,
    /// Source ports for connections to servers (default 32768-60999).
    pub local_ports: (u16, u16),
    /// `busy-poll`: how long a worker spins without work before sleeping (default 50us).
    pub busy_poll: Duration,
    /// `idle-backoff`: the longest sleep of an idle worker; `None` = never sleep
    /// (default 1ms).
    pub idle_backoff: Option<Duration>,
    /// `time-wait` (default 10s).
    pub time_wait: Duration,
}

impl Netstack {
    /// An empty section declared at `location`, with the defaults.
    pub fn new(location: Location) -> Self {
        Netstack {
            location,
            ports: Vec::new(),
            addresses: Vec::new(),
            routes: Vec::new(),
            rx_buffer: 64 * 1024,
            tx_buffer: 64 * 1024,
            local_ports: (32768, 60999),
            busy_poll: Duration::from_micros(50),
            idle_backoff: Some(Duration::from_millis(1)),
            time_wait: Duration::from_secs(10),
        }
    }

    /// Whether `ip` is a declared address (or the IPv4 wildcard).
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_unspecified() || self.addresses.iter().any(|a| a.ip == ip)
    }

    /// The port through which `ip` is reached: a connected subnet first, then the
    /// most specific route.
    pub fn port_for(&self, ip: Ipv4Addr) -> Option<usize> {
        if let Some(a) = self
            .addresses
            .iter()
            .filter(|a| in_subnet(ip, a.ip, a.prefix))
            .max_by_key(|a| a.prefix)
        {
            return Some(a.port);
        }
        self.routes
            .iter()
            .filter(|r| in_subnet(ip, r.dest, r.prefix))
            .max_by_key(|r| r.prefix)
            .map(|r| r.port)
    }
}

/// Whether `ip` lies in `net/prefix`.
pub fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - u32::from(prefix.min(32)));
    u32::from(ip) & mask == u32::from(net) & mask
}
