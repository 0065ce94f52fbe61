//! Per-transaction state of an HTTP session: the heads, the routing decision, the
//! timings and counters a log line reports.
//!
//! Owns: [`Txn`] and its per-worker pool. Invariants: a `Txn` is reset (not freed)
//! between requests, so its buffers keep their capacity and steady-state requests do
//! not allocate; an idle keep-alive session holds no `Txn` (it goes back to the pool).

use std::cell::{Cell, RefCell};

use crate::h1::{RequestHead, ResponseHead};
use crate::rules::Scratch;

/// HAProxy's two-letter termination state: who ended the session (`C`lient,
/// `S`erver, `P`roxy, `R`esource, `I`nternal, `D`own, `L`ocal, `c`lient timeout,
/// `s`erver timeout, `-` normal) and in which phase (`R`equest, `Q`ueue,
/// `C`onnect, `H`eaders, `D`ata, `L`ast, `T`arpit, `-` normal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermState(pub u8, pub u8);

impl TermState {
    pub const NORMAL: TermState = TermState(b'-', b'-');
    pub fn as_bytes(&self) -> [u8; 2] {
        [self.0, self.1]
    }
}

/// One request/response exchange.
pub struct Txn {
    pub req: RequestHead,
    pub rsp: ResponseHead,
    /// The request line as received (`%r`).
    pub request_line: Vec<u8>,
    /// Serialisation scratch space.
    pub out: Vec<u8>,
    /// Formatting scratch space (header values from rules).
    pub scratch: Vec<u8>,
    /// Rules engine scratch space (sample values, formats).
    pub rs: Scratch,
    /// `capture request header` values, one per configured capture (empty when the
    /// header was absent).
    pub cap_req: Vec<Vec<u8>>,
    /// `capture response header` values.
    pub cap_rsp: Vec<Vec<u8>>,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    /// Status sent to the client.
    pub status: Option<u16>,
    /// Bytes received from the client for this request (head + body).
    pub bytes_in: u64,
    /// Bytes sent to the client for this response (head + body).
    pub bytes_out: u64,
    /// Microsecond timestamps (worker clock): request start (first byte or accept),
    /// head received, server assigned, connected, response head received, end.
    pub t_start: u64,
    pub t_idle: u64,
    pub t_head: u64,
    pub t_queue: Option<u64>,
    pub t_connect: Option<u64>,
    pub t_response: Option<u64>,
    pub t_end: u64,
    /// Wall-clock microseconds of the request start (`%tr`).
    pub wall_start: u64,
    pub term: TermState,
    /// Connect retries performed.
    pub retries: u32,
    /// Redispatched to another server.
    pub redispatched: bool,
    /// Server connection came from the idle pool or the session.
    pub reused: bool,
    /// This is the first request of its session.
    pub first: bool,
}

impl Drop for Txn {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get().saturating_sub(1)));
    }
}

impl Txn {
    fn new() -> Self {
        LIVE.with(|l| l.set(l.get() + 1));
        Txn {
            req: RequestHead::new(),
            rsp: ResponseHead::new(),
            request_line: Vec::new(),
            out: Vec::new(),
            scratch: Vec::new(),
            rs: Scratch::new(),
            cap_req: Vec::new(),
            cap_rsp: Vec::new(),
            backend: None,
            server: None,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            t_start: 0,
            t_idle: 0,
            t_head: 0,
            t_queue: None,
            t_connect: None,
            t_response: None,
            t_end: 0,
            wall_start: 0,
            term: TermState::NORMAL,
            retries: 0,
            redispatched: false,
            reused: false,
            first: true,
        }
    }

    /// Reset for the next request, keeping capacity.
    pub fn reset(&mut self) {
        self.req.clear();
        self.rsp.clear();
        self.request_line.clear();
        self.out.clear();
        self.scratch.clear();
        self.cap_req.iter_mut().for_each(Vec::clear);
        self.cap_rsp.iter_mut().for_each(Vec::clear);
        self.backend = None;
        self.server = None;
        self.status = None;
        self.bytes_in = 0;
        self.bytes_out = 0;
        self.t_start = 0;
        self.t_idle = 0;
        self.t_head = 0;
        self.t_queue = None;
        self.t_connect = None;
        self.t_response = None;
        self.t_end = 0;
        self.wall_start = 0;
        self.term = TermState::NORMAL;
        self.retries = 0;
        self.redispatched = false;
        self.reused = false;
        self.first = true;
    }
}

/// Record the configured header captures of `headers` into `out` (HAProxy's
/// `capture request|response header <name> len <n>`: the last occurrence, truncated).
pub fn capture(
    caps: &[appliance_config::Capture],
    headers: &crate::h1::HeaderList,
    out: &mut Vec<Vec<u8>>,
) {
    if caps.is_empty() {
        return;
    }
    out.resize_with(caps.len(), Vec::new);
    for (c, slot) in caps.iter().zip(out.iter_mut()) {
        slot.clear();
        if let Some(v) = headers.get_all(c.name.as_bytes()).last() {
            slot.extend_from_slice(&v[..v.len().min(c.len)]);
        }
    }
}

thread_local! {
    // Boxed: a session's future holds a pointer to its transaction, not the whole
    // (large) struct, so idle sessions stay small.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Txn>>> = const { RefCell::new(Vec::new()) };
    /// Transactions alive on this worker (pooled or in use).
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// `show pools`: this worker's transactions `(allocated, in use)` and the size of one.
pub fn pool_stats() -> (usize, usize, usize) {
    let live = LIVE.with(Cell::get);
    let spare = POOL.with(|p| p.borrow().len());
    (live, live.saturating_sub(spare), std::mem::size_of::<Txn>())
}

/// Spare transactions kept per worker (one per request in flight is what steady
/// state needs; the rest is burst absorption).
const POOL_KEEP: usize = 256;

/// Take a reset transaction from this worker's pool.
pub fn take() -> Box<Txn> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Box::new(Txn::new()))
}

/// Return a transaction to the pool.
pub fn give(mut t: Box<Txn>) {
    t.reset();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_KEEP {
            p.push(t);
        }
    });
}
