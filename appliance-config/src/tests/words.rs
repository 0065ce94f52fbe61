//! Word splitting: quotes, escapes, comments, environment expansion.

use super::env_of;
use crate::words::{split_line, LineCtx};

fn split(line: &str) -> Vec<String> {
    let env = env_of(&[("PORT", "8080"), ("LIST", "a b  c"), ("EMPTY", "")]);
    split_line(
        line,
        &env,
        LineCtx {
            file: "f.cfg",
            line: 7,
            section: "frontend",
        },
    )
    .expect("split")
    .words
}

#[test]
fn blanks_and_comments() {
    assert_eq!(
        split("  bind   :80\tname x # comment"),
        ["bind", ":80", "name", "x"]
    );
    assert_eq!(split("# only a comment"), Vec::<String>::new());
    assert_eq!(split("a\\#b c"), ["a#b", "c"]);
}

#[test]
fn quotes() {
    assert_eq!(split(r#"log-format "%ci %cp""#), ["log-format", "%ci %cp"]);
    assert_eq!(split("x 'a # b' \"c#d\""), ["x", "a # b", "c#d"]);
    assert_eq!(split(r#"x "" y"#), ["x", "", "y"]);
    assert_eq!(split(r#"x "a"'b'c"#), ["x", "abc"]);
    assert_eq!(split(r#"x 'it''s'"#), ["x", "its"]);
}

#[test]
fn escapes() {
    assert_eq!(split(r"a\ b c"), ["a b", "c"]);
    assert_eq!(split(r"re ^/api\.v1$"), ["re", r"^/api\.v1$"]);
    assert_eq!(split(r"x \x41\t"), ["x", "A\t"]);
    assert_eq!(split(r#"x "\$PORT" \"q\""#), ["x", "$PORT", "\"q\""]);
    assert_eq!(split(r"x '\n'"), ["x", r"\n"]);
    assert_eq!(split(r"x \\"), ["x", "\\"]);
}

#[test]
fn environment() {
    assert_eq!(split(r#"bind ":${PORT}""#), ["bind", ":8080"]);
    assert_eq!(split(r#"bind ":$PORT""#), ["bind", ":8080"]);
    assert_eq!(split(r#"x "${NOPE-9}" "${PORT-9}""#), ["x", "9", "8080"]);
    assert_eq!(split(r#"x "${NOPE}""#), ["x", ""]);
    assert_eq!(split(r#"x "${LIST[*]}" z"#), ["x", "a", "b", "c", "z"]);
    assert_eq!(
        split(r#"x "$.LINE" "${.FILE}" "${.SECTION}""#),
        ["x", "7", "f.cfg", "frontend"]
    );
    // Outside double quotes, nothing is expanded (HAProxy), but a warning is given.
    let env = env_of(&[("PORT", "8080")]);
    let s = split_line("bind :${PORT}", &env, LineCtx::default()).expect("split");
    assert_eq!(s.words, ["bind", ":${PORT}"]);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(split("x '${PORT}'"), ["x", "${PORT}"]);
}

#[test]
fn errors() {
    let env = env_of(&[]);
    let e = split_line(r#"x "abc"#, &env, LineCtx::default()).unwrap_err();
    assert!(e.message.contains("unmatched quote"), "{e:?}");
    assert_eq!(e.column, 3);
    assert!(split_line(r#"x "${ABC""#, &env, LineCtx::default()).is_err());
    assert!(split_line(r#"x "$1""#, &env, LineCtx::default()).is_err());
    assert!(split_line(r"x \xZ1", &env, LineCtx::default()).is_err());
    assert!(split_line(r#"x "${A[1]}""#, &env, LineCtx::default()).is_err());
}
