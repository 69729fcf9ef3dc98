//! The reply channels of the requests the core is working on, their stop receipts, and
//! the answers held back until the archives their receipts name are written.

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;

use crate::control::protocol::Response;
use crate::lifecycle::TaskId;
use crate::receipt::StopReceipt;

/// A completed request: its reply channel, its receipts' archive jobs, its receipts.
pub(super) type Reply = (
    oneshot::Sender<Response>,
    Vec<Option<u64>>,
    Vec<StopReceipt>,
);

/// The reply channels of open requests, their receipts, and the held answers.
#[derive(Default)]
pub(super) struct Replies {
    open: HashMap<u64, Open>,
    held: Vec<Held>,
    /// Archive jobs running: job → task name and the stop record to write when done.
    jobs: HashMap<u64, (String, StopReceipt)>,
    failed: HashSet<u64>,
    next_job: u64,
}

struct Open {
    reply: oneshot::Sender<Response>,
    tasks: Vec<TaskId>,
    /// Receipts with the archive job that writes the log they name.
    receipts: Vec<(Option<u64>, StopReceipt)>,
}

struct Held {
    reply: oneshot::Sender<Response>,
    response: Response,
    jobs: Vec<Option<u64>>,
}

impl Replies {
    /// A request the core will answer; its stop receipts are those of `tasks`.
    pub fn open(&mut self, id: u64, reply: oneshot::Sender<Response>, tasks: Vec<TaskId>) {
        self.open.insert(
            id,
            Open {
                reply,
                tasks,
                receipts: vec![],
            },
        );
    }

    /// The request could not be handed to the core: answer at once.
    pub fn refuse(&mut self, id: u64, r: Response) {
        if let Some(o) = self.open.remove(&id) {
            let _ = o.reply.send(r);
        }
    }

    /// The reply channel of a completed request, the archive jobs of its receipts and
    /// the receipts.
    pub fn take(&mut self, id: u64) -> Option<Reply> {
        let open = self.open.remove(&id)?;
        let (jobs, receipts) = open.receipts.into_iter().unzip();
        Some((open.reply, jobs, receipts))
    }

    /// Send `response` once the archives its receipts name are written.
    pub fn hold(
        &mut self,
        reply: oneshot::Sender<Response>,
        response: Response,
        jobs: Vec<Option<u64>>,
    ) {
        self.held.push(Held {
            reply,
            response,
            jobs,
        });
        self.release();
    }

    /// A stop receipt of task `i`, for every open request about it.
    pub fn receipt(&mut self, i: TaskId, job: Option<u64>, receipt: &StopReceipt) {
        for o in self.open.values_mut() {
            if o.tasks.contains(&i) {
                o.receipts.push((job, receipt.clone()));
            }
        }
    }

    /// An archive job for `task`'s log begins.
    pub fn new_job(&mut self, task: &str, record: StopReceipt) -> u64 {
        self.next_job += 1;
        self.jobs.insert(self.next_job, (task.to_string(), record));
        self.next_job
    }

    pub fn archives_pending(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// An archive job ended: send the answers waiting for it; returns the task's name
    /// and its stop record.
    pub fn archived(&mut self, job: u64, ok: bool) -> Option<(String, StopReceipt)> {
        let done = self.jobs.remove(&job);
        if !ok {
            self.failed.insert(job);
        }
        self.release();
        done
    }

    /// Send the held answers whose archives are all written.
    fn release(&mut self) {
        let mut i = 0;
        while i < self.held.len() {
            let ready = self.held[i]
                .jobs
                .iter()
                .flatten()
                .all(|j| !self.jobs.contains_key(j));
            if ready {
                let mut h = self.held.swap_remove(i);
                self.fix_receipts(&mut h.response, &h.jobs);
                let _ = h.reply.send(h.response);
            } else {
                i += 1;
            }
        }
    }

    /// A receipt whose archive failed names none.
    fn fix_receipts(&self, r: &mut Response, jobs: &[Option<u64>]) {
        for (rc, job) in r.receipts.iter_mut().zip(jobs) {
            if job.is_some_and(|j| self.failed.contains(&j)) {
                rc.log_archive = None;
            }
        }
    }
}
