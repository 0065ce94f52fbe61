//! The preprocessor: `.if` blocks, conditions, messages, files and directories.

use super::{env_of, expect_err, load, no_env, tmpdir, DEFAULTS};
use crate::cond::{eval_cond_text, feature_string};
use crate::{eval_condition_with_env, load_paths_with_env, load_str_with_env, Severity};

fn ev(s: &str) -> Result<bool, String> {
    let env = env_of(&[("HOME", "/root"), ("MODE", "prod")]);
    eval_cond_text(s, &env)
}

#[test]
fn condition_terms() {
    assert_eq!(ev(""), Ok(false));
    assert_eq!(ev("1"), Ok(true));
    assert_eq!(ev("0"), Ok(false));
    assert_eq!(ev("0x10"), Ok(true));
    assert_eq!(ev("defined(HOME)"), Ok(true));
    assert_eq!(ev("defined(NOPE)"), Ok(false));
    assert_eq!(ev("!defined(NOPE)"), Ok(true));
    assert_eq!(ev("! ! 1"), Ok(true));
    assert_eq!(ev("feature(EPOLL)"), Ok(true));
    assert_eq!(ev("feature(OPENSSL)"), Ok(true));
    assert_eq!(ev("feature(QUIC) || feature(LUA)"), Ok(false));
    assert_eq!(ev("feature(LINUX_SPLICE)"), Ok(false));
    assert_eq!(ev("enabled(REUSEPORT)"), Ok(true));
    assert_eq!(ev("enabled(SPLICE)"), Ok(false));
    assert_eq!(ev("streq(a,a)"), Ok(true));
    assert_eq!(ev("strneq(a,b)"), Ok(true));
    assert_eq!(ev("streq('a,b',\"a,b\")"), Ok(true));
    assert_eq!(ev("version_atleast(2.4)"), Ok(true));
    assert_eq!(ev("version_atleast(3.0)"), Ok(true));
    assert_eq!(ev("version_atleast(3.1-dev2)"), Ok(false));
    assert_eq!(ev("version_before(3.1)"), Ok(true));
    assert_eq!(ev("version_before(2.8.3)"), Ok(false));
    assert_eq!(ev("1 && 0 || 1"), Ok(true));
    assert_eq!(ev("1 && (0 || 0)"), Ok(false));
    assert_eq!(ev("!(defined(HOME) && defined(NOPE))"), Ok(true));
}

#[test]
fn condition_errors() {
    let e = ev("defind(HOME)").unwrap_err();
    assert!(e.contains("did you mean 'defined'"), "{e}");
    assert!(ev("defined(HOME").is_err());
    assert!(ev("(1").unwrap_err().contains("expected ')'"));
    assert!(ev("1 1").unwrap_err().contains("unexpected character"));
    assert!(ev("1 &&").is_err());
    assert!(ev("streq(a)").unwrap_err().contains("2 arguments"));
    assert!(ev("version_atleast(abc)")
        .unwrap_err()
        .contains("invalid version"));
}

#[test]
fn eval_condition_entry_point() {
    let env = env_of(&[("MODE", "prod")]);
    assert_eq!(
        eval_condition_with_env("streq(\"$MODE\",prod)", &env),
        Ok(true)
    );
    assert_eq!(
        eval_condition_with_env("defined(MODE) && !defined(X)", &env),
        Ok(true)
    );
    assert!(eval_condition_with_env("\"unclosed", &env).is_err());
    assert!(feature_string().contains("+EPOLL"));
    assert!(feature_string().contains("+OPENSSL"));
}

#[test]
fn if_blocks() {
    let text = format!(
        "{DEFAULTS}.if defined(NOPE)\n  retries 9\n.elif 1\n  retries 5\n.else\n  retries 7\n.endif\n\
         .if 0\n.if 1\n  retries 1\n.endif\n.else\n.if 1\n.elif 1\n  retries 2\n.endif\n.endif\n\
         backend b\n  server s 127.0.0.1:80\n"
    );
    let l = load(&text);
    assert_eq!(l.config.backends[0].retries, 5);
    // Nested: the inner .elif of a taken .if is skipped.
    let text = format!("{DEFAULTS}backend b\n.if 1\n retries 4\n.elif 1\n retries 8\n.endif\n  server s 127.0.0.1:80\n");
    assert_eq!(load(&text).config.backends[0].retries, 4);
}

#[test]
fn if_errors() {
    expect_err(".if 1\nglobal\n", 1, ".if", "missing '.endif'");
    expect_err("global\n.endif\n", 2, ".endif", "without a matching");
    expect_err("global\n.else\n", 2, ".else", "without a matching");
    expect_err(".if 1\n.else\n.else\n.endif\n", 3, ".else", "after '.else'");
    expect_err(
        ".if defnied(X)\n.endif\n",
        1,
        ".if",
        "did you mean 'defined'",
    );
    expect_err(".iff 1\n", 1, ".iff", "did you mean '.if'");
    // Lines inside a false branch are not parsed.
    let l = load(&format!(
        "{DEFAULTS}.if 0\n  this is not a keyword\n.endif\nbackend b\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(l.config.backends.len(), 1);
}

#[test]
fn messages() {
    let l = load(".diag \"d\"\n.notice n\n.warning w 1\n.if 0\n.alert no\n.endif\n");
    let sev: Vec<_> = l
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.severity,
                d.message.as_str(),
                d.location.as_ref().map(|l| l.line),
            )
        })
        .collect();
    assert_eq!(
        sev,
        [
            (Severity::Diag, "d", Some(1)),
            (Severity::Notice, "n", Some(2)),
            (Severity::Warning, "w 1", Some(3))
        ]
    );
    let line = expect_err(".alert \"stop here\"\n", 1, ".alert", "stop here");
    assert!(
        line.starts_with("[ALERT] config : parsing [t.cfg:1] : '.alert' : stop here"),
        "{line}"
    );
}

#[test]
fn env_in_config_and_setenv() {
    let env = env_of(&[("BE_PORT", "9000"), ("ENV", "prod")]);
    let text = format!(
        "global\n  setenv LISTEN :8443\n  presetenv ENV dev\n  presetenv NEW yes\n{DEFAULTS}\
         frontend fe\n  bind \"${{LISTEN}}\"\n  default_backend b\n\
         .if streq(\"$ENV\",prod) && defined(NEW)\nbackend b\n  server s \"127.0.0.1:${{BE_PORT}}\"\n.endif\n"
    );
    let l = load_str_with_env("t.cfg", &text, &env).expect("load");
    assert_eq!(
        l.config.frontends[0].binds[0].addr.to_string(),
        "0.0.0.0:8443"
    );
    assert_eq!(
        l.config.backends[0].servers[0].addr.to_string(),
        "127.0.0.1:9000"
    );
}

#[test]
fn several_files_and_directories() {
    let d = tmpdir("dir");
    std::fs::write(d.join("10-global.cfg"), "global\n  maxconn 100\n").unwrap();
    std::fs::write(d.join("20-defaults.cfg"), DEFAULTS).unwrap();
    std::fs::write(d.join("30-be.cfg"), "backend b1\n  server s 127.0.0.1:81\n").unwrap();
    std::fs::write(d.join("05-notes.txt"), "this is not a config\n").unwrap();
    let extra = d.join("extra");
    std::fs::create_dir(&extra).unwrap();
    let fe = extra.join("fe.conf");
    std::fs::write(
        &fe,
        "frontend f\n  bind :81\n  default_backend b1\n  retries 2\n",
    )
    .unwrap();
    let l = load_paths_with_env(&[d.clone(), fe.clone()], &no_env).expect("load");
    assert_eq!(l.config.global.maxconn, Some(100));
    assert_eq!(l.config.backends[0].name, "b1");
    assert_eq!(l.config.frontends[0].name, "f");
    // The warning about 'retries' in a frontend names the second file.
    assert!(
        l.diagnostics.iter().any(|d| d
            .location
            .as_ref()
            .is_some_and(|loc| loc.file.ends_with("fe.conf") && loc.line == 4)),
        "{:?}",
        l.diagnostics
    );
    // Errors name the file they come from.
    std::fs::write(d.join("40-bad.cfg"), "backend b2\n  srvtimeout 5s\n").unwrap();
    let e = load_paths_with_env(std::slice::from_ref(&d), &no_env).unwrap_err();
    assert!(
        e.to_string().contains("40-bad.cfg:2] : 'srvtimeout'"),
        "{e}"
    );
    // A missing file is an error.
    let e = load_paths_with_env(&[d.join("missing.cfg")], &no_env).unwrap_err();
    assert!(e.to_string().contains("could not open"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}
