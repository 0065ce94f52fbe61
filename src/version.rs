//! `sluice -v` and `-vv`: version, build information and features, in the shape of
//! HAProxy's output so scripts that grep it find the same headings.
//!
//! Owns: the version text. Invariant: every line states a fact of this build
//! (compile-time data from build.rs, the config crate's feature table).

/// `sluice -v`.
pub fn short() -> String {
    format!(
        "sluice version {} ({}), HAProxy configuration compatibility {}\n\
         Running on: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("SLUICE_GIT_REV"),
        appliance_config::COMPAT_VERSION,
        uname()
    )
}

/// `sluice -vv`.
pub fn long() -> String {
    let mut s = short();
    s.push_str("Build options :\n");
    s.push_str(&format!("  TARGET  = {}\n", env!("SLUICE_TARGET")));
    s.push_str(&format!(
        "  PROFILE = {} (opt-level {})\n",
        env!("SLUICE_PROFILE"),
        env!("SLUICE_OPT_LEVEL")
    ));
    s.push_str(&format!("  RUSTC   = {}\n", env!("SLUICE_RUSTC_VERSION")));
    let feats = env!("SLUICE_FEATURES");
    s.push_str(&format!(
        "  CARGO FEATURES = {}\n\n",
        if feats.is_empty() { "(none)" } else { feats }
    ));
    s.push_str(&format!(
        "Feature list : {}\n\n",
        appliance_config::feature_string()
    ));
    s.push_str(
        "Default settings :\n  bufsize = 16384, maxrewrite = 1024, maxpollevents = 256\n\n\
         Available polling systems :\n      epoll : pref=300,  test result OK\n\
         Total: 1 (1 usable), will use epoll.\n\n\
         I/O modes :\n      epoll : kernel sockets, edge-triggered epoll, one reactor per thread (default)\n       poll : userspace TCP/IP (smoltcp) over NIC ports, one stack per worker ('io-mode poll')\n\
              drivers: af-packet (TPACKET_V3 rings, fanout steering), tap\n\
              busy-poll then idle back-off ('netstack' section: busy-poll 50us, idle-backoff 1ms by default)\n\n\
         Available multiplexer protocols :\n          h2 : mode=HTTP  side=FE|BE\n          h1 : mode=HTTP  side=FE|BE\n        none : mode=TCP   side=FE|BE\n\n\
         Available services : none\n\nAvailable filters : none\n"
    );
    s
}

fn uname() -> String {
    let r = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        r("/proc/sys/kernel/ostype"),
        r("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}
