//! Variables (`set-var(txn.x)`, `var(txn.x)`), one small store per session.
//!
//! Owns: [`Vars`]. Slots are kept when a variable is unset or a transaction ends, so
//! their name and byte buffers are reused: once warm, setting a variable allocates
//! nothing. Lookup is a linear scan (rules use a handful of variables).
//! `proc.*` variables live here too, per worker: sluice has no cross-core variable
//! store yet.

use std::net::IpAddr;

use appliance_config::model::sample::{VarName, VarScope};

use super::sample::Sample;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unset,
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str,
    Bin,
}

#[derive(Clone, Debug)]
struct Slot {
    scope: VarScope,
    name: String,
    kind: Kind,
    bytes: Vec<u8>,
}

/// A per-session variable store.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    slots: Vec<Slot>,
}

impl Vars {
    /// An empty store.
    pub fn new() -> Self {
        Vars::default()
    }

    fn slot(&self, var: &VarName) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.scope == var.scope && s.name == var.name)
    }

    /// The value of `var`, if set.
    pub fn get(&self, var: &VarName) -> Option<Sample<'_>> {
        let s = self.slot(var)?;
        Some(match s.kind {
            Kind::Unset => return None,
            Kind::Bool(b) => Sample::Bool(b),
            Kind::Int(i) => Sample::Int(i),
            Kind::Ip(ip) => Sample::Ip(ip),
            Kind::Str => Sample::Str(&s.bytes),
            Kind::Bin => Sample::Bin(&s.bytes),
        })
    }

    /// Sets `var` to `value` (bytes are copied into the variable's own buffer).
    pub fn set(&mut self, var: &VarName, value: Sample<'_>) {
        let idx = match self
            .slots
            .iter()
            .position(|s| s.scope == var.scope && s.name == var.name)
        {
            Some(i) => i,
            None => match self.slots.iter().position(|s| s.kind == Kind::Unset) {
                // Reuse an unset slot's buffers for a new name.
                Some(i) => {
                    let s = &mut self.slots[i];
                    s.scope = var.scope;
                    s.name.clear();
                    s.name.push_str(&var.name);
                    i
                }
                None => {
                    self.slots.push(Slot {
                        scope: var.scope,
                        name: var.name.clone(),
                        kind: Kind::Unset,
                        bytes: Vec::new(),
                    });
                    self.slots.len() - 1
                }
            },
        };
        let s = &mut self.slots[idx];
        s.bytes.clear();
        s.kind = match value {
            Sample::Bool(b) => Kind::Bool(b),
            Sample::Int(i) => Kind::Int(i),
            Sample::Ip(ip) => Kind::Ip(ip),
            Sample::Str(b) => {
                s.bytes.extend_from_slice(b);
                Kind::Str
            }
            Sample::Bin(b) => {
                s.bytes.extend_from_slice(b);
                Kind::Bin
            }
        };
    }

    /// Unsets `var`.
    pub fn unset(&mut self, var: &VarName) {
        if let Some(s) = self
            .slots
            .iter_mut()
            .find(|s| s.scope == var.scope && s.name == var.name)
        {
            s.kind = Kind::Unset;
        }
    }

    /// Unsets every variable of `scope`.
    pub fn clear_scope(&mut self, scope: VarScope) {
        for s in self.slots.iter_mut().filter(|s| s.scope == scope) {
            s.kind = Kind::Unset;
        }
    }

    /// Ends a transaction: unsets the `txn`, `req` and `res` variables (keeping
    /// `sess` and `proc`).
    pub fn end_transaction(&mut self) {
        for s in &mut self.slots {
            if matches!(s.scope, VarScope::Txn | VarScope::Req | VarScope::Res) {
                s.kind = Kind::Unset;
            }
        }
    }

    /// Number of variables currently set.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.kind != Kind::Unset).count()
    }

    /// True when no variable is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
