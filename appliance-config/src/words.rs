//! HAProxy word splitting: turns one configuration line into words.
//!
//! Owns: [`split_line`]. Rules (HAProxy's `parse_line`): blanks separate words; `#`
//! starts a comment outside quotes; double quotes group and expand environment
//! variables (`$VAR`, `${VAR}`, `${VAR-default}`, `${VAR[*]}` which splits the value
//! into several words); single quotes group and interpret nothing; a backslash escapes
//! a blank, `#`, a quote, a backslash, `$` (inside double quotes), and gives `\t`,
//! `\n`, `\r`, `\xHH`; any other backslash sequence is kept as written (so regexes
//! like `\.` survive). Invariant: an empty quoted string is a word of its own.

/// Environment lookup used by the parser: returns a variable's value.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What is known about the current line, for the `.FILE`, `.LINE` and `.SECTION`
/// pseudo-variables.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineCtx<'a> {
    /// Current file.
    pub file: &'a str,
    /// Current line.
    pub line: u32,
    /// Current section keyword (`global`, `frontend`…), empty before any.
    pub section: &'a str,
}

/// A line that could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitError {
    /// 1-based column of the offending character.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// The words of a line, plus warnings about suspicious but valid text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// The words, unquoted and unescaped.
    pub words: Vec<String>,
    /// Warnings (e.g. `${VAR}` outside double quotes is not expanded).
    pub warnings: Vec<String>,
}

/// Splits `line` into words, expanding environment variables with `env`.
pub fn split_line(line: &str, env: EnvLookup<'_>, ctx: LineCtx<'_>) -> Result<Split, SplitError> {
    let b = line.as_bytes();
    let mut out = Split::default();
    let mut cur: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut squote = false;
    let mut dquote = false;
    let mut quote_pos = 0usize;
    let mut unquoted_dollar = false;
    let mut i = 0;

    let flush = |cur: &mut Vec<u8>, in_word: &mut bool, out: &mut Split, col: usize| {
        if *in_word {
            let w = String::from_utf8(std::mem::take(cur)).map_err(|_| SplitError {
                column: col,
                message: "a word is not valid UTF-8".into(),
                hint: "check the \\x escapes of this line".into(),
            })?;
            out.words.push(w);
            *in_word = false;
        }
        Ok::<(), SplitError>(())
    };

    while i < b.len() {
        let c = b[i];
        if c == b'\n' || c == b'\r' {
            break;
        }
        if c == b'#' && !squote && !dquote {
            break;
        }
        if c == b'"' && !squote {
            dquote = !dquote;
            quote_pos = i;
            in_word = true;
            i += 1;
            continue;
        }
        if c == b'\'' && !dquote {
            squote = !squote;
            quote_pos = i;
            in_word = true;
            i += 1;
            continue;
        }
        if c == b'\\' && !squote {
            in_word = true;
            let next = b.get(i + 1).copied();
            match next {
                Some(b' ') | Some(b'\\') | Some(b'#') | Some(b'\'') | Some(b'"') => {
                    cur.push(next.unwrap_or_default());
                    i += 2;
                }
                Some(b'\t') => {
                    cur.push(b'\t');
                    i += 2;
                }
                Some(b't') => {
                    cur.push(b'\t');
                    i += 2;
                }
                Some(b'n') => {
                    cur.push(b'\n');
                    i += 2;
                }
                Some(b'r') => {
                    cur.push(b'\r');
                    i += 2;
                }
                Some(b'$') if dquote => {
                    cur.push(b'$');
                    i += 2;
                }
                Some(b'x') => {
                    let h = |k: usize| b.get(k).and_then(|c| (*c as char).to_digit(16));
                    match (h(i + 2), h(i + 3)) {
                        (Some(hi), Some(lo)) => {
                            cur.push((hi * 16 + lo) as u8);
                            i += 4;
                        }
                        _ => {
                            return Err(SplitError {
                                column: i + 1,
                                message: "truncated or invalid hexadecimal sequence".into(),
                                hint: "write \\x followed by exactly two hex digits, e.g. \\x20"
                                    .into(),
                            })
                        }
                    }
                }
                _ => {
                    cur.push(b'\\');
                    i += 1;
                }
            }
            continue;
        }
        if (c == b' ' || c == b'\t') && !squote && !dquote {
            flush(&mut cur, &mut in_word, &mut out, i + 1)?;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            continue;
        }
        if c == b'$' && dquote {
            let start = i;
            i += 1;
            let brace = b.get(i) == Some(&b'{');
            if brace {
                i += 1;
            }
            let name_start = i;
            match b.get(i) {
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b'.' => {}
                _ => {
                    return Err(SplitError {
                        column: i + 1,
                        message: "forbidden first character in environment variable name".into(),
                        hint: "variable names start with a letter or '_'; write \\$ for a literal dollar inside double quotes".into(),
                    })
                }
            }
            if b[i] == b'.' {
                i += 1;
            }
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &line[name_start..i];
            let mut value: Option<String> = if let Some(pseudo) = name.strip_prefix('.') {
                match pseudo {
                    "LINE" => Some(ctx.line.to_string()),
                    "FILE" => Some(ctx.file.to_string()),
                    "SECTION" => Some(ctx.section.to_string()),
                    _ => {
                        return Err(SplitError {
                            column: name_start + 1,
                            message: format!("unknown pseudo-variable '{name}'"),
                            hint: "the pseudo-variables are .FILE, .LINE and .SECTION".into(),
                        })
                    }
                }
            } else {
                env(name)
            };
            let mut expand = false;
            if brace {
                if b.get(i) == Some(&b'[') {
                    if b.get(i + 1) == Some(&b'*') && b.get(i + 2) == Some(&b']') {
                        expand = true;
                        i += 3;
                    } else {
                        return Err(SplitError {
                            column: i + 1,
                            message: "invalid word expansion in environment variable".into(),
                            hint: "the only supported form is ${NAME[*]}".into(),
                        });
                    }
                }
                if b.get(i) == Some(&b'-') {
                    let dstart = i + 1;
                    let mut j = dstart;
                    while j < b.len() && b[j] != b'}' {
                        j += 1;
                    }
                    if j >= b.len() {
                        return Err(SplitError {
                            column: start + 2,
                            message: "unmatched brace in environment variable name".into(),
                            hint: "close it with '}', e.g. \"${PORT-8080}\"".into(),
                        });
                    }
                    if value.is_none() {
                        value = Some(line[dstart..j].to_string());
                    }
                    i = j;
                }
                if b.get(i) != Some(&b'}') {
                    return Err(SplitError {
                        column: start + 2,
                        message: "unmatched brace in environment variable name".into(),
                        hint: "close it with '}', e.g. \"${HOME}\"".into(),
                    });
                }
                i += 1;
            }
            in_word = true;
            if let Some(v) = value {
                if expand {
                    let mut first = true;
                    for part in v.split([' ', '\t']).filter(|p| !p.is_empty()) {
                        if !first {
                            flush(&mut cur, &mut in_word, &mut out, i)?;
                            in_word = true;
                        }
                        cur.extend_from_slice(part.as_bytes());
                        first = false;
                    }
                } else {
                    cur.extend_from_slice(v.as_bytes());
                }
            }
            continue;
        }
        if c == b'$' && !squote && b.get(i + 1) == Some(&b'{') {
            unquoted_dollar = true;
        }
        in_word = true;
        cur.push(c);
        i += 1;
    }
    if squote || dquote {
        return Err(SplitError {
            column: quote_pos + 1,
            message: format!("unmatched quote at position {}", quote_pos + 1),
            hint: "close the quote, or escape it with a backslash".into(),
        });
    }
    flush(&mut cur, &mut in_word, &mut out, i + 1)?;
    if unquoted_dollar {
        out.warnings.push(
            "'${' outside double quotes is kept as is; environment variables are only expanded inside double quotes (e.g. \"${PORT}\")".into(),
        );
    }
    Ok(out)
}
