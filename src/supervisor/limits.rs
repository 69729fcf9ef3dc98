//! Enforcing resource limits from usage samples (docs/behaviour.md#resource-limits): every
//! second while a run has limits, its group's memory and CPU go through the run's
//! [`LimitWatch`](crate::limits::LimitWatch); being near a limit is said once and kept for
//! the digest, a limit passed is recorded in events.jsonl and handed to the core, which
//! decides what follows (`on_limit`).

use std::time::SystemTime;

use tokio::time::Instant;

use crate::digest::{LimitEvent, LimitsDigest};
use crate::lifecycle::{Event, RunId, TaskId};
use crate::limits::{LimitHit, Near};
use crate::output::Level;
use crate::process::cgroup::TaskCgroup;
use crate::process::table::Proc;

use super::executor::{LimitMode, Supervisor};

impl Supervisor {
    /// The cgroup for run `run` of task `i` when it has limits and the kernel enforces
    /// them. The first run with limits decides the mode, said once.
    pub(super) fn run_cgroup(&mut self, i: TaskId, run: RunId) -> Option<TaskCgroup> {
        let task = &self.core.slot(i).task;
        if task.limits.is_empty() {
            return None;
        }
        let (name, limits) = (task.name.clone(), task.limits);
        self.decide_limit_mode();
        let LimitMode::Kernel(root) = &self.limit_mode else {
            return None;
        };
        match root.task_group(&name, run.0, &limits) {
            Ok(g) => Some(g),
            Err(e) => {
                self.out.event(
                    Level::Warn,
                    &format!("{name}: no cgroup for its limits ({e}); the sampler enforces them"),
                );
                None
            }
        }
    }

    /// How limits are enforced, decided once and said: at start when a task has limits
    /// (before any task is in bts's cgroup), else at the first run with limits.
    pub(super) fn decide_limit_mode(&mut self) {
        if let LimitMode::Undecided = self.limit_mode {
            self.limit_mode = match crate::process::cgroup::setup() {
                Ok(root) => {
                    self.out.event(
                        Level::Info,
                        &format!(
                            "limits: enforced by the kernel (cgroup v2 under {}) and sampled every second",
                            root.dir().display()
                        ),
                    );
                    LimitMode::Kernel(root)
                }
                Err(why) => {
                    self.out.event(
                        Level::Info,
                        &format!("limits: sampled every second (no kernel enforcement: {why})"),
                    );
                    LimitMode::Sampler
                }
            };
        }
    }

    /// Whether any live run has limits to watch (the limit tick runs only then).
    pub(super) fn watching_limits(&self) -> bool {
        self.handles
            .iter()
            .any(|h| h.run.as_ref().is_some_and(|r| r.limits.is_some()))
    }

    /// The process trees of the runs with limits (a few reads per run, not a scan of
    /// every process on the machine).
    pub(super) fn limited_trees(&self) -> Vec<Proc> {
        self.handles
            .iter()
            .filter_map(|h| h.run.as_ref().filter(|r| r.limits.is_some()))
            .flat_map(|r| crate::process::table::tree(r.pid))
            .collect()
    }

    /// Sample the runs that have limits and act on what their watches report.
    pub(super) fn check_limits(&mut self, procs: &[Proc]) {
        let groups: Vec<i32> = self
            .handles
            .iter()
            .filter_map(|h| h.run.as_ref().filter(|r| r.limits.is_some()).map(|r| r.pid))
            .collect();
        if groups.is_empty() {
            return;
        }
        let usage = crate::usage::sum_groups(procs, &groups);
        let ticks = crate::usage::ticks_per_second();
        let now = Instant::now();
        let mut hits: Vec<(TaskId, RunId, LimitHit)> = vec![];
        for i in 0..self.handles.len() {
            let Some(r) = self.handles[i].run.as_mut() else {
                continue;
            };
            let (Some(watch), Some(u)) = (r.limits.as_mut(), usage.get(&r.pid)) else {
                continue;
            };
            let report = watch.observe(now, u.cpu_ticks, u.rss_bytes, ticks);
            let run = r.id;
            let name = self.core.slot(i).task.name.clone();
            let h = &mut self.handles[i];
            // A limit is said when the run gets near it; only getting near or leaving
            // rewrites the files (the figures change every second; the digest has the
            // current one when it is next written).
            let kinds = |v: &[Near]| v.iter().map(|n| n.kind).collect::<Vec<_>>();
            let was = kinds(&h.limits_near);
            for n in report.near.iter().filter(|n| !was.contains(&n.kind)) {
                self.out.event(
                    Level::Warn,
                    &format!("{name} {}, near its limit (80 % or more)", n.text),
                );
            }
            if kinds(&report.near) != was {
                self.dirty = true;
            }
            h.limits_near = report.near;
            hits.extend(report.hits.into_iter().map(|hit| (i, run, hit)));
        }
        for (i, run, hit) in hits {
            self.limit_passed(i, run, hit);
        }
    }

    /// Run `run` of task `i` passed a limit: record it (events.jsonl, the digest) and
    /// tell the core, which acts per `on_limit`.
    pub(super) fn limit_passed(&mut self, i: TaskId, run: RunId, hit: LimitHit) {
        let task = &self.core.slot(i).task;
        let action = hit.action(&task.limits);
        let name = task.name.clone();
        self.events.record(
            "limit",
            serde_json::json!({
                "task": name,
                "limit": hit.kind().as_str(),
                "hit": hit,
                "what": hit.to_string(),
                "action": action.as_str(),
            }),
            &self.out.redactor(),
        );
        self.handles[i].limit_passed = Some(LimitEvent {
            what: hit.to_string(),
            action: action.as_str().to_string(),
            time: crate::clock::rfc3339(SystemTime::now()),
        });
        self.dirty = true;
        self.feed(Event::LimitExceeded { task: i, run, hit });
    }

    /// The limits part of task `i`'s digest (tasks with limits only).
    pub(super) fn limits_digest(&self, i: TaskId) -> Option<LimitsDigest> {
        let limits = self.core.slot(i).task.limits;
        if limits.is_empty() {
            return None;
        }
        let h = &self.handles[i];
        Some(LimitsDigest {
            max_memory_bytes: limits.max_memory,
            max_cpu_percent: limits.max_cpu,
            warnings: if h.run.is_some() {
                h.limits_near.iter().map(|n| n.text.clone()).collect()
            } else {
                vec![]
            },
            last_exceeded: h.limit_passed.clone(),
        })
    }
}
