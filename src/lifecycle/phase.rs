//! The phases of a task inside the core. One enum holds the whole lifecycle, with the
//! data of each phase inside its variant: which run is alive, whether a stop is under
//! way and what follows it, when a backoff ends. [`Phase::state`] is what users see.
//! The diagram is in docs/architecture.md#phases.

use std::time::Duration;

use tokio::time::Instant;

use super::origin::Origin;
use super::policy::{AfterExit, Cause, HealthTracker};
use super::reason::FailReason;
use super::task_state::TaskState;

/// Identifies one run (or one checkpoint attempt) of a task; never reused within a
/// supervisor, so a message about an old run can never act on a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub u64);

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Not running and not due to run.
    Stopped(StopDetail),
    /// PENDING: waiting for dependencies (or an approval of one); `on` says what.
    Waiting { on: String },
    /// PENDING: a destructive task's checkpoint runs, as a run of its own (`attempt`,
    /// since `since`). `fresh`: the start it precedes empties the log. `approval`: how it
    /// was approved (given back should pre-flight fail). `end`: why it is being ended
    /// early, if it is; the task then does not start.
    Checkpointing {
        attempt: RunId,
        since: Instant,
        fresh: bool,
        approval: String,
        end: Option<CheckpointEnd>,
    },
    /// The executor was asked to spawn this run (pre-flight first) and has not answered
    /// yet. `approval`: how a destructive task was approved for it, given back should
    /// pre-flight fail.
    Spawning {
        run: RunId,
        approval: Option<String>,
    },
    /// Destructive and not approved.
    Blocked,
    /// A process of the task is alive.
    Running(Running),
    /// Waiting out the backoff before the next run.
    Backoff { until: Instant, delay: Duration },
    /// Ended with 0.
    Exited,
    /// Ended badly and no restart is due.
    Failed(FailReason),
}

/// A live run.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub run: RunId,
    pub pid: i32,
    pub since: Instant,
    pub health: Health,
    pub probes: HealthTracker,
    /// The last probe result: ok and detail.
    pub last_probe: Option<(bool, String)>,
    /// A stop has been sent; what follows when the run has ended.
    pub stop: Option<StopIntent>,
}

/// The health of a live run.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Starting,
    Up,
    Degraded(Degraded),
    Down { detail: String, failures: u32 },
}

/// Why a live run is DEGRADED.
#[derive(Debug, Clone, PartialEq)]
pub enum Degraded {
    Probe {
        detail: String,
        failures: u32,
        retries: u32,
    },
    PortUnbound(u16),
    LogWrite(String),
}

impl std::fmt::Display for Degraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Degraded::Probe {
                detail,
                failures,
                retries,
            } => write!(f, "{detail} ({failures}/{retries} failures)"),
            Degraded::PortUnbound(p) => write!(f, "port {p} not bound"),
            Degraded::LogWrite(m) => write!(f, "log write failed: {m}"),
        }
    }
}

/// What follows the end of a run whose stop the supervisor sent.
#[derive(Debug, Clone, PartialEq)]
pub enum StopIntent {
    /// It stays stopped (a user stop, a shutdown, a removed task).
    Stop,
    /// A user (or watch) restart: start again at once.
    Restart,
    /// It went DOWN or over a limit (`cause`): what the restart policy decided.
    Recover { after: AfterExit, cause: Cause },
}

/// Why a checkpoint is being ended before it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointEnd {
    /// Stopped by the user or a reload: the task ends STOPPED with this detail.
    Cancelled(StopDetail),
    /// `checkpoint_timeout` passed: it was killed, the task ends FAILED.
    TimedOut,
}

/// Why a task is STOPPED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopDetail {
    NotStarted,
    ByUser,
    /// Its run ended after a stop: how.
    Ended(String),
    WhileWaitingToRestart,
    BeforeCheckpoint,
}

impl std::fmt::Display for StopDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopDetail::NotStarted => f.write_str("not started"),
            StopDetail::ByUser => f.write_str("stopped by the user"),
            StopDetail::Ended(how) => write!(f, "stopped ({how})"),
            StopDetail::WhileWaitingToRestart => f.write_str("stopped while waiting to restart"),
            StopDetail::BeforeCheckpoint => f.write_str("stopped before its checkpoint finished"),
        }
    }
}

impl Phase {
    /// The state users see.
    pub fn state(&self) -> TaskState {
        match self {
            Phase::Stopped(_) => TaskState::Stopped,
            Phase::Waiting { .. } | Phase::Checkpointing { .. } | Phase::Spawning { .. } => {
                TaskState::Pending
            }
            Phase::Blocked => TaskState::Blocked,
            Phase::Running(r) => match r.health {
                Health::Starting => TaskState::Starting,
                Health::Up => TaskState::Up,
                Health::Degraded(_) => TaskState::Degraded,
                Health::Down { .. } => TaskState::Down,
            },
            Phase::Backoff { .. } => TaskState::Restarting,
            Phase::Exited => TaskState::Exited,
            Phase::Failed(_) => TaskState::Failed,
        }
    }

    /// Why it is in that state, for digests and the terminal; empty when obvious. `origin`
    /// picks the command that approves a BLOCKED task.
    pub fn detail(&self, task: &str, origin: Origin) -> String {
        match self {
            Phase::Stopped(d) => d.to_string(),
            Phase::Waiting { on } if !on.is_empty() => format!("waiting for {on}"),
            Phase::Checkpointing { .. } => "waiting for its checkpoint".into(),
            Phase::Blocked => format!("approve with: {}", origin.start_command(task, true)),
            Phase::Running(r) => match &r.health {
                Health::Degraded(d) => d.to_string(),
                Health::Down { detail, failures } => {
                    format!("{detail} ({failures} failures in a row)")
                }
                _ => String::new(),
            },
            Phase::Backoff { delay, .. } => {
                format!("restarting after {}", crate::clock::short_duration(*delay))
            }
            Phase::Failed(r) => r.to_string(),
            _ => String::new(),
        }
    }

    pub fn running(&self) -> Option<&Running> {
        match self {
            Phase::Running(r) => Some(r),
            _ => None,
        }
    }

    /// A process is alive, or is being spawned or checkpointed: the supervisor must
    /// wait for it before it may exit.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Phase::Running(_)
                | Phase::Spawning { .. }
                | Phase::Checkpointing { .. }
                | Phase::Backoff { .. }
        )
    }

    /// The live process of the task (a run or a checkpoint), if any.
    pub fn live_run(&self) -> Option<RunId> {
        match self {
            Phase::Running(r) => Some(r.run),
            Phase::Checkpointing { attempt, .. } => Some(*attempt),
            _ => None,
        }
    }

    /// A run is alive and no stop has been sent to it.
    pub fn is_running_unstopped(&self) -> bool {
        matches!(self, Phase::Running(r) if r.stop.is_none())
    }

    pub fn fail_reason(&self) -> Option<&FailReason> {
        match self {
            Phase::Failed(r) => Some(r),
            _ => None,
        }
    }
}
