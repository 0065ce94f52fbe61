//! HTTP mode: the session loop ([`session`]), a transaction's state ([`txn`]), rules
//! and routing ([`actions`]), the server exchange ([`exchange`]), body streaming
//! ([`pump`]), header hygiene ([`headers`]) and locally generated replies ([`reply`]).

pub mod actions;
pub mod exchange;
pub mod headers;
pub mod pump;
pub mod reply;
pub mod session;
pub mod txn;
