//! Build and test cycles of watchers (docs/behaviour.md#cycles): `tsc --watch`, vitest,
//! jest, vite / webpack / next, `cargo watch`, eslint and prettier watch modes,
//! pytest-watch. Their output comes in cycles — a change is seen, they rebuild or rerun,
//! they print a verdict — and what matters is the verdict of the latest cycle.
//!
//! A [`Preset`] is chosen by the task's command and its markers confirm it in the output;
//! `cycle: {start, ok, fail}` sets the markers, `cycle: off` turns it off. The
//! [`CycleTracker`] turns lines into cycles: a start marker opens one, error lines are
//! counted in it (the first *located* one — `file(line,col)`, `file:line:col`, `--> …`,
//! a stack frame — kept as its first error), and an `ok` or `fail` marker closes it
//! with its verdict. Only tasks with cycles pay anything on the output path: one
//! [`RegexSet`] over each read, and per line only for reads that hold a marker.

use std::time::SystemTime;

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

/// Lines of a failing cycle's errors kept for `bts wait --for cycle`.
pub const ERROR_LINES: usize = 8;

/// The markers of one watcher.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// Substrings of the command that choose it (checked in order of the table).
    pub commands: &'static [&'static str],
    pub start: &'static str,
    pub ok: &'static str,
    pub fail: &'static str,
}

/// The built-in presets, in the order their commands are tried (vitest before vite).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "tsc",
        commands: &["tsc"],
        start: r"File change detected\. Starting incremental compilation|Starting compilation in watch mode",
        ok: r"Found 0 errors?\. Watching for file changes",
        fail: r"Found [1-9][0-9]* errors?\b.*Watching for file changes",
    },
    Preset {
        name: "vitest",
        commands: &["vitest"],
        start: r"^\s*(RERUN|DEV|RUN)\s+(v[0-9]|\S)",
        ok: r"^\s*Test Files\s+[0-9]+ passed",
        fail: r"^\s*Test Files\s+.*[0-9]+ failed",
    },
    Preset {
        name: "jest",
        commands: &["jest"],
        start: r"^\s*RUNS\s|Determining test suites to run",
        ok: r"^Test Suites:\s+([0-9]+ skipped, )?[0-9]+ passed",
        fail: r"^Test Suites:\s+.*[0-9]+ failed",
    },
    Preset {
        name: "web",
        commands: &["vite", "webpack", "next dev", "react-scripts"],
        start: r"(?i)\bcompiling\b|hmr update|page reload",
        ok: r"(?i)compiled successfully|compiled with [0-9]+ warnings?|compiled with warnings|✓ compiled|\bready in [0-9]|hmr update|page reload",
        fail: r"(?i)failed to compile|compiled with [0-9]+ errors?|module build failed|internal server error",
    },
    Preset {
        name: "cargo",
        commands: &["cargo watch", "cargo-watch", "bacon"],
        start: r"^\[Running '|^\s*Compiling \S+ v[0-9]",
        // The exit status is the verdict: `cargo watch -x test` builds (Finished) and
        // only then runs the tests.
        ok: r"^\[Finished running\. Exit status: 0\]",
        fail: r"could not compile|^error: test failed|^\[Finished running\. Exit status: [1-9]",
    },
    Preset {
        name: "eslint",
        commands: &["esw", "eslint"],
        start: r"(?i)^\s*linting\b|change detected",
        ok: r"(?i)✓ clean|\bno problems\b|^\s*0 problems",
        fail: r"(?i)\([1-9][0-9]* errors?",
    },
    Preset {
        name: "prettier",
        commands: &["prettier"],
        start: r"(?i)^checking formatting",
        ok: r"All matched files use Prettier code style",
        fail: r"Code style issues (found|were found)",
    },
    Preset {
        name: "pytest",
        commands: &["ptw", "pytest-watch"],
        start: r"(?i)^running: py\.?test|change detected",
        ok: r"^=+ [0-9]+ passed[^=]* in [0-9.]+s",
        fail: r"^=+ .*[0-9]+ (failed|errors?)\b.* in [0-9.]+s",
    },
];

/// The markers of a task's `cycle:` (or its command's preset); `None`: no cycles.
pub fn markers_for(task: &crate::manifest::Task) -> Option<Markers> {
    match &task.cycle {
        crate::manifest::CycleSpec::Off => None,
        crate::manifest::CycleSpec::Custom { start, ok, fail } => {
            Markers::new("custom", start, ok, fail).ok()
        }
        crate::manifest::CycleSpec::Auto => {
            preset_for(&task.command.display()).map(Markers::preset)
        }
    }
}

/// The preset for a command, if any.
pub fn preset_for(command: &str) -> Option<&'static Preset> {
    let words = format!(" {command} ");
    PRESETS.iter().find(|p| {
        p.commands.iter().any(|c| {
            // A whole word (`tsc`, not `./tscope` or `etsc`).
            let b = words.as_bytes();
            words.match_indices(c).any(|(i, _)| {
                let word = |x: u8| x.is_ascii_alphanumeric() || x == b'-' || x == b'_';
                let after = b.get(i + c.len()).copied().unwrap_or(b' ');
                !word(b[i - 1]) && (c.ends_with(' ') || !word(after))
            })
        })
    })
}

/// The markers of a task, compiled: start, ok, fail (indices 0, 1, 2 of the set).
#[derive(Debug, Clone)]
pub struct Markers {
    pub name: String,
    set: RegexSet,
}

impl Markers {
    pub fn new(name: &str, start: &str, ok: &str, fail: &str) -> Result<Self, regex::Error> {
        // No start marker: a pattern that matches nothing.
        let start = if start.is_empty() { r"[^\s\S]" } else { start };
        let set = RegexSetBuilder::new([start, ok, fail])
            .multi_line(true)
            .build()?;
        Ok(Markers {
            name: name.to_string(),
            set,
        })
    }

    pub fn preset(p: &Preset) -> Self {
        Markers::new(p.name, p.start, p.ok, p.fail).expect("the presets compile")
    }

    /// Whether a read (many lines) holds any marker: one search; lines of a read without
    /// one need no look (only their errors count).
    pub fn any(&self, chunk: &[u8]) -> bool {
        self.set.is_match(chunk)
    }

    /// Which marker a line is, if any: a verdict wins over a start on the same line
    /// (vite's `hmr update` is both: a cycle of its own), `fail` over `ok`.
    pub fn of(&self, line: &[u8]) -> Option<Marker> {
        let m = self.set.matches(line);
        let opens = m.matched(0);
        if m.matched(2) {
            Some(Marker::Fail { opens })
        } else if m.matched(1) {
            Some(Marker::Ok { opens })
        } else if opens {
            Some(Marker::Start)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Start,
    /// A verdict; `opens`: the line is also a start (the cycle is that one line).
    Ok {
        opens: bool,
    },
    Fail {
        opens: bool,
    },
}

/// Directories whose files are not sources: dependencies and what builds and test
/// runners write (a build's own output must not count as a newer edit than the build).
/// Every hidden directory is skipped too (`.git`, `.bts`, `.vite`, `.next`, caches).
const NOT_SOURCES: &[&str] = &[
    "node_modules",
    "target",
    "dist",
    "build",
    "out",
    "coverage",
    "__pycache__",
    "venv",
];
/// Files builds write beside the sources.
const NOT_SOURCE_SUFFIXES: &[&str] = &[".tsbuildinfo", ".pyc"];

/// The newest modification time of a source file under `dir` (skipping hidden
/// directories, [`NOT_SOURCES`] and [`NOT_SOURCE_SUFFIXES`], at most `limit` entries and
/// 12 levels): "the newest file change" a
/// `bts wait --for cycle` compares cycles with.
pub fn newest_source_change(dir: &std::path::Path, limit: usize) -> Option<SystemTime> {
    fn walk(
        dir: &std::path::Path,
        depth: usize,
        budget: &mut usize,
        newest: &mut Option<SystemTime>,
    ) {
        if depth > 12 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                let name = e.file_name();
                let hidden = name.as_encoded_bytes().first() == Some(&b'.');
                if !hidden && !NOT_SOURCES.iter().any(|n| name == *n) {
                    walk(&e.path(), depth + 1, budget, newest);
                }
            } else if kind.is_file() {
                let name = e.file_name();
                if NOT_SOURCE_SUFFIXES
                    .iter()
                    .any(|s| name.to_string_lossy().ends_with(s))
                {
                    continue;
                }
                if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                    if newest.is_none_or(|n| m > n) {
                        *newest = Some(m);
                    }
                }
            }
        }
    }
    let mut budget = limit;
    let mut newest = None;
    walk(dir, 0, &mut budget, &mut newest);
    newest
}

/// A line that says where the problem is.
pub fn is_located(line: &str) -> bool {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(concat!(
            r"[\w./\\-]+\.[A-Za-z]\w*\(\d+,\d+\)",  // tsc: file(line,col)
            r"|[\w./\\-]+\.[A-Za-z]\w*:\d+(:\d+)?", // file:line[:col], not 127.0.0.1:5432
            r"|-->\s*\S+:\d+",                      // rustc
            r#"|File "[^"]+", line \d+"#,           // python
            r"|^\s+at .+:\d+"                       // a stack frame
        ))
        .expect("the location pattern compiles")
    });
    RE.is_match(line.as_bytes())
}

/// `line` without terminal escape sequences (colours, `ESC c` clears), when it has any.
pub fn strip_escapes(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(0x1b, line).is_none() {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != 0x1b {
            out.push(line[i]);
            i += 1;
            continue;
        }
        i += 1;
        match line.get(i) {
            // CSI: parameters, then one final byte in @..~.
            Some(b'[') => {
                i += 1;
                while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                    i += 1;
                }
                i += 1;
            }
            // OSC: up to BEL or ESC.
            Some(b']') => {
                while i < line.len() && line[i] != 0x07 && line[i] != 0x1b {
                    i += 1;
                }
                i += 1;
            }
            // A two-byte sequence (`ESC c`, `ESC =`).
            Some(_) => i += 1,
            None => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An error line that only sums up others (`Found 1 error.`, `1 failed`).
pub fn is_summary(line: &str) -> bool {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"(?i)\bfound [0-9]+ errors?\b|\b[0-9]+ (failed|errors?)\b|could not compile|failed to compile|^\s*Tests?( Files)?:",
        )
        .expect("the summary pattern compiles")
    });
    RE.is_match(line.as_bytes()) && !is_located(line)
}

/// An error line and when it was printed (RFC 3339).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorLine {
    pub line: String,
    pub time: String,
}

/// `s` cut to at most `max` characters (its start, where a location is), with `…`.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Where the latest cycle stands, as the digest shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CycleDigest {
    pub state: CycleState,
    /// Since when it is in that state (a passing streak's first cycle's end).
    pub since: String,
    /// Error lines of the latest completed cycle.
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<ErrorLine>,
    /// The verdict before the cycle under way (`running` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<CycleState>,
    /// Failing cycles before the current passing streak.
    #[serde(default)]
    pub failing_before: u32,
    /// Cycles completed so far, and when the latest started and ended (for `wait`).
    pub completed: u64,
    #[serde(default)]
    pub started: String,
    #[serde(default)]
    pub ended: String,
    /// The located error lines of the latest failing cycle (a few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_lines: Vec<String>,
    /// The preset (or `custom`).
    pub watcher: String,
}

/// Where a watcher's cycles stand: the verdict of the latest completed cycle, or a
/// cycle under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleState {
    Passing,
    Failing,
    /// A cycle under way (or none completed yet).
    #[default]
    Running,
}

impl CycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            CycleState::Passing => "passing",
            CycleState::Failing => "failing",
            CycleState::Running => "running",
        }
    }
}

impl CycleDigest {
    /// The latest completed cycle passed.
    pub fn passing(&self) -> bool {
        self.completed > 0 && self.state == CycleState::Passing
    }

    /// The latest completed cycle failed (or a cycle runs after a failing one).
    pub fn failing(&self) -> bool {
        self.completed > 0
            && (self.state == CycleState::Failing || self.last == Some(CycleState::Failing))
    }

    /// An error printed at `time` (RFC 3339) is history: a later cycle passed.
    pub fn outlived(&self, time: &str) -> bool {
        self.passing() && !self.ended.is_empty() && time <= self.ended.as_str()
    }
}

/// A task's cycles so far.
#[derive(Debug, Clone)]
pub struct CycleTracker {
    watcher: String,
    /// The cycle under way: when it started.
    running: Option<SystemTime>,
    /// Errors of the cycle under way (or since the last verdict).
    errors: u64,
    first: Option<(String, SystemTime)>,
    first_located: Option<(String, SystemTime)>,
    lines: Vec<String>,
    /// The latest verdict, when its streak began, and the failing cycles before a
    /// passing streak.
    verdict: Option<(CycleState, SystemTime)>,
    failing_before: u32,
    failing_streak: u32,
    last: CycleDigest,
    completed: u64,
    changed: bool,
    /// Lines since the last error of the open cycle (for the located line after it).
    since_error: Option<u32>,
}

/// How many lines after an error line are looked at for its location (`--> file:line`
/// under rustc's error, vitest's `❯ file:line:col`, a stack frame).
const LOCATION_AFTER: u32 = 6;

impl CycleTracker {
    pub fn new(watcher: &str) -> Self {
        CycleTracker {
            watcher: watcher.to_string(),
            running: None,
            errors: 0,
            first: None,
            first_located: None,
            lines: Vec::new(),
            verdict: None,
            failing_before: 0,
            failing_streak: 0,
            last: CycleDigest::default(),
            completed: 0,
            changed: false,
            since_error: None,
        }
    }

    /// Whether the next lines are wanted even when they are neither markers nor errors:
    /// just after an error, where its location often is.
    pub fn wants_context(&self) -> bool {
        self.since_error.is_some()
    }

    /// A line of the task's output: its marker (if any), whether it is an error line.
    pub fn line(&mut self, text: &str, marker: Option<Marker>, error: bool, at: SystemTime) {
        if marker == Some(Marker::Start) && self.running.is_none() {
            self.running = Some(at);
            self.reset_errors();
            self.changed = true;
        }
        if error && marker.is_none() {
            self.errors += 1;
            self.since_error = Some(0);
            if self.first.is_none() {
                self.first = Some((text.to_string(), at));
            }
        } else if let Some(n) = self.since_error {
            self.since_error = (n + 1 < LOCATION_AFTER).then_some(n + 1);
        }
        if marker.is_none() && (error || self.since_error.is_some()) && is_located(text) {
            // A location under an error (`--> src/main.rs:2:13`) goes with that error.
            let shown = match (&self.first, error) {
                (Some((first, _)), false) => format!("{} — {}", first.trim(), text.trim()),
                _ => text.to_string(),
            };
            if self.first_located.is_none() {
                self.first_located = Some((shown.clone(), at));
            }
            if self.lines.len() < ERROR_LINES {
                self.lines.push(clip(&shown, 200));
            }
        }
        let (verdict, opens) = match marker {
            Some(Marker::Ok { opens }) => (CycleState::Passing, opens),
            Some(Marker::Fail { opens }) => (CycleState::Failing, opens),
            _ => return,
        };
        if opens && self.running.is_none() {
            self.running = Some(at);
        }
        self.close(verdict, at);
    }

    fn reset_errors(&mut self) {
        self.since_error = None;
        self.errors = 0;
        self.first = None;
        self.first_located = None;
        self.lines.clear();
    }

    fn close(&mut self, v: CycleState, at: SystemTime) {
        // The same verdict again with nothing in between (cargo watch's `could not
        // compile`, then its exit status) is the same cycle.
        let repeat = self.verdict.is_some_and(|(p, _)| p == v);
        if self.running.is_none() && self.errors == 0 && repeat {
            return;
        }
        let started = self.running.take().unwrap_or(at);
        let since = match self.verdict {
            Some((prev, since)) if prev == v => since,
            _ => at,
        };
        match v {
            CycleState::Failing => {
                self.failing_streak += 1;
            }
            CycleState::Passing | CycleState::Running => {
                if self.verdict.is_some_and(|(p, _)| p == CycleState::Failing) {
                    self.failing_before = self.failing_streak;
                }
                self.failing_streak = 0;
            }
        }
        self.verdict = Some((v, since));
        self.completed += 1;
        let first = self.first_located.clone().or(self.first.clone());
        self.last = CycleDigest {
            state: v,
            since: crate::clock::rfc3339(since),
            errors: self.errors,
            first_error: first.map(|(line, t)| ErrorLine {
                line,
                time: crate::clock::rfc3339(t),
            }),
            last: None,
            failing_before: if v == CycleState::Passing {
                self.failing_before
            } else {
                0
            },
            completed: self.completed,
            started: crate::clock::rfc3339(started),
            ended: crate::clock::rfc3339(at),
            error_lines: match v {
                CycleState::Failing if !self.lines.is_empty() => self.lines.clone(),
                CycleState::Failing => first_line(&self.first),
                _ => vec![],
            },
            watcher: self.watcher.clone(),
        };
        self.reset_errors();
        self.changed = true;
    }

    /// The digest, when something changed since the last call.
    pub fn take_change(&mut self) -> Option<CycleDigest> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(self.digest())
    }

    /// Where it stands: the latest verdict, or the cycle under way.
    pub fn digest(&self) -> CycleDigest {
        match self.running {
            Some(started) => CycleDigest {
                state: CycleState::Running,
                since: crate::clock::rfc3339(started),
                last: (self.completed > 0).then_some(self.last.state),
                started: crate::clock::rfc3339(started),
                ended: String::new(),
                watcher: self.watcher.clone(),
                ..self.last.clone()
            },
            None if self.completed == 0 => CycleDigest {
                state: CycleState::Running,
                watcher: self.watcher.clone(),
                ..Default::default()
            },
            None => self.last.clone(),
        }
    }
}

fn first_line(first: &Option<(String, SystemTime)>) -> Vec<String> {
    first.iter().map(|(l, _)| clip(l, 200)).collect()
}

#[cfg(test)]
mod tests;
