//! Archiving task logs off the loop: the log of a task the supervisor stopped (its stop
//! receipt names the archive), and `bts archive-logs`. The log file is detached on the
//! loop (opened, and replaced by a new file), the gzip runs on the blocking pool, and
//! an archive path is reserved until its job ends so two jobs never share one.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::control::protocol::Response;
use crate::errors::exit;
use crate::lifecycle::{ExitInfo, TaskId};
use crate::logs::writer::{archive_path_avoiding, detach_file, gzip_in_background};
use crate::output::Level;
use crate::process::unix::signal_name;
use crate::receipt::StopReceipt;
use crate::runner::Control;

use super::executor::{Msg, Supervisor};

impl Supervisor {
    /// A fresh archive path for `task`, reserved until `release` runs.
    fn reserve_archive(&mut self, task: &str) -> std::io::Result<PathBuf> {
        let dir = self.state_dir.archive_dir();
        std::fs::create_dir_all(&dir)?;
        let mut busy = self.archiving.lock().unwrap_or_else(|e| e.into_inner());
        let dest = archive_path_avoiding(&dir, task, |p| busy.contains(p));
        busy.insert(dest.clone());
        Ok(dest)
    }

    /// What ends an archive job: it frees the path.
    fn release(&self, dest: PathBuf) -> impl FnOnce() + Send + 'static {
        let busy = Arc::clone(&self.archiving);
        move || {
            busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&dest);
        }
    }

    /// A run the supervisor stopped has ended: archive its log (off the loop) and hand
    /// the receipt to the requests waiting for this task. The `stop` record goes to
    /// events.jsonl once the archive is written (naming it only if it was).
    pub(super) fn stop_receipt(&mut self, i: TaskId, exit: ExitInfo, ran_for: Duration) {
        let name = self.core.slot(i).task.name.clone();
        // Opened here, so that a fresh start (which replaces the log file) cannot take
        // the lines from under the job.
        let file = std::fs::File::open(self.state_dir.log_path(&name)).ok();
        let dest = match file.as_ref().map(|_| self.reserve_archive(&name)) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.out
                    .event(Level::Warn, &format!("{name}: cannot archive its log: {e}"));
                None
            }
            None => None,
        };
        let receipt = StopReceipt {
            task: name.clone(),
            exit_code: exit.code,
            signal: exit.signal.map(signal_name),
            runtime: crate::clock::short_duration(ran_for),
            final_summary: format!(
                "{} after {}",
                exit.describe(),
                crate::clock::short_duration(ran_for)
            ),
            log_archive: dest.clone(),
        };
        let (Some(file), Some(dest)) = (file, dest) else {
            self.events.record("stop", &receipt, &self.out.redactor());
            self.replies.receipt(i, None, &receipt);
            return;
        };
        let job = self.replies.new_job(&name, receipt.clone());
        self.replies.receipt(i, Some(job), &receipt);
        let (tx, release) = (self.tx.clone(), self.release(dest.clone()));
        tokio::spawn(async move {
            let result = gzip_in_background(file, dest).await;
            release();
            let _ = tx.send(Msg::Archived {
                job,
                error: result.err().map(|e| e.to_string()),
            });
        });
    }

    /// An archive job of a stop receipt ended: record the receipt (without an archive
    /// that failed).
    pub(super) fn archived(&mut self, job: u64, error: Option<String>) {
        let Some((name, mut record)) = self.replies.archived(job, error.is_none()) else {
            return;
        };
        if let Some(e) = error {
            record.log_archive = None;
            self.out
                .event(Level::Warn, &format!("{name}: cannot archive its log: {e}"));
        }
        self.events.record("stop", &record, &self.out.redactor());
    }

    /// `bts archive-logs`: running tasks detach their log in their runner (between
    /// batches, so no line is lost or written twice), the others right here; the gzip
    /// runs on the blocking pool. Answered once every archive is written; the
    /// supervisor waits for the answer before it exits.
    pub(super) fn archive_logs(&mut self, idx: Vec<TaskId>, reply: oneshot::Sender<Response>) {
        let mut jobs: Vec<(String, PathBuf, oneshot::Receiver<std::io::Result<()>>)> = vec![];
        let mut messages = vec![];
        let mut failed = false;
        for i in idx {
            let name = self.core.slot(i).task.name.clone();
            let dest = match self.reserve_archive(&name) {
                Ok(d) => d,
                Err(e) => {
                    messages.push(format!("{name}: cannot create the archive dir: {e}"));
                    failed = true;
                    continue;
                }
            };
            let (tx, rx) = oneshot::channel();
            if let Some(r) = &self.handles[i].run {
                if r.control.send(Control::Archive(dest.clone(), tx)).is_ok() {
                    jobs.push((name, dest, rx));
                    continue;
                }
                // The runner has just ended: its sink is on its way back; archive below.
                let (t, r) = oneshot::channel();
                jobs.push((name, dest, r));
                let _ = t.send(Err(std::io::Error::other(
                    "the task stopped before its log was archived",
                )));
                continue;
            }
            let log = self.state_dir.log_path(&name);
            let detached = match self.handles[i].sink.as_mut() {
                Some(sink) => sink.detach_log(),
                None if log.exists() => detach_file(&log),
                None => Err(std::io::Error::other("no log yet")),
            };
            match detached {
                Ok(file) => {
                    let to = dest.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(gzip_in_background(file, to).await);
                    });
                    jobs.push((name, dest, rx));
                }
                Err(e) => {
                    (self.release(dest))();
                    failed = true;
                    messages.push(format!("{name}: {e}"));
                }
            }
        }
        let project = self.project.clone();
        let releases: Vec<_> = jobs.iter().map(|j| self.release(j.1.clone())).collect();
        let answer = async move {
            for ((name, dest, rx), release) in jobs.into_iter().zip(releases) {
                let result = rx.await;
                release();
                match result {
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
        };
        self.side_job(answer);
    }

    /// Run `job` beside the loop; the supervisor waits for it before it exits.
    fn side_job(&mut self, job: impl Future<Output = ()> + Send + 'static) {
        self.side_jobs.retain(|h| !h.is_finished());
        self.side_jobs.push(tokio::spawn(job));
    }
}
