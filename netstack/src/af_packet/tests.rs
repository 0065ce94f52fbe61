//! The AF_PACKET driver's receive and transmit logic over anonymous mappings laid
//! out like the kernel's rings (no socket, no root).
use super::ring::tests::{block_status, fill_block, BS};
use super::ring::{TP_STATUS_KERNEL, TP_STATUS_SEND_REQUEST};
use super::*;
use crate::offload::{VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4};

fn rx_side(blocks: usize, vnet: bool) -> RxSide {
    RxSide::new(
        MmapMut::map_anon(BS * blocks).unwrap(),
        RxCursor::V3(RxRing::new(BS, blocks)),
        vnet,
        1514,
    )
}

fn take(rx: &mut RxSide) -> Option<Vec<u8>> {
    let src = rx.next()?;
    Some(AfPacketRx { rx, src }.consume(|f| f.to_vec()))
}

/// An Ethernet/IPv4/TCP frame with a correct checksum and `n` payload bytes.
fn tcp(n: usize, seq: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let mut f = vec![0u8; 54];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((40 + n) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 231, 0, 1]);
    f[30..34].copy_from_slice(&[10, 231, 0, 2]);
    let hc = offload::ipv4_header_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&hc.to_be_bytes());
    f[34..36].copy_from_slice(&40000u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[46] = 0x50;
    f[47] = 0x18;
    f.extend_from_slice(&payload);
    assert!(offload::fill_l4_checksum(&mut f));
    f
}

/// `vnet` header bytes followed by `frame` (what the ring holds at tp_mac - 10).
fn with_vnet(h: VnetHdr, frame: &[u8]) -> Vec<u8> {
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(frame);
    v
}

#[test]
fn skips_own_drops_truncated_and_oversize_and_counts() {
    let mut rx = rx_side(2, false);
    let good = tcp(10, 1);
    let big = vec![0u8; 1600];
    fill_block(
        &mut rx.map,
        0,
        &[
            (&good, good.len(), 0, PACKET_OUTGOING),
            (&good[..40], good.len(), 0, 0), // truncated
            (&big, big.len(), 0, 0),         // oversize
            (&good, good.len(), 0, 0),
        ],
        64,
    );
    assert_eq!(take(&mut rx), Some(good.clone()));
    assert_eq!(take(&mut rx), None);
    assert_eq!(rx.c.own_frames, 1);
    assert_eq!(rx.c.truncated, 1);
    assert_eq!(rx.c.oversize, 1);
    assert_eq!((rx.frames, rx.dropped), (1, 2));
    assert_eq!(rx.bytes, good.len() as u64);
    assert_eq!(block_status(&rx.map, 0), TP_STATUS_KERNEL);
}

#[test]
fn dropped_token_keeps_its_frame_and_block() {
    let mut rx = rx_side(2, false);
    let (a, b) = (tcp(1, 1), tcp(2, 2));
    fill_block(
        &mut rx.map,
        0,
        &[(&a, a.len(), 0, 0), (&b, b.len(), 0, 0)],
        64,
    );
    assert_eq!(take(&mut rx), Some(a));
    let src = rx.next().unwrap();
    {
        let _unconsumed = AfPacketRx { rx: &mut rx, src };
    }
    assert_eq!(
        block_status(&rx.map, 0),
        ring::TP_STATUS_USER,
        "block still ours"
    );
    assert_eq!(take(&mut rx), Some(b), "same frame offered again");
    assert_eq!(block_status(&rx.map, 0), TP_STATUS_KERNEL);
    assert_eq!(rx.frames, 2);
}

#[test]
fn partial_checksums_are_repaired_once_on_consume() {
    let good = tcp(100, 7);
    let mut partial = good.clone();
    partial[50] ^= 0xff;
    partial[51] ^= 0x0f;
    // Without a vnet header: TP_STATUS_CSUMNOTREADY.
    let mut rx = rx_side(1, false);
    fill_block(
        &mut rx.map,
        0,
        &[(&partial, partial.len(), TP_STATUS_CSUMNOTREADY, 0)],
        64,
    );
    assert_eq!(take(&mut rx), Some(good.clone()));
    assert_eq!(rx.c.csum_repaired, 1);
    // With one: NEEDS_CSUM, mac offset 10 bytes further.
    let mut rx = rx_side(1, true);
    let h = VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let bytes = with_vnet(h, &partial);
    fill_block(&mut rx.map, 0, &[(&bytes, bytes.len(), 0, 0)], 64);
    // `fill_block` put the vnet header at tp_mac: move tp_mac past it.
    let hdr = ring::BLOCK_DESC_LEN;
    rx.map[hdr + 24..hdr + 26].copy_from_slice(&74u16.to_ne_bytes());
    rx.map[hdr + 12..hdr + 16].copy_from_slice(&(partial.len() as u32).to_ne_bytes());
    rx.map[hdr + 16..hdr + 20].copy_from_slice(&(partial.len() as u32).to_ne_bytes());
    assert_eq!(take(&mut rx), Some(good));
    assert_eq!(rx.c.csum_repaired, 1);
}

#[test]
fn gso_frames_become_segments_served_before_the_ring() {
    let mut rx = rx_side(2, true);
    let big = tcp(3000, 1000);
    let after = tcp(5, 9);
    let h = VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: VNET_GSO_TCPV4,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    let plain = VnetHdr::default();
    let b1 = with_vnet(h, &big);
    let b2 = with_vnet(plain, &after);
    fill_block(
        &mut rx.map,
        0,
        &[(&b1, b1.len(), 0, 0), (&b2, b2.len(), 0, 0)],
        64,
    );
    // Shift tp_mac past the vnet headers and fix the lengths.
    let first = ring::BLOCK_DESC_LEN;
    let next = u32::from_ne_bytes(rx.map[first..first + 4].try_into().unwrap()) as usize;
    for (hdr, len) in [(first, big.len()), (first + next, after.len())] {
        rx.map[hdr + 24..hdr + 26].copy_from_slice(&74u16.to_ne_bytes());
        rx.map[hdr + 12..hdr + 16].copy_from_slice(&(len as u32).to_ne_bytes());
        rx.map[hdr + 16..hdr + 20].copy_from_slice(&(len as u32).to_ne_bytes());
    }
    let s1 = take(&mut rx).unwrap();
    assert_eq!(s1.len(), 54 + 1448);
    // A dropped token on a segment keeps it.
    let src = rx.next().unwrap();
    {
        let _unconsumed = AfPacketRx { rx: &mut rx, src };
    }
    let s2 = take(&mut rx).unwrap();
    let s3 = take(&mut rx).unwrap();
    assert_eq!((s2.len(), s3.len()), (54 + 1448, 54 + 104));
    let mut payload = Vec::new();
    for s in [&s1, &s2, &s3] {
        payload.extend_from_slice(&s[54..]);
    }
    assert_eq!(payload, big[54..].to_vec());
    assert_eq!(take(&mut rx), Some(after));
    assert_eq!(take(&mut rx), None);
    assert_eq!((rx.c.gso_frames, rx.c.gso_segments), (1, 3));
    assert_eq!(rx.frames, 4);
    assert_eq!(block_status(&rx.map, 0), TP_STATUS_KERNEL);
    // A GSO kind we do not cut (UDP) is dropped and counted.
    let u = VnetHdr {
        gso_type: 3,
        gso_size: 1000,
        ..h
    };
    let b3 = with_vnet(u, &big);
    fill_block(&mut rx.map, 1, &[(&b3, b3.len(), 0, 0)], 64);
    rx.map[BS + first + 24..BS + first + 26].copy_from_slice(&74u16.to_ne_bytes());
    assert_eq!(take(&mut rx), None);
    assert_eq!((rx.c.gso_unsupported, rx.dropped), (1, 1));
}

#[test]
fn tx_side_fills_slots_drops_oversize_and_when_full() {
    let mut tx = TxSide {
        map: MmapMut::map_anon(4096).unwrap(),
        ring: TxRing::new(4096, 1, 2048),
        mtu: 1514,
        queued: 0,
        scratch: Vec::new(),
        frames: 0,
        bytes: 0,
        dropped: 0,
        c: AfPacketCounters::default(),
    };
    AfPacketTx { tx: &mut tx }.consume(60, |b| b.fill(1));
    AfPacketTx { tx: &mut tx }.consume(1515, |b| b.fill(2));
    AfPacketTx { tx: &mut tx }.consume(1514, |b| b.fill(3));
    AfPacketTx { tx: &mut tx }.consume(60, |b| b.fill(4)); // ring of 2: full
    assert_eq!((tx.frames, tx.dropped, tx.queued), (2, 2, 2));
    assert_eq!(tx.bytes, 60 + 1514);
    assert_eq!(tx.c.tx_ring_full, 1);
    assert_eq!(ring::load_u32(&tx.map, 20), Some(TP_STATUS_SEND_REQUEST));
    assert_eq!(tx.map[48], 1);
    assert_eq!(tx.map[2048 + 48], 3);
    assert_eq!(ring::load_u32(&tx.map, 2048 + 16), Some(1514));
}
