//! The per-task output path, the hottest code in bts. Each read from a task's pipe is
//! split into lines in place, and the lines are appended to two buffers: the log batch
//! (`<RFC 3339> line`) and the terminal batch (`HH:MM:SS name | line`). The timestamp is
//! taken once per read, and each buffer is written with one call per read: one `write`
//! to the log file and one push to the terminal queue, never one per line.

use std::time::{Instant, SystemTime};

use super::lines::LineSplitter;
use super::{Level, Output};
use crate::clock;
use crate::logs::LogWriter;
use crate::manifest::OutputMode;
use crate::redact::Redactor;

/// How often a "lines not shown" note may be printed per task.
const DROP_NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A task's output sink: lives as long as the task (across restarts), and is moved into
/// the runner of each run.
pub struct TaskSink {
    name: String,
    out: Output,
    tag: String,
    pub log: LogWriter,
    /// The first log write error not yet reported to the supervisor.
    pub log_error: Option<String>,
    log_failed: bool,
    dropped: u64,
    last_drop_note: Option<Instant>,
    log_buf: Vec<u8>,
    term_buf: Vec<u8>,
    term_lines: u64,
    /// A `health.log` regex waiting for its first match in this run.
    log_probe: Option<LogProbe>,
}

/// A `log` health probe: called once with the first matching line.
pub struct LogProbe {
    pub re: regex::bytes::Regex,
    pub on_match: Box<dyn FnOnce(String) + Send>,
}

impl TaskSink {
    pub fn new(name: &str, out: Output, log: LogWriter) -> Self {
        TaskSink {
            name: name.to_string(),
            tag: out.name_tag(name),
            out,
            log,
            log_error: None,
            log_failed: false,
            dropped: 0,
            last_drop_note: None,
            log_buf: Vec::with_capacity(128 * 1024),
            term_buf: Vec::with_capacity(128 * 1024),
            term_lines: 0,
            log_probe: None,
        }
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

    /// Split `data` (or, with `None`, flush the partial line) and route every line:
    /// redacted, to the log batch and the terminal batch; then write both batches.
    fn process(&mut self, splitter: &mut LineSplitter, data: Option<&[u8]>) {
        let now = SystemTime::now();
        let ts = clock::rfc3339(now);
        let prefix = format!("{}{}", self.out.time_tag(now), self.tag);
        let show = self.out.mode != OutputMode::Quiet;
        let red = self.out.redactor();
        let (log_buf, term_buf, term_lines) =
            (&mut self.log_buf, &mut self.term_buf, &mut self.term_lines);
        let probe = &mut self.log_probe;
        let mut on_line = |line: &[u8]| {
            check_log_probe(probe, line, &red);
            let line = red.redact(line);
            push_line(log_buf, term_buf, term_lines, &ts, &prefix, show, &line);
        };
        match data {
            Some(d) => splitter.feed(d, &mut on_line),
            None => splitter.flush(&mut on_line),
        }
        self.commit();
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
            let batch = std::mem::replace(&mut self.term_buf, Vec::with_capacity(16 * 1024));
            if self.out.term.push_output(batch) {
                self.note_dropped(false);
            } else {
                self.dropped += lines;
            }
        }
    }

    /// Report lines the terminal could not take, at most once a second (or now, when
    /// `force`, at the end of a run).
    pub fn note_dropped(&mut self, force: bool) {
        if self.dropped == 0 {
            return;
        }
        let due = self
            .last_drop_note
            .is_none_or(|t| t.elapsed() >= DROP_NOTE_EVERY);
        if force || due {
            self.out.event(
                Level::Warn,
                &format!(
                    "{}: … {} lines not shown (terminal busy) — bts logs {}",
                    self.name,
                    group_digits(self.dropped),
                    self.name
                ),
            );
            self.dropped = 0;
            self.last_drop_note = Some(Instant::now());
        }
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

#[inline]
fn push_line(
    log_buf: &mut Vec<u8>,
    term_buf: &mut Vec<u8>,
    term_lines: &mut u64,
    ts: &str,
    prefix: &str,
    show: bool,
    line: &[u8],
) {
    log_buf.extend_from_slice(ts.as_bytes());
    log_buf.push(b' ');
    log_buf.extend_from_slice(line);
    log_buf.push(b'\n');
    if show {
        term_buf.extend_from_slice(prefix.as_bytes());
        term_buf.extend_from_slice(line);
        term_buf.push(b'\n');
        *term_lines += 1;
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
    #[test]
    fn digits() {
        assert_eq!(super::group_digits(1204), "1,204");
        assert_eq!(super::group_digits(12), "12");
        assert_eq!(super::group_digits(1_000_000), "1,000,000");
    }
}
