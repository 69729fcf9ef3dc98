//! The digest of a task (SPEC section 6): the compact, machine-readable summary that
//! `bts status`, `bts ps`, `--wait` failures and `.bts/digests/` show. One struct for all
//! of them so the JSON and text forms never drift apart.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Digest {
    pub task: String,
    /// PENDING, STARTING, UP, DEGRADED, DOWN, RESTARTING, EXITED, FAILED, STOPPED, BLOCKED.
    pub status: String,
    /// Why it is in that state (failure reason, what it waits for…), empty when obvious.
    #[serde(default)]
    pub detail: String,
    pub pid: Option<i32>,
    pub ports: Vec<u16>,
    /// Seconds since the current run started (running tasks only).
    pub uptime: Option<u64>,
    pub restarts: u32,
    pub health: Option<HealthDigest>,
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    pub exit_code: Option<i32>,
    pub next_action: Option<String>,
    pub log_path: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthDigest {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    pub last_check: Option<String>,
    pub detail: String,
}
