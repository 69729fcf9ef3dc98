//! What the supervisor reports on its own: each task's digest, state.json (debounced),
//! digest files (`digests/<task>.json` and `digest.json`, debounced after changes and
//! every `digest_interval`), the periodic digest block in the terminal, the notes
//! section, and CPU/memory samples.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::digest::{self, Digest, HealthDigest, LastError};
use crate::lifecycle::{Health, Phase, StopDetail, TaskId};
use crate::manifest::Probe;
use crate::output::Level;
use crate::state_file::{self as state, StateFile, TaskRecord};

use super::executor::{Supervisor, DIGEST_DEBOUNCE};
use super::notes::notes_section;

/// A status request samples usage when the last sample is older than this.
const SAMPLE_ON_DEMAND_AFTER: Duration = Duration::from_millis(500);

impl Supervisor {
    /// The digest of task `i` as it is now.
    pub(super) fn digest(&self, i: TaskId) -> Digest {
        let slot = self.core.slot(i);
        let h = &self.handles[i];
        let red = self.out.redactor();
        let detail = red
            .redact_str(&slot.phase.detail(&slot.task.name, slot.origin))
            .into_owned();
        let running = slot.phase.running();
        // A stopped task has no health to speak of.
        let health = slot.task.health.as_ref().and(running).map(|r| {
            let last = r.last_probe.as_ref();
            HealthDigest {
                status: match (&r.health, last) {
                    (Health::Up, _) => "healthy",
                    (_, Some((false, _))) => "unhealthy",
                    _ => "starting",
                }
                .to_string(),
                last_check: h
                    .run
                    .as_ref()
                    .and_then(|r| r.last_probe_at)
                    .map(crate::clock::rfc3339),
                detail: last
                    .map(|(_, d)| red.redact_str(d).into_owned())
                    .unwrap_or_default(),
            }
        });
        let stats = h.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut d = Digest {
            task: slot.task.name.clone(),
            status: slot.state(),
            detail,
            reason: slot.phase.fail_reason().cloned(),
            pid: h.run.as_ref().map(|r| r.pid),
            ports: slot.task.ports.clone(),
            uptime: h.run.as_ref().map(|r| r.started.elapsed().as_secs()),
            restarts: slot.tracker.total,
            health,
            cpu_percent: h.usage.and_then(|u| u.0),
            rss_bytes: h.usage.map(|u| u.1),
            exit_code: slot.last_exit.and_then(|e| e.code),
            errors: stats.errors,
            warnings: stats.warnings,
            recent: stats.recent_lines(),
            last_error: stats.last_error.as_ref().map(|(line, t)| LastError {
                line: line.clone(),
                time: crate::clock::rfc3339(*t),
            }),
            next_action: None,
            log_path: self.state_dir.log_path(&slot.task.name),
            limits: self.limits_digest(i),
            cycle: stats.cycle.clone(),
        };
        d.next_action = digest::next_action(&d, slot.origin);
        d
    }

    /// Digests of the tasks this supervisor runs (every task not removed).
    fn live_digests(&self) -> Vec<Digest> {
        (0..self.core.slots().len())
            .filter(|&i| self.core.slot(i).is_live())
            .map(|i| self.digest(i))
            .collect()
    }

    pub(super) fn write_state(&mut self) {
        self.dirty = false;
        self.digests_due
            .get_or_insert(Instant::now() + DIGEST_DEBOUNCE);
        let me = std::process::id() as i32;
        let mut file = StateFile {
            instance: self.instance.clone(),
            project: self.project.clone(),
            manifest: self.manifest_path.clone(),
            supervisor_pid: me,
            supervisor_start: crate::process::process_start_time(me),
            socket: self.opts.socket.clone(),
            started_at: self.started_at.clone(),
            updated_at: crate::clock::now_rfc3339(),
            tasks: Default::default(),
        };
        for (i, s) in self.core.slots().iter().enumerate() {
            if !s.is_live() {
                continue;
            }
            let h = &self.handles[i];
            let (pid, start_time, started_at) = match &h.run {
                Some(r) => (
                    Some(r.pid),
                    r.start_time,
                    Some(crate::clock::rfc3339(r.started_wall)),
                ),
                None => (None, None, None),
            };
            file.tasks.insert(
                s.task.name.clone(),
                TaskRecord {
                    state: s.state(),
                    pid,
                    pgid: pid,
                    start_time,
                    ports: s.task.ports.clone(),
                    restarts: s.tracker.total,
                    config_hash: s.task.config_hash(),
                    started_at,
                    env_keys: s.task.env.keys().cloned().collect(),
                    escapees: h.escapees.clone(),
                },
            );
        }
        if let Err(e) = state::write(self.state_dir.root(), &file) {
            self.out
                .event(Level::Warn, &format!("cannot write state.json: {e}"));
        }
    }

    /// The URL of a task's http probe, for the notes.
    fn http_url(&self, task: &str) -> Option<String> {
        let i = self.core.find(task)?;
        match &self.core.slot(i).task.health.as_ref()?.probe {
            Probe::Http(url) => Some(url.clone()),
            _ => None,
        }
    }

    /// Write every digest file and the notes section: serialized here, written by the
    /// digest writer's thread (a task's file only when it changed).
    pub(super) fn write_digests(&mut self) {
        let digests = self.live_digests();
        let dir = self.state_dir.digests_dir();
        let red = self.out.redactor();
        // Serializing these types cannot fail (string keys, no custom serializers).
        fn pretty<T: serde::Serialize>(v: &T, red: &crate::redact::Redactor) -> Option<Vec<u8>> {
            let json = serde_json::to_string_pretty(v).ok()?;
            Some(red.redact_str(&json).into_owned().into_bytes())
        }
        let tasks: Vec<(PathBuf, Vec<u8>)> = digests
            .iter()
            .filter_map(|d| Some((dir.join(format!("{}.json", d.task)), pretty(d, &red)?)))
            .collect();
        let all = serde_json::json!({
            "project": self.project,
            "updated_at": crate::clock::now_rfc3339(),
            "tasks": digests,
        });
        let always: Vec<(PathBuf, Vec<u8>)> = pretty(&all, &red)
            .map(|b| (self.state_dir.digest_path(), b))
            .into_iter()
            .collect();
        let notes = self.notes.clone().map(|notes| {
            // Tasks never started are not news.
            let started: Vec<Digest> = digests
                .iter()
                .filter(|d| {
                    self.core.find(&d.task).is_some_and(|i| {
                        self.core.slot(i).phase != Phase::Stopped(StopDetail::NotStarted)
                    })
                })
                .cloned()
                .collect();
            let section = notes_section(&self.project, &started, |t| self.http_url(t));
            (notes, red.redact_str(&section).into_owned())
        });
        self.digest_files.write(&dir, tasks, always, notes);
    }

    /// Every `digest_interval`: the digest block in the terminal, the files, and a new
    /// period for the error and warning counts.
    pub(super) fn periodic_digest(&mut self) {
        let shown: Vec<Digest> = (0..self.core.slots().len())
            .filter(|&i| {
                let s = self.core.slot(i);
                s.is_live() && s.phase != Phase::Stopped(StopDetail::NotStarted)
            })
            .map(|i| self.digest(i))
            .collect();
        self.out
            .event(Level::Info, &format!("digest of {} tasks:", shown.len()));
        for d in &shown {
            for line in digest::render_text(d).lines() {
                self.out.event(Level::Info, line);
            }
        }
        self.write_digests();
        for h in &self.handles {
            let mut st = h.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.errors = 0;
            st.warnings = 0;
        }
    }

    /// Sample CPU and memory of every running task's group.
    pub(super) fn sample_usage(&mut self, procs: &[crate::process::table::Proc]) {
        let groups: Vec<(i32, Instant)> = self
            .handles
            .iter()
            .filter_map(|h| h.run.as_ref().map(|r| (r.pid, r.started)))
            .collect();
        let usage = self.sampler.sample(procs, &groups);
        for h in &mut self.handles {
            h.usage = h.run.as_ref().and_then(|r| usage.get(&r.pid).copied());
        }
        self.last_sample = Some(Instant::now());
    }

    /// A status request: usage as of now, unless a sample is fresh (a run of 200 ms
    /// already has its CPU and memory).
    pub(super) fn sample_usage_now(&mut self) {
        let fresh = self
            .last_sample
            .is_some_and(|t| t.elapsed() < SAMPLE_ON_DEMAND_AFTER);
        let unsampled = self
            .handles
            .iter()
            .any(|h| h.run.is_some() && h.usage.is_none());
        if (fresh && !unsampled) || !self.handles.iter().any(|h| h.run.is_some()) {
            return;
        }
        let procs = crate::process::table::all();
        self.sample_usage(&procs);
    }
}
