//! HTTP mode: the session loop ([`session`]), a transaction's state ([`txn`]), rules
//! and routing ([`actions`]), the server exchange ([`exchange`]), body streaming
//! ([`pump`]), header hygiene ([`headers`]), locally generated replies ([`reply`]) and
//! the HTTP/2 server connections a session uses ([`upstreams`]).

pub mod acquire;
pub mod actions;
pub mod exchange;
pub mod headers;
pub mod pump;
pub mod reply;
pub mod session;
pub mod statspage;
pub mod txn;
pub mod upstreams;
