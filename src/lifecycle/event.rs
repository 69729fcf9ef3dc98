//! What the core is told: results of the effects it asked for (a spawn, a checkpoint),
//! what happened to runs (exits, probe results), its own timers, signals and requests.
//! Each event about a run carries its [`RunId`]; timers carry an epoch. The core ignores
//! those that are stale.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::exit::ExitInfo;
use super::phase::RunId;
use super::reason::FailReason;
use crate::limits::LimitHit;
use crate::manifest::Task;

/// Index of a task in the core (stable: removed tasks keep their index).
pub type TaskId = usize;

/// Identifies a request that waits for an answer.
pub type WaiterId = u64;

#[derive(Debug, Clone)]
pub enum Event {
    /// The supervisor starts: the selected tasks become PENDING and are scheduled.
    Boot,
    /// A spawn (or the checkpoint attempt `run`) could not even begin: pre-flight, log
    /// file, fork.
    SpawnFailed {
        task: TaskId,
        run: RunId,
        reason: FailReason,
    },
    Spawned {
        task: TaskId,
        run: RunId,
        pid: i32,
    },
    /// The run's (or the checkpoint's) leader was reaped and its process group is
    /// empty.
    Exited {
        task: TaskId,
        run: RunId,
        exit: ExitInfo,
    },
    /// A health probe result (or a `log` probe's match).
    Probe {
        task: TaskId,
        run: RunId,
        ok: bool,
        detail: String,
    },
    /// A probe-less task with ports: the first port not bound, if any.
    PortCheck {
        task: TaskId,
        run: RunId,
        unbound: Option<u16>,
    },
    /// Run `run` went over one of its task's limits (once per run and limit).
    LimitExceeded {
        task: TaskId,
        run: RunId,
        hit: LimitHit,
    },
    /// Writing the log of run `run` failed.
    LogError {
        task: TaskId,
        run: RunId,
        message: String,
    },
    Timer(Timer),
    /// A file a task watches changed.
    FileChanged {
        task: TaskId,
        path: PathBuf,
    },
    /// SIGINT or SIGTERM (named for the message).
    Interrupt {
        signal: String,
    },
    Request(Request),
}

/// How a checkpoint ended (for audit.log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointResult {
    pub exit: Option<ExitInfo>,
    pub timed_out: bool,
    pub took: Duration,
}

impl CheckpointResult {
    pub fn passed(&self) -> bool {
        self.exit.is_some_and(|e| e.success())
    }
}

/// A timer the core armed. `epoch` is the task's phase epoch (or its watch generation)
/// when it was armed: a timer from an earlier phase does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    pub task: TaskId,
    pub kind: TimerKind,
    pub epoch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// The backoff is over: start the next run.
    Restart,
    /// A probe-less run has stayed alive long enough to be UP.
    UpAfter,
    /// The quiet time after a watched file changed is over.
    Watch,
    /// A checkpoint has run for `checkpoint_timeout`.
    CheckpointTimeout,
}

/// Requests from the control socket (already resolved to task ids).
#[derive(Debug, Clone)]
pub enum Request {
    /// Stop these tasks (dependents first), or with `None` everything (the supervisor
    /// then exits).
    Down {
        waiter: WaiterId,
        tasks: Option<Vec<TaskId>>,
        /// Send this signal instead of each task's `stop_signal`.
        signal: Option<i32>,
    },
    /// Restart these; destructive ones were approved as `approval` says.
    Restart {
        waiter: WaiterId,
        tasks: Vec<TaskId>,
        approval: Option<String>,
        wait: bool,
    },
    /// An ad-hoc task (`bts run`): added and started, or — already known — its
    /// definition replaced and restarted. Answered once it runs (`wait`: is UP).
    Add {
        waiter: Option<WaiterId>,
        task: Box<Task>,
        wait: bool,
        /// How a destructive one was approved.
        approval: Option<String>,
    },
    /// A new desired state: a second `bts up` (with a waiter) or SIGHUP (without).
    Reload {
        waiter: Option<WaiterId>,
        tasks: Vec<Task>,
        selected: BTreeSet<String>,
        /// No task patterns: also restart changed tasks and stop removed ones.
        full: bool,
        /// Destructive tasks approved with this request: (task, how).
        approvals: Vec<(String, String)>,
    },
}
