//! Errors and diagnostics: where a problem is (`file:line`), which keyword, what is wrong
//! and a hint to fix it.
//!
//! Owns: [`Location`], [`ConfigError`], [`ConfigErrors`], [`Diagnostic`] and the
//! did-you-mean helper [`suggest`]. Invariant: every error carries a non-empty hint,
//! and `ConfigErrors` prints one HAProxy-style alert line per error.

use std::fmt;

/// A place in the configuration: file name as given, and 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Location {
    /// The file name as it was given (path as passed on the command line, or the
    /// name passed to `load_str`).
    pub file: String,
    /// 1-based line number; 0 when the problem concerns the file as a whole.
    pub line: u32,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<String>, line: u32) -> Self {
        Location {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One fatal configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where; `None` for problems that concern the whole configuration (e.g. an
    /// unreadable path given on the command line).
    pub location: Option<Location>,
    /// The keyword (first word of the line, sometimes with its sub-keyword, e.g.
    /// `timeout`, `http-request set-header`, `bind`); empty when none applies.
    pub keyword: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it (did-you-mean, the modern replacement, the expected syntax…).
    pub hint: String,
}

impl ConfigError {
    /// Builds an error; `hint` must say how to fix it.
    pub fn new(
        location: Option<Location>,
        keyword: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError {
            location,
            keyword: keyword.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[ALERT] config : ")?;
        if let Some(loc) = &self.location {
            write!(f, "parsing [{loc}] : ")?;
        }
        if !self.keyword.is_empty() {
            write!(f, "'{}' : ", self.keyword)?;
        }
        f.write_str(&self.message)?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

/// How serious a diagnostic is (all of them are non-fatal, except that `.alert`
/// lines also produce an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `.diag` output (shown with `-dD` in HAProxy).
    Diag,
    /// `.notice`.
    Notice,
    /// `.warning` and the parser's own warnings.
    Warning,
    /// `.alert` (also reported as an error).
    Alert,
}

impl Severity {
    /// HAProxy's tag for this severity, e.g. `WARNING`.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Diag => "DIAG",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Alert => "ALERT",
        }
    }
}

/// A non-fatal message produced while loading: warnings, notices, `.diag` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// Where, when it is about a line.
    pub location: Option<Location>,
    /// The text.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] config : ", self.severity.tag())?;
        if let Some(loc) = &self.location {
            write!(f, "parsing [{loc}] : ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found while loading a configuration (up to [`ConfigErrors::LIMIT`]),
/// plus the diagnostics gathered so far.
#[derive(Clone, Debug, Default)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
    diagnostics: Vec<Diagnostic>,
    truncated: bool,
}

impl ConfigErrors {
    /// At most this many errors are kept; later ones only set [`Self::truncated`].
    pub const LIMIT: usize = 100;

    pub(crate) fn from_parts(
        errors: Vec<ConfigError>,
        diagnostics: Vec<Diagnostic>,
        truncated: bool,
    ) -> Self {
        ConfigErrors {
            errors,
            diagnostics,
            truncated,
        }
    }

    /// The structured errors, in the order they were found.
    pub fn errors(&self) -> impl Iterator<Item = &ConfigError> {
        self.errors.iter()
    }

    /// Number of errors kept.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there is no error (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Warnings and notices gathered before loading failed.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// True when more than [`Self::LIMIT`] errors were found and some were dropped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.truncated {
            write!(
                f,
                "\n[ALERT] config : too many errors, stopped after {}",
                Self::LIMIT
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Edit distance between two short strings (keywords), case-insensitive: insertions,
/// deletions, substitutions and transpositions of adjacent characters count one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The closest candidate to `word`, if it is close enough to be a likely typo
/// (distance at most 1 for words up to 4 characters, 2 up to 8, 3 beyond).
pub fn suggest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let max = match word.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let mut d = edit_distance(word, c);
        // An abbreviation of a longer keyword ('warn' for 'warning').
        if word.len() >= 3 && c.len() > word.len() && c.starts_with(word) {
            d = d.min(max);
        }
        let better = match best {
            None => true,
            Some((bd, _)) => d < bd,
        };
        if d <= max && better {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A did-you-mean hint for `word` among `candidates`, or `fallback` when none is close.
pub fn did_you_mean<'a, I>(word: &str, candidates: I, fallback: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match suggest(word, candidates) {
        Some(s) => format!("did you mean '{s}'?"),
        None => fallback.to_string(),
    }
}
