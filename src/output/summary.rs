//! The logic of `--output summary` (SPEC §5): which lines are errors or warnings, what
//! a line's *shape* is, how consecutive lines of one task fold, how the shared terminal
//! budget is split between tasks, and the "lines not shown" notes. Everything here is
//! pure: no I/O, no clock (time comes in as an `Instant`), so every rule is unit-tested
//! with synthetic time. The pump owns one [`Classifier`], [`Folder`] and [`NotShown`]
//! per task and shares one [`Budget`] (behind a `Mutex`) between all tasks.
//!
//! # Classification
//! A line is an error if any `errors` pattern matches, else a warning if any `warnings`
//! pattern matches, else normal (see [`Class`]). User patterns are used as written (add
//! `(?i)` for case-insensitivity). The defaults match whole ASCII words, ignoring case:
//! `error`, `fatal`, `panic`, `panicked`, `exception`, `traceback`, plus CamelCase type
//! names ending in `Error`/`Exception` such as `TypeError`; and `warn`, `warning`, plus
//! `…Warning` such as `DeprecationWarning`. Plurals are deliberately not matched, so
//! summary lines such as `errors: 0` or `0 warnings` stay ordinary.
//!
//! # Shape
//! [`shape_into`] copies the line with each *value* replaced by a placeholder (a `0x01`
//! byte and a kind letter, which never collides with text):
//! - timestamps: `2024-01-02T03:04:05.123Z`, `2024-01-02 03:04:05,123+02:00`,
//!   `2024/01/02`, `03:04:05(.fff)`;
//! - UUIDs `8-4-4-4-12` hex;
//! - durations: a number with a unit `ns us µs ms s sec m min h hr d`, compound ones
//!   like `1m30s` included, not followed by a letter or digit;
//! - numbers (`42`, `1.5`, `1,204`, `127.0.0.1`, also digits inside a word, `worker12`),
//!   `0x…`, and hex ids (a whole word of ≥ 6 hex digits with at least one digit, so the
//!   word `deadbeef` stays text); these three share one placeholder, because an id field
//!   that is sometimes all digits must not change the shape;
//! - quoted strings: `"…"` and `` `…` `` anywhere, `'…'` only when the quote opens a word
//!   and closes one (so the apostrophes in `don't` and `it's` stay text); `\` escapes.
//!
//! Every byte but an ASCII letter or digit separates words (`_` too), so `req_5f3a9c`
//! and `cart/123` hold values.
//!
//! # Folding ([`Folder`], one per task)
//! A shown line opens a *run*. A following line joins (is folded into) the run when
//! - it has the run's class, and
//! - it is byte-identical to the run's first line, or, for ordinary lines only, has the
//!   same shape (error and warning lines fold only when identical: distinct errors are
//!   always shown), and
//! - the run's first line is less than [`FOLD_WINDOW`] old.
//!
//! Any other line closes the run and is shown, opening the next run. A run also closes
//! in [`Folder::flush`] (call it about once a second) when no line arrived for
//! [`FOLD_QUIET`] or the window has passed, and in [`Folder::finish`]. Closing a run that
//! folded `N` lines emits:
//! - `N = 1`: that line itself (a note would save nothing);
//! - all identical: `… repeated N×`;
//! - similar, run ended (a different line came, or the task went quiet): `… N-1 more
//!   like this` and then the last folded line, so the final state (`Progress: 100%`) is
//!   seen;
//! - similar, window passed while lines keep coming: `… N more like this`; the next line
//!   opens a new run and is shown, so a steady stream of one shape reads as one sample
//!   line and one note per second.
//!
//! # Terminal budget ([`Budget`], one for all tasks)
//! Ordinary lines (and notes) spend tokens. Each task has its own bucket of
//! [`TASK_BURST`] tokens refilled at its fair share, [`FAIR_RATE`] / active tasks
//! (active: asked for tokens in the last [`ACTIVE_WINDOW`]); a task coming back from
//! silence refills at no less than [`IDLE_RATE`], so its first lines get through however
//! busy the others are. Beyond its own bucket a task may borrow from a shared pool of
//! [`POOL_BURST`] tokens (refilled at [`POOL_RATE`]), at most [`TASK_BORROW`] at a time
//! (that allowance refills at a fair share of [`POOL_RATE`]). So one task bursts ~100
//! lines, starting tasks share ~150 extra lines, and a long flood gets ~20 lines/s in all:
//! bounded by `tasks × TASK_BURST + POOL_BURST + (FAIR_RATE + POOL_RATE) × seconds`.
//! Error and warning lines bypass that budget but are capped per task at [`ERROR_RATE`]
//! lines/s after a burst of [`ERROR_BURST`].
//!
//! # Not shown
//! [`NotShown`] counts a task's hidden lines and yields
//! `… 1,204 lines not shown — bts logs web` at most once per [`NOTE_EVERY`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use regex::bytes::{RegexSet, RegexSetBuilder};

/// How long a run may keep folding lines before a note is due.
pub const FOLD_WINDOW: Duration = Duration::from_secs(1);
/// A run with no new line for this long has ended: [`Folder::flush`] closes it.
pub const FOLD_QUIET: Duration = Duration::from_millis(250);
/// A line like the ones of a run that closed at most this long ago continues it as a
/// slow repetition instead of being shown again.
pub const SLOW_GAP: Duration = Duration::from_secs(60);
/// How often a slow repetition is summed up in a note.
pub const SLOW_NOTE: Duration = Duration::from_secs(30);

/// Tokens in each task's own bucket (and what it starts with).
pub const TASK_BURST: f64 = 20.0;
/// Lines per second shared fairly by the active tasks' own buckets.
pub const FAIR_RATE: f64 = 16.0;
/// The least refill rate of a task that was silent for [`ACTIVE_WINDOW`].
pub const IDLE_RATE: f64 = 5.0;
/// A task is active (counts in the fair split) this long after it last had output.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(2);
/// The shared pool that lets tasks burst beyond their own bucket.
pub const POOL_BURST: f64 = 150.0;
/// Refill of the pool; the tasks' borrowing allowances share it like [`FAIR_RATE`].
pub const POOL_RATE: f64 = 4.0;
/// How much one task may hold borrowed from the pool (so one flood cannot empty it).
pub const TASK_BORROW: f64 = 80.0;
/// Error and warning lines per task: burst, then lines per second.
pub const ERROR_BURST: f64 = 40.0;
pub const ERROR_RATE: f64 = 20.0;
/// How often a task's "lines not shown" note may be printed.
pub const NOTE_EVERY: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Classification

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

// ---------------------------------------------------------------------------------------
// Shape

const NUM: &[u8] = b"\x01#";
const UUID: &[u8] = b"\x01U";
const DUR: &[u8] = b"\x01D";
const TIME: &[u8] = b"\x01T";
const QUOTED: &[u8] = b"\x01Q";

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[inline]
fn at(line: &[u8], i: usize) -> u8 {
    line.get(i).copied().unwrap_or(0)
}

/// Write `line`'s shape into `out` (cleared first). One pass; nothing allocated but `out`.
pub fn shape_into(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // Once a scan for a closing quote of a kind has failed, later ones would too: this
    // keeps a line full of stray quotes linear.
    let mut no_close = [false; 3];
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        let word_start = i == 0 || !is_word(line[i - 1]);
        let quote = match b {
            b'"' => Some(0),
            b'`' => Some(1),
            b'\'' if word_start => Some(2),
            _ => None,
        };
        if let Some(q) = quote {
            if !no_close[q] {
                match quoted_end(line, i) {
                    Some(end) => {
                        out.extend_from_slice(QUOTED);
                        i = end;
                        continue;
                    }
                    None => no_close[q] = true,
                }
            }
        } else if word_start && is_word(b) {
            if let Some((end, kind)) = value_at(line, i) {
                out.extend_from_slice(kind);
                i = end;
                continue;
            }
        } else if b.is_ascii_digit() {
            // Digits inside a word: `worker12`, `v1.2.3`.
            out.extend_from_slice(NUM);
            i = number_end(line, i);
            continue;
        }
        out.push(b);
        i += 1;
    }
}

/// The end (exclusive) of the quoted string opening at `start`, if it closes on this line.
fn quoted_end(line: &[u8], start: usize) -> Option<usize> {
    let q = line[start];
    let mut i = start + 1;
    while let Some(off) = memchr::memchr2(q, b'\\', &line[i..]) {
        let j = i + off;
        if line[j] == b'\\' {
            i = j + 2;
            if i >= line.len() {
                return None;
            }
            continue;
        }
        // A single quote closes only at the end of a word: `'it's here'` closes at the last.
        if q == b'\'' && is_word(at(line, j + 1)) {
            i = j + 1;
            continue;
        }
        return Some(j + 1);
    }
    None
}

/// A value starting at word start `i`: its end and placeholder.
fn value_at(line: &[u8], i: usize) -> Option<(usize, &'static [u8])> {
    if line[i].is_ascii_digit() {
        if let Some(end) = timestamp_end(line, i) {
            return Some((end, TIME));
        }
    }
    if let Some(end) = uuid_end(line, i) {
        return Some((end, UUID));
    }
    let word_end = i + line[i..]
        .iter()
        .position(|&b| !is_word(b))
        .unwrap_or(line.len() - i);
    let word = &line[i..word_end];
    if word.len() > 2
        && (word[1] == b'x' || word[1] == b'X')
        && word[0] == b'0'
        && word[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return Some((word_end, NUM));
    }
    if word.len() >= 6
        && word.iter().all(u8::is_ascii_hexdigit)
        && word.iter().any(u8::is_ascii_digit)
    {
        return Some((word_end, NUM));
    }
    if !line[i].is_ascii_digit() {
        return None;
    }
    if let Some(end) = duration_end(line, i) {
        return Some((end, DUR));
    }
    Some((number_end(line, i), NUM))
}

/// End of `n` ASCII digits at `i`, exactly.
fn digits(line: &[u8], i: usize, n: usize) -> Option<usize> {
    let end = i + n;
    (end <= line.len() && line[i..end].iter().all(u8::is_ascii_digit)).then_some(end)
}

/// End of one or more digits at `i`.
fn digit_run(line: &[u8], i: usize) -> Option<usize> {
    let n = line
        .get(i..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (n > 0).then_some(i + n)
}

/// `\d+` then any `.\d+`, `,\d{3}` (thousands) groups.
fn number_end(line: &[u8], i: usize) -> usize {
    let mut end = digit_run(line, i).unwrap_or(i);
    loop {
        match at(line, end) {
            b'.' => match digit_run(line, end + 1) {
                Some(e) => end = e,
                None => return end,
            },
            b',' => match digits(line, end + 1, 3) {
                Some(e) if !at(line, e).is_ascii_digit() => end = e,
                _ => return end,
            },
            _ => return end,
        }
    }
}

/// `YYYY-MM-DD` (or `/`) with an optional `[T ]HH:MM(:SS(.f)?)?` and zone, or a bare
/// `H:MM:SS(.f)?` with an optional zone.
fn timestamp_end(line: &[u8], i: usize) -> Option<usize> {
    if let Some(e) = digits(line, i, 4) {
        let sep = at(line, e);
        if sep == b'-' || sep == b'/' {
            let e = digits(line, e + 1, 2)?;
            if at(line, e) != sep {
                return None;
            }
            let date_end = digits(line, e + 1, 2)?;
            let t = at(line, date_end);
            if t == b'T' || t == b' ' {
                if let Some(end) = time_end(line, date_end + 1, false) {
                    return Some(zone_end(line, end));
                }
            }
            return Some(date_end);
        }
        return None;
    }
    time_end(line, i, true).map(|end| zone_end(line, end))
}

/// `HH:MM[:SS[.fff]]`; seconds are required when `need_seconds`.
fn time_end(line: &[u8], i: usize, need_seconds: bool) -> Option<usize> {
    let h = digits(line, i, 2).or_else(|| {
        if need_seconds {
            digits(line, i, 1)
        } else {
            None
        }
    })?;
    if at(line, h) != b':' {
        return None;
    }
    let m = digits(line, h + 1, 2)?;
    let s = match (at(line, m), digits(line, m + 1, 2)) {
        (b':', Some(s)) => s,
        _ if need_seconds => return None,
        _ => return Some(m),
    };
    if matches!(at(line, s), b'.' | b',') {
        if let Some(f) = digit_run(line, s + 1) {
            return Some(f);
        }
    }
    Some(s)
}

/// An optional `Z` or `±HH(:?MM)?` after a time.
fn zone_end(line: &[u8], i: usize) -> usize {
    match at(line, i) {
        b'Z' => i + 1,
        b'+' | b'-' => match digits(line, i + 1, 2) {
            Some(h) => {
                let m = if at(line, h) == b':' { h + 1 } else { h };
                digits(line, m, 2).unwrap_or(h)
            }
            None => i,
        },
        _ => i,
    }
}

fn uuid_end(line: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    for (k, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            if at(line, p) != b'-' {
                return None;
            }
            p += 1;
        }
        let end = p + n;
        if end > line.len() || !line[p..end].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        p = end;
    }
    (!is_word(at(line, p))).then_some(p)
}

/// Units, longest first so `ms` is not read as `m`.
const UNITS: &[&[u8]] = &[
    b"mins",
    b"secs",
    b"min",
    b"sec",
    b"hrs",
    b"ms",
    b"us",
    b"ns",
    b"hr",
    "µs".as_bytes(),
    "μs".as_bytes(),
    b"s",
    b"m",
    b"h",
    b"d",
];

/// A duration such as `12ms`, `1.5s`, `3m`, `1h2m3.5s`: number-unit pairs, then a
/// non-word byte.
fn duration_end(line: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    loop {
        let n = digit_run(line, p)?;
        let n = if at(line, n) == b'.' {
            digit_run(line, n + 1).unwrap_or(n)
        } else {
            n
        };
        let unit = UNITS.iter().find(|u| line[n..].starts_with(u))?;
        p = n + unit.len();
        let next = at(line, p);
        if !is_word(next) {
            return Some(p);
        }
        if !next.is_ascii_digit() {
            return None;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Folding

/// Something the folder wants shown, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit<'a> {
    /// A line of the task's output.
    Line { text: &'a [u8], class: Class },
    /// A fold note (`… repeated 37×`) standing for `lines` lines of `class`; if the
    /// budget cuts it, those lines count as not shown.
    Note {
        text: &'a str,
        class: Class,
        lines: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Run {
    class: Class,
    started: Instant,
    last: Instant,
    folded: u64,
    /// Every folded line equals the head.
    identical: bool,
}

/// Lines repeating a closed run slowly (a tick every second, a health-check access log
/// line every few seconds): counted, and noted every [`SLOW_NOTE`].
#[derive(Debug, Clone, Copy)]
struct Slow {
    count: u64,
    identical: bool,
    since: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The run is over: show its last line.
    Ended,
    /// The window passed with lines still coming: the next line is the sample.
    Rolling,
}

/// One task's folding state. Buffers are kept and reused across lines.
#[derive(Debug, Default)]
pub struct Folder {
    run: Option<Run>,
    /// The class of the run that closed last, and when its last line came: a like line
    /// within [`SLOW_GAP`] continues it as a slow repetition.
    closed: Option<(Class, Instant)>,
    slow: Option<Slow>,
    head: Vec<u8>,
    head_shape: Vec<u8>,
    /// The last folded line when the run is not all identical.
    tail: Vec<u8>,
    scratch: Vec<u8>,
    note: String,
}

impl Folder {
    pub fn new() -> Self {
        Folder::default()
    }

    /// Feed the next line of the task; `emit` receives what to show, in order (a closing
    /// run's note or last line, then this line if it is not folded).
    pub fn push(
        &mut self,
        line: &[u8],
        class: Class,
        now: Instant,
        mut emit: impl FnMut(Emit<'_>),
    ) {
        let mut shaped = false;
        if self.run.is_none() {
            if let Some((last_class, at)) = self.closed {
                let near = now.saturating_duration_since(at) <= SLOW_GAP;
                let same_line = line == self.head.as_slice();
                let like = last_class == class
                    && (same_line
                        || class == Class::Normal && {
                            shape_into(line, &mut self.scratch);
                            shaped = true;
                            self.scratch == self.head_shape
                        });
                if near && like {
                    let slow = self.slow.get_or_insert(Slow {
                        count: 0,
                        identical: true,
                        since: now,
                    });
                    slow.count += 1;
                    if !same_line {
                        slow.identical = false;
                        self.tail.clear();
                        self.tail.extend_from_slice(line);
                    }
                    self.closed = Some((class, now));
                    if now.saturating_duration_since(slow.since) >= SLOW_NOTE {
                        self.note_slow(now, &mut emit);
                    }
                    return;
                }
            }
        }
        self.end_slow(&mut emit);
        if let Some(run) = &mut self.run {
            let fresh = now.saturating_duration_since(run.started) < FOLD_WINDOW;
            let mut joins = false;
            if run.class == class {
                if line == self.head.as_slice() {
                    joins = true;
                } else if class == Class::Normal {
                    shape_into(line, &mut self.scratch);
                    shaped = true;
                    joins = self.scratch == self.head_shape;
                }
            }
            if joins && fresh {
                run.folded += 1;
                run.last = now;
                if run.identical && line != self.head.as_slice() {
                    run.identical = false;
                }
                if !run.identical {
                    self.tail.clear();
                    self.tail.extend_from_slice(line);
                }
                return;
            }
            self.close(if joins { Close::Rolling } else { Close::Ended }, &mut emit);
        }
        self.head.clear();
        self.head.extend_from_slice(line);
        // Only ordinary runs fold by shape, so only they need it.
        if class == Class::Normal {
            if shaped {
                std::mem::swap(&mut self.head_shape, &mut self.scratch);
            } else {
                shape_into(line, &mut self.head_shape);
            }
        }
        self.run = Some(Run {
            class,
            started: now,
            last: now,
            folded: 0,
            identical: true,
        });
        emit(Emit::Line { text: line, class });
    }

    /// Whether a run is open or a slow repetition is being counted (so
    /// [`Folder::flush`] may have something to do).
    pub fn has_run(&self) -> bool {
        self.run.is_some() || self.slow.is_some()
    }

    /// Call about once a second: closes a run that went quiet or outlived its window.
    pub fn flush(&mut self, now: Instant, mut emit: impl FnMut(Emit<'_>)) {
        if let Some(slow) = self.slow {
            let gone = self
                .closed
                .is_none_or(|(_, at)| now.saturating_duration_since(at) > SLOW_GAP);
            if gone {
                self.end_slow(&mut emit);
                self.closed = None;
            } else if now.saturating_duration_since(slow.since) >= SLOW_NOTE {
                self.note_slow(now, &mut emit);
            }
        }
        let Some(run) = self.run else { return };
        if now.saturating_duration_since(run.last) >= FOLD_QUIET {
            self.close(Close::Ended, &mut emit);
        } else if now.saturating_duration_since(run.started) >= FOLD_WINDOW {
            self.close(Close::Rolling, &mut emit);
        }
    }

    /// The stream ended (the process exited): close the run.
    pub fn finish(&mut self, mut emit: impl FnMut(Emit<'_>)) {
        self.end_slow(&mut emit);
        self.close(Close::Ended, &mut emit);
        self.closed = None;
    }

    /// Sum up the slow repetition so far and start counting again.
    fn note_slow(&mut self, now: Instant, emit: &mut impl FnMut(Emit<'_>)) {
        if let Some(slow) = self.slow.as_mut() {
            let (count, identical) = (slow.count, slow.identical);
            slow.count = 0;
            slow.identical = true;
            slow.since = now;
            self.emit_slow(count, identical, emit);
        }
    }

    /// The slow repetition is over: say what it hid.
    fn end_slow(&mut self, emit: &mut impl FnMut(Emit<'_>)) {
        if let Some(slow) = self.slow.take() {
            self.emit_slow(slow.count, slow.identical, emit);
        }
    }

    fn emit_slow(&mut self, count: u64, identical: bool, emit: &mut impl FnMut(Emit<'_>)) {
        let Some((class, _)) = self.closed else {
            return;
        };
        self.note.clear();
        match count {
            0 => {}
            1 => {
                let last = if identical { &self.head } else { &self.tail };
                emit(Emit::Line { text: last, class });
            }
            n if identical => {
                let _ = write!(self.note, "… repeated {}×", group_digits(n));
                emit(Emit::Note {
                    text: &self.note,
                    class,
                    lines: n,
                });
            }
            n => {
                let _ = write!(self.note, "… {} more like this", group_digits(n));
                emit(Emit::Note {
                    text: &self.note,
                    class,
                    lines: n,
                });
            }
        }
    }

    fn close(&mut self, how: Close, emit: &mut impl FnMut(Emit<'_>)) {
        let Some(run) = self.run.take() else { return };
        let class = run.class;
        // Only a run that ended (went quiet, or met a different line) can go on as a slow
        // repetition; a rolling window keeps showing a sample a second.
        self.closed = (how == Close::Ended).then_some((class, run.last));
        let last = if run.identical {
            &self.head
        } else {
            &self.tail
        };
        self.note.clear();
        match run.folded {
            0 => {}
            1 => emit(Emit::Line { text: last, class }),
            n if run.identical => {
                let _ = write!(self.note, "… repeated {}×", group_digits(n));
                emit(Emit::Note {
                    text: &self.note,
                    class,
                    lines: n,
                });
            }
            n if how == Close::Rolling => {
                let _ = write!(self.note, "… {} more like this", group_digits(n));
                emit(Emit::Note {
                    text: &self.note,
                    class,
                    lines: n,
                });
            }
            n => {
                let _ = write!(self.note, "… {} more like this", group_digits(n - 1));
                emit(Emit::Note {
                    text: &self.note,
                    class,
                    lines: n - 1,
                });
                emit(Emit::Line { text: last, class });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Budget

#[derive(Debug, Clone, Copy)]
struct TaskTokens {
    own: f64,
    /// How much more this task may borrow from the pool.
    borrow: f64,
    errors: f64,
    refilled: Option<Instant>,
    errors_refilled: Option<Instant>,
    last_output: Option<Instant>,
}

impl Default for TaskTokens {
    fn default() -> Self {
        TaskTokens {
            own: TASK_BURST,
            borrow: TASK_BORROW,
            errors: ERROR_BURST,
            refilled: None,
            errors_refilled: None,
            last_output: None,
        }
    }
}

/// The terminal budget shared by all tasks (wrap it in a `Mutex`; take once per batch).
#[derive(Debug)]
pub struct Budget {
    pool: f64,
    pool_refilled: Option<Instant>,
    /// Indexed by the caller's task number; grows on demand.
    tasks: Vec<TaskTokens>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new()
    }
}

fn secs_since(now: Instant, then: Option<Instant>) -> f64 {
    then.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
}

impl Budget {
    pub fn new() -> Self {
        Budget {
            pool: POOL_BURST,
            pool_refilled: None,
            tasks: Vec::new(),
        }
    }

    fn task(&mut self, task: usize) -> &mut TaskTokens {
        if task >= self.tasks.len() {
            self.tasks.resize(task + 1, TaskTokens::default());
        }
        &mut self.tasks[task]
    }

    /// How many of `wanted` ordinary lines task `task` may show now.
    pub fn take(&mut self, task: usize, wanted: u32, now: Instant) -> u32 {
        if wanted == 0 {
            return 0;
        }
        self.pool = (self.pool + secs_since(now, self.pool_refilled) * POOL_RATE).min(POOL_BURST);
        self.pool_refilled = Some(now);
        self.task(task);
        let is_active = |t: &TaskTokens| {
            t.last_output
                .is_some_and(|l| now.saturating_duration_since(l) <= ACTIVE_WINDOW)
        };
        let others = self
            .tasks
            .iter()
            .enumerate()
            .filter(|&(i, t)| i != task && is_active(t))
            .count();
        let t = &mut self.tasks[task];
        let active = (others + 1) as f64;
        let share = FAIR_RATE / active;
        let rate = if is_active(t) {
            share
        } else {
            share.max(IDLE_RATE)
        };
        let dt = secs_since(now, t.refilled);
        t.own = (t.own + dt * rate).min(TASK_BURST);
        // The allowance refills at a fair share of the pool's rate too: otherwise whichever
        // flood happens to ask first after each refill would get all of it.
        t.borrow = (t.borrow + dt * POOL_RATE / active).min(TASK_BORROW);
        t.refilled = Some(now);
        t.last_output = Some(now);

        let wanted = f64::from(wanted);
        let own = wanted.min(t.own.floor());
        t.own -= own;
        let borrowed = (wanted - own)
            .min(self.pool.floor())
            .min(t.borrow.floor())
            .max(0.0);
        t.borrow -= borrowed;
        self.pool -= borrowed;
        // Both are whole numbers no greater than `wanted`, a u32.
        (own + borrowed) as u32
    }

    /// How many of `wanted` error or warning lines task `task` may show now.
    pub fn take_errors(&mut self, task: usize, wanted: u32, now: Instant) -> u32 {
        if wanted == 0 {
            return 0;
        }
        let t = self.task(task);
        t.errors = (t.errors + secs_since(now, t.errors_refilled) * ERROR_RATE).min(ERROR_BURST);
        t.errors_refilled = Some(now);
        let n = f64::from(wanted).min(t.errors.floor());
        t.errors -= n;
        n as u32
    }
}

// ---------------------------------------------------------------------------------------
// Not shown

/// Counts one task's hidden lines and words the periodic note about them.
#[derive(Debug, Default, Clone)]
pub struct NotShown {
    hidden: u64,
    /// When the first line of the current count was hidden: the note waits a second
    /// from there, so it sums up a second's worth and notes are a second apart.
    first: Option<Instant>,
}

impl NotShown {
    pub fn new() -> Self {
        NotShown::default()
    }

    pub fn add(&mut self, lines: u64, now: Instant) {
        if lines > 0 && self.hidden == 0 {
            self.first = Some(now);
        }
        self.hidden += lines;
    }

    /// Whether hidden lines wait for their note.
    pub fn pending(&self) -> bool {
        self.hidden > 0
    }

    /// The note, once the oldest hidden line has waited [`NOTE_EVERY`].
    pub fn note(&mut self, task: &str, now: Instant) -> Option<String> {
        let due = self
            .first
            .is_some_and(|f| now.saturating_duration_since(f) >= NOTE_EVERY);
        if due {
            self.finish(task)
        } else {
            None
        }
    }

    /// The note now, whatever the time (end of a run).
    pub fn finish(&mut self, task: &str) -> Option<String> {
        if self.hidden == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.hidden);
        self.first = None;
        let noun = if n == 1 { "line" } else { "lines" };
        Some(format!(
            "… {} {noun} not shown — bts logs {task}",
            group_digits(n)
        ))
    }
}

/// `1204` → `1,204`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    // --- classification ---------------------------------------------------------------

    #[test]
    fn classify_defaults() {
        let c = Classifier::new(None, None).unwrap();
        for line in [
            "ERROR db: connection refused",
            "thread 'main' panicked at src/main.rs:3:5",
            "Traceback (most recent call last):",
            "TypeError: x is not a function",
            "java.lang.NullPointerException",
            "FATAL: role \"x\" does not exist",
            "Unhandled exception in worker",
            "warning and error together",
        ] {
            assert_eq!(c.classify(line.as_bytes()), Class::Error, "{line}");
        }
        for line in [
            "WARN deprecated flag",
            "warning: unused variable",
            "DeprecationWarning: old api",
            "[warn] slow",
        ] {
            assert_eq!(c.classify(line.as_bytes()), Class::Warning, "{line}");
        }
        for line in [
            "errors: 0, warnings: 0",
            "compiled with 0 errors",
            "no_error_here",
            "mirror terror",
            "listening on :3000",
            "",
        ] {
            assert_eq!(c.classify(line.as_bytes()), Class::Normal, "{line}");
        }
        // Not UTF-8 is fine.
        assert_eq!(c.classify(b"\xff\xfe error \xff"), Class::Error);
    }

    #[test]
    fn classify_custom_patterns() {
        let errors = vec!["^E ".to_string(), "(?i)boom".to_string()];
        let c = Classifier::new(Some(&errors), Some(&[])).unwrap();
        assert_eq!(c.classify(b"E something"), Class::Error);
        assert_eq!(c.classify(b"it went BOOM"), Class::Error);
        assert_eq!(
            c.classify(b"error: default patterns are replaced"),
            Class::Normal
        );
        assert_eq!(c.classify(b"warning: disabled"), Class::Normal);
        assert!(Classifier::new(Some(&["(".to_string()]), None).is_err());
    }

    // --- shape ----------------------------------------------------------------------------

    fn shape(line: &str) -> String {
        let mut out = Vec::new();
        shape_into(line.as_bytes(), &mut out);
        String::from_utf8(out).unwrap().replace('\x01', "$")
    }

    #[test]
    fn shape_numbers() {
        assert_eq!(
            shape("GET /api/cart/123 200 in 12ms"),
            "GET /api/cart/$# $# in $D"
        );
        assert_eq!(
            shape("GET /api/cart/123 200 in 12ms"),
            shape("GET /api/cart/9 200 in 3ms")
        );
        assert_eq!(
            shape("took 1.5 seconds, 1,204 rows"),
            "took $# seconds, $# rows"
        );
        assert_eq!(shape("listening on 127.0.0.1:3000"), "listening on $#:$#");
        assert_eq!(shape("worker12 v1.2.3 x86_64"), "worker$# v$# x$#_$#");
        assert_eq!(shape("progress: 50%."), "progress: $#%.");
        assert_eq!(shape("user_42 done"), "user_$# done");
    }

    #[test]
    fn shape_hex_and_uuid() {
        assert_eq!(shape("commit 3f2a9c1 pushed"), "commit $# pushed");
        assert_eq!(shape("req=5f3a9c0b12 ok"), "req=$# ok");
        assert_eq!(shape("req_a1b2c3 ok"), "req_$# ok");
        // An id that happens to be all digits has the same shape as a hex one.
        assert_eq!(shape("id 1234567"), shape("id 12ab4c7"));
        assert_eq!(shape("ptr 0x7ffd1a2b and 0XFF"), "ptr $# and $#");
        // Words made of hex letters stay words; short hex-ish words too.
        assert_eq!(
            shape("deadbeef facade cafe12 cafe1"),
            "deadbeef facade $# cafe$#"
        );
        assert_eq!(
            shape("trace 123e4567-e89b-12d3-a456-426614174000 done"),
            "trace $U done"
        );
        assert_eq!(shape("f47ac10b-58cc-4372-a567-0e02b2c3d479"), "$U");
    }

    #[test]
    fn shape_durations() {
        for d in [
            "12ms", "1.5s", "3m", "250us", "250µs", "2h", "1m30s", "1h2m3.5s", "5min", "10 sec",
        ] {
            let s = shape(&format!("done in {d}."));
            assert!(s == "done in $D." || s == "done in $# sec.", "{d}: {s}");
        }
        assert_eq!(shape("done in 12ms, next"), "done in $D, next");
        // A number followed by other letters is a number, not a duration.
        assert_eq!(shape("size 12mb"), "size $#mb");
        assert_eq!(shape("3rd try"), "$#rd try");
    }

    #[test]
    fn shape_timestamps() {
        assert_eq!(shape("2024-01-02T03:04:05.123Z INFO x"), "$T INFO x");
        assert_eq!(shape("2024-01-02T03:04:05+02:00 x"), "$T x");
        assert_eq!(shape("[2024-01-02 03:04:05,123] x"), "[$T] x");
        assert_eq!(shape("at 12:30:45.999 and 1:02:03"), "at $T and $T");
        assert_eq!(shape("date 2024/01/02"), "date $T");
        assert_eq!(
            shape("2024-01-02T03:04:05.123Z x"),
            shape("2025-12-31T23:59:59.9Z x")
        );
        // HH:MM alone is not a time (it is `host:port`-like): two numbers.
        assert_eq!(shape("at 12:30"), "at $#:$#");
    }

    #[test]
    fn shape_quotes() {
        assert_eq!(shape(r#"user "alice" logged in"#), "user $Q logged in");
        assert_eq!(shape(r#"key="a \"b\" c" ok"#), "key=$Q ok");
        assert_eq!(shape("open 'file.txt' failed"), "open $Q failed");
        assert_eq!(shape("use `cargo run` here"), "use $Q here");
        // Apostrophes are not quotes.
        assert_eq!(shape("don't stop, it's fine"), "don't stop, it's fine");
        assert_eq!(shape("'it's here' now"), "$Q now");
        // Unclosed quotes stay text.
        assert_eq!(shape(r#"say "hi"#), r#"say "hi"#);
        assert_eq!(shape(r#"a " b " c ""#), "a $Q c \"");
    }

    #[test]
    fn shape_odd_input() {
        assert_eq!(shape(""), "");
        let mut out = Vec::new();
        shape_into(b"\xff\xfe 12 \xc3", &mut out);
        assert_eq!(out, b"\xff\xfe \x01# \xc3");
        // Stray quotes and long lines stay linear and do not panic.
        let long = "'x ".repeat(20_000) + "\"" + &"9".repeat(1000) + "\\";
        shape_into(long.as_bytes(), &mut out);
        shape_into(b"\"abc\\", &mut out);
        assert_eq!(out, b"\"abc\\");
        shape_into(b"2024-", &mut out);
        shape_into(b"1.", &mut out);
        assert_eq!(out, b"\x01#.");
        shape_into(b"0x", &mut out);
        assert_eq!(out, b"\x01#x");
    }

    // --- folding ----------------------------------------------------------------------------

    /// Feeds lines at the given times and returns everything emitted, notes as `[note]`.
    struct Fold {
        f: Folder,
        out: Vec<String>,
    }

    impl Fold {
        fn new() -> Self {
            Fold {
                f: Folder::new(),
                out: Vec::new(),
            }
        }
        fn record(out: &mut Vec<String>) -> impl FnMut(Emit<'_>) + '_ {
            move |e| {
                out.push(match e {
                    Emit::Line {
                        text,
                        class: Class::Normal,
                    } => String::from_utf8_lossy(text).into_owned(),
                    Emit::Line { text, class } => {
                        format!("{class:?}: {}", String::from_utf8_lossy(text))
                    }
                    Emit::Note {
                        text,
                        class: Class::Normal,
                        lines,
                    } => format!("[{text}] ({lines})"),
                    Emit::Note { text, class, lines } => format!("{class:?} [{text}] ({lines})"),
                })
            }
        }
        fn push(&mut self, line: &str, class: Class, at: Instant) {
            self.f
                .push(line.as_bytes(), class, at, Self::record(&mut self.out));
        }
        fn flush(&mut self, at: Instant) {
            self.f.flush(at, Self::record(&mut self.out));
        }
        fn finish(&mut self) -> Vec<String> {
            self.f.finish(Self::record(&mut self.out));
            std::mem::take(&mut self.out)
        }
    }

    #[test]
    fn identical_lines_fold_into_repeated() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for i in 0..38 {
            f.push("waiting for db", Class::Normal, ms(t0, i));
        }
        f.push("db ready", Class::Normal, ms(t0, 40));
        assert_eq!(
            f.finish(),
            ["waiting for db", "[… repeated 37×] (37)", "db ready"]
        );
    }

    #[test]
    fn similar_lines_fold_and_show_the_last() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for i in 1..=10 {
            f.push(&format!("Progress: {}%", i * 10), Class::Normal, ms(t0, i));
        }
        f.push("Done", Class::Normal, ms(t0, 20));
        assert_eq!(
            f.finish(),
            [
                "Progress: 10%",
                "[… 8 more like this] (8)",
                "Progress: 100%",
                "Done"
            ]
        );
    }

    #[test]
    fn the_last_folded_line_is_the_tail_even_when_it_repeats_the_first() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for line in ["step 1", "step 1", "step 2", "step 1"] {
            f.push(line, Class::Normal, t0);
        }
        assert_eq!(f.finish(), ["step 1", "[… 2 more like this] (2)", "step 1"]);
    }

    #[test]
    fn one_folded_line_is_shown_not_noted() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        f.push("GET /a/1 200 in 3ms", Class::Normal, t0);
        f.push("GET /a/2 200 in 4ms", Class::Normal, ms(t0, 1));
        f.push("", Class::Normal, ms(t0, 2));
        f.push("", Class::Normal, ms(t0, 3));
        f.push("x", Class::Normal, ms(t0, 4));
        assert_eq!(
            f.finish(),
            ["GET /a/1 200 in 3ms", "GET /a/2 200 in 4ms", "", "", "x"]
        );
    }

    #[test]
    fn flush_closes_a_quiet_run() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for i in 0..5 {
            f.push(&format!("compiled module {i}"), Class::Normal, ms(t0, i));
        }
        f.flush(ms(t0, 100)); // not quiet yet
        assert_eq!(f.out, ["compiled module 0"]);
        f.flush(ms(t0, 300));
        assert_eq!(
            f.out,
            [
                "compiled module 0",
                "[… 3 more like this] (3)",
                "compiled module 4"
            ]
        );
        // A later line of the same shape opens a new run and is shown at once.
        f.push("compiled module 5", Class::Normal, ms(t0, 5000));
        assert_eq!(f.finish().last().unwrap(), "compiled module 5");
    }

    #[test]
    fn steady_stream_gives_a_sample_and_a_note_per_second() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        // 200 lines/s of one shape for 3 s, flush every second.
        for i in 0..600u64 {
            let t = ms(t0, i * 5);
            if i > 0 && i % 200 == 0 {
                f.flush(t);
            }
            f.push(
                &format!("GET /api/cart/{i} 200 in {}ms", i % 17),
                Class::Normal,
                t,
            );
        }
        let out = f.finish();
        assert_eq!(out.len(), 7, "{out:?}");
        assert_eq!(out[0], "GET /api/cart/0 200 in 0ms");
        assert_eq!(out[1], "[… 199 more like this] (199)");
        assert_eq!(out[2], "GET /api/cart/200 200 in 13ms");
        assert_eq!(out[5], "[… 198 more like this] (198)");
        assert_eq!(out[6], "GET /api/cart/599 200 in 4ms");
    }

    #[test]
    fn slow_repetition_is_noted_every_half_minute() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        // A tick every 2 s for 70 s, flushed every 250 ms as the pump does.
        let mut t = 0;
        while t <= 70_000 {
            if t % 2000 == 0 {
                f.push(&format!("tick {}", t / 2000), Class::Normal, ms(t0, t));
            }
            f.flush(ms(t0, t + 250));
            t += 250;
        }
        let out = f.finish();
        assert_eq!(out[0], "tick 0");
        assert!(
            out.iter().any(|l| l.starts_with("[… 15 more like this]")),
            "{out:?}"
        );
        assert!(out.len() <= 5, "{out:?}");
        // A different line ends the repetition and shows.
        let mut f = Fold::new();
        f.push("tick 1", Class::Normal, t0);
        f.flush(ms(t0, 300));
        f.push("tick 2", Class::Normal, ms(t0, 2000));
        f.push("server stopped", Class::Normal, ms(t0, 3000));
        assert_eq!(f.finish(), vec!["tick 1", "tick 2", "server stopped"]);
    }

    #[test]
    fn identical_flood_is_one_line_per_second() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for i in 0..300u64 {
            f.push("tick", Class::Normal, ms(t0, i * 10));
        }
        // The window passes at 1 s and 2 s: a rolling note, and the line again.
        assert_eq!(
            f.finish(),
            [
                "tick",
                "[… repeated 99×] (99)",
                "tick",
                "[… repeated 99×] (99)",
                "tick",
                "[… repeated 99×] (99)"
            ]
        );
    }

    #[test]
    fn distinct_errors_always_show_identical_ones_fold() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for i in 0..5 {
            f.push(
                &format!("error: cannot find value `x{i}` in this scope"),
                Class::Error,
                ms(t0, i),
            );
        }
        for i in 0..20 {
            f.push("ERROR connection refused", Class::Error, ms(t0, 10 + i));
        }
        f.push("WARN retrying in 1s", Class::Warning, ms(t0, 40));
        f.push("WARN retrying in 2s", Class::Warning, ms(t0, 41));
        assert_eq!(
            f.finish(),
            [
                "Error: error: cannot find value `x0` in this scope",
                "Error: error: cannot find value `x1` in this scope",
                "Error: error: cannot find value `x2` in this scope",
                "Error: error: cannot find value `x3` in this scope",
                "Error: error: cannot find value `x4` in this scope",
                "Error: ERROR connection refused",
                "Error [… repeated 19×] (19)",
                "Warning: WARN retrying in 1s",
                "Warning: WARN retrying in 2s",
            ]
        );
    }

    #[test]
    fn classes_do_not_fold_together() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        f.push("job 1 ok", Class::Normal, t0);
        f.push("job 2 ok", Class::Error, ms(t0, 1));
        f.push("job 3 ok", Class::Normal, ms(t0, 2));
        assert_eq!(f.finish(), ["job 1 ok", "Error: job 2 ok", "job 3 ok"]);
    }

    #[test]
    fn big_counts_have_separators() {
        let t0 = Instant::now();
        let mut f = Fold::new();
        for _ in 0..1206 {
            f.push("same", Class::Normal, t0);
        }
        assert_eq!(f.finish(), ["same", "[… repeated 1,205×] (1205)"]);
    }

    // --- budget -----------------------------------------------------------------------------

    /// Feeds `(task, at_ms, lines)` batches in time order; returns lines granted per task.
    fn run_budget(b: &mut Budget, t0: Instant, mut batches: Vec<(usize, u64, u32)>) -> Vec<u32> {
        batches.sort_by_key(|&(_, at, _)| at);
        let mut got = vec![0; batches.iter().map(|b| b.0 + 1).max().unwrap_or(0)];
        for (task, at, n) in batches {
            got[task] += b.take(task, n, ms(t0, at));
        }
        got
    }

    /// `total` lines in batches of `batch`, one batch every `every` ms from `start`.
    fn spread(
        task: usize,
        start: u64,
        every: u64,
        batch: u32,
        total: u32,
    ) -> Vec<(usize, u64, u32)> {
        (0..total.div_ceil(batch))
            .map(|k| {
                (
                    task,
                    start + u64::from(k) * every,
                    batch.min(total - k * batch),
                )
            })
            .collect()
    }

    #[test]
    fn dev_server_startup_passes_in_full_next_to_others() {
        let t0 = Instant::now();
        // The others get their batches in first at every instant (worst case for `web`).
        for batch in [1, 5, 60] {
            let mut b = Budget::new();
            let mut batches = Vec::new();
            batches.extend(spread(1, 0, 20, 5, 30)); // postgres
            batches.extend(spread(2, 0, 10, 5, 25)); // redis
            batches.extend(spread(3, 0, 30, 5, 15)); // worker
            batches.extend(spread(4, 0, 50, 5, 10)); // css watcher
            batches.extend(spread(0, 0, 15, batch, 60)); // web
            batches.sort_by_key(|&(task, at, _)| (at, usize::from(task == 0)));
            let mut got = [0; 5];
            for (task, at, n) in batches {
                got[task] += b.take(task, n, ms(t0, at));
            }
            assert_eq!(got, [60, 30, 25, 15, 10], "batch {batch}");
        }
    }

    #[test]
    fn startup_burst_with_everything_at_once() {
        // Four others print 30 lines each in one batch at the very same instant, first.
        let t0 = Instant::now();
        let mut b = Budget::new();
        let got = run_budget(
            &mut b,
            t0,
            vec![(1, 0, 30), (2, 0, 30), (3, 0, 30), (4, 0, 30), (0, 0, 60)],
        );
        assert_eq!(got, [60, 30, 30, 30, 30]);
    }

    #[test]
    fn ten_floods_pass_at_most_two_percent() {
        let t0 = Instant::now();
        let mut b = Budget::new();
        let mut batches = Vec::new();
        // 10 tasks × 200 varied lines/s × 20 s, in batches of 10 every 50 ms, staggered.
        for task in 0..10 {
            batches.extend(spread(task, task as u64 * 5, 50, 10, 4000));
        }
        let got = run_budget(&mut b, t0, batches);
        let total: u32 = got.iter().sum();
        assert!(total <= 800, "{total} of 40,000 shown: {got:?}");
        assert!(total >= 600, "the budget should still be used: {total}");
        // Fair: nobody starved, nobody took a big part.
        for g in &got {
            assert!((40..=150).contains(g), "{got:?}");
        }
    }

    #[test]
    fn one_flood_gets_about_twenty_lines_a_second() {
        let t0 = Instant::now();
        let mut b = Budget::new();
        let got = run_budget(&mut b, t0, spread(0, 0, 10, 10, 60_000)); // 1000/s for 60 s
                                                                        // Own burst 20 + borrowed 80, then (16 + 4)/s.
        assert!((1250..=1320).contains(&got[0]), "{got:?}");
    }

    #[test]
    fn a_quiet_task_is_not_starved_by_floods() {
        let t0 = Instant::now();
        let floods: Vec<_> = (0..10)
            .flat_map(|task| spread(task, task as u64, 50, 10, 6000))
            .collect(); // 30 s
                        // A new task's first lines pass in the middle of the floods…
        let mut batches = floods.clone();
        batches.push((10, 10_001, 20));
        assert_eq!(run_budget(&mut Budget::new(), t0, batches.clone())[10], 20);
        // …and after 5 s of silence it gets a fresh dozen again.
        batches.push((10, 15_001, 12));
        assert_eq!(run_budget(&mut Budget::new(), t0, batches)[10], 32);
        // While a task that keeps printing gets only its share (16/11 lines/s).
        let mut batches = floods;
        batches.extend(spread(10, 10_001, 100, 1, 50)); // 10 lines/s for 5 s
        let got = run_budget(&mut Budget::new(), t0, batches)[10];
        assert!((20..=35).contains(&got), "{got}");
    }

    #[test]
    fn errors_are_capped_per_task() {
        let t0 = Instant::now();
        let mut b = Budget::new();
        // 100 distinct errors/s for 10 s.
        let mut got = 0;
        for k in 0..100u64 {
            got += b.take_errors(0, 10, ms(t0, k * 100));
        }
        assert!((230..=245).contains(&got), "{got}");
        // Another task's errors are not affected, nor are ordinary lines.
        assert_eq!(b.take_errors(1, 30, ms(t0, 10_000)), 30);
        assert_eq!(b.take(0, 50, ms(t0, 10_000)), 50);
        assert_eq!(b.take(0, 0, ms(t0, 10_000)), 0);
    }

    // --- not shown --------------------------------------------------------------------------

    #[test]
    fn not_shown_notes_once_a_second() {
        let t0 = Instant::now();
        let mut n = NotShown::new();
        assert_eq!(n.note("web", t0), None);
        n.add(1000, t0);
        assert_eq!(n.note("web", ms(t0, 500)), None);
        n.add(204, ms(t0, 900));
        assert_eq!(
            n.note("web", ms(t0, 1000)).as_deref(),
            Some("… 1,204 lines not shown — bts logs web")
        );
        assert_eq!(n.note("web", ms(t0, 1100)), None);
        n.add(1, ms(t0, 1200));
        assert_eq!(n.note("web", ms(t0, 1500)), None);
        assert_eq!(
            n.note("web", ms(t0, 2200)).as_deref(),
            Some("… 1 line not shown — bts logs web")
        );
        n.add(0, ms(t0, 3000));
        assert_eq!(n.note("web", ms(t0, 9000)), None);
        n.add(7, ms(t0, 9000));
        assert_eq!(n.hidden, 7);
        assert_eq!(
            n.finish("db").as_deref(),
            Some("… 7 lines not shown — bts logs db")
        );
        assert_eq!(n.finish("db"), None);
    }

    #[test]
    fn digits() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(12), "12");
        assert_eq!(group_digits(1204), "1,204");
        assert_eq!(group_digits(1_000_000), "1,000,000");
    }
}
