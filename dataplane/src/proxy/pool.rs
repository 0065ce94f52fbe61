//! Idle server connections of one server on one worker: a sans-IO pool (it never
//! reads or writes a connection; it is given `now` and answers which connection to
//! reuse, whether to keep a released one, and which ones to close).
//!
//! Owns: [`ServerPool`], its entries in last-use order, and the usage figures the
//! purge needs (`used` now, `max_used` since the last purge, `est_need`).
//!
//! HAProxy's design, per server and per worker (reference notes §1):
//! - an entry is keyed by a hash of what makes a connection reusable ([`ConnKey`]:
//!   the server, the connection name (SNI), destination and source; PROXY line and
//!   mark/tos later): a connection is only handed out for the same key;
//! - states: *idle* (never proven reusable), *safe* (served a request; an HTTP/1
//!   connection becomes safe after its second request, as in HAProxy), and
//!   *available* (an H2 connection with free stream slots while busy: reserved, no
//!   HTTP/1 connection is ever available);
//! - every insert appends (tail = most recently used); reuse takes the most recent
//!   matching entry, the purge closes from the head (least recently used), so hot
//!   connections stay hot and the traffic concentrates on few connections;
//! - the purge runs every `pool-purge-delay` with HAProxy's arithmetic (see
//!   [`purge_plan`]); entering the pool follows `srv_add_to_idle_list` (see
//!   [`ServerPool::put`]).
//!
//! Temporary and permanent takes are told apart by the type system:
//! - a *temporary* take is a borrow: [`ServerPool::sweep`] lends `&C` to a check
//!   that runs while the connection stays in its slot; the borrow cannot outlive
//!   the call, so the connection is back where it was by construction;
//! - a *permanent* take moves the value out: [`ServerPool::take`] returns an owned
//!   [`Taken`]; the pool keeps no trace of it (no index, no handle, no owner
//!   pointer), and the only way back is [`ServerPool::put`] by its new owner, which
//!   re-decides from scratch (state, limits) like for any released connection;
//! - a *kill* consumes: entries the pool closes (purge, server-closed while idle,
//!   limits, soft stop) are first moved out of the list, then passed by value to
//!   [`kill`], which drops them and returns a [`Killed`] that carries no
//!   connection. Entries ([`Pooled`]) have no public constructor and no `Clone`,
//!   so no code can hold a second copy of a pooled connection: "a killed connection
//!   is found in the pool again" cannot be written.
//!
//! Deadness depends only on the connection's own state (the `is_dead` check given
//! to [`ServerPool::sweep`] and [`ServerPool::take`]), never on who created it.

use std::cell::Cell;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;

/// Hash of what makes a connection reusable. Like HAProxy's `conn_hash_digest`,
/// the top bits say which parameters took part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnKey(pub u64);

const KEY_NAME: u64 = 1 << 63;
const KEY_DST: u64 = 1 << 62;
const KEY_SRC: u64 = 1 << 61;
const KEY_HASH_BITS: u64 = (1 << 57) - 1;

impl ConnKey {
    /// The key of a connection to `server` opened with name hash `name` (the SNI
    /// key, 0: none), to `dst` from `src` when those are chosen per connection.
    pub fn new(
        server: usize,
        name: u64,
        dst: Option<SocketAddr>,
        src: Option<SocketAddr>,
    ) -> ConnKey {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        server.hash(&mut h);
        name.hash(&mut h);
        dst.hash(&mut h);
        src.hash(&mut h);
        let mut mask = 0;
        if name != 0 {
            mask |= KEY_NAME;
        }
        if dst.is_some() {
            mask |= KEY_DST;
        }
        if src.is_some() {
            mask |= KEY_SRC;
        }
        ConnKey(mask | (h.finish() & KEY_HASH_BITS))
    }
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Never proven reusable (HTTP/1: served one request).
    Idle,
    /// Proven reusable (HTTP/1: served two requests or more).
    Safe,
    /// Busy with free stream slots (HTTP/2, later); never an HTTP/1 state.
    Available,
}

impl ConnState {
    /// HTTP/1: HAProxy marks a connection safe after its second request.
    pub fn h1_after(requests: u32) -> ConnState {
        if requests >= 2 {
            ConnState::Safe
        } else {
            ConnState::Idle
        }
    }
}

/// The pool settings of a server (`pool-*`, `max-reuse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// `pool-max-conn` (None: unlimited, the default; `Some(0)`: keep none).
    pub max_idle: Option<u32>,
    /// `pool-low-conn` (default 0).
    pub low_idle: u32,
    /// `pool-purge-delay` in ms (default 5000; 0: keep no idle connection).
    pub purge_delay_ms: u64,
    /// `max-reuse` (None: unlimited): a connection that served `n + 1` requests is
    /// not reused (HAProxy applies it to multiplexed protocols only; sluice also
    /// applies it to HTTP/1).
    pub max_reuse: Option<u32>,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_idle: None,
            low_idle: 0,
            purge_delay_ms: 5000,
            max_reuse: None,
        }
    }
}

impl PoolLimits {
    /// May a connection that served `requests` requests serve another one?
    pub fn may_reuse(&self, requests: u32) -> bool {
        self.max_reuse.is_none_or(|n| requests <= n)
    }
}

#[derive(Debug, Default)]
struct Usage {
    used: Cell<u32>,
    max_used: Cell<u32>,
}

/// A connection counted as in use by its server pool (`curr_used_conns`) for as
/// long as this token lives: carry it with the connection, drop it with it.
#[derive(Debug)]
pub struct InUse {
    usage: Rc<Usage>,
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.usage.used.set(self.usage.used.get().saturating_sub(1));
    }
}

/// A connection inside the pool. No public constructor, no `Clone`: only the pool
/// makes one (in [`ServerPool::put`]) and it leaves by [`ServerPool::take`] or
/// [`kill`], both by value.
#[derive(Debug)]
pub struct Pooled<C> {
    conn: C,
    key: ConnKey,
    state: ConnState,
    requests: u32,
    since_ms: u64,
}

/// A connection permanently taken out of the pool: its new owner's.
#[derive(Debug)]
pub struct Taken<C> {
    pub conn: C,
    pub key: ConnKey,
    pub state: ConnState,
    /// Requests it served before.
    pub requests: u32,
}

/// A connection an owner offers to the pool.
#[derive(Debug)]
pub struct Release<C> {
    pub conn: C,
    pub key: ConnKey,
    pub state: ConnState,
    pub requests: u32,
    /// Its in-use token: `put` counts it as used while deciding, then drops it.
    pub in_use: InUse,
}

/// Why the pool closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// The periodic purge (least recently used first).
    Purge,
    /// The server closed it (or wrote to it) while idle.
    ClosedByServer,
    /// Soft stop, or the pool is being emptied.
    Shutdown,
}

/// The trace of a killed connection: it holds no connection, so nothing can be
/// put back.
#[derive(Debug, PartialEq, Eq)]
pub struct Killed(pub KillReason);

/// Close a connection the pool no longer keeps. Consumes it.
pub fn kill<C>(entry: Pooled<C>, why: KillReason) -> Killed {
    drop(entry);
    Killed(why)
}

/// What [`ServerPool::put`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Kept,
    /// Closed: reuse off (`pool-purge-delay 0`, `pool-max-conn 0`) or `max-reuse`
    /// reached.
    Refused,
}

/// One purge decision (HAProxy's `srv_cleanup_idle_conns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgePlan {
    /// Connections to close from the head.
    pub kill: u32,
    pub est_need: u32,
    pub max_used: u32,
}

/// HAProxy's purge arithmetic on this worker's figures:
/// `exceed = used + idle - max(max_used, est_need)`; close `ceil(exceed / 2)`;
/// `est_need = max((est_need + max_used) / 2, max_used)`; `max_used = used`.
/// (HAProxy splits the half across threads as `half * idle_thr / idle + 1`; with
/// per-worker figures this worker's share is the half itself.)
pub fn purge_plan(used: u32, idle: u32, max_used: u32, est_need: u32) -> PurgePlan {
    let exceed = (used + idle).saturating_sub(max_used.max(est_need));
    let half = exceed.div_ceil(2);
    PurgePlan {
        kill: half.min(idle),
        est_need: ((est_need + max_used) / 2).max(max_used),
        max_used: used,
    }
}

/// Figures of one server pool (for counters and `show servers conn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolSnapshot {
    pub idle: u32,
    pub safe: u32,
    pub used: u32,
    pub max_used: u32,
    pub est_need: u32,
    /// Closed by the purge (cumulative).
    pub purged: u64,
    /// Found closed by the server while idle (cumulative).
    pub closed_by_server: u64,
    /// Offered but not kept (cumulative).
    pub refused: u64,
}

/// The idle connections of one server on one worker.
#[derive(Debug)]
pub struct ServerPool<C> {
    limits: PoolLimits,
    /// Head: least recently used; tail: most recently used.
    list: VecDeque<Pooled<C>>,
    safe: u32,
    usage: Rc<Usage>,
    /// Estimated need (HAProxy's `est_need_conns`): raised at once when more
    /// connections are in use, decayed by the purge.
    est_need: Cell<u32>,
    next_purge_ms: Option<u64>,
    purged: u64,
    closed_by_server: u64,
    refused: u64,
}

impl<C> ServerPool<C> {
    pub fn new(limits: PoolLimits) -> Self {
        ServerPool {
            limits,
            list: VecDeque::new(),
            safe: 0,
            usage: Rc::default(),
            est_need: Cell::new(0),
            next_purge_ms: None,
            purged: 0,
            closed_by_server: 0,
            refused: 0,
        }
    }

    pub fn limits(&self) -> &PoolLimits {
        &self.limits
    }

    /// Count a connection as in use (new or taken) until the token is dropped.
    pub fn begin_use(&self) -> InUse {
        let u = self.usage.used.get() + 1;
        self.usage.used.set(u);
        if u > self.usage.max_used.get() {
            self.usage.max_used.set(u);
        }
        // HAProxy's `srv_use_conn`: the need is at least what is in use now, so a
        // fresh process pools as soon as load appears, not after the first purge.
        if u > self.est_need.get() {
            self.est_need.set(u);
        }
        InUse {
            usage: self.usage.clone(),
        }
    }

    /// Idle connections (all states).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            idle: self.list.len() as u32 - self.safe,
            safe: self.safe,
            used: self.usage.used.get(),
            max_used: self.usage.max_used.get(),
            est_need: self.est_need.get(),
            purged: self.purged,
            closed_by_server: self.closed_by_server,
            refused: self.refused,
        }
    }

    fn remove_at(&mut self, i: usize) -> Pooled<C> {
        let e = self.list.remove(i).expect("index in range");
        if e.state == ConnState::Safe {
            self.safe -= 1;
        }
        e
    }

    /// Offer a released connection (HAProxy's `srv_add_to_idle_list`): refused if
    /// pooling is off (`pool-purge-delay 0`, `pool-max-conn 0`, `http-reuse never`)
    /// or `max-reuse` allows no other request. It fits if under `pool-max-conn` and
    /// either this worker has no idle connection of that kind yet or
    /// `used + idle <= max(used, est_need) + pool-low-conn`; if it does not fit, the
    /// least recently used entry is closed to make room (HAProxy would close the
    /// released one). Appended at the tail.
    pub fn put(&mut self, r: Release<C>, now_ms: u64) -> PutOutcome {
        let l = self.limits;
        let idle = self.list.len() as u32;
        let used = self.usage.used.get();
        let unproven = idle - self.safe;
        let first_of_kind = self.safe == 0 && (r.state == ConnState::Safe || unproven == 0);
        let allowed = l.purge_delay_ms > 0
            && r.state != ConnState::Available
            && l.may_reuse(r.requests)
            && l.max_idle != Some(0);
        if !allowed {
            self.refused += 1;
            return PutOutcome::Refused;
        }
        let room = l.max_idle.is_none_or(|m| idle < m)
            && (first_of_kind || used + idle <= used.max(self.est_need.get()) + l.low_idle);
        if !room {
            // Over the limit: HAProxy refuses the connection just released, which
            // is the hottest one. sluice closes the least recently used instead:
            // the same bound holds and the hot connection stays hot.
            let Some(e) = self.list.pop_front() else {
                self.refused += 1;
                return PutOutcome::Refused;
            };
            if e.state == ConnState::Safe {
                self.safe -= 1;
            }
            kill(e, KillReason::Purge);
            self.purged += 1;
        }
        if r.state == ConnState::Safe {
            self.safe += 1;
        }
        self.list.push_back(Pooled {
            conn: r.conn,
            key: r.key,
            state: r.state,
            requests: r.requests,
            since_ms: now_ms,
        });
        if self.next_purge_ms.is_none() {
            self.next_purge_ms = Some(now_ms + l.purge_delay_ms);
        }
        drop(r.in_use);
        PutOutcome::Kept
    }

    /// Take the most recently used live connection with `key`, trying the states
    /// in `order` (HAProxy's reuse table). Dead entries met on the way (`is_dead`)
    /// are killed.
    pub fn take(
        &mut self,
        key: ConnKey,
        order: &[ConnState],
        is_dead: impl Fn(&C) -> bool,
    ) -> Option<Taken<C>> {
        for want in order {
            let mut i = self.list.len();
            while i > 0 {
                i -= 1;
                let e = &self.list[i];
                if e.key != key || e.state != *want {
                    continue;
                }
                if is_dead(&e.conn) {
                    let e = self.remove_at(i);
                    kill(e, KillReason::ClosedByServer);
                    self.closed_by_server += 1;
                    continue;
                }
                let e = self.remove_at(i);
                return Some(Taken {
                    conn: e.conn,
                    key: e.key,
                    state: e.state,
                    requests: e.requests,
                });
            }
        }
        None
    }

    /// A temporary look at every entry in place; those `is_dead` says are dead are
    /// killed. Returns how many.
    pub fn sweep(&mut self, is_dead: impl Fn(&C) -> bool) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.list.len() {
            if is_dead(&self.list[i].conn) {
                let e = self.remove_at(i);
                kill(e, KillReason::ClosedByServer);
                n += 1;
            } else {
                i += 1;
            }
        }
        self.closed_by_server += n as u64;
        n
    }

    fn has_activity(&self) -> bool {
        !self.list.is_empty()
            || self.usage.used.get() > 0
            || self.usage.max_used.get() > 0
            || self.est_need.get() > 0
    }

    /// Run the purge if its interval has elapsed: returns the plan applied. The
    /// interval clock runs while the server has idle connections, connections in
    /// use, or a need estimate to decay (so a burst held by sessions is learnt).
    pub fn purge(&mut self, now_ms: u64) -> Option<PurgePlan> {
        let Some(due) = self.next_purge_ms else {
            if self.has_activity() && self.limits.purge_delay_ms > 0 {
                self.next_purge_ms = Some(now_ms + self.limits.purge_delay_ms);
            }
            return None;
        };
        if now_ms < due {
            return None;
        }
        let plan = purge_plan(
            self.usage.used.get(),
            self.list.len() as u32,
            self.usage.max_used.get(),
            self.est_need.get(),
        );
        self.est_need.set(plan.est_need);
        self.usage.max_used.set(plan.max_used);
        for _ in 0..plan.kill {
            let Some(e) = self.list.pop_front() else {
                break;
            };
            if e.state == ConnState::Safe {
                self.safe -= 1;
            }
            kill(e, KillReason::Purge);
            self.purged += 1;
        }
        self.next_purge_ms = self
            .has_activity()
            .then_some(now_ms + self.limits.purge_delay_ms);
        Some(plan)
    }

    /// Close every idle connection (soft stop).
    pub fn clear(&mut self) {
        while let Some(e) = self.list.pop_front() {
            kill(e, KillReason::Shutdown);
        }
        self.safe = 0;
        self.next_purge_ms = None;
    }

    /// Idle time of the oldest entry (diagnostics).
    pub fn oldest_idle_ms(&self, now_ms: u64) -> Option<u64> {
        self.list.front().map(|e| now_ms.saturating_sub(e.since_ms))
    }

    /// Keys of the entries, head (LRU) first (tests, diagnostics).
    pub fn order(&self) -> impl Iterator<Item = (&C, ConnState)> {
        self.list.iter().map(|e| (&e.conn, e.state))
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
