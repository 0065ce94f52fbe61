//! The AF_PACKET port: a Linux interface seen through TPACKET rings.
//!
//! # What it owns
//!
//! An [`AfPacketPort`] is one receive queue of one interface: a receive socket
//! with an RX ring mapped with `memmap2` — TPACKET_V2 by default (one slot per
//! frame, handed over at once; see [`ring_v2`] for why) or TPACKET_V3 (blocks
//! of variable-sized frames) — and a send-only socket with a TPACKET_V3 TX ring
//! (fixed slots).
//! Transmit tokens fill slots; [`Port::flush`] kicks the kernel once per burst
//! (`send(fd, NULL, 0)`). The wake descriptor is the receive socket.
//!
//! # Steering (fanout)
//!
//! With [`AfPacketConfig::fanout`] `Some((group, queue, queues))` and
//! `queues > 1`, the receive socket joins fanout group `group` in
//! `PACKET_FANOUT_CBPF` mode with the program of [`fanout`], which computes
//! [`steer::queue_of_frame`](crate::steer::queue_of_frame) in the kernel. The
//! kernel numbers members in the order they join: open queue 0 first, then 1,
//! … ([`AfPacketPort::open_queues`] does). ARP and other non-TCP frames land
//! on queue 0. A drop-all socket filter keeps each ring empty until the
//! socket joined the group ([`AfPacketPort::open_queues`]: until every queue
//! joined), so no frame is steered by a partial group. Ports opened one by one
//! with [`AfPacketPort::open`] receive as soon as each has joined: frames of
//! that moment may reach queue 0 instead of their own.
//!
//! # Frames the stack never sees
//!
//! - our own outgoing frames (`PACKET_IGNORE_OUTGOING`, and the fanout flag of
//!   the same name; `sll_pkttype == PACKET_OUTGOING` frames are skipped as a
//!   fallback and counted in [`AfPacketCounters::own_frames`]);
//! - truncated frames (`tp_snaplen < tp_len`) and frames longer than the MTU:
//!   dropped, counted in `rx_dropped` and in [`AfPacketCounters`].
//!
//! # Offloads
//!
//! With [`AfPacketConfig::vnet_hdr`] (the default) the receive socket carries
//! `PACKET_VNET_HDR`: partial checksums are completed and TCP/IPv4 GSO
//! super-frames are cut into MSS-sized segments by [`crate::offload`] (segments
//! wait in a small owned queue and are served before the ring). Without it,
//! `TP_STATUS_CSUMNOTREADY` still triggers the checksum repair, but GSO frames
//! are dropped as oversize: turn GSO/TSO off on the peer then.
//!
//! # Invariants
//!
//! - A receive token dropped without `consume` leaves its frame first in line
//!   (ring cursor not advanced, or segment not popped); the checksum repair
//!   runs in `consume`, once.
//! - A ring block goes back to the kernel only after all its frames were
//!   consumed or dropped ([`ring`]).
//! - TX slots are filled strictly in sequence; a full ring makes
//!   [`Port::transmit`] return `None` (after one kick to drain it) and a paired
//!   transmit token drop its frame (`tx_dropped`).
//! - The mappings are dropped before the sockets (field order).

pub mod fanout;
pub mod ring;
pub mod ring_v2;
mod sys;

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use memmap2::MmapMut;

use crate::offload::{self, VnetHdr, VNET_GSO_NONE, VNET_GSO_TCPV4};
use crate::port::{Instant, Port, PortCapabilities, PortCounters, RxToken, TxToken};
use ring::{RxRing, TxRing, PACKET_OUTGOING, TPACKET3_HDRLEN, TP_STATUS_CSUMNOTREADY};
use ring_v2::{RxCursor, RxRingV2};

/// How to open an [`AfPacketPort`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// RX ring block size in bytes: a multiple of 4096, large enough for the
    /// biggest frame plus headers (GSO super-frames reach 64 KiB: keep ≥ 128 KiB
    /// with `vnet_hdr`).
    pub block_size: usize,
    /// RX ring blocks.
    pub block_count: usize,
    /// Frame slot size in bytes (TX slots; RX frame accounting): a multiple of
    /// 16, at least `mtu + 48`.
    pub frame_size: usize,
    /// Milliseconds after which the kernel hands over a partly filled RX block
    /// (latency bound at low rates). At least 1.
    pub block_timeout_ms: u32,
    /// TX ring slots (rounded up to whole blocks of 16 slots).
    pub tx_frames: usize,
    /// `(group id, this queue, queue count)`: join a CBPF fanout group steering
    /// by [`crate::steer::queue_of`]. `None` (or a count of 1): no fanout.
    pub fanout: Option<(u16, u16, u16)>,
    /// Largest frame in bytes, link-layer header included (1514 for Ethernet).
    pub mtu: usize,
    /// Ask for `virtio_net_hdr` on received frames (checksum and GSO repair).
    pub vnet_hdr: bool,
    /// `PACKET_QDISC_BYPASS` on the TX socket (skips the qdisc layer).
    pub qdisc_bypass: bool,
    /// The receive ring's version: V2 hands each frame over at once (the
    /// default: a V3 block waits up to `block_timeout_ms` below line rate, see
    /// [`ring_v2`]); V3 batches frames per block (`block_size`, `block_count`).
    pub rx_ring: RxRingVersion,
    /// V2 receive slots. Each holds the largest frame: with `vnet_hdr` a GSO
    /// super-frame (64 KiB, so 68 KiB per slot), else `mtu` plus headers.
    pub v2_frames: usize,
}

/// Which TPACKET version the receive ring uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxRingVersion {
    /// TPACKET_V2: fixed slots, per-frame hand-over.
    V2,
    /// TPACKET_V3: blocks of frames, per-block hand-over.
    V3,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig {
            block_size: 1 << 17,
            block_count: 32,
            frame_size: 2048,
            block_timeout_ms: 1,
            tx_frames: 512,
            fanout: None,
            mtu: 1514,
            vnet_hdr: true,
            qdisc_bypass: false,
            rx_ring: RxRingVersion::V2,
            v2_frames: 256,
        }
    }
}

impl AfPacketConfig {
    /// V2 receive slots: `(block_size, frame_size)`, both as the kernel wants
    /// them (blocks of whole pages, slots a multiple of 16).
    pub fn v2_geometry(&self) -> (usize, usize) {
        let frame = if self.vnet_hdr {
            65536 + 256
        } else {
            (self.mtu + 128).div_ceil(16) * 16
        };
        (frame.div_ceil(4096) * 4096, frame)
    }

    /// Checks the sizes the kernel would refuse (with a clearer message).
    pub fn validate(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.block_size == 0 || !self.block_size.is_multiple_of(4096) {
            return bad(format!(
                "af_packet block_size {} is not a multiple of 4096",
                self.block_size
            ));
        }
        if self.block_count == 0 || self.tx_frames == 0 {
            return bad("af_packet block_count and tx_frames must be at least 1".into());
        }
        if !self.frame_size.is_multiple_of(16) || self.frame_size < self.mtu + TPACKET3_HDRLEN {
            return bad(format!(
                "af_packet frame_size {} must be a multiple of 16 and at least mtu {} + 48",
                self.frame_size, self.mtu
            ));
        }
        if self.block_size < self.frame_size {
            return bad(format!(
                "af_packet block_size {} is smaller than frame_size {}",
                self.block_size, self.frame_size
            ));
        }
        if self.block_timeout_ms == 0 {
            return bad("af_packet block_timeout_ms must be at least 1".into());
        }
        if let Some((_, q, n)) = self.fanout {
            if n == 0 || q >= n {
                return bad(format!("af_packet fanout queue {q} out of {n} queues"));
            }
        }
        Ok(())
    }
}

/// What the AF_PACKET driver did beyond [`PortCounters`]; monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfPacketCounters {
    /// Our own outgoing frames seen on the RX ring and skipped.
    pub own_frames: u64,
    /// RX frames truncated by the ring (`tp_snaplen < tp_len`), dropped.
    pub truncated: u64,
    /// RX frames (or GSO segments) longer than the MTU, dropped.
    pub oversize: u64,
    /// RX frames whose checksum was completed in software.
    pub csum_repaired: u64,
    /// RX GSO super-frames cut into segments.
    pub gso_frames: u64,
    /// Segments those made.
    pub gso_segments: u64,
    /// RX GSO frames of a kind not handled (not TCP/IPv4, malformed), dropped.
    pub gso_unsupported: u64,
    /// RX blocks (V3) or slots (V2) released early because a descriptor was
    /// out of bounds.
    pub corrupt_blocks: u64,
    /// Frames the kernel dropped because the RX ring was full (as of the last
    /// [`AfPacketPort::refresh_kernel_stats`]; also in `rx_dropped`).
    pub ring_drops: u64,
    /// TX kicks (`send(fd, NULL, 0)`).
    pub tx_kicks: u64,
    /// TX kicks that failed (frames stay queued for the next).
    pub tx_kick_errors: u64,
    /// TX frames dropped because the ring was full.
    pub tx_ring_full: u64,
    /// TX slots the kernel refused (`TP_STATUS_WRONG_FORMAT`).
    pub tx_refused: u64,
}

/// Where the next received frame is.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// First of the owned segment queue.
    Pending,
    /// In the ring at `data`, `len` bytes; checksum repair to do.
    Ring {
        data: usize,
        len: usize,
        repair: Repair,
    },
}

#[derive(Clone, Copy, Debug)]
enum Repair {
    None,
    /// Recompute the IPv4 TCP/UDP checksum (`TP_STATUS_CSUMNOTREADY`).
    L4,
    /// As `L4`, or the generic completion at (csum_start, csum_offset).
    Partial(usize, usize),
}

struct RxSide {
    map: MmapMut,
    ring: RxCursor,
    vnet: bool,
    mtu: usize,
    pending: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    frames: u64,
    bytes: u64,
    dropped: u64,
    c: AfPacketCounters,
}

impl RxSide {
    fn new(map: MmapMut, ring: RxCursor, vnet: bool, mtu: usize) -> RxSide {
        RxSide {
            map,
            ring,
            vnet,
            mtu,
            pending: VecDeque::new(),
            spare: Vec::new(),
            scratch: Vec::new(),
            frames: 0,
            bytes: 0,
            dropped: 0,
            c: AfPacketCounters::default(),
        }
    }

    fn drop_frame(&mut self) {
        self.dropped += 1;
        self.ring.advance(&mut self.map);
    }

    /// Finds the next frame for the stack, dropping what must be dropped.
    fn next(&mut self) -> Option<Src> {
        if !self.pending.is_empty() {
            return Some(Src::Pending);
        }
        loop {
            let f = self.ring.peek(&mut self.map)?;
            self.c.corrupt_blocks = self.ring.corrupt();
            if f.pkttype == PACKET_OUTGOING {
                self.c.own_frames += 1;
                self.ring.advance(&mut self.map);
                continue;
            }
            if f.truncated() {
                self.c.truncated += 1;
                self.drop_frame();
                continue;
            }
            let vnet = if self.vnet && f.data - f.hdr >= self.ring.header_len() + VnetHdr::LEN {
                VnetHdr::parse(&self.map[f.data - VnetHdr::LEN..f.data])
            } else {
                None
            };
            if let Some(v) = vnet.filter(|v| v.gso_type != VNET_GSO_NONE) {
                self.segment(f.data, f.snaplen, v);
                self.ring.advance(&mut self.map);
                if !self.pending.is_empty() {
                    return Some(Src::Pending);
                }
                continue;
            }
            if f.snaplen > self.mtu {
                self.c.oversize += 1;
                self.drop_frame();
                continue;
            }
            let repair = match vnet {
                Some(v) if v.needs_csum() => {
                    Repair::Partial(usize::from(v.csum_start), usize::from(v.csum_offset))
                }
                _ if f.status & TP_STATUS_CSUMNOTREADY != 0 => Repair::L4,
                _ => Repair::None,
            };
            return Some(Src::Ring {
                data: f.data,
                len: f.snaplen,
                repair,
            });
        }
    }

    /// Cuts the GSO frame at `data` into the pending queue (dropping and
    /// counting what cannot be carried). The caller advances the ring.
    fn segment(&mut self, data: usize, len: usize, v: VnetHdr) {
        let RxSide {
            map,
            pending,
            spare,
            scratch,
            mtu,
            c,
            dropped,
            ..
        } = self;
        if v.gso_kind() != VNET_GSO_TCPV4 {
            c.gso_unsupported += 1;
            *dropped += 1;
            return;
        }
        let frame = &map[data..data + len];
        let r = offload::segment_tcp4(frame, usize::from(v.gso_size), scratch, |seg| {
            if seg.len() > *mtu {
                c.oversize += 1;
                *dropped += 1;
                return;
            }
            let mut b = spare.pop().unwrap_or_default();
            b.clear();
            b.extend_from_slice(seg);
            pending.push_back(b);
        });
        match r {
            Ok(n) => {
                c.gso_frames += 1;
                c.gso_segments += n as u64;
            }
            Err(_) => {
                c.gso_unsupported += 1;
                *dropped += 1;
            }
        }
    }
}

struct TxSide {
    map: MmapMut,
    ring: TxRing,
    mtu: usize,
    queued: usize,
    scratch: Vec<u8>,
    frames: u64,
    bytes: u64,
    dropped: u64,
    c: AfPacketCounters,
}

impl TxSide {
    fn has_room(&mut self) -> bool {
        let (room, refused) = self.ring.has_room(&self.map);
        if refused {
            self.c.tx_refused += 1;
        }
        room
    }

    fn send<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        if len > self.mtu || len > self.ring.max_frame() {
            return self.discard(len, f);
        }
        if !self.has_room() {
            self.c.tx_ring_full += 1;
            return self.discard(len, f);
        }
        self.frames += 1;
        self.bytes += len as u64;
        self.queued += 1;
        self.ring.fill(&mut self.map, len, f)
    }

    fn discard<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        self.dropped += 1;
        if self.scratch.len() < len {
            self.scratch.resize(len, 0);
        }
        f(&mut self.scratch[..len])
    }
}

/// One receive queue of a Linux interface over TPACKET_V3 rings.
pub struct AfPacketPort {
    // Mappings first: dropped before the sockets.
    rx: RxSide,
    tx: TxSide,
    rx_fd: OwnedFd,
    tx_fd: OwnedFd,
    ifname: String,
    queue: u16,
    /// Kernel ring drops summed by `refresh_kernel_stats`.
    ring_drops: Cell<u64>,
}

impl std::fmt::Debug for AfPacketPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketPort")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("rx_fd", &self.rx_fd.as_raw_fd())
            .field("tx_fd", &self.tx_fd.as_raw_fd())
            .finish()
    }
}

impl AfPacketPort {
    /// Opens queue `cfg.fanout.1` (or the only queue) of interface `ifname`.
    /// Needs `CAP_NET_RAW`. The interface must be up for frames to flow.
    pub fn open(ifname: &str, cfg: AfPacketConfig) -> io::Result<AfPacketPort> {
        let port = AfPacketPort::open_held(ifname, cfg)?;
        port.release()?;
        Ok(port)
    }

    /// Opens the port with a drop-all socket filter attached: it receives
    /// nothing until [`AfPacketPort::release`].
    fn open_held(ifname: &str, cfg: AfPacketConfig) -> io::Result<AfPacketPort> {
        cfg.validate()?;
        let ifindex = sys::ifindex(ifname)?;
        let ctx = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("af_packet {ifname}: {what}: {e}"))
        };

        // Receive socket: protocol 0 until bound, so nothing arrives before the
        // ring exists.
        let rx_fd = sys::packet_socket(0).map_err(ctx("socket"))?;
        let fd = rx_fd.as_fd();
        let version = match cfg.rx_ring {
            RxRingVersion::V2 => sys::TPACKET_V2,
            RxRingVersion::V3 => sys::TPACKET_V3,
        };
        sys::set_int(fd, sys::PACKET_VERSION, version).map_err(ctx("PACKET_VERSION"))?;
        if cfg.vnet_hdr {
            sys::set_int(fd, sys::PACKET_VNET_HDR, 1).map_err(ctx("PACKET_VNET_HDR"))?;
        }
        // Best effort: the pkttype filter catches what this misses.
        let _ = sys::set_int(fd, sys::PACKET_IGNORE_OUTGOING, 1);
        let (req, cursor) = match cfg.rx_ring {
            RxRingVersion::V3 => {
                let frames_per_block = cfg.block_size / cfg.frame_size;
                (
                    sys::TpacketReq3 {
                        block_size: cfg.block_size as u32,
                        block_nr: cfg.block_count as u32,
                        frame_size: cfg.frame_size as u32,
                        frame_nr: (frames_per_block * cfg.block_count) as u32,
                        retire_blk_tov: cfg.block_timeout_ms,
                        sizeof_priv: 0,
                        feature_req_word: 0,
                    },
                    RxCursor::V3(RxRing::new(cfg.block_size, cfg.block_count)),
                )
            }
            RxRingVersion::V2 => {
                // The kernel reads the first four fields (`tpacket_req`) for V2.
                let (block, frame) = cfg.v2_geometry();
                let per_block = block / frame;
                let blocks = cfg.v2_frames.div_ceil(per_block);
                (
                    sys::TpacketReq3 {
                        block_size: block as u32,
                        block_nr: blocks as u32,
                        frame_size: frame as u32,
                        frame_nr: (blocks * per_block) as u32,
                        ..sys::TpacketReq3::default()
                    },
                    RxCursor::V2(RxRingV2::new(block, frame, blocks * per_block)),
                )
            }
        };
        sys::set_ring(fd, sys::PACKET_RX_RING, &req).map_err(ctx("PACKET_RX_RING"))?;
        // Nothing enters the ring before the socket joined its fanout group.
        sys::attach_drop_all(fd).map_err(ctx("SO_ATTACH_FILTER"))?;
        let rx_map = sys::map_ring(fd, (req.block_size * req.block_nr) as usize)
            .map_err(ctx("mmap rx ring"))?;
        sys::bind(fd, ifindex, sys::ETH_P_ALL).map_err(ctx("bind"))?;
        let queue = match cfg.fanout {
            Some((group, queue, queues)) if queues > 1 => {
                let mode = sys::PACKET_FANOUT_CBPF;
                if sys::join_fanout(fd, group, mode | sys::PACKET_FANOUT_FLAG_IGNORE_OUTGOING)
                    .is_err()
                {
                    sys::join_fanout(fd, group, mode).map_err(ctx("PACKET_FANOUT"))?;
                }
                sys::set_fanout_program(fd, &fanout::steering_program(queues))
                    .map_err(ctx("PACKET_FANOUT_DATA"))?;
                queue
            }
            _ => 0,
        };

        // Send-only socket with the TX ring.
        let tx_fd = sys::packet_socket(0).map_err(ctx("tx socket"))?;
        let tfd = tx_fd.as_fd();
        sys::set_int(tfd, sys::PACKET_VERSION, sys::TPACKET_V3).map_err(ctx("tx TPACKET_V3"))?;
        if cfg.qdisc_bypass {
            sys::set_int(tfd, sys::PACKET_QDISC_BYPASS, 1).map_err(ctx("PACKET_QDISC_BYPASS"))?;
        }
        let per_block = 16usize;
        let tx_block = (cfg.frame_size * per_block).div_ceil(4096) * 4096;
        let per_block = tx_block / cfg.frame_size;
        let tx_blocks = cfg.tx_frames.div_ceil(per_block);
        let treq = sys::TpacketReq3 {
            block_size: tx_block as u32,
            block_nr: tx_blocks as u32,
            frame_size: cfg.frame_size as u32,
            frame_nr: (per_block * tx_blocks) as u32,
            ..sys::TpacketReq3::default()
        };
        sys::set_ring(tfd, sys::PACKET_TX_RING, &treq).map_err(ctx("PACKET_TX_RING"))?;
        let tx_map = sys::map_ring(tfd, tx_block * tx_blocks).map_err(ctx("mmap tx ring"))?;
        sys::bind(tfd, ifindex, 0).map_err(ctx("tx bind"))?;

        Ok(AfPacketPort {
            rx: RxSide::new(rx_map, cursor, cfg.vnet_hdr, cfg.mtu),
            tx: TxSide {
                map: tx_map,
                ring: TxRing::new(tx_block, tx_blocks, cfg.frame_size),
                mtu: cfg.mtu,
                queued: 0,
                scratch: Vec::new(),
                frames: 0,
                bytes: 0,
                dropped: 0,
                c: AfPacketCounters::default(),
            },
            rx_fd,
            tx_fd,
            ifname: ifname.to_string(),
            queue,
            ring_drops: Cell::new(0),
        })
    }

    /// Opens `queues` ports of `ifname` in one fanout group `group`, queue 0
    /// first (the order the kernel numbers members in). `cfg.fanout` is
    /// ignored. With one queue: no fanout. No port receives a frame before
    /// every queue has joined the group, so no frame is steered by a partial
    /// group.
    pub fn open_queues(
        ifname: &str,
        cfg: AfPacketConfig,
        group: u16,
        queues: u16,
    ) -> io::Result<Vec<AfPacketPort>> {
        let ports = (0..queues.max(1))
            .map(|q| {
                AfPacketPort::open_held(
                    ifname,
                    AfPacketConfig {
                        fanout: Some((group, q, queues.max(1))),
                        ..cfg
                    },
                )
            })
            .collect::<io::Result<Vec<_>>>()?;
        for p in &ports {
            p.release()?;
        }
        Ok(ports)
    }

    /// Removes the drop-all filter of [`AfPacketPort::open_held`].
    fn release(&self) -> io::Result<()> {
        sys::detach_filter(self.rx_fd.as_fd()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("af_packet {}: SO_DETACH_FILTER: {e}", self.ifname),
            )
        })
    }

    /// The interface's name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// This port's queue in its fanout group (0 without fanout).
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// The driver's own counters (receive and transmit sides summed).
    pub fn driver_counters(&self) -> AfPacketCounters {
        let (r, t) = (self.rx.c, self.tx.c);
        AfPacketCounters {
            own_frames: r.own_frames,
            truncated: r.truncated,
            oversize: r.oversize,
            csum_repaired: r.csum_repaired,
            gso_frames: r.gso_frames,
            gso_segments: r.gso_segments,
            gso_unsupported: r.gso_unsupported,
            corrupt_blocks: r.corrupt_blocks,
            ring_drops: self.ring_drops.get(),
            tx_kicks: t.tx_kicks,
            tx_kick_errors: t.tx_kick_errors,
            tx_ring_full: t.tx_ring_full,
            tx_refused: t.tx_refused,
        }
    }

    /// Reads the kernel's count of frames lost to a full RX ring since the
    /// last call (`PACKET_STATISTICS`, one system call) into `rx_dropped` and
    /// [`AfPacketCounters::ring_drops`]. Call it where counters are read, not
    /// per frame.
    pub fn refresh_kernel_stats(&self) -> io::Result<()> {
        let st = sys::take_stats(self.rx_fd.as_fd())?;
        self.ring_drops
            .set(self.ring_drops.get() + u64::from(st.drops));
        Ok(())
    }

    fn kick(&mut self) {
        self.tx.queued = 0;
        self.tx.c.tx_kicks += 1;
        if sys::kick(self.tx_fd.as_fd()).is_err() {
            self.tx.c.tx_kick_errors += 1;
        }
    }
}

/// Receive token of an [`AfPacketPort`].
pub struct AfPacketRx<'a> {
    rx: &'a mut RxSide,
    src: Src,
}

impl RxToken for AfPacketRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let rx = self.rx;
        match self.src {
            Src::Pending => {
                let buf = rx
                    .pending
                    .pop_front()
                    .expect("a pending segment was offered");
                rx.frames += 1;
                rx.bytes += buf.len() as u64;
                let r = f(&buf);
                rx.spare.push(buf);
                r
            }
            Src::Ring { data, len, repair } => {
                let frame = &mut rx.map[data..data + len];
                let repaired = match repair {
                    Repair::None => false,
                    Repair::L4 => offload::fill_l4_checksum(frame),
                    Repair::Partial(start, off) => {
                        offload::fill_l4_checksum(frame)
                            || offload::complete_partial(frame, start, off)
                    }
                };
                rx.c.csum_repaired += u64::from(repaired);
                rx.frames += 1;
                rx.bytes += len as u64;
                let r = f(frame);
                rx.ring.advance(&mut rx.map);
                r
            }
        }
    }
}

/// Transmit token of an [`AfPacketPort`].
pub struct AfPacketTx<'a> {
    tx: &'a mut TxSide,
}

impl TxToken for AfPacketTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.tx.send(len, f)
    }
}

impl Port for AfPacketPort {
    type RxToken<'a> = AfPacketRx<'a>;
    type TxToken<'a> = AfPacketTx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(AfPacketRx<'_>, AfPacketTx<'_>)> {
        let src = self.rx.next()?;
        Some((
            AfPacketRx {
                rx: &mut self.rx,
                src,
            },
            AfPacketTx { tx: &mut self.tx },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<AfPacketTx<'_>> {
        if !self.tx.has_room() {
            if self.tx.queued == 0 {
                return None;
            }
            self.kick();
            if !self.tx.has_room() {
                return None;
            }
        }
        Some(AfPacketTx { tx: &mut self.tx })
    }

    fn capabilities(&self) -> PortCapabilities {
        PortCapabilities {
            mtu: self.rx.mtu,
            max_burst: None,
        }
    }

    fn counters(&self) -> PortCounters {
        PortCounters {
            rx_frames: self.rx.frames,
            rx_bytes: self.rx.bytes,
            rx_dropped: self.rx.dropped + self.ring_drops.get(),
            tx_frames: self.tx.frames,
            tx_bytes: self.tx.bytes,
            tx_dropped: self.tx.dropped,
        }
    }

    fn flush(&mut self, _now: Instant) {
        if self.tx.queued > 0 {
            self.kick();
        }
    }

    fn wake_fd(&self) -> Option<RawFd> {
        Some(self.rx_fd.as_raw_fd())
    }
}

#[cfg(test)]
mod tests;
