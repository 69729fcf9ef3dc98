//! The control protocol: one JSON request per line from the client, one JSON response
//! line back. Small and versionless on purpose: client and supervisor are the same binary
//! (a mismatch after an upgrade is reported as a parse error, never a crash).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::errors::{exit, AppError};
use crate::receipt::StopReceipt;

/// Longest request line the server accepts.
pub const MAX_REQUEST: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Digests of the named tasks (all when empty).
    Status {
        #[serde(default)]
        tasks: Vec<String>,
    },
    /// Restart tasks; answered once they are STARTING (UP with `wait`).
    Restart {
        tasks: Vec<String>,
        #[serde(default)]
        wait: bool,
        /// Approvals for destructive tasks among them.
        #[serde(default)]
        confirm: Vec<String>,
        #[serde(default)]
        yes: bool,
    },
    /// Stop tasks (all when empty: the supervisor then exits); answered once stopped.
    Down {
        #[serde(default)]
        tasks: Vec<String>,
        /// The signal to send first instead of each task's `stop_signal` (a name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
    },
    /// Gzip tasks' current logs into the archive and start fresh ones.
    ArchiveLogs { tasks: Vec<String> },
    /// `bts run`: add (or with `replace`, swap) an ad-hoc task given in manifest form
    /// (`tasks: {NAME: {...}}`); answered once it runs (`wait`: is UP).
    Run {
        name: String,
        yaml: String,
        #[serde(default)]
        replace: bool,
        #[serde(default)]
        wait: bool,
        /// Approves it when destructive.
        #[serde(default)]
        confirm: bool,
    },
    /// `bts attach`: connect to a `tty: true` task's terminal. After an ok answer the
    /// connection carries raw bytes both ways: typed input in, the task's output out.
    Attach {
        task: String,
        /// Who attaches, told to a second client that is refused.
        who: String,
        #[serde(default)]
        rows: u16,
        #[serde(default)]
        cols: u16,
    },
    /// `bts scale`: run this many copies of these tasks (the manifest's `replicas`
    /// replaced until the supervisor exits); answered once the change has settled.
    Scale { counts: Vec<(String, u32)> },
    /// A second `bts up`: reload `manifest` and reconcile (or add `tasks`).
    Up {
        manifest: PathBuf,
        #[serde(default)]
        tasks: Vec<String>,
        #[serde(default)]
        confirm: Vec<String>,
        #[serde(default)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub tasks: Vec<Digest>,
    /// What the supervisor did, one line each (reconcile, restart, down).
    #[serde(default)]
    pub messages: Vec<String>,
    /// Stop receipts of a `down`.
    #[serde(default)]
    pub receipts: Vec<StopReceipt>,
    /// Exit code the client should use.
    #[serde(default)]
    pub code: u8,
}

impl Response {
    pub fn error(message: impl Into<String>, hint: Option<String>) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            hint,
            code: exit::USAGE,
            ..Default::default()
        }
    }

    /// The answer, or — when the supervisor refused the request — the error to print,
    /// with its hint and exit code.
    pub fn into_result(self) -> Result<Response, AppError> {
        if self.ok {
            return Ok(self);
        }
        let mut e = AppError::new(
            self.error
                .unwrap_or_else(|| "the supervisor refused the request".into()),
        )
        .with_code(if self.code == 0 {
            exit::FAILURE
        } else {
            self.code
        });
        if let Some(h) = self.hint {
            e = e.with_hint(h);
        }
        Err(e)
    }
}
