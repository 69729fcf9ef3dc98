//! The core: every task's phase, the approvals, the waiting requests and the shutdown
//! mode, changed only by [`Core::step`]. A step takes one event and the time and returns
//! the effects to carry out; it reads no clock and does no I/O, so the whole lifecycle
//! is tested in-process (tests/core/). See docs/architecture.md#the-loop.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::time::Instant;

use super::effect::Effect;
use super::effect::Level;
use super::event::{Event, TaskId, Timer, TimerKind, WaiterId};
use super::origin::Origin;
use super::phase::{Phase, RunId, StopDetail};
use super::policy::RestartTracker;
use super::task_state::TaskState;
use crate::errors::exit;
use crate::manifest::Task;

/// Options of `bts up` that change how the supervisor ends.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// Any task ending by itself stops everything.
    pub abort_on_exit: bool,
    /// The exit code of `bts up` is this task's.
    pub exit_code_from: Option<String>,
    /// Destructive tasks approved at start: (task, how), e.g. `("migrate", "--confirm")`.
    pub approvals: Vec<(String, String)>,
    /// Serve until told to stop, even with nothing running (the supervisor `bts run`
    /// starts for ad-hoc tasks).
    pub keep_alive: bool,
}

/// Whether a task belongs to the stack this supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// Selected by `bts up` (or added since): it is started.
    Selected,
    /// In the manifest, not selected.
    Idle,
    /// Removed from the manifest by a reload; kept so task ids stay stable.
    Removed,
}

/// One task in the core.
#[derive(Debug, Clone)]
pub struct TaskSlot {
    pub task: Arc<Task>,
    pub member: Member,
    pub origin: Origin,
    pub phase: Phase,
    pub tracker: RestartTracker,
    /// The latest run (or checkpoint attempt) started.
    pub last_run: Option<RunId>,
    pub last_exit: Option<super::exit::ExitInfo>,
    /// Bumped at every phase change: timers armed in an earlier phase are stale.
    pub epoch: u64,
    /// Debounce of `watch:` changes: the generation and the file that changed last.
    pub watch_generation: u64,
    pub changed: Option<std::path::PathBuf>,
}

impl TaskSlot {
    pub(super) fn new_for(task: &Task, member: Member) -> Self {
        TaskSlot {
            task: Arc::new(task.clone()),
            member,
            origin: Origin::Manifest,
            phase: Phase::Stopped(StopDetail::NotStarted),
            tracker: RestartTracker::default(),
            last_run: None,
            last_exit: None,
            epoch: 0,
            watch_generation: 0,
            changed: None,
        }
    }

    pub fn state(&self) -> TaskState {
        self.phase.state()
    }

    pub fn is_live(&self) -> bool {
        self.member != Member::Removed
    }

    pub fn is_selected(&self) -> bool {
        self.member == Member::Selected
    }
}

/// How far the supervisor is from exiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serving,
    /// Stopping every task, dependents first.
    ShuttingDown,
    /// A second signal: every task was killed.
    Killing,
}

/// What a waiting request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// No process left and a final state.
    Stopped,
    /// Running for a new run (or ended, or waiting on dependencies).
    Started,
    /// UP for a new run, or a final state.
    Up,
    /// Past its start: final, PENDING on dependencies, or a new run that is UP or has
    /// been alive for a second.
    Settled,
}

#[derive(Debug, Clone)]
pub struct Waiter {
    pub id: WaiterId,
    pub tasks: Vec<TaskId>,
    /// Each task's latest run when the request came: a new run is a later one.
    pub since: Vec<Option<RunId>>,
    pub until: Until,
    pub messages: Vec<String>,
}

pub struct Core {
    pub(super) slots: Vec<TaskSlot>,
    pub(super) mode: Mode,
    pub(super) opts: CoreOptions,
    /// Destructive tasks approved and not yet started: task → how.
    pub(super) approvals: HashMap<String, String>,
    /// Tasks a `down TASK…` still has to stop (after their dependents).
    pub(super) pending_stops: BTreeSet<TaskId>,
    /// The signal a `down --signal` asked for, per task, used by its next stop.
    pub(super) stop_signals: HashMap<TaskId, i32>,
    pub(super) waiters: Vec<Waiter>,
    /// The code of the `--exit-code-from` task, once it ended.
    pub(super) exit_code_from: Option<i32>,
    next_run: u64,
    pub(super) now: Instant,
    pub(super) out: Vec<Effect>,
}

impl Core {
    pub fn new(
        tasks: &[Task],
        selected: &BTreeSet<String>,
        opts: CoreOptions,
        now: Instant,
    ) -> Self {
        Core {
            slots: tasks
                .iter()
                .map(|t| {
                    let m = if selected.contains(&t.name) {
                        Member::Selected
                    } else {
                        Member::Idle
                    };
                    TaskSlot::new_for(t, m)
                })
                .collect(),
            mode: Mode::Serving,
            approvals: opts.approvals.iter().cloned().collect(),
            opts,
            pending_stops: BTreeSet::new(),
            stop_signals: HashMap::new(),
            waiters: Vec::new(),
            exit_code_from: None,
            next_run: 0,
            now,
            out: Vec::new(),
        }
    }

    /// Take one event at `now`; return what to do.
    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        self.now = now;
        match event {
            Event::Boot => {
                for i in 0..self.slots.len() {
                    if self.slots[i].is_selected() {
                        self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                    }
                }
                self.schedule();
            }
            Event::SpawnFailed { task, run, reason } => self.on_spawn_failed(task, run, reason),
            Event::Spawned { task, run, pid } => self.on_spawned(task, run, pid),
            Event::Exited { task, run, exit } => self.on_exit(task, run, exit),
            Event::Probe {
                task,
                run,
                ok,
                detail,
            } => self.on_probe(task, run, ok, detail),
            Event::PortCheck { task, run, unbound } => self.on_port_check(task, run, unbound),
            Event::LogError { task, run, message } => self.on_log_error(task, run, message),
            Event::LimitExceeded { task, run, hit } => self.on_limit(task, run, hit),
            Event::Timer(t) => self.on_timer(t),
            Event::FileChanged { task, path } => self.on_file_changed(task, path),
            Event::Interrupt { signal } => self.on_interrupt(&signal),
            Event::Request(r) => self.on_request(r),
        }
        self.check_waiters();
        std::mem::take(&mut self.out)
    }

    pub fn slots(&self) -> &[TaskSlot] {
        &self.slots
    }

    pub fn slot(&self, i: TaskId) -> &TaskSlot {
        &self.slots[i]
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The live task named `name`.
    pub fn find(&self, name: &str) -> Option<TaskId> {
        self.slots
            .iter()
            .position(|s| s.is_live() && s.task.name == name)
    }

    /// Nothing is left running or due to start: no process alive, being spawned or
    /// checkpointed, no backoff under way. Every task is then final, or PENDING on
    /// something only a person can give (an approval of a BLOCKED dependency).
    pub fn finished(&self) -> bool {
        if self.opts.keep_alive && self.mode == Mode::Serving {
            return false;
        }
        !self.slots.iter().any(|s| s.phase.is_busy())
    }

    /// The exit code of `bts up` once it is finished.
    pub fn exit_code(&self) -> u8 {
        if let Some(code) = self.exit_code_from {
            return code.clamp(0, 255) as u8;
        }
        if self.opts.exit_code_from.is_some() {
            // The task never ran to an end (dependency failed, interrupted…).
            return exit::FAILURE;
        }
        let bad = self
            .slots
            .iter()
            .any(|s| s.is_selected() && (s.state().is_bad() || s.state() == TaskState::Pending));
        if bad {
            exit::FAILURE
        } else {
            exit::OK
        }
    }

    pub(super) fn next_run(&mut self) -> RunId {
        self.next_run += 1;
        RunId(self.next_run)
    }

    pub(super) fn emit(&mut self, e: Effect) {
        self.out.push(e);
    }

    pub(super) fn say(&mut self, level: Level, text: String) {
        self.out.push(Effect::Say { level, text });
    }

    pub(super) fn arm(&mut self, i: TaskId, kind: TimerKind, at: Instant) {
        let epoch = match kind {
            TimerKind::Watch => self.slots[i].watch_generation,
            _ => self.slots[i].epoch,
        };
        self.out.push(Effect::Arm {
            at,
            timer: Timer {
                task: i,
                kind,
                epoch,
            },
        });
    }

    /// Enter a new phase; tell the executor when the visible state or its detail
    /// changed. `note` is said after the detail on the terminal.
    pub(super) fn set_phase(&mut self, i: TaskId, phase: Phase, note: &str) {
        let slot = &mut self.slots[i];
        let (name, origin) = (&slot.task.name, slot.origin);
        let (from, old_detail) = (slot.phase.state(), slot.phase.detail(name, origin));
        let to = phase.state();
        let detail = phase.detail(name, origin);
        slot.phase = phase;
        slot.epoch += 1;
        if from == to && old_detail == detail && note.is_empty() {
            return;
        }
        // Entering PENDING or STARTING is not news on the terminal (the start line is).
        let quiet = matches!(to, TaskState::Starting | TaskState::Pending);
        self.out.push(Effect::State {
            task: i,
            from,
            to,
            detail,
            note: note.to_string(),
            quiet,
        });
    }
}
