//! Offload repair: turning what a kernel peer hands a raw socket back into
//! frames a software stack accepts. Pure functions over byte slices.
//!
//! # Why
//!
//! A veth peer (and any Linux device with TX offloads) sends TCP frames whose
//! checksum is only *partial* (`CHECKSUM_PARTIAL`: the field holds the
//! pseudo-header sum, the NIC was to finish it) and *GSO super-frames*: one TCP
//! segment of up to 64 KiB that the NIC was to cut into MSS-sized segments. An
//! AF_PACKET socket sees both as they are. smoltcp drops the first (bad
//! checksum) and cannot take the second (longer than the MTU).
//!
//! # What the AF_PACKET driver does with this module
//!
//! The receive socket asks for `PACKET_VNET_HDR` (it works with TPACKET_V3 rx
//! rings on this kernel, 6.18: the `virtio_net_hdr` sits just before the frame
//! in the ring). For each frame:
//!
//! - `gso_type` TCPV4 with a `gso_size`: [`segment_tcp4`] cuts it into
//!   `gso_size`-byte segments with correct IPv4 total length, id (incremented
//!   per segment) and header checksum, TCP sequence numbers, flags (FIN and PSH
//!   only on the last segment, CWR only on the first) and TCP checksum;
//! - `NEEDS_CSUM` (or `TP_STATUS_CSUMNOTREADY` in the ring, the same fact without
//!   a vnet header): [`fill_l4_checksum`] recomputes the IPv4 TCP/UDP checksum
//!   from scratch (idempotent: a frame repaired twice stays right), or for
//!   other protocols [`complete_partial`] finishes the partial sum at
//!   `csum_start`/`csum_offset`.
//!
//! Without a vnet header (`AfPacketConfig::vnet_hdr = false`) GSO frames
//! cannot be recognised reliably and are dropped as oversize: turn GSO off on
//! the peer then (`ethtool -K <peer> tso off gso off`).
//!
//! Invariant: nothing here panics on any input; a frame that does not parse is
//! reported (`None`/`false`/`Err`) and left alone.

use std::fmt;

/// `virtio_net_hdr` flag: the checksum at `csum_start + csum_offset` is partial.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `virtio_net_hdr` flag: the checksum was verified.
pub const VNET_F_DATA_VALID: u8 = 2;
/// `gso_type`: not a GSO frame.
pub const VNET_GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const VNET_GSO_TCPV4: u8 = 1;
/// `gso_type` bit: the frame carries ECN (CWR set on the first segment only).
pub const VNET_GSO_ECN: u8 = 0x80;

/// The legacy `virtio_net_hdr` (10 bytes, little-endian on this host) the kernel
/// writes before each frame of a `PACKET_VNET_HDR` socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VNET_F_*` bits.
    pub flags: u8,
    /// `VNET_GSO_*`.
    pub gso_type: u8,
    /// Length of the headers (Ethernet + IP + TCP), a hint.
    pub hdr_len: u16,
    /// Payload bytes per segment of a GSO frame.
    pub gso_size: u16,
    /// Where the checksummed region starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Bytes of the header.
    pub const LEN: usize = 10;

    /// Reads a header from the first [`VnetHdr::LEN`] bytes of `b`.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b = b.get(..Self::LEN)?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header's 10 bytes.
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// Whether the checksum must be completed.
    pub fn needs_csum(&self) -> bool {
        self.flags & VNET_F_NEEDS_CSUM != 0
    }

    /// The GSO kind without the ECN bit.
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !VNET_GSO_ECN
    }
}

/// Why a GSO frame could not be segmented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadError {
    /// Not Ethernet II / IPv4 / TCP, or headers cut short.
    NotTcp4,
    /// `gso_size` zero.
    ZeroMss,
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::NotTcp4 => write!(f, "GSO frame is not a well-formed IPv4/TCP frame"),
            OffloadError::ZeroMss => write!(f, "GSO frame with gso_size 0"),
        }
    }
}

impl std::error::Error for OffloadError {}

/// Ones'-complement sum of `data` (big-endian 16-bit words) added to `sum`,
/// not folded.
pub fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Folds a 32-bit sum to 16 bits (not complemented).
pub fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The header checksum of an IPv4 header (its checksum field counted as zero).
pub fn ipv4_header_checksum(ip: &[u8]) -> u16 {
    let mut sum = sum16(0, &ip[..10.min(ip.len())]);
    if ip.len() > 12 {
        sum = sum16(sum, &ip[12..]);
    }
    !fold(sum)
}

/// Ethernet II / IPv4 offsets of a frame: (ip offset, ip header length, ip
/// total length, protocol).
fn ipv4(frame: &[u8]) -> Option<(usize, usize, usize, u8)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    if ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total < ihl || 14 + total > frame.len() {
        return None;
    }
    Some((14, ihl, total, ip[9]))
}

/// The L4 checksum over `l4` (checksum field included as it is) with the IPv4
/// pseudo-header of `ip`.
fn l4_sum(ip: &[u8], proto: u8, l4: &[u8]) -> u16 {
    let mut sum = sum16(0, &ip[12..20]);
    sum = sum.wrapping_add(u32::from(proto));
    sum = sum.wrapping_add(l4.len() as u32);
    !fold(sum16(sum, l4))
}

/// Recomputes from scratch the TCP or UDP checksum of an Ethernet II / IPv4
/// frame that is not a later fragment. Returns `false` (frame untouched) for
/// anything else. Idempotent.
pub fn fill_l4_checksum(frame: &mut [u8]) -> bool {
    let Some((off, ihl, total, proto)) = ipv4(frame) else {
        return false;
    };
    let frag = u16::from_be_bytes([frame[off + 6], frame[off + 7]]);
    if frag & 0x3fff != 0 {
        return false; // a fragment: the checksum covers the whole datagram
    }
    let field = match proto {
        6 => 16,
        17 => 6,
        _ => return false,
    };
    let l4_len = total - ihl;
    if l4_len < field + 2 {
        return false;
    }
    let (head, l4) = frame[off..off + total].split_at_mut(ihl);
    l4[field..field + 2].copy_from_slice(&[0, 0]);
    let mut c = l4_sum(head, proto, l4);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Completes a partial checksum the generic way (`virtio_net_hdr`
/// semantics): the ones'-complement sum of everything from `start` to the end
/// of `frame`, complemented, is stored at `start + offset`. Not idempotent: do
/// it once. Returns `false` when the offsets fall outside the frame.
pub fn complete_partial(frame: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start.saturating_add(offset);
    if start >= frame.len() || at.saturating_add(2) > frame.len() {
        return false;
    }
    let c = !fold(sum16(0, &frame[start..]));
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Cuts a TCP/IPv4 GSO super-frame into segments of at most `mss` payload
/// bytes, each a complete, checksummed Ethernet frame handed to `emit` (built
/// in `scratch`, which is reused). Returns the number of segments.
///
/// Per segment: IPv4 total length, id (first id + index, wrapping) and header
/// checksum; TCP sequence number (+ payload offset), flags (FIN and PSH only on
/// the last, CWR only on the first), checksum. Bytes past the IPv4 total length
/// (Ethernet padding) are ignored.
pub fn segment_tcp4(
    frame: &[u8],
    mss: usize,
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    if mss == 0 {
        return Err(OffloadError::ZeroMss);
    }
    let (off, ihl, total, proto) = ipv4(frame).ok_or(OffloadError::NotTcp4)?;
    if proto != 6 || total < ihl + 20 {
        return Err(OffloadError::NotTcp4);
    }
    let tcp_off = off + ihl;
    let doff = usize::from(frame[tcp_off + 12] >> 4) * 4;
    if doff < 20 || ihl + doff > total {
        return Err(OffloadError::NotTcp4);
    }
    let hdrs = tcp_off + doff;
    let payload = &frame[hdrs..off + total];
    let id0 = u16::from_be_bytes([frame[off + 4], frame[off + 5]]);
    let seq0 = u32::from_be_bytes([
        frame[tcp_off + 4],
        frame[tcp_off + 5],
        frame[tcp_off + 6],
        frame[tcp_off + 7],
    ]);
    let flags0 = frame[tcp_off + 13];
    const FIN: u8 = 0x01;
    const PSH: u8 = 0x08;
    const CWR: u8 = 0x80;
    let count = payload.len().div_ceil(mss).max(1);
    for i in 0..count {
        let start = i * mss;
        let chunk = &payload[start.min(payload.len())..(start + mss).min(payload.len())];
        scratch.clear();
        scratch.extend_from_slice(&frame[..hdrs]);
        scratch.extend_from_slice(chunk);
        let ip_total = (ihl + doff + chunk.len()) as u16;
        let s = &mut scratch[..];
        s[off + 2..off + 4].copy_from_slice(&ip_total.to_be_bytes());
        s[off + 4..off + 6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
        s[off + 10..off + 12].copy_from_slice(&[0, 0]);
        let hc = ipv4_header_checksum(&s[off..off + ihl]);
        s[off + 10..off + 12].copy_from_slice(&hc.to_be_bytes());
        let seq = seq0.wrapping_add(start as u32);
        s[tcp_off + 4..tcp_off + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 != count {
            flags &= !(FIN | PSH);
        }
        if i != 0 {
            flags &= !CWR;
        }
        s[tcp_off + 13] = flags;
        s[tcp_off + 16..tcp_off + 18].copy_from_slice(&[0, 0]);
        let (head, l4) = s[off..].split_at_mut(ihl);
        let c = l4_sum(head, 6, l4);
        l4[16..18].copy_from_slice(&c.to_be_bytes());
        emit(s);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP frame with `payload`, correct checksums.
    pub(crate) fn tcp_frame(payload: &[u8], seq: u32, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (40 + payload.len()) as u16;
        {
            let ip = &mut f[14..34];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = 6;
            ip[12..16].copy_from_slice(&[10, 231, 0, 1]);
            ip[16..20].copy_from_slice(&[10, 231, 0, 2]);
        }
        let hc = ipv4_header_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&hc.to_be_bytes());
        let t = &mut f[34..54];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&7u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&65535u16.to_be_bytes());
        f.extend_from_slice(payload);
        assert!(fill_l4_checksum(&mut f));
        f
    }

    /// Whether the frame's IPv4 and TCP checksums verify.
    fn verifies(f: &[u8]) -> bool {
        let (off, ihl, total, _) = ipv4(f).unwrap();
        let ip_ok = fold(sum16(0, &f[off..off + ihl])) == 0xffff;
        let ip = &f[off..off + ihl];
        let l4 = &f[off + ihl..off + total];
        let mut sum = sum16(0, &ip[12..20]);
        sum = sum.wrapping_add(6).wrapping_add(l4.len() as u32);
        ip_ok && fold(sum16(sum, l4)) == 0xffff
    }

    #[test]
    fn vnet_header_round_trip() {
        let h = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: VNET_GSO_TCPV4 | VNET_GSO_ECN,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.to_bytes()), Some(h));
        assert!(h.needs_csum());
        assert_eq!(h.gso_kind(), VNET_GSO_TCPV4);
        assert_eq!(VnetHdr::parse(&[0; 9]), None);
    }

    #[test]
    fn partial_checksum_is_completed_both_ways() {
        let good = tcp_frame(b"hello, partial world", 1000, 0x18);
        assert!(verifies(&good));
        // What a CHECKSUM_PARTIAL frame carries: the folded pseudo-header sum.
        let mut partial = good.clone();
        let pseudo = {
            let ip = &partial[14..34];
            let s = sum16(0, &ip[12..20]) + 6 + (partial.len() - 34) as u32;
            fold(s)
        };
        partial[50..52].copy_from_slice(&pseudo.to_be_bytes());
        assert!(!verifies(&partial));

        let mut a = partial.clone();
        assert!(complete_partial(&mut a, 34, 16));
        assert_eq!(a, good);

        let mut b = partial.clone();
        assert!(fill_l4_checksum(&mut b));
        assert_eq!(b, good);
        assert!(fill_l4_checksum(&mut b), "idempotent");
        assert_eq!(b, good);

        // Offsets outside the frame and non-IPv4 frames are left alone.
        let mut c = partial.clone();
        assert!(!complete_partial(&mut c, 34, 10_000));
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let before = arp.clone();
        assert!(!fill_l4_checksum(&mut arp));
        assert_eq!(arp, before);
    }

    #[test]
    fn udp_checksum_zero_becomes_ffff_and_fragments_are_skipped() {
        let mut f = tcp_frame(b"x", 1, 0);
        f[23] = 17; // UDP
        assert!(fill_l4_checksum(&mut f));
        let mut frag = f.clone();
        frag[20] = 0x20; // more fragments
        let before = frag.clone();
        assert!(!fill_l4_checksum(&mut frag));
        assert_eq!(frag, before);
    }

    #[test]
    fn gso_frame_is_cut_into_mss_segments() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        // CWR + PSH + ACK + FIN on the super-frame; checksum left partial (garbage).
        let mut big = tcp_frame(&payload, 0xffff_f000, 0x80 | 0x18 | 0x01);
        big[50] ^= 0x55;
        let mut segs: Vec<Vec<u8>> = Vec::new();
        let mut scratch = Vec::new();
        let n = segment_tcp4(&big, 1448, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        assert_eq!(n, 7);
        assert_eq!(segs.len(), 7);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            assert!(verifies(s), "segment {i} checksums");
            let len = if i < 6 { 1448 } else { 10_000 - 6 * 1448 };
            assert_eq!(s.len(), 54 + len);
            assert_eq!(
                u16::from_be_bytes([s[16], s[17]]) as usize,
                40 + len,
                "total length"
            );
            assert_eq!(
                u16::from_be_bytes([s[18], s[19]]),
                0xfffeu16.wrapping_add(i as u16),
                "ip id"
            );
            let seq = u32::from_be_bytes([s[38], s[39], s[40], s[41]]);
            assert_eq!(seq, 0xffff_f000u32.wrapping_add((i * 1448) as u32));
            let flags = s[47];
            assert_eq!(flags & 0x80 != 0, i == 0, "CWR only on the first");
            assert_eq!(flags & 0x01 != 0, i == 6, "FIN only on the last");
            assert_eq!(flags & 0x08 != 0, i == 6, "PSH only on the last");
            assert!(flags & 0x10 != 0, "ACK on all");
            joined.extend_from_slice(&s[54..]);
        }
        assert_eq!(joined, payload);
    }

    #[test]
    fn gso_edge_cases() {
        let mut scratch = Vec::new();
        let f = tcp_frame(&[1, 2, 3], 5, 0x10);
        assert_eq!(
            segment_tcp4(&f, 0, &mut scratch, |_| {}),
            Err(OffloadError::ZeroMss)
        );
        // A frame smaller than the MSS stays one (re-checksummed) segment.
        let mut out = Vec::new();
        assert_eq!(
            segment_tcp4(&f, 1448, &mut scratch, |s| out.push(s.to_vec())),
            Ok(1)
        );
        assert_eq!(out, vec![f.clone()]);
        // Exactly two MSS: two full segments, no empty third.
        let f2 = tcp_frame(&[9u8; 200], 5, 0x10);
        let mut lens = Vec::new();
        segment_tcp4(&f2, 100, &mut scratch, |s| lens.push(s.len())).unwrap();
        assert_eq!(lens, vec![154, 154]);
        // Ethernet padding past the IP length is not payload.
        let mut padded = tcp_frame(&[], 5, 0x10);
        padded.extend_from_slice(&[0u8; 6]);
        let mut lens = Vec::new();
        segment_tcp4(&padded, 100, &mut scratch, |s| lens.push(s.len())).unwrap();
        assert_eq!(lens, vec![54]);
        // Not TCP, truncated headers.
        let mut udp = f.clone();
        udp[23] = 17;
        assert_eq!(
            segment_tcp4(&udp, 100, &mut scratch, |_| {}),
            Err(OffloadError::NotTcp4)
        );
        assert_eq!(
            segment_tcp4(&f[..40], 100, &mut scratch, |_| {}),
            Err(OffloadError::NotTcp4)
        );
        let mut bad_doff = f.clone();
        bad_doff[46] = 15 << 4;
        assert_eq!(
            segment_tcp4(&bad_doff, 100, &mut scratch, |_| {}),
            Err(OffloadError::NotTcp4)
        );
    }
}
