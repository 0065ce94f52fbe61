//! sluice's test lab: hosts are Linux network namespaces joined by veth pairs and
//! bridges, built by the test itself, with real programs (the `sluice` binary, Rust
//! origins and clients, curl) running inside them.
//!
//! Layers, bottom up:
//!
//! | module        | owns                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | [`detect`]    | "can this machine run the lab?" (root, iproute2, netns) and `skipped:` |
//! | [`cmd`]       | running a command to completion with a hard time limit               |
//! | [`netns`]     | a [`Lab`]: namespaces, veth links, bridges, addresses, routes; torn down on drop |
//! | [`process`]   | a program running inside a namespace, killed (by pid) on drop        |
//! | [`topology`]  | ready-made topologies (client — appliance — server(s))               |
//! | [`sluice`]    | finding (or building) the `sluice` binary and running it in a host   |
//! | [`pattern`]   | the deterministic byte pattern and checksum bodies are verified with |
//! | [`http`]      | the minimal HTTP/1.1 reading/writing the helper binaries share       |
//! | [`sys`]       | the only `unsafe`: raising the descriptor limit                      |
//!
//! Helper binaries (`src/bin/`): `lab-origin` (HTTP origin + TCP echo server) and
//! `lab-client` (keep-alive, big bodies, many connections, TCP echo), run inside
//! namespaces with `ip netns exec`.
//!
//! Safety rules every test relies on:
//! - Addresses live only inside namespaces the lab created (10.231.0.0/16 by
//!   convention); nothing is configured in, or sent to, the root namespace.
//! - Names are unique per lab (`slt-<pid>-<n>-<role>`), so tests run in parallel.
//! - Everything is undone on drop, also when a test panics: processes are killed,
//!   namespaces (and with them their links) deleted. Namespaces left behind by a
//!   killed test process (its pid no longer alive) are swept by the next lab.
//! - Every wait is bounded.

pub mod cmd;
pub mod detect;
pub mod http;
pub mod netns;
pub mod pattern;
pub mod process;
pub mod sluice;
pub mod sys;
pub mod topology;

pub use detect::Skip;
pub use netns::{Host, Lab};
pub use process::NsProcess;
pub use sluice::Sluice;
pub use topology::{Mode, ThreeTier};

/// Unwraps `Ok(v)`, or prints `skipped: <reason>` and returns from the (test)
/// function on `Err(skip)`:
///
/// ```ignore
/// let lab = vm_tests::skip_unless!(vm_tests::detect::lab());
/// ```
#[macro_export]
macro_rules! skip_unless {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(skip) => {
                println!("skipped: {}", skip);
                return;
            }
        }
    };
}
