//! Why a task is FAILED, as data: the core decides it, `next_action` matches on it, and
//! its `Display` is the text users read (the digest's `detail`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::LimitHit;

/// One problem found by the pre-flight check before a start (cwd, command, ports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightProblem {
    pub message: String,
    /// The problem is a declared port that something else holds.
    #[serde(default)]
    pub port_in_use: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailReason {
    /// The process ended badly and its restart policy does not restart it.
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
        ran_for_ms: u64,
    },
    /// Its health check went DOWN and its policy does not restart it.
    HealthDown,
    /// More than `max_restarts` restarts within `restart_window`.
    CrashLoop {
        restarts: usize,
        window_ms: u64,
        max_restarts: u32,
        /// How the last run ended (`exited with code 1`, `health check DOWN`).
        last_run: String,
    },
    DependencyFailed {
        dependency: String,
    },
    DependencyStopped {
        dependency: String,
    },
    /// The pre-flight check failed (missing cwd or command, a port in use).
    Preflight {
        problems: Vec<PreflightProblem>,
    },
    /// The process could not be spawned.
    Spawn {
        command: String,
        error: String,
    },
    /// Its log file could not be opened.
    LogOpen {
        error: String,
    },
    /// It went over a resource limit and its `on_limit` is `stop` (or it is destructive
    /// and so never restarted).
    Limit {
        hit: LimitHit,
    },
    /// A destructive task's checkpoint failed or timed out; the task was not run.
    Checkpoint {
        why: String,
    },
}

impl FailReason {
    pub fn crash_loop(restarts: usize, window: Duration, max_restarts: u32, last: String) -> Self {
        FailReason::CrashLoop {
            restarts,
            window_ms: window.as_millis() as u64,
            max_restarts,
            last_run: last,
        }
    }

    /// The port-in-use problem of a failed pre-flight, if that is why.
    pub fn port_in_use(&self) -> Option<&str> {
        match self {
            FailReason::Preflight { problems } => problems
                .iter()
                .find(|p| p.port_in_use)
                .map(|p| p.message.as_str()),
            _ => None,
        }
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::Exit {
                code,
                signal,
                ran_for_ms,
            } => write!(
                f,
                "{} after {}",
                describe_exit(*code, *signal),
                crate::clock::short_duration(Duration::from_millis(*ran_for_ms))
            ),
            FailReason::HealthDown => f.write_str("health check DOWN"),
            FailReason::CrashLoop {
                restarts,
                window_ms,
                max_restarts,
                last_run,
            } => write!(
                f,
                "crash loop: {restarts} restart{} within {} (max_restarts {max_restarts}); last run {last_run}",
                if *restarts == 1 { "" } else { "s" },
                humantime::format_duration(Duration::from_millis(*window_ms)),
            ),
            FailReason::DependencyFailed { dependency } => {
                write!(f, "dependency {dependency} failed")
            }
            FailReason::DependencyStopped { dependency } => {
                write!(f, "dependency {dependency} was stopped")
            }
            FailReason::Preflight { problems } => {
                let texts: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
                f.write_str(&texts.join("; "))
            }
            FailReason::Spawn { command, error } => write!(f, "cannot start `{command}`: {error}"),
            FailReason::LogOpen { error } => write!(f, "cannot open its log file: {error}"),
            FailReason::Limit { hit } => write!(f, "{hit}"),
            FailReason::Checkpoint { why } => {
                write!(f, "checkpoint failed ({why}); the task was not run")
            }
        }
    }
}

/// `exited with code 1`, `killed by SIGKILL`.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("killed by {}", crate::process::unix::signal_name(s)),
        (None, None) => "ended (status unknown)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_what_users_read() {
        let r = FailReason::crash_loop(3, Duration::from_secs(300), 3, "exited with code 1".into());
        assert_eq!(
            r.to_string(),
            "crash loop: 3 restarts within 5m (max_restarts 3); last run exited with code 1"
        );
        let r = FailReason::Exit {
            code: Some(2),
            signal: None,
            ran_for_ms: 1500,
        };
        assert!(
            r.to_string().starts_with("exited with code 2 after "),
            "{r}"
        );
        let json = serde_json::to_value(FailReason::DependencyFailed {
            dependency: "db".into(),
        })
        .unwrap();
        assert_eq!(json["kind"], "dependency_failed");
        assert_eq!(json["dependency"], "db");
    }
}
