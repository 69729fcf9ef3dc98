//! Carrying out the core's effects that are not about spawning: signals to runs, timers,
//! state lines, audit records, stop receipts and answers.

use crate::lifecycle::{Audit, Effect, StopWhy, TaskState};
use crate::output::Level;
use crate::process::unix::signal_name;
use crate::runner::Control;

use super::executor::Supervisor;

impl Supervisor {
    pub(super) fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Spawn {
                task,
                run,
                fresh,
                approval,
            } => self.spawn(task, run, fresh, approval),
            Effect::Checkpoint {
                task,
                attempt,
                fresh,
                approval,
            } => self.start_checkpoint(task, attempt, fresh, approval),
            Effect::Stop {
                task,
                run,
                signal,
                grace,
                why,
            } => {
                self.stopping.push(task);
                let name = self.core.slot(task).task.name.clone();
                let Some(r) = self.handles[task].run.as_ref().filter(|r| r.id == run) else {
                    return;
                };
                let _ = r.control.send(Control::Stop {
                    signal,
                    timeout: grace,
                });
                let pid = r.pid;
                match why {
                    StopWhy::Shutdown => self.out.event(
                        Level::Info,
                        &format!(
                            "{name}: stopping (pid {pid}, {}; SIGKILL after {})",
                            signal_name(signal),
                            crate::clock::short_duration(grace)
                        ),
                    ),
                    StopWhy::User => self.out.event(
                        Level::Info,
                        &format!("{name}: stopping (pid {pid}, {})", signal_name(signal)),
                    ),
                    StopWhy::Restart | StopWhy::HealthDown | StopWhy::Limit => {}
                }
            }
            Effect::Kill { task, run } => {
                if let Some(r) = self.handles[task].run.as_ref().filter(|r| r.id == run) {
                    let _ = r.control.send(Control::Kill);
                }
            }
            Effect::Arm { at, timer } => self.arm(at, timer),
            Effect::State {
                task,
                to,
                detail,
                note,
                quiet,
                ..
            } => self.state_changed(task, to, &detail, &note, quiet),
            Effect::Say { level, text } => self.out.event(level, &text),
            Effect::Audit(a) => self.audit(a),
            Effect::StopReceipt {
                task,
                exit,
                ran_for,
            } => self.stop_receipt(task, exit, ran_for),
            Effect::Answer {
                waiter,
                tasks,
                messages,
                failed,
            } => self.answer(waiter, &tasks, messages, failed),
        }
    }

    fn state_changed(&mut self, task: usize, to: TaskState, detail: &str, note: &str, quiet: bool) {
        self.dirty = true;
        let name = self.core.slot(task).task.name.clone();
        let red = self.out.redactor();
        // events.jsonl records where a task went, not every step on the way: PENDING is
        // a wait, and `from` is the state last recorded.
        if to != TaskState::Pending {
            let recorded = std::mem::replace(&mut self.handles[task].recorded, to);
            self.events.record(
                "state",
                serde_json::json!({ "task": name, "from": recorded.as_str(), "to": to.as_str(), "detail": detail }),
                &red,
            );
        }

        if quiet {
            return;
        }
        let level = match to {
            TaskState::Failed => Level::Error,
            TaskState::Restarting | TaskState::Degraded | TaskState::Down | TaskState::Blocked => {
                Level::Warn
            }
            _ => Level::Info,
        };
        let shown = if detail.is_empty() || to == TaskState::Restarting {
            String::new()
        } else {
            format!(" — {detail}")
        };
        self.out.state_event(
            level,
            &format!("{name}: {}{shown}{note}", to.as_str()),
            &name,
            to.as_str(),
        );
        if to == TaskState::Failed && crate::annotate::enabled() {
            let lines = crate::logs::tail::last_lines(&self.state_dir.log_path(&name), 20);
            let text = crate::annotate::failure(&name, &format!("FAILED: {detail}"), &lines);
            self.out
                .term
                .push_event(red.redact_str(&text).into_owned().into_bytes());
        }
    }

    fn audit(&mut self, a: Audit) {
        let red = self.out.redactor();
        match a {
            Audit::Checkpoint { task, result } => {
                let t = self.core.slot(task).task.clone();
                self.audit.record(
                    "checkpoint",
                    serde_json::json!({
                        "task": t.name,
                        "command": t.checkpoint,
                        "exit_code": result.exit.and_then(|e| e.code),
                        "timed_out": result.timed_out,
                        "duration_ms": result.took.as_millis() as u64,
                    }),
                    &red,
                );
            }
            Audit::Result {
                task,
                exit,
                ran_for,
            } => {
                let name = self.core.slot(task).task.name.clone();
                self.audit.record(
                    "result",
                    serde_json::json!({
                        "task": name,
                        "exit_code": exit.code,
                        "signal": exit.signal.map(signal_name),
                        "runtime_ms": ran_for.as_millis() as u64,
                    }),
                    &red,
                );
            }
        }
    }
}
