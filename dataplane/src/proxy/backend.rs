//! A backend as one worker sees it: choosing a server (load balancing, `maxconn`
//! queueing, redispatch), opening connections to it (with `timeout connect`), and the
//! worker's idle connection pool per server.
//!
//! Owns: the worker's [`Balancer`] for the backend, its queue of waiting requests, and
//! its idle server connections. Invariants:
//! - a [`ServerSlot`] is held for exactly as long as a request is assigned to a
//!   server; dropping it hands the slot to the oldest queued request (any worker)
//!   or releases it (see `queue`);
//! - the `maxconn` check and the increment are one atomic step (no overshoot across
//!   workers);
//! - idle connections live in one [`ServerPool`] per server (sans-IO, see `pool`:
//!   LRU order, HAProxy's entry rules and purge arithmetic, temporary vs permanent
//!   takes by type); an idle connection holds no buffer and is taken out
//!   permanently (moved) — it cannot be in the pool and in use at once; connections
//!   the server closed while idle are killed when found (at take time and at each
//!   housekeeping tick) and counted, never handed out;
//! - every connection to a server carries an [`InUse`] token while outside the
//!   pool, so `used` / `max_used` / `est_need` are exact;
//! - connections to `ssl` servers are TLS before anyone sees them: the handshake is
//!   part of connecting (bounded by `timeout connect`, a failure counts as a
//!   connection error and is retried like one), and an idle TLS connection is
//!   reused only for the same SNI (`sni_key`).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use appliance_config::{Address, Backend, HttpReuse};

use crate::io::{Driver, Endpoint, Stream};
use crate::lb::{Algorithm, Balancer, HashType, LbKey, Pick, ServerView};
use crate::proxy::pool::{
    ConnKey, ConnState, InUse, PoolLimits, PoolSnapshot, PutOutcome, Release, ServerPool, Taken,
};
use crate::proxy::queue::{BackendQueue, Pending};
use crate::proxy::shared::{ServerState, Shared};
use crate::proxy::stats::{servers_conn_line, ConnRow, WorkerStats};
use crate::runtime::{self, clock, Timer};
use crate::tls::MaybeTls;

/// The pool key of an SNI: connections opened with different names are not
/// interchangeable.
pub fn sni_key(sni: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    match sni {
        None => 0,
        Some(n) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            n.hash(&mut h);
            h.finish() | 1
        }
    }
}

/// Why no server could be assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignError {
    /// No usable server (503).
    NoServer,
    /// Waited `timeout queue` in the queue (503, termination state `sQ`).
    QueueTimeout,
}

/// A request's claim on a server's `maxconn` slot.
pub struct ServerSlot {
    pub server: usize,
    backend: usize,
    state: Arc<ServerState>,
    queue: Arc<BackendQueue>,
}

impl ServerSlot {
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        crate::proxy::sessions::note_released(self.backend, self.server);
        // Waiting requests get the slot directly (FIFO, maxconn never exceeded).
        if !self.queue.hand_over(self.server) {
            self.state.conn_release();
        }
    }
}

/// How often a queued request re-checks for slots freed on other workers.
const QUEUE_RECHECK: Duration = Duration::from_millis(20);

/// The outcome of [`BackendRt::establish`].
pub struct Established<S> {
    pub slot: ServerSlot,
    pub stream: S,
    /// Hash of the SNI the connection was opened with (see [`sni_key`]).
    pub sni_key: u64,
    /// The connection came from `reuse` rather than a new connect.
    pub reused: bool,
    pub retries: u32,
    pub redispatched: bool,
    /// Worker-clock microseconds when a server was assigned / a connection obtained.
    pub t_queue: u64,
    pub t_connect: u64,
    /// Taken over from another worker's pool, with the requests it had served.
    pub taken_over: Option<u32>,
}

/// A pending takeover of another worker's idle connection: the connection and the
/// requests it served.
pub type Steal<S> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<(MaybeTls<S>, u32)>>>>;

/// Why no connection could be established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EstablishError {
    /// No usable server (503, `sC`).
    NoServer,
    /// `timeout queue` (503, `sQ`).
    QueueTimeout,
    /// Every retry failed to connect (503, `SC`).
    ConnectFailed { retries: u32 },
}

/// A backend's per-worker runtime.
pub struct BackendRt<S> {
    pub index: usize,
    shared: Arc<Shared>,
    balancer: RefCell<Balancer>,
    views: RefCell<Vec<ServerView>>,
    queue: Arc<BackendQueue>,
    pools: Vec<RefCell<ServerPool<MaybeTls<S>>>>,
    /// Where each server is reached (the CLI's `set server … addr` changes it).
    endpoints: RefCell<Vec<Endpoint>>,
    /// Servers whose address the CLI changed: a connection released to their pool
    /// is kept only if it goes to the current address.
    moved: Vec<std::cell::Cell<bool>>,
    worker: usize,
    /// This worker's HTTP/2 server connections open to every session
    /// (`http-reuse aggressive|always`).
    pub h2_shared: Rc<crate::h2::back::Upstreams>,
}

/// The pool settings of a server on one of `workers` workers. `pool-max-conn` is a
/// per-server total in HAProxy; each worker keeps its share (rounded up).
pub fn pool_limits(s: &appliance_config::Server, workers: usize) -> PoolLimits {
    let workers = workers.max(1) as u32;
    PoolLimits {
        max_idle: u32::try_from(s.pool_max_conn)
            .ok()
            .map(|m| m.div_ceil(workers)),
        low_idle: s.pool_low_conn,
        purge_delay_ms: s.pool_purge_delay.as_millis() as u64,
        max_reuse: u32::try_from(s.max_reuse).ok(),
    }
}

/// The data plane's endpoint for a configuration address.
pub fn endpoint_of(addr: &Address) -> Endpoint {
    match addr {
        Address::Tcp(a) => Endpoint::Tcp(*a),
        Address::Unix(p) => Endpoint::Unix(p.clone()),
        Address::Abstract(n) => Endpoint::Abstract(n.clone()),
        Address::Fd(n) => Endpoint::Fd(*n),
    }
}

fn algorithm_of(b: &Backend) -> (Algorithm, HashType) {
    use appliance_config::Balance as B;
    let algo = match &b.balance {
        B::RoundRobin => Algorithm::RoundRobin,
        B::StaticRr => Algorithm::StaticRr,
        B::LeastConn => Algorithm::LeastConn,
        B::First => Algorithm::First,
        B::Source => Algorithm::Source,
        B::Uri {
            whole, len, depth, ..
        } => Algorithm::Uri {
            whole: *whole,
            len: (*len > 0).then_some(*len as usize),
            depth: (*depth > 0).then_some(*depth as usize),
        },
        B::Hdr {
            name,
            use_domain_only,
        } => Algorithm::Hdr {
            name: name.clone(),
            use_domain_only: *use_domain_only,
        },
        B::Random(d) => Algorithm::Random { draws: *d },
        // The parser refuses url_param; map it to round-robin defensively.
        B::UrlParam(_) => Algorithm::RoundRobin,
    };
    let ht = match b.hash_type {
        appliance_config::HashType::MapBased => HashType::MapBased,
        appliance_config::HashType::Consistent => HashType::Consistent,
    };
    (algo, ht)
}

impl<S: Stream> BackendRt<S> {
    pub fn new(shared: Arc<Shared>, index: usize, worker: usize) -> Self {
        let cfg = &shared.config.backends[index];
        let (algo, ht) = algorithm_of(cfg);
        let n = cfg.servers.len();
        let endpoints = cfg.servers.iter().map(|s| endpoint_of(&s.addr)).collect();
        BackendRt {
            index,
            balancer: RefCell::new(
                Balancer::new(
                    algo,
                    ht,
                    false,
                    0x9E37_79B9 ^ ((worker as u64 + 1) << 32) ^ index as u64,
                )
                .with_shared_ticket(shared.rr_tickets[index].clone()),
            ),
            views: RefCell::new(Vec::with_capacity(n)),
            queue: shared.queues[index].clone(),
            pools: cfg
                .servers
                .iter()
                .map(|s| RefCell::new(ServerPool::new(pool_limits(s, shared.nbthread))))
                .collect(),
            endpoints: RefCell::new(endpoints),
            moved: (0..n).map(|_| std::cell::Cell::new(false)).collect(),
            worker,
            h2_shared: Rc::default(),
            shared,
        }
    }

    pub fn config(&self) -> &Backend {
        &self.shared.config.backends[self.index]
    }

    pub fn server_state(&self, server: usize) -> &Arc<ServerState> {
        &self.shared.servers[self.index][server]
    }

    pub fn balancer_algorithm(&self) -> Algorithm {
        self.balancer.borrow().algorithm().clone()
    }

    fn pick(&self, key: LbKey<'_>, exclude: Option<usize>) -> Pick {
        let cfg = self.config();
        let mut views = self.views.borrow_mut();
        views.clear();
        let n = self.shared.balanced_servers(self.index);
        for (i, s) in cfg.servers[..n].iter().enumerate() {
            let st = &self.shared.servers[self.index][i];
            views.push(ServerView {
                weight: st.weight.load(Ordering::Relaxed),
                backup: s.backup,
                usable: st.usable() && Some(i) != exclude,
                cur_conns: st.cur(),
                maxconn: st.maxconn(),
            });
        }
        let p = self.balancer.borrow_mut().pick(&views, key);
        if p == Pick::NoServer && exclude.is_some() {
            // Redispatch found nothing else: the excluded server is still better than
            // nothing (HAProxy retries it).
            drop(views);
            return self.pick(key, None);
        }
        p
    }

    fn try_slot(&self, server: usize) -> Option<ServerSlot> {
        let st = self.server_state(server);
        let maxconn = st.maxconn();
        loop {
            let cur = st.cur_conns.load(Ordering::Relaxed);
            if maxconn != 0 && cur >= maxconn {
                return None;
            }
            if st
                .cur_conns
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                st.max_conns.fetch_max(cur + 1, Ordering::Relaxed);
                return Some(ServerSlot {
                    server,
                    backend: self.index,
                    state: st.clone(),
                    queue: self.queue.clone(),
                });
            }
        }
    }

    /// A slot handed over by the queue (already counted in `cur_conns`).
    fn granted_slot(&self, server: usize) -> ServerSlot {
        ServerSlot {
            server,
            backend: self.index,
            state: self.server_state(server).clone(),
            queue: self.queue.clone(),
        }
    }

    /// Assign a server to a request, queueing while all eligible servers are at
    /// `maxconn`, for at most `queue_timeout`. The queue is FIFO across workers.
    pub async fn assign(
        &self,
        key: LbKey<'_>,
        exclude: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<ServerSlot, AssignError> {
        let mut deadline = Timer::new();
        let mut recheck = Timer::new();
        let mut pending: Option<Arc<Pending>> = None;
        let mut bound: Option<usize> = None;
        let mut from_grant = false;
        let result = poll_fn(|cx| loop {
            if let Some(p) = &pending {
                if let Some(s) = p.granted() {
                    from_grant = true;
                    return Poll::Ready(Ok(self.granted_slot(s)));
                }
            }
            // Only a request that is not queued behind others may take a free slot.
            let may_take = match &pending {
                None => self.queue.is_empty(),
                Some(p) => self.queue.is_front(p),
            };
            if may_take {
                let target = match self.pick(key, exclude) {
                    Pick::NoServer => return Poll::Ready(Err(AssignError::NoServer)),
                    Pick::Server(i) => Some(i),
                    Pick::AllFull => None,
                };
                bound = target.filter(|_| self.hashing());
                if let Some(i) = target {
                    if let Some(slot) = self.try_slot(i) {
                        return Poll::Ready(Ok(slot));
                    }
                }
            }
            match &pending {
                Some(p) => p.set_waker(cx.waker()),
                None => {
                    pending = Some(self.queue.push(bound, cx.waker()));
                    if let Some(i) = bound {
                        self.server_state(i).queued.fetch_add(1, Ordering::Relaxed);
                    }
                    deadline.set_after(queue_timeout);
                    continue;
                }
            }
            if deadline.poll_expired(cx).is_ready() {
                return Poll::Ready(Err(AssignError::QueueTimeout));
            }
            // Slots freed without a hand-over (a server coming back, a weight
            // change) are noticed by the front waiter on this periodic re-check.
            recheck.set_after(Some(QUEUE_RECHECK));
            if recheck.poll_expired(cx).is_ready() {
                continue;
            }
            return Poll::Pending;
        })
        .await;
        if let Some(p) = pending {
            if let Some(i) = p.server {
                self.server_state(i).queued.fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(granted) = self.queue.remove(&p) {
                // A grant we did not use (we took a free slot ourselves, or gave
                // up): pass it on.
                if !from_grant {
                    drop(self.granted_slot(granted));
                }
            }
        }
        result
    }

    fn hashing(&self) -> bool {
        matches!(
            self.balancer.borrow().algorithm(),
            Algorithm::Source | Algorithm::Uri { .. } | Algorithm::Hdr { .. }
        )
    }

    /// Requests waiting in this backend's queue (all workers).
    pub fn queued(&self) -> u32 {
        self.queue.len()
    }

    /// Assign a server and get a connection to it: `reuse(server)` may hand over an
    /// existing connection; otherwise connect, retrying up to `retries` times (after
    /// the turn-around delay on the same server, or on another one when `option
    /// redispatch` says so).
    ///
    /// `sni_for(server)` names the SNI for a TLS server (`None` for clear servers);
    /// `reuse(server, sni_key)` must only hand out a connection opened with that key.
    pub async fn establish<D: Driver<Stream = S>>(
        &self,
        driver: &D,
        key: LbKey<'_>,
        mut sni_for: impl FnMut(usize) -> Option<String>,
        mut reuse: impl FnMut(usize, u64) -> Option<MaybeTls<S>>,
        mut steal: impl FnMut(usize, u64) -> Option<Steal<S>>,
        mut on_connect_error: impl FnMut(usize, &io::Error),
    ) -> Result<Established<MaybeTls<S>>, EstablishError> {
        let cfg = self.config();
        let queue_tmo = cfg.timeouts.queue.or(cfg.timeouts.connect);
        let mut exclude = None;
        let mut retries = 0u32;
        let mut redispatched = false;
        let mut slot: Option<ServerSlot> = None;
        let mut t_queue = clock::now_us();
        loop {
            let sl = match slot.take() {
                Some(sl) => sl,
                None => {
                    let sl = match self.assign(key, exclude, queue_tmo).await {
                        Ok(sl) => sl,
                        Err(AssignError::NoServer) => return Err(EstablishError::NoServer),
                        Err(AssignError::QueueTimeout) => return Err(EstablishError::QueueTimeout),
                    };
                    t_queue = clock::now_us();
                    sl
                }
            };
            let server = sl.server;
            crate::proxy::sessions::note_server(self.index, server);
            let sni = sni_for(server);
            let skey = sni_key(sni.as_deref());
            let done = |slot, stream, reused, taken_over| Established {
                slot,
                stream,
                sni_key: skey,
                reused,
                retries,
                redispatched,
                t_queue,
                t_connect: clock::now_us(),
                taken_over,
            };
            if let Some(stream) = reuse(server, skey) {
                return Ok(done(sl, stream, true, None));
            }
            // Another worker's idle connection (`tune.idle-pool.shared`).
            if let Some(steal) = steal(server, skey) {
                if let Some((stream, requests)) = steal.await {
                    return Ok(done(sl, stream, true, Some(requests)));
                }
            }
            // Boxed: only new connections pay for the connect (and TLS handshake) state.
            match Box::pin(self.connect(driver, server, sni.as_deref())).await {
                Ok(stream) => return Ok(done(sl, stream, false, None)),
                Err(e) => {
                    on_connect_error(server, &e);
                    retries += 1;
                    if retries > cfg.retries {
                        return Err(EstablishError::ConnectFailed {
                            retries: retries - 1,
                        });
                    }
                    if self.redispatch_on(retries) {
                        exclude = Some(server);
                        redispatched = true;
                        drop(sl);
                    } else {
                        runtime::sleep(self.retry_delay()).await;
                        slot = Some(sl);
                    }
                }
            }
        }
    }

    /// Open a connection to `server`, bounded by `timeout connect`; for an `ssl`
    /// server, also the TLS handshake (presenting `sni`), bounded the same way.
    pub async fn connect<D: Driver<Stream = S>>(
        &self,
        driver: &D,
        server: usize,
        sni: Option<&str>,
    ) -> io::Result<MaybeTls<S>> {
        let mut stream = driver.connect(&self.endpoints.borrow()[server], None)?;
        let limit = self.config().timeouts.connect;
        match runtime::timeout(limit, poll_fn(|cx| stream.poll_connect(cx))).await {
            Ok(Ok(())) => {
                let _ = stream.set_nodelay(true);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")),
        }
        let Some(ctx) = self.shared.tls.server(self.index, server) else {
            return Ok(MaybeTls::Plain(stream));
        };
        let name = crate::tls::server_name(sni, stream.peer_addr());
        crate::tls::connect(ctx, stream, name, limit)
            .await
            .map_err(|e| io::Error::other(format!("SSL handshake failure: {e}")))
    }

    /// Whether `server` is reached over TLS.
    pub fn server_is_tls(&self, server: usize) -> bool {
        self.shared.tls.server(self.index, server).is_some()
    }

    /// The pool key of a connection to `server` opened with SNI key `sni_key`.
    pub fn pool_key(&self, server: usize, sni_key: u64) -> ConnKey {
        ConnKey::new(server, sni_key, None, None)
    }

    /// Count a connection to `server` as in use (new or reused) for its lifetime.
    pub fn begin_use(&self, server: usize) -> InUse {
        self.pools[server].borrow().begin_use()
    }

    /// May a connection to `server` that served `requests` serve another one
    /// (`max-reuse`)?
    pub fn may_reuse(&self, server: usize, requests: u32) -> bool {
        self.pools[server].borrow().limits().may_reuse(requests)
    }

    /// Take an idle connection to `server` allowed by the reuse mode: `first` is true
    /// for the first request of a client session. HAProxy's table: `safe` gives a
    /// first request nothing, `aggressive` only safe connections, `always` safe then
    /// idle; a later request tries idle, then safe.
    pub fn take_idle(
        &self,
        server: usize,
        mode: HttpReuse,
        first: bool,
        sni_key: u64,
    ) -> Option<Taken<MaybeTls<S>>> {
        const LATER: &[ConnState] = &[ConnState::Idle, ConnState::Safe];
        let order: &[ConnState] = match (mode, first) {
            (HttpReuse::Never, _) | (HttpReuse::Safe, true) => return None,
            (HttpReuse::Aggressive, true) => &[ConnState::Safe],
            (HttpReuse::Always, true) => &[ConnState::Safe, ConnState::Idle],
            _ => LATER,
        };
        // A connection the server closed (or wrote to) while idle is killed here.
        let taken =
            self.pools[server]
                .borrow_mut()
                .take(self.pool_key(server, sni_key), order, |c| {
                    c.idle_input_pending()
                });
        self.publish_idle(server);
        taken
    }

    /// Tell the other workers how many idle connections this one keeps for
    /// `server` (where a takeover may find one).
    fn publish_idle(&self, server: usize) {
        let n = self.pools[server].borrow().len() as u32;
        if let Some(c) = self.shared.servers[self.index][server]
            .idle_by_worker
            .get(self.worker)
        {
            c.store(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `set server … addr|port`, `add server`: new connections to `server` go to
    /// `addr`; its idle connections (to the old address) are closed, and
    /// connections in use are closed when released instead of going back to the
    /// pool. Without an address (`del server`), only the idle connections close.
    pub fn set_addr(&self, server: usize, addr: Option<std::net::SocketAddr>) {
        if server >= self.pools.len() {
            return;
        }
        if let Some(addr) = addr {
            self.endpoints.borrow_mut()[server] = Endpoint::Tcp(addr);
            self.moved[server].set(true);
        }
        self.pools[server].borrow_mut().clear();
        self.publish_idle(server);
        self.h2_shared.close_idle_of(self.index, server);
    }

    /// Whether a connection to `server` goes where the server is now.
    fn at_current_addr(&self, server: usize, c: &MaybeTls<S>) -> bool {
        if !self.moved[server].get() {
            return true;
        }
        match &self.endpoints.borrow()[server] {
            Endpoint::Tcp(a) => c.peer_addr() == Some(*a),
            _ => true,
        }
    }

    /// Offer a connection for reuse (it must be at a message boundary and hold no
    /// pending input); the pool may refuse it (then it is closed).
    pub fn put_idle(&self, server: usize, r: Release<MaybeTls<S>>) -> PutOutcome {
        if self.config().http_reuse == HttpReuse::Never
            || self.shared.is_stopping()
            || !self.at_current_addr(server, &r.conn)
        {
            return PutOutcome::Refused;
        }
        let out = self.pools[server].borrow_mut().put(r, clock::now_ms());
        self.publish_idle(server);
        out
    }

    /// Number of idle connections kept for `server` on this worker.
    pub fn idle_count(&self, server: usize) -> usize {
        self.pools[server].borrow().len()
    }

    /// The pool figures of `server` on this worker.
    pub fn pool_snapshot(&self, server: usize) -> PoolSnapshot {
        self.pools[server].borrow().snapshot()
    }

    /// Housekeeping (every tick): kill idle connections the server closed, run each
    /// server's purge when its `pool-purge-delay` elapsed, publish the pool figures
    /// to `stats`, and with `-d` print a `show servers conn` line per purged server.
    pub fn purge_idle(&self, stats: &mut WorkerStats) {
        let now = clock::now_ms();
        // Idle HTTP/2 connections of the shared set, with the backend's delay
        // (the first server's `pool-purge-delay`; they are per server in HAProxy).
        if let Some(s) = self.config().servers.first() {
            self.h2_shared
                .purge(now, s.pool_purge_delay.as_millis() as u64);
        }
        for (i, pool) in self.pools.iter().enumerate() {
            let mut pool = pool.borrow_mut();
            pool.sweep(|c| c.idle_input_pending());
            let purged = pool.purge(now).is_some();
            let snap = pool.snapshot();
            drop(pool);
            self.publish_idle(i);
            stats.pool_figures(self.index, i, &snap);
            if purged && self.shared.debug {
                let line = servers_conn_line(&self.conn_row(i, &snap));
                eprintln!("{line}");
            }
        }
    }

    /// This worker's `show servers conn` row for `server`.
    pub fn conn_row(&self, server: usize, snap: &PoolSnapshot) -> ConnRow {
        let threads = self.shared.nbthread.max(self.worker + 1);
        let mut row = ConnRow::for_server(self.config(), server, threads);
        row.served = self.server_state(server).cur();
        row.used_cur = snap.used;
        row.used_max = snap.max_used;
        row.need_est = snap.est_need;
        row.unsafe_nb = snap.idle;
        row.safe_nb = snap.safe;
        row.idle_cur = snap.idle + snap.safe;
        row.idle_per_thr[self.worker] = snap.idle + snap.safe;
        // HTTP/2 connections of the worker's shared set: idle ones are safe (HAProxy
        // puts an HTTP/2 connection in the safe tree when its last stream ends),
        // busy ones are in use.
        let h2 = self.h2_shared.figures(self.index, server);
        row.safe_nb += h2.idle;
        row.idle_cur += h2.idle;
        row.idle_per_thr[self.worker] += h2.idle;
        row.used_cur += h2.busy;
        row
    }

    /// This worker's `show servers conn` rows, one per server (read now, not at the
    /// last housekeeping tick).
    pub fn conn_rows(&self) -> Vec<ConnRow> {
        (0..self.pools.len())
            .map(|i| self.conn_row(i, &self.pool_snapshot(i)))
            .collect()
    }

    /// Drop every idle connection (soft stop).
    pub fn close_idle(&self) {
        for (i, pool) in self.pools.iter().enumerate() {
            pool.borrow_mut().clear();
            self.publish_idle(i);
        }
        self.h2_shared.clear();
    }

    /// The turn-around delay before retrying the same server (HAProxy: min(timeout
    /// connect, 1s)).
    pub fn retry_delay(&self) -> Duration {
        self.config()
            .timeouts
            .connect
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }

    /// Whether retry number `attempt` (1-based) of `retries` should redispatch to
    /// another server (`option redispatch [interval]`; -1 means the last retry).
    pub fn redispatch_on(&self, attempt: u32) -> bool {
        let cfg = self.config();
        match cfg.redispatch {
            None => false,
            Some(0) => false,
            Some(p) if p > 0 => attempt.is_multiple_of(p as u32),
            Some(n) => {
                let before_last = n.unsigned_abs();
                attempt + before_last > cfg.retries
            }
        }
    }
}
