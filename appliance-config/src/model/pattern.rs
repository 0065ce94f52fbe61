//! Pattern references: the map and ACL files a configuration names (HAProxy's
//! "pattern references"), loaded once at start-up.
//!
//! Owns: [`PatternFile`], [`PatEntry`], [`PatternUse`], [`MapOutput`]. Invariants:
//! every file name appears once in [`crate::model::Config::pattern_files`] (all
//! `map(f)`, `-f f`, `set-map(f)` … naming the same `f` share it, as HAProxy's
//! references do); its index there is its `#id` on the CLI; every entry was checked
//! against every use of the file when loaded (a bad IP for `map_ip`, a bad integer
//! for `map_str_int` or an ACL `-m int` use are load errors naming `file:line`).

use super::sample::MatchMethod;
use crate::error::Location;

/// What a map converter returns (`map_<match>_<output>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapOutput {
    /// Text (the default).
    Str,
    /// Integer; the value must parse as one.
    Int,
    /// IPv4/IPv6 address; the value must parse as one.
    Ip,
}

impl MapOutput {
    /// The name HAProxy prints (`get map`'s `type="str"`).
    pub fn name(self) -> &'static str {
        match self {
            MapOutput::Str => "str",
            MapOutput::Int => "int",
            MapOutput::Ip => "ip",
        }
    }
}

/// One line of a pattern file: `key[ value]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatEntry {
    /// The pattern (map key or ACL pattern).
    pub key: String,
    /// The map value (empty for ACL files).
    pub value: String,
    /// 1-based line in the file.
    pub line: u32,
}

/// One way a file is used: a match method (and case), plus the output type for maps.
/// Each use gets its own index at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PatternUse {
    /// How keys are compared.
    pub method: MatchMethod,
    /// `-i`: case-insensitive (ACLs only; map converters are case-sensitive).
    pub ignore_case: bool,
    /// `Some` for map converters.
    pub output: Option<MapOutput>,
}

/// A map or ACL file.
#[derive(Clone, Debug)]
pub struct PatternFile {
    /// The name as written in the configuration (the CLI's `<file>`).
    pub name: String,
    /// Used by a map converter or a map action.
    pub is_map: bool,
    /// Used by an ACL (`-f`) or an ACL action.
    pub is_acl: bool,
    /// Entries in file order.
    pub entries: Vec<PatEntry>,
    /// The distinct uses; a converter or ACL refers to one by index.
    pub uses: Vec<PatternUse>,
    /// Where the file was first named (for `show map`'s description).
    pub first_use: Location,
    /// What first used it (`map`, `acl`, `set-map` …).
    pub first_user: String,
}

/// A reference to one use of a pattern file: `(file index, use index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PatRef {
    /// Index in [`crate::model::Config::pattern_files`].
    pub file: usize,
    /// Index in [`PatternFile::uses`].
    pub use_idx: usize,
}
