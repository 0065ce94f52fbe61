//! Load-balancing decisions, sans-IO: given the servers' current view and a request
//! key, choose a server. No sockets, no clocks; tested alone.
//!
//! Owns: the per-worker algorithm state (smooth weighted round-robin counters, the
//! leastconn tie-break rotation, the random generator, the consistent-hash ring).
//!
//! Semantics follow HAProxy's `balance` keyword:
//! - active (non-backup) servers are used while at least one is usable; otherwise the
//!   first usable backup (all usable backups with `allbackups`);
//! - a server with `maxconn` reached is skipped by the non-hashing algorithms; when all
//!   are full the caller queues the request ([`Pick::AllFull`]);
//! - hashing algorithms (`source`, `uri`, `hdr`) always return the hashed server, full
//!   or not (the request queues on that server to keep the mapping); `hdr` without
//!   the header falls back to round-robin, as HAProxy does.
//!
//! Round-robin across workers: every worker's balancer for a backend shares one
//! atomic ticket counter; ticket `n` picks entry `n mod W` of the smooth weighted
//! sequence of the usable servers (cached, rebuilt when the usable set changes). So
//! consecutive requests alternate exactly, whichever worker handles them, with no
//! lock.
//!
//! Invariant: a server that is not usable (down, maintenance, drain or weight 0) is
//! never returned.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The algorithm of a backend (`balance` + `hash-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `balance uri [whole] [len N] [depth N]`
    Uri {
        whole: bool,
        len: Option<usize>,
        depth: Option<usize>,
    },
    /// `balance hdr(name) [use_domain_only]`
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    /// `balance random[(draws)]`
    Random {
        draws: u32,
    },
}

/// How hash keys map to servers (`hash-type map-based|consistent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashType {
    #[default]
    MapBased,
    Consistent,
}

/// What the balancer needs to know about a server at decision time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerView {
    /// Effective weight; 0 takes the server out of load balancing.
    pub weight: u32,
    pub backup: bool,
    /// Up and in service (not down, not in maintenance, not draining).
    pub usable: bool,
    /// Connections currently served (for `leastconn`, `first`, `maxconn`).
    pub cur_conns: u32,
    /// 0: unlimited.
    pub maxconn: u32,
}

impl ServerView {
    fn eligible(&self) -> bool {
        self.usable && self.weight > 0
    }
    fn full(&self) -> bool {
        self.maxconn != 0 && self.cur_conns >= self.maxconn
    }
}

/// The request-side input of a decision.
#[derive(Clone, Copy, Debug, Default)]
pub struct LbKey<'a> {
    /// Client address bytes (4 or 16) for `source`.
    pub source: Option<&'a [u8]>,
    /// Request target (path and query) for `uri`.
    pub uri: Option<&'a [u8]>,
    /// Value of the configured header for `hdr(name)`.
    pub header: Option<&'a [u8]>,
}

/// The outcome of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Use this server (its index in the slice given).
    Server(usize),
    /// Usable servers exist but all are at `maxconn`: queue in the backend.
    AllFull,
    /// No usable server: answer 503.
    NoServer,
}

/// Per-worker balancer state for one backend.
#[derive(Debug)]
pub struct Balancer {
    algo: Algorithm,
    hash_type: HashType,
    all_backups: bool,
    /// Smooth weighted round-robin current weights, one per server.
    current: Vec<i64>,
    /// Rotation for leastconn ties.
    rotate: usize,
    rng: u64,
    /// Consistent-hash ring (point, server), sorted; rebuilt when the usable set changes.
    ring: Vec<(u64, usize)>,
    ring_sig: u64,
    /// Shared round-robin ticket counter (all workers of a backend).
    ticket: Option<Arc<AtomicU64>>,
    /// Smooth weighted round-robin sequence of the candidates, and its signature.
    seq: Vec<usize>,
    seq_sig: u64,
}

impl Balancer {
    pub fn new(algo: Algorithm, hash_type: HashType, all_backups: bool, seed: u64) -> Self {
        Balancer {
            algo,
            hash_type,
            all_backups,
            current: Vec::new(),
            rotate: 0,
            rng: seed | 1,
            ring: Vec::new(),
            ring_sig: 0,
            ticket: None,
            seq: Vec::new(),
            seq_sig: 0,
        }
    }

    /// Share round-robin progress with the other workers through `ticket`.
    pub fn with_shared_ticket(mut self, ticket: Arc<AtomicU64>) -> Self {
        self.ticket = Some(ticket);
        self
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.algo
    }

    /// Choose a server for a request.
    pub fn pick(&mut self, servers: &[ServerView], key: LbKey<'_>) -> Pick {
        if self.current.len() != servers.len() {
            self.current = vec![0; servers.len()];
        }
        // The candidate set: active servers, or backups when no active one is usable.
        let any_active = servers.iter().any(|s| !s.backup && s.eligible());
        let all_backups = self.all_backups;
        let first_backup = if any_active || all_backups {
            None
        } else {
            servers.iter().position(|s| s.backup && s.eligible())
        };
        let candidate = |i: usize, s: &ServerView| -> bool {
            s.eligible()
                && if any_active {
                    !s.backup
                } else if all_backups {
                    s.backup
                } else {
                    Some(i) == first_backup
                }
        };
        if !servers.iter().enumerate().any(|(i, s)| candidate(i, s)) {
            return Pick::NoServer;
        }
        let hash = match &self.algo {
            Algorithm::Source => key.source.map(hash_bytes),
            Algorithm::Uri { whole, len, depth } => key
                .uri
                .map(|u| hash_bytes(uri_key(u, *whole, *len, *depth))),
            Algorithm::Hdr {
                use_domain_only, ..
            } => key.header.map(|h| {
                if *use_domain_only {
                    hash_bytes(domain_key(h))
                } else {
                    hash_bytes(h)
                }
            }),
            _ => None,
        };
        if let Some(h) = hash {
            return Pick::Server(self.by_hash(servers, &candidate, h));
        }
        let pick = match self.algo {
            Algorithm::LeastConn => self.least_conn(servers, &candidate),
            Algorithm::First => {
                (0..servers.len()).find(|&i| candidate(i, &servers[i]) && !servers[i].full())
            }
            Algorithm::Random { draws } => self.random(servers, &candidate, draws.max(1)),
            // Round-robin, static-rr, and hashing algorithms without their key.
            _ => self.weighted_rr(servers, &candidate),
        };
        pick.map_or(Pick::AllFull, Pick::Server)
    }

    fn weighted_rr(
        &mut self,
        servers: &[ServerView],
        candidate: &dyn Fn(usize, &ServerView) -> bool,
    ) -> Option<usize> {
        if let Some(ticket) = self.ticket.clone() {
            return self.shared_rr(servers, candidate, &ticket);
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, s) in servers.iter().enumerate() {
            if !candidate(i, s) || s.full() {
                continue;
            }
            self.current[i] += i64::from(s.weight);
            total += i64::from(s.weight);
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        self.current[b] -= total;
        Some(b)
    }

    fn shared_rr(
        &mut self,
        servers: &[ServerView],
        candidate: &dyn Fn(usize, &ServerView) -> bool,
        ticket: &AtomicU64,
    ) -> Option<usize> {
        let mut sig = 0x84222325cbf29ce4u64;
        for (i, s) in servers.iter().enumerate() {
            if candidate(i, s) {
                sig = mix(sig ^ ((i as u64) << 32 | u64::from(s.weight)));
            }
        }
        if sig != self.seq_sig || self.seq.is_empty() {
            // Smooth weighted round-robin, unrolled over one full period.
            self.seq.clear();
            let mut cur = vec![0i64; servers.len()];
            let total: i64 = servers
                .iter()
                .enumerate()
                .filter(|(i, s)| candidate(*i, s))
                .map(|(_, s)| i64::from(s.weight))
                .sum();
            for _ in 0..total {
                let mut best: Option<usize> = None;
                for (i, s) in servers.iter().enumerate() {
                    if !candidate(i, s) {
                        continue;
                    }
                    cur[i] += i64::from(s.weight);
                    if best.is_none_or(|b| cur[i] > cur[b]) {
                        best = Some(i);
                    }
                }
                let b = best?;
                cur[b] -= total;
                self.seq.push(b);
            }
            self.seq_sig = sig;
        }
        let n = self.seq.len() as u64;
        for _ in 0..n {
            let k = ticket.fetch_add(1, Ordering::Relaxed) % n;
            let i = self.seq[k as usize];
            if !servers[i].full() {
                return Some(i);
            }
        }
        None
    }

    fn least_conn(
        &mut self,
        servers: &[ServerView],
        candidate: &dyn Fn(usize, &ServerView) -> bool,
    ) -> Option<usize> {
        let n = servers.len();
        let mut best: Option<(usize, u64)> = None;
        for k in 0..n {
            let i = (self.rotate + k) % n;
            let s = &servers[i];
            if !candidate(i, s) || s.full() {
                continue;
            }
            // Compare (cur+1)/weight without division: scale by a common factor.
            let load = (u64::from(s.cur_conns) + 1) * 1_000_000 / u64::from(s.weight);
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((i, load));
            }
        }
        let (b, _) = best?;
        self.rotate = (b + 1) % n;
        Some(b)
    }

    fn random(
        &mut self,
        servers: &[ServerView],
        candidate: &dyn Fn(usize, &ServerView) -> bool,
        draws: u32,
    ) -> Option<usize> {
        let total: u64 = servers
            .iter()
            .enumerate()
            .filter(|(i, s)| candidate(*i, s) && !s.full())
            .map(|(_, s)| u64::from(s.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let mut best: Option<usize> = None;
        for _ in 0..draws {
            let mut r = self.next_random() % total;
            let mut chosen = None;
            for (i, s) in servers.iter().enumerate() {
                if !candidate(i, s) || s.full() {
                    continue;
                }
                let w = u64::from(s.weight);
                if r < w {
                    chosen = Some(i);
                    break;
                }
                r -= w;
            }
            let c = chosen?;
            best = match best {
                Some(b) if servers[b].cur_conns <= servers[c].cur_conns => Some(b),
                _ => Some(c),
            };
        }
        best
    }

    fn by_hash(
        &mut self,
        servers: &[ServerView],
        candidate: &dyn Fn(usize, &ServerView) -> bool,
        hash: u64,
    ) -> usize {
        match self.hash_type {
            HashType::MapBased => {
                let total: u64 = servers
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| candidate(*i, s))
                    .map(|(_, s)| u64::from(s.weight))
                    .sum();
                let mut r = hash % total;
                for (i, s) in servers.iter().enumerate() {
                    if !candidate(i, s) {
                        continue;
                    }
                    let w = u64::from(s.weight);
                    if r < w {
                        return i;
                    }
                    r -= w;
                }
                unreachable!("total weight covers the hash")
            }
            HashType::Consistent => {
                let mut sig = 0xcbf29ce484222325u64;
                for (i, s) in servers.iter().enumerate() {
                    if candidate(i, s) {
                        sig = mix(sig ^ ((i as u64) << 32 | u64::from(s.weight)));
                    }
                }
                if sig != self.ring_sig || self.ring.is_empty() {
                    self.ring.clear();
                    for (i, s) in servers.iter().enumerate() {
                        if !candidate(i, s) {
                            continue;
                        }
                        // HAProxy gives each server weight * 16 points on the ring.
                        for p in 0..(u64::from(s.weight) * 16) {
                            self.ring.push((mix((i as u64) << 32 | p), i));
                        }
                    }
                    self.ring.sort_unstable();
                    self.ring_sig = sig;
                }
                let h = mix(hash);
                let at = self.ring.partition_point(|(p, _)| *p < h);
                self.ring[at % self.ring.len()].1
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545F4914F6CDD1D)
    }
}

/// The part of the URI `balance uri` hashes.
fn uri_key(uri: &[u8], whole: bool, len: Option<usize>, depth: Option<usize>) -> &[u8] {
    let mut end = if whole {
        uri.len()
    } else {
        uri.iter().position(|&b| b == b'?').unwrap_or(uri.len())
    };
    if let Some(d) = depth {
        let mut slashes = 0;
        for (i, &b) in uri[..end].iter().enumerate() {
            if b == b'/' {
                slashes += 1;
                if slashes > d {
                    end = i;
                    break;
                }
            }
        }
    }
    if let Some(l) = len {
        end = end.min(l);
    }
    &uri[..end]
}

/// `use_domain_only`: the second-level label of a host name ("www.example.com" →
/// "example"), or the whole value when it has fewer labels.
fn domain_key(h: &[u8]) -> &[u8] {
    let host = h.split(|&b| b == b':').next().unwrap_or(h);
    let labels: Vec<&[u8]> = host.split(|&b| b == b'.').collect();
    if labels.len() >= 2 {
        labels[labels.len() - 2]
    } else {
        host
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser: full avalanche.
    x = x.wrapping_add(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D049BB133111EB);
    x ^ (x >> 31)
}

/// A fast, well-mixed hash of a key.
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for chunk in b.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(w));
    }
    mix(h ^ b.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(weight: u32) -> ServerView {
        ServerView {
            weight,
            backup: false,
            usable: true,
            cur_conns: 0,
            maxconn: 0,
        }
    }

    fn counts(b: &mut Balancer, s: &[ServerView], n: usize) -> Vec<usize> {
        let mut c = vec![0; s.len()];
        for _ in 0..n {
            match b.pick(s, LbKey::default()) {
                Pick::Server(i) => c[i] += 1,
                other => panic!("{other:?}"),
            }
        }
        c
    }

    #[test]
    fn roundrobin_alternates_and_respects_weights() {
        let mut b = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1);
        let s = [up(1), up(1), up(1)];
        let seq: Vec<_> = (0..6).map(|_| b.pick(&s, LbKey::default())).collect();
        assert_eq!(
            seq,
            [0, 1, 2, 0, 1, 2].map(Pick::Server).to_vec(),
            "equal weights alternate strictly"
        );
        let s = [up(3), up(1)];
        assert_eq!(counts(&mut b, &s, 400), vec![300, 100]);
    }

    #[test]
    fn shared_ticket_alternates_across_balancers() {
        let t = Arc::new(AtomicU64::new(0));
        let mut a = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1)
            .with_shared_ticket(t.clone());
        let mut b = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 2)
            .with_shared_ticket(t);
        let s = [up(1), up(1), up(1)];
        let seq: Vec<_> = (0..6)
            .map(|i| {
                let bal = if i % 2 == 0 { &mut a } else { &mut b };
                bal.pick(&s, LbKey::default())
            })
            .collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2].map(Pick::Server).to_vec());
        let s = [up(3), up(1)];
        let mut c = [0; 2];
        for _ in 0..400 {
            if let Pick::Server(i) = a.pick(&s, LbKey::default()) {
                c[i] += 1;
            }
        }
        assert_eq!(c, [300, 100]);
        let mut s = [up(1), up(1)];
        s[0].maxconn = 1;
        s[0].cur_conns = 1;
        assert_eq!(
            a.pick(&s, LbKey::default()),
            Pick::Server(1),
            "full servers are skipped"
        );
    }

    #[test]
    fn down_and_zero_weight_servers_are_never_chosen() {
        let mut b = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1);
        let mut s = [up(1), up(1), up(0)];
        s[0].usable = false;
        assert_eq!(counts(&mut b, &s, 10), vec![0, 10, 0]);
        s[1].usable = false;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::NoServer);
    }

    #[test]
    fn backups_only_when_no_active_server() {
        let mut b = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1);
        let mut s = [up(1), up(1), up(1)];
        s[1].backup = true;
        s[2].backup = true;
        assert_eq!(counts(&mut b, &s, 4), vec![4, 0, 0]);
        s[0].usable = false;
        assert_eq!(counts(&mut b, &s, 4), vec![0, 4, 0], "first backup only");
        let mut all = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, true, 1);
        assert_eq!(counts(&mut all, &s, 4), vec![0, 2, 2], "allbackups");
    }

    #[test]
    fn leastconn_prefers_least_loaded_and_rotates_ties() {
        let mut b = Balancer::new(Algorithm::LeastConn, HashType::MapBased, false, 1);
        let mut s = [up(1), up(1), up(1)];
        s[0].cur_conns = 5;
        s[1].cur_conns = 1;
        s[2].cur_conns = 3;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::Server(1));
        let s = [up(1), up(1)];
        let a = b.pick(&s, LbKey::default());
        let c = b.pick(&s, LbKey::default());
        assert_ne!(a, c, "ties rotate");
    }

    #[test]
    fn first_fills_servers_in_order() {
        let mut b = Balancer::new(Algorithm::First, HashType::MapBased, false, 1);
        let mut s = [up(1), up(1)];
        s[0].maxconn = 2;
        s[1].maxconn = 2;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::Server(0));
        s[0].cur_conns = 2;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::Server(1));
        s[1].cur_conns = 2;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::AllFull);
    }

    #[test]
    fn maxconn_full_servers_are_skipped_then_queue() {
        let mut b = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1);
        let mut s = [up(1), up(1)];
        s[0].maxconn = 1;
        s[0].cur_conns = 1;
        assert_eq!(counts(&mut b, &s, 3), vec![0, 3]);
        s[1].maxconn = 1;
        s[1].cur_conns = 1;
        assert_eq!(b.pick(&s, LbKey::default()), Pick::AllFull);
    }

    #[test]
    fn source_hash_is_sticky_and_spreads() {
        let mut b = Balancer::new(Algorithm::Source, HashType::MapBased, false, 1);
        let s = [up(1), up(1), up(1), up(1)];
        let ip = [127u8, 0, 0, 9];
        let key = LbKey {
            source: Some(&ip),
            ..LbKey::default()
        };
        let first = b.pick(&s, key);
        for _ in 0..10 {
            assert_eq!(b.pick(&s, key), first);
        }
        let mut seen = [0; 4];
        for last in 0..=255u8 {
            let ip = [10, 0, 0, last];
            let key = LbKey {
                source: Some(&ip),
                ..LbKey::default()
            };
            if let Pick::Server(i) = b.pick(&s, key) {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 30), "spread {seen:?}");
    }

    #[test]
    fn consistent_hash_moves_few_keys_when_a_server_goes_down() {
        let mut b = Balancer::new(Algorithm::Source, HashType::Consistent, false, 1);
        let mut s = [up(1), up(1), up(1), up(1)];
        let pick_all = |b: &mut Balancer, s: &[ServerView]| -> Vec<Pick> {
            (0..400u32)
                .map(|k| {
                    let kb = k.to_be_bytes();
                    b.pick(
                        s,
                        LbKey {
                            source: Some(&kb),
                            ..LbKey::default()
                        },
                    )
                })
                .collect()
        };
        let before = pick_all(&mut b, &s);
        s[3].usable = false;
        let after = pick_all(&mut b, &s);
        let moved = before
            .iter()
            .zip(&after)
            .filter(|(x, y)| x != y && **x != Pick::Server(3))
            .count();
        assert_eq!(moved, 0, "only keys of the removed server move");
    }

    #[test]
    fn uri_key_forms() {
        assert_eq!(uri_key(b"/a/b/c?x=1", false, None, None), b"/a/b/c");
        assert_eq!(uri_key(b"/a/b/c?x=1", true, None, None), b"/a/b/c?x=1");
        assert_eq!(uri_key(b"/a/b/c", false, None, Some(2)), b"/a/b");
        assert_eq!(uri_key(b"/abcdef", false, Some(3), None), b"/ab");
        assert_eq!(domain_key(b"www.example.com:8080"), b"example");
    }

    #[test]
    fn hdr_without_header_falls_back_to_roundrobin() {
        let algo = Algorithm::Hdr {
            name: "host".into(),
            use_domain_only: false,
        };
        let mut b = Balancer::new(algo, HashType::MapBased, false, 1);
        let s = [up(1), up(1)];
        assert_eq!(counts(&mut b, &s, 4), vec![2, 2]);
        let key = LbKey {
            header: Some(b"a.example"),
            ..LbKey::default()
        };
        let p = b.pick(&s, key);
        assert_eq!(b.pick(&s, key), p);
    }

    #[test]
    fn random_uses_all_and_prefers_less_loaded() {
        let mut b = Balancer::new(Algorithm::Random { draws: 2 }, HashType::MapBased, false, 7);
        let s = [up(1), up(1), up(1)];
        let c = counts(&mut b, &s, 300);
        assert!(c.iter().all(|&n| n > 40), "{c:?}");
        let mut s = [up(1), up(1)];
        s[0].cur_conns = 100;
        let c = counts(&mut b, &s, 100);
        assert!(c[1] > c[0], "{c:?}");
    }
}
