//! `-c` configuration checking: exit status, `file:line` + keyword in errors, several
//! files and directories, conditional blocks and environment variables.

mod common;

use common::proxy::{run, TempDir};
use common::{free_port, skip_unless_sluice};
use std::process::Output;
use std::time::Duration;

const GOOD: &str = "global
    log stdout format raw local0

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:PORT
    default_backend be

backend be
    server s1 127.0.0.1:9
";

fn good() -> String {
    GOOD.replace("PORT", &free_port().to_string())
}

fn check(args: &[&str], envs: &[(&str, &str)]) -> (Output, String) {
    let mut all = vec!["-c"];
    all.extend_from_slice(args);
    let out = run(&all, envs, Duration::from_secs(10));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Checks a copy of `GOOD` with `from` replaced by `to`; returns the output and the
/// line number of the replacement.
fn check_edit(from: &str, to: &str) -> (Output, String, String, usize) {
    let dir = TempDir::new("cfg");
    let cfg = good();
    assert!(cfg.contains(from));
    let line = cfg[..cfg.find(from).unwrap()].matches('\n').count() + 1;
    let path = dir.write("bad.cfg", &cfg.replace(from, to));
    let (out, text) = check(&["-f", path.to_str().unwrap()], &[]);
    (out, text, path.display().to_string(), line)
}

#[test]
fn good_config_exits_zero() {
    let dir = TempDir::new("cfg");
    let path = dir.write("good.cfg", &good());
    let (out, text) = check(&["-f", path.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Configuration file is valid"), "{text}");
}

#[test]
fn typo_in_timeout_names_file_line_and_keyword() {
    let (out, text, file, line) = check_edit("timeout client 10s", "timeout clinet 10s");
    assert!(!out.status.success(), "{text}");
    let name = std::path::Path::new(&file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        text.contains(&format!("{name}:{line}")),
        "file:line in {text}"
    );
    assert!(text.contains("clinet"), "{text}");
    // HAProxy lists the valid words; sluice must at least suggest the right one.
    assert!(text.contains("client"), "hint: {text}");
    if !skip_unless_sluice("did-you-mean wording") {
        assert!(text.to_lowercase().contains("did you mean"), "{text}");
    }
}

#[test]
fn unknown_keyword_gets_a_suggestion() {
    let (out, text, _, line) = check_edit("    bind 127.0.0.1", "    bnid 127.0.0.1");
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("bad.cfg:{line}")), "{text}");
    assert!(text.contains("'bnid'"), "{text}");
    assert!(text.contains("did you mean 'bind'"), "{text}");
}

#[test]
fn removed_keyword_names_its_replacement() {
    let (out, text, _, line) = check_edit("timeout connect 2s", "contimeout 2s");
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("bad.cfg:{line}")), "{text}");
    assert!(text.contains("contimeout"), "{text}");
    assert!(text.contains("timeout connect"), "{text}");
}

#[test]
fn unsupported_keyword_is_an_error() {
    if skip_unless_sluice("lua-load is supported by HAProxy") {
        return;
    }
    let (out, text, _, _) = check_edit("global\n", "global\n    lua-load /etc/haproxy/x.lua\n");
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("bad.cfg:2"), "{text}");
    assert!(text.contains("lua-load"), "{text}");
    assert!(text.to_lowercase().contains("not supported"), "{text}");
}

#[test]
fn missing_backend_is_an_error() {
    let (out, text, _, _) = check_edit("default_backend be", "default_backend nope");
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("nope"), "{text}");
}

#[test]
fn several_files_are_one_configuration() {
    let dir = TempDir::new("cfg");
    let cfg = good();
    let (head, tail) = cfg.split_at(cfg.find("\nbackend be").unwrap() + 1);
    let a = dir.write("a.cfg", head);
    let b = dir.write("b.cfg", tail);
    let (out, text) = check(&["-f", a.to_str().unwrap(), "-f", b.to_str().unwrap()], &[]);
    assert!(out.status.success(), "backend from the second file: {text}");
    // An error in the second file names the second file and its own line numbers.
    let b = dir.write("b.cfg", &tail.replace("    server", "    srever"));
    let (out, text) = check(&["-f", a.to_str().unwrap(), "-f", b.to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("b.cfg:2"), "{text}");
}

#[test]
fn directory_loads_cfg_files_in_order() {
    let dir = TempDir::new("cfgdir");
    let cfg = good();
    let fe_at = cfg.find("\nfrontend fe").unwrap() + 1;
    let be_at = cfg.find("\nbackend be").unwrap() + 1;
    dir.write("conf.d/10-base.cfg", &cfg[..fe_at]);
    dir.write("conf.d/20-frontend.cfg", &cfg[fe_at..be_at]);
    dir.write("conf.d/30-backend.cfg", &cfg[be_at..]);
    dir.write("conf.d/README.txt", "not a configuration file\n");
    let d = dir.path().join("conf.d");
    let (out, text) = check(&["-f", d.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{text}");
    // README.txt was skipped (it would not parse). A file added to the directory is
    // read too, and its errors name it.
    dir.write(
        "conf.d/25-broken.cfg",
        "backend other\n    srever x 127.0.0.1:9\n",
    );
    let (out, text) = check(&["-f", d.to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("25-broken.cfg:2"), "{text}");
}

#[test]
fn conditional_blocks_and_environment() {
    let dir = TempDir::new("cfg");
    let cfg = good().replace(
        "    timeout server 10s\n",
        "    timeout server 10s
.if defined(SLUICE_E2E_BREAK)
    timeout clinet 1s
.endif
.if streq(\"$SLUICE_E2E_MODE\",strict)
    bogus-keyword
.endif
",
    );
    let cfg = cfg.replace(
        "server s1 127.0.0.1:9",
        "server s1 \"127.0.0.1:${SLUICE_E2E_PORT}\"",
    );
    let line_of = |needle: &str| cfg.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let (clinet, bogus) = (line_of("timeout clinet"), line_of("bogus-keyword"));
    let path = dir.write("cond.cfg", &cfg);
    let p = path.to_str().unwrap();
    let (out, text) = check(&["-f", p], &[("SLUICE_E2E_PORT", "8081")]);
    assert!(out.status.success(), "inactive blocks are skipped: {text}");
    let (out, text) = check(
        &["-f", p],
        &[("SLUICE_E2E_PORT", "8081"), ("SLUICE_E2E_BREAK", "1")],
    );
    assert!(!out.status.success(), ".if defined() block is read: {text}");
    assert!(
        text.contains(&format!("cond.cfg:{clinet}")) && text.contains("clinet"),
        "{text}"
    );
    let (out, text) = check(
        &["-f", p],
        &[("SLUICE_E2E_PORT", "8081"), ("SLUICE_E2E_MODE", "strict")],
    );
    assert!(!out.status.success(), ".if streq() block is read: {text}");
    assert!(
        text.contains(&format!("cond.cfg:{bogus}")) && text.contains("bogus-keyword"),
        "{text}"
    );
}
