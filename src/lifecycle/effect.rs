//! What the core asks the executor to do. Effects are data: the core's tests read them,
//! the executor (crate::supervisor) carries them out and reports back with events.

use std::time::Duration;

use tokio::time::Instant;

use super::event::{CheckpointResult, TaskId, Timer, WaiterId};
use super::exit::ExitInfo;
use super::phase::RunId;
use super::task_state::TaskState;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Pre-flight, open the log (`fresh`: emptied), spawn; answer with `Spawned` or
    /// `SpawnFailed`. `approval`: a destructive task's approval, recorded in audit.log
    /// once pre-flight has passed.
    Spawn {
        task: TaskId,
        run: RunId,
        fresh: bool,
        approval: Option<String>,
    },
    /// Pre-flight, then record the approval and run the task's checkpoint as run
    /// `attempt` (its output goes to the task's log, `fresh`: emptied first); its end is
    /// an `Exited` like any run's (or `SpawnFailed` when it cannot start).
    Checkpoint {
        task: TaskId,
        attempt: RunId,
        fresh: bool,
        approval: String,
    },
    /// Send `signal` to the run's (or checkpoint's) process group, SIGKILL at `grace`.
    Stop {
        task: TaskId,
        run: RunId,
        signal: i32,
        grace: Duration,
        why: StopWhy,
    },
    /// SIGKILL the run's process group now.
    Kill { task: TaskId, run: RunId },
    /// Deliver `timer` as an event at `at`.
    Arm { at: Instant, timer: Timer },
    /// The task's state changed: print it (unless `quiet`), record it in events.jsonl.
    State {
        task: TaskId,
        from: TaskState,
        to: TaskState,
        /// The phase's detail (reason, what it waits for).
        detail: String,
        /// Said after the detail on the terminal (` — exited with code 1 after 2s`).
        note: String,
        quiet: bool,
    },
    /// A line for the terminal.
    Say { level: Level, text: String },
    /// A line for audit.log.
    Audit(Audit),
    /// A run the supervisor stopped has ended: archive its log, record the receipt,
    /// hand it to the waiters of this task.
    StopReceipt {
        task: TaskId,
        exit: ExitInfo,
        ran_for: Duration,
    },
    /// A waiting request is complete.
    Answer {
        waiter: WaiterId,
        tasks: Vec<TaskId>,
        messages: Vec<String>,
        /// A task it waited for is FAILED or BLOCKED.
        failed: bool,
    },
}

/// How loud a line for the terminal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Why the supervisor stops a run (the executor words it for the terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopWhy {
    Shutdown,
    User,
    Restart,
    HealthDown,
    /// It went over a resource limit.
    Limit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Audit {
    Checkpoint {
        task: TaskId,
        result: CheckpointResult,
    },
    Result {
        task: TaskId,
        exit: ExitInfo,
        ran_for: Duration,
    },
}
