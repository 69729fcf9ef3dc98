//! Requests from the control socket (`down`, `restart`, a second `up` or SIGHUP), and
//! the waiters that answer them once their tasks got where they asked.
//! docs/behaviour.md#control-commands.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::effect::Effect;
use super::effect::Level;
use super::event::{Request, TaskId, WaiterId};
use super::machine::{Core, Member, Mode, TaskSlot, Until, Waiter};
use super::origin::Origin;
use super::phase::{Health, Phase};
use super::policy::NO_PROBE_UP_AFTER;
use crate::manifest::Task;

impl Core {
    pub(super) fn on_request(&mut self, request: Request) {
        match request {
            Request::Down {
                waiter,
                tasks: None,
                signal,
            } => {
                let all = self.live();
                if let Some(sig) = signal {
                    self.stop_signals.extend(all.iter().map(|&i| (i, sig)));
                }
                self.park(waiter, all, Until::Stopped, vec![]);
                if self.mode == Mode::Serving {
                    self.say(Level::Info, "bts down: stopping all tasks".into());
                    self.begin_shutdown();
                }
            }
            Request::Down {
                waiter,
                tasks: Some(tasks),
                signal,
            } => {
                if let Some(sig) = signal {
                    self.stop_signals.extend(tasks.iter().map(|&i| (i, sig)));
                }
                // Dependents among them stop first: queue them all and let each stop
                // once what depends on it has stopped.
                if self.mode == Mode::Serving {
                    self.pending_stops.extend(tasks.iter().copied());
                    self.advance_named_stops();
                }
                self.park(waiter, tasks, Until::Stopped, vec![]);
            }
            Request::Restart {
                waiter,
                tasks,
                approval,
                wait,
            } => {
                let since = self.runs_of(&tasks);
                let mut messages = vec![];
                for &i in &tasks {
                    if let (true, Some(how)) = (self.slots[i].task.destructive, &approval) {
                        self.approvals
                            .insert(self.slots[i].task.name.clone(), how.clone());
                    }
                    messages.push(self.restart_task(i));
                }
                let until = if wait { Until::Up } else { Until::Started };
                self.park_since(waiter, tasks, since, until, messages);
            }
            Request::Add {
                waiter,
                task,
                wait,
                approval,
            } => {
                let name = task.name.clone();
                if let (true, Some(how)) = (task.destructive, approval) {
                    self.approvals.insert(name.clone(), how);
                }
                let (i, since) = match self.find(&name) {
                    Some(i) => {
                        let since = self.slots[i].last_run;
                        self.slots[i].task = Arc::new(*task);
                        self.slots[i].origin = Origin::Adhoc;
                        self.restart_task(i);
                        (i, since)
                    }
                    None => {
                        let mut slot = TaskSlot::new_for(&task, Member::Selected);
                        slot.origin = Origin::Adhoc;
                        self.slots.push(slot);
                        let i = self.slots.len() - 1;
                        self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                        self.schedule();
                        (i, None)
                    }
                };
                if let Some(waiter) = waiter {
                    let until = if wait { Until::Up } else { Until::Started };
                    self.park_since(waiter, vec![i], vec![since], until, vec![]);
                }
            }
            Request::Reload {
                waiter,
                tasks,
                selected,
                full,
                approvals,
            } => {
                let before: Vec<_> = self.slots.iter().map(|s| s.last_run).collect();
                for (task, how) in approvals {
                    self.approvals.insert(task, how);
                }
                let (mut messages, mut asked) = self.reconcile(&tasks, &selected, full);
                // A BLOCKED task that has just been approved starts, selected or not.
                for i in 0..self.slots.len() {
                    let s = &self.slots[i];
                    if s.is_live()
                        && s.phase == Phase::Blocked
                        && self.approvals.contains_key(&s.task.name)
                    {
                        messages.push(format!("starting {} (approved)", s.task.name));
                        asked.push(i);
                        self.slots[i].member = Member::Selected;
                        self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                    }
                }
                for m in &messages {
                    self.say(Level::Info, format!("reload: {m}"));
                }
                if messages.is_empty() {
                    messages.push("nothing to do: every task is up to date".into());
                }
                self.schedule();
                if let Some(waiter) = waiter {
                    let since = asked
                        .iter()
                        .map(|&i| before.get(i).copied().flatten())
                        .collect();
                    self.park_since(waiter, asked, since, Until::Settled, messages);
                }
            }
        }
    }

    /// Bring the tasks to `tasks`: with `full`, start missing tasks, restart changed
    /// ones, stop removed ones and leave the rest alone; without, only add the selected
    /// tasks. Returns its messages and the tasks it was asked to start.
    fn reconcile(
        &mut self,
        tasks: &[Task],
        selected: &BTreeSet<String>,
        full: bool,
    ) -> (Vec<String>, Vec<TaskId>) {
        let mut messages = vec![];
        let mut asked = vec![];
        if full {
            for i in 0..self.slots.len() {
                // Ad-hoc tasks are not the manifest's to remove.
                if !self.slots[i].is_live()
                    || self.slots[i].origin == Origin::Adhoc
                    || tasks.iter().any(|t| t.name == self.slots[i].task.name)
                {
                    continue;
                }
                let name = self.slots[i].task.name.clone();
                self.stop_task(i);
                self.pending_stops.remove(&i);
                self.slots[i].member = Member::Removed;
                messages.push(format!("stopped {name} (removed from the manifest)"));
            }
        }
        for t in tasks {
            let wanted = selected.contains(&t.name);
            let Some(i) = self.find(&t.name) else {
                let member = if wanted {
                    Member::Selected
                } else {
                    Member::Idle
                };
                self.slots.push(TaskSlot::new_for(t, member));
                if wanted {
                    let i = self.slots.len() - 1;
                    self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                    messages.push(format!("starting {} (new)", t.name));
                    asked.push(i);
                }
                continue;
            };
            let changed = !self.slots[i].task.same_definition(t);
            // A bts.yaml task of this name is the manifest's from now on (a task saved
            // with `bts run --save`, or one the manifest took over).
            self.slots[i].origin = Origin::Manifest;
            if changed && full {
                self.slots[i].task = Arc::new(t.clone());
                if t.destructive && matches!(self.slots[i].phase, Phase::Running(_)) {
                    // A reload never restarts a destructive task: the new definition
                    // is used from its next approved run.
                    messages.push(format!(
                        "{} changed: not restarted (destructive; `bts restart {} --yes` applies it)",
                        t.name, t.name
                    ));
                    continue;
                }
                if matches!(self.slots[i].phase, Phase::Running(_)) {
                    self.restart_task(i);
                    messages.push(format!("restarting {} (definition changed)", t.name));
                    asked.push(i);
                    continue;
                }
            }
            if wanted {
                self.slots[i].member = Member::Selected;
                let startable = matches!(
                    self.slots[i].phase,
                    Phase::Stopped(_) | Phase::Failed(_) | Phase::Blocked
                );
                if startable {
                    self.set_phase(i, Phase::Waiting { on: String::new() }, "");
                    messages.push(format!("starting {}", t.name));
                    asked.push(i);
                }
            }
        }
        (messages, asked)
    }

    fn live(&self) -> Vec<TaskId> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_live())
            .collect()
    }

    fn runs_of(&self, tasks: &[TaskId]) -> Vec<Option<super::phase::RunId>> {
        tasks.iter().map(|&i| self.slots[i].last_run).collect()
    }

    fn park(&mut self, id: WaiterId, tasks: Vec<TaskId>, until: Until, messages: Vec<String>) {
        let since = self.runs_of(&tasks);
        self.park_since(id, tasks, since, until, messages);
    }

    fn park_since(
        &mut self,
        id: WaiterId,
        tasks: Vec<TaskId>,
        since: Vec<Option<super::phase::RunId>>,
        until: Until,
        messages: Vec<String>,
    ) {
        self.waiters.push(Waiter {
            id,
            tasks,
            since,
            until,
            messages,
        });
    }

    /// Answer every waiter whose tasks have reached what it waits for.
    pub(super) fn check_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let done = w
                .tasks
                .iter()
                .zip(&w.since)
                .all(|(&t, since)| self.reached(t, *since, w.until));
            if done {
                let w = self.waiters.swap_remove(i);
                self.answer(w);
            } else {
                i += 1;
            }
        }
    }

    fn reached(&self, t: TaskId, since: Option<super::phase::RunId>, until: Until) -> bool {
        let s = &self.slots[t];
        let state = s.state();
        let ended = !s.phase.is_busy() && state.is_final();
        let new_run = s.last_run > since;
        let waiting = matches!(s.phase, Phase::Waiting { .. });
        match until {
            Until::Stopped => !s.phase.is_busy() && !matches!(s.phase, Phase::Waiting { .. }),
            Until::Started => (new_run && s.phase.is_running_unstopped()) || ended || waiting,
            Until::Up => {
                (new_run && matches!(&s.phase, Phase::Running(r) if r.health == Health::Up))
                    || ended
            }
            Until::Settled => {
                ended
                    || waiting
                    || new_run
                        && matches!(&s.phase, Phase::Running(r) if r.stop.is_none()
                            && (r.health != Health::Starting
                                || self.now.saturating_duration_since(r.since) >= NO_PROBE_UP_AFTER))
            }
        }
    }

    fn answer(&mut self, w: Waiter) {
        let failed =
            w.until != Until::Stopped && w.tasks.iter().any(|&t| self.slots[t].state().is_bad());
        self.emit(Effect::Answer {
            waiter: w.id,
            tasks: w.tasks,
            messages: w.messages,
            failed,
        });
    }

    /// The supervisor exits: answer everyone still waiting.
    pub fn finish_waiters(&mut self) -> Vec<Effect> {
        for w in std::mem::take(&mut self.waiters) {
            self.answer(w);
        }
        std::mem::take(&mut self.out)
    }
}
