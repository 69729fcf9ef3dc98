//! The "lines not shown" note of `--output summary`, and the digit grouping the
//! notes use.
//!
//! [`NotShown`] counts the hidden lines of every task together (one is shared by all
//! the tasks of a stack) and words one note for all of them —
//! `… 1,204 lines not shown: web 300, api 280, +6 more — bts logs TASK`, or with one
//! task `… 1,204 lines not shown — bts logs web` — once the oldest hidden line has
//! waited [`NOTE_EVERY`], and at most one note per [`NOTE_GAP`].

use std::time::{Duration, Instant};

/// How long the oldest hidden line waits for its note: the note sums up that much.
pub const NOTE_EVERY: Duration = Duration::from_secs(1);
/// The least time between two notes: ten flooding tasks get one line every few seconds
/// between them, not one each every second.
pub const NOTE_GAP: Duration = Duration::from_secs(3);
/// Tasks named in a note; the rest are counted (`+6 more`).
const NAMED: usize = 3;

/// Counts the stack's hidden lines, per task, and words the periodic note about them.
#[derive(Debug, Default, Clone)]
pub struct NotShown {
    /// Hidden lines per task since the last note, in the order tasks first hid one.
    /// `pub(super)` only so the unit tests can read it.
    pub(super) hidden: Vec<(String, u64)>,
    /// When the first line of the current count was hidden.
    first: Option<Instant>,
    /// When the last note was worded.
    last: Option<Instant>,
}

impl NotShown {
    pub fn new() -> Self {
        NotShown::default()
    }

    pub fn add(&mut self, task: &str, lines: u64, now: Instant) {
        if lines == 0 {
            return;
        }
        if self.hidden.is_empty() {
            self.first = Some(now);
        }
        match self.hidden.iter_mut().find(|(t, _)| t == task) {
            Some((_, n)) => *n += lines,
            None => self.hidden.push((task.to_string(), lines)),
        }
    }

    /// Whether hidden lines wait for their note.
    pub fn pending(&self) -> bool {
        !self.hidden.is_empty()
    }

    /// The note, once the oldest hidden line has waited [`NOTE_EVERY`] and the last note
    /// is [`NOTE_GAP`] old.
    pub fn note(&mut self, now: Instant) -> Option<String> {
        let waited = self
            .first
            .is_some_and(|f| now.saturating_duration_since(f) >= NOTE_EVERY);
        let spaced = self
            .last
            .is_none_or(|l| now.saturating_duration_since(l) >= NOTE_GAP);
        if waited && spaced {
            self.last = Some(now);
            self.finish()
        } else {
            None
        }
    }

    /// A run ended: its hidden lines are told now unless a note was printed less than
    /// [`NOTE_GAP`] ago (then the next due note tells them).
    pub fn note_at_end(&mut self, now: Instant) -> Option<String> {
        let spaced = self
            .last
            .is_none_or(|l| now.saturating_duration_since(l) >= NOTE_GAP);
        if spaced && self.pending() {
            self.last = Some(now);
            self.finish()
        } else {
            None
        }
    }

    /// The note now, whatever the time (bts stops).
    pub fn finish(&mut self) -> Option<String> {
        if self.hidden.is_empty() {
            return None;
        }
        let mut hidden = std::mem::take(&mut self.hidden);
        self.first = None;
        let total: u64 = hidden.iter().map(|(_, n)| n).sum();
        let noun = if total == 1 { "line" } else { "lines" };
        if let [(task, _)] = hidden.as_slice() {
            return Some(format!(
                "… {} {noun} not shown — bts logs {task}",
                group_digits(total)
            ));
        }
        // Most first; equal counts in the order the tasks first hid a line.
        hidden.sort_by_key(|h| std::cmp::Reverse(h.1));
        let mut named: Vec<String> = hidden
            .iter()
            .take(NAMED)
            .map(|(t, n)| format!("{t} {}", group_digits(*n)))
            .collect();
        if hidden.len() > NAMED {
            named.push(format!("+{} more", hidden.len() - NAMED));
        }
        Some(format!(
            "… {} {noun} not shown: {} — bts logs TASK",
            group_digits(total),
            named.join(", ")
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
