//! `<state_dir>/events.jsonl`: an append-only record of start receipts, state changes and
//! stop receipts, one JSON object a line with an RFC 3339 UTC `time`, redacted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::redact::Redactor;

pub struct EventLog {
    file: Option<File>,
}

impl EventLog {
    pub fn open(path: &Path) -> Self {
        EventLog {
            file: OpenOptions::new().create(true).append(true).open(path).ok(),
        }
    }

    /// Append `{"time": …, "event": kind, …fields}` (`fields` serializes to an object: a
    /// `json!` value or a receipt). Failures are ignored: the event log must never take
    /// the supervisor down.
    pub fn record(&mut self, kind: &str, fields: impl Serialize, red: &Redactor) {
        let Some(f) = self.file.as_mut() else { return };
        let mut obj = json!({ "time": crate::clock::now_rfc3339(), "event": kind });
        let fields = serde_json::to_value(fields).unwrap_or(Value::Null);
        if let (Some(o), Value::Object(extra)) = (obj.as_object_mut(), fields) {
            o.extend(extra);
        }
        let mut line = red.redact_str(&obj.to_string()).into_owned();
        line.push('\n');
        let _ = f.write_all(line.as_bytes());
    }
}
