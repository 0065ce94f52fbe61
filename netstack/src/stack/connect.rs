//! Connections a [`Stack`] opens: routing to a port and local address, the
//! steered choice of local port, TIME-WAIT reuse when every port is busy, and
//! the connection slab.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::socket::tcp::{self};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use super::*;
use crate::port::Port;
use crate::steer;

impl<P: Port> Stack<P> {
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

    pub(super) fn pick_port(
        &mut self,
        local_ip: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> io::Result<u16> {
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

    pub(super) fn new_socket(&self) -> tcp::Socket<'static> {
        new_socket(&self.cfg)
    }

    pub(super) fn insert(
        &mut self,
        socket: tcp::Socket<'static>,
        nic: usize,
        tuple: Tuple,
        owner: Owner,
    ) -> ConnId {
        let slot = insert_conn(
            &mut self.slots,
            &mut self.free,
            &mut self.by_tuple,
            Conn::boxed(socket, nic, tuple, owner),
        );
        ConnId {
            slot,
            gen: self.slots[slot as usize].gen,
        }
    }

    pub(super) fn free_slot(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if let Some(c) = s.conn.take() {
            self.by_tuple.remove(&c.tuple);
        }
        s.gen = s.gen.wrapping_add(1);
        self.free.push(slot);
    }
}

/// A socket with the configured buffers, Nagle off.
pub(super) fn new_socket(cfg: &StackConfig) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0u8; cfg.rx_buffer]);
    let tx = tcp::SocketBuffer::new(vec![0u8; cfg.tx_buffer]);
    let mut s = tcp::Socket::new(rx, tx);
    s.set_nagle_enabled(false);
    s
}

/// Puts a connection in a free (or new) slot and the tuple table; its slot.
pub(super) fn insert_conn(
    slots: &mut Vec<Slot>,
    free: &mut Vec<u32>,
    by_tuple: &mut TupleMap<u32>,
    conn: Box<Conn>,
) -> u32 {
    let slot = match free.pop() {
        Some(s) => s,
        None => {
            slots.push(Slot { gen: 0, conn: None });
            (slots.len() - 1) as u32
        }
    };
    by_tuple.insert(conn.tuple, slot);
    slots[slot as usize].conn = Some(conn);
    slot
}
