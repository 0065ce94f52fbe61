//! TPACKET_V3 ring walking, in safe code over `&mut [u8]`.
//!
//! Owns the layout knowledge of the two rings the kernel shares with an
//! AF_PACKET socket, and the cursors that walk them. The memory itself is the
//! driver's (an `MmapMut`); tests hand in a `Vec<u8>` laid out by hand.
//!
//! # RX ring (`PACKET_RX_RING`, TPACKET_V3)
//!
//! `block_count` blocks of `block_size` bytes. Each block starts with a
//! `tpacket_block_desc` (`block_status` at 8, `num_pkts` at 12,
//! `offset_to_first_pkt` at 16). The kernel fills a block with variable-sized
//! frames, each a `tpacket3_hdr` (`tp_next_offset` at 0, `tp_snaplen` at 12,
//! `tp_len` at 16, `tp_status` at 20, `tp_mac` at 24) followed at 48 by a
//! `sockaddr_ll` (`sll_pkttype` at 48 + 10), and hands the block over by
//! setting `TP_STATUS_USER` in `block_status`.
//!
//! Invariants of [`RxRing`]:
//! - blocks are visited in order, wrapping from the last to block 0;
//! - a frame is *peeked* any number of times and *advanced* past once; a block
//!   goes back to the kernel (`TP_STATUS_KERNEL`) only after its last frame was
//!   advanced past (an empty block at once);
//! - offsets read from the ring are bounds-checked: a corrupt descriptor makes
//!   the walker release the block and count it, never index out of bounds.
//!
//! # TX ring (`PACKET_TX_RING`, TPACKET_V3)
//!
//! Fixed slots of `frame_size` bytes (`block_size / frame_size` per block, no
//! slot straddles blocks). A slot is free when its `tp_status` is
//! `TP_STATUS_AVAILABLE` (or `TP_STATUS_WRONG_FORMAT`: the kernel refused it;
//! counted and reused); the driver writes the frame at offset 48, `tp_len`, and
//! sets `TP_STATUS_SEND_REQUEST`; a `send(fd, NULL, 0)` makes the kernel send
//! every requested slot from its own cursor, which moves in the same order as
//! ours ([`TxRing`] fills slots strictly in sequence). A full ring (the next
//! slot still requested or sending) is back-pressure.
//!
//! # Memory ordering
//!
//! The kernel writes the ring concurrently. Status words are read and written
//! through [`load_u32`]/[`store_u32`], which put an acquire fence after a load
//! and a release fence before a store, so that frame bytes are read only after
//! the status that publishes them, and handed back only after we are done.
//! Plain slice accesses of memory another party writes are not formally
//! volatile; every status read happens in a fresh call after a system call or
//! a new `&mut` borrow of the mapping, which the compiler cannot see through.

use std::sync::atomic::{fence, Ordering};

/// Block and TX-slot status: owned by the kernel (RX) / free (TX).
pub const TP_STATUS_KERNEL: u32 = 0;
/// TX slot free.
pub const TP_STATUS_AVAILABLE: u32 = 0;
/// Block owned by user space (RX).
pub const TP_STATUS_USER: u32 = 1;
/// TX slot: send requested.
pub const TP_STATUS_SEND_REQUEST: u32 = 1;
/// TX slot: being sent.
pub const TP_STATUS_SENDING: u32 = 2;
/// RX frame: the ring was full and frames were lost before this one.
pub const TP_STATUS_LOSING: u32 = 4;
/// TX slot: the kernel refused the frame.
pub const TP_STATUS_WRONG_FORMAT: u32 = 4;
/// RX frame: checksum partial (not computed yet).
pub const TP_STATUS_CSUMNOTREADY: u32 = 8;

/// `sll_pkttype` of a frame this host sent.
pub const PACKET_OUTGOING: u8 = 4;

/// Size of `tpacket3_hdr` rounded to TPACKET_ALIGNMENT; where `sockaddr_ll`
/// starts, and where TX frame data starts.
pub const TPACKET3_HDRLEN: usize = 48;
/// Size of `tpacket_block_desc` (without private area).
pub const BLOCK_DESC_LEN: usize = 48;

/// Reads a native-endian u32 at `off`, then an acquire fence.
pub fn load_u32(mem: &[u8], off: usize) -> Option<u32> {
    let b = mem.get(off..off + 4)?;
    let v = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    fence(Ordering::Acquire);
    Some(v)
}

/// A release fence, then writes a native-endian u32 at `off` (ignored if out
/// of bounds).
pub fn store_u32(mem: &mut [u8], off: usize, v: u32) {
    fence(Ordering::Release);
    if let Some(b) = mem.get_mut(off..off + 4) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

fn read_u16(mem: &[u8], off: usize) -> Option<u16> {
    let b = mem.get(off..off + 2)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

/// One received frame as the ring describes it (absolute offsets in the
/// mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame {
    /// Where the frame's `tpacket3_hdr` is.
    pub hdr: usize,
    /// Where the link-layer frame starts (`hdr + tp_mac`).
    pub data: usize,
    /// Bytes of the frame in the ring (`tp_snaplen`).
    pub snaplen: usize,
    /// Bytes of the frame on the wire (`tp_len`); above `snaplen`: truncated.
    pub len: usize,
    /// `tp_status` bits (`TP_STATUS_CSUMNOTREADY`, `TP_STATUS_LOSING`, …).
    pub status: u32,
    /// `sll_pkttype` (`PACKET_OUTGOING` for our own frames).
    pub pkttype: u8,
}

impl RxFrame {
    /// Whether the kernel cut the frame short.
    pub fn truncated(&self) -> bool {
        self.snaplen < self.len
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    /// Offset (in the block) of the next frame header.
    next: usize,
    /// Frames of the block not yet advanced past.
    left: u32,
}

/// Cursor over a TPACKET_V3 receive ring.
#[derive(Clone, Debug)]
pub struct RxRing {
    block_size: usize,
    block_count: usize,
    block: usize,
    cursor: Option<Cursor>,
    /// Blocks released because a descriptor or frame header was out of bounds.
    pub corrupt_blocks: u64,
}

impl RxRing {
    /// A walker of `block_count` blocks of `block_size` bytes, starting at block 0.
    pub fn new(block_size: usize, block_count: usize) -> RxRing {
        RxRing {
            block_size,
            block_count: block_count.max(1),
            block: 0,
            cursor: None,
            corrupt_blocks: 0,
        }
    }

    /// Bytes the ring spans.
    pub fn len(&self) -> usize {
        self.block_size * self.block_count
    }

    /// Whether the ring spans nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The block the cursor is in.
    pub fn current_block(&self) -> usize {
        self.block
    }

    fn base(&self) -> usize {
        self.block * self.block_size
    }

    fn release(&mut self, mem: &mut [u8]) {
        store_u32(mem, self.base() + 8, TP_STATUS_KERNEL);
        self.cursor = None;
        self.block = (self.block + 1) % self.block_count;
    }

    /// The next frame, without taking it: the same frame until
    /// [`RxRing::advance`]. `None` when the kernel has handed over nothing more.
    pub fn peek(&mut self, mem: &mut [u8]) -> Option<RxFrame> {
        // At most one full turn of the ring over empty or corrupt blocks.
        for _ in 0..=self.block_count {
            let base = self.base();
            if self.cursor.is_none() {
                let status = load_u32(mem, base + 8)?;
                if status & TP_STATUS_USER == 0 {
                    return None;
                }
                let num = load_u32(mem, base + 12)?;
                let first = load_u32(mem, base + 16)? as usize;
                if num == 0 {
                    self.release(mem);
                    continue;
                }
                self.cursor = Some(Cursor {
                    next: first,
                    left: num,
                });
            }
            let c = self.cursor.expect("set above");
            match self.frame_at(mem, base, c.next) {
                Some(f) => return Some(f),
                None => {
                    self.corrupt_blocks += 1;
                    self.release(mem);
                }
            }
        }
        None
    }

    fn frame_at(&self, mem: &[u8], base: usize, off: usize) -> Option<RxFrame> {
        if off < BLOCK_DESC_LEN || off + TPACKET3_HDRLEN + 20 > self.block_size {
            return None;
        }
        let hdr = base + off;
        let snaplen = load_u32(mem, hdr + 12)? as usize;
        let len = load_u32(mem, hdr + 16)? as usize;
        let status = load_u32(mem, hdr + 20)?;
        let mac = usize::from(read_u16(mem, hdr + 24)?);
        if mac < TPACKET3_HDRLEN || off + mac + snaplen > self.block_size {
            return None;
        }
        Some(RxFrame {
            hdr,
            data: hdr + mac,
            snaplen,
            len,
            status,
            pkttype: *mem.get(hdr + TPACKET3_HDRLEN + 10)?,
        })
    }

    /// Moves past the frame [`RxRing::peek`] returned; gives its block back
    /// to the kernel if it was the block's last.
    pub fn advance(&mut self, mem: &mut [u8]) {
        let Some(mut c) = self.cursor else {
            return;
        };
        c.left -= 1;
        if c.left == 0 {
            self.release(mem);
            return;
        }
        let hdr = self.base() + c.next;
        let next = load_u32(mem, hdr).unwrap_or(0) as usize;
        if next == 0 {
            // More frames announced than linked: the block is done.
            self.corrupt_blocks += 1;
            self.release(mem);
            return;
        }
        c.next += next;
        self.cursor = Some(c);
    }
}

/// Cursor over a TPACKET_V3 transmit ring.
#[derive(Clone, Debug)]
pub struct TxRing {
    block_size: usize,
    frame_size: usize,
    per_block: usize,
    frames: usize,
    next: usize,
}

impl TxRing {
    /// A ring of `block_count` blocks of `block_size` bytes cut in slots of
    /// `frame_size` bytes.
    pub fn new(block_size: usize, block_count: usize, frame_size: usize) -> TxRing {
        let per_block = (block_size / frame_size.max(1)).max(1);
        TxRing {
            block_size,
            frame_size,
            per_block,
            frames: per_block * block_count.max(1),
            next: 0,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.frames
    }

    /// Largest frame a slot carries.
    pub fn max_frame(&self) -> usize {
        self.frame_size.saturating_sub(TPACKET3_HDRLEN)
    }

    /// The slot the next frame goes to.
    pub fn next_slot(&self) -> usize {
        self.next
    }

    fn slot_off(&self, i: usize) -> usize {
        (i / self.per_block) * self.block_size + (i % self.per_block) * self.frame_size
    }

    /// Whether the next slot is free; a slot the kernel refused
    /// (`TP_STATUS_WRONG_FORMAT`) counts as free and is reported in the second
    /// field so the caller can count it.
    pub fn has_room(&self, mem: &[u8]) -> (bool, bool) {
        match load_u32(mem, self.slot_off(self.next) + 20) {
            Some(TP_STATUS_AVAILABLE) => (true, false),
            Some(TP_STATUS_WRONG_FORMAT) => (true, true),
            _ => (false, false),
        }
    }

    /// Builds a frame of `len` bytes with `f` in the next slot and requests
    /// its sending. The caller checked [`TxRing::has_room`] and
    /// `len <= max_frame()`.
    pub fn fill<R>(&mut self, mem: &mut [u8], len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let off = self.slot_off(self.next);
        let data = off + TPACKET3_HDRLEN;
        let r = f(&mut mem[data..data + len]);
        mem[off..off + 4].copy_from_slice(&0u32.to_ne_bytes()); // tp_next_offset
        mem[off + 12..off + 16].copy_from_slice(&(len as u32).to_ne_bytes()); // tp_snaplen
        mem[off + 16..off + 20].copy_from_slice(&(len as u32).to_ne_bytes()); // tp_len
        store_u32(mem, off + 20, TP_STATUS_SEND_REQUEST);
        self.next = (self.next + 1) % self.frames;
        r
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const BS: usize = 4096;

    /// Lays frames into block `b` of `mem` the way the kernel does and hands
    /// it to user space. Each frame: (bytes, tp_len, status, pkttype).
    pub fn fill_block(mem: &mut [u8], b: usize, frames: &[(&[u8], usize, u32, u8)], mac: usize) {
        let base = b * BS;
        mem[base..base + BS].fill(0);
        let mut off = BLOCK_DESC_LEN;
        mem[base + 16..base + 20].copy_from_slice(&(off as u32).to_ne_bytes());
        mem[base + 12..base + 16].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        for (i, (bytes, len, status, pkttype)) in frames.iter().enumerate() {
            let hdr = base + off;
            let size = (mac + bytes.len()).div_ceil(16) * 16;
            let next = if i + 1 == frames.len() { 0 } else { size };
            mem[hdr..hdr + 4].copy_from_slice(&(next as u32).to_ne_bytes());
            mem[hdr + 12..hdr + 16].copy_from_slice(&(bytes.len() as u32).to_ne_bytes());
            mem[hdr + 16..hdr + 20].copy_from_slice(&(*len as u32).to_ne_bytes());
            mem[hdr + 20..hdr + 24].copy_from_slice(&status.to_ne_bytes());
            mem[hdr + 24..hdr + 26].copy_from_slice(&(mac as u16).to_ne_bytes());
            mem[hdr + 48 + 10] = *pkttype;
            mem[hdr + mac..hdr + mac + bytes.len()].copy_from_slice(bytes);
            off += size;
        }
        mem[base + 8..base + 12].copy_from_slice(&TP_STATUS_USER.to_ne_bytes());
    }

    pub fn block_status(mem: &[u8], b: usize) -> u32 {
        load_u32(mem, b * BS + 8).unwrap()
    }

    fn take(r: &mut RxRing, mem: &mut [u8]) -> Option<Vec<u8>> {
        let f = r.peek(mem)?;
        let v = mem[f.data..f.data + f.snaplen].to_vec();
        r.advance(mem);
        Some(v)
    }

    #[test]
    fn frames_in_order_blocks_released_after_last_frame() {
        let mut mem = vec![0u8; BS * 3];
        let mut r = RxRing::new(BS, 3);
        assert_eq!(r.peek(&mut mem), None, "nothing handed over");
        fill_block(&mut mem, 0, &[(b"one", 3, 0, 0), (b"two!", 4, 0, 0)], 64);
        let f = r.peek(&mut mem).unwrap();
        assert_eq!(&mem[f.data..f.data + f.snaplen], b"one");
        // Peeking again (a dropped token) offers the same frame.
        assert_eq!(r.peek(&mut mem), Some(f));
        r.advance(&mut mem);
        assert_eq!(
            block_status(&mem, 0),
            TP_STATUS_USER,
            "block kept: 1 of 2 consumed"
        );
        assert_eq!(take(&mut r, &mut mem).as_deref(), Some(&b"two!"[..]));
        assert_eq!(
            block_status(&mem, 0),
            TP_STATUS_KERNEL,
            "released after the last"
        );
        assert_eq!(r.current_block(), 1);
        assert_eq!(r.peek(&mut mem), None);
    }

    #[test]
    fn wraps_from_last_block_to_block_zero() {
        let mut mem = vec![0u8; BS * 2];
        let mut r = RxRing::new(BS, 2);
        let mut got = Vec::new();
        for round in 0..5u8 {
            let b = usize::from(round % 2);
            assert_eq!(block_status(&mem, b), TP_STATUS_KERNEL);
            fill_block(&mut mem, b, &[(&[round; 60], 60, 0, 0)], 64);
            got.push(take(&mut r, &mut mem).unwrap()[0]);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(r.current_block(), 1);
    }

    #[test]
    fn waits_on_a_block_the_kernel_still_owns_even_if_later_ones_are_ready() {
        let mut mem = vec![0u8; BS * 2];
        let mut r = RxRing::new(BS, 2);
        fill_block(&mut mem, 1, &[(b"later", 5, 0, 0)], 64);
        assert_eq!(r.peek(&mut mem), None);
        fill_block(&mut mem, 0, &[(b"first", 5, 0, 0)], 64);
        assert_eq!(take(&mut r, &mut mem).as_deref(), Some(&b"first"[..]));
        assert_eq!(take(&mut r, &mut mem).as_deref(), Some(&b"later"[..]));
    }

    #[test]
    fn empty_and_corrupt_blocks_are_released() {
        let mut mem = vec![0u8; BS * 3];
        let mut r = RxRing::new(BS, 3);
        fill_block(&mut mem, 0, &[], 64);
        fill_block(&mut mem, 1, &[(b"x", 1, 0, 0)], 64);
        // Corrupt: first frame offset beyond the block.
        mem[BS + 16..BS + 20].copy_from_slice(&(BS as u32).to_ne_bytes());
        fill_block(&mut mem, 2, &[(b"ok", 2, 0, 0)], 64);
        assert_eq!(take(&mut r, &mut mem).as_deref(), Some(&b"ok"[..]));
        assert_eq!(r.corrupt_blocks, 1);
        for b in 0..3 {
            assert_eq!(block_status(&mem, b), TP_STATUS_KERNEL, "block {b}");
        }
        // num_pkts larger than the chain: the block ends at the last link.
        fill_block(&mut mem, 0, &[(b"a", 1, 0, 0)], 64);
        mem[12..16].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(take(&mut r, &mut mem).as_deref(), Some(&b"a"[..]));
        assert_eq!(block_status(&mem, 0), TP_STATUS_KERNEL);
        assert_eq!(r.corrupt_blocks, 2);
    }

    #[test]
    fn frame_metadata() {
        let mut mem = vec![0u8; BS];
        let mut r = RxRing::new(BS, 1);
        fill_block(
            &mut mem,
            0,
            &[(b"cut", 1500, TP_STATUS_CSUMNOTREADY, PACKET_OUTGOING)],
            80,
        );
        let f = r.peek(&mut mem).unwrap();
        assert!(f.truncated());
        assert_eq!(f.status, TP_STATUS_CSUMNOTREADY);
        assert_eq!(f.pkttype, PACKET_OUTGOING);
        assert_eq!(f.data - f.hdr, 80);
    }

    fn set_status(mem: &mut [u8], off: usize, s: u32) {
        mem[off + 20..off + 24].copy_from_slice(&s.to_ne_bytes());
    }

    #[test]
    fn tx_slots_fill_in_order_wrap_and_push_back_when_full() {
        // 2 blocks of 2 slots of 1024 bytes: slot offsets 0, 1024, 2048, 3072.
        assert_eq!(TxRing::new(BS, 2, 1024).slots(), 2 * 4);
        let mut mem = vec![0u8; 4096];
        let mut t = TxRing::new(2048, 2, 1024);
        assert_eq!(t.slots(), 4);
        assert_eq!(t.max_frame(), 1024 - 48);
        let offs = [0usize, 1024, 2048, 3072];
        for (i, &off) in offs.iter().enumerate() {
            assert_eq!(t.has_room(&mem), (true, false));
            t.fill(&mut mem, 10, |b| b.fill(i as u8 + 1));
            assert_eq!(load_u32(&mem, off + 20), Some(TP_STATUS_SEND_REQUEST));
            assert_eq!(load_u32(&mem, off + 16), Some(10));
            assert_eq!(mem[off + 48], i as u8 + 1);
        }
        assert_eq!(t.next_slot(), 0, "wrapped");
        assert_eq!(t.has_room(&mem), (false, false), "full ring");
        // The kernel sends slot 0 and 1; slot 1 is refused.
        set_status(&mut mem, 0, TP_STATUS_SENDING);
        assert_eq!(t.has_room(&mem), (false, false), "still sending");
        set_status(&mut mem, 0, TP_STATUS_AVAILABLE);
        set_status(&mut mem, 1024, TP_STATUS_WRONG_FORMAT);
        assert_eq!(t.has_room(&mem), (true, false));
        t.fill(&mut mem, 5, |_| ());
        assert_eq!(t.has_room(&mem), (true, true), "refused slot is reusable");
        t.fill(&mut mem, 5, |_| ());
        assert_eq!(t.has_room(&mem), (false, false));
    }

    #[test]
    fn tx_slots_never_straddle_blocks() {
        // 4096-byte blocks of 1500-byte slots: two per block, 1096 bytes unused.
        let t = TxRing::new(4096, 3, 1500);
        assert_eq!(t.slots(), 6);
        let offs: Vec<usize> = (0..6).map(|i| t.slot_off(i)).collect();
        assert_eq!(offs, vec![0, 1500, 4096, 5596, 8192, 9692]);
    }
}
