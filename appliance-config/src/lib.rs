//! HAProxy's configuration language for sluice: preprocessor, parser, and a typed,
//! validated model, with errors that name `file:line`, the keyword and a hint.
//!
//! # Walk-through
//!
//! ```text
//! files / dir ──► words (quoting, escapes, "${ENV}")      words.rs
//!             ──► preprocessor (.if/.elif/.else/.endif,    parse/mod.rs + cond.rs
//!                 .diag/.notice/.warning/.alert)
//!             ──► sections + keywords                      parse/{global,proxy,options,server,
//!                 (errors collected, never fatal early)          tls,http,acl,sample,format}.rs
//!             ──► finalize: ids, log global, checks        finalize.rs
//!             ──► Config (model/)  or  ConfigErrors (error.rs)
//! ```
//!
//! Entry points:
//! - [`load_paths`] (`sluice -f FILE|DIR …`): files in order, a directory's `*.cfg`
//!   files in lexical order, all as one configuration; [`load_paths_with_env`] takes
//!   an environment lookup for tests.
//! - [`load_str`] / [`load_str_with_env`]: a configuration held in memory (the
//!   embedded default configuration, tests).
//! - [`eval_condition`] (`sluice -cc EXPR`): evaluates a preprocessor condition.
//! - [`COMPAT_VERSION`], [`FEATURES`], [`feature_string`] for `sluice -vv`.
//!
//! ```
//! let cfg = "defaults\n mode http\n timeout client 5s\n timeout connect 1s\n timeout server 5s\n\
//!            frontend fe\n bind :8080\n acl api path_beg /api\n use_backend be if api\n\
//!            default_backend be\nbackend be\n server s1 127.0.0.1:9000 check\n";
//! let loaded = appliance_config::load_str("inline.cfg", cfg).unwrap();
//! assert_eq!(loaded.config.frontends[0].name, "fe");
//! assert_eq!(loaded.config.backends[0].servers[0].rise, 2);
//!
//! let err = appliance_config::load_str("bad.cfg", "defaults\n timeout clinet 5s\n").unwrap_err();
//! assert!(err.to_string().contains("[bad.cfg:2] : 'timeout' : unknown timeout 'clinet'; did you mean 'client'?"));
//! ```
//!
//! The model ([`model`]) is plain owned data (`String`, `Vec`, `Duration`, enums),
//! `Clone + Debug`, meant to be consumed by the data plane: sample expressions and
//! ACLs are in [`model::sample`], formats in [`model::format`], HTTP rules in
//! [`model::rules`].
//!
//! Invariants: an error never stops the load early (up to [`ConfigErrors::LIMIT`]
//! errors are reported at once); no keyword is silently ignored — what sluice does not
//! support is refused with the reason, what HAProxy removed is refused with its
//! modern replacement.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cond;
pub mod error;
mod finalize;
pub mod model;
mod parse;
pub mod words;

pub use parse::pattern::{check_key, check_value};

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use cond::{feature_string, COMPAT_VERSION, ENABLED, FEATURES};
pub use error::{ConfigError, ConfigErrors, Diagnostic, Location, Severity};
pub use model::{
    Address, Backend, Balance, Bind, BindTls, Capture, CheckExpect, CliLevel, Config, CpuMap,
    ErrorPage, ForwardFor, Frontend, Global, H2Side, H2Tune, HashType, HttpCheck, HttpConnMode,
    HttpErrors, HttpReuse, IdlePoolShared, LogDest, LogHeaderFormat, LogLevel, Logger, Mode,
    Server, ServerTls, StatsPage, StatsSocket, Timeouts, TlsVersion, Tune, Verify,
};
pub use parse::global::MAX_THREADS;

/// A successfully loaded configuration and the non-fatal messages produced.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings, notices and `.diag` output, with their location.
    pub diagnostics: Vec<Diagnostic>,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads files and directories (a directory contributes its `*.cfg` files in lexical
/// order) as one configuration, with the process environment.
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, ConfigErrors> {
    load_paths_with_env(paths, &process_env)
}

/// [`load_paths`] with an injectable environment lookup.
pub fn load_paths_with_env(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let mut ld = parse::Loader::new(env);
    if paths.is_empty() {
        ld.ctx.error(ConfigError::new(
            None,
            "",
            "no configuration file given",
            "pass one with -f <file|dir>",
        ));
    }
    for p in ld.expand_paths(paths) {
        ld.load_file(&p);
    }
    finalize::finalize(ld)
}

/// Loads a configuration held in memory; `name` is used in messages as the file name.
pub fn load_str(name: &str, text: &str) -> Result<Loaded, ConfigErrors> {
    load_str_with_env(name, text, &process_env)
}

/// [`load_str`] with an injectable environment lookup.
pub fn load_str_with_env(
    name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let mut ld = parse::Loader::new(env);
    ld.load_text(name, text);
    finalize::finalize(ld)
}

/// Evaluates a preprocessor condition as `sluice -cc` does (the process environment
/// is used for `defined()` and `"${VAR}"`).
pub fn eval_condition(expr: &str) -> Result<bool, String> {
    eval_condition_with_env(expr, &process_env)
}

/// [`eval_condition`] with an injectable environment lookup.
pub fn eval_condition_with_env(
    expr: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, String> {
    let split = words::split_line(expr, env, words::LineCtx::default())
        .map_err(|e| format!("{} ({})", e.message, e.hint))?;
    cond::eval_cond_text(&split.words.join(" "), env)
}
