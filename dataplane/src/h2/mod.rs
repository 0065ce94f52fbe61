//! HTTP/2 on both sides, through the `h2` crate.
//!
//! The design (HAProxy 1.8's, before HTX): HTTP/2 is a codec at the edges. Each
//! client stream becomes a virtual HTTP/1.1 connection ([`pipe::Pipe`]) served by
//! the same transaction engine as HTTP/1 clients — rules, routing, load balancing,
//! queueing, retries, logs — and each request for an HTTP/2 server travels as an
//! HTTP/1.1 exchange over a virtual connection whose far end is a stream of a server
//! connection. So all four combinations (H1/H2 client × H1/H2 server) share one
//! engine, and the translation rules live in one place ([`translate`]).
//!
//! - [`front`]: client connections (ALPN `h2`, `proto h2`, or the clear-text
//!   preface), stream translators, graceful GOAWAY on stop;
//! - [`back`]: server connections (`proto h2`, ALPN `h2`), stream translators;
//! - [`guard`] and [`scan`]: flood limits and counting on the client wire;
//! - [`counters`]: the HTTP/2 counters `debug counters` shows.
//!
//! Invariants: no module here buffers a whole body; every byte crossing a pipe is
//! bounded by the pipe's capacity and the peers' flow-control windows; a protocol
//! error on a stream ends that stream only.

pub mod back;
pub mod counters;
pub mod front;
pub mod guard;
pub mod pipe;
pub mod scan;
pub mod translate;
