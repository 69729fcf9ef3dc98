//! Events about runs: spawned or not, probe results, exits, checkpoints, and the
//! timers of the core (backoff, the UP of a probe-less task, the watch debounce).
//! docs/behaviour.md#restarts, docs/behaviour.md#health-checks.

use std::path::PathBuf;
use std::time::Duration;

use super::effect::Level;
use super::effect::{Audit, Effect, StopWhy};
use super::event::{CheckpointResult, TaskId, Timer, TimerKind};
use super::exit::ExitInfo;
use super::machine::{Core, Mode};
use super::phase::{
    CheckpointEnd, Degraded, Health, Phase, RunId, Running, StopDetail, StopIntent,
};
use super::policy::{self, AfterExit, Cause, HealthChange, HealthTracker, NO_PROBE_UP_AFTER};
use super::reason::FailReason;
use crate::limits::LimitHit;
use crate::manifest::{OnLimit, RestartPolicy};

/// Quiet time after the last change of a watched file before the restart.
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(300);

impl Core {
    pub(super) fn on_spawn_failed(&mut self, i: TaskId, run: RunId, reason: FailReason) {
        let approval = match &self.slots[i].phase {
            Phase::Spawning { run: r, approval } if *r == run => approval.clone(),
            Phase::Checkpointing {
                attempt, approval, ..
            } if *attempt == run => Some(approval.clone()),
            _ => return,
        };
        // A task that never got past pre-flight did not use its approval.
        if let (Some(how), FailReason::Preflight { .. }) = (approval, &reason) {
            let name = self.slots[i].task.name.clone();
            self.approvals.insert(name, how);
        }
        self.set_phase(i, Phase::Failed(reason), "");
        self.after_change();
    }

    pub(super) fn on_spawned(&mut self, i: TaskId, run: RunId, pid: i32) {
        if !matches!(self.slots[i].phase, Phase::Spawning { run: r, .. } if r == run) {
            return;
        }
        let running = Running {
            run,
            pid,
            since: self.now,
            health: Health::Starting,
            probes: HealthTracker::default(),
            last_probe: None,
            stop: None,
        };
        self.set_phase(i, Phase::Running(running), "");
        // Without a probe it is UP then; with one, a waiting second `up` may be answered
        // then (a run alive for a second has settled).
        self.arm(i, TimerKind::UpAfter, self.now + NO_PROBE_UP_AFTER);
        if self.mode != Mode::Serving {
            // A shutdown began while it was being spawned.
            self.advance_shutdown();
        }
        self.schedule();
    }

    pub(super) fn on_exit(&mut self, i: TaskId, run: RunId, exit: ExitInfo) {
        if matches!(self.slots[i].phase, Phase::Checkpointing { attempt, .. } if attempt == run) {
            self.on_checkpoint_exit(i, exit);
            return;
        }
        let Phase::Running(r) = &self.slots[i].phase else {
            return;
        };
        if r.run != run {
            return;
        }
        let (stop, since) = (r.stop.clone(), r.since);
        let ran_for = self.now.saturating_duration_since(since);
        let task = self.slots[i].task.clone();
        self.slots[i].last_exit = Some(exit);
        if task.destructive {
            self.emit(Effect::Audit(Audit::Result {
                task: i,
                exit,
                ran_for,
            }));
        }
        if self.opts.exit_code_from.as_deref() == Some(task.name.as_str())
            && self.exit_code_from.is_none()
        {
            self.exit_code_from = Some(exit.shell_code());
        }
        let serving = self.mode == Mode::Serving;
        match stop {
            Some(StopIntent::Recover { after, cause }) if serving => match after {
                AfterExit::Restart { delay } => self.backoff(i, delay, &cause.describe()),
                AfterExit::Exited => self.set_phase(i, Phase::Exited, ""),
                AfterExit::Failed(reason) => self.set_phase(i, Phase::Failed(reason), ""),
            },
            Some(StopIntent::Restart) if serving => {
                self.say(
                    Level::Info,
                    format!("{}: {} — restarting", task.name, exit.describe()),
                );
                self.begin_start(i, false);
            }
            Some(_) => self.stopped(i, exit, ran_for),
            None if !serving => self.stopped(i, exit, ran_for),
            None => {
                let how = format!(
                    "{} after {}",
                    exit.describe(),
                    crate::clock::short_duration(ran_for)
                );
                let decision = policy::after_exit(
                    &task,
                    &mut self.slots[i].tracker,
                    Cause::Exit(exit),
                    ran_for,
                    self.now,
                );
                match decision {
                    AfterExit::Restart { delay } => self.backoff(i, delay, &how),
                    AfterExit::Exited => self.set_phase(i, Phase::Exited, &format!(" — {how}")),
                    AfterExit::Failed(reason) => self.set_phase(i, Phase::Failed(reason), ""),
                }
                let ends_all = self.opts.abort_on_exit
                    || self.opts.exit_code_from.as_deref() == Some(task.name.as_str());
                if ends_all {
                    self.say(
                        Level::Info,
                        format!(
                            "{} exited: stopping everything (--abort-on-exit)",
                            task.name
                        ),
                    );
                    self.begin_shutdown();
                }
            }
        }
        self.after_change();
    }

    /// The run of a task the supervisor stopped has ended.
    fn stopped(&mut self, i: TaskId, exit: ExitInfo, ran_for: Duration) {
        self.set_phase(i, Phase::Stopped(StopDetail::Ended(exit.describe())), "");
        self.emit(Effect::StopReceipt {
            task: i,
            exit,
            ran_for,
        });
    }

    /// Whatever a finished run or start attempt unblocks: the next shutdown step, the
    /// next named stop, the tasks that waited for it.
    pub(super) fn after_change(&mut self) {
        if self.mode != Mode::Serving {
            self.advance_shutdown();
        } else {
            self.advance_named_stops();
            self.schedule();
        }
    }

    /// Wait out `delay`, then start again.
    pub(super) fn backoff(&mut self, i: TaskId, delay: Duration, why: &str) {
        let until = self.now + delay;
        let n = self.slots[i].tracker.total;
        self.set_phase(
            i,
            Phase::Backoff { until, delay },
            &format!(
                " — {why}; restart #{n} in {}",
                crate::clock::short_duration(delay)
            ),
        );
        self.arm(i, TimerKind::Restart, until);
    }

    pub(super) fn on_probe(&mut self, i: TaskId, run: RunId, ok: bool, detail: String) {
        let task = self.slots[i].task.clone();
        let Some(health) = &task.health else { return };
        let now = self.now;
        let Phase::Running(r) = &mut self.slots[i].phase else {
            return;
        };
        if r.run != run || r.stop.is_some() {
            return;
        }
        let ran_for = now.saturating_duration_since(r.since);
        r.last_probe = Some((ok, detail.clone()));
        let change = policy::on_probe(
            health.retries,
            &mut r.probes,
            ok,
            ran_for < health.start_period,
        );
        let failures = r.probes.failures;
        let mut next = r.clone();
        match change {
            HealthChange::Unchanged => {}
            HealthChange::Up => {
                if next.health != Health::Up {
                    next.health = Health::Up;
                    self.set_phase(i, Phase::Running(next), &format!(" — healthy ({detail})"));
                    self.schedule();
                }
            }
            HealthChange::Degraded => {
                next.health = Health::Degraded(Degraded::Probe {
                    detail,
                    failures,
                    retries: health.retries,
                });
                self.set_phase(i, Phase::Running(next), "");
            }
            HealthChange::Down => {
                if matches!(next.health, Health::Down { .. }) {
                    return;
                }
                next.health = Health::Down { detail, failures };
                let decision = policy::after_exit(
                    &task,
                    &mut self.slots[i].tracker,
                    Cause::Down,
                    ran_for,
                    now,
                );
                if !matches!(decision, AfterExit::Restart { .. })
                    && task.restart == RestartPolicy::Never
                {
                    // No restart policy: it stays DOWN and keeps running.
                    self.set_phase(i, Phase::Running(next), "");
                    return;
                }
                self.stop_to_recover(i, next, decision, Cause::Down, StopWhy::HealthDown);
            }
        }
    }

    pub(super) fn on_port_check(&mut self, i: TaskId, run: RunId, unbound: Option<u16>) {
        let Phase::Running(r) = &self.slots[i].phase else {
            return;
        };
        if r.run != run || r.stop.is_some() {
            return;
        }
        let mut next = r.clone();
        match unbound {
            Some(port) => {
                let health = Health::Degraded(Degraded::PortUnbound(port));
                if next.health != health {
                    next.health = health;
                    self.set_phase(i, Phase::Running(next), "");
                }
            }
            None => {
                if matches!(next.health, Health::Degraded(Degraded::PortUnbound(_))) {
                    next.health = Health::Up;
                    self.set_phase(i, Phase::Running(next), " — ports bound");
                }
            }
        }
    }

    pub(super) fn on_log_error(&mut self, i: TaskId, run: RunId, message: String) {
        let name = self.slots[i].task.name.clone();
        self.say(Level::Warn, format!("{name}: log write failed: {message}"));
        if let Phase::Running(r) = &self.slots[i].phase {
            if r.run != run {
                return;
            }
            let mut next = r.clone();
            next.health = Health::Degraded(Degraded::LogWrite(message));
            self.set_phase(i, Phase::Running(next), "");
        }
    }

    /// Run `run` went over a limit: act as the task's `on_limit` says
    /// (docs/behaviour.md#resource-limits). Always said, like an error.
    pub(super) fn on_limit(&mut self, i: TaskId, run: RunId, hit: LimitHit) {
        let Phase::Running(r) = &self.slots[i].phase else {
            return;
        };
        if r.run != run || r.stop.is_some() {
            return;
        }
        let next = r.clone();
        let ran_for = self.now.saturating_duration_since(r.since);
        let task = self.slots[i].task.clone();
        let action = hit.action(&task.limits);
        let name = &task.name;
        let after = match action {
            OnLimit::Warn => {
                self.say(Level::Warn, format!("{name}: {hit} (on_limit: warn)"));
                return;
            }
            OnLimit::Stop => AfterExit::Failed(FailReason::Limit { hit }),
            OnLimit::Restart => policy::after_exit(
                &task,
                &mut self.slots[i].tracker,
                Cause::Limit(hit),
                ran_for,
                self.now,
            ),
        };
        let doing = match &after {
            AfterExit::Restart { .. } => "restarting it",
            _ => "stopping it",
        };
        self.say(
            Level::Error,
            format!("{name}: {hit} — {doing} (on_limit: {})", action.as_str()),
        );
        self.stop_to_recover(i, next, after, Cause::Limit(hit), StopWhy::Limit);
    }

    /// Stop the live run `next` of task `i` because of `cause`; `after` (what the
    /// restart policy decided) follows once it has ended.
    fn stop_to_recover(
        &mut self,
        i: TaskId,
        mut next: Running,
        after: AfterExit,
        cause: Cause,
        why: StopWhy,
    ) {
        let task = self.slots[i].task.clone();
        let run = next.run;
        next.stop = Some(StopIntent::Recover { after, cause });
        self.set_phase(i, Phase::Running(next), "");
        self.emit(Effect::Stop {
            task: i,
            run,
            signal: task.stop_signal,
            grace: task.stop_timeout,
            why,
        });
    }

    /// The checkpoint run `attempt` ended: start the task if it passed, unless it was
    /// ended early (a stop, a shutdown, its timeout).
    fn on_checkpoint_exit(&mut self, i: TaskId, exit: ExitInfo) {
        let Phase::Checkpointing { since, end, .. } = &self.slots[i].phase else {
            return;
        };
        let (since, end) = (*since, end.clone());
        let task = self.slots[i].task.clone();
        let result = CheckpointResult {
            exit: Some(exit),
            timed_out: end == Some(CheckpointEnd::TimedOut),
            took: self.now.saturating_duration_since(since),
        };
        self.emit(Effect::Audit(Audit::Checkpoint {
            task: i,
            result: result.clone(),
        }));
        match end {
            Some(CheckpointEnd::Cancelled(detail)) => {
                self.set_phase(i, Phase::Stopped(detail), "");
            }
            _ if self.mode != Mode::Serving => {
                self.set_phase(i, Phase::Stopped(StopDetail::BeforeCheckpoint), "");
            }
            Some(CheckpointEnd::TimedOut) => {
                let why = format!(
                    "timed out after {}",
                    crate::clock::short_duration(task.checkpoint_timeout)
                );
                self.set_phase(i, Phase::Failed(FailReason::Checkpoint { why }), "");
            }
            // Not fresh: the log already holds the checkpoint's output.
            None if result.passed() => self.spawn(i, false, None),
            None => {
                let why = exit.describe();
                self.set_phase(i, Phase::Failed(FailReason::Checkpoint { why }), "");
            }
        }
        self.after_change();
    }

    pub(super) fn on_timer(&mut self, t: Timer) {
        let Some(slot) = self.slots.get(t.task) else {
            return;
        };
        match t.kind {
            TimerKind::Restart => {
                if slot.epoch == t.epoch
                    && matches!(slot.phase, Phase::Backoff { .. })
                    && self.mode == Mode::Serving
                {
                    self.begin_start(t.task, false);
                    self.schedule();
                }
            }
            TimerKind::UpAfter => {
                if let (true, Phase::Running(r)) = (slot.epoch == t.epoch, &slot.phase) {
                    if slot.task.health.is_none()
                        && r.health == Health::Starting
                        && r.stop.is_none()
                    {
                        let mut next = r.clone();
                        next.health = Health::Up;
                        self.set_phase(t.task, Phase::Running(next), "");
                        self.schedule();
                    }
                }
            }
            TimerKind::Watch => {
                if slot.watch_generation == t.epoch {
                    self.on_watch_due(t.task);
                }
            }
            TimerKind::CheckpointTimeout => {
                let task = t.task;
                if let (true, Phase::Checkpointing { attempt, end, .. }) =
                    (slot.epoch == t.epoch, &mut self.slots[task].phase)
                {
                    if end.is_none() {
                        *end = Some(CheckpointEnd::TimedOut);
                        let run = *attempt;
                        self.emit(Effect::Kill { task, run });
                    }
                }
            }
        }
    }

    pub(super) fn on_file_changed(&mut self, i: TaskId, path: PathBuf) {
        if self.mode != Mode::Serving || !self.slots[i].is_live() {
            return;
        }
        let slot = &mut self.slots[i];
        slot.changed = Some(path);
        slot.watch_generation += 1;
        self.arm(i, TimerKind::Watch, self.now + WATCH_DEBOUNCE);
    }

    /// The debounce after a watched file changed is over: restart the task (a
    /// destructive task never has a watcher).
    fn on_watch_due(&mut self, i: TaskId) {
        if self.mode != Mode::Serving || !self.slots[i].is_live() {
            return;
        }
        let Some(path) = self.slots[i].changed.take() else {
            return;
        };
        let name = self.slots[i].task.name.clone();
        match &self.slots[i].phase {
            Phase::Running(_) => {
                self.say(
                    Level::Info,
                    format!("{name}: {} changed — restarting", path.display()),
                );
                self.restart_task(i);
            }
            Phase::Exited | Phase::Failed(_) if self.slots[i].is_selected() => {
                self.say(
                    Level::Info,
                    format!("{name}: {} changed — starting again", path.display()),
                );
                self.slots[i].tracker = Default::default();
                self.begin_start(i, false);
                self.schedule();
            }
            _ => {}
        }
    }
}
