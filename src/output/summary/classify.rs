//! Classification for `--output summary`: which lines are errors or warnings.
//!
//! A line is an error if any `errors` pattern matches, else a warning if any `warnings`
//! pattern matches, else normal (see [`Class`]). User patterns are used as written (add
//! `(?i)` for case-insensitivity). The defaults match whole ASCII words, ignoring case:
//! `error`, `fatal`, `panic`, `panicked`, `exception`, `traceback`, plus CamelCase type
//! names ending in `Error`/`Exception` such as `TypeError`; and `warn`, `warning`, plus
//! `…Warning` such as `DeprecationWarning`. Plurals are deliberately not matched, so
//! summary lines such as `errors: 0` or `0 warnings` stay ordinary.

use regex::bytes::{RegexSet, RegexSetBuilder};

/// What a line is, for highlighting and for which budget it spends. Ordered so that the
/// more serious class is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Class {
    #[default]
    Normal,
    Warning,
    Error,
}

/// `(?-u:\b)` is an ASCII word boundary: cheaper than Unicode's, and it keeps the lazy
/// DFA from giving up on non-ASCII input.
const DEFAULT_ERRORS: &[&str] = &[
    r"(?i-u)\b(?:error|fatal|panic|panicked|exception|traceback)\b",
    r"(?-u)\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b",
];
const DEFAULT_WARNINGS: &[&str] = &[
    r"(?i-u)\b(?:warn|warning)\b",
    r"(?-u)\b[A-Z][A-Za-z0-9]*Warning\b",
];

/// Words at least one of which every default pattern needs: a line without any of them
/// is ordinary, and one SIMD substring search (Teddy) says so several times faster than
/// running the patterns with their word boundaries. Each word in its lower, Capitalised
/// and UPPER form — a search ignoring case would have to expand each word into every mix
/// of cases and lose the SIMD search — so the defaults see `error`, `Error`, `ERROR`
/// (and `TypeError`), not `eRRor`.
const DEFAULT_WORDS: &[&str] = &[
    "error",
    "Error",
    "ERROR",
    "fatal",
    "Fatal",
    "FATAL",
    "panic",
    "Panic",
    "PANIC",
    "exception",
    "Exception",
    "EXCEPTION",
    "traceback",
    "Traceback",
    "TRACEBACK",
    "warn",
    "Warn",
    "WARN",
];

/// A task's error and warning patterns, compiled into one set so that an ordinary line
/// costs one scan.
#[derive(Debug, Clone)]
pub struct Classifier {
    set: RegexSet,
    /// Patterns `0..errors` of the set are error patterns, the rest warning patterns.
    errors: usize,
    /// For the default patterns only: words a line must contain to match at all.
    prefilter: Option<std::sync::Arc<aho_corasick::packed::Searcher>>,
}

/// The default classifier, compiled once and shared (cloning shares the compiled
/// automata), so starting a hundred tasks does not compile it a hundred times.
static DEFAULTS: std::sync::OnceLock<Result<Classifier, regex::Error>> = std::sync::OnceLock::new();

impl Classifier {
    /// `None` takes the defaults; `Some(&[])` disables that class.
    pub fn new(
        errors: Option<&[String]>,
        warnings: Option<&[String]>,
    ) -> Result<Classifier, regex::Error> {
        if errors.is_none() && warnings.is_none() {
            return DEFAULTS
                .get_or_init(|| Classifier::build(None, None))
                .clone();
        }
        Classifier::build(errors, warnings)
    }

    fn build(
        errors: Option<&[String]>,
        warnings: Option<&[String]>,
    ) -> Result<Classifier, regex::Error> {
        let mut patterns: Vec<&str> = Vec::new();
        match errors {
            Some(p) => patterns.extend(p.iter().map(String::as_str)),
            None => patterns.extend_from_slice(DEFAULT_ERRORS),
        }
        let n_errors = patterns.len();
        match warnings {
            Some(p) => patterns.extend(p.iter().map(String::as_str)),
            None => patterns.extend_from_slice(DEFAULT_WARNINGS),
        }
        let set = RegexSetBuilder::new(patterns).build()?;
        let prefilter = if errors.is_none() && warnings.is_none() {
            // A Teddy searcher directly: an `AhoCorasick` would wrap it in an automaton
            // search loop that costs several times more per line. `None` (no SIMD
            // here) just means no prefilter.
            let mut b = aho_corasick::packed::Config::new().builder();
            b.extend(DEFAULT_WORDS);
            b.build().map(std::sync::Arc::new)
        } else {
            None
        };
        Ok(Classifier {
            set,
            errors: n_errors,
            prefilter,
        })
    }

    /// Whether every line of `text` (a whole read) is certainly ordinary: none of the
    /// words the default patterns need occurs in it. `false` when one may be, or with
    /// a task's own patterns (no prefilter).
    pub fn all_normal(&self, text: &[u8]) -> bool {
        self.prefilter
            .as_ref()
            .is_some_and(|p| p.find(text).is_none())
    }

    pub fn classify(&self, line: &[u8]) -> Class {
        // Most lines match nothing: a plain is_match settles them in one scan; only a hit
        // pays for the overlapping search that tells errors from warnings.
        if self
            .prefilter
            .as_ref()
            .is_some_and(|p| p.find(line).is_none())
            || !self.set.is_match(line)
        {
            return Class::Normal;
        }
        let hits = self.set.matches(line);
        if hits.iter().any(|i| i < self.errors) {
            Class::Error
        } else {
            Class::Warning
        }
    }
}
