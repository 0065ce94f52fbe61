//! Maps and ACL files at run time: the per-worker pattern store.
//!
//! Owns: [`PatternStore`] (every pattern file of the configuration with its entries
//! and one [`index::Index`] per use), [`Update`] (one change, broadcast to every
//! worker through the mailbox as `Message::Pattern`), the worker's store in a
//! thread-local ([`install`], [`with_store`]), and the lookups the rules call
//! ([`map_lookup`], [`acl_match`]).
//!
//! Share-nothing: each worker thread builds its own store from the configuration at
//! start and owns it; nothing is locked. A change (CLI `set map`, `http-request
//! set-map` on one worker …) is one [`Update`] in an `Arc`, sent to every worker:
//! O(1) work to send, and each worker applies it to its own copy with the index
//! costs of [`index`] (O(key length) for `str`, `beg`, `end`, `ip`; O(N) removal
//! for list uses). Every update takes a place in one process-wide order
//! ([`sequence`], an atomic counter) and every worker applies updates in that order
//! ([`deliver`] holds back one that arrives early), so concurrent changes from the
//! CLI and from rules on several workers leave every copy the same. An update lost
//! to a full mailbox is waited for [`GAP_MS`], then skipped and counted. Entry ids are the same on every worker: ids 1..=N number the
//! configuration's entries in file order, ids from [`new_id`] (a process-wide
//! counter starting at 2^40) the entries added at run time.
//!
//! Invariants: the ids of a file's entries order them by age and every index holds
//! exactly the entries whose key fits its method; a lookup never allocates (`-i`
//! uses lower-case the sample into the store's reusable buffer); a worker applies
//! update `n` only after `n - 1` (or after giving up on it).

pub mod index;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use appliance_config::model::pattern::{MapOutput, PatRef, PatternFile, PatternUse};
use appliance_config::Config;

use index::{Index, Probe};

use crate::rules::Sample;

/// First id given to entries added at run time.
const RUNTIME_IDS: u64 = 1 << 40;
static NEXT_ID: AtomicU64 = AtomicU64::new(RUNTIME_IDS);

/// A fresh entry id, unique in the process (ids are allocated by whoever originates
/// an addition, so that every worker files the entry under the same id).
pub fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Key (map) or pattern (ACL).
    pub key: Box<str>,
    /// Value (empty for ACLs).
    pub value: Box<str>,
}

/// One use of a file: its parameters and its index.
#[derive(Debug)]
struct Use {
    u: PatternUse,
    index: Index,
}

/// One pattern file at run time.
#[derive(Debug)]
pub struct RefStore {
    /// Entries by id (ids grow with time: sorting them gives insertion order).
    entries: HashMap<u64, Entry>,
    /// Ids of the entries holding each key, ascending.
    by_key: HashMap<Box<str>, Vec<u64>>,
    uses: Vec<Use>,
}

/// A change to one file (`file` indexes `Config::pattern_files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// `add map|acl`: append an entry.
    Add {
        file: usize,
        id: u64,
        key: String,
        value: String,
    },
    /// `set map <key>`: change the value of every entry with that key.
    Set {
        file: usize,
        key: String,
        value: String,
    },
    /// `set map #<id>`.
    SetId { file: usize, id: u64, value: String },
    /// `http-request set-map`: `Set` if the key exists, else `Add` with `id`.
    SetOrAdd {
        file: usize,
        id: u64,
        key: String,
        value: String,
    },
    /// `http-request add-acl`: `Add` unless the pattern exists.
    AddIfAbsent { file: usize, id: u64, key: String },
    /// `del map|acl <key>`: delete every entry with that key.
    Del { file: usize, key: String },
    /// `del map|acl #<id>`.
    DelId { file: usize, id: u64 },
    /// `clear map|acl`.
    Clear { file: usize },
}

impl Update {
    /// The file changed.
    pub fn file(&self) -> usize {
        match self {
            Update::Add { file, .. }
            | Update::Set { file, .. }
            | Update::SetId { file, .. }
            | Update::SetOrAdd { file, .. }
            | Update::AddIfAbsent { file, .. }
            | Update::Del { file, .. }
            | Update::DelId { file, .. }
            | Update::Clear { file } => *file,
        }
    }
}

/// Why an update changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// No such file.
    UnknownFile,
    /// No entry with that key or id.
    NotFound,
}

impl RefStore {
    fn new(f: &PatternFile, first_id: u64) -> RefStore {
        let mut r = RefStore {
            entries: HashMap::with_capacity(f.entries.len()),
            by_key: HashMap::with_capacity(f.entries.len()),
            uses: f
                .uses
                .iter()
                .map(|u| {
                    let mut index = Index::new(u);
                    index.reserve(f.entries.len());
                    Use { u: *u, index }
                })
                .collect(),
        };
        for (i, e) in f.entries.iter().enumerate() {
            r.add(first_id + i as u64, &e.key, &e.value);
        }
        r
    }

    fn add(&mut self, id: u64, key: &str, value: &str) {
        for u in &mut self.uses {
            u.index.insert(&u.u, id, key);
        }
        let ids = self.by_key.entry(key.into()).or_default();
        if let Err(p) = ids.binary_search(&id) {
            ids.insert(p, id);
        }
        self.entries.insert(
            id,
            Entry {
                key: key.into(),
                value: value.into(),
            },
        );
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(e) = self.entries.remove(&id) else {
            return false;
        };
        for u in &mut self.uses {
            u.index.remove(&u.u, id, &e.key);
        }
        if let Some(ids) = self.by_key.get_mut(&e.key) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_key.remove(&e.key);
            }
        }
        true
    }

    fn set(&mut self, key: &str, value: &str) -> bool {
        let Some(ids) = self.by_key.get(key) else {
            return false;
        };
        for id in ids {
            if let Some(e) = self.entries.get_mut(id) {
                e.value = value.into();
            }
        }
        true
    }

    /// The entries, oldest first (sorts the ids: O(N log N), for the CLI's `show`).
    pub fn entries(&self) -> Vec<(u64, &Entry)> {
        let mut v: Vec<(u64, &Entry)> = self.entries.iter().map(|(id, e)| (*id, e)).collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with id `id`.
    pub fn entry(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// The uses of the file, for `get map`.
    pub fn uses(&self) -> impl Iterator<Item = &PatternUse> {
        self.uses.iter().map(|u| &u.u)
    }
}

/// A worker's pattern files.
#[derive(Debug, Default)]
pub struct PatternStore {
    files: Vec<RefStore>,
    /// Reused for lower-casing samples of `-i` uses.
    lower: Vec<u8>,
}

impl PatternStore {
    /// Builds the store for a configuration (entry ids 1..=N in file order).
    pub fn from_config(cfg: &Config) -> PatternStore {
        let mut next = 1u64;
        let files = cfg
            .pattern_files
            .iter()
            .map(|f| {
                let r = RefStore::new(f, next);
                next += f.entries.len() as u64;
                r
            })
            .collect();
        PatternStore {
            files,
            lower: Vec::new(),
        }
    }

    /// File `i`.
    pub fn file(&self, i: usize) -> Option<&RefStore> {
        self.files.get(i)
    }

    /// Applies one change.
    pub fn apply(&mut self, up: &Update) -> Result<(), UpdateError> {
        let r = self
            .files
            .get_mut(up.file())
            .ok_or(UpdateError::UnknownFile)?;
        let found = match up {
            Update::Add { id, key, value, .. } => {
                r.add(*id, key, value);
                true
            }
            Update::Set { key, value, .. } => r.set(key, value),
            Update::SetId { id, value, .. } => match r.entries.get_mut(id) {
                Some(e) => {
                    e.value = value.as_str().into();
                    true
                }
                None => false,
            },
            Update::SetOrAdd { id, key, value, .. } => {
                if !r.set(key, value) {
                    r.add(*id, key, value);
                }
                true
            }
            Update::AddIfAbsent { id, key, .. } => {
                if !r.by_key.contains_key(key.as_str()) {
                    r.add(*id, key, "");
                }
                true
            }
            Update::Del { key, .. } => match r.by_key.get(key.as_str()) {
                Some(ids) => {
                    for id in ids.clone() {
                        r.remove(id);
                    }
                    true
                }
                None => false,
            },
            Update::DelId { id, .. } => r.remove(*id),
            Update::Clear { .. } => {
                r.entries.clear();
                r.by_key.clear();
                for u in &mut r.uses {
                    u.index.clear();
                }
                true
            }
        };
        if found {
            Ok(())
        } else {
            Err(UpdateError::NotFound)
        }
    }

    /// Looks `s` up in use `p`; the matching entry's id.
    pub fn lookup(&mut self, p: PatRef, s: &Sample<'_>) -> Option<u64> {
        let r = self.files.get(p.file)?;
        let u = r.uses.get(p.use_idx)?;
        let mut buf = [0u8; 48];
        match (*s, u.u.method) {
            (Sample::Ip(ip), _) if matches!(u.index, Index::Ip(_)) => u.index.lookup(Probe::Ip(ip)),
            (Sample::Int(i), appliance_config::model::sample::MatchMethod::Int) => {
                u.index.lookup(Probe::Int(i))
            }
            _ => {
                let t = crate::rules::sample_text(s, &mut buf);
                if u.u.ignore_case && matches!(u.index, Index::Str(_) | Index::Affix(_)) {
                    self.lower.clear();
                    self.lower.extend(t.iter().map(u8::to_ascii_lowercase));
                    u.index.lookup(Probe::Text(&self.lower))
                } else {
                    u.index.lookup(Probe::Text(t))
                }
            }
        }
    }
}

/// An update with its place in the process-wide order.
#[derive(Debug)]
pub struct Sequenced {
    /// Position in the order (from [`sequence`]).
    pub seq: u64,
    /// The change.
    pub up: Update,
}

/// Where a worker says whether an update found what it changes (the CLI waits).
pub type Reply = std::sync::mpsc::Sender<Result<(), UpdateError>>;

static SEQ: AtomicU64 = AtomicU64::new(1);

/// Gives `up` the next place in the order every worker applies updates in.
pub fn sequence(up: Update) -> Arc<Sequenced> {
    Arc::new(Sequenced {
        seq: SEQ.fetch_add(1, Ordering::Relaxed),
        up,
    })
}

/// How long a worker waits for a missing update (lost to a full mailbox) before it
/// skips it and applies the later ones.
const GAP_MS: u64 = 200;

/// A worker's position in the order and the updates that arrived early.
#[derive(Default)]
struct Order {
    next: u64,
    pending: BTreeMap<u64, (Arc<Sequenced>, Option<Reply>)>,
    /// When the oldest pending update started waiting for a gap.
    waiting_since: Option<u64>,
}

thread_local! {
    static STORE: RefCell<PatternStore> = RefCell::new(PatternStore::default());
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    static ORDER: RefCell<Order> = RefCell::new(Order { next: 1, ..Order::default() });
}

/// Updates lost because a worker's mailbox was full, or skipped after waiting for
/// one (a rule-driven update is never waited for on the request path).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Makes `store` the store of this thread, worker `worker`.
pub fn install(store: PatternStore, worker: usize) {
    STORE.with(|s| *s.borrow_mut() = store);
    WORKER.with(|w| w.set(worker));
}

/// Updates lost (see [`DROPPED`]).
pub fn dropped_updates() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Takes an update from the mailbox (or from a rule of this worker): applies it and
/// every update it was holding back, in order. Updates from every source are applied
/// in the same order on every worker, so the copies converge.
pub fn deliver(m: Arc<Sequenced>, reply: Option<Reply>, now_ms: u64) {
    ORDER.with(|o| {
        let mut o = o.borrow_mut();
        if m.seq < o.next {
            // Skipped as lost earlier; applying it now would reorder.
            DROPPED.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = reply {
                let _ = r.send(Err(UpdateError::NotFound));
            }
            return;
        }
        o.pending.insert(m.seq, (m, reply));
        drain(&mut o, now_ms);
    });
}

/// Skips a gap that has been waited for longer than [`GAP_MS`] (call it now and
/// then from the worker's housekeeping).
pub fn tick(now_ms: u64) {
    ORDER.with(|o| drain(&mut o.borrow_mut(), now_ms));
}

fn drain(o: &mut Order, now_ms: u64) {
    loop {
        let next = o.next;
        if let Some((m, reply)) = o.pending.remove(&next) {
            let r = with_store(|s| s.apply(&m.up));
            if let Some(tx) = reply {
                let _ = tx.send(r);
            }
            o.next += 1;
            o.waiting_since = None;
            continue;
        }
        let Some(&first) = o.pending.keys().next() else {
            o.waiting_since = None;
            return;
        };
        let since = *o.waiting_since.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) < GAP_MS {
            return;
        }
        DROPPED.fetch_add(first - next, Ordering::Relaxed);
        o.next = first;
    }
}

/// A change made by a rule on this worker (`http-request set-map` …): takes its
/// place in the order, is applied here at once if nothing is in flight before it,
/// and is sent to every other worker (one `Arc`, one message each).
pub fn propagate(shared: &crate::proxy::Shared, up: Update) {
    let m = sequence(up);
    let me = WORKER.with(|w| w.get());
    if let Some(peers) = shared.peers.get() {
        for (i, p) in peers.iter().enumerate() {
            if i != me
                && p.send(crate::proxy::Message::Pattern(m.clone(), None))
                    .is_err()
            {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    deliver(m, None, crate::runtime::clock::now_ms());
}

/// Runs `f` on this thread's store.
pub fn with_store<R>(f: impl FnOnce(&mut PatternStore) -> R) -> R {
    STORE.with(|s| f(&mut s.borrow_mut()))
}

/// The map converter: looks `s` up and hands the value (or `default`) to `out`
/// as text; `None` when neither exists.
pub fn map_lookup<R>(
    p: PatRef,
    s: &Sample<'_>,
    default: Option<&str>,
    out: impl FnOnce(&[u8]) -> R,
) -> Option<R> {
    STORE.with(|st| {
        let mut st = st.borrow_mut();
        match st.lookup(p, s) {
            Some(id) => {
                let v = st.files[p.file].entries.get(&id)?;
                Some(out(v.value.as_bytes()))
            }
            None => default.map(|d| out(d.as_bytes())),
        }
    })
}

/// An ACL `-f` file: does `s` match an entry?
pub fn acl_match(p: PatRef, s: &Sample<'_>) -> bool {
    STORE.with(|st| st.borrow_mut().lookup(p, s).is_some())
}

/// Parses a map value for an output type (`None` when it does not fit).
pub fn typed_value(output: MapOutput, v: &[u8]) -> Option<Sample<'_>> {
    Some(match output {
        MapOutput::Str => Sample::Str(v),
        MapOutput::Int => Sample::Int(crate::rules::parse_int(v)?),
        MapOutput::Ip => Sample::Ip(std::str::from_utf8(v).ok()?.trim().parse::<IpAddr>().ok()?),
    })
}

#[cfg(test)]
mod tests;
