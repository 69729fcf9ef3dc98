//! The digest of a task (docs/behaviour.md#files): the compact, machine-readable summary that
//! `bts status`, `bts ps`, `--wait` failures and `.bts/digests/` show. One struct for all
//! of them so the JSON and text forms never drift apart.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::lifecycle::{FailReason, Origin, TaskState};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Digest {
    pub task: String,
    /// Serialized as the upper-case name: `UP`, `FAILED`, …
    pub status: TaskState,
    /// Why it is in that state (failure reason, what it waits for…), empty when obvious.
    #[serde(default)]
    pub detail: String,
    /// Why it FAILED, as data (its text is `detail`); known to the supervisor only, not
    /// part of the JSON.
    #[serde(skip)]
    pub reason: Option<FailReason>,
    pub pid: Option<i32>,
    pub ports: Vec<u16>,
    /// Seconds since the current run started (running tasks only).
    pub uptime: Option<u64>,
    pub restarts: u32,
    pub health: Option<HealthDigest>,
    pub cpu_percent: Option<f32>,
    pub rss_bytes: Option<u64>,
    pub exit_code: Option<i32>,
    /// Error and warning lines since the last periodic digest.
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub warnings: u64,
    /// Up to 10 distinct recent lines, errors first.
    #[serde(default)]
    pub recent: Vec<String>,
    /// The last error line and when it was printed (RFC 3339).
    #[serde(default)]
    pub last_error: Option<LastError>,
    pub next_action: Option<String>,
    pub log_path: PathBuf,
    /// The latest build/test cycle of a watcher (docs/behaviour.md#cycles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<crate::cycles::CycleDigest>,
    /// The task's resource limits and how close it is to them (tasks with limits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsDigest>,
}

/// A task's limits in its digest (docs/behaviour.md#resource-limits).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LimitsDigest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_percent: Option<u32>,
    /// Near a limit now (80 % or more): `uses 420 MB of 512 MB memory`.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The last time a limit was passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exceeded: Option<LimitEvent>,
}

/// A limit passed: what was measured, what bts did (`restart`, `stop`, `warn`), when.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LimitEvent {
    pub what: String,
    pub action: String,
    pub time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LastError {
    pub line: String,
    pub time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthDigest {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    pub last_check: Option<String>,
    pub detail: String,
}

/// `digest.json`: the digest of every task, as the supervisor last wrote it (also
/// `project` and `updated_at`, which readers do not need).
#[derive(Deserialize)]
struct DigestFile {
    tasks: Vec<Digest>,
}

/// The digests in the `digest.json` at `path`; `None` when it is missing, unreadable,
/// or — with `since` — last written before `since` (left by an earlier supervisor).
pub fn read_digest_file(path: &Path, since: Option<SystemTime>) -> Option<Vec<Digest>> {
    if let Some(since) = since {
        if std::fs::metadata(path).and_then(|m| m.modified()).ok()? < since {
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<DigestFile>(&text)
        .ok()
        .map(|f| f.tasks)
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

/// The text form of a digest (docs/behaviour.md#files): a header line, then only the lines that
/// say something, at most ~15.
pub fn render_text(d: &Digest) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = write!(s, "[TASK: {}] {}", d.task, d.status);
    if !d.ports.is_empty() {
        let ports: Vec<String> = d.ports.iter().map(u16::to_string).collect();
        let _ = write!(s, " | Port: {}", ports.join(", "));
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
    if let Some(c) = &d.cycle {
        let _ = writeln!(s, "{}", cycle_line(c));
    }
    if let Some(l) = &d.limits {
        let mut set = vec![];
        if let Some(m) = l.max_memory_bytes {
            set.push(format!("memory {}", crate::manifest::size::size_text(m)));
        }
        if let Some(c) = l.max_cpu_percent {
            set.push(format!("cpu {c}%"));
        }
        let mut line = format!("Limits: {}", set.join(", "));
        if !l.warnings.is_empty() {
            line.push_str(&format!(" | WARNING: {}", l.warnings.join("; ")));
        }
        let _ = writeln!(s, "{line}");
        if let Some(e) = &l.last_exceeded {
            let _ = writeln!(
                s,
                "Last limit: {} — {} ({})",
                e.what,
                e.action,
                short_time(&e.time)
            );
        }
    }
    if !d.recent.is_empty() {
        // The three most recent distinct lines, errors first, each cut to a screen width.
        let recent: Vec<String> = d.recent.iter().take(3).map(|l| shorten(l, 60)).collect();
        let _ = writeln!(s, "Recent: {}", recent.join("; "));
    }
    // A watcher whose latest cycle passed after its last error: its errors are history
    // (still in `--json`).
    let history = errors_outlived(d);
    if (d.errors > 0 || d.warnings > 0) && !history {
        let _ = writeln!(
            s,
            "Errors: {} | Warnings: {}   (since last digest)",
            d.errors, d.warnings
        );
    }
    if let Some(e) = d.last_error.as_ref().filter(|_| !history) {
        let _ = writeln!(
            s,
            "Last error: {} ({})",
            shorten(&e.line, 80),
            short_time(&e.time)
        );
    }
    if let Some(n) = &d.next_action {
        let _ = writeln!(s, "Next: {n}");
    }
    let _ = writeln!(s, "Logs: {}", relative(&d.log_path).display());
    s
}

/// `s` trimmed and cut to `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// What a person (or an agent) should do next about a task, derived from its state:
/// nothing when it is fine. `origin` picks the command that starts the task again.
pub fn next_action(d: &Digest, origin: Origin) -> Option<String> {
    let t = &d.task;
    let start = |confirm| origin.start_command(t, confirm);
    let detail = d.detail.as_str();
    match (d.status, &d.reason) {
        (TaskState::Failed, Some(FailReason::CrashLoop { .. })) => Some(format!(
            "it keeps crashing: read `bts logs {t} --errors`, fix the cause, then `bts restart {t}`"
        )),
        (TaskState::Failed, Some(r @ FailReason::Preflight { .. }))
            if r.port_in_use().is_some() =>
        {
            Some(format!(
                "{} — then `bts restart {t}`",
                r.port_in_use().unwrap_or(detail)
            ))
        }
        (
            TaskState::Failed,
            Some(
                FailReason::DependencyFailed { dependency: dep }
                | FailReason::DependencyStopped { dependency: dep },
            ),
        ) => Some(format!(
            "fix {dep} first (`bts status {dep}`), then `{}`",
            start(false)
        )),
        (TaskState::Failed, Some(FailReason::Limit { hit })) => Some(format!(
            "it passed its {} limit: find the cause (`bts logs {t}`) or raise `max_{}`, then `bts restart {t}`",
            hit.kind().as_str(),
            hit.kind().as_str()
        )),
        (TaskState::Failed, Some(FailReason::Checkpoint { .. })) => Some(format!(
            "fix the checkpoint (see `bts logs {t}`), then `{}`",
            start(true)
        )),
        (TaskState::Failed, _) => Some(format!(
            "see `bts logs {t} -n 50`, fix it, then `bts restart {t}`"
        )),
        (TaskState::Down | TaskState::Degraded, _) => Some(format!(
            "health check failing ({detail}) — `bts logs {t} --errors`"
        )),
        (TaskState::Blocked, _) => Some(format!("destructive: approve with `{}`", start(true))),
        (TaskState::Up | TaskState::Starting, _)
            if d.limits.as_ref().is_some_and(|l| !l.warnings.is_empty()) =>
        {
            let warnings = d.limits.as_ref().map_or(String::new(), |l| l.warnings.join("; "));
            Some(format!(
                "{t} {warnings}, near its limit: look for a leak or a loop (`bts logs {t}`) or raise the limit"
            ))
        }
        (TaskState::Up | TaskState::Starting, _) if d.cycle.as_ref().is_some_and(|c| c.failing()) =>
        {
            Some(format!(
                "the build is failing: fix the first error, then save — `bts wait {t} --for cycle` waits for the verdict"
            ))
        }
        // A watcher whose latest cycle passed after its last error: history.
        (TaskState::Up | TaskState::Starting, _) if errors_outlived(d) => None,
        (TaskState::Up | TaskState::Starting, _) if d.errors > 0 => {
            Some(format!("check the errors — `bts logs {t} --errors`"))
        }
        _ => None,
    }
}

/// `path` relative to the current directory when it lies under it (`.bts/logs/web.log`).
pub fn relative(path: &std::path::Path) -> std::path::PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            path.strip_prefix(cwd)
                .ok()
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_else(|| path.to_path_buf())
}

/// `2026-11-24T14:02:11.123Z` → `14:02:11`.
fn short_time(rfc3339: &str) -> &str {
    rfc3339.get(11..19).unwrap_or(rfc3339)
}

/// The table cells `bts ps` and the dashboard show for a digest, `-` where there is
/// nothing: ports (`3000,3001`), uptime (`2h 15m`), CPU (`1.5%`), memory (`3.0 MB`).
impl Digest {
    pub fn ports_cell(&self) -> String {
        if self.ports.is_empty() {
            return "-".into();
        }
        let p: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        p.join(",")
    }

    pub fn uptime_cell(&self) -> String {
        self.uptime.map_or("-".into(), |u| {
            crate::clock::short_duration(std::time::Duration::from_secs(u))
        })
    }

    pub fn cpu_cell(&self) -> String {
        self.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%"))
    }

    pub fn mem_cell(&self) -> String {
        self.rss_bytes.map_or("-".into(), human_bytes)
    }
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

/// A watcher whose latest cycle passed after its last error line.
pub fn errors_outlived(d: &Digest) -> bool {
    d.cycle
        .as_ref()
        .is_some_and(|c| c.passing() && d.last_error.as_ref().is_none_or(|e| c.outlived(&e.time)))
}

/// `Build: passing since 01:18:18 (after 3 failing cycles)`, `Build: failing since
/// 01:18:13 — src/math.ts(1,68): error TS2304: …`, `Build: running since … (last:
/// failing)`.
pub fn cycle_line(c: &crate::cycles::CycleDigest) -> String {
    let since = if c.since.is_empty() {
        String::new()
    } else {
        format!(" since {}", short_time(&c.since))
    };
    use crate::cycles::CycleState;
    match c.state {
        CycleState::Passing if c.failing_before > 0 => format!(
            "Build: passing{since} (after {} failing cycle{})",
            c.failing_before,
            if c.failing_before == 1 { "" } else { "s" }
        ),
        CycleState::Failing => match &c.first_error {
            Some(e) => format!("Build: failing{since} — {}", shorten(&e.line, 100)),
            None => format!("Build: failing{since}"),
        },
        CycleState::Running => match &c.last {
            Some(last) => format!("Build: running{since} (last: {})", last.as_str()),
            None => format!("Build: running{since}"),
        },
        CycleState::Passing => format!("Build: passing{since}"),
    }
}

/// What a task's output has said, counted by the output path (one lock per batch) and
/// read by the supervisor for digests.
#[derive(Debug, Default, Clone)]
pub struct TaskStats {
    pub lines: u64,
    /// Since the last periodic digest.
    pub errors: u64,
    pub warnings: u64,
    pub errors_total: u64,
    pub warnings_total: u64,
    pub last_error: Option<(String, SystemTime)>,
    /// The cycles of a watcher, as of the last batch.
    pub cycle: Option<crate::cycles::CycleDigest>,
    /// Up to [`RECENT`] distinct recent lines, oldest first; `true` marks errors.
    pub recent: VecDeque<(bool, String)>,
}

/// Distinct recent lines kept per task.
pub const RECENT: usize = 10;

impl TaskStats {
    /// Remember `text` as recent (moving it to the end if it is already there). When
    /// full, the oldest ordinary line goes first: error lines outlast a flood.
    pub fn push_recent(&mut self, error: bool, text: &str) {
        if let Some(i) = self.recent.iter().position(|(_, t)| t == text) {
            self.recent.remove(i);
        }
        self.recent.push_back((error, text.to_string()));
        while self.recent.len() > RECENT {
            match self.recent.iter().position(|(e, _)| !*e) {
                Some(i) => self.recent.remove(i),
                None => self.recent.pop_front(),
            };
        }
    }

    /// Recent lines for a digest: errors first, then the rest, newest first in each.
    pub fn recent_lines(&self) -> Vec<String> {
        let errors = self.recent.iter().rev().filter(|(e, _)| *e);
        let others = self.recent.iter().rev().filter(|(e, _)| !*e);
        errors.chain(others).map(|(_, t)| t.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::PreflightProblem;

    #[test]
    fn status_is_the_upper_case_name_and_drives_next_action() {
        let reason = FailReason::crash_loop(
            3,
            std::time::Duration::from_secs(300),
            3,
            "exited with code 1".into(),
        );
        let mut d = Digest {
            task: "api".into(),
            status: TaskState::Failed,
            detail: reason.to_string(),
            reason: Some(reason),
            ..Default::default()
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["status"], "FAILED");
        assert!(json.get("reason").is_none(), "the JSON is as it was");
        let back = serde_json::from_value::<Digest>(json).unwrap();
        assert_eq!(back.detail, d.detail);
        assert!(next_action(&d, Origin::Manifest)
            .unwrap()
            .starts_with("it keeps crashing"));
        // The action follows the reason, whatever the text says.
        d.detail = "crash loop (a task's own words)".into();
        d.reason = Some(FailReason::DependencyFailed {
            dependency: "db".into(),
        });
        assert!(next_action(&d, Origin::Manifest)
            .unwrap()
            .starts_with("fix db first"));
        d.reason = Some(FailReason::Preflight {
            problems: vec![
                PreflightProblem {
                    message: "command `nod` not found".into(),
                    port_in_use: false,
                },
                PreflightProblem {
                    message: "port 3000 is in use by pid 7 — stop it, or use 3001 (free)".into(),
                    port_in_use: true,
                },
            ],
        });
        assert_eq!(
            next_action(&d, Origin::Manifest).unwrap(),
            "port 3000 is in use by pid 7 — stop it, or use 3001 (free) — then `bts restart api`"
        );
        d.reason = None;
        assert!(next_action(&d, Origin::Manifest)
            .unwrap()
            .starts_with("see `bts logs api"));
        d.status = TaskState::Blocked;
        assert!(next_action(&d, Origin::Manifest)
            .unwrap()
            .starts_with("destructive"));
        d.status = TaskState::Up;
        assert_eq!(next_action(&d, Origin::Manifest), None);
        d.errors = 1;
        assert!(next_action(&d, Origin::Manifest)
            .unwrap()
            .starts_with("check the errors"));
    }

    #[test]
    fn an_adhoc_task_is_started_again_by_restart_not_up() {
        let mut d = Digest {
            task: "job".into(),
            status: TaskState::Blocked,
            ..Digest::default()
        };
        assert_eq!(
            next_action(&d, Origin::Adhoc).unwrap(),
            "destructive: approve with `bts restart job --confirm job`"
        );
        assert_eq!(
            next_action(&d, Origin::Manifest).unwrap(),
            "destructive: approve with `bts up --confirm job`"
        );
        d.status = TaskState::Failed;
        d.reason = Some(FailReason::DependencyFailed {
            dependency: "db".into(),
        });
        assert!(next_action(&d, Origin::Adhoc)
            .unwrap()
            .ends_with("then `bts restart job`"));
    }

    #[test]
    fn digest_file_is_read_when_new_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digest.json");
        assert_eq!(read_digest_file(&path, None), None);
        let d = Digest {
            task: "a".into(),
            status: TaskState::Exited,
            ..Default::default()
        };
        let doc = serde_json::json!({ "project": "p", "updated_at": "t", "tasks": [d] });
        std::fs::write(&path, doc.to_string()).unwrap();
        assert_eq!(read_digest_file(&path, None), Some(vec![d.clone()]));
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(read_digest_file(&path, Some(before)), Some(vec![d]));
        let after = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(read_digest_file(&path, Some(after)), None);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(read_digest_file(&path, None), None);
    }

    #[test]
    fn recent_keeps_errors_and_lists_newest_first() {
        let mut st = TaskStats::default();
        st.push_recent(true, "error: one");
        for i in 0..30 {
            st.push_recent(false, &format!("line {i}"));
        }
        st.push_recent(false, "line 5");
        let r = st.recent_lines();
        assert_eq!(r.len(), RECENT);
        assert_eq!(r[0], "error: one", "errors outlast a flood");
        assert_eq!(r[1], "line 5", "newest first");
        assert_eq!(r[2], "line 29");
    }
}
