//! The stack's per-turn engine: receive bursts demultiplexed by 4-tuple,
//! deadlines, egress of dirty connections, and the life cycle after smoltcp ran
//! (embryonic → queued, orphans → freed or TIME-WAIT). Also the neighbour
//! learning that feeds smoltcp synthetic ARP replies.

use std::net::Ipv4Addr;

use smoltcp::iface::{Interface, PollResult, SocketSet};
use smoltcp::phy::DeviceCapabilities;
use smoltcp::socket::tcp::State;
use smoltcp::time::Duration as SmolDuration;
use smoltcp::wire::{IpAddress, IpListenEndpoint};

use super::device::{NoTx, OneFrame, PortRef};
use super::*;
use crate::port::{Instant, Port, RxToken, TxToken};
use crate::smoltcp_phy::to_smoltcp_instant;

impl<P: Port> Stack<P> {
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

    pub(super) fn rx_burst(&mut self, nic: usize) -> usize {
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
                                let mut s = super::connect::new_socket(cfg);
                                let _ = s.listen(IpListenEndpoint {
                                    addr: Some(IpAddress::Ipv4(h.dst)),
                                    port: h.dport,
                                });
                                let conn = Conn::boxed(s, nic, tuple, Owner::Embryonic(l));
                                let slot = super::connect::insert_conn(slots, free, by_tuple, conn);
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
    pub(super) fn neighbour_news(&mut self) {
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

    pub(super) fn mark_dirty(&mut self, slot: u32) {
        if let Some(c) = self.slots[slot as usize].conn.as_mut() {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    pub(super) fn expire(&mut self, now: Instant) -> usize {
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

    pub(super) fn egress_dirty(&mut self) {
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

    pub(super) fn egress(&mut self, slot: u32) {
        let smol_now = to_smoltcp_instant(self.now);
        let gen = self.slots[slot as usize].gen;
        let Some(c) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let n = &mut self.nics[c.nic];
        if c.socket_ref().state() == State::SynSent
            && ask_next_hop(n, *c.tuple.remote.ip(), self.now)
        {
            self.counters.arp_requests += 1;
        }
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
    pub(super) fn settle(&mut self, slot: u32, busy: bool) {
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

/// Least time between two ARP requests of the stack for one next hop.
const ARP_ASK_INTERVAL_MS: i64 = 200;

/// smoltcp sends at most one ARP request per second *per interface* (one
/// `silent_until` for the whole neighbour cache), so the second of two servers
/// connected to at once waits a second for its MAC — longer than a health
/// check's timeout. A connection whose next hop is unknown asks for it here,
/// itself (at most every [`ARP_ASK_INTERVAL_MS`] per address); smoltcp learns the
/// reply like any ARP frame addressed to it. Returns whether a request was sent.
fn ask_next_hop<P: Port>(n: &mut Nic<P>, remote: Ipv4Addr, now: Instant) -> bool {
    let hop = if n.addrs.iter().any(|&(a, p)| in_subnet(remote, a, p)) {
        remote
    } else {
        match n
            .routes
            .iter()
            .filter(|r| in_subnet(remote, r.dest, r.prefix))
            .max_by_key(|r| r.prefix)
        {
            Some(r) => r.via,
            None => return false,
        }
    };
    if n.neighbours.contains_key(&hop) {
        return false;
    }
    let Some(&(src, _)) = n.addrs.iter().find(|&&(a, p)| in_subnet(hop, a, p)) else {
        return false;
    };
    let now_ms = now.total_millis();
    if n.arp_asked
        .get(&hop)
        .is_some_and(|&at| now_ms - at < ARP_ASK_INTERVAL_MS)
    {
        return false;
    }
    let Some(tx) = n.port.transmit(now) else {
        return false;
    };
    n.arp_asked.insert(hop, now_ms);
    let frame = arp_request(n.mac, src, hop);
    tx.consume(frame.len(), |buf| buf.copy_from_slice(&frame));
    true
}

/// A broadcast ARP request from (`mac`, `ip`) for `target`.
fn arp_request(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[38..42].copy_from_slice(&target.octets());
    f
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
