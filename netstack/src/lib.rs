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
//! Still to come here (see DESIGN.md, "Scale in poll mode"): O(1) demultiplexing
//! of connections by 4-tuple in front of smoltcp, and the TAP, AF_PACKET and DPDK
//! drivers (their `unsafe` confined to one `sys` module each).

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
