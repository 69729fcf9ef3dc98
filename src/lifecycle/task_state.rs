//! The state a task shows to users (`bts status`, digests, state.json, events.jsonl).
//! The supervisor's phases carry more (the run, the stop under way); this is what
//! they look like from outside. Serialized as the upper-case names users read.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskState {
    /// Waiting for its dependencies, an approval or its checkpoint.
    Pending,
    /// Spawned, not yet healthy.
    Starting,
    /// Running and healthy (or alive for a second, without a probe).
    Up,
    /// Running; a probe failed fewer than `retries` times in a row (or a port is not
    /// bound, or its log cannot be written).
    Degraded,
    /// Running; `retries` probe failures in a row.
    Down,
    /// Waiting out the backoff before its next run.
    Restarting,
    /// Ended with code 0.
    Exited,
    /// Ended badly and no restart is due.
    Failed,
    /// Stopped by a person, or never started.
    #[default]
    Stopped,
    /// Destructive and not approved.
    Blocked,
}

impl TaskState {
    pub const ALL: [TaskState; 10] = [
        TaskState::Pending,
        TaskState::Starting,
        TaskState::Up,
        TaskState::Degraded,
        TaskState::Down,
        TaskState::Restarting,
        TaskState::Exited,
        TaskState::Failed,
        TaskState::Stopped,
        TaskState::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Starting => "STARTING",
            TaskState::Up => "UP",
            TaskState::Degraded => "DEGRADED",
            TaskState::Down => "DOWN",
            TaskState::Restarting => "RESTARTING",
            TaskState::Exited => "EXITED",
            TaskState::Failed => "FAILED",
            TaskState::Stopped => "STOPPED",
            TaskState::Blocked => "BLOCKED",
        }
    }

    /// A process of the task is alive.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            TaskState::Starting | TaskState::Up | TaskState::Degraded | TaskState::Down
        )
    }

    /// Nothing more happens to the task unless someone asks.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Exited | TaskState::Failed | TaskState::Stopped | TaskState::Blocked
        )
    }

    /// A final state that makes `bts up` (and `--wait`) exit 1.
    pub fn is_bad(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Blocked)
    }

    /// Running, or on its way to run again (pending, backing off).
    pub fn is_active(self) -> bool {
        self.is_running() || matches!(self, TaskState::Pending | TaskState::Restarting)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown task state `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_the_upper_case_name() {
        for s in TaskState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<TaskState>(&json).unwrap(), s);
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("sleepy".parse::<TaskState>().is_err());
    }

    #[test]
    fn each_state_is_in_its_groups() {
        use TaskState::*;
        let running = [Starting, Up, Degraded, Down];
        let finals = [Exited, Failed, Stopped, Blocked];
        for s in TaskState::ALL {
            assert_eq!(s.is_running(), running.contains(&s), "{s}");
            assert_eq!(s.is_final(), finals.contains(&s), "{s}");
            assert_eq!(s.is_bad(), matches!(s, Failed | Blocked), "{s}");
            assert_eq!(
                s.is_active(),
                running.contains(&s) || matches!(s, Pending | Restarting),
                "{s}"
            );
        }
    }
}
