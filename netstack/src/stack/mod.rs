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

mod device;
mod table;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::DeviceCapabilities;
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::time::Duration as SmolDuration;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Cidr,
};

use crate::port::{Instant, Port, PortCounters, RxToken};
use crate::smoltcp_phy::to_smoltcp_instant;
use crate::steer;

pub use table::{FastMap, Tuple, TupleMap, Wheel};

use device::{device_caps, NoTx, OneFrame, PortRef};

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
            seed: 0x5eed_1ce,
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
    arp_out: Vec<Vec<u8>>,
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

    // ----- listening -------------------------------------------------------

    /// Listens on `ip` (any of ours when `None`) and `port` with `backlog`.
    pub fn listen(
        &mut self,
        ip: Option<Ipv4Addr>,
        port: u16,
        backlog: usize,
    ) -> io::Result<ListenerId> {
        if port == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "poll mode needs an explicit port to listen on",
            ));
        }
        if let Some(ip) = ip {
            if !self.owns_address(ip) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("{ip} is not an address of any netstack port"),
                ));
            }
        }
        let clash = self
            .listen_ports
            .get(&port)
            .into_iter()
            .flatten()
            .any(|&l| {
                let other = self.listeners[l as usize].as_ref().map(|l| l.ip);
                matches!(other, Some(o) if o.is_none() || ip.is_none() || o == ip)
            });
        if clash {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("port {port} is already listened on"),
            ));
        }
        let id = self
            .listeners
            .iter()
            .position(|l| l.is_none())
            .unwrap_or(self.listeners.len());
        let l = Listener {
            ip,
            port,
            backlog: backlog.max(1),
            embryonic: 0,
            ready: VecDeque::new(),
            waker: None,
        };
        if id == self.listeners.len() {
            self.listeners.push(Some(l));
        } else {
            self.listeners[id] = Some(l);
        }
        self.listen_ports.entry(port).or_default().push(id as u32);
        Ok(ListenerId(id as u32))
    }

    /// Takes an established connection off the listener's queue, or registers
    /// the waker and returns `None`.
    pub fn accept(&mut self, l: ListenerId, waker: &Waker) -> Option<ConnId> {
        let listener = self.listeners.get_mut(l.0 as usize)?.as_mut()?;
        while let Some(id) = listener.ready.pop_front() {
            let slot = &mut self.slots[id.slot as usize];
            if slot.gen != id.gen {
                continue;
            }
            if let Some(c) = slot.conn.as_mut() {
                c.owner = Owner::Stream;
                return Some(id);
            }
        }
        let listener = self.listeners[l.0 as usize].as_mut()?;
        if !listener.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            listener.waker = Some(waker.clone());
        }
        None
    }

    /// The address a listener is bound to.
    pub fn listener_addr(&self, l: ListenerId) -> Option<(Option<Ipv4Addr>, u16)> {
        self.listeners
            .get(l.0 as usize)?
            .as_ref()
            .map(|l| (l.ip, l.port))
    }

    /// Stops listening; connections not yet accepted are reset.
    pub fn unlisten(&mut self, l: ListenerId) {
        let Some(listener) = self.listeners.get_mut(l.0 as usize).and_then(Option::take) else {
            return;
        };
        if let Some(v) = self.listen_ports.get_mut(&listener.port) {
            v.retain(|&x| x != l.0);
            if v.is_empty() {
                self.listen_ports.remove(&listener.port);
            }
        }
        let pending: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.conn.as_ref().is_some_and(
                    |c| matches!(c.owner, Owner::Embryonic(x) | Owner::Queued(x) if x == l.0),
                )
            })
            .map(|(i, _)| i as u32)
            .collect();
        for slot in pending {
            if let Some(c) = self.slots[slot as usize].conn.as_mut() {
                c.socket().abort();
                c.owner = Owner::Orphan;
            }
            self.mark_dirty(slot);
        }
    }

    // ----- connecting ------------------------------------------------------

    /// The port and local address used to reach `ip`: a port with an address
    /// on `ip`'s network, else the port of the most specific route.
    pub fn route(&self, ip: Ipv4Addr) -> Option<(usize, Ipv4Addr)> {
        for (i, n) in self.nics.iter().enumerate() {
            if let Some(&(a, _)) = n.addrs.iter().find(|&&(a, p)| in_subnet(ip, a, p)) {
                return Some((i, a));
            }
        }
        let mut best: Option<(u8, usize)> = None;
        for (i, n) in self.nics.iter().enumerate() {
            for r in &n.routes {
                if in_subnet(ip, r.dest, r.prefix) && best.is_none_or(|(p, _)| r.prefix > p) {
                    best = Some((r.prefix, i));
                }
            }
        }
        let (_, i) = best?;
        let local = self.nics[i].addrs.first()?.0;
        Some((i, local))
    }

    /// Opens a connection to `remote`, from `local` if given (port 0: chosen).
    /// The chosen local port steers replies back to this core's queue.
    pub fn connect(
        &mut self,
        remote: SocketAddrV4,
        local: Option<SocketAddrV4>,
    ) -> io::Result<ConnId> {
        let (nic, route_ip) = self.route(*remote.ip()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                format!("no netstack port or route reaches {}", remote.ip()),
            )
        })?;
        let local_ip = match local.map(|l| *l.ip()) {
            Some(ip) if !ip.is_unspecified() => {
                if !self.nics[nic].addrs.iter().any(|&(a, _)| a == ip) {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        format!(
                            "{ip} is not an address of the port that reaches {}",
                            remote.ip()
                        ),
                    ));
                }
                ip
            }
            _ => route_ip,
        };
        let wanted = local.map(|l| l.port()).unwrap_or(0);
        let port = if wanted != 0 {
            let t = Tuple::new(local_ip, wanted, *remote.ip(), remote.port());
            if self.by_tuple.contains_key(&t) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{local_ip}:{wanted} -> {remote} is in use"),
                ));
            }
            self.time_wait.remove(&t);
            wanted
        } else {
            self.pick_port(local_ip, remote)?
        };
        let tuple = Tuple::new(local_ip, port, *remote.ip(), remote.port());
        let mut socket = self.new_socket();
        let n = &mut self.nics[nic];
        socket
            .connect(
                n.iface.context(),
                IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port()),
                IpListenEndpoint {
                    addr: Some(IpAddress::Ipv4(local_ip)),
                    port,
                },
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("connect: {e}")))?;
        let id = self.insert(socket, nic, tuple, Owner::Stream);
        self.counters.connected += 1;
        self.mark_dirty(id.slot);
        Ok(id)
    }

    fn pick_port(&mut self, local_ip: Ipv4Addr, remote: SocketAddrV4) -> io::Result<u16> {
        let (q, qs) = (self.cfg.queue, self.cfg.queues);
        let range = self.cfg.local_ports;
        let by_tuple = &self.by_tuple;
        let tw = &self.time_wait;
        let tuple = |p| Tuple::new(local_ip, p, *remote.ip(), remote.port());
        let found = steer::pick_local_port(remote.port(), q, qs, range, self.next_port, |p| {
            let t = tuple(p);
            !by_tuple.contains_key(&t) && !tw.contains_key(&t)
        });
        let port = match found {
            Some(p) => p,
            None => {
                // Every port busy or in TIME-WAIT: reuse the oldest TIME-WAIT tuple.
                let p = steer::pick_local_port(remote.port(), q, qs, range, self.next_port, |p| {
                    !by_tuple.contains_key(&tuple(p))
                })
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        format!(
                            "no free local port toward {remote} (local-ports {}-{})",
                            range.0, range.1
                        ),
                    )
                })?;
                self.time_wait.remove(&tuple(p));
                self.counters.time_wait_reused += 1;
                p
            }
        };
        self.next_port = if port >= range.1 { range.0 } else { port + 1 };
        Ok(port)
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let rx = tcp::SocketBuffer::new(vec![0u8; self.cfg.rx_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0u8; self.cfg.tx_buffer]);
        let mut s = tcp::Socket::new(rx, tx);
        s.set_nagle_enabled(false);
        s
    }

    fn insert(
        &mut self,
        socket: tcp::Socket<'static>,
        nic: usize,
        tuple: Tuple,
        owner: Owner,
    ) -> ConnId {
        let mut set = SocketSet::new(Vec::with_capacity(1));
        let handle = set.add(socket);
        let conn = Box::new(Conn {
            set,
            handle,
            nic,
            tuple,
            owner,
            armed: None,
            dirty: false,
            wr_shut: false,
        });
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot { gen: 0, conn: None });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.conn = Some(conn);
        self.by_tuple.insert(tuple, slot);
        ConnId { slot, gen: s.gen }
    }

    fn free_slot(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if let Some(c) = s.conn.take() {
            self.by_tuple.remove(&c.tuple);
        }
        s.gen = s.gen.wrapping_add(1);
        self.free.push(slot);
    }

    // ----- the poll loop ---------------------------------------------------

    /// One turn: a burst of frames from every port, due deadlines, egress of
    /// every dirty connection, and a flush of the ports. Returns the number of
    /// frames and deadlines handled (0: nothing happened).
    pub fn poll(&mut self, now: Instant) -> usize {
        self.now = now;
        let mut work = 0;
        for nic in 0..self.nics.len() {
            work += self.rx_burst(nic);
        }
        work += self.expire(now);
        self.egress_dirty();
        for n in &mut self.nics {
            n.port.flush(now);
        }
        work
    }

    /// Egress of dirty connections and a flush (after tasks wrote).
    pub fn flush(&mut self, now: Instant) {
        self.now = now;
        if self.dirty.is_empty() {
            return;
        }
        self.egress_dirty();
        for n in &mut self.nics {
            n.port.flush(now);
        }
    }

    /// ARP frames this core saw since the last call (for the other cores).
    pub fn take_shared_arp(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.arp_out)
    }

    /// Gives smoltcp an ARP frame another core received on port `nic` (so this
    /// core's neighbour cache learns too). Replies smoltcp would send are
    /// dropped: the receiving core answered already.
    pub fn share_arp(&mut self, nic: usize, frame: &[u8]) {
        let Some(n) = self.nics.get_mut(nic) else {
            return;
        };
        let mut dev = OneFrame::new(frame, None::<NoTx>, n.caps.clone());
        let _ =
            n.iface
                .poll_ingress_single(to_smoltcp_instant(self.now), &mut dev, &mut self.empty);
        self.neighbour_news();
    }

    fn rx_burst(&mut self, nic: usize) -> usize {
        let mut handled = 0;
        while handled < RX_BURST {
            let now = self.now;
            // The frame is only valid inside `consume`: decide and process there.
            let mut after: Option<u32> = None;
            let mut arp = false;
            let Stack {
                nics,
                slots,
                free,
                by_tuple,
                listeners,
                listen_ports,
                time_wait,
                empty,
                counters,
                cfg,
                arp_out,
                ..
            } = self;
            let Nic {
                iface,
                port,
                caps,
                mac,
                addrs,
                neighbours,
                ..
            } = &mut nics[nic];
            let Some((rx, tx)) = port.receive(now) else {
                break;
            };
            handled += 1;
            rx.consume(|frame| {
                counters.rx_frames += 1;
                let smol_now = to_smoltcp_instant(now);
                let caps = caps.clone();
                let Some(h) = parse_tcp(frame) else {
                    if is_arp(frame) {
                        arp = true;
                        arp_out.push(frame.to_vec());
                    }
                    let mut dev = OneFrame::new(frame, Some(tx), caps);
                    let _ = iface.poll_ingress_single(smol_now, &mut dev, empty);
                    return;
                };
                learn_neighbour(
                    iface,
                    neighbours,
                    addrs,
                    *mac,
                    caps.clone(),
                    &h,
                    now,
                    counters,
                );
                let tuple = Tuple::new(h.dst, h.dport, h.src, h.sport);
                let slot = match by_tuple.get(&tuple) {
                    Some(&s) => {
                        counters.rx_matched += 1;
                        Some(s)
                    }
                    None if h.syn && !h.ack => {
                        time_wait.remove(&tuple);
                        let lid = listen_ports.get(&h.dport).and_then(|ids| {
                            ids.iter().copied().find(|&l| {
                                listeners[l as usize]
                                    .as_ref()
                                    .is_some_and(|x| x.ip.is_none_or(|a| a == h.dst))
                            })
                        });
                        match lid {
                            Some(l) => {
                                let lst = listeners[l as usize].as_mut().expect("listed listener");
                                if lst.embryonic + lst.ready.len() >= lst.backlog {
                                    counters.syn_backlog_drops += 1;
                                    return;
                                }
                                lst.embryonic += 1;
                                let mut s = tcp::Socket::new(
                                    tcp::SocketBuffer::new(vec![0u8; cfg.rx_buffer]),
                                    tcp::SocketBuffer::new(vec![0u8; cfg.tx_buffer]),
                                );
                                s.set_nagle_enabled(false);
                                let _ = s.listen(IpListenEndpoint {
                                    addr: Some(IpAddress::Ipv4(h.dst)),
                                    port: h.dport,
                                });
                                let mut set = SocketSet::new(Vec::with_capacity(1));
                                let handle = set.add(s);
                                let conn = Box::new(Conn {
                                    set,
                                    handle,
                                    nic,
                                    tuple,
                                    owner: Owner::Embryonic(l),
                                    armed: None,
                                    dirty: false,
                                    wr_shut: false,
                                });
                                // Slot allocation inline (self is split-borrowed here).
                                let slot = match free.pop() {
                                    Some(f) => f,
                                    None => {
                                        slots.push(Slot { gen: 0, conn: None });
                                        (slots.len() - 1) as u32
                                    }
                                };
                                slots[slot as usize].conn = Some(conn);
                                by_tuple.insert(tuple, slot);
                                Some(slot)
                            }
                            None => None,
                        }
                    }
                    None if time_wait.contains_key(&tuple) => {
                        counters.time_wait_drops += 1;
                        return;
                    }
                    None => None,
                };
                let mut dev = OneFrame::new(frame, Some(tx), caps);
                match slot {
                    Some(s) => {
                        let c = slots[s as usize].conn.as_mut().expect("slot in table");
                        let _ = iface.poll_ingress_single(smol_now, &mut dev, &mut c.set);
                        after = Some(s);
                    }
                    None => {
                        // Nobody's: smoltcp answers with RST.
                        let _ = iface.poll_ingress_single(smol_now, &mut dev, empty);
                    }
                }
            });
            if arp {
                self.neighbour_news();
            }
            if let Some(s) = after {
                self.mark_dirty(s);
            }
        }
        handled
    }

    /// A neighbour may have become known: connections waiting to send (a SYN,
    /// data smoltcp held back for lack of a MAC) try again now. Rare (ARP frames).
    fn neighbour_news(&mut self) {
        let waiting: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let c = s.conn.as_ref()?;
                let sk = c.socket_ref();
                let wants = sk.state() == State::SynSent || sk.send_queue() > 0;
                (wants && c.armed.is_some()).then_some(i as u32)
            })
            .collect();
        for s in waiting {
            self.mark_dirty(s);
        }
    }

    fn mark_dirty(&mut self, slot: u32) {
        if let Some(c) = self.slots[slot as usize].conn.as_mut() {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    fn expire(&mut self, now: Instant) -> usize {
        let now_ms = now.total_millis();
        let mut due = Vec::new();
        let slots = &self.slots;
        self.wheel.expire(
            now_ms,
            |slot, gen, at| {
                let s = &slots[slot as usize];
                s.gen == gen && s.conn.as_ref().is_some_and(|c| c.armed == Some(at))
            },
            |slot, _| due.push(slot),
        );
        let fired = due.len();
        self.counters.timers_fired += fired as u64;
        for slot in due {
            if let Some(c) = self.slots[slot as usize].conn.as_mut() {
                c.armed = None;
            }
            self.mark_dirty(slot);
        }
        let mut expired = 0;
        while let Some(&(t, at)) = self.time_wait_fifo.front() {
            if at > now_ms {
                break;
            }
            self.time_wait_fifo.pop_front();
            if self.time_wait.get(&t) == Some(&at) {
                self.time_wait.remove(&t);
                expired += 1;
            }
        }
        fired + expired
    }

    fn egress_dirty(&mut self) {
        let mut round = std::mem::take(&mut self.dirty);
        for &slot in &round {
            if let Some(c) = self.slots[slot as usize].conn.as_mut() {
                c.dirty = false;
            }
        }
        for &slot in &round {
            self.egress(slot);
        }
        round.clear();
        if self.dirty.is_empty() {
            self.dirty = round;
        }
    }

    fn egress(&mut self, slot: u32) {
        let smol_now = to_smoltcp_instant(self.now);
        let gen = self.slots[slot as usize].gen;
        let Some(c) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let n = &mut self.nics[c.nic];
        for _ in 0..EGRESS_SEGMENTS_PER_TURN {
            let mut dev = PortRef::new(&mut n.port);
            if n.iface.poll_egress(smol_now, &mut dev, &mut c.set) == PollResult::None {
                break;
            }
        }
        let next = n.iface.poll_at(smol_now, &c.set);
        let mut again = false;
        match next {
            Some(t) if t <= smol_now => again = true,
            Some(t) => {
                let ms = (t.total_micros() + 999).div_euclid(1000);
                if c.armed != Some(ms) {
                    c.armed = Some(ms);
                    self.wheel.arm(slot, gen, ms);
                }
            }
            None => c.armed = None,
        }
        // Something due within half a second (a delayed ACK, not the TIME-WAIT
        // timer itself): a TIME-WAIT orphan must still send it before it
        // becomes a record.
        let busy = next.is_some_and(|t| t < smol_now + SmolDuration::from_millis(500));
        self.settle(slot, busy);
        if again {
            // Still more to send (the burst limit): next turn.
            self.mark_dirty(slot);
        }
    }

    /// Moves a connection along after smoltcp ran: embryonic → queued when the
    /// handshake is done, orphans freed when closed or turned into TIME-WAIT.
    fn settle(&mut self, slot: u32, busy: bool) {
        let gen = self.slots[slot as usize].gen;
        let Some(c) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let state = c.socket_ref().state();
        match c.owner {
            Owner::Embryonic(l) => match state {
                State::Listen | State::SynReceived => {}
                State::Closed | State::TimeWait => {
                    if let Some(lst) = self.listeners.get_mut(l as usize).and_then(Option::as_mut) {
                        lst.embryonic -= 1;
                    }
                    self.free_slot(slot);
                }
                _ => {
                    c.owner = Owner::Queued(l);
                    if let Some(lst) = self.listeners.get_mut(l as usize).and_then(Option::as_mut) {
                        lst.embryonic -= 1;
                        lst.ready.push_back(ConnId { slot, gen });
                        if let Some(w) = lst.waker.take() {
                            w.wake();
                        }
                    }
                    self.counters.accepted += 1;
                }
            },
            Owner::Orphan => match state {
                State::Closed => self.free_slot(slot),
                State::TimeWait if !busy => {
                    let tuple = c.tuple;
                    let until = self.now.total_millis() + self.cfg.time_wait.as_millis() as i64;
                    self.free_slot(slot);
                    self.time_wait.insert(tuple, until);
                    self.time_wait_fifo.push_back((tuple, until));
                }
                _ => {}
            },
            Owner::Queued(_) | Owner::Stream => {}
        }
    }

    // ----- stream operations ----------------------------------------------

    fn conn(&mut self, id: ConnId) -> io::Result<&mut Conn> {
        let s = self
            .slots
            .get_mut(id.slot as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no such connection"))?;
        if s.gen != id.gen || s.conn.is_none() {
            if s.conn.is_none() && s.gen == id.gen.wrapping_add(1) {
                self.counters.stale_just_closed += 1;
            } else {
                self.counters.stale_recycled += 1;
            }
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed",
            ));
        }
        Ok(s.conn.as_mut().expect("checked"))
    }

    /// Reads into `buf`: `Ready(Ok(0))` at end of stream.
    pub fn recv(
        &mut self,
        id: ConnId,
        buf: &mut [u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let wr_shut = c.wr_shut;
        let s = c.socket();
        match s.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                s.register_recv_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                // The window opened: smoltcp may want to say so.
                self.mark_dirty(id.slot);
                Poll::Ready(Ok(n))
            }
            Err(RecvError::Finished) => Poll::Ready(Ok(0)),
            Err(RecvError::InvalidState) => match s.state() {
                State::Listen | State::SynSent | State::SynReceived => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed if !wr_shut => {
                    Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
                }
                _ => Poll::Ready(Ok(0)),
            },
        }
    }

    /// Writes from `buf`.
    pub fn send(
        &mut self,
        id: ConnId,
        buf: &[u8],
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if c.wr_shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let s = c.socket();
        if !s.may_send() {
            return match s.state() {
                State::SynSent | State::SynReceived | State::Listen => {
                    s.register_send_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                _ => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            };
        }
        match s.send_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                self.mark_dirty(id.slot);
                Poll::Ready(Ok(n))
            }
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    /// Ready once the handshake of an outgoing connection ended.
    pub fn poll_connect(&mut self, id: ConnId, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let c = match self.conn(id) {
            Ok(c) => c,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let s = c.socket();
        match s.state() {
            State::SynSent | State::SynReceived => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            State::Closed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused or timed out",
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Half-closes the write side (FIN after queued data).
    pub fn shutdown(&mut self, id: ConnId) -> io::Result<()> {
        let c = self.conn(id)?;
        c.wr_shut = true;
        c.socket().close();
        self.mark_dirty(id.slot);
        Ok(())
    }

    /// Resets the connection.
    pub fn abort(&mut self, id: ConnId) {
        if let Ok(c) = self.conn(id) {
            c.wr_shut = true;
            c.socket().abort();
            // Send the RST now: a release right after must find it gone.
            self.egress(id.slot);
        }
    }

    /// The stream is gone: the connection closes on its own (FIN), bounded in
    /// time, and is freed when done.
    pub fn release(&mut self, id: ConnId) {
        let timeout = SmolDuration::from_micros(self.cfg.orphan_timeout.as_micros() as u64);
        let Ok(c) = self.conn(id) else {
            return;
        };
        c.owner = Owner::Orphan;
        let wr_shut = c.wr_shut;
        let s = c.socket();
        match s.state() {
            State::Closed | State::Listen => {
                self.free_slot(id.slot);
                return;
            }
            _ => {
                if !wr_shut {
                    s.close();
                }
                s.set_timeout(Some(timeout));
                // Nobody reads any more: acknowledge at once, so a TIME-WAIT
                // socket has nothing left to send when it becomes a record.
                s.set_ack_delay(None);
            }
        }
        self.mark_dirty(id.slot);
    }

    /// Whether an idle connection saw input, a hang-up or an error.
    pub fn idle_input_pending(&mut self, id: ConnId) -> bool {
        match self.conn(id) {
            Ok(c) => {
                let s = c.socket_ref();
                s.can_recv() || !s.may_recv() || s.state() != State::Established
            }
            Err(_) => true,
        }
    }

    /// Nagle on or off.
    pub fn set_nodelay(&mut self, id: ConnId, on: bool) -> io::Result<()> {
        self.conn(id)?.socket().set_nagle_enabled(!on);
        Ok(())
    }

    /// The connection's 4-tuple.
    pub fn tuple(&mut self, id: ConnId) -> Option<Tuple> {
        self.conn(id).ok().map(|c| c.tuple)
    }

    /// The smoltcp state of a connection (tests, `show fd`).
    pub fn state(&mut self, id: ConnId) -> Option<State> {
        self.conn(id).ok().map(|c| c.socket_ref().state())
    }
}

/// Learns an on-link peer's MAC from a TCP frame and tells smoltcp when new or
/// due for refresh (a synthetic ARP reply aimed at us).
#[allow(clippy::too_many_arguments)]
fn learn_neighbour(
    iface: &mut Interface,
    neighbours: &mut FastMap<Ipv4Addr, ([u8; 6], i64)>,
    addrs: &[(Ipv4Addr, u8)],
    our_mac: [u8; 6],
    caps: DeviceCapabilities,
    h: &TcpHead,
    now: Instant,
    counters: &mut StackCounters,
) {
    let now_ms = now.total_millis();
    let on_link = addrs.iter().any(|&(a, p)| in_subnet(h.src, a, p));
    if !on_link {
        return;
    }
    match neighbours.get(&h.src) {
        Some(&(mac, at)) if mac == h.src_mac && now_ms - at < NEIGHBOUR_REFRESH_MS => return,
        _ => {}
    }
    neighbours.insert(h.src, (h.src_mac, now_ms));
    let frame = synthetic_arp_reply(h.src_mac, h.src, our_mac, h.dst);
    let mut dev = OneFrame::new(&frame, None::<NoTx>, caps);
    let empty_storage: &mut [smoltcp::iface::SocketStorage<'static>] = &mut [];
    let mut empty = SocketSet::new(empty_storage);
    let _ = iface.poll_ingress_single(to_smoltcp_instant(now), &mut dev, &mut empty);
    counters.neighbours_learned += 1;
}

/// An ARP reply from (`mac`, `ip`) to (`our_mac`, `our_ip`).
fn synthetic_arp_reply(mac: [u8; 6], ip: Ipv4Addr, our_mac: [u8; 6], our_ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&our_mac);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&our_mac);
    f[38..42].copy_from_slice(&our_ip.octets());
    f
}

#[cfg(test)]
mod tests;
