//! The per-task output path, the hottest code in bts. Each read from a task's pipe is
//! split into lines in place; every line is redacted, appended to the log batch
//! (`<RFC 3339> line`) and classified (error / warning / normal); then, by output mode,
//! it goes to the terminal batch as it is (`full`), only if it is an error (`quiet`), or
//! through folding and the shared terminal budget (`summary`, see [`super::summary`]).
//! The timestamp is taken once per read, and each buffer is written with one call per
//! read — one `write` to the log file and one push to the terminal queue — never one
//! per line.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::lines::LineSplitter;
use super::summary::{Class, Classifier, Emit, Folder};
use super::NoteWhen;
use super::Output;
use crate::clock;
use crate::digest::TaskStats;
use crate::logs::LogWriter;
use crate::manifest::OutputMode;
use crate::output::style::{paint, Look};
use crate::redact::Redactor;

/// A task printing more than this many lines within a second is flooding: its ordinary
/// lines skip folding (the terminal budget shows ~20 lines/s, so they could not be
/// shown anyway) and each read offers one sample line to the budget. That keeps
/// `summary` as cheap as `full` under a flood, while a start-up burst of a few hundred
/// lines is still folded and shown as usual.
const FLOOD_LINES: u64 = 1000;

/// A task's output sink: lives as long as the task (across restarts), and is moved into
/// the runner of each run.
pub struct TaskSink {
    name: String,
    /// The task's slot number, its key in the shared budget.
    index: usize,
    out: Output,
    tag: String,
    pub log: LogWriter,
    /// The first log write error not yet reported to the supervisor.
    pub log_error: Option<String>,
    log_failed: bool,
    classifier: Classifier,
    folder: Folder,
    flooding: bool,
    /// Lines read in the current one-second window, and when it began.
    window: (Instant, u64),
    /// The stamps of the last millisecond a batch was read in.
    stamp_cache: (u128, std::sync::Arc<str>, std::sync::Arc<str>),
    stats: Arc<Mutex<TaskStats>>,
    log_buf: Vec<u8>,
    term_buf: Vec<u8>,
    term_lines: u64,
    /// Lines the folder let through this batch, before the budget decides.
    stage: Vec<u8>,
    staged: Vec<Staged>,
    last_normal: Vec<u8>,
    /// A `health.log` regex waiting for its first match in this run.
    log_probe: Option<LogProbe>,
    /// A watcher's cycle markers and where its cycles stand (docs/behaviour.md#cycles).
    cycles: Option<(crate::cycles::Markers, crate::cycles::CycleTracker)>,
    /// Told (at most every [`ERRORS_NOTIFY_EVERY`]) that error lines arrived.
    on_errors: Option<Box<dyn FnMut() + Send>>,
    errors_notified: Option<Instant>,
}

/// How often a task's sink tells the supervisor that error lines arrived: the supervisor
/// records them in events.jsonl for `bts events` and `bts wait --for error`.
pub const ERRORS_NOTIFY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A line or note waiting for the budget: `stage[start..end]`.
struct Staged {
    start: usize,
    end: usize,
    class: Class,
    /// Lines it stands for (1, or a note's count).
    lines: u64,
    note: bool,
}

/// A `log` health probe: called once with the first matching line.
pub struct LogProbe {
    pub re: regex::bytes::Regex,
    pub on_match: Box<dyn FnOnce(String) + Send>,
}

/// What one batch counted, merged into the task's stats with one lock.
#[derive(Default)]
struct Counts {
    lines: u64,
    errors: u64,
    warnings: u64,
    normal: u32,
    flood_hidden: u64,
    notable: Vec<(Class, String)>,
}

impl TaskSink {
    pub fn new(
        name: &str,
        index: usize,
        out: Output,
        log: LogWriter,
        classifier: Classifier,
        stats: Arc<Mutex<TaskStats>>,
    ) -> Self {
        TaskSink {
            name: name.to_string(),
            index,
            tag: out.name_tag(name),
            out,
            log,
            log_error: None,
            log_failed: false,
            classifier,
            folder: Folder::new(),
            flooding: false,
            window: (Instant::now(), 0),
            stamp_cache: (0, "".into(), "".into()),
            stats,
            // Grown by the first large read and kept: a quiet task costs no memory.
            log_buf: Vec::new(),
            term_buf: Vec::new(),
            term_lines: 0,
            stage: Vec::new(),
            staged: Vec::new(),
            last_normal: Vec::new(),
            log_probe: None,
            cycles: None,
            on_errors: None,
            errors_notified: None,
        }
    }

    /// Call `notify` when error lines arrive, at most every [`ERRORS_NOTIFY_EVERY`].
    pub fn set_error_notify(&mut self, notify: Box<dyn FnMut() + Send>) {
        self.on_errors = Some(notify);
    }

    /// Follow the build/test cycles of a watcher in its output.
    pub fn set_cycles(&mut self, markers: Option<crate::cycles::Markers>) {
        self.cycles = markers.map(|m| {
            let t = crate::cycles::CycleTracker::new(&m.name);
            (m, t)
        });
        // A watcher shows as one (no verdict yet) from its start.
        let now = self.cycles.as_ref().map(|(_, t)| t.digest());
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).cycle = now;
    }

    /// Watch this run's output for a `health.log` pattern.
    pub fn set_log_probe(&mut self, probe: Option<LogProbe>) {
        self.log_probe = probe;
    }

    /// Process one read from a pipe.
    pub fn feed(&mut self, splitter: &mut LineSplitter, data: &[u8]) {
        self.process(splitter, Some(data));
    }

    /// Emit a pending partial line (stream ended, or it has waited long enough).
    pub fn flush_partial(&mut self, splitter: &mut LineSplitter) {
        if splitter.has_partial() {
            self.process(splitter, None);
        }
    }

    /// Whether [`TaskSink::tick`] has anything to do: an idle task costs no wake-ups.
    pub fn needs_tick(&self) -> bool {
        self.out.mode == OutputMode::Summary && (self.folder.has_run() || self.out.hidden_pending())
    }

    /// About every 250 ms while the task runs: close folds that went quiet, print due
    /// "not shown" notes.
    pub fn tick(&mut self) {
        if self.out.mode != OutputMode::Summary {
            return;
        }
        let now = Instant::now();
        let (stage, staged) = (&mut self.stage, &mut self.staged);
        self.folder.flush(now, |e| stage_emit(stage, staged, e));
        self.route_staged(SystemTime::now(), now);
        self.commit();
    }

    /// The run ended: show what folding and the budget still hold back.
    pub fn finish(&mut self) {
        if self.out.mode == OutputMode::Summary {
            let (stage, staged) = (&mut self.stage, &mut self.staged);
            self.folder.finish(|e| stage_emit(stage, staged, e));
            self.route_staged(SystemTime::now(), Instant::now());
        }
        self.commit();
        // What this run (and the others) hid is told now, unless a note was just
        // printed: the next one tells it then (this run will not tick again).
        self.out.note_hidden(NoteWhen::RunEnded(Instant::now()));
    }

    /// Hand over the log so far for archiving and start it afresh (`bts archive-logs`);
    /// see [`crate::logs::LogWriter::detach`].
    pub fn detach_log(&mut self) -> std::io::Result<std::fs::File> {
        self.log.detach()
    }

    /// `(RFC 3339 time, terminal prefix)` for `now`, cached for the millisecond.
    fn stamps(&mut self, now: SystemTime) -> (std::sync::Arc<str>, std::sync::Arc<str>) {
        let ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if self.stamp_cache.0 != ms {
            self.stamp_cache = (ms, clock::rfc3339(now).into(), self.prefix(now).into());
        }
        (self.stamp_cache.1.clone(), self.stamp_cache.2.clone())
    }

    fn prefix(&self, now: SystemTime) -> String {
        format!("{}{}", self.out.time_tag(now), self.tag)
    }

    /// Split `data` (or, with `None`, flush the partial line) and route every line.
    fn process(&mut self, splitter: &mut LineSplitter, data: Option<&[u8]>) {
        let now = SystemTime::now();
        let inst = Instant::now();
        // Reads come faster than once a millisecond under load: format the stamps once
        // per millisecond, not once per read.
        let (ts, prefix) = self.stamps(now);
        let red = self.out.redactor();
        let mode = self.out.mode;
        if mode == OutputMode::Summary {
            let lines = data.map_or(1, |d| memchr::memchr_iter(b'\n', d).count() as u64);
            if inst.saturating_duration_since(self.window.0) >= std::time::Duration::from_secs(1) {
                self.window = (inst, 0);
            }
            self.window.1 += lines;
            self.flooding = self.window.1 > FLOOD_LINES;
        }
        let mut counts = Counts::default();
        {
            let TaskSink {
                log_buf,
                term_buf,
                term_lines,
                classifier,
                folder,
                flooding,
                stage,
                staged,
                last_normal,
                log_probe,
                name,
                out,
                cycles,
                ..
            } = self;
            let style = term_style(out, name, &prefix, &ts);
            // One search of the whole read instead of two per line: most reads hold no
            // secret and no error word, and then none of their lines needs looking at.
            // A line that began in an earlier read (the splitter's carry) is not in
            // `data` and is looked at on its own.
            let (clear, normal) = data.map_or((false, false), |d| {
                (red.clear_of_secrets(d), classifier.all_normal(d))
            });
            // A read without a cycle marker (and without escape sequences that could hide
            // one from the anchored patterns): its lines only count as errors.
            let marked = cycles.as_ref().is_some_and(|(m, _)| {
                data.is_none_or(|d| m.any(d) || memchr::memchr(0x1b, d).is_some())
            });
            let within = data.map_or(0..0, |d| {
                let r = d.as_ptr_range();
                r.start as usize..r.end as usize
            });
            let mut on_line = |raw: &[u8]| {
                check_log_probe(log_probe, raw, &red);
                let inside = within.contains(&(raw.as_ptr() as usize));
                let line = if clear && inside {
                    std::borrow::Cow::Borrowed(raw)
                } else {
                    red.redact(raw)
                };
                log_buf.extend_from_slice(ts.as_bytes());
                log_buf.push(b' ');
                log_buf.extend_from_slice(&line);
                log_buf.push(b'\n');
                let class = if normal && inside {
                    Class::Normal
                } else {
                    classifier.classify(&line)
                };
                counts.lines += 1;
                if let Some((markers, tracker)) = cycles.as_mut() {
                    // A line begun in an earlier read was not in the search of this one.
                    let look = marked || !inside;
                    let plain = if look || tracker.wants_context() {
                        crate::cycles::strip_escapes(&line)
                    } else {
                        std::borrow::Cow::Borrowed(&line[..])
                    };
                    let marker = if look { markers.of(&plain) } else { None };
                    if marker.is_some() || class == Class::Error || tracker.wants_context() {
                        let text = String::from_utf8_lossy(&plain);
                        tracker.line(&text, marker, class == Class::Error, now);
                    }
                }
                match class {
                    Class::Error => counts.errors += 1,
                    Class::Warning => counts.warnings += 1,
                    Class::Normal => {
                        counts.normal += 1;
                        last_normal.clear();
                        last_normal.extend_from_slice(&line);
                    }
                }
                if class != Class::Normal && counts.notable.len() < 10 {
                    counts
                        .notable
                        .push((class, String::from_utf8_lossy(&line).into_owned()));
                }
                let show = match mode {
                    OutputMode::Full => true,
                    OutputMode::Quiet => class == Class::Error,
                    OutputMode::Summary => {
                        if class == Class::Normal && *flooding {
                            counts.flood_hidden += 1;
                        } else {
                            folder.push(&line, class, inst, |e| stage_emit(stage, staged, e));
                        }
                        false
                    }
                };
                if show {
                    style.write(term_buf, &line, Kind::Line(class));
                    *term_lines += 1;
                }
            };
            match data {
                Some(d) => splitter.feed(d, &mut on_line),
                None => splitter.flush(&mut on_line),
            }
        }
        if mode == OutputMode::Summary {
            self.route_staged(now, inst);
            if self.flooding && counts.flood_hidden > 0 {
                // One sample line of the flood per batch, if the budget allows.
                let ok = self.out.budget_take(self.index, 1, inst);
                if ok > 0 {
                    let sample = std::mem::take(&mut self.last_normal);
                    let style = term_style(&self.out, &self.name, &prefix, &ts);
                    style.write(&mut self.term_buf, &sample, Kind::Line(Class::Normal));
                    self.term_lines += 1;
                    self.last_normal = sample;
                    self.out.hidden(&self.name, counts.flood_hidden - 1, inst);
                } else {
                    self.out.hidden(&self.name, counts.flood_hidden, inst);
                }
            }
        }
        self.record(&counts, now);
        self.commit();
    }

    /// Let the budget decide on the staged lines and notes; write the winners.
    fn route_staged(&mut self, now: SystemTime, inst: Instant) {
        if self.staged.is_empty() {
            self.note_due(inst);
            return;
        }
        // Folding across tasks: an ordinary line whose shape another task has just shown
        // is not shown again (counted in the note instead).
        let mut folded_across = 0;
        let lines: Vec<usize> = (0..self.staged.len())
            .filter(|&i| self.staged[i].class == Class::Normal && !self.staged[i].note)
            .collect();
        if !lines.is_empty() {
            let mut scratch = Vec::new();
            let shapes: Vec<u64> = lines
                .iter()
                .map(|&i| {
                    let s = &self.staged[i];
                    crate::output::summary::shape_into(&self.stage[s.start..s.end], &mut scratch);
                    crate::hash::fnv1a(&scratch)
                })
                .collect();
            let ok = self.out.across_may_show(self.index, &shapes, inst);
            let mut keep = vec![true; self.staged.len()];
            for (k, &i) in lines.iter().enumerate() {
                if !ok[k] {
                    keep[i] = false;
                    folded_across += 1;
                }
            }
            let mut k = 0;
            self.staged.retain(|_| {
                k += 1;
                keep[k - 1]
            });
        }
        let normal = self
            .staged
            .iter()
            .filter(|s| s.class == Class::Normal)
            .count() as u32;
        let notable = self.staged.len() as u32 - normal;
        let (ok, ok_e) = self.out.budget_take_both(self.index, normal, notable, inst);
        let (mut shown, mut shown_e) = (0, 0);
        let prefix = self.prefix(now);
        let ts = clock::rfc3339(now);
        let mut hidden = folded_across;
        for s in std::mem::take(&mut self.staged) {
            let allowed = if s.class == Class::Normal {
                shown += 1;
                shown <= ok
            } else {
                shown_e += 1;
                shown_e <= ok_e
            };
            let text = &self.stage[s.start..s.end];
            if !allowed {
                hidden += s.lines;
            } else {
                let style = term_style(&self.out, &self.name, &prefix, &ts);
                let kind = if s.note {
                    Kind::Note
                } else {
                    Kind::Line(s.class)
                };
                style.write(&mut self.term_buf, text, kind);
                self.term_lines += 1;
            }
        }
        self.stage.clear();
        // One lock of the shared count per batch, not per line cut.
        self.out.hidden(&self.name, hidden, inst);
        self.note_due(inst);
    }

    fn note_due(&mut self, inst: Instant) {
        self.out.note_hidden(NoteWhen::Due(inst));
    }

    /// Merge a batch's counts into the task's stats (one lock per batch).
    fn record(&mut self, c: &Counts, now: SystemTime) {
        if c.lines == 0 {
            return;
        }
        let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        st.lines += c.lines;
        st.errors += c.errors;
        st.warnings += c.warnings;
        st.errors_total += c.errors;
        st.warnings_total += c.warnings;
        for (class, text) in &c.notable {
            // A summary (`Found 1 error.`) right after the error it sums up says less
            // than that error: the error stays the last one (docs/behaviour.md#cycles).
            let sums_up = || {
                st.last_error.as_ref().is_some_and(|(_, t)| {
                    now.duration_since(*t)
                        .is_ok_and(|d| d < std::time::Duration::from_secs(5))
                }) && crate::cycles::is_summary(text)
            };
            if *class == Class::Error && !sums_up() {
                st.last_error = Some((text.clone(), now));
            }
            st.push_recent(*class == Class::Error, text);
        }
        if c.normal > 0 {
            st.push_recent(false, &String::from_utf8_lossy(&self.last_normal));
        }
        if let Some(d) = self.cycles.as_mut().and_then(|(_, t)| t.take_change()) {
            st.cycle = Some(d);
        }
        drop(st);
        if c.errors > 0 {
            let due = self
                .errors_notified
                .is_none_or(|t| t.elapsed() >= ERRORS_NOTIFY_EVERY);
            if let (true, Some(notify)) = (due, self.on_errors.as_mut()) {
                notify();
                self.errors_notified = Some(Instant::now());
            }
        }
    }

    fn commit(&mut self) {
        if !self.log_buf.is_empty() {
            if let Err(e) = self.log.write_batch(&self.log_buf) {
                if !self.log_failed {
                    self.log_failed = true;
                    self.log_error = Some(format!("writing {}: {e}", self.log.path().display()));
                }
            } else {
                self.log_failed = false;
            }
            self.log_buf.clear();
        }
        if !self.term_buf.is_empty() {
            let lines = std::mem::take(&mut self.term_lines);
            let hint = batch_hint(self.term_buf.len());
            let batch = std::mem::replace(&mut self.term_buf, self.out.term.buffer(hint));
            if !self.out.term.push_output(batch) {
                // A slow terminal costs lines on screen, counted, never a stalled task.
                self.out.hidden(&self.name, lines, Instant::now());
            }
        }
    }
}

/// Capacity for a new terminal batch when the terminal has no written one to give back:
/// about the size of the last one (the queue takes ownership of each batch).
fn batch_hint(last: usize) -> usize {
    last.clamp(256, 256 * 1024)
}

fn stage_emit(stage: &mut Vec<u8>, staged: &mut Vec<Staged>, e: Emit<'_>) {
    let start = stage.len();
    let (class, lines, note) = match e {
        Emit::Line { text, class } => {
            stage.extend_from_slice(text);
            (class, 1, false)
        }
        Emit::Note { text, class, lines } => {
            stage.extend_from_slice(text.as_bytes());
            (class, lines, true)
        }
    };
    staged.push(Staged {
        start,
        end: stage.len(),
        class,
        lines,
        note,
    });
}

/// What a terminal line is: a line of output (of a class) or a fold / not-shown note.
#[derive(Clone, Copy)]
enum Kind {
    Line(Class),
    Note,
}

/// How terminal lines of one batch are written: `HH:MM:SS name | text` (errors red,
/// warnings yellow, notes dim, with colours), or a JSON object with `--json`.
struct TermStyle<'a> {
    prefix: &'a str,
    ts: &'a str,
    task: &'a str,
    json: bool,
    color: bool,
}

/// The style of one batch's terminal lines for task `task`.
fn term_style<'a>(out: &Output, task: &'a str, prefix: &'a str, ts: &'a str) -> TermStyle<'a> {
    TermStyle {
        prefix,
        ts,
        task,
        json: out.json,
        color: out.color,
    }
}

impl TermStyle<'_> {
    #[inline]
    fn write(&self, buf: &mut Vec<u8>, text: &[u8], kind: Kind) {
        if self.json {
            let kind = match kind {
                Kind::Line(Class::Error) => "error",
                Kind::Line(Class::Warning) => "warning",
                Kind::Line(Class::Normal) => "output",
                Kind::Note => "note",
            };
            let obj = serde_json::json!({
                "time": self.ts, "task": self.task, "kind": kind, "line": String::from_utf8_lossy(text),
            });
            let _ = serde_json::to_writer(&mut *buf, &obj);
            buf.push(b'\n');
            return;
        }
        buf.extend_from_slice(self.prefix.as_bytes());
        let look = match kind {
            Kind::Line(Class::Error) => Look::Error,
            Kind::Line(Class::Warning) => Look::Warning,
            Kind::Line(Class::Normal) => Look::Plain,
            Kind::Note => Look::Note,
        };
        paint(buf, text, look, self.color);
        buf.push(b'\n');
    }
}

#[inline]
fn check_log_probe(probe: &mut Option<LogProbe>, line: &[u8], red: &Redactor) {
    // Matched on the raw line (the pattern may cover a secret-shaped token), reported
    // redacted.
    if probe.as_ref().is_some_and(|p| p.re.is_match(line)) {
        if let Some(p) = probe.take() {
            (p.on_match)(String::from_utf8_lossy(&red.redact(line)).into_owned());
        }
    }
}
