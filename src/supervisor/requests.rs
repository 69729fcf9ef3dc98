//! Requests from the control socket: status, restart, down, and the reconcile of a second
//! `bts up` (or SIGHUP). Requests that complete later (a stop, a restart) park a
//! [`Waiter`] that the dispatcher checks after every message.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{common_env, Slot, Supervisor};
use crate::control::protocol::{Request, Response};
use crate::control::server::Incoming;
use crate::errors::exit;
use crate::manifest::{self, Manifest};
use crate::output::Level;
use crate::runner::Control;
use crate::task::State;

pub(crate) struct Waiter {
    pub tasks: Vec<usize>,
    /// Each task's run counter when the request came: STARTING and UP only count for a
    /// later run (a restart must not be answered by the run it replaces).
    pub seqs: Vec<u64>,
    pub until: Until,
    pub reply: Option<oneshot::Sender<Response>>,
    pub receipts: Vec<crate::receipt::StopReceipt>,
    pub messages: Vec<String>,
}

/// What a reload did: its messages, and the tasks it was asked to start with their run
/// counters from before.
pub(super) struct Reloaded {
    pub messages: Vec<String>,
    pub asked: Vec<usize>,
    pub seqs: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// No process left and a final state.
    Stopped,
    /// Running (STARTING or later) or failed.
    Started,
    /// UP, or a final state.
    Up,
    /// Past its start: final, PENDING on dependencies, or running for a new run that
    /// is UP (or alive for a second).
    Settled,
}

impl Supervisor {
    pub(super) fn on_request(&mut self, inc: Incoming) {
        let Incoming { request, reply } = inc;
        match request {
            Request::Status { tasks } => {
                let r = match self.resolve(&tasks) {
                    Ok(idx) => Response {
                        ok: true,
                        project: self.project.clone(),
                        tasks: idx.iter().map(|&i| self.digest(i)).collect(),
                        ..Default::default()
                    },
                    Err(e) => *e,
                };
                let _ = reply.send(r);
            }
            Request::Down { tasks } => {
                if tasks.is_empty() {
                    let all: Vec<usize> = (0..self.slots.len())
                        .filter(|&i| !self.slots[i].removed)
                        .collect();
                    self.park(all, Until::Stopped, reply, vec![]);
                    if !self.shutting_down {
                        self.out.event(Level::Info, "bts down: stopping all tasks");
                        self.begin_shutdown();
                    }
                    return;
                }
                match self.resolve(&tasks) {
                    Ok(idx) => {
                        // Dependents among them stop first (SPEC section 3): queue them
                        // all and let each stop once what depends on it has stopped.
                        self.pending_stops.extend(idx.iter().copied());
                        self.advance_named_stops();
                        self.park(idx, Until::Stopped, reply, vec![]);
                    }
                    Err(e) => {
                        let _ = reply.send(*e);
                    }
                }
            }
            Request::Restart {
                tasks,
                wait,
                confirm,
                yes,
            } => match self.resolve(&tasks) {
                Ok(idx) => {
                    // A destructive task needs a fresh approval for every run.
                    let unapproved: Vec<String> = idx
                        .iter()
                        .map(|&i| &self.slots[i].task)
                        .filter(|t| t.destructive && !yes && !confirm.contains(&t.name))
                        .map(|t| t.name.clone())
                        .collect();
                    if let Some(first) = unapproved.first() {
                        let mut r = Response::error(
                            format!(
                                "`{}` is destructive: restarting it needs approval",
                                unapproved.join("`, `")
                            ),
                            Some(format!("bts restart {first} --confirm {first}")),
                        );
                        r.code = exit::FAILURE;
                        let _ = reply.send(r);
                        return;
                    }
                    let mut messages = vec![];
                    let seqs: Vec<u64> = idx.iter().map(|&i| self.slots[i].seq).collect();
                    for &i in &idx {
                        if self.slots[i].task.destructive {
                            let how = if yes {
                                "restart --yes"
                            } else {
                                "restart --confirm"
                            };
                            self.approvals
                                .insert(self.slots[i].task.name.clone(), how.into());
                        }
                        messages.push(self.restart_task(i));
                    }
                    let until = if wait { Until::Up } else { Until::Started };
                    self.park_since(idx, seqs, until, reply, messages);
                }
                Err(e) => {
                    let _ = reply.send(*e);
                }
            },
            Request::ArchiveLogs { tasks } => match self.resolve(&tasks) {
                Ok(idx) => self.archive_logs(idx, reply),
                Err(e) => {
                    let _ = reply.send(*e);
                }
            },
            Request::Up {
                manifest,
                tasks,
                confirm,
                yes,
            } => {
                // Answered once the tasks it started have settled, so a task that fails
                // at once makes the second `up` exit 1.
                match self.reload(&manifest, &tasks, &confirm, yes) {
                    Ok(Reloaded {
                        messages,
                        asked,
                        seqs,
                    }) => self.park_since(asked, seqs, Until::Settled, reply, messages),
                    Err(r) => {
                        let _ = reply.send(*r);
                    }
                }
            }
        }
    }

    /// `bts archive-logs`: running tasks archive in their runner (between batches);
    /// the others right here. Answered once every archive is written.
    fn archive_logs(&mut self, idx: Vec<usize>, reply: oneshot::Sender<Response>) {
        let mut pending = vec![];
        let mut messages = vec![];
        let mut failed = false;
        for i in idx {
            let name = self.slots[i].task.name.clone();
            let dest = self.archive_path(&name);
            if let Err(e) = std::fs::create_dir_all(self.state_dir.archive_dir()) {
                messages.push(format!("{name}: cannot create the archive dir: {e}"));
                failed = true;
                continue;
            }
            if let Some(r) = &self.slots[i].run {
                let (tx, rx) = oneshot::channel();
                if r.control.send(Control::Archive(dest.clone(), tx)).is_ok() {
                    pending.push((name, dest, rx));
                    continue;
                }
            }
            let result = match self.slots[i].sink.as_mut() {
                Some(sink) => sink.archive_to(&dest),
                None if self.state_dir.log_path(&name).exists() => {
                    crate::logs::writer::gzip_file(&self.state_dir.log_path(&name), &dest).and_then(
                        |_| std::fs::File::create(self.state_dir.log_path(&name)).map(drop),
                    )
                }
                None => Err(std::io::Error::other("no log yet")),
            };
            match result {
                Ok(()) => messages.push(dest.display().to_string()),
                Err(e) => {
                    failed = true;
                    messages.push(format!("{name}: {e}"));
                }
            }
        }
        let project = self.project.clone();
        tokio::spawn(async move {
            for (name, dest, rx) in pending {
                match rx.await {
                    Ok(Ok(())) => messages.push(dest.display().to_string()),
                    Ok(Err(e)) => {
                        failed = true;
                        messages.push(format!("{name}: {e}"));
                    }
                    Err(_) => {
                        failed = true;
                        messages.push(format!(
                            "{name}: the task stopped before its log was archived"
                        ));
                    }
                }
            }
            let _ = reply.send(Response {
                ok: true,
                project,
                messages,
                code: if failed { exit::FAILURE } else { exit::OK },
                ..Default::default()
            });
        });
    }

    fn park(
        &mut self,
        tasks: Vec<usize>,
        until: Until,
        reply: oneshot::Sender<Response>,
        messages: Vec<String>,
    ) {
        let seqs = tasks.iter().map(|&t| self.slots[t].seq).collect();
        self.park_since(tasks, seqs, until, reply, messages);
    }

    /// [`Self::park`] with the run counters to compare against taken earlier (before a
    /// restart began).
    fn park_since(
        &mut self,
        tasks: Vec<usize>,
        seqs: Vec<u64>,
        until: Until,
        reply: oneshot::Sender<Response>,
        messages: Vec<String>,
    ) {
        self.waiters.push(Waiter {
            tasks,
            seqs,
            until,
            reply: Some(reply),
            receipts: vec![],
            messages,
        });
        self.check_waiters();
    }

    /// Answer every waiter whose tasks have reached what it waits for.
    pub(super) fn check_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let done = w.tasks.iter().zip(&w.seqs).all(|(&t, &seq)| {
                let s = &self.slots[t];
                let ended = s.run.is_none() && s.state.is_final();
                let new_run = s.seq > seq;
                match w.until {
                    Until::Stopped => {
                        s.run.is_none()
                            && !matches!(s.state, State::Restarting { .. } | State::Pending { .. })
                    }
                    Until::Started => {
                        (new_run && s.run.is_some() && !s.stop_sent)
                            || ended
                            || matches!(s.state, State::Pending { .. }) && !s.checkpointing
                    }
                    Until::Up => (new_run && matches!(s.state, State::Up { .. })) || ended,
                    Until::Settled => {
                        ended
                            || matches!(s.state, State::Pending { .. }) && !s.checkpointing
                            || new_run
                                && !s.stop_sent
                                && s.run.as_ref().is_some_and(|r| {
                                    !matches!(s.state, State::Starting { .. })
                                        || r.started.elapsed() >= crate::task::NO_PROBE_UP_AFTER
                                })
                    }
                }
            });
            if done {
                let w = self.waiters.swap_remove(i);
                self.answer(w);
            } else {
                i += 1;
            }
        }
    }

    /// The supervisor is exiting: answer everyone still waiting.
    pub(super) fn finish_waiters(&mut self) {
        for w in std::mem::take(&mut self.waiters) {
            self.answer(w);
        }
    }

    fn answer(&self, mut w: Waiter) {
        let tasks: Vec<_> = w.tasks.iter().map(|&t| self.digest(t)).collect();
        let bad =
            w.until != Until::Stopped && w.tasks.iter().any(|&t| self.slots[t].state.is_bad());
        let r = Response {
            ok: true,
            project: self.project.clone(),
            tasks,
            messages: std::mem::take(&mut w.messages),
            receipts: std::mem::take(&mut w.receipts),
            code: if bad { exit::FAILURE } else { exit::OK },
            ..Default::default()
        };
        if let Some(reply) = w.reply.take() {
            let _ = reply.send(r);
        }
    }

    /// Slots matching names or globs; an unknown one is an error naming the known tasks.
    fn resolve(&self, patterns: &[String]) -> Result<Vec<usize>, Box<Response>> {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].removed)
            .collect();
        let names: Vec<&str> = live
            .iter()
            .map(|&i| self.slots[i].task.name.as_str())
            .collect();
        crate::selector::select(&names, patterns)
            .map(|hits| hits.into_iter().map(|k| live[k]).collect())
            .map_err(|e| Box::new(Response::error(e.to_string(), e.hint())))
    }

    /// Stop the queued tasks that no running queued task depends on; the others wait for
    /// the next exit.
    pub(super) fn advance_named_stops(&mut self) {
        if self.shutting_down {
            self.pending_stops.clear();
            return;
        }
        let queued: Vec<usize> = self.pending_stops.iter().copied().collect();
        for i in queued {
            let name = &self.slots[i].task.name;
            let waits = self.pending_stops.iter().any(|&j| {
                j != i
                    && self.slots[j].run.is_some()
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

    /// A user stop of one task: no restart follows.
    pub(super) fn stop_task(&mut self, i: usize) {
        self.track_escapees(Some(i));
        let task = Arc::clone(&self.slots[i].task);
        let slot = &mut self.slots[i];
        slot.restart_now = false;
        match &slot.run {
            Some(r) if !slot.stop_sent => {
                slot.stop_sent = true;
                let _ = r.control.send(Control::Stop {
                    signal: task.stop_signal,
                    timeout: task.stop_timeout,
                });
                let pid = r.pid;
                self.out.event(
                    Level::Info,
                    &format!(
                        "{}: stopping (pid {pid}, {})",
                        task.name,
                        crate::process::unix::signal_name(task.stop_signal)
                    ),
                );
            }
            Some(_) => {}
            None => {
                if matches!(slot.state, State::Pending { .. } | State::Restarting { .. }) {
                    slot.seq += 1;
                    self.set_state(
                        i,
                        State::Stopped {
                            detail: "stopped by the user".into(),
                        },
                        "",
                    );
                }
            }
        }
    }

    /// A user restart: stop, then start with the same definition (the log goes on).
    pub(super) fn restart_task(&mut self, i: usize) -> String {
        self.track_escapees(Some(i));
        let task = Arc::clone(&self.slots[i].task);
        self.slots[i].selected = true;
        // A restart asked for by a person (or a watch) starts a fresh crash-loop count:
        // "fix the cause, then restart" must get the task its retries back.
        self.slots[i].tracker = Default::default();
        let slot = &mut self.slots[i];
        if let Some(r) = &slot.run {
            slot.restart_now = true;
            if !slot.stop_sent {
                slot.stop_sent = true;
                let _ = r.control.send(Control::Stop {
                    signal: task.stop_signal,
                    timeout: task.stop_timeout,
                });
            }
            format!("restarting {}", task.name)
        } else if matches!(slot.state, State::Restarting { .. }) {
            // Waiting out its backoff: start now; the log goes on.
            slot.seq += 1;
            self.start(i, false);
            format!("restarted {} (backoff skipped)", task.name)
        } else if matches!(slot.state, State::Pending { .. }) {
            // Already waiting for its dependencies: it starts when they allow.
            format!("{} is waiting for its dependencies", task.name)
        } else {
            // Stopped or ended: start again through the scheduler, so `depends_on`
            // conditions hold as at any start.
            slot.seq += 1;
            slot.state = State::Pending {
                waiting_for: String::new(),
            };
            self.schedule();
            format!("starting {}", task.name)
        }
    }

    /// Load `path` and reconcile: with no `patterns`, start missing tasks, restart
    /// changed ones, stop removed ones and leave the rest alone; with patterns, only add
    /// those tasks (and their dependencies). Returns what it did and the tasks it was
    /// asked to start (with their run counters from before), or the error to answer.
    pub(super) fn reload(
        &mut self,
        path: &Path,
        patterns: &[String],
        confirm: &[String],
        yes: bool,
    ) -> Result<Reloaded, Box<Response>> {
        let manifest = match manifest::load(Some(path)) {
            Ok(m) => m,
            Err(e) => {
                self.out.event(
                    Level::Error,
                    "reload failed: the manifest has errors (nothing changed)",
                );
                return Err(Box::new(Response::error(
                    e.to_string(),
                    Some("fix the manifest and run `bts up` again".into()),
                )));
            }
        };
        let selected = crate::up::select(&manifest, patterns)
            .map_err(|e| Box::new(Response::error(e.message, e.hint)))?;
        // Approvals sent with this `up` (a BLOCKED task then starts).
        for t in manifest.tasks.iter().filter(|t| t.destructive) {
            if yes && selected.contains(&t.name) || confirm.contains(&t.name) {
                let how = if yes {
                    "up --yes (to the running supervisor)"
                } else {
                    "up --confirm (to the running supervisor)"
                };
                self.approvals.insert(t.name.clone(), how.into());
            }
        }
        let before: Vec<u64> = self.slots.iter().map(|s| s.seq).collect();
        let (mut messages, mut asked) = self.reconcile(&manifest, &selected, patterns.is_empty());
        // A BLOCKED task that has just been approved starts, selected or not.
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if !s.removed
                && matches!(s.state, State::Blocked { .. })
                && self.approvals.contains_key(&s.task.name)
            {
                messages.push(format!("starting {} (approved)", s.task.name));
                asked.push(i);
                self.slots[i].selected = true;
                self.slots[i].state = State::Pending {
                    waiting_for: String::new(),
                };
            }
        }
        for m in &messages {
            self.out.event(Level::Info, &format!("reload: {m}"));
        }
        if messages.is_empty() {
            messages.push("nothing to do: every task is up to date".into());
        }
        self.schedule();
        let seqs = asked
            .iter()
            .map(|&i| before.get(i).copied().unwrap_or(0))
            .collect();
        Ok(Reloaded {
            messages,
            asked,
            seqs,
        })
    }

    fn reconcile(
        &mut self,
        manifest: &Manifest,
        selected: &BTreeSet<String>,
        full: bool,
    ) -> (Vec<String>, Vec<usize>) {
        match crate::redact::for_manifest(manifest) {
            Ok(r) => self.out.set_redactor(r),
            Err(e) => self.out.event(
                Level::Warn,
                &format!("reload: keeping the previous secrets settings: {e}"),
            ),
        }
        let mut messages = vec![];
        let mut asked = vec![];
        self.common_env = common_env(manifest, &self.instance);
        self.project = manifest.project.clone();
        if full {
            for i in 0..self.slots.len() {
                if self.slots[i].removed || manifest.task(&self.slots[i].task.name).is_some() {
                    continue;
                }
                let name = self.slots[i].task.name.clone();
                self.stop_task(i);
                self.slots[i].selected = false;
                self.slots[i].removed = true;
                messages.push(format!("stopped {name} (removed from the manifest)"));
            }
        }
        for t in &manifest.tasks {
            let wanted = selected.contains(&t.name);
            match self
                .slots
                .iter()
                .position(|s| !s.removed && s.task.name == t.name)
            {
                None => {
                    self.slots.push(Slot::new(t, wanted));
                    if wanted {
                        let i = self.slots.len() - 1;
                        self.slots[i].state = State::Pending {
                            waiting_for: String::new(),
                        };
                        messages.push(format!("starting {} (new)", t.name));
                        asked.push(i);
                    }
                }
                Some(i) => {
                    let changed = *self.slots[i].task != *t;
                    if changed && full {
                        self.slots[i].task = Arc::new(t.clone());
                        if self.slots[i].run.is_some() {
                            self.restart_task(i);
                            messages.push(format!("restarting {} (definition changed)", t.name));
                            asked.push(i);
                            continue;
                        }
                    }
                    if wanted {
                        self.slots[i].selected = true;
                        let s = &self.slots[i];
                        if s.run.is_none()
                            && matches!(
                                s.state,
                                State::Stopped { .. }
                                    | State::Failed { .. }
                                    | State::Blocked { .. }
                            )
                        {
                            self.slots[i].state = State::Pending {
                                waiting_for: String::new(),
                            };
                            messages.push(format!("starting {}", t.name));
                            asked.push(i);
                        }
                    }
                }
            }
        }
        (messages, asked)
    }
}
