//! Receipts: what the supervisor records in `events.jsonl` when it starts a task and
//! when a task it was asked to stop has stopped (the latter also goes back to `bts down`
//! in its answer). Typed, so the supervisor, the protocol and the printer agree on the
//! fields.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A task was started: how, where, and with which environment keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StartReceipt {
    pub task: String,
    pub pid: i32,
    /// Equal to `pid`: the task leads its own process group.
    pub pgid: i32,
    pub cwd: PathBuf,
    /// The command as a user would type it.
    pub command: String,
    pub ports: Vec<u16>,
    /// Every environment key the task got (values never go to disk).
    pub env_keys: Vec<String>,
    /// Values of the keys `secrets.public` allows to show.
    pub env_public: BTreeMap<String, String>,
    /// The health probe: `http http://…`, `tcp 127.0.0.1:4000`, `cmd …`, `log /…/`.
    pub health: Option<String>,
    pub log_path: PathBuf,
    /// RFC 3339, UTC.
    pub started_at: String,
}

/// A task stopped on request (`bts down`, a reload, the supervisor shutting down).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StopReceipt {
    pub task: String,
    pub exit_code: Option<i32>,
    /// The signal that ended it, by name (`SIGTERM`).
    pub signal: Option<String>,
    /// How long the run lasted (`5s`, `3m 5s`).
    pub runtime: String,
    /// `killed by SIGTERM after 5s`.
    pub final_summary: String,
    /// Where its log was archived, when it had one.
    pub log_archive: Option<PathBuf>,
}

impl StopReceipt {
    /// `task: stopped — killed by SIGTERM after 5s — log archived to .bts/archive/…`
    pub fn text(&self) -> String {
        match &self.log_archive {
            Some(a) => format!(
                "{}: stopped — {} — log archived to {}",
                self.task,
                self.final_summary,
                a.display()
            ),
            None => format!("{}: stopped — {}", self.task, self.final_summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_receipt_json_fields() {
        let r = StopReceipt {
            task: "web".into(),
            exit_code: None,
            signal: Some("SIGTERM".into()),
            runtime: "5s".into(),
            final_summary: "killed by SIGTERM after 5s".into(),
            log_archive: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"task":"web","exit_code":null,"signal":"SIGTERM","runtime":"5s","final_summary":"killed by SIGTERM after 5s","log_archive":null}"#
        );
        assert_eq!(r.text(), "web: stopped — killed by SIGTERM after 5s");
        let r = StopReceipt {
            log_archive: Some("/p/.bts/archive/web-1.log.gz".into()),
            ..r
        };
        let back: StopReceipt = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(r
            .text()
            .ends_with(" — log archived to /p/.bts/archive/web-1.log.gz"));
    }

    #[test]
    fn start_receipt_json_fields() {
        let r = StartReceipt {
            task: "api".into(),
            pid: 42,
            pgid: 42,
            cwd: "/p".into(),
            command: "sleep 1".into(),
            ports: vec![4000],
            env_keys: vec!["PORT".into(), "PUBLIC_URL".into()],
            env_public: [("PUBLIC_URL".to_string(), "http://x".to_string())].into(),
            health: None,
            log_path: "/p/.bts/logs/api.log".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "command",
                "cwd",
                "env_keys",
                "env_public",
                "health",
                "log_path",
                "pgid",
                "pid",
                "ports",
                "started_at",
                "task"
            ]
        );
        assert_eq!(v["env_public"]["PUBLIC_URL"], "http://x");
        assert_eq!(v["health"], serde_json::Value::Null);
    }
}
