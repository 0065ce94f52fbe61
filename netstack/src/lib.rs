//! Poll-mode userspace TCP/IP for sluice: smoltcp over `Port` drivers.
//!
//! Read in this order:
//!
//! 1. [`port`] — the driver seam. A [`Port`](port::Port) hands out receive and
//!    transmit *tokens* (smoltcp's `phy::Device` model); the stack consumes one
//!    frame per token inside a closure, in the driver's buffer. Every driver —
//!    memory wire, TAP, AF_PACKET ring, DPDK — implements this and nothing more.
//! 2. [`wire`] — the in-memory wire: two ports joined in one process with
//!    seeded, deterministic loss, duplication, reordering, delay and a bounded
//!    queue. The driver for tests and benchmarks.
//! 3. [`smoltcp_phy`] — the adapter that makes any port a
//!    `smoltcp::phy::Device`, so a smoltcp `Interface` runs over it.
//! 4. [`steer`] — the one steering function (`(src_port ^ dst_port) % queues`)
//!    every queue split agrees on; [`stack`] — one core's TCP/IP stack with
//!    O(1) demultiplexing by 4-tuple; [`poll_driver`] — the busy-poll loop.
//! 5. [`tap`] — a Linux TAP interface (`/dev/net/tun`, one `read`/`write` per
//!    frame; the kernel checksums and segments, so no offload repair).
//! 6. [`af_packet`] — a Linux interface through mmap'd rings (`memmap2`): a
//!    TPACKET_V2 RX ring by default (per-frame hand-over; V3's per-block
//!    hand-over waits for a 1 ms timer below line rate) or V3, and a V3 TX
//!    ring; one port per receive queue, queues split by a
//!    `PACKET_FANOUT_CBPF` program that computes [`steer::queue_of_frame`] in
//!    the kernel. Its ring walking ([`af_packet::ring`], [`af_packet::ring_v2`])
//!    and fanout program ([`af_packet::fanout`]) are pure code tested without
//!    root.
//! 7. [`offload`] — what a kernel peer's offloads leave on a raw socket
//!    (partial checksums, TCP GSO super-frames), repaired in software.
//! 8. [`any_port`] — one enum over the real drivers, what the binary runs.
//!
//! `unsafe` is denied crate-wide and allowed only in one `sys` module per
//! driver (`poll_driver::sys`, `tap::sys`, `af_packet::sys`), each block with
//! its `SAFETY:` argument. `tests/af_packet_netns.rs` and `tests/tap_netns.rs` run
//! the AF_PACKET and TAP ports against the kernel's TCP over veth pairs in network
//! namespaces (root only; they print `skipped: needs root` otherwise).
//!
//! Nothing in this crate reads a clock: every call takes `now`, so a whole
//! TCP exchange can run in simulated time (see `tests/tcp_over_wire.rs`).
//!
//! # What smoltcp (0.14) brings, measured on the wire
//!
//! `tests/tcp_over_wire.rs` moves 1 MiB between two interfaces. Two behaviours
//! of smoltcp 0.14.0 matter to an appliance and are not configurable there:
//!
//! - its minimum retransmission timeout is RFC 6298's 1 s, so every loss that
//!   fast retransmit does not repair costs a second, whatever the RTT;
//! - a FIN the peer discarded (it arrived ahead of a hole) is never sent again
//!   once all data is acknowledged: the socket stays in FIN-WAIT-1 with no timer
//!   (reproducer: the ignored test `fin_after_out_of_order_arrival`). Bound it
//!   with socket timeouts until the stack carries a fix.
//!
//! smoltcp 0.12 had neither, but had no zero-window probing, and stalled a
//! transfer for good when a window update was lost; hence 0.14.
//!
//! Still to come here: the DPDK driver (cargo feature `dpdk`, a local
//! `dpdk-sys` crate; see DESIGN.md, "Port drivers"), AF_PACKET receive of VLAN
//! tagged frames and of GSO kinds other than TCP/IPv4 (dropped and counted
//! today), and wiring the TAP and AF_PACKET ports into the binary's
//! configuration.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod af_packet;
pub mod any_port;
pub mod offload;
pub mod poll_driver;
pub mod port;
pub mod smoltcp_phy;
pub mod stack;
pub mod steer;
pub mod tap;
pub mod wire;
