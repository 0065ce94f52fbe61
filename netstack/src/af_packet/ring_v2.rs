//! TPACKET_V2 receive ring walking, in safe code over `&mut [u8]`, and the
//! cursor type that hides which ring version a port uses.
//!
//! Why a second version: a TPACKET_V3 block reaches user space only when it is
//! full or its retire timer (at least 1 ms) fires. Below line rate every frame
//! waits for that timer — measured in the lab, one HTTP request per connection
//! at a time took ~1.8 ms through sluice (two frames in, each waiting a block
//! timeout) against ~0.19 ms with kernel sockets. A TPACKET_V2 ring hands over
//! each frame as soon as the kernel copied it: fixed slots, one status word per
//! slot. The price is memory: a slot must hold the largest frame, and with
//! `PACKET_VNET_HDR` a GSO super-frame reaches 64 KiB.
//!
//! # Layout
//!
//! `frame_count` slots of `frame_size` bytes, `block_size / frame_size` slots
//! per block (no slot straddles a block). A slot starts with a `tpacket2_hdr`
//! (`tp_status` at 0, `tp_len` at 4, `tp_snaplen` at 8, `tp_mac` at 12),
//! followed at 32 by a `sockaddr_ll` (`sll_pkttype` at 32 + 10). The kernel
//! sets `TP_STATUS_USER` in `tp_status` to hand a slot over; user space gives it
//! back with `TP_STATUS_KERNEL`.
//!
//! Invariants of [`RxRingV2`]: slots are visited in order, wrapping; a frame is
//! peeked any number of times and advanced past once, which gives its slot back;
//! offsets read from the ring are bounds-checked (a corrupt slot is given back
//! and counted, never indexed out of bounds).

use super::ring::{load_u32, store_u32, RxFrame, RxRing, TP_STATUS_KERNEL, TP_STATUS_USER};

/// Where `sockaddr_ll` starts in a V2 slot (`TPACKET_ALIGN(sizeof tpacket2_hdr)`).
pub const TPACKET2_HDRLEN: usize = 32;

/// Cursor over a TPACKET_V2 receive ring.
#[derive(Clone, Debug)]
pub struct RxRingV2 {
    block_size: usize,
    frame_size: usize,
    per_block: usize,
    frame_count: usize,
    next: usize,
    /// Slots given back because their header was out of bounds.
    pub corrupt: u64,
}

impl RxRingV2 {
    /// A walker of `frame_count` slots of `frame_size` bytes in blocks of
    /// `block_size`, starting at slot 0.
    pub fn new(block_size: usize, frame_size: usize, frame_count: usize) -> RxRingV2 {
        let per_block = (block_size / frame_size.max(1)).max(1);
        RxRingV2 {
            block_size,
            frame_size,
            per_block,
            frame_count: frame_count.max(1),
            next: 0,
            corrupt: 0,
        }
    }

    /// Bytes the ring spans (whole blocks).
    pub fn len(&self) -> usize {
        self.frame_count.div_ceil(self.per_block) * self.block_size
    }

    /// Whether the ring spans nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, i: usize) -> usize {
        (i / self.per_block) * self.block_size + (i % self.per_block) * self.frame_size
    }

    /// The next frame, without taking it. `None` when the kernel has handed
    /// over nothing more.
    pub fn peek(&mut self, mem: &mut [u8]) -> Option<RxFrame> {
        for _ in 0..=self.frame_count {
            let hdr = self.slot(self.next);
            let status = load_u32(mem, hdr)?;
            if status & TP_STATUS_USER == 0 {
                return None;
            }
            match self.frame_at(mem, hdr, status) {
                Some(f) => return Some(f),
                None => {
                    self.corrupt += 1;
                    self.advance(mem);
                }
            }
        }
        None
    }

    fn frame_at(&self, mem: &[u8], hdr: usize, status: u32) -> Option<RxFrame> {
        let len = load_u32(mem, hdr + 4)? as usize;
        let snaplen = load_u32(mem, hdr + 8)? as usize;
        let b = mem.get(hdr + 12..hdr + 14)?;
        let mac = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        if mac < TPACKET2_HDRLEN + 20 || mac + snaplen > self.frame_size {
            return None;
        }
        Some(RxFrame {
            hdr,
            data: hdr + mac,
            snaplen,
            len,
            status,
            pkttype: *mem.get(hdr + TPACKET2_HDRLEN + 10)?,
        })
    }

    /// Gives the slot [`RxRingV2::peek`] returned back to the kernel.
    pub fn advance(&mut self, mem: &mut [u8]) {
        store_u32(mem, self.slot(self.next), TP_STATUS_KERNEL);
        self.next = (self.next + 1) % self.frame_count;
    }
}

/// A receive ring of either version, walked the same way.
#[derive(Clone, Debug)]
pub enum RxCursor {
    /// TPACKET_V2: per-frame hand-over (low latency).
    V2(RxRingV2),
    /// TPACKET_V3: per-block hand-over (fewer wake-ups at high rates).
    V3(RxRing),
}

impl RxCursor {
    /// The next frame, without taking it.
    pub fn peek(&mut self, mem: &mut [u8]) -> Option<RxFrame> {
        match self {
            RxCursor::V2(r) => r.peek(mem),
            RxCursor::V3(r) => r.peek(mem),
        }
    }

    /// Moves past the peeked frame.
    pub fn advance(&mut self, mem: &mut [u8]) {
        match self {
            RxCursor::V2(r) => r.advance(mem),
            RxCursor::V3(r) => r.advance(mem),
        }
    }

    /// Blocks (V3) or slots (V2) given back because they were corrupt.
    pub fn corrupt(&self) -> u64 {
        match self {
            RxCursor::V2(r) => r.corrupt,
            RxCursor::V3(r) => r.corrupt_blocks,
        }
    }

    /// Where a frame's `sockaddr_ll` starts, from its header: the least room
    /// before the frame data (a vnet header, when asked for, lies just before
    /// the data, after that).
    pub fn header_len(&self) -> usize {
        match self {
            RxCursor::V2(_) => TPACKET2_HDRLEN,
            RxCursor::V3(_) => super::ring::TPACKET3_HDRLEN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: usize = 256;
    const BS: usize = 1024;

    /// Writes a frame of `data` into slot `i` (mac offset 64) and hands it over.
    fn put(mem: &mut [u8], ring: &RxRingV2, i: usize, data: &[u8], len: usize, pkttype: u8) {
        let h = ring.slot(i);
        mem[h + 4..h + 8].copy_from_slice(&(len as u32).to_ne_bytes());
        mem[h + 8..h + 12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        mem[h + 12..h + 14].copy_from_slice(&64u16.to_ne_bytes());
        mem[h + TPACKET2_HDRLEN + 10] = pkttype;
        mem[h + 64..h + 64 + data.len()].copy_from_slice(data);
        store_u32(mem, h, TP_STATUS_USER);
    }

    fn status(mem: &[u8], ring: &RxRingV2, i: usize) -> u32 {
        load_u32(mem, ring.slot(i)).unwrap()
    }

    #[test]
    fn slots_in_order_given_back_one_by_one_and_wrap() {
        // 10 slots, 4 per 1 KiB block: slots 8 and 9 sit in block 2.
        let mut ring = RxRingV2::new(BS, FS, 10);
        assert_eq!(ring.len(), 3 * BS);
        assert_eq!(ring.slot(9), 2 * BS + FS);
        let mut mem = vec![0u8; ring.len()];
        assert_eq!(ring.peek(&mut mem), None);
        for i in 0..10 {
            put(&mut mem, &ring, i, &[i as u8; 20], 20, 0);
        }
        for i in 0..10 {
            let f = ring.peek(&mut mem).unwrap();
            // Peeking again (a dropped token) offers the same frame.
            assert_eq!(ring.peek(&mut mem), Some(f));
            assert_eq!(&mem[f.data..f.data + f.snaplen], &[i as u8; 20]);
            assert_eq!(status(&mem, &ring, i), TP_STATUS_USER);
            ring.advance(&mut mem);
            assert_eq!(
                status(&mem, &ring, i),
                TP_STATUS_KERNEL,
                "slot {i} given back"
            );
        }
        assert_eq!(ring.peek(&mut mem), None);
        // Wrapped: slot 0 again.
        put(&mut mem, &ring, 0, b"again", 5, 0);
        let f = ring.peek(&mut mem).unwrap();
        assert_eq!(f.hdr, 0);
        assert_eq!(&mem[f.data..f.data + 5], b"again");
    }

    #[test]
    fn waits_for_the_next_slot_even_if_later_ones_are_ready() {
        let mut ring = RxRingV2::new(BS, FS, 4);
        let mut mem = vec![0u8; ring.len()];
        put(&mut mem, &ring, 1, b"later", 5, 0);
        assert_eq!(ring.peek(&mut mem), None);
        put(&mut mem, &ring, 0, b"first", 5, 0);
        assert_eq!(ring.peek(&mut mem).unwrap().hdr, 0);
    }

    #[test]
    fn metadata_and_corrupt_slots() {
        let mut ring = RxRingV2::new(BS, FS, 4);
        let mut mem = vec![0u8; ring.len()];
        // Truncated (snaplen < len), outgoing.
        put(&mut mem, &ring, 0, &[1; 30], 1500, 4);
        let f = ring.peek(&mut mem).unwrap();
        assert!(f.truncated());
        assert_eq!((f.len, f.pkttype), (1500, 4));
        ring.advance(&mut mem);
        // A slot whose frame would run past its end is given back and counted.
        put(&mut mem, &ring, 1, &[2; 30], 30, 0);
        let h = ring.slot(1);
        mem[h + 8..h + 12].copy_from_slice(&(FS as u32).to_ne_bytes());
        put(&mut mem, &ring, 2, b"ok", 2, 0);
        let f = ring.peek(&mut mem).unwrap();
        assert_eq!(&mem[f.data..f.data + 2], b"ok");
        assert_eq!(ring.corrupt, 1);
        assert_eq!(status(&mem, &ring, 1), TP_STATUS_KERNEL);
        let c = RxCursor::V2(ring);
        assert_eq!((c.corrupt(), c.header_len()), (1, 32));
    }
}
