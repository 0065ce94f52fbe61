//! The process model: plan the listeners, start one worker thread per `nbthread`
//! (pinned by `cpu-map`), wait until every worker listens, then handle signals.
//!
//! Owns: the worker threads, their mailboxes, and the shared listening sockets
//! (UNIX, abstract, `fd@`) bound once here and handed to each worker as a dup.
//! TLS contexts (certificates loaded and checked) are built by [`build_tls`] before
//! anything starts, and shared by all workers.
//!
//! Invariants: a start-up bind failure on any worker stops the whole process with an
//! alert naming the frontend and address; old processes (`-sf`/`-st`) are signalled
//! only after every new listener is up; SIGUSR1 is a soft stop (finish sessions),
//! SIGTERM/SIGINT a hard stop.

use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use appliance_config::model::netstack::IoMode;
use appliance_config::{Address, Config};
use dataplane::io::{Endpoint, ListenOptions};
use dataplane::mgmt::{Cli, CliListener};
use dataplane::proxy::{ListenPlan, ListenSpec, Message, Shared};
use dataplane::runtime::mailbox::{mailbox, Mailbox};
use dataplane::tls::TlsContexts;
use fallback_epoll::EpollDriver;

use crate::os;
use crate::poll_mode::PollPlan;

/// Where each frontend listens, decided once for all workers.
struct Planned {
    frontend: usize,
    /// Index of the bind line in the frontend.
    bind: usize,
    ep: Endpoint,
    /// A socket bound by the process (shared by all workers), or none (per worker).
    shared_fd: Option<i32>,
    opts: ListenOptions,
    spec: String,
    location: String,
}

/// Listening sockets shared by every worker and handed to a successor process
/// (`expose-fd listeners`): one process-wide socket per TCP bind, taken from the
/// predecessor (`-x`) when it had the same address, else bound here.
struct ExportedListeners {
    /// Bind TCP listeners in the process (not per worker).
    enabled: bool,
    /// Sockets received with `-x`, by address; what no bind takes is closed.
    inherited: Vec<(std::net::SocketAddr, std::os::fd::OwnedFd)>,
    /// What `_getsocks` hands out (kept open for the process's life).
    exports: Vec<(std::net::SocketAddr, i32)>,
}

fn plan_listeners(
    cfg: &Config,
    maxconn: u32,
    shared: &mut ExportedListeners,
) -> Result<Vec<Planned>, String> {
    let mut out = Vec::new();
    for (fi, fe) in cfg.frontends.iter().enumerate() {
        if fe.disabled {
            continue;
        }
        for (bi, b) in fe.binds.iter().enumerate() {
            let opts = ListenOptions {
                backlog: b.backlog.or(fe.maxconn).unwrap_or(maxconn).min(65535) as i32,
                reuse_port: true,
                v6only: if b.v6only {
                    Some(true)
                } else if b.v4v6 {
                    Some(false)
                } else {
                    None
                },
            };
            let bind_err = |e: std::io::Error| {
                format!(
                    "[{}:{}] : Starting frontend {}: cannot bind socket [{}]: {e}",
                    b.location.file, b.location.line, fe.name, b.spec
                )
            };
            let (ep, shared_fd) = match &b.addr {
                Address::Tcp(a) if shared.enabled => {
                    let fd = match shared.inherited.iter().position(|(x, _)| x == a) {
                        Some(i) => shared.inherited.swap_remove(i).1,
                        None => fallback_epoll::bind_tcp_listener(*a, &opts).map_err(bind_err)?,
                    };
                    let fd = fd.into_raw_fd();
                    shared.exports.push((*a, fd));
                    (Endpoint::Tcp(*a), Some(fd))
                }
                Address::Tcp(a) => (Endpoint::Tcp(*a), None),
                Address::Unix(p) => {
                    let l = bind_unix_replacing(p).map_err(bind_err)?;
                    (Endpoint::Unix(p.clone()), Some(l.into_raw_fd()))
                }
                Address::Abstract(n) => {
                    use std::os::linux::net::SocketAddrExt;
                    let addr = std::os::unix::net::SocketAddr::from_abstract_name(n.as_bytes())
                        .map_err(bind_err)?;
                    let l = UnixListener::bind_addr(&addr).map_err(bind_err)?;
                    (Endpoint::Abstract(n.clone()), Some(l.into_raw_fd()))
                }
                Address::Fd(n) => (Endpoint::Fd(*n), Some(*n)),
            };
            out.push(Planned {
                frontend: fi,
                bind: bi,
                ep,
                shared_fd,
                opts,
                spec: b.spec.clone(),
                location: format!("{}:{}", b.location.file, b.location.line),
            });
        }
    }
    Ok(out)
}

/// Binds a UNIX socket at `p` the way HAProxy does on reload: at a temporary name
/// first, then renamed over `p`, so a process still listening at `p` (the one a
/// reload replaces) keeps its socket while new clients reach the new one, and
/// `p` never disappears in between.
fn bind_unix_replacing(p: &std::path::Path) -> std::io::Result<UnixListener> {
    let mut tmp = p.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let l = UnixListener::bind(&tmp)?;
    if let Err(e) = std::fs::rename(&tmp, p) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(l)
}

/// Bind the `stats socket` lines (before the workers start: a failure stops the
/// start-up like a frontend's bind would).
fn bind_cli_sockets(
    cfg: &Config,
) -> Result<Vec<(CliListener, appliance_config::CliLevel, bool)>, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for s in &cfg.global.stats_sockets {
        let err = |e: std::io::Error| {
            format!(
                "[{}:{}] : stats socket: cannot bind socket [{}]: {e}",
                s.location.file, s.location.line, s.addr
            )
        };
        let l = match &s.addr {
            Address::Tcp(a) => CliListener::Tcp(std::net::TcpListener::bind(a).map_err(err)?),
            Address::Unix(p) => {
                let l = bind_unix_replacing(p).map_err(err)?;
                if let Some(mode) = s.mode {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                        .map_err(err)?;
                }
                CliListener::Unix(l)
            }
            Address::Abstract(n) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(n.as_bytes())
                    .map_err(err)?;
                CliListener::Unix(UnixListener::bind_addr(&addr).map_err(err)?)
            }
            Address::Fd(n) => os::inherited_cli_listener(*n).map_err(err)?,
        };
        out.push((l, s.level, s.expose_fd));
    }
    Ok(out)
}

/// Options of the run decided by the command line.
pub struct RunOptions {
    /// `-d`: traffic traces on stderr.
    pub debug: bool,
    pub soft_stop: Vec<i32>,
    pub hard_stop: Vec<i32>,
    pub quiet: bool,
    /// In daemon mode: told once everything listens, so the launcher exits 0.
    pub daemon: Option<os::Daemon>,
    /// `-x`: listening sockets received from the previous process.
    pub inherited: Vec<(std::net::SocketAddr, std::os::fd::OwnedFd)>,
}

/// Build (load and check) every TLS context of `config`: print warnings unless
/// `quiet`, and the alerts of every error; `None` when there was an error.
pub fn build_tls(config: &Config, quiet: bool) -> Option<TlsContexts> {
    let pid = std::process::id();
    match TlsContexts::build(config) {
        Ok(t) => {
            if !quiet {
                for w in &t.warnings {
                    eprintln!("[WARNING]  ({pid}) : config : {w}");
                }
            }
            Some(t)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("[ALERT]    ({pid}) : config : {e}");
            }
            eprintln!(
                "[ALERT]    ({pid}) : config : Fatal errors found in configuration (TLS certificates)."
            );
            None
        }
    }
}

/// Run the proxy until stopped. Returns the process exit code.
pub fn run(config: Config, tls: TlsContexts, ro: RunOptions) -> i32 {
    let nofile = os::raise_nofile();
    let poll = if config.global.io_mode == IoMode::Poll {
        match PollPlan::new(
            &config,
            config.global.nbthread.map(|n| n as usize),
            os::cpu_count(),
        ) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                eprintln!("[ALERT]    ({}) : {e}", std::process::id());
                return 1;
            }
        }
    } else {
        None
    };
    // Every queue of every port, opened here in order (fanout numbering).
    let mut poll_ports = match poll.as_ref().map(|p| p.open_ports()) {
        Some(Ok(ports)) => ports.into_iter().map(Some).collect(),
        Some(Err(e)) => {
            eprintln!("[ALERT]    ({}) : {e}", std::process::id());
            return 1;
        }
        None => Vec::new(),
    };
    let nbthread = match &poll {
        Some(p) => p.workers(),
        None => config
            .global
            .nbthread
            .map(|n| n as usize)
            .unwrap_or_else(os::cpu_count)
            .max(1),
    };
    // HAProxy derives maxconn from the descriptor limit: two per connection plus
    // some for listeners and checks.
    let derived = ((nofile.saturating_sub(100)) / 2).clamp(64, 1_000_000) as u32;
    let maxconn = config.global.maxconn.unwrap_or(derived);
    let thread_cpus = config.global.thread_cpus(nbthread as u32);
    // Process-wide TCP listeners when they are to be passed on (or were received):
    // the same sockets then live from one process to the next. Not in poll mode,
    // whose listeners are not kernel sockets.
    let mut shared_listeners = ExportedListeners {
        enabled: poll.is_none()
            && (config.global.stats_sockets.iter().any(|s| s.expose_fd)
                || !ro.inherited.is_empty()),
        inherited: ro.inherited,
        exports: Vec::new(),
    };
    let plan = match plan_listeners(&config, maxconn, &mut shared_listeners) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e}", std::process::id());
            return 1;
        }
    };
    let cli_sockets = match bind_cli_sockets(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e}", std::process::id());
            return 1;
        }
    };
    let cli_timeout = config
        .global
        .stats_timeout
        .unwrap_or(Duration::from_secs(10));
    let listener_count = plan.len() + cli_sockets.len();
    let hard_stop_after = config.global.hard_stop_after;
    let user = config.global.user.clone();
    let group = config.global.group.clone();
    let (uid, gid) = (config.global.uid, config.global.gid);
    let chroot = config.global.chroot.clone();
    let shared = Shared::with_tls(config, maxconn, nbthread, ro.debug, tls);
    let poll_plan = poll.clone();

    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut mailboxes: Vec<Mailbox<Message>> = Vec::new();
    let mut handles = Vec::new();
    for id in 0..nbthread {
        let (tx, inbox) = mailbox::<Message>(1024);
        mailboxes.push(tx);
        let mut listens = Vec::new();
        for p in &plan {
            let plan_kind = match p.shared_fd {
                Some(fd) => match os::dup_cloexec(fd) {
                    Ok(d) => ListenPlan::Inherited(d),
                    Err(e) => {
                        eprintln!(
                            "[ALERT]    ({}) : cannot share socket [{}]: {e}",
                            std::process::id(),
                            p.spec
                        );
                        return 1;
                    }
                },
                None => ListenPlan::PerWorker(p.ep.clone()),
            };
            listens.push(ListenSpec {
                frontend: p.frontend,
                bind: p.bind,
                location: p.location.clone(),
                plan: plan_kind,
                opts: p.opts.clone(),
            });
        }
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let cpus = thread_cpus.get(id).cloned().flatten();
        let poll = poll
            .clone()
            .zip(poll_ports.get_mut(id).and_then(Option::take));
        let h = std::thread::Builder::new()
            .name(format!("sluice-w{id}"))
            .spawn(move || {
                if let Some(cpus) = cpus {
                    let cpus: Vec<usize> = cpus.iter().map(|&c| c as usize).collect();
                    if let Err(e) = os::pin_current_thread(&cpus) {
                        eprintln!(
                            "[WARNING]  ({}) : cpu-map: cannot pin thread {}: {e}",
                            std::process::id(),
                            id + 1
                        );
                    }
                }
                let report = |r| {
                    let _ = ready.send(r);
                };
                if let Some((plan, queues)) = poll {
                    let driver = match plan.driver(id, queues) {
                        Ok(d) => d,
                        Err(e) => {
                            report(Err(e));
                            return None;
                        }
                    };
                    return dataplane::proxy::run_worker(
                        id, driver, shared, listens, inbox, report,
                    )
                    .ok();
                }
                let driver = match EpollDriver::new() {
                    Ok(d) => d,
                    Err(e) => {
                        report(Err(format!("cannot create the epoll reactor: {e}")));
                        return None;
                    }
                };
                dataplane::proxy::run_worker(id, driver, shared, listens, inbox, report).ok()
            })
            .expect("spawn worker thread");
        handles.push(h);
    }
    drop(ready_tx);
    // The shared sockets were dup'ed for every worker: close the originals.
    for p in &plan {
        if let (Some(fd), Endpoint::Unix(_) | Endpoint::Abstract(_)) = (p.shared_fd, &p.ep) {
            os::close(fd);
        }
    }
    // Workers may now ask each other for idle connections (takeover).
    let _ = shared.peers.set(mailboxes.clone());
    for _ in 0..nbthread {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("[ALERT]    ({}) : {e}", std::process::id());
                shared.terminate.store(true, Ordering::Relaxed);
                for m in &mailboxes {
                    let _ = m.send(Message::HardStop);
                }
                return 1;
            }
            Err(_) => return 1,
        }
    }
    // The management CLI, served on threads of its own.
    if !cli_sockets.is_empty() {
        let cli = Cli::new(
            shared.clone(),
            mailboxes.clone(),
            env!("CARGO_PKG_VERSION").to_string(),
            listener_count,
        );
        cli.set_exports(shared_listeners.exports.clone());
        for (l, level, expose_fd) in cli_sockets {
            if let Err(e) = dataplane::mgmt::serve(cli.clone(), l, level, cli_timeout, expose_fd) {
                eprintln!(
                    "[ALERT]    ({}) : cannot start the CLI: {e}",
                    std::process::id()
                );
                return 1;
            }
        }
    }
    // Everything listens: take over from old processes, then drop privileges.
    for &pid in &ro.soft_stop {
        let _ = os::kill(pid, libc::SIGUSR1);
    }
    for &pid in &ro.hard_stop {
        let _ = os::kill(pid, libc::SIGTERM);
    }
    if let Some(dir) = chroot {
        if let Err(e) = os::chroot(&dir.to_string_lossy()) {
            eprintln!(
                "[ALERT]    ({}) : cannot chroot to {}: {e}",
                std::process::id(),
                dir.display()
            );
            return 1;
        }
    }
    let uid = uid.or_else(|| {
        user.as_deref()
            .and_then(|u| os::user_ids(u).map(|(u, _)| u))
    });
    let gid = gid
        .or_else(|| group.as_deref().and_then(os::group_id))
        .or_else(|| {
            user.as_deref()
                .and_then(|u| os::user_ids(u).map(|(_, g)| g))
        });
    if let Err(e) = os::set_ids(uid, gid) {
        eprintln!(
            "[ALERT]    ({}) : cannot drop privileges: {e}",
            std::process::id()
        );
        return 1;
    }
    if !ro.quiet {
        eprintln!(
            "[NOTICE]   ({}) : sluice started: {} worker thread(s), {}, maxconn {}.",
            std::process::id(),
            nbthread,
            match &poll_plan {
                Some(p) => p.describe(),
                None => "epoll mode".to_string(),
            },
            maxconn
        );
    }
    if let Some(d) = ro.daemon {
        d.ready();
    }

    // Signals arrive on a dedicated thread; this one joins the workers.
    let sig_shared = shared.clone();
    let sig_mailboxes = mailboxes.clone();
    std::thread::Builder::new()
        .name("sluice-signals".into())
        .spawn(move || loop {
            let Ok(sig) = os::wait_signal() else { return };
            match sig {
                libc::SIGUSR1 => {
                    eprintln!(
                        "[NOTICE]   ({}) : soft stop requested (SIGUSR1): finishing sessions.",
                        std::process::id()
                    );
                    sig_shared.stopping.store(true, Ordering::Relaxed);
                    for m in &sig_mailboxes {
                        let _ = m.send(Message::SoftStop);
                    }
                    if let Some(d) = hard_stop_after {
                        let sh = sig_shared.clone();
                        let mbs = sig_mailboxes.clone();
                        std::thread::spawn(move || {
                            std::thread::sleep(d);
                            sh.terminate.store(true, Ordering::Relaxed);
                            for m in &mbs {
                                let _ = m.send(Message::HardStop);
                            }
                        });
                    }
                }
                libc::SIGHUP => {
                    eprintln!(
                        "[NOTICE]   ({}) : SIGHUP received (reload with -sf instead).",
                        std::process::id()
                    );
                }
                _ => {
                    sig_shared.terminate.store(true, Ordering::Relaxed);
                    for m in &sig_mailboxes {
                        let _ = m.send(Message::HardStop);
                    }
                }
            }
        })
        .expect("spawn signal thread");

    let mut total: Option<dataplane::proxy::stats::WorkerStats> = None;
    for h in handles {
        if let Ok(Some(stats)) = h.join() {
            match &mut total {
                Some(t) => t.merge(&stats),
                None => total = Some(stats),
            }
        }
    }
    0
}
