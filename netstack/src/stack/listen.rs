//! Listening endpoints of a [`Stack`]: backlog-bounded listeners, accept, and
//! stopping (connections not yet accepted are reset).

use std::io;
use std::net::Ipv4Addr;
use std::task::Waker;

use super::*;
use crate::port::Port;

impl<P: Port> Stack<P> {
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
}
