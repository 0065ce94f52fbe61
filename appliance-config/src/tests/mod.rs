//! Unit tests of the configuration loader, by area.

mod config;
mod errors;
mod maps;
mod netstack;
mod preproc;
mod rules;
mod samples;
mod stats;
mod tls;
mod tls_server;
mod words;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{load_str_with_env, ConfigErrors, Loaded};

/// A test environment: only the given variables exist.
pub(crate) fn env_of(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |n: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    }
}

pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `text` (named `t.cfg`) with an empty environment; panics with the errors.
pub(crate) fn load(text: &str) -> Loaded {
    match load_str_with_env("t.cfg", text, &no_env) {
        Ok(l) => l,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// Loads `text` and expects errors.
pub(crate) fn load_err(text: &str) -> ConfigErrors {
    match load_str_with_env("t.cfg", text, &no_env) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

/// Expects an error at `line`, for `kw`, whose message+hint contains `needle`, and a
/// non-empty hint. Returns the printed line.
pub(crate) fn expect_err(text: &str, line: u32, kw: &str, needle: &str) -> String {
    let errs = load_err(text);
    let found = errs.errors().find(|e| {
        e.location.as_ref().map(|l| l.line) == Some(line)
            && e.keyword == kw
            && (e.message.contains(needle) || e.hint.contains(needle))
    });
    match found {
        Some(e) => {
            assert!(!e.hint.is_empty(), "error without hint: {e}");
            assert_eq!(e.location.as_ref().map(|l| l.file.as_str()), Some("t.cfg"));
            e.to_string()
        }
        None => panic!("no error at line {line} for '{kw}' containing '{needle}'; got:\n{errs}"),
    }
}

/// A preamble with defaults that silence the timeout warnings.
pub(crate) const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n";

/// A unique empty directory under the system temp dir.
pub(crate) fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "sluice-cfg-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
