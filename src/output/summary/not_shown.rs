//! The "lines not shown" note of `--output summary`, and the digit grouping the
//! notes use.
//!
//! [`NotShown`] counts a task's hidden lines and yields
//! `… 1,204 lines not shown — bts logs web` at most once per [`NOTE_EVERY`].

use std::time::{Duration, Instant};

/// How often a task's "lines not shown" note may be printed.
pub const NOTE_EVERY: Duration = Duration::from_secs(1);

/// Counts one task's hidden lines and words the periodic note about them.
#[derive(Debug, Default, Clone)]
pub struct NotShown {
    /// `pub(super)` only so the unit tests can read it.
    pub(super) hidden: u64,
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
