//! `<state_dir>/events.jsonl`: an append-only record of start receipts, state changes and
//! stop receipts, one JSON object a line with an RFC 3339 UTC `time`, redacted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::redact::Redactor;

pub struct EventLog {
    path: std::path::PathBuf,
    file: Option<File>,
    /// Writes are failing (reported once, until one succeeds again).
    failing: bool,
    /// A failure not yet reported.
    news: Option<String>,
}

impl EventLog {
    pub fn open(path: &Path) -> Self {
        let (file, news) = match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(format!("cannot open {}: {e}", path.display()))),
        };
        EventLog {
            path: path.to_path_buf(),
            failing: file.is_none(),
            file,
            news,
        }
    }

    /// Append `{"time": …, "event": kind, …fields}` (`fields` serializes to an object: a
    /// `json!` value or a receipt). A failure never takes the supervisor down: it is kept
    /// for [`Self::take_failure`], once per episode.
    pub fn record(&mut self, kind: &str, fields: impl Serialize, red: &Redactor) {
        let Some(f) = self.file.as_mut() else { return };
        let mut obj = json!({ "time": crate::clock::now_rfc3339(), "event": kind });
        let fields = serde_json::to_value(fields).unwrap_or(Value::Null);
        if let (Some(o), Value::Object(extra)) = (obj.as_object_mut(), fields) {
            o.extend(extra);
        }
        let mut line = red.redact_str(&obj.to_string()).into_owned();
        line.push('\n');
        match f.write_all(line.as_bytes()) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                self.news = Some(format!("cannot write {}: {e}", self.path.display()));
            }
            Err(_) => {}
        }
    }

    /// A write failure not reported yet (the first of an episode).
    pub fn take_failure(&mut self) -> Option<String> {
        self.news.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_reported_once() {
        let red = crate::redact::shapes_only().expect("built-in shapes compile");
        let mut log = EventLog::open(Path::new("/dev/full"));
        assert_eq!(log.take_failure(), None);
        log.record("x", json!({}), &red);
        let first = log.take_failure().expect("reported");
        assert!(first.contains("/dev/full"), "{first}");
        log.record("x", json!({}), &red);
        assert_eq!(log.take_failure(), None, "once per episode");
    }
}
