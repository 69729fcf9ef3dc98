//! Requests from the control socket: resolving task names, handing the request to the
//! core, and answering — at once (`status`) or when the core says the tasks got there
//! (`down`, `restart`, a second `up`). Stop receipts name the archive of the task's log;
//! the archive is gzipped off the loop, and an answer that carries the receipt waits
//! for it.

use std::collections::BTreeSet;
use std::path::Path;

use tokio::sync::oneshot;

use crate::control::protocol::{Request, Response};
use crate::control::server::Incoming;
use crate::errors::exit;
use crate::lifecycle::{self, Event, ExitInfo, TaskId};
use crate::manifest;
use crate::output::Level;
use crate::process::unix::signal_name;
use crate::runner::Control;

use super::executor::{Msg, Supervisor};

impl Supervisor {
    pub(super) fn on_request(&mut self, inc: Incoming) {
        let Incoming { request, reply } = inc;
        match request {
            Request::Status { tasks } => {
                let r = match self.resolve(&tasks) {
                    Ok(idx) => {
                        self.sample_usage_now();
                        Response {
                            ok: true,
                            project: self.project.clone(),
                            tasks: idx.iter().map(|&i| self.digest(i)).collect(),
                            ..Default::default()
                        }
                    }
                    Err(e) => *e,
                };
                let _ = reply.send(r);
            }
            Request::Down { tasks } => {
                let resolved = if tasks.is_empty() {
                    Ok(None)
                } else {
                    self.resolve(&tasks).map(Some)
                };
                match resolved {
                    Ok(tasks) => {
                        let waiter = self.park(reply, tasks.clone());
                        self.feed(Event::Request(lifecycle::Request::Down { waiter, tasks }));
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
            } => {
                let idx = match self.resolve(&tasks) {
                    Ok(idx) => idx,
                    Err(e) => {
                        let _ = reply.send(*e);
                        return;
                    }
                };
                // A destructive task needs a fresh approval for every run.
                let unapproved: Vec<String> = idx
                    .iter()
                    .map(|&i| &self.core.slot(i).task)
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
                let how = if yes {
                    "restart --yes"
                } else {
                    "restart --confirm"
                };
                let waiter = self.park(reply, Some(idx.clone()));
                self.feed(Event::Request(lifecycle::Request::Restart {
                    waiter,
                    tasks: idx,
                    approval: Some(how.to_string()),
                    wait,
                }));
            }
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
                let waiter = self.new_waiter();
                self.replies.open(waiter, reply, vec![]);
                if let Err(r) = self.reload(&manifest, &tasks, &confirm, yes, Some(waiter)) {
                    self.replies.refuse(waiter, *r);
                }
            }
        }
    }

    /// Register a reply channel for a request the core will answer.
    fn park(&mut self, reply: oneshot::Sender<Response>, tasks: Option<Vec<TaskId>>) -> u64 {
        let id = self.new_waiter();
        let tasks = tasks.unwrap_or_else(|| {
            (0..self.core.slots().len())
                .filter(|&i| self.core.slot(i).is_live())
                .collect()
        });
        self.replies.open(id, reply, tasks);
        id
    }

    /// The core says the request `waiter` is complete.
    pub(super) fn answer(
        &mut self,
        waiter: u64,
        tasks: &[TaskId],
        messages: Vec<String>,
        failed: bool,
    ) {
        let Some((reply, jobs, receipts)) = self.replies.take(waiter) else {
            return;
        };
        let response = Response {
            ok: true,
            project: self.project.clone(),
            tasks: tasks.iter().map(|&t| self.digest(t)).collect(),
            messages,
            receipts,
            code: if failed { exit::FAILURE } else { exit::OK },
            ..Default::default()
        };
        self.replies.hold(reply, response, jobs);
    }

    /// A run the supervisor stopped has ended: archive its log (off the loop), record
    /// the receipt and hand it to the requests waiting for this task.
    pub(super) fn stop_receipt(&mut self, i: TaskId, exit: ExitInfo, ran_for: std::time::Duration) {
        let name = self.core.slot(i).task.name.clone();
        let archive = self.start_archive(&name);
        let receipt = serde_json::json!({
            "task": name,
            "exit_code": exit.code,
            "signal": exit.signal.map(signal_name),
            "runtime": crate::clock::short_duration(ran_for),
            "final_summary": format!("{} after {}", exit.describe(), crate::clock::short_duration(ran_for)),
            "log_archive": archive.as_ref().map(|a| &a.0),
        });
        self.events
            .record("stop", receipt.clone(), &self.out.redactor());
        self.replies.receipt(i, archive.map(|a| a.1), &receipt);
    }

    /// Start gzipping the task's current log into the archive on a blocking thread:
    /// the path it will have and the job.
    fn start_archive(&mut self, name: &str) -> Option<(std::path::PathBuf, u64)> {
        let log = self.state_dir.log_path(name);
        // Opened here, so that a fresh start emptying the log (it replaces the file)
        // cannot take the lines from under the job.
        let file = std::fs::File::open(&log).ok()?;
        let dest = crate::logs::writer::archive_path(&self.state_dir.archive_dir(), name);
        if let Err(e) = std::fs::create_dir_all(self.state_dir.archive_dir()) {
            self.out
                .event(Level::Warn, &format!("{name}: cannot archive its log: {e}"));
            return None;
        }
        let job = self.replies.new_job(name);
        let tx = self.tx.clone();
        let to = dest.clone();
        tokio::task::spawn_blocking(move || {
            let ok = crate::logs::writer::gzip_open_file(file, &to).is_ok();
            let _ = tx.send(Msg::Archived { job, ok });
        });
        Some((dest, job))
    }

    /// `bts archive-logs`: running tasks detach their log in their runner (between
    /// batches), the others right here; the gzip runs on a blocking thread. Answered
    /// once every archive is written.
    fn archive_logs(&mut self, idx: Vec<TaskId>, reply: oneshot::Sender<Response>) {
        let mut pending = vec![];
        let mut messages = vec![];
        let mut failed = false;
        for i in idx {
            let name = self.core.slot(i).task.name.clone();
            let dest = crate::logs::writer::archive_path(&self.state_dir.archive_dir(), &name);
            if let Err(e) = std::fs::create_dir_all(self.state_dir.archive_dir()) {
                messages.push(format!("{name}: cannot create the archive dir: {e}"));
                failed = true;
                continue;
            }
            if let Some(r) = &self.handles[i].run {
                let (tx, rx) = oneshot::channel();
                if r.control.send(Control::Archive(dest.clone(), tx)).is_ok() {
                    pending.push((name, dest, rx));
                    continue;
                }
            }
            let log = self.state_dir.log_path(&name);
            let detached = match self.handles[i].sink.as_mut() {
                Some(sink) => sink.detach_log(),
                None if log.exists() => crate::logs::writer::detach_file(&log),
                None => Err(std::io::Error::other("no log yet")),
            };
            match detached {
                Ok(file) => {
                    let (tx, rx) = oneshot::channel();
                    let to = dest.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(crate::logs::writer::gzip_in_background(file, to).await);
                    });
                    pending.push((name, dest, rx));
                }
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

    /// Live tasks matching names or globs; an unknown one is an error naming the known
    /// tasks.
    fn resolve(&self, patterns: &[String]) -> Result<Vec<TaskId>, Box<Response>> {
        let live: Vec<TaskId> = (0..self.core.slots().len())
            .filter(|&i| self.core.slot(i).is_live())
            .collect();
        if patterns.is_empty() {
            return Ok(live);
        }
        let mut out = BTreeSet::new();
        for p in patterns {
            let m = globset::Glob::new(p).map(|g| g.compile_matcher()).ok();
            let hits: Vec<TaskId> = live
                .iter()
                .copied()
                .filter(|&i| {
                    let n = &self.core.slot(i).task.name;
                    n == p || m.as_ref().is_some_and(|m| m.is_match(n))
                })
                .collect();
            if hits.is_empty() {
                let known: Vec<&str> = live
                    .iter()
                    .map(|&i| self.core.slot(i).task.name.as_str())
                    .collect();
                return Err(Box::new(Response::error(
                    format!("no task matches `{p}`"),
                    Some(format!("known tasks: {}", known.join(", "))),
                )));
            }
            out.extend(hits);
        }
        Ok(out.into_iter().collect())
    }

    /// Load `path` and hand the core the new desired state: with no `patterns`, start
    /// missing tasks, restart changed ones, stop removed ones; with patterns, only add
    /// those tasks (and their dependencies).
    pub(super) fn reload(
        &mut self,
        path: &Path,
        patterns: &[String],
        confirm: &[String],
        yes: bool,
        waiter: Option<u64>,
    ) -> Result<(), Box<Response>> {
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
        let how = if yes {
            "up --yes (to the running supervisor)"
        } else {
            "up --confirm (to the running supervisor)"
        };
        let approvals = manifest
            .tasks
            .iter()
            .filter(|t| t.destructive)
            .filter(|t| yes && selected.contains(&t.name) || confirm.contains(&t.name))
            .map(|t| (t.name.clone(), how.to_string()))
            .collect();
        match crate::redact::for_manifest(&manifest) {
            Ok(r) => self.out.set_redactor(r),
            Err(e) => self.out.event(
                Level::Warn,
                &format!("reload: keeping the previous secrets settings: {e}"),
            ),
        }
        self.common_env = super::env::common_env(&manifest, &self.instance);
        self.project = manifest.project.clone();
        self.feed(Event::Request(lifecycle::Request::Reload {
            waiter,
            tasks: manifest.tasks.clone(),
            selected,
            full: patterns.is_empty(),
            approvals,
        }));
        Ok(())
    }
}
