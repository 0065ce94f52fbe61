//! Per-core flow steering: which receive queue (core) owns a TCP connection.
//!
//! Owns the one function every steering mechanism must agree on: the AF_PACKET
//! fanout program (classic BPF), the software dispatcher of single-queue ports
//! (TAP, memory wire) and the source-port choice for connections sluice opens.
//!
//! Invariant: the function is **symmetric** in the two ports and ignores the
//! addresses, so a frame and its reply land on the same queue, and a core opening
//! a connection can pick a local port whose replies come back to itself
//! (Seastar's and F-Stack's trick) knowing only the server's port.
//! Frames that are not IPv4/TCP (ARP, ICMP, fragments) go to queue 0.

/// The queue, out of `queues` (at least 1), that owns the TCP connection between
/// ports `a` and `b` (in either order).
pub fn queue_of(a: u16, b: u16, queues: u16) -> u16 {
    let n = queues.max(1);
    (a ^ b) % n
}

/// The queue that owns the frame: the connection's queue for IPv4/TCP frames
/// (Ethernet II, no VLAN tag, first fragment or unfragmented), queue 0 for
/// everything else. Reads only headers; any frame, however short, is accepted.
pub fn queue_of_frame(frame: &[u8], queues: u16) -> u16 {
    match tcp_ports(frame) {
        Some((s, d)) => queue_of(s, d, queues),
        None => 0,
    }
}

/// The (source, destination) TCP ports of an Ethernet II / IPv4 / TCP frame, or
/// `None` if the frame is anything else or too short to tell.
pub fn tcp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    if ip[0] >> 4 != 4 || ip[9] != 6 {
        return None;
    }
    // A later fragment carries no TCP header.
    let frag_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
    if frag_offset != 0 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let tcp = ip.get(ihl..ihl + 4)?;
    Some((
        u16::from_be_bytes([tcp[0], tcp[1]]),
        u16::from_be_bytes([tcp[2], tcp[3]]),
    ))
}

/// A local port in `range` (inclusive), starting the search at `start`, whose
/// connection to `remote_port` lands on `queue` out of `queues`, and for which
/// `free` says yes. Visits each candidate at most once; `None` when none fits.
pub fn pick_local_port(
    remote_port: u16,
    queue: u16,
    queues: u16,
    range: (u16, u16),
    start: u16,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = range;
    if lo > hi {
        return None;
    }
    let span = u32::from(hi - lo) + 1;
    let first = u32::from(start.clamp(lo, hi) - lo);
    for i in 0..span {
        let p = lo + ((first + i) % span) as u16;
        if queue_of(p, remote_port, queues) == queue % queues.max(1) && free(p) {
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(sport: u16, dport: u16, proto: u8, frag: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = proto;
        f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn symmetric_and_in_range() {
        for q in 1..=8u16 {
            for a in [0u16, 80, 443, 1024, 40000, 65535] {
                for b in [0u16, 80, 8080, 33333, 65535] {
                    assert_eq!(queue_of(a, b, q), queue_of(b, a, q));
                    assert!(queue_of(a, b, q) < q);
                }
            }
        }
        assert_eq!(queue_of(5, 7, 0), 0);
    }

    #[test]
    fn frames_follow_their_ports() {
        let f = frame(40001, 80, 6, 0);
        assert_eq!(tcp_ports(&f), Some((40001, 80)));
        assert_eq!(queue_of_frame(&f, 4), queue_of(40001, 80, 4));
        assert_eq!(queue_of_frame(&frame(40001, 80, 17, 0), 4), 0, "UDP");
        assert_eq!(queue_of_frame(&frame(40001, 80, 6, 10), 4), 0, "fragment");
        assert_eq!(queue_of_frame(&f[..30], 4), 0, "short");
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(queue_of_frame(&arp, 4), 0);
    }

    #[test]
    fn local_ports_come_back_to_the_asking_queue() {
        for queue in 0..4u16 {
            let p = pick_local_port(8080, queue, 4, (30000, 30100), 30050, |_| true).unwrap();
            assert_eq!(queue_of(p, 8080, 4), queue);
            assert!((30000..=30100).contains(&p));
        }
        // Skips ports in use, wraps around the range, and gives up when all are taken.
        let p = pick_local_port(80, 0, 1, (10, 12), 12, |p| p != 12).unwrap();
        assert_eq!(p, 10);
        assert_eq!(pick_local_port(80, 0, 1, (10, 12), 10, |_| false), None);
    }
}
