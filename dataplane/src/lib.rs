//! sluice's data plane: the per-core worker and the proxy pipeline.
//!
//! Read in this order:
//! - [`io`]: the I/O seam that `fallback-epoll` and `netstack` implement;
//! - [`runtime`]: the per-core executor, timer wheel, clock and mailbox a worker runs;
//! - [`h1`]: the sans-IO HTTP/1.1 codec (parse, frame, serialise; smuggling-proof);
//! - [`rules`]: evaluation of ACLs, sample expressions and log/header formats;
//! - [`lb`]: load-balancing decisions (sans-IO);
//! - [`buf`], [`tunnel`], [`logsink`]: pooled buffers, byte forwarding, log delivery;
//! - [`tls`]: TLS termination and TLS to servers (rustls), certificates, SNI;
//! - [`h2`]: HTTP/2 on both sides (the `h2` crate), translated to and from the
//!   HTTP/1.1 transaction engine, with flood protections;
//! - [`proxy`]: the pipeline of a worker — listeners, HTTP and TCP sessions,
//!   backends (queue, connect, retries, idle pool), health checks, logging.
//!
//! Invariants: no `unsafe` here; no lock on the request path; everything a request
//! touches is owned by the worker that accepted it.
#![forbid(unsafe_code)]

pub mod buf;
pub mod h1;
pub mod h2;
pub mod io;
pub mod lb;
pub mod logsink;
pub mod maps;
pub mod mgmt;
pub mod proxy;
pub mod rules;
pub mod runtime;
#[cfg(test)]
mod test_rng;
pub mod tls;
pub mod tunnel;
