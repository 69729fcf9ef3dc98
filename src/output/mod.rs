//! Everything bts prints while it supervises: the multiplexed `HH:MM:SS name | line`
//! view of task output and of bts's own events, and the per-task output path that
//! splits lines, writes the log and feeds the terminal.

pub mod lines;
pub mod pump;
pub mod style;
pub mod summary;
pub mod terminal;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use std::time::SystemTime;

use crate::clock;
use crate::manifest::OutputMode;
use crate::redact::Redactor;
use style::Look;
use summary::{Budget, NotShown};
pub use terminal::Terminal;

/// How an event line is emphasised (the core decides it, see [`crate::lifecycle::Level`]).
pub use crate::lifecycle::Level;

/// The shared, cheap-to-clone printing configuration.
#[derive(Clone)]
pub struct Output {
    pub term: Arc<Terminal>,
    pub color: bool,
    pub width: usize,
    pub mode: OutputMode,
    /// `--json`: one JSON object a line instead of text.
    pub json: bool,
    /// Replaced on reload; read once per output batch.
    redactor: Arc<RwLock<Arc<Redactor>>>,
    /// The terminal budget all tasks share in `summary` mode.
    budget: Arc<Mutex<Budget>>,
    /// Shapes shown lately by any task (folding across tasks).
    across: Arc<Mutex<summary::Across>>,
    /// The hidden lines of all tasks, for one "not shown" note between them.
    not_shown: Arc<Mutex<NotShown>>,
    /// Whether `not_shown` holds lines: read on every turn of every runner (its tick
    /// guard), so it is an atomic, not the lock.
    hidden_waiting: Arc<std::sync::atomic::AtomicBool>,
}

impl Output {
    pub fn new(
        term: Arc<Terminal>,
        color: bool,
        width: usize,
        mode: OutputMode,
        json: bool,
        redactor: Redactor,
    ) -> Self {
        Output {
            term,
            color: color && !json,
            width: width.max(3),
            mode,
            json,
            redactor: Arc::new(RwLock::new(Arc::new(redactor))),
            budget: Arc::new(Mutex::new(Budget::new())),
            across: Arc::new(Mutex::new(summary::Across::new())),
            not_shown: Arc::new(Mutex::new(NotShown::new())),
            hidden_waiting: Arc::default(),
        }
    }

    /// `lines` of `task` were not shown; they go into the next note.
    pub fn hidden(&self, task: &str, lines: u64, now: Instant) {
        if lines > 0 {
            self.hidden_lock().add(task, lines, now);
            self.hidden_waiting.store(true, Ordering::Relaxed);
        }
    }

    /// Whether hidden lines wait for their note (no lock).
    pub fn hidden_pending(&self) -> bool {
        self.hidden_waiting.load(Ordering::Relaxed)
    }

    /// Print the note about hidden lines if it is due.
    pub fn note_hidden(&self, when: NoteWhen) {
        if !self.hidden_pending() {
            return;
        }
        let note = {
            let mut n = self.hidden_lock();
            let note = match when {
                NoteWhen::Due(t) => n.note(t),
                NoteWhen::RunEnded(t) => n.note_at_end(t),
                NoteWhen::Now => n.finish(),
            };
            self.hidden_waiting.store(n.pending(), Ordering::Relaxed);
            note
        };
        if let Some(text) = note {
            self.note(&text);
        }
    }

    fn hidden_lock(&self) -> std::sync::MutexGuard<'_, NotShown> {
        self.not_shown.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One of bts's notes about the tasks' output: `HH:MM:SS bts | … lines not shown`
    /// (`--json`: kind `note`). Always queued, like events.
    fn note(&self, text: &str) {
        let line = if self.json {
            let obj = serde_json::json!({ "time": crate::clock::now_rfc3339(), "task": "bts", "kind": "note", "line": text });
            format!("{obj}\n")
        } else {
            let mut line = self.time_tag(SystemTime::now());
            let tag = format!("{:<w$} | ", "bts", w = self.width);
            line.push_str(&style::painted(&tag, Look::Tag, self.color));
            line.push_str(&style::painted(text, Look::Note, self.color));
            line.push('\n');
            line
        };
        self.term.push_event(line.into_bytes());
    }

    /// Budget for `n` ordinary lines of task `index` (see [`summary::Budget::take`]).
    pub fn budget_take(&self, index: usize, n: u32, now: Instant) -> u32 {
        self.budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(index, n, now)
    }

    /// Budget for `n` ordinary and `m` error/warning lines, with one lock.
    /// Which of task `index`'s ordinary lines (their shapes) may be shown: one lock for
    /// the batch.
    pub fn across_may_show(&self, index: usize, shapes: &[u64], now: Instant) -> Vec<bool> {
        let mut a = self.across.lock().unwrap_or_else(|e| e.into_inner());
        shapes.iter().map(|&s| a.may_show(index, s, now)).collect()
    }

    pub fn budget_take_both(&self, index: usize, n: u32, m: u32, now: Instant) -> (u32, u32) {
        let mut b = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        (b.take(index, n, now), b.take_errors(index, m, now))
    }

    /// The current redactor.
    pub fn redactor(&self) -> Arc<Redactor> {
        Arc::clone(&self.redactor.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Use `r` from now on (a reload may bring new secrets).
    pub fn set_redactor(&self, r: Redactor) {
        *self.redactor.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(r);
    }

    /// The `name | ` part of a task's prefix, padded and coloured.
    pub fn name_tag(&self, name: &str) -> String {
        format!("{} | ", style::task_name(name, self.width, self.color))
    }

    /// The time part of a prefix.
    pub fn time_tag(&self, t: SystemTime) -> String {
        format!(
            "{} ",
            style::painted(&clock::local_hms(t), Look::Time, self.color)
        )
    }

    /// Print one of bts's own event lines.
    pub fn event(&self, level: Level, text: &str) {
        self.event_about(level, text, None);
    }

    /// An event line about a task's state change: with `--json` it also carries
    /// `"subject"` (the task) and `"state"`, so a consumer need not parse the text.
    pub fn state_event(&self, level: Level, text: &str, task: &str, state: &str) {
        self.event_about(level, text, Some((task, state)));
    }

    fn event_about(&self, level: Level, text: &str, about: Option<(&str, &str)>) {
        let red = self.redactor();
        let text = red.redact_str(text);
        let text = text.as_ref();
        if self.json {
            let level = match level {
                Level::Info => "info",
                Level::Warn => "warning",
                Level::Error => "error",
            };
            let mut obj = serde_json::json!({ "time": crate::clock::now_rfc3339(), "task": "bts", "kind": "event", "level": level, "line": text });
            if let (Some((task, state)), Some(o)) = (about, obj.as_object_mut()) {
                o.insert("subject".into(), task.into());
                o.insert("state".into(), state.into());
            }
            let mut line = obj.to_string();
            line.push('\n');
            self.term.push_event(line.into_bytes());
            return;
        }
        let mut line = self.time_tag(SystemTime::now());
        let tag = format!("{:<w$} | ", "bts", w = self.width);
        line.push_str(&style::painted(&tag, Look::Tag, self.color));
        let look = match level {
            Level::Info => Look::Plain,
            Level::Warn => Look::Warning,
            Level::Error => Look::Alarm,
        };
        line.push_str(&style::painted(text, look, self.color));
        line.push('\n');
        self.term.push_event(line.into_bytes());
    }
}

/// When the "not shown" note is asked for (see [`summary::NotShown`]).
#[derive(Debug, Clone, Copy)]
pub enum NoteWhen {
    /// On a task's batch or tick: printed once due.
    Due(Instant),
    /// A run ended: printed unless the last note is too recent.
    RunEnded(Instant),
    /// bts stops: printed whatever the time.
    Now,
}

/// Whether stdout should get colours: a terminal, no `NO_COLOR`, no `--no-color`.
pub fn use_color(no_color_flag: bool) -> bool {
    use std::io::IsTerminal;
    !no_color_flag
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}
