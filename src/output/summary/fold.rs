//! Folding for `--output summary`: how consecutive like lines of one task become one
//! line and a note.
//!
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

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::classify::Class;
use super::not_shown::group_digits;
use super::shape::shape_into;

/// How long a run may keep folding lines before a note is due.
pub const FOLD_WINDOW: Duration = Duration::from_secs(1);
/// A run with no new line for this long has ended: [`Folder::flush`] closes it.
pub const FOLD_QUIET: Duration = Duration::from_millis(250);
/// A line like the ones of a run that closed at most this long ago continues it as a
/// slow repetition instead of being shown again.
pub const SLOW_GAP: Duration = Duration::from_secs(60);
/// How often a slow repetition is summed up in a note.
pub const SLOW_NOTE: Duration = Duration::from_secs(30);

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
