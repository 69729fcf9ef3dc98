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

/// One line for start receipts and `--wait`: `api: UP (pid 4242, port 4000)`.
pub fn receipt_line(d: &Digest) -> String {
    let mut extra = vec![];
    if let Some(pid) = d.pid {
        extra.push(format!("pid {pid}"));
    }
    if !d.ports.is_empty() {
        let ports: Vec<String> = d.ports.iter().map(u16::to_string).collect();
        extra.push(format!("port {}", ports.join(", ")));
    }
    if !d.detail.is_empty() {
        extra.push(d.detail.clone());
    }
    if extra.is_empty() {
        format!("{}: {}", d.task, d.status)
    } else {
        format!("{}: {} ({})", d.task, d.status, extra.join(", "))
    }
}

/// The text form of a digest (SPEC section 6): a header line, then only the lines that
/// say something, at most ~15.
pub fn render_text(d: &Digest) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = write!(s, "[TASK: {}] {}", d.task, d.status);
    if !d.ports.is_empty() {
        let ports: Vec<String> = d.ports.iter().map(u16::to_string).collect();
        let _ = write!(s, " | Port: {}", ports.join(", "));
    }
    if let Some(pid) = d.pid {
        let _ = write!(s, " | PID: {pid}");
    }
    if let Some(up) = d.uptime {
        let _ = write!(
            s,
            " | Uptime: {}",
            crate::clock::short_duration(std::time::Duration::from_secs(up))
        );
    }
    let _ = writeln!(s, " | Restarts: {}", d.restarts);
    if !d.detail.is_empty() {
        let _ = writeln!(s, "Detail: {}", d.detail);
    }
    if let Some(h) = &d.health {
        let mut line = format!("Health: {}", h.status);
        if !h.detail.is_empty() {
            line.push_str(&format!(" ({}", h.detail));
            if let Some(t) = &h.last_check {
                line.push_str(&format!(", last check {}", short_time(t)));
            }
            line.push(')');
        }
        let _ = writeln!(s, "{line}");
    }
    if d.cpu_percent.is_some() || d.rss_bytes.is_some() {
        let _ = writeln!(
            s,
            "Resources: cpu {} | mem {}",
            d.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
            d.rss_bytes.map_or("-".into(), human_bytes)
        );
    }
    if let Some(n) = &d.next_action {
        let _ = writeln!(s, "Next: {n}");
    }
    let _ = writeln!(s, "Logs: {}", d.log_path.display());
    s
}

/// `2026-11-24T14:02:11.123Z` → `14:02:11`.
fn short_time(rfc3339: &str) -> &str {
    rfc3339.get(11..19).unwrap_or(rfc3339)
}

/// `12.3 MB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
