//! The lookup indexes of one use of a pattern file (one match method).
//!
//! Owns: [`Index`] and its kinds. Every index maps a key to the ids of the entries
//! holding it (ascending: the oldest entry wins, as the first line of a file wins in
//! HAProxy) and answers with an entry id, never with a copy of the value.
//!
//! Costs, N entries, L the sample's length:
//! - `str`: one hash probe — O(L), independent of N.
//! - `beg` / `end`: a hash of the prefixes (suffixes) present, plus the set of the
//!   distinct key lengths; a lookup probes each distinct length ≤ L from the longest
//!   down, so the longest prefix (suffix) wins — O(L·min(L, lengths)), independent
//!   of N. (HAProxy uses a prefix tree for `beg`; same answer, longest match.)
//! - `ip`: longest-prefix match with one hash per prefix length present (at most 33
//!   probes for IPv4, 129 for IPv6) — independent of N.
//! - `sub`, `dom`, `dir`, `reg`, `int`, `len`: a list scanned in file order, first
//!   match wins — O(N), as in HAProxy, which keeps these in lists too.
//!
//! Insert and remove cost the same as a lookup, except for lists, where removal
//! scans (O(N)). An empty index answers after checking one length, without hashing.
//! Invariant: keys are stored lower-case when the use ignores case, and callers pass
//! a lower-cased sample in that case.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use appliance_config::model::pattern::PatternUse;
use appliance_config::model::sample::{IntRange, IpNet, MatchMethod};
use regex::bytes::{Regex, RegexBuilder};

use crate::rules::{delimited, find_from, parse_int};

/// Ids of the entries sharing one key, ascending; one id (the usual case) is kept
/// inline, so a lookup reads no second allocation.
#[derive(Clone, Debug, Default)]
enum Ids {
    #[default]
    Empty,
    One(u64),
    Many(Vec<u64>),
}

impl Ids {
    /// The oldest id.
    fn first(&self) -> Option<u64> {
        match self {
            Ids::Empty => None,
            Ids::One(i) => Some(*i),
            Ids::Many(v) => v.first().copied(),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Ids::Empty)
    }
}

fn add_id(ids: &mut Ids, id: u64) {
    match ids {
        Ids::Empty => *ids = Ids::One(id),
        Ids::One(i) if *i == id => {}
        Ids::One(i) => {
            let mut v = vec![*i, id];
            v.sort_unstable();
            *ids = Ids::Many(v);
        }
        Ids::Many(v) => {
            if let Err(p) = v.binary_search(&id) {
                v.insert(p, id);
            }
        }
    }
}

/// Removes `id`; true when the list is now empty.
fn remove_id(ids: &mut Ids, id: u64) -> bool {
    match ids {
        Ids::One(i) if *i == id => *ids = Ids::Empty,
        Ids::Many(v) => {
            if let Ok(p) = v.binary_search(&id) {
                v.remove(p);
            }
            match v.len() {
                0 => *ids = Ids::Empty,
                1 => *ids = Ids::One(v[0]),
                _ => {}
            }
        }
        _ => {}
    }
    ids.is_empty()
}

/// Exact keys.
#[derive(Debug, Default)]
pub struct StrIndex {
    map: HashMap<Box<[u8]>, Ids>,
}

/// Prefixes (`beg`) or suffixes (`end`).
#[derive(Debug, Default)]
pub struct AffixIndex {
    map: HashMap<Box<[u8]>, Ids>,
    /// Distinct key lengths and how many keys have each.
    lens: BTreeMap<usize, usize>,
    suffix: bool,
}

/// Networks, longest prefix first.
#[derive(Debug, Default)]
pub struct IpIndex {
    v4: HashMap<(u32, u8), Ids>,
    v4_lens: BTreeMap<u8, usize>,
    v6: HashMap<(u128, u8), Ids>,
    v6_lens: BTreeMap<u8, usize>,
}

/// A pattern kept in a list.
#[derive(Debug)]
enum ListPat {
    Sub(Box<[u8]>),
    Dom(Box<[u8]>),
    Dir(Box<[u8]>),
    Reg(Regex),
    Int(IntRange),
    Len(IntRange),
}

/// Patterns matched one by one, in insertion order.
#[derive(Debug, Default)]
pub struct ListIndex {
    items: Vec<(u64, ListPat)>,
    ignore_case: bool,
}

/// One use's index.
#[derive(Debug)]
pub enum Index {
    /// `str`.
    Str(StrIndex),
    /// `beg` / `end`.
    Affix(AffixIndex),
    /// `ip`.
    Ip(IpIndex),
    /// `sub`, `dom`, `dir`, `reg`, `int`, `len`.
    List(ListIndex),
    /// `found` / `bool`: nothing to index.
    None,
}

/// What a lookup is given.
#[derive(Clone, Copy, Debug)]
pub enum Probe<'a> {
    /// Text (already lower-cased for case-insensitive uses).
    Text(&'a [u8]),
    /// An address (`ip`) or integer (`int`) sample.
    Ip(IpAddr),
    /// An integer.
    Int(i64),
}

fn key_bytes(key: &str, ci: bool) -> Box<[u8]> {
    if ci {
        key.to_ascii_lowercase().into_bytes().into_boxed_slice()
    } else {
        key.as_bytes().into()
    }
}

fn int_range(key: &str) -> Option<IntRange> {
    match key.split_once(':') {
        Some((a, b)) => Some(IntRange {
            min: if a.is_empty() {
                None
            } else {
                Some(a.parse().ok()?)
            },
            max: if b.is_empty() {
                None
            } else {
                Some(b.parse().ok()?)
            },
        }),
        None => {
            let v: i64 = key.parse().ok()?;
            Some(IntRange {
                min: Some(v),
                max: Some(v),
            })
        }
    }
}

/// Parses `a.b.c.d[/n]`, `a.b.c.d/mask` or `v6[/n]` into a masked network.
pub fn parse_net(key: &str) -> Option<IpNet> {
    let (a, m) = match key.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (key, None),
    };
    let ip: IpAddr = a.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match m {
        None => max,
        Some(m) => match m.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            Err(_) => {
                let mask: std::net::Ipv4Addr = m.parse().ok()?;
                let bits = u32::from(mask);
                if !ip.is_ipv4() || bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return None;
                }
                bits.leading_ones() as u8
            }
        },
    };
    Some(IpNet::new(ip, prefix))
}

fn mask4(a: u32, p: u8) -> u32 {
    if p == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(p)))
    }
}

fn mask6(a: u128, p: u8) -> u128 {
    if p == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(p)))
    }
}

fn count_up<K: Ord>(lens: &mut BTreeMap<K, usize>, k: K) {
    *lens.entry(k).or_insert(0) += 1;
}

fn count_down<K: Ord>(lens: &mut BTreeMap<K, usize>, k: K) {
    if let Some(n) = lens.get_mut(&k) {
        *n -= 1;
        if *n == 0 {
            lens.remove(&k);
        }
    }
}

impl Index {
    /// An empty index for a use.
    pub fn new(u: &PatternUse) -> Index {
        match u.method {
            MatchMethod::Str => Index::Str(StrIndex::default()),
            MatchMethod::Beg | MatchMethod::End => Index::Affix(AffixIndex {
                suffix: u.method == MatchMethod::End,
                ..AffixIndex::default()
            }),
            MatchMethod::Ip => Index::Ip(IpIndex::default()),
            MatchMethod::Bool | MatchMethod::Found => Index::None,
            _ => Index::List(ListIndex {
                items: Vec::new(),
                ignore_case: u.ignore_case,
            }),
        }
    }

    /// Makes room for `n` more keys (loading a file: no rehash while inserting).
    pub fn reserve(&mut self, n: usize) {
        match self {
            Index::Str(s) => s.map.reserve(n),
            Index::Affix(a) => a.map.reserve(n),
            Index::List(l) => l.items.reserve(n),
            Index::Ip(_) | Index::None => {}
        }
    }

    /// Adds entry `id` with `key`; false when the key does not fit the method (the
    /// entry is then not indexed by this use).
    pub fn insert(&mut self, u: &PatternUse, id: u64, key: &str) -> bool {
        match self {
            Index::Str(s) => {
                add_id(s.map.entry(key_bytes(key, u.ignore_case)).or_default(), id);
            }
            Index::Affix(a) => {
                let k = key_bytes(key, u.ignore_case);
                let len = k.len();
                let ids = a.map.entry(k).or_default();
                if ids.is_empty() {
                    count_up(&mut a.lens, len);
                }
                add_id(ids, id);
            }
            Index::Ip(ix) => {
                let Some(net) = parse_net(key) else {
                    return false;
                };
                match net.addr {
                    IpAddr::V4(a) => {
                        let ids = ix.v4.entry((u32::from(a), net.prefix)).or_default();
                        if ids.is_empty() {
                            count_up(&mut ix.v4_lens, net.prefix);
                        }
                        add_id(ids, id);
                    }
                    IpAddr::V6(a) => {
                        let ids = ix.v6.entry((u128::from(a), net.prefix)).or_default();
                        if ids.is_empty() {
                            count_up(&mut ix.v6_lens, net.prefix);
                        }
                        add_id(ids, id);
                    }
                }
            }
            Index::List(l) => {
                let k = key_bytes(key, l.ignore_case);
                let p = match u.method {
                    MatchMethod::Sub => ListPat::Sub(k),
                    MatchMethod::Dom => ListPat::Dom(k),
                    MatchMethod::Dir => ListPat::Dir(k),
                    MatchMethod::Reg => match RegexBuilder::new(key)
                        .case_insensitive(u.ignore_case)
                        .build()
                    {
                        Ok(r) => ListPat::Reg(r),
                        Err(_) => return false,
                    },
                    MatchMethod::Int => match int_range(key) {
                        Some(r) => ListPat::Int(r),
                        None => return false,
                    },
                    MatchMethod::Len => match int_range(key) {
                        Some(r) => ListPat::Len(r),
                        None => return false,
                    },
                    _ => return false,
                };
                // Ids grow with time: appending keeps the list in entry order.
                l.items.push((id, p));
            }
            Index::None => {}
        }
        true
    }

    /// Removes entry `id`, stored under `key`.
    pub fn remove(&mut self, u: &PatternUse, id: u64, key: &str) {
        match self {
            Index::Str(s) => {
                let k = key_bytes(key, u.ignore_case);
                if let Some(ids) = s.map.get_mut(&k) {
                    if remove_id(ids, id) {
                        s.map.remove(&k);
                    }
                }
            }
            Index::Affix(a) => {
                let k = key_bytes(key, u.ignore_case);
                if let Some(ids) = a.map.get_mut(&k) {
                    if remove_id(ids, id) {
                        a.map.remove(&k);
                        count_down(&mut a.lens, k.len());
                    }
                }
            }
            Index::Ip(ix) => {
                let Some(net) = parse_net(key) else { return };
                match net.addr {
                    IpAddr::V4(a) => {
                        let k = (u32::from(a), net.prefix);
                        if let Some(ids) = ix.v4.get_mut(&k) {
                            if remove_id(ids, id) {
                                ix.v4.remove(&k);
                                count_down(&mut ix.v4_lens, net.prefix);
                            }
                        }
                    }
                    IpAddr::V6(a) => {
                        let k = (u128::from(a), net.prefix);
                        if let Some(ids) = ix.v6.get_mut(&k) {
                            if remove_id(ids, id) {
                                ix.v6.remove(&k);
                                count_down(&mut ix.v6_lens, net.prefix);
                            }
                        }
                    }
                }
            }
            Index::List(l) => l.items.retain(|(i, _)| *i != id),
            Index::None => {}
        }
    }

    /// Empties the index.
    pub fn clear(&mut self) {
        match self {
            Index::Str(s) => s.map.clear(),
            Index::Affix(a) => {
                a.map.clear();
                a.lens.clear();
            }
            Index::Ip(ix) => *ix = IpIndex::default(),
            Index::List(l) => l.items.clear(),
            Index::None => {}
        }
    }

    /// The id of the entry matching `p` (the oldest among equals; the longest prefix
    /// for `beg`/`end`/`ip`; the first in order for lists). Never allocates.
    pub fn lookup(&self, p: Probe<'_>) -> Option<u64> {
        match (self, p) {
            (Index::Str(s), Probe::Text(t)) => {
                if s.map.is_empty() {
                    return None;
                }
                s.map.get(t).and_then(Ids::first)
            }
            (Index::Affix(a), Probe::Text(t)) => {
                for (&len, _) in a.lens.range(..=t.len()).rev() {
                    let part = if a.suffix {
                        &t[t.len() - len..]
                    } else {
                        &t[..len]
                    };
                    if let Some(id) = a.map.get(part).and_then(Ids::first) {
                        return Some(id);
                    }
                }
                None
            }
            (Index::Ip(ix), Probe::Ip(ip)) => ix.lookup(ip),
            (Index::Ip(ix), Probe::Text(t)) => {
                let ip = std::str::from_utf8(t).ok()?.trim().parse().ok()?;
                ix.lookup(ip)
            }
            (Index::List(l), p) => l.lookup(p),
            _ => None,
        }
    }
}

impl IpIndex {
    fn lookup(&self, ip: IpAddr) -> Option<u64> {
        let v4 = |a: u32| {
            for (&p, _) in self.v4_lens.iter().rev() {
                if let Some(id) = self.v4.get(&(mask4(a, p), p)).and_then(Ids::first) {
                    return Some(id);
                }
            }
            None
        };
        match ip {
            IpAddr::V4(a) => v4(u32::from(a)),
            IpAddr::V6(a) => {
                let x = u128::from(a);
                for (&p, _) in self.v6_lens.iter().rev() {
                    if let Some(id) = self.v6.get(&(mask6(x, p), p)).and_then(Ids::first) {
                        return Some(id);
                    }
                }
                // IPv4-mapped addresses match IPv4 networks, as in HAProxy.
                a.to_ipv4_mapped().and_then(|m| v4(u32::from(m)))
            }
        }
    }
}

impl ListIndex {
    fn lookup(&self, p: Probe<'_>) -> Option<u64> {
        let ci = self.ignore_case;
        let mut buf = [0u8; 48];
        let text: &[u8] = match p {
            Probe::Text(t) => t,
            Probe::Int(i) => {
                let mut c = std::io::Cursor::new(&mut buf[..]);
                let _ = std::io::Write::write_fmt(&mut c, format_args!("{i}"));
                let n = c.position() as usize;
                &buf[..n]
            }
            Probe::Ip(_) => return None,
        };
        let int = || match p {
            Probe::Int(i) => Some(i),
            _ => parse_int(text),
        };
        self.items
            .iter()
            .find(|(_, pat)| match pat {
                ListPat::Sub(k) => find_from(text, k, 0, ci).is_some(),
                ListPat::Dom(k) => delimited(text, k, ci, b"/?.:"),
                ListPat::Dir(k) => delimited(text, k, ci, b"/?"),
                ListPat::Reg(r) => r.is_match(text),
                ListPat::Int(r) => int().is_some_and(|i| r.contains(i)),
                ListPat::Len(r) => r.contains(text.len() as i64),
            })
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(method: MatchMethod, ignore_case: bool) -> PatternUse {
        PatternUse {
            method,
            ignore_case,
            output: None,
        }
    }

    fn build(method: MatchMethod, ci: bool, keys: &[&str]) -> (Index, PatternUse) {
        let u = u(method, ci);
        let mut ix = Index::new(&u);
        for (i, k) in keys.iter().enumerate() {
            assert!(ix.insert(&u, i as u64 + 1, k), "{k}");
        }
        (ix, u)
    }

    fn t(ix: &Index, s: &str) -> Option<u64> {
        ix.lookup(Probe::Text(s.as_bytes()))
    }

    #[test]
    fn str_exact_oldest_wins_and_removal_falls_back() {
        let (mut ix, u) = build(MatchMethod::Str, false, &["a.com", "b.com", "a.com"]);
        assert_eq!(t(&ix, "a.com"), Some(1));
        assert_eq!(t(&ix, "b.com"), Some(2));
        assert_eq!(t(&ix, "A.com"), None, "case-sensitive");
        assert_eq!(t(&ix, "a.co"), None);
        ix.remove(&u, 1, "a.com");
        assert_eq!(t(&ix, "a.com"), Some(3), "the duplicate answers next");
        ix.remove(&u, 3, "a.com");
        assert_eq!(t(&ix, "a.com"), None);
        ix.clear();
        assert_eq!(t(&ix, "b.com"), None);
    }

    #[test]
    fn str_ignore_case_stores_lower() {
        let (ix, _) = build(MatchMethod::Str, true, &["Example.COM"]);
        assert_eq!(t(&ix, "example.com"), Some(1));
    }

    #[test]
    fn beg_and_end_longest_match() {
        let (mut ix, u) = build(MatchMethod::Beg, false, &["/", "/api", "/api/v2", "/x"]);
        assert_eq!(t(&ix, "/api/v2/users"), Some(3));
        assert_eq!(t(&ix, "/api/v1"), Some(2));
        assert_eq!(t(&ix, "/other"), Some(1));
        assert_eq!(t(&ix, ""), None);
        ix.remove(&u, 3, "/api/v2");
        assert_eq!(t(&ix, "/api/v2/users"), Some(2));
        let (ix, _) = build(MatchMethod::End, false, &[".js", ".min.js", "css"]);
        assert_eq!(t(&ix, "/a/app.min.js"), Some(2));
        assert_eq!(t(&ix, "/a/app.js"), Some(1));
        assert_eq!(t(&ix, "/a/app.css"), Some(3));
        assert_eq!(t(&ix, "/a/app.png"), None);
        let (empty, _) = build(MatchMethod::Beg, false, &[]);
        assert_eq!(t(&empty, "/anything"), None);
    }

    #[test]
    fn ip_longest_prefix() {
        let (mut ix, u) = build(
            MatchMethod::Ip,
            false,
            &[
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.2.3",
                "::1",
                "2001:db8::/32",
                "0.0.0.0/0",
            ],
        );
        let ip = |s: &str| ix.lookup(Probe::Ip(s.parse().unwrap()));
        assert_eq!(ip("10.1.2.3"), Some(3));
        assert_eq!(ip("10.1.9.9"), Some(2));
        assert_eq!(ip("10.9.9.9"), Some(1));
        assert_eq!(ip("192.168.0.1"), Some(6));
        assert_eq!(ip("::1"), Some(4));
        assert_eq!(ip("2001:db8::5"), Some(5));
        assert_eq!(ip("::ffff:10.1.2.3"), Some(3), "v4-mapped");
        assert_eq!(ip("2002::1"), None);
        assert_eq!(t(&ix, "10.1.2.3"), Some(3), "text samples are parsed");
        ix.remove(&u, 6, "0.0.0.0/0");
        assert_eq!(ix.lookup(Probe::Ip("192.168.0.1".parse().unwrap())), None);
        assert!(!ix.insert(&u, 9, "not-an-ip"));
    }

    #[test]
    fn lists_first_match_in_order() {
        let (mut ix, u) = build(MatchMethod::Sub, true, &["adm", "min"]);
        assert_eq!(t(&ix, "/admin"), Some(1));
        ix.remove(&u, 1, "adm");
        assert_eq!(t(&ix, "/admin"), Some(2));
        let (ix, _) = build(MatchMethod::Dom, false, &["example.com"]);
        assert_eq!(t(&ix, "www.example.com"), Some(1));
        assert_eq!(t(&ix, "notexample.com"), None);
        let (ix, _) = build(MatchMethod::Reg, false, &["^/a+$", "^/b"]);
        assert_eq!(t(&ix, "/aaa"), Some(1));
        assert_eq!(t(&ix, "/bx"), Some(2));
        let (ix, _) = build(MatchMethod::Int, false, &["1:10", "100"]);
        assert_eq!(ix.lookup(Probe::Int(5)), Some(1));
        assert_eq!(t(&ix, "100"), Some(2));
        assert_eq!(ix.lookup(Probe::Int(50)), None);
    }
}
