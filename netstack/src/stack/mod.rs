//! One core's TCP/IP stack: smoltcp interfaces over ports, with connections
//! found by 4-tuple in O(1).
//!
//! # What it owns
//!
//! A [`Stack`] owns, for one worker thread: its ports (one receive queue each),
//! one smoltcp `Interface` per port (addresses, routes, neighbour cache), every
//! TCP connection the core carries, its listening endpoints, its TIME-WAIT
//! records and the timer wheel of smoltcp deadlines.
//!
//! # How a frame finds its socket (the scale invariant)
//!
//! smoltcp's `Interface::poll` walks every socket of its `SocketSet` for every
//! frame, which makes per-packet cost grow with the number of connections. Here
//! **every connection lives alone in a `SocketSet` of one**. A received frame is
//! parsed just enough to read its 4-tuple, looked up in a hash map, and handed to
//! smoltcp (`poll_ingress_single`) together with that one-socket set — or with an
//! empty set, for ARP, ICMP and segments nobody owns (smoltcp answers those with
//! RST, as TCP must). Egress works the same way: only connections marked *dirty*
//! (the application wrote, read or closed; a frame arrived) or whose smoltcp
//! deadline fell due on the wheel are egressed, each with its own set. Per-packet
//! work is therefore independent of how many connections are open
//! (`perf/benches/netstack.rs` measures it at 100 and 100,000).
//!
//! # Listening with a backlog
//!
//! A smoltcp socket in `Listen` serves one connection. A [`Listener`] here is a
//! record (address, port, backlog); a SYN for it creates a fresh socket put in
//! `Listen` just before the SYN reaches it. Until the handshake completes the
//! connection is *embryonic*; then it waits in the listener's accept queue.
//! Embryonic plus queued connections are bounded by the backlog: a SYN beyond it
//! is dropped (the client retries), as Linux does with a full queue.
//!
//! # Closing, orphans and TIME-WAIT
//!
//! A connection whose stream was dropped is an *orphan*: it is closed (FIN) and
//! lives on until smoltcp reaches `Closed` (then it is freed) or `TimeWait`
//! (then its socket and buffers are freed at once and only its 4-tuple is kept,
//! in a TIME-WAIT record, for [`StackConfig::time_wait`]). A new SYN for a tuple
//! in TIME-WAIT is accepted (the record is dropped), and a connect that finds
//! every port of its range busy reuses the oldest TIME-WAIT tuple rather than
//! failing: TIME-WAIT never exhausts ports. Orphans are bounded in time by
//! smoltcp's timeout ([`StackConfig::orphan_timeout`]).
//!
//! # Neighbours
//!
//! smoltcp fills its neighbour cache only from ARP. Each core also learns
//! (IPv4 address → MAC) from the TCP frames it receives from on-link peers and
//! refreshes smoltcp's cache with a synthetic ARP reply when an entry is new or
//! older than [`NEIGHBOUR_REFRESH_MS`]: a core that never sees ARP (frames are
//! steered by port) still knows its peers, and entries never expire under
//! traffic. ARP frames that reach a core are also handed to [`Stack::share_arp`]
//! for the others (the driver carries them).
//!
//! # Invariants
//!
//! - A connection is in `by_tuple` exactly while its slot is used; a freed slot's
//!   generation moves on, so a stale [`ConnId`] is recognised and counted, never
//!   acted on.
//! - A slot is freed only when no stream owns it (owner `Orphan`, or embryonic).
//! - The stack never reads a clock: every entry point takes `now`.

mod connect;
mod device;
mod engine;
mod listen;
mod ops;
mod table;

use std::collections::VecDeque;
use std::io;
use std::net::Ipv4Addr;
use std::task::Waker;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::DeviceCapabilities;
use smoltcp::socket::tcp::{self};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr};

use crate::port::{Instant, Port, PortCounters};
use crate::smoltcp_phy::to_smoltcp_instant;
use crate::steer;

pub use table::{FastMap, Tuple, TupleMap, Wheel};

use device::{device_caps, PortRef};

/// How often a neighbour seen in traffic is re-announced to smoltcp (its own
/// entries live 60 s).
pub const NEIGHBOUR_REFRESH_MS: i64 = 20_000;

/// Frames taken from one port per [`Stack::poll`] (a burst).
pub const RX_BURST: usize = 64;

/// Segments one connection may emit per egress turn before others get theirs.
const EGRESS_SEGMENTS_PER_TURN: usize = 64;

/// An IPv4 route of a port: `dest/prefix` via the router `via`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Destination network.
    pub dest: Ipv4Addr,
    /// Its prefix length (0 for the default route).
    pub prefix: u8,
    /// The next hop, on one of the port's networks.
    pub via: Ipv4Addr,
}

/// One port's identity: MAC, addresses, routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicConfig {
    /// The port's MAC address (locally administered unless real hardware's).
    pub mac: [u8; 6],
    /// Addresses with their prefix length.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Routes through routers on the port's networks.
    pub routes: Vec<RouteConfig>,
}

/// Settings of a core's stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// Receive buffer per connection, bytes.
    pub rx_buffer: usize,
    /// Transmit buffer per connection, bytes.
    pub tx_buffer: usize,
    /// Local ports for connections this stack opens (inclusive).
    pub local_ports: (u16, u16),
    /// This core's receive queue and the number of queues (steering).
    pub queue: u16,
    /// Number of receive queues (cores) the ports are split into.
    pub queues: u16,
    /// How long a TIME-WAIT record is kept.
    pub time_wait: Duration,
    /// Bound on an orphan's life without progress (smoltcp's timeout).
    pub orphan_timeout: Duration,
    /// Seed for smoltcp's initial sequence numbers and ports.
    pub seed: u64,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            rx_buffer: 64 * 1024,
            tx_buffer: 64 * 1024,
            local_ports: (32768, 60999),
            queue: 0,
            queues: 1,
            time_wait: Duration::from_secs(10),
            orphan_timeout: Duration::from_secs(30),
            seed: 0x05ee_d1ce,
        }
    }
}

/// A connection handle: slot and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    slot: u32,
    gen: u32,
}

/// A listening endpoint handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u32);

/// Counters of one core's stack; monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackCounters {
    /// Frames taken from the ports.
    pub rx_frames: u64,
    /// Frames that matched an open connection by 4-tuple.
    pub rx_matched: u64,
    /// Connections accepted into a listener's queue.
    pub accepted: u64,
    /// SYNs dropped because the listener's backlog was full.
    pub syn_backlog_drops: u64,
    /// Connections opened to servers.
    pub connected: u64,
    /// Connects that reused a TIME-WAIT tuple for lack of a free port.
    pub time_wait_reused: u64,
    /// Segments for a tuple in TIME-WAIT, dropped.
    pub time_wait_drops: u64,
    /// Operations on a closed connection whose slot is still free.
    pub stale_just_closed: u64,
    /// Operations on a closed connection whose slot was reused since.
    pub stale_recycled: u64,
    /// Deadlines that fired.
    pub timers_fired: u64,
    /// Synthetic ARP entries given to smoltcp from observed traffic.
    pub neighbours_learned: u64,
    /// ARP requests the stack sent itself for a connection's unresolved next hop.
    pub arp_requests: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// Handshake in progress for this listener.
    Embryonic(u32),
    /// Established, waiting in this listener's accept queue.
    Queued(u32),
    /// A stream holds it.
    Stream,
    /// Nobody: closing on its own.
    Orphan,
}

struct Conn {
    set: SocketSet<'static>,
    handle: SocketHandle,
    nic: usize,
    tuple: Tuple,
    owner: Owner,
    /// The wheel deadline this connection wants (ms), if any.
    armed: Option<i64>,
    dirty: bool,
    /// The stream shut its write side down (or closed).
    wr_shut: bool,
}

impl Conn {
    fn boxed(socket: tcp::Socket<'static>, nic: usize, tuple: Tuple, owner: Owner) -> Box<Conn> {
        let mut set = SocketSet::new(Vec::with_capacity(1));
        let handle = set.add(socket);
        Box::new(Conn {
            set,
            handle,
            nic,
            tuple,
            owner,
            armed: None,
            dirty: false,
            wr_shut: false,
        })
    }
    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.set.get_mut::<tcp::Socket>(self.handle)
    }
    fn socket_ref(&self) -> &tcp::Socket<'static> {
        self.set.get::<tcp::Socket>(self.handle)
    }
}

struct Slot {
    gen: u32,
    conn: Option<Box<Conn>>,
}

/// A listening endpoint: where, how deep, and who waits.
struct Listener {
    ip: Option<Ipv4Addr>,
    port: u16,
    backlog: usize,
    embryonic: usize,
    ready: VecDeque<ConnId>,
    waker: Option<Waker>,
}

struct Nic<P: Port> {
    iface: Interface,
    port: P,
    caps: DeviceCapabilities,
    mac: [u8; 6],
    addrs: Vec<(Ipv4Addr, u8)>,
    routes: Vec<RouteConfig>,
    /// Peers seen on-link: MAC and when smoltcp was last told (ms).
    neighbours: FastMap<Ipv4Addr, ([u8; 6], i64)>,
    /// Next hops this stack sent its own ARP request for, and when (ms).
    arp_asked: FastMap<Ipv4Addr, i64>,
}

/// What a TCP/IPv4 frame says about itself (Ethernet II, no VLAN).
struct TcpHead {
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    syn: bool,
    ack: bool,
}

fn parse_tcp(frame: &[u8]) -> Option<TcpHead> {
    let (sport, dport) = steer::tcp_ports(frame)?;
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let flags = *ip.get(ihl + 13)?;
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&frame[6..12]);
    Some(TcpHead {
        src_mac,
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        sport,
        dport,
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
    })
}

/// Whether `frame` is an ARP frame (to be shared with the other cores).
pub fn is_arp(frame: &[u8]) -> bool {
    frame.len() >= 42 && frame[12..14] == [0x08, 0x06]
}

fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - u32::from(prefix.min(32)));
    u32::from(ip) & mask == u32::from(net) & mask
}

/// One core's TCP/IP stack over ports of type `P`.
pub struct Stack<P: Port> {
    cfg: StackConfig,
    nics: Vec<Nic<P>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_tuple: TupleMap<u32>,
    listeners: Vec<Option<Listener>>,
    /// Listeners by port (a port rarely has more than one address).
    listen_ports: FastMap<u16, Vec<u32>>,
    time_wait: TupleMap<i64>,
    time_wait_fifo: VecDeque<(Tuple, i64)>,
    wheel: Wheel,
    dirty: Vec<u32>,
    empty: SocketSet<'static>,
    next_port: u16,
    now: Instant,
    counters: StackCounters,
    /// ARP frames seen here, for the driver to give to the other cores.
    /// ARP frames seen since the last [`Stack::take_shared_arp`], with their port.
    arp_out: Vec<(usize, Vec<u8>)>,
}

impl<P: Port> Stack<P> {
    /// A stack over `ports`, each with its identity in `nics` (same order).
    pub fn new(cfg: StackConfig, ports: Vec<(P, NicConfig)>, now: Instant) -> io::Result<Self> {
        let smol_now = to_smoltcp_instant(now);
        let mut nics = Vec::new();
        for (i, (mut port, nc)) in ports.into_iter().enumerate() {
            let caps = device_caps(port.capabilities());
            let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(nc.mac)));
            config.random_seed = cfg.seed ^ ((i as u64) << 32) ^ u64::from(cfg.queue);
            let mut iface = Interface::new(config, &mut PortRef::new(&mut port), smol_now);
            let mut too_many = false;
            iface.update_ip_addrs(|a| {
                for &(ip, prefix) in &nc.addrs {
                    let cidr = IpCidr::Ipv4(Ipv4Cidr::new(ip, prefix));
                    too_many |= a.push(cidr).is_err();
                }
            });
            if too_many {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "too many addresses on one port (at most 8)",
                ));
            }
            for r in &nc.routes {
                let route = smoltcp::iface::Route {
                    cidr: IpCidr::Ipv4(Ipv4Cidr::new(r.dest, r.prefix)),
                    via_router: IpAddress::Ipv4(r.via),
                    preferred_until: None,
                    expires_at: None,
                };
                let mut full = false;
                iface
                    .routes_mut()
                    .update(|rs| full = rs.push(route).is_err());
                if full {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "too many routes on one port (at most 16)",
                    ));
                }
            }
            nics.push(Nic {
                iface,
                port,
                caps,
                mac: nc.mac,
                addrs: nc.addrs,
                routes: nc.routes,
                neighbours: FastMap::default(),
                arp_asked: FastMap::default(),
            });
        }
        let span = u32::from(cfg.local_ports.1.saturating_sub(cfg.local_ports.0)) + 1;
        let next_port = cfg.local_ports.0 + (cfg.seed % u64::from(span)) as u16;
        Ok(Stack {
            wheel: Wheel::new(now.total_millis()),
            cfg,
            nics,
            slots: Vec::new(),
            free: Vec::new(),
            by_tuple: TupleMap::default(),
            listeners: Vec::new(),
            listen_ports: FastMap::default(),
            time_wait: TupleMap::default(),
            time_wait_fifo: VecDeque::new(),
            dirty: Vec::new(),
            empty: SocketSet::new(Vec::new()),
            next_port,
            now,
            counters: StackCounters::default(),
            arp_out: Vec::new(),
        })
    }

    /// The stack's settings.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Counters of the stack.
    pub fn counters(&self) -> StackCounters {
        self.counters
    }

    /// Counters of port `i`.
    pub fn port_counters(&self, i: usize) -> Option<PortCounters> {
        self.nics.get(i).map(|n| n.port.counters())
    }

    /// Port `i` (for its wake descriptor).
    pub fn port(&self, i: usize) -> Option<&P> {
        self.nics.get(i).map(|n| &n.port)
    }

    /// Number of ports.
    pub fn port_count(&self) -> usize {
        self.nics.len()
    }

    /// Connections holding a socket (not TIME-WAIT records).
    pub fn connections(&self) -> usize {
        self.by_tuple.len()
    }

    /// TIME-WAIT records kept.
    pub fn time_wait_len(&self) -> usize {
        self.time_wait.len()
    }

    /// Whether some connection needs egress now.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The earliest smoltcp deadline armed (ms, may be early), for idle sleeping.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let tw = self.time_wait_fifo.front().map(|&(_, t)| t);
        match (self.wheel.next_deadline(), tw) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `ip` is one of this stack's addresses.
    pub fn owns_address(&self, ip: Ipv4Addr) -> bool {
        self.nics
            .iter()
            .any(|n| n.addrs.iter().any(|&(a, _)| a == ip))
    }
}

#[cfg(test)]
mod tests;
