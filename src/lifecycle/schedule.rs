//! Starting tasks: which PENDING tasks their dependencies allow (and which they never
//! will), the approval gate of destructive tasks, and the spawn request.
//! docs/behaviour.md#dependencies, docs/behaviour.md#destructive-tasks.

use super::effect::Effect;
use super::event::TaskId;
use super::machine::{Core, Mode};
use super::phase::{Phase, StopDetail};
use super::reason::FailReason;
use super::task_state::TaskState;
use crate::manifest::Condition;

pub(super) enum DepStatus {
    Ready,
    Wait(String),
    Never(FailReason),
}

impl Core {
    /// Start every pending task whose dependencies allow it, and fail those whose
    /// dependencies never will; repeat until nothing changes (cascades).
    pub(super) fn schedule(&mut self) {
        if self.mode != Mode::Serving {
            return;
        }
        loop {
            let mut changed = false;
            for i in 0..self.slots.len() {
                let s = &self.slots[i];
                if !s.is_selected() || !matches!(s.phase, Phase::Waiting { .. }) {
                    continue;
                }
                match self.deps_status(i) {
                    DepStatus::Ready => {
                        self.begin_start(i, true);
                        changed = true;
                    }
                    DepStatus::Never(reason) => {
                        self.set_phase(i, Phase::Failed(reason), "");
                        changed = true;
                    }
                    DepStatus::Wait(on) => {
                        if let Phase::Waiting { on: old } = &mut self.slots[i].phase {
                            *old = on;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    pub(super) fn deps_status(&self, i: TaskId) -> DepStatus {
        let mut waiting = Vec::new();
        for dep in &self.slots[i].task.depends_on {
            let Some(d) = self.find(&dep.task).map(|j| &self.slots[j]) else {
                continue;
            };
            let state = d.state();
            match (state, dep.condition) {
                (TaskState::Exited, _) => {}
                (TaskState::Failed, _) => {
                    return DepStatus::Never(FailReason::DependencyFailed {
                        dependency: dep.task.clone(),
                    });
                }
                // A dependent of a BLOCKED task waits for it to be approved.
                (TaskState::Blocked, _) => waiting.push(format!("approval of {}", dep.task)),
                (TaskState::Stopped, _) => {
                    return DepStatus::Never(FailReason::DependencyStopped {
                        dependency: dep.task.clone(),
                    });
                }
                (s, Condition::Started) if s.is_running() => {}
                (TaskState::Up, Condition::Healthy) => {}
                (_, cond) => waiting.push(format!(
                    "{} {}",
                    dep.task,
                    match cond {
                        Condition::Started => "started",
                        Condition::Healthy => "healthy",
                        Condition::Completed => "completed",
                    }
                )),
            }
        }
        if waiting.is_empty() {
            DepStatus::Ready
        } else {
            DepStatus::Wait(waiting.join(", "))
        }
    }

    /// Start slot `i` now: a destructive task passes its gate first (an approval, then
    /// its checkpoint). `fresh`: the log starts empty (a start after a stop, not a
    /// restart).
    pub(super) fn begin_start(&mut self, i: TaskId, fresh: bool) {
        let task = self.slots[i].task.clone();
        if !task.destructive {
            self.spawn(i, fresh, None);
            return;
        }
        // Each approval serves one run; pre-flight failing gives it back.
        let Some(approval) = self.approvals.remove(&task.name) else {
            self.set_phase(i, Phase::Blocked, "");
            return;
        };
        if task.checkpoint.is_none() {
            self.spawn(i, fresh, Some(approval));
            return;
        }
        let attempt = self.next_run();
        self.slots[i].last_run = Some(attempt);
        self.set_phase(
            i,
            Phase::Checkpointing {
                attempt,
                since: self.now,
                fresh,
                approval: approval.clone(),
                end: None,
            },
            "",
        );
        self.emit(Effect::Checkpoint {
            task: i,
            attempt,
            fresh,
            approval,
        });
        self.arm(
            i,
            super::event::TimerKind::CheckpointTimeout,
            self.now + task.checkpoint_timeout,
        );
    }

    /// Ask for a run of slot `i`, past every gate.
    pub(super) fn spawn(&mut self, i: TaskId, fresh: bool, approval: Option<String>) {
        let run = self.next_run();
        self.slots[i].last_run = Some(run);
        self.set_phase(
            i,
            Phase::Spawning {
                run,
                approval: approval.clone(),
            },
            "",
        );
        self.emit(Effect::Spawn {
            task: i,
            run,
            fresh,
            approval,
        });
    }

    /// A task that waited (dependencies, backoff) is stopped by the user or a shutdown.
    pub(super) fn stop_idle(&mut self, i: TaskId, detail: StopDetail) {
        self.set_phase(i, Phase::Stopped(detail), "");
    }
}
