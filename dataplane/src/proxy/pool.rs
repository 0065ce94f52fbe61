//! Idle server connections of one server on one worker: a sans-IO pool (it never
//! reads or writes a connection; it is given `now` and answers which connection to
//! reuse, whether to keep a released one, and which ones to close).
//!
//! Owns: [`ServerPool`], its entries in last-use order, and the usage figures the
//! purge needs (`used` now, `max_used` since the last purge, `est_need`).
//!
//! Cost: [`ServerPool::put`], [`ServerPool::take`] (plus the dead entries it kills
//! on the way) and every kill from the head (purge, `pool-max-conn`, soft stop) are
//! O(1) in the number of idle entries, whatever the mix of keys; only
//! [`ServerPool::sweep`] and [`ServerPool::order`], which visit every entry by
//! definition, are O(n). The entries live in a slab threaded by two doubly linked
//! lists: one over all entries in last-use order (the LRU list, for the purge), and
//! one per key and state (for reuse), whose ends a per-key head holds, found through
//! a map keyed by [`ConnKey`] (or a memo of the last key, without hashing).
//! Each entry is on both lists, in the same relative order: the tail of its key list
//! is the most recently used entry of that key and state, the head of the LRU list
//! the least recently used entry overall (see [`ServerPool`] for the invariants).
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
//!   [`Taken`]; the pool keeps no trace of it (its slot is unlinked and freed for
//!   the next insert; no index, handle or owner pointer is ever handed out), and the
//!   only way back is [`ServerPool::put`] by its new owner, which re-decides from
//!   scratch (state, limits) like for any released connection;
//! - a *kill* consumes: entries the pool closes (purge, server-closed while idle,
//!   limits, soft stop) are first moved out of their slot, then passed by value to
//!   [`kill`], which drops them and returns a [`Killed`] that carries no
//!   connection. Entries ([`Pooled`]) have no public constructor and no `Clone`,
//!   so no code can hold a second copy of a pooled connection: "a killed connection
//!   is found in the pool again" cannot be written.
//!
//! Deadness depends only on the connection's own state (the `is_dead` check given
//! to [`ServerPool::sweep`] and [`ServerPool::take`]), never on who created it.

use std::cell::Cell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

pub use super::conn_key::ConnKey;

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

/// No slot (end of a list).
const NIL: u32 = u32::MAX;

/// The first and last slots of a doubly linked list ([`NIL`] when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ends {
    head: u32,
    tail: u32,
}

const EMPTY: Ends = Ends {
    head: NIL,
    tail: NIL,
};

/// The storable states (idle, safe) of an entry, as an index into
/// [`KeyHead::lists`]; `None` for a state the pool never stores (available).
fn class(state: ConnState) -> Option<usize> {
    match state {
        ConnState::Idle => Some(0),
        ConnState::Safe => Some(1),
        ConnState::Available => None,
    }
}

/// The ends of the lists of a key present in the pool: its idle entries, its safe
/// entries (indexed by [`class`]).
#[derive(Debug)]
struct KeyHead {
    lists: [Ends; 2],
}

/// One occupied slot of the slab: an entry and its links. `prev`/`next` chain every
/// entry in last-use order; `kprev`/`knext` chain the entries of the same key and
/// state in the same order; `head` is the slot of their [`KeyHead`].
#[derive(Debug)]
struct Node<C> {
    entry: Pooled<C>,
    prev: u32,
    next: u32,
    kprev: u32,
    knext: u32,
    head: u32,
}

/// The occupied slot `i` of a slab.
fn at<T>(slab: &mut [Option<T>], i: u32) -> &mut T {
    slab[i as usize]
        .as_mut()
        .expect("a linked slot is occupied")
}

/// Store `v` in a free slot of `slab` (or a new one) and return its index.
fn alloc<T>(slab: &mut Vec<Option<T>>, free: &mut Vec<u32>, v: T) -> u32 {
    if let Some(i) = free.pop() {
        slab[i as usize] = Some(v);
        return i;
    }
    let i = u32::try_from(slab.len())
        .ok()
        .filter(|&i| i != NIL)
        .expect("fewer than 2^32 - 1 slots");
    slab.push(Some(v));
    i
}

/// Hashes a [`ConnKey`] for the per-key map: a folded multiply seeded per pool. The
/// key is already a hash, but one with a fixed seed (and mask bits on top), so it is
/// mixed again with a random seed: keys cannot be chosen offline (an SNI taken from
/// the Host header) to pile up in one bucket.
#[derive(Clone, Copy, Debug)]
struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, n: u64) {
        let p = u128::from(self.0 ^ n) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.mix(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

/// Builds [`KeyHasher`]s with this pool's random seed.
#[derive(Clone, Copy, Debug)]
struct KeySeed(u64);

impl KeySeed {
    fn random() -> KeySeed {
        KeySeed(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for KeySeed {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

/// The idle connections of one server on one worker.
///
/// Storage: a slab of nodes (freed slots are reused through `free`), threaded
/// by two kinds of doubly linked lists; a slab of key heads, one per key present,
/// holding the ends of that key's lists; a map from each key present to its head,
/// and a memo of the last key looked up (a server's pool often holds one key only:
/// then reuse and release do not hash at all). Invariants, checked by the unit
/// tests after every step:
/// - every occupied slot is on the LRU list (`lru`, head = least recently used)
///   exactly once, and on exactly one key list: the one of its key and state, under
///   the key head it names, in the same relative order as on the LRU list;
/// - a key has a head (and a `by_key` entry naming it) only while one of its lists
///   is non-empty; `memo`, when set, names a live head and its key;
/// - `len` counts the occupied slots and `safe` the safe ones; when `len` drops to
///   0 both slabs are emptied, so their size stays bounded by the peak since the
///   pool was last empty.
#[derive(Debug)]
pub struct ServerPool<C> {
    limits: PoolLimits,
    slots: Vec<Option<Node<C>>>,
    /// Free slots below `slots.len()`.
    free: Vec<u32>,
    /// All entries in last-use order.
    lru: Ends,
    heads: Vec<Option<KeyHead>>,
    /// Free slots below `heads.len()`.
    free_heads: Vec<u32>,
    by_key: HashMap<ConnKey, u32, KeySeed>,
    memo: Option<(ConnKey, u32)>,
    len: usize,
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
            slots: Vec::new(),
            free: Vec::new(),
            lru: EMPTY,
            heads: Vec::new(),
            free_heads: Vec::new(),
            by_key: HashMap::with_hasher(KeySeed::random()),
            memo: None,
            len: 0,
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
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            idle: self.len as u32 - self.safe,
            safe: self.safe,
            used: self.usage.used.get(),
            max_used: self.usage.max_used.get(),
            est_need: self.est_need.get(),
            purged: self.purged,
            closed_by_server: self.closed_by_server,
            refused: self.refused,
        }
    }

    fn node(&self, i: u32) -> &Node<C> {
        self.slots[i as usize]
            .as_ref()
            .expect("a linked slot is occupied")
    }

    /// The head of `key`, if the pool holds that key. O(1), no hashing when `key`
    /// is the one last looked up.
    fn find(&mut self, key: ConnKey) -> Option<u32> {
        if let Some((k, h)) = self.memo {
            if k == key {
                return Some(h);
            }
        }
        let h = *self.by_key.get(&key)?;
        self.memo = Some((key, h));
        Some(h)
    }

    /// The head of `key`, made if the pool does not hold that key yet. O(1).
    fn find_or_add(&mut self, key: ConnKey) -> u32 {
        if let Some((k, h)) = self.memo {
            if k == key {
                return h;
            }
        }
        let h = match self.by_key.entry(key) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                let head = KeyHead { lists: [EMPTY; 2] };
                *v.insert(alloc(&mut self.heads, &mut self.free_heads, head))
            }
        };
        self.memo = Some((key, h));
        h
    }

    /// Append an entry at the tail of the LRU list and of its key list. O(1).
    fn push_back(&mut self, entry: Pooled<C>) {
        let c = class(entry.state).expect("only idle and safe entries are stored");
        let head = self.find_or_add(entry.key);
        if entry.state == ConnState::Safe {
            self.safe += 1;
        }
        let lists = &mut at(&mut self.heads, head).lists;
        let (prev, kprev) = (self.lru.tail, lists[c].tail);
        let node = Node {
            entry,
            prev,
            next: NIL,
            kprev,
            knext: NIL,
            head,
        };
        let i = alloc(&mut self.slots, &mut self.free, node);
        lists[c].tail = i;
        if kprev == NIL {
            lists[c].head = i;
        } else {
            at(&mut self.slots, kprev).knext = i;
        }
        self.lru.tail = i;
        if prev == NIL {
            self.lru.head = i;
        } else {
            at(&mut self.slots, prev).next = i;
        }
        self.len += 1;
    }

    /// Remove the entry in slot `i` from both its lists and free the slot (and its
    /// key's head when that was the key's last entry). O(1).
    fn unlink(&mut self, i: u32) -> Pooled<C> {
        let n = self.slots[i as usize]
            .take()
            .expect("a linked slot is occupied");
        match n.prev {
            NIL => self.lru.head = n.next,
            p => at(&mut self.slots, p).next = n.next,
        }
        match n.next {
            NIL => self.lru.tail = n.prev,
            x => at(&mut self.slots, x).prev = n.prev,
        }
        if n.kprev != NIL {
            at(&mut self.slots, n.kprev).knext = n.knext;
        }
        if n.knext != NIL {
            at(&mut self.slots, n.knext).kprev = n.kprev;
        }
        let c = class(n.entry.state).expect("only idle and safe entries are stored");
        let head = at(&mut self.heads, n.head);
        if n.kprev == NIL {
            head.lists[c].head = n.knext;
        }
        if n.knext == NIL {
            head.lists[c].tail = n.kprev;
        }
        if head.lists.iter().all(|l| l.head == NIL) {
            self.by_key.remove(&n.entry.key);
            self.heads[n.head as usize] = None;
            self.free_heads.push(n.head);
            if self.memo.is_some_and(|(_, h)| h == n.head) {
                self.memo = None;
            }
        }
        if n.entry.state == ConnState::Safe {
            self.safe -= 1;
        }
        self.len -= 1;
        if self.len == 0 {
            // Every slot is free: drop them (amortised over the inserts that made
            // them), so a burst does not pin large slabs.
            self.slots.clear();
            self.free.clear();
            self.heads.clear();
            self.free_heads.clear();
        } else {
            self.free.push(i);
        }
        n.entry
    }

    /// Remove the least recently used entry. O(1).
    fn pop_front(&mut self) -> Option<Pooled<C>> {
        (self.lru.head != NIL).then(|| self.unlink(self.lru.head))
    }

    /// Offer a released connection (HAProxy's `srv_add_to_idle_list`): refused if
    /// pooling is off (`pool-purge-delay 0`, `pool-max-conn 0`, `http-reuse never`)
    /// or `max-reuse` allows no other request. It fits if under `pool-max-conn` and
    /// either this worker has no idle connection of that kind yet or
    /// `used + idle <= max(used, est_need) + pool-low-conn`; if it does not fit, the
    /// least recently used entry is closed to make room (HAProxy would close the
    /// released one). Appended at the tail. O(1).
    pub fn put(&mut self, r: Release<C>, now_ms: u64) -> PutOutcome {
        let l = self.limits;
        let idle = self.len as u32;
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
            let Some(e) = self.pop_front() else {
                self.refused += 1;
                return PutOutcome::Refused;
            };
            kill(e, KillReason::Purge);
            self.purged += 1;
        }
        self.push_back(Pooled {
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
    /// are killed. O(1) plus the dead entries killed.
    pub fn take(
        &mut self,
        key: ConnKey,
        order: &[ConnState],
        is_dead: impl Fn(&C) -> bool,
    ) -> Option<Taken<C>> {
        // One lookup: unlinking an entry of one list changes no other list's ends.
        let head = self.find(key)?;
        let mut lists = at(&mut self.heads, head).lists;
        for want in order {
            let Some(c) = class(*want) else {
                continue;
            };
            while lists[c].tail != NIL {
                let i = lists[c].tail;
                let node = self.node(i);
                let dead = is_dead(&node.entry.conn);
                lists[c].tail = node.kprev;
                let e = self.unlink(i);
                if dead {
                    kill(e, KillReason::ClosedByServer);
                    self.closed_by_server += 1;
                    continue;
                }
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

    /// A temporary look at every entry in place, least recently used first; those
    /// `is_dead` says are dead are killed. Returns how many. O(n).
    pub fn sweep(&mut self, is_dead: impl Fn(&C) -> bool) -> usize {
        let mut n = 0;
        let mut i = self.lru.head;
        while i != NIL {
            let node = self.node(i);
            let next = node.next;
            if is_dead(&node.entry.conn) {
                let e = self.unlink(i);
                kill(e, KillReason::ClosedByServer);
                n += 1;
            }
            i = next;
        }
        self.closed_by_server += n as u64;
        n
    }

    fn has_activity(&self) -> bool {
        self.len > 0
            || self.usage.used.get() > 0
            || self.usage.max_used.get() > 0
            || self.est_need.get() > 0
    }

    /// Run the purge if its interval has elapsed: returns the plan applied. The
    /// interval clock runs while the server has idle connections, connections in
    /// use, or a need estimate to decay (so a burst held by sessions is learnt).
    /// O(1) per connection closed.
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
            self.len as u32,
            self.usage.max_used.get(),
            self.est_need.get(),
        );
        self.est_need.set(plan.est_need);
        self.usage.max_used.set(plan.max_used);
        for _ in 0..plan.kill {
            let Some(e) = self.pop_front() else {
                break;
            };
            kill(e, KillReason::Purge);
            self.purged += 1;
        }
        self.next_purge_ms = self
            .has_activity()
            .then_some(now_ms + self.limits.purge_delay_ms);
        Some(plan)
    }

    /// Close every idle connection (soft stop), least recently used first.
    pub fn clear(&mut self) {
        while let Some(e) = self.pop_front() {
            kill(e, KillReason::Shutdown);
        }
        self.next_purge_ms = None;
    }

    /// Idle time of the oldest entry (diagnostics).
    pub fn oldest_idle_ms(&self, now_ms: u64) -> Option<u64> {
        (self.lru.head != NIL)
            .then(|| now_ms.saturating_sub(self.node(self.lru.head).entry.since_ms))
    }

    /// Keys of the entries, head (LRU) first (tests, diagnostics).
    pub fn order(&self) -> impl Iterator<Item = (&C, ConnState)> {
        let mut i = self.lru.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let n = self.node(i);
            i = n.next;
            Some((&n.entry.conn, n.entry.state))
        })
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
