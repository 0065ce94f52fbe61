//! The `sluice` binary: HAProxy's command line, configuration loading and checking,
//! the embedded demo configuration, and the process model (see [`workers`]).
//!
//! Owns: `main` and the exit codes: 0 success (and `-c` on a valid file, `-cc` true),
//! 1 configuration or start-up errors (and `-cc` false), 2 bad command line or a
//! `-cc` expression that does not parse.

mod cli;
mod os;
mod poll_mode;

/// mimalloc: per-thread free lists suit share-nothing workers, and HTTP/2 (the `h2`
/// crate allocates per frame and per stream) spends markedly less time in the
/// allocator than with glibc's (see the HTTP/2 benchmark notes).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod version;
mod workers;

use std::process::exit;

/// The demo configuration run when no `-f` is given.
const EMBEDDED_CONFIG: &str = include_str!("embedded.cfg");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e}\n{}", std::process::id(), cli::USAGE);
            exit(2);
        }
    };
    if opts.help {
        println!("{}", cli::USAGE);
        exit(0);
    }
    if opts.version > 0 {
        print!(
            "{}",
            if opts.version > 1 {
                version::long()
            } else {
                version::short()
            }
        );
        exit(0);
    }
    if let Some(expr) = &opts.cond {
        match appliance_config::eval_condition(expr) {
            Ok(true) => exit(0),
            Ok(false) => exit(1),
            Err(e) => {
                eprintln!(
                    "[ALERT]    ({}) : failed to evaluate '{expr}': {e}",
                    std::process::id()
                );
                exit(2);
            }
        }
    }
    if !opts.tolerated.is_empty() && !opts.quiet {
        eprintln!(
            "[NOTICE]   ({}) : accepted for compatibility, no effect in sluice: {}",
            std::process::id(),
            opts.tolerated.join(" ")
        );
    }
    let embedded = opts.files.is_empty();
    let loaded = if embedded {
        appliance_config::load_str("<embedded default>", EMBEDDED_CONFIG)
    } else {
        appliance_config::load_paths(&opts.files)
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(errs) => {
            eprintln!("{errs}");
            eprintln!(
                "[ALERT]    ({}) : Fatal errors found in configuration.",
                std::process::id()
            );
            exit(1);
        }
    };
    if !opts.quiet {
        for d in &loaded.diagnostics {
            eprintln!("{d}");
        }
    }
    // Certificates are loaded and checked now, by `-c` too (as HAProxy does).
    let Some(tls) = workers::build_tls(&loaded.config, opts.quiet) else {
        exit(1);
    };
    if opts.check {
        if !opts.quiet {
            println!("Configuration file is valid");
        }
        exit(0);
    }
    if embedded && !opts.quiet {
        eprintln!("sluice: no -f given: running the embedded demo configuration:\n");
        eprintln!("{EMBEDDED_CONFIG}");
        eprintln!(
            "sluice: try `curl http://127.0.0.1:8080/` (twice: app1 then app2 answer). \
             Use your own HAProxy configuration with `sluice -f haproxy.cfg`.\n"
        );
    }
    let config = loaded.config;
    let daemon = (opts.daemon || config.global.daemon) && !opts.foreground;
    let daemon = if daemon {
        match os::daemonize() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!(
                    "[ALERT]    ({}) : cannot go daemon: {e}",
                    std::process::id()
                );
                exit(1);
            }
        }
    } else {
        None
    };
    if let Some(p) = opts.pidfile.as_ref().or(config.global.pidfile.as_ref()) {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!(
                "[ALERT]    ({}) : cannot write pidfile {}: {e}",
                std::process::id(),
                p.display()
            );
            exit(1);
        }
    }
    if let Err(e) = os::block_signals() {
        eprintln!(
            "[ALERT]    ({}) : cannot set up signals: {e}",
            std::process::id()
        );
        exit(1);
    }
    let inherited = match &opts.listeners_from {
        Some(path) => match os::fetch_listeners(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "[ALERT]    ({}) : -x {}: cannot get the listening sockets: {e}",
                    std::process::id(),
                    path.display()
                );
                exit(1);
            }
        },
        None => Vec::new(),
    };
    let code = workers::run(
        config,
        tls,
        workers::RunOptions {
            debug: opts.debug,
            soft_stop: opts.soft_stop,
            hard_stop: opts.hard_stop,
            quiet: opts.quiet,
            daemon,
            inherited,
        },
    );
    exit(code);
}
