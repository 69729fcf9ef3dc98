//! Stopping: the shutdown (dependents first, independent tasks in parallel; a second
//! signal kills), `down TASK…`, and the user's stop and restart of one task.
//! docs/behaviour.md#stopping.

use super::effect::Level;
use super::effect::{Effect, StopWhy};
use super::event::TaskId;
use super::machine::{Core, Member, Mode};
use super::phase::{CheckpointEnd, Phase, RunId, StopDetail, StopIntent};

impl Core {
    pub(super) fn on_interrupt(&mut self, signal: &str) {
        match self.mode {
            Mode::Serving => {
                self.say(
                    Level::Info,
                    format!(
                        "{signal} received: stopping all tasks (send it again to kill them at once)"
                    ),
                );
                self.begin_shutdown();
            }
            Mode::ShuttingDown => {
                self.mode = Mode::Killing;
                self.say(
                    Level::Warn,
                    format!("{signal} received again: killing every task now"),
                );
                for i in 0..self.slots.len() {
                    if let Some(run) = self.slots[i].phase.live_run() {
                        self.emit(Effect::Kill { task: i, run });
                    }
                }
            }
            Mode::Killing => {}
        }
    }

    pub(super) fn begin_shutdown(&mut self) {
        if self.mode != Mode::Serving {
            return;
        }
        self.mode = Mode::ShuttingDown;
        self.pending_stops.clear();
        for i in 0..self.slots.len() {
            match self.slots[i].phase {
                Phase::Waiting { .. } => self.stop_idle(i, StopDetail::NotStarted),
                Phase::Backoff { .. } => self.stop_idle(i, StopDetail::WhileWaitingToRestart),
                // A running checkpoint is stopped like a run; its task never starts.
                Phase::Checkpointing { .. } => {
                    self.end_checkpoint(i, StopDetail::BeforeCheckpoint, StopWhy::Shutdown)
                }
                _ => {}
            }
        }
        self.advance_shutdown();
    }

    /// Send the stop signal to every running task that no running task depends on:
    /// dependents stop first, independent tasks stop in parallel.
    pub(super) fn advance_shutdown(&mut self) {
        for i in 0..self.slots.len() {
            if !self.slots[i].phase.is_running_unstopped() {
                continue;
            }
            let name = &self.slots[i].task.name;
            let has_running_dependent = self.slots.iter().any(|s| {
                matches!(s.phase, Phase::Running(_) | Phase::Spawning { .. })
                    && s.task.depends_on.iter().any(|d| &d.task == name)
            });
            if !has_running_dependent {
                self.send_stop(i, StopIntent::Stop, StopWhy::Shutdown);
            }
        }
    }

    /// Mark the run of slot `i` as stopping with `intent` and send its stop signal.
    pub(super) fn send_stop(&mut self, i: TaskId, intent: StopIntent, why: StopWhy) {
        let Phase::Running(r) = &mut self.slots[i].phase else {
            return;
        };
        let first = r.stop.is_none();
        r.stop = Some(intent);
        let run = r.run;
        self.emit_stop(i, run, first, why);
    }

    /// Stop a running checkpoint; its task ends STOPPED with `detail` and never starts.
    fn end_checkpoint(&mut self, i: TaskId, detail: StopDetail, why: StopWhy) {
        let Phase::Checkpointing { attempt, end, .. } = &mut self.slots[i].phase else {
            return;
        };
        let first = end.is_none();
        *end = Some(CheckpointEnd::Cancelled(detail));
        let run = *attempt;
        self.emit_stop(i, run, first, why);
    }

    /// Take the signal a request chose for slot `i` (else the task's own) and, on the
    /// `first` stop of `run`, tell the executor to send it; a repeated stop only consumes it.
    fn emit_stop(&mut self, i: TaskId, run: RunId, first: bool, why: StopWhy) {
        let (own, grace) = (
            self.slots[i].task.stop_signal,
            self.slots[i].task.stop_timeout,
        );
        let signal = self.stop_signals.remove(&i).unwrap_or(own);
        if first {
            self.emit(Effect::Stop {
                task: i,
                run,
                signal,
                grace,
                why,
            });
        }
    }

    /// Stop the queued tasks that no running queued task depends on; the others wait for
    /// the next exit.
    pub(super) fn advance_named_stops(&mut self) {
        let queued: Vec<TaskId> = self.pending_stops.iter().copied().collect();
        for i in queued {
            let name = &self.slots[i].task.name;
            let waits = self.pending_stops.iter().any(|&j| {
                j != i
                    && matches!(self.slots[j].phase, Phase::Running(_))
                    && self.slots[j]
                        .task
                        .depends_on
                        .iter()
                        .any(|d| &d.task == name)
            });
            if !waits {
                self.pending_stops.remove(&i);
                self.stop_task(i);
            }
        }
    }

    /// A user stop of one task: no restart follows. A running checkpoint finishes
    /// first, and then the task is not started.
    pub(super) fn stop_task(&mut self, i: TaskId) {
        match &mut self.slots[i].phase {
            Phase::Running(_) => self.send_stop(i, StopIntent::Stop, StopWhy::User),
            Phase::Waiting { .. } | Phase::Backoff { .. } => self.stop_idle(i, StopDetail::ByUser),
            Phase::Checkpointing { .. } => {
                self.end_checkpoint(i, StopDetail::ByUser, StopWhy::User)
            }
            _ => {}
        }
    }

    /// A user (or watch) restart: stop, then start with the same definition (the log
    /// goes on). Returns what it did, for the answer.
    pub(super) fn restart_task(&mut self, i: TaskId) -> String {
        let name = self.slots[i].task.name.clone();
        if self.slots[i].member == Member::Idle {
            self.slots[i].member = Member::Selected;
        }
        // A restart asked for by a person (or a watch) starts a fresh crash-loop count:
        // "fix the cause, then restart" must get the task its retries back.
        self.slots[i].tracker = Default::default();
        match &self.slots[i].phase {
            Phase::Running(_) => {
                self.send_stop(i, StopIntent::Restart, StopWhy::Restart);
                format!("restarting {name}")
            }
            Phase::Backoff { .. } => {
                // Waiting out its backoff: start now; the log goes on.
                self.begin_start(i, false);
                format!("restarted {name} (backoff skipped)")
            }
            Phase::Waiting { .. } | Phase::Checkpointing { .. } | Phase::Spawning { .. } => {
                // Already on its way: it starts when its dependencies allow.
                format!("{name} is waiting for its dependencies")
            }
            _ => {
                // Stopped or ended: start again through the scheduler, so `depends_on`
                // conditions hold as at any start.
                self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                self.schedule();
                format!("starting {name}")
            }
        }
    }
}
