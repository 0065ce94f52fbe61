//! SNI certificate selection for a TLS bind.
//!
//! Owns: [`CertStore`] (the certificates of one bind, indexed by name) and
//! [`SniResolver`], the rustls `ResolvesServerCert` over it. Selection: an exact name
//! (CN or DNS SAN) first, then a wildcard `*.rest` matching one leftmost label, else
//! the default — the bind's first certificate (HAProxy's rule).
//!
//! Run-time replacement (`set ssl cert` / `commit ssl cert` later): the store keeps
//! its index in an `RwLock<Arc<CertIndex>>`. A handshake takes the read lock just
//! long enough to clone the `Arc` (no lock is held while signing, none is touched on
//! the request path); a commit builds a whole new index and swaps the `Arc` under
//! the write lock, so a handshake sees either the old set or the new one, never a
//! mix. Handshakes in flight keep the old certificates alive through their `Arc`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::names::name_matches;
use super::pem::LoadedCert;

/// An immutable index of a bind's certificates.
#[derive(Debug, Default)]
pub struct CertIndex {
    certs: Vec<LoadedCert>,
    exact: HashMap<String, usize>,
    /// Wildcard certificates by the suffix after `*.`.
    wildcard: HashMap<String, usize>,
}

impl CertIndex {
    /// Index `certs` (the first is the default). Earlier certificates win when two
    /// claim the same name.
    pub fn new(certs: Vec<LoadedCert>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, c) in certs.iter().enumerate() {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(suffix) => wildcard.entry(suffix.to_string()).or_insert(i),
                    None => exact.entry(n.clone()).or_insert(i),
                };
            }
        }
        CertIndex {
            certs,
            exact,
            wildcard,
        }
    }

    /// The certificate for `sni` (none given, or no match: the default).
    pub fn select(&self, sni: Option<&str>) -> Option<&LoadedCert> {
        sni.and_then(|h| self.select_strict(h))
            .or_else(|| self.certs.first())
    }

    /// The certificate whose names cover `host`, if any.
    pub fn select_strict(&self, host: &str) -> Option<&LoadedCert> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(&i) = self.exact.get(&host) {
            return self.certs.get(i);
        }
        let (_, rest) = host.split_once('.')?;
        let &i = self.wildcard.get(rest)?;
        debug_assert!(self.certs[i].names.iter().any(|n| name_matches(n, &host)));
        self.certs.get(i)
    }

    pub fn certs(&self) -> &[LoadedCert] {
        &self.certs
    }
}

/// The certificates of one bind, replaceable at run time.
#[derive(Debug, Default)]
pub struct CertStore {
    index: RwLock<Arc<CertIndex>>,
}

impl CertStore {
    pub fn new(certs: Vec<LoadedCert>) -> Self {
        CertStore {
            index: RwLock::new(Arc::new(CertIndex::new(certs))),
        }
    }

    /// The current index (a cheap `Arc` clone).
    pub fn current(&self) -> Arc<CertIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace every certificate at once (the future `commit ssl cert`).
    pub fn replace(&self, certs: Vec<LoadedCert>) {
        let new = Arc::new(CertIndex::new(certs));
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = new;
    }
}

/// rustls' certificate resolver over a [`CertStore`].
pub struct SniResolver {
    pub store: Arc<CertStore>,
    /// `strict-sni`: no certificate (handshake refused) when the SNI is missing or
    /// matches none, instead of the default.
    pub strict: bool,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let index = self.store.current();
        let sni = hello.server_name();
        if self.strict {
            return index.select_strict(sni?).map(|c| c.key.clone());
        }
        index.select(sni).map(|c| c.key.clone())
    }
}
