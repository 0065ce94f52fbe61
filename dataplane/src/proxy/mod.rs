//! The proxy pipeline of one worker: listeners, sessions (HTTP and TCP), backends,
//! health checks, logging — over any driver of the I/O seam.
//!
//! Owns: [`Worker`], built once per worker thread from the shared configuration, and
//! [`run_worker`], the thread's main function. Read next: `http::session` (the HTTP
//! transaction loop), `backend` (server choice, queue, pool), `tcp` (TCP mode),
//! `health` (checks), `log` (log lines).
//!
//! Client connections of TLS binds are handshaken in their session's task (see
//! [`accept_loop`]); sessions then see a [`MaybeTls`] stream either way.
//!
//! Invariants: a worker touches only its own sockets, timers, pools and counters;
//! cross-worker state is the read-mostly [`Shared`] (atomics only on the request
//! path); global and frontend `maxconn` pause accepting instead of refusing.

pub mod backend;
pub mod conn_key;
pub mod health;
pub mod http;
pub mod latency;
pub mod log;
pub mod pool;
pub mod queue;
pub mod sessions;
pub mod shared;
pub mod stats;
pub mod takeover;
pub mod tcp;
pub mod trace;
pub mod view;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use appliance_config::Mode;

use crate::h1::{H1Error, Limits};
use crate::io::{Driver, Endpoint, ListenOptions, Listener, Stream};
use crate::logsink::LogSink;
use crate::runtime::{self, clock, mailbox::Inbox, Executor, Timer};
use crate::tls::MaybeTls;
pub use backend::BackendRt;
use shared::FeState;
pub use shared::Shared;
use stats::WorkerStats;

/// What [`Message::Sessions`] runs on a worker: its id and its live sessions.
pub type SessionsFn = Box<dyn FnOnce(usize, &sessions::Sessions) + Send>;
/// What [`Message::Fds`] runs on a worker: its id and its driver's descriptors.
pub type FdsFn = Box<dyn FnOnce(usize, Option<Vec<crate::io::FdInfo>>) + Send>;

/// A message to a worker from another thread.
pub enum Message {
    /// Stop accepting; finish in-flight sessions; exit when idle.
    SoftStop,
    /// Exit now.
    HardStop,
    /// Run a closure on the worker (CLI queries, test hooks).
    Run(Box<dyn FnOnce(&WorkerStats) + Send>),
    /// Hand a snapshot of the worker's counters (traffic, driver, executor) to a
    /// closure (the management CLI).
    Snapshot(Box<dyn FnOnce(crate::mgmt::WorkerSnapshot) + Send>),
    /// `clear counters all`: zero the worker's traffic counters (not its gauges),
    /// then run the closure (the CLI waits for it).
    ClearCounters(Box<dyn FnOnce() + Send>),
    /// Run a closure on the worker's live sessions (`show sess`, `shutdown
    /// session(s)`), with the worker's id.
    Sessions(SessionsFn),
    /// `set server … addr|port`, `add server`: connect to `server` of `backend` at
    /// `addr` from now on; with or without an address (`del server`), drop its idle
    /// connections.
    ServerAddr {
        backend: usize,
        server: usize,
        addr: Option<std::net::SocketAddr>,
        done: Box<dyn FnOnce() + Send>,
    },
    /// `show fd`: the descriptors the worker's driver owns (`None` in poll mode),
    /// with the worker's id.
    Fds(FdsFn),
    /// A frontend's administrative state changed: the accept loops re-read it.
    WakeAcceptLoops,
    /// A change to a map or ACL file: apply it to the worker's pattern store and,
    /// when asked, say whether it found what it changes (the CLI waits for that).
    Pattern(Arc<crate::maps::Sequenced>, Option<crate::maps::Reply>),
    /// Another worker asks for an idle connection to `server` of `backend`
    /// (`tune.idle-pool.shared`, see [`takeover`]).
    TakeIdle {
        backend: usize,
        server: usize,
        sni_key: u64,
        first: bool,
        reply: Arc<takeover::Reply>,
    },
}

/// A frontend's per-worker runtime: its log sink.
pub struct FrontendRt {
    pub log: Option<Rc<LogSink>>,
}

/// The last invalid message captured per proxy (HAProxy's `show errors`).
#[derive(Clone, Debug, Default)]
pub struct CapturedError {
    pub proxy: usize,
    pub kind: &'static str,
    pub offset: usize,
    pub bytes: Vec<u8>,
    pub wall_us: u64,
}

/// One worker's proxy state.
pub struct Worker<D: Driver> {
    pub id: usize,
    pub driver: Rc<D>,
    pub shared: Arc<Shared>,
    pub backends: Vec<BackendRt<D::Stream>>,
    pub frontends: Vec<FrontendRt>,
    /// Log sinks of backends (health-check messages).
    pub backend_logs: Vec<Option<Rc<LogSink>>>,
    pub limits: Limits,
    pub stats: RefCell<WorkerStats>,
    /// Accept loops waiting for a connection slot (`maxconn`).
    accept_waiters: RefCell<Vec<Waker>>,
    /// Long-lived connections to tell about a soft stop (HTTP/2 clients get a
    /// graceful GOAWAY).
    pub stop_waiters: Rc<StopWaiters>,
    /// Sessions open on this worker.
    pub sessions: Cell<usize>,
    /// The live sessions themselves (`show sess`).
    pub live: Rc<sessions::Sessions>,
    /// The worker to ask first for an idle connection next time (takeover).
    pub next_takeover: Cell<usize>,
    pub last_request_error: RefCell<Option<CapturedError>>,
    pub last_response_error: RefCell<Option<CapturedError>>,
}

fn log_sink_for(loggers: &[appliance_config::Logger], tag: &str) -> Option<Rc<LogSink>> {
    if loggers.is_empty() {
        return None;
    }
    let specs: Vec<_> = loggers.iter().map(log::target_spec).collect();
    match LogSink::open(&specs, tag) {
        Ok(s) => Some(Rc::new(s)),
        Err(e) => {
            eprintln!("[ALERT] sluice: cannot open log target: {e}");
            None
        }
    }
}

impl<D: Driver> Worker<D> {
    pub fn new(id: usize, driver: Rc<D>, shared: Arc<Shared>) -> Rc<Self> {
        let cfg = &shared.config;
        let tag = cfg
            .global
            .log_tag
            .clone()
            .unwrap_or_else(|| "sluice".into());
        let frontends = cfg
            .frontends
            .iter()
            .map(|f| FrontendRt {
                log: log_sink_for(&f.loggers, &tag),
            })
            .collect();
        let backend_logs = cfg
            .backends
            .iter()
            .map(|b| log_sink_for(&b.loggers, &tag))
            .collect();
        let backends = (0..cfg.backends.len())
            .map(|i| BackendRt::new(shared.clone(), i, id))
            .collect();
        let per_backend: Vec<usize> = cfg.backends.iter().map(|b| b.servers.len()).collect();
        let tune = cfg.global.tune;
        crate::buf::set_buffer_size(tune.bufsize);
        Rc::new(Worker {
            id,
            driver,
            limits: Limits {
                max_head_bytes: tune.bufsize.saturating_sub(tune.maxrewrite).max(1024),
                max_headers: tune.http_maxhdr,
            },
            stats: RefCell::new(WorkerStats::new(cfg.frontends.len(), &per_backend)),
            backends,
            frontends,
            backend_logs,
            accept_waiters: RefCell::new(Vec::new()),
            stop_waiters: Rc::new(StopWaiters::default()),
            sessions: Cell::new(0),
            live: Rc::default(),
            next_takeover: Cell::new(0),
            last_request_error: RefCell::new(None),
            last_response_error: RefCell::new(None),
            shared,
        })
    }

    /// Remember the last invalid request of a frontend (for `show errors`).
    pub fn note_invalid_request(&self, fe: usize, bytes: &[u8], e: H1Error) {
        self.stats.borrow_mut().invalid_request(fe);
        *self.last_request_error.borrow_mut() = Some(CapturedError {
            proxy: fe,
            kind: e.kind.as_str(),
            offset: e.offset,
            bytes: bytes[..bytes.len().min(16384)].to_vec(),
            wall_us: clock::wall_us(),
        });
    }

    /// The last invalid request (`true`) and response captured, for `show errors`.
    pub fn captured_errors(&self) -> Vec<(bool, CapturedError)> {
        let req = self.last_request_error.borrow().clone().map(|e| (true, e));
        let rsp = self
            .last_response_error
            .borrow()
            .clone()
            .map(|e| (false, e));
        req.into_iter().chain(rsp).collect()
    }

    /// Remember the last invalid response of a backend.
    pub fn note_invalid_response(&self, be: usize, bytes: &[u8], e: H1Error) {
        self.stats.borrow_mut().invalid_response(be);
        *self.last_response_error.borrow_mut() = Some(CapturedError {
            proxy: be,
            kind: e.kind.as_str(),
            offset: e.offset,
            bytes: bytes[..bytes.len().min(16384)].to_vec(),
            wall_us: clock::wall_us(),
        });
    }

    /// Claim a connection slot of the process and of the frontend (`maxconn`), both
    /// or neither.
    fn try_conn_slot(&self, fe: usize) -> bool {
        let sh = &self.shared;
        let fe_max = sh.frontends[fe].limit();
        if !sh.process.try_acquire(sh.process.limit()) {
            return false;
        }
        if !sh.frontends[fe].try_acquire(fe_max) {
            sh.process.release();
            return false;
        }
        true
    }

    /// Wake the accept loops (a slot was freed, or a stop was requested).
    pub fn wake_accept_loops(&self) {
        for w in self.accept_waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    fn session_ended(&self, fe: usize) {
        self.shared.frontends[fe].release();
        self.shared.process.release();
        self.sessions.set(self.sessions.get() - 1);
        self.wake_accept_loops();
    }
}

/// Tasks to wake on a soft stop, one slot per registered connection (a slot is
/// freed when its [`StopWatch`] drops, so finished connections leave nothing).
#[derive(Default)]
pub struct StopWaiters {
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl StopWaiters {
    fn wake_all(&self) {
        for w in self.slots.borrow().iter().flatten() {
            w.wake_by_ref();
        }
    }

    /// A registration for one connection's task.
    pub fn watch(self: &Rc<Self>) -> StopWatch {
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut v = self.slots.borrow_mut();
                v.push(None);
                v.len() - 1
            }
        };
        StopWatch {
            owner: self.clone(),
            slot,
        }
    }
}

/// One connection's registration in [`StopWaiters`].
pub struct StopWatch {
    owner: Rc<StopWaiters>,
    slot: usize,
}

impl StopWatch {
    /// Remember the task to wake (call from its poll).
    pub fn register(&self, waker: &Waker) {
        let mut v = self.owner.slots.borrow_mut();
        match &v[self.slot] {
            Some(w) if w.will_wake(waker) => {}
            _ => v[self.slot] = Some(waker.clone()),
        }
    }
}

impl Drop for StopWatch {
    fn drop(&mut self) {
        self.owner.slots.borrow_mut()[self.slot] = None;
        self.owner.free.borrow_mut().push(self.slot);
    }
}

/// Counts a session in and out of the `maxconn` figures.
struct SessionGuard<D: Driver> {
    w: Rc<Worker<D>>,
    fe: usize,
}

impl<D: Driver> Drop for SessionGuard<D> {
    fn drop(&mut self) {
        self.w.session_ended(self.fe);
    }
}

/// Accept connections on one listener and spawn a session for each.
///
/// TLS binds: the handshake runs in the session's task (never in this loop), bounded
/// by `timeout http-request`, else `timeout client`; a failure closes that connection,
/// is counted, and is logged as HAProxy does (`ip:port [date] fe/bind: SSL handshake
/// failure`).
///
/// `maxconn`: a connection is accepted, then waits (unserved, like one in the kernel
/// backlog) until a process and frontend slot can be claimed atomically; the loop
/// accepts nothing more meanwhile. Soft stop: the connections already queued in the
/// kernel are accepted and served before the listener closes (closing it with a
/// non-empty queue would reset them).
async fn accept_loop<D: Driver>(w: Rc<Worker<D>>, fe: usize, bind: usize, listener: D::Listener) {
    let mode = w.shared.config.frontends[fe].mode;
    let tls = w.shared.tls.bind(fe, bind).cloned();
    let mut recheck = Timer::new();
    loop {
        let stopping = w.shared.is_stopping();
        match w.shared.fe_state(fe) {
            // `shutdown frontend`: the listener closes when this loop returns.
            FeState::Stopped => return,
            // `disable frontend`: accept nothing (connections wait in the backlog)
            // until enabled, shut down or stopping.
            FeState::Paused if !stopping => {
                std::future::poll_fn(|cx| {
                    if w.shared.fe_state(fe) != FeState::Paused || w.shared.is_stopping() {
                        return Poll::Ready(());
                    }
                    w.accept_waiters.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                })
                .await;
                continue;
            }
            _ => {}
        }
        let accepted = std::future::poll_fn(|cx| match listener.poll_accept(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            // Stopping: the queue is drained, leave.
            Poll::Pending if stopping => Poll::Ready(None),
            Poll::Pending => {
                // A soft stop or a change of the frontend's state (CLI) wakes this
                // loop through `wake_accept_loops`.
                w.accept_waiters.borrow_mut().push(cx.waker().clone());
                if w.shared.is_stopping() || w.shared.fe_state(fe) != FeState::Open {
                    return Poll::Ready(None);
                }
                Poll::Pending
            }
        })
        .await;
        let stream = match accepted {
            None if stopping => return,
            // A stop was requested while waiting: drain what is queued, then leave.
            None => continue,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("[WARNING] sluice: accept failed on frontend {fe}: {e}");
                runtime::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Wait for a slot (woken when a local session ends; re-checked periodically
        // for sessions ending on other workers).
        std::future::poll_fn(|cx| {
            if w.try_conn_slot(fe) {
                return Poll::Ready(());
            }
            w.accept_waiters.borrow_mut().push(cx.waker().clone());
            recheck.set_after(Some(Duration::from_millis(10)));
            if recheck.poll_expired(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
        .await;
        w.sessions.set(w.sessions.get() + 1);
        w.stats.borrow_mut().session(fe);
        let guard = SessionGuard { w: w.clone(), fe };
        let accept_us = clock::now_us();
        let trace_id = w.shared.debug.then(|| {
            let id = trace::next_id();
            trace::accept(id, &w.shared.config.frontends[fe].name, stream.peer_addr());
            id
        });
        let w2 = w.clone();
        let tls = tls.clone();
        let peer = stream.peer_addr();
        runtime::spawn(w.live.track(fe, bind, peer, async move {
            let _guard = guard;
            let (stream, info) = match tls {
                None => (MaybeTls::Plain(stream), None),
                Some(ctx) => match handshake(&w2, fe, bind, &ctx, stream).await {
                    Some((s, i)) => (s, Some(i)),
                    None => return,
                },
            };
            match mode {
                Mode::Http => {
                    let h2 = w2.shared.config.frontends[fe].binds[bind].proto.as_deref()
                        == Some("h2")
                        || info.as_ref().and_then(|i| i.alpn.as_deref()) == Some(&b"h2"[..]);
                    if h2 {
                        crate::h2::front::serve(
                            w2.clone(),
                            fe,
                            bind,
                            stream,
                            info,
                            trace_id,
                            Vec::new(),
                        )
                        .await
                    } else {
                        http::session::serve(
                            w2.clone(),
                            fe,
                            bind,
                            stream,
                            info,
                            accept_us,
                            trace_id,
                        )
                        .await
                    }
                }
                Mode::Tcp => tcp::serve(w2.clone(), fe, stream, info, accept_us).await,
            }
            if let Some(id) = trace_id {
                trace::closed(id, &w2.shared.config.frontends[fe].name);
            }
        }));
    }
}

/// The TLS handshake of an accepted connection; on failure, count and log it.
async fn handshake<D: Driver>(
    w: &Worker<D>,
    fe: usize,
    bind: usize,
    ctx: &crate::tls::BindTlsCtx,
    stream: D::Stream,
) -> Option<(MaybeTls<D::Stream>, Rc<crate::tls::TlsInfo>)> {
    let cfg = &w.shared.config.frontends[fe];
    let limit = cfg.timeouts.http_request.or(cfg.timeouts.client);
    let peer = stream.peer_addr();
    let wall = clock::wall_us();
    match crate::tls::accept(ctx, stream, limit).await {
        Ok((s, info)) => Some((s, Rc::new(info))),
        Err(e) => {
            w.shared
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            log::log_connection_error(w, fe, bind, peer, wall, "SSL handshake failure", &e);
            None
        }
    }
}

/// How listeners are handed to workers.
pub enum ListenPlan {
    /// Each worker binds its own socket (`SO_REUSEPORT`).
    PerWorker(Endpoint),
    /// A socket bound once by the process; each worker gets its own dup.
    Inherited(i32),
}

/// One listening socket to open on a worker, for a frontend.
pub struct ListenSpec {
    pub frontend: usize,
    /// Index of the bind in the frontend's `binds` (its TLS context, its name).
    pub bind: usize,
    /// `file:line` of the `bind` line (for errors).
    pub location: String,
    pub plan: ListenPlan,
    pub opts: ListenOptions,
}

/// The main function of a worker thread: open listeners, start health checks
/// (worker 0), run the loop until told to stop.
pub fn run_worker<D: Driver>(
    id: usize,
    driver: D,
    shared: Arc<Shared>,
    listens: Vec<ListenSpec>,
    inbox: Inbox<Message>,
    ready: impl FnOnce(Result<(), String>),
) -> Result<WorkerStats, String> {
    let executor = Executor::new();
    executor.set_notifier(driver.notifier());
    inbox.set_notifier(driver.notifier());
    let driver = Rc::new(driver);
    let w = Worker::new(id, driver.clone(), shared.clone());
    crate::maps::install(crate::maps::PatternStore::from_config(&shared.config), id);
    let mut listeners = Vec::new();
    for l in listens {
        let ep = match l.plan {
            ListenPlan::PerWorker(ep) => ep,
            ListenPlan::Inherited(fd) => Endpoint::Fd(fd),
        };
        match driver.listen(&ep, &l.opts) {
            Ok(listener) => listeners.push((l.frontend, l.bind, listener)),
            Err(e) => {
                let fe = &shared.config.frontends[l.frontend];
                let msg = format!(
                    "[{}] : Starting frontend {}: cannot bind socket [{}]: {e}",
                    l.location, fe.name, ep
                );
                ready(Err(msg.clone()));
                return Err(msg);
            }
        }
    }
    for (fe, bind, listener) in listeners {
        executor.spawn(accept_loop(w.clone(), fe, bind, listener));
    }
    ready(Ok(()));
    if id == 0 {
        health::start_checks(&w);
    }
    let hard = Cell::new(false);
    let mut housekeeping = 0u64;
    let mut loops = 0u64;
    runtime::run_loop(
        &*driver,
        &executor,
        || {
            loops += 1;
            while let Some(m) = inbox.pop() {
                match m {
                    Message::SoftStop => {
                        shared.stopping.store(true, Ordering::Relaxed);
                        w.wake_accept_loops();
                        w.stop_waiters.wake_all();
                    }
                    Message::HardStop => hard.set(true),
                    Message::TakeIdle {
                        backend,
                        server,
                        sni_key,
                        first,
                        reply,
                    } => takeover::answer(&w, backend, server, sni_key, first, reply),
                    Message::Run(f) => f(&w.stats.borrow()),
                    Message::WakeAcceptLoops => w.wake_accept_loops(),
                    Message::Pattern(up, reply) => {
                        crate::maps::deliver(up, reply, clock::now_ms());
                    }
                    Message::Sessions(f) => f(id, &w.live),
                    Message::Fds(f) => f(id, driver.fds()),
                    Message::ServerAddr {
                        backend,
                        server,
                        addr,
                        done,
                    } => {
                        if let Some(b) = w.backends.get(backend) {
                            b.set_addr(server, addr);
                        }
                        done();
                    }
                    Message::ClearCounters(done) => {
                        w.stats.borrow_mut().clear();
                        done();
                    }
                    Message::Snapshot(f) => f(crate::mgmt::WorkerSnapshot {
                        id,
                        stats: w.stats.borrow().clone(),
                        driver: driver.counters(),
                        exec: executor.counters(),
                        loops,
                        sessions: w.sessions.get(),
                        h2: crate::h2::counters::snapshot(),
                        takeovers: takeover::count(),
                        conns: w.backends.iter().map(|b| b.conn_rows()).collect(),
                        errors: w.captured_errors(),
                        pools: crate::mgmt::worker_pools(),
                    }),
                }
            }
            let now = clock::now_ms();
            if now >= housekeeping {
                housekeeping = now + 100;
                crate::maps::tick(now);
                for b in &w.backends {
                    if shared.is_stopping() {
                        b.close_idle();
                    } else {
                        b.purge_idle(&mut w.stats.borrow_mut());
                    }
                }
            }
        },
        || {
            hard.get()
                || shared.terminate.load(Ordering::Relaxed)
                || (shared.is_stopping() && w.sessions.get() == 0)
        },
    );
    let stats = w.stats.borrow().clone();
    Ok(stats)
}
