//! State shared by all workers: the configuration, each server's operational state,
//! and the connection counts that `maxconn` limits need across cores.
//!
//! Owns: [`Shared`], [`ServerState`], [`ProxyCounts`], and the spare server slots
//! of dynamic servers (`add server` / `del server`): each backend whose balance
//! algorithm is dynamic gets [`SPARE_SERVERS`] extra servers at the end of its list,
//! built before the workers start, not live (and in maintenance) until the CLI
//! fills one. Readers skip servers that are not live ([`ServerState::is_live`]) and
//! name servers with [`Shared::server_name`]. Invariants:
//! - only atomics are touched on the request path (no lock);
//! - a server's health is written by its health checker alone, its admin state by
//!   the operator (CLI) alone; readers combine them in [`ServerState::usable`];
//! - per-request statistics are per worker (see `stats`), not here.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use appliance_config::Config;

/// Operational state of one server, shared by every worker.
#[derive(Debug)]
pub struct ServerState {
    /// Health as last decided by checks (starts up; HAProxy starts checked servers
    /// as up too, then the first checks settle it).
    pub up: AtomicBool,
    /// Administrative maintenance (`disabled`, CLI `disable server`).
    pub maint: AtomicBool,
    /// Administrative drain (weight 0 for new traffic).
    pub drain: AtomicBool,
    /// Current effective weight (CLI `set weight`).
    pub weight: AtomicU32,
    /// Connections currently established or being established, all workers.
    pub cur_conns: AtomicU32,
    /// Highest `cur_conns` seen.
    pub max_conns: AtomicU32,
    /// Requests waiting for this server (all workers).
    pub queued: AtomicU32,
    /// `maxconn` (0: no limit), from the configuration, changed by the CLI's `set
    /// maxconn server`.
    pub maxconn: AtomicU32,
    /// Seconds (wall clock) of the last state change.
    pub last_change: AtomicU64,
    /// Last check result for the CLI and logs ("L4OK", "L7STS" ...), check code,
    /// duration in ms.
    pub last_check: Mutex<CheckResult>,
    /// Idle connections each worker keeps for this server (published by the
    /// worker after each pool change): where a takeover may find one.
    pub idle_by_worker: Box<[AtomicU32]>,
    /// The address set by the CLI (`set server … addr|port`), `None` while the
    /// configuration's holds. Read by the CLI and the health checker, never on the
    /// request path (workers keep their own copy, updated through the mailbox).
    pub addr: Mutex<Option<std::net::SocketAddr>>,
    /// Whether the server exists: configured servers until `del server`, spare
    /// slots once `add server` filled them.
    pub live: AtomicBool,
    /// The name `add server` gave a spare slot (set once: a slot is only re-used
    /// by a server of the same name).
    pub dyn_name: OnceLock<String>,
    /// The id of a dynamic server (0 for configured ones).
    pub dyn_id: AtomicU32,
    /// The weight `add server` gave a dynamic server (its initial weight).
    pub dyn_weight: AtomicU32,
}

/// The last health-check outcome of a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckResult {
    pub status: &'static str,
    pub code: Option<u16>,
    pub duration_ms: u64,
    pub info: String,
}

impl ServerState {
    pub fn new(weight: u32, disabled: bool, workers: usize) -> Self {
        ServerState {
            up: AtomicBool::new(true),
            maint: AtomicBool::new(disabled),
            drain: AtomicBool::new(false),
            weight: AtomicU32::new(weight),
            cur_conns: AtomicU32::new(0),
            max_conns: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            maxconn: AtomicU32::new(0),
            last_change: AtomicU64::new(0),
            last_check: Mutex::new(CheckResult::default()),
            idle_by_worker: (0..workers.max(1)).map(|_| AtomicU32::new(0)).collect(),
            addr: Mutex::new(None),
            live: AtomicBool::new(true),
            dyn_name: OnceLock::new(),
            dyn_id: AtomicU32::new(0),
            dyn_weight: AtomicU32::new(0),
        }
    }

    /// Up, not in maintenance, not draining.
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed)
            && !self.maint.load(Ordering::Relaxed)
            && !self.drain.load(Ordering::Relaxed)
    }

    /// Count a connection in; returns the new count.
    pub fn conn_acquire(&self) -> u32 {
        let n = self.cur_conns.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_conns.fetch_max(n, Ordering::Relaxed);
        n
    }

    pub fn conn_release(&self) {
        self.cur_conns.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn cur(&self) -> u32 {
        self.cur_conns.load(Ordering::Relaxed)
    }

    /// The current `maxconn` (0: no limit).
    pub fn maxconn(&self) -> u32 {
        self.maxconn.load(Ordering::Relaxed)
    }

    /// Set the operator's admin state (the CLI's `set server … state`, `enable|disable
    /// server`, the stats page's admin actions): every worker reads it on its next
    /// server choice. Returns whether it changed (the change time is then updated).
    pub fn set_admin(&self, maint: bool, drain: bool) -> bool {
        let was = (
            self.maint.swap(maint, Ordering::Relaxed),
            self.drain.swap(drain, Ordering::Relaxed),
        );
        let changed = was != (maint, drain);
        if changed {
            self.last_change
                .store(crate::mgmt::wall_us() / 1_000_000, Ordering::Relaxed);
        }
        changed
    }

    /// Whether the server exists (see [`ServerState::live`]).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The address set by the CLI, if any.
    pub fn addr_override(&self) -> Option<std::net::SocketAddr> {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `clear counters`: forget the highest values (HAProxy sets them to 0).
    pub fn clear_max(&self) {
        self.max_conns.store(0, Ordering::Relaxed);
    }
}

/// A frontend's administrative state (the CLI's `disable|enable|shutdown frontend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FeState {
    /// Accepting.
    Open = 0,
    /// Not accepting: connections wait in the listeners' backlogs.
    Paused = 1,
    /// Listeners closed for good (also a `disabled` frontend).
    Stopped = 2,
}

impl Shared {
    pub fn fe_state(&self, fe: usize) -> FeState {
        match self.fe_state[fe].load(Ordering::Acquire) {
            0 => FeState::Open,
            1 => FeState::Paused,
            _ => FeState::Stopped,
        }
    }

    pub fn set_fe_state(&self, fe: usize, s: FeState) {
        self.fe_state[fe].store(s as u8, Ordering::Release);
    }
}

/// Connection counts of a frontend or the whole process.
#[derive(Debug, Default)]
pub struct ProxyCounts {
    pub cur_conns: AtomicU32,
    pub cum_conns: AtomicU64,
    pub max_conns: AtomicU32,
    /// The `maxconn` in force (configuration, then the CLI's `set maxconn`).
    pub limit: AtomicU32,
}

impl ProxyCounts {
    /// Counts limited to `limit` connections.
    pub fn with_limit(limit: u32) -> Self {
        ProxyCounts {
            limit: AtomicU32::new(limit),
            ..ProxyCounts::default()
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn acquire(&self) {
        let n = self.cur_conns.fetch_add(1, Ordering::Relaxed) + 1;
        self.cum_conns.fetch_add(1, Ordering::Relaxed);
        self.max_conns.fetch_max(n, Ordering::Relaxed);
    }

    /// Count a connection in only if that keeps the count within `max` (one atomic
    /// step: several workers cannot overshoot together).
    pub fn try_acquire(&self, max: u32) -> bool {
        let mut cur = self.cur_conns.load(Ordering::Relaxed);
        loop {
            if cur >= max {
                return false;
            }
            match self.cur_conns.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.cum_conns.fetch_add(1, Ordering::Relaxed);
                    self.max_conns.fetch_max(cur + 1, Ordering::Relaxed);
                    return true;
                }
                Err(now) => cur = now,
            }
        }
    }

    pub fn release(&self) {
        self.cur_conns.fetch_sub(1, Ordering::Relaxed);
    }

    /// `clear counters` (`all`: the cumulated count too; HAProxy sets them to 0).
    pub fn clear(&self, all: bool) {
        self.max_conns.store(0, Ordering::Relaxed);
        if all {
            self.cum_conns.store(0, Ordering::Relaxed);
        }
    }

    pub fn cur(&self) -> u32 {
        self.cur_conns.load(Ordering::Relaxed)
    }
}

/// Spare server slots per backend with a dynamic balance algorithm (`add server`).
pub const SPARE_SERVERS: usize = 16;

/// Whether `add server` may add to a backend: its balance algorithm must take
/// servers at run time (HAProxy's dynamic algorithms: not `static-rr`, not
/// map-based hashing).
pub fn dynamic_capable(b: &appliance_config::Backend) -> bool {
    use appliance_config::{Balance as B, HashType as H};
    match b.balance {
        B::StaticRr => false,
        B::RoundRobin | B::LeastConn | B::First | B::Random(_) => true,
        _ => b.hash_type == H::Consistent,
    }
}

/// The configuration of an unfilled spare slot.
fn spare_template() -> appliance_config::Server {
    let loaded = appliance_config::load_str(
        "spare",
        "backend spare\n    server spare 127.0.0.1:1 disabled\n",
    )
    .expect("the spare server template parses");
    let mut s = loaded.config.backends[0].servers[0].clone();
    s.name = String::new();
    s.addr_spec = String::new();
    s
}

/// Everything the workers share.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// `servers[backend index][server index]`.
    pub servers: Vec<Vec<Arc<ServerState>>>,
    /// One per frontend.
    pub frontends: Vec<ProxyCounts>,
    /// One per frontend: [`FeState`] as set by `disable|enable|shutdown frontend`.
    pub fe_state: Vec<AtomicU8>,
    /// Requests waiting for a server slot, one queue per backend.
    pub queues: Vec<Arc<crate::proxy::queue::BackendQueue>>,
    /// Round-robin tickets, one per backend (shared by every worker's balancer).
    pub rr_tickets: Vec<Arc<AtomicU64>>,
    /// Whole process.
    pub process: ProxyCounts,
    /// Effective global maxconn at start (`Hard_maxconn`; the limit in force, which
    /// `set maxconn global` may lower, is `process.limit`).
    pub maxconn: u32,
    /// Number of workers.
    pub nbthread: usize,
    /// Soft stop requested: stop accepting, finish what is in flight.
    pub stopping: AtomicBool,
    /// Hard stop requested: leave now.
    pub terminate: AtomicBool,
    /// Debug mode (`-d`): traffic traces on stderr.
    pub debug: bool,
    /// TLS contexts of the binds and servers (built and checked before the workers
    /// start; empty without TLS).
    pub tls: crate::tls::TlsContexts,
    /// TLS handshakes that failed on client connections (all workers).
    pub tls_handshake_failures: AtomicU64,
    /// Every worker's mailbox (set once the workers exist): idle-connection
    /// takeover asks another worker through it.
    pub peers: std::sync::OnceLock<Vec<crate::runtime::mailbox::Mailbox<crate::proxy::Message>>>,
    /// When the shared state was built (the process start, for the exporter's
    /// uptime) and the wall clock then, in seconds since the epoch.
    pub started: std::time::Instant,
    pub started_wall: u64,
    /// Configured servers per backend (the spare slots follow them).
    pub static_servers: Vec<usize>,
    /// Per backend: how many spare slots were ever filled (they are filled in
    /// order), so the balancer looks at `static_servers + used_spares` servers only.
    pub used_spares: Vec<std::sync::atomic::AtomicUsize>,
}

impl Shared {
    pub fn new(config: Config, maxconn: u32, nbthread: usize, debug: bool) -> Arc<Shared> {
        Self::with_tls(config, maxconn, nbthread, debug, Default::default())
    }

    /// Like [`Shared::new`], with the TLS contexts built from `config`.
    pub fn with_tls(
        config: Config,
        maxconn: u32,
        nbthread: usize,
        debug: bool,
        tls: crate::tls::TlsContexts,
    ) -> Arc<Shared> {
        let mut config = config;
        let static_servers: Vec<usize> = config.backends.iter().map(|b| b.servers.len()).collect();
        if config.backends.iter().any(dynamic_capable) {
            let spare = spare_template();
            for b in config.backends.iter_mut().filter(|b| dynamic_capable(b)) {
                b.servers
                    .extend(std::iter::repeat_n(spare.clone(), SPARE_SERVERS));
            }
        }
        let servers: Vec<Vec<Arc<ServerState>>> = config
            .backends
            .iter()
            .map(|b| {
                b.servers
                    .iter()
                    .map(|s| {
                        let st = ServerState::new(s.weight, s.disabled, nbthread);
                        st.maxconn.store(s.maxconn, Ordering::Relaxed);
                        st.live.store(!s.name.is_empty(), Ordering::Relaxed);
                        Arc::new(st)
                    })
                    .collect()
            })
            .collect();
        let frontends = config
            .frontends
            .iter()
            .map(|f| ProxyCounts::with_limit(f.maxconn.unwrap_or(maxconn)))
            .collect();
        let fe_state = config
            .frontends
            .iter()
            .map(|f| {
                let s = if f.disabled {
                    FeState::Stopped
                } else {
                    FeState::Open
                };
                AtomicU8::new(s as u8)
            })
            .collect();
        let rr_tickets = config
            .backends
            .iter()
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let queues = config.backends.iter().map(|_| Arc::default()).collect();
        Arc::new(Shared {
            queues,
            rr_tickets,
            config,
            servers,
            frontends,
            fe_state,
            process: ProxyCounts::with_limit(maxconn),
            maxconn,
            nbthread,
            stopping: AtomicBool::new(false),
            terminate: AtomicBool::new(false),
            debug,
            tls,
            tls_handshake_failures: AtomicU64::new(0),
            peers: std::sync::OnceLock::new(),
            started: std::time::Instant::now(),
            started_wall: crate::mgmt::wall_us() / 1_000_000,
            used_spares: static_servers
                .iter()
                .map(|_| std::sync::atomic::AtomicUsize::new(0))
                .collect(),
            static_servers,
        })
    }

    /// Number of usable servers of a backend (`nbsrv`).
    pub fn nbsrv(&self, backend: usize) -> usize {
        self.servers
            .get(backend)
            .map_or(0, |s| s.iter().filter(|s| s.usable()).count())
    }

    /// The name of server `s` of backend `b` (a dynamic server's own).
    pub fn server_name(&self, b: usize, s: usize) -> &str {
        match self.servers[b][s].dyn_name.get() {
            Some(n) => n,
            None => &self.config.backends[b].servers[s].name,
        }
    }

    /// The initial weight of server `s` of backend `b` (configured, or given to
    /// `add server`).
    pub fn initial_weight(&self, b: usize, s: usize) -> u32 {
        let st = &self.servers[b][s];
        match st.dyn_name.get() {
            Some(_) => st.dyn_weight.load(Ordering::Relaxed),
            None => self.config.backends[b].servers[s].weight,
        }
    }

    /// The id of server `s` of backend `b` (`sid`).
    pub fn server_id(&self, b: usize, s: usize) -> u32 {
        match self.servers[b][s].dyn_id.load(Ordering::Relaxed) {
            0 => self.config.backends[b].servers[s].id,
            id => id,
        }
    }

    /// How many servers of backend `b` the balancer considers: the configured ones
    /// and the spare slots filled so far.
    pub fn balanced_servers(&self, b: usize) -> usize {
        (self.static_servers[b] + self.used_spares[b].load(Ordering::Acquire))
            .min(self.servers[b].len())
    }

    /// Whether server `s` of backend `b` exists (see [`ServerState::live`]).
    pub fn server_live(&self, b: usize, s: usize) -> bool {
        self.servers[b][s].is_live()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(cfg: &str) -> Arc<Shared> {
        let cfg = appliance_config::load_str("t.cfg", cfg).unwrap().config;
        Shared::new(cfg, 100, 2, false)
    }

    #[test]
    fn dynamic_backends_get_spare_slots_that_are_not_live() {
        let sh = shared(
            "backend rr\n server a 127.0.0.1:1\n\
             backend st\n balance static-rr\n server a 127.0.0.1:1\n\
             backend src\n balance source\n server a 127.0.0.1:1\n\
             backend cons\n balance source\n hash-type consistent\n server a 127.0.0.1:1\n",
        );
        let lens: Vec<usize> = sh.config.backends.iter().map(|b| b.servers.len()).collect();
        assert_eq!(lens, [1 + SPARE_SERVERS, 1, 1, 1 + SPARE_SERVERS]);
        assert_eq!(sh.static_servers, [1, 1, 1, 1]);
        assert!(sh.server_live(0, 0));
        for s in 1..=SPARE_SERVERS {
            assert!(!sh.server_live(0, s));
            assert!(!sh.servers[0][s].usable(), "a spare slot is never picked");
        }
        assert_eq!(sh.server_name(0, 0), "a");
        assert_eq!(sh.balanced_servers(0), 1);
        sh.servers[0][1].dyn_name.set("new".into()).unwrap();
        sh.servers[0][1].dyn_id.store(7, Ordering::Relaxed);
        sh.used_spares[0].store(1, Ordering::Relaxed);
        assert_eq!((sh.server_name(0, 1), sh.server_id(0, 1)), ("new", 7));
        assert_eq!(sh.balanced_servers(0), 2);
    }
}
