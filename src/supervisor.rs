//! The dispatcher that owns every task of a `bts up`. One loop receives run outcomes,
//! timers and signals, decides with the pure functions of [`crate::task`], and carries
//! out the decisions: spawn, stop, restart, cascade failures to dependents, shut down in
//! reverse dependency order. Nothing else mutates task state, so there are no locks.

mod files;
mod report;
mod requests;
mod safety;
mod watch;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::control::server::Incoming;
use crate::digest::{Digest, HealthDigest, LastError, TaskStats};
use crate::errors::exit;
use crate::events::EventLog;
use crate::logs::LogWriter;
use crate::manifest::{Condition, Manifest, Probe, Task};
use crate::output::pump::LogProbe;
use crate::output::pump::TaskSink;
use crate::output::summary::Classifier;
use crate::output::{Level, Output};
use crate::process;
use crate::receipt::{StartReceipt, StopReceipt};
use crate::runner::ExitInfo;
use crate::runner::{self, Control, Outcome};
use crate::state_dir::StateDir;
use crate::state_file::{self as state, StateFile, TaskRecord};
use crate::task::{self, AfterExit, Cause, HealthChange, HealthTracker, RestartTracker, State};
use requests::Waiter;
use safety::{CheckpointResult, Gate};
use watch::watch_health;

/// Options of `bts up` that change how the supervisor ends.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub abort_on_exit: bool,
    pub exit_code_from: Option<String>,
    /// The patterns `bts up` was given, re-applied on reload.
    pub patterns: Vec<String>,
    /// Control socket path (already bound by the caller).
    pub socket: PathBuf,
    /// Destructive tasks approved at start: (task, how), e.g. `("migrate", "--confirm")`.
    pub approvals: Vec<(String, String)>,
}

enum Msg {
    /// A watched file of a task changed.
    FileChanged {
        slot: usize,
        path: PathBuf,
    },
    /// The debounce after the last change of a task's watched files is over.
    WatchDue {
        slot: usize,
        seq: u64,
    },
    /// A destructive task's checkpoint finished.
    Checkpoint {
        slot: usize,
        run: u64,
        result: Box<CheckpointResult>,
    },
    Exited {
        slot: usize,
        run: u64,
        outcome: Box<Outcome>,
    },
    /// A health probe result (or a `log` probe match).
    Probe {
        slot: usize,
        run: u64,
        ok: bool,
        detail: String,
    },
    /// A declared port of a probe-less task is (not) bound after `start_period`.
    PortCheck {
        slot: usize,
        run: u64,
        unbound: Option<u16>,
    },
    RestartDue {
        slot: usize,
        run: u64,
    },
    UpAfter {
        slot: usize,
        run: u64,
    },
    LogError {
        slot: usize,
        message: String,
    },
}

struct Run {
    id: u64,
    pid: i32,
    started: Instant,
    control: mpsc::UnboundedSender<Control>,
    /// Probe loops of this run, aborted when it ends.
    watchers: Vec<tokio::task::JoinHandle<()>>,
    health: HealthTracker,
    /// Set when the supervisor itself stops the run to restart it or fail it (DOWN).
    after_stop: Option<AfterExit>,
    /// Start of the run, wall clock.
    started_wall: SystemTime,
    /// The leader's process start time (see [`process::process_start_time`]).
    start_time: Option<u64>,
    /// Last probe result: ok, detail, when.
    last_probe: Option<(bool, String, SystemTime)>,
}

struct Slot {
    task: Arc<Task>,
    selected: bool,
    state: State,
    run: Option<Run>,
    /// The task's output sink while no run holds it.
    sink: Option<TaskSink>,
    tracker: RestartTracker,
    /// Incremented for every run (and restart timer) so stale messages are ignored.
    seq: u64,
    stop_sent: bool,
    /// A user `restart`: start again as soon as the run has stopped.
    restart_now: bool,
    last_exit: Option<ExitInfo>,
    /// Removed from the manifest by a reload (kept so slot indices stay stable).
    removed: bool,
    /// A destructive task approved and checkpointed for its next spawn.
    cleared: bool,
    /// Whether the start waiting for a checkpoint was a fresh one.
    pending_fresh: bool,
    /// Its checkpoint is running (PENDING, but not for the scheduler to start).
    checkpointing: bool,
    /// Counts and recent lines from its output.
    stats: Arc<std::sync::Mutex<TaskStats>>,
    /// Last CPU % and RSS sample of its group.
    usage: Option<(Option<f32>, u64)>,
    /// Its `watch:` file watcher, once started.
    filewatch: Option<crate::filewatch::FileWatch>,
    /// The last changed file and the debounce generation.
    changed: Option<PathBuf>,
    watch_seq: u64,
    /// Descendants of the current run that left its process group: (pid, start time).
    escapees: Vec<(i32, u64)>,
}

pub struct Supervisor {
    slots: Vec<Slot>,
    out: Output,
    state_dir: StateDir,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    opts: Options,
    shutting_down: bool,
    killed: bool,
    exit_code_from: Option<i32>,
    /// `BTS_PROJECT`, `BTS_INSTANCE` and `BTS_PORT_<TASK>` for every task with a port.
    common_env: Vec<(String, String)>,
    /// `<pid>.<start time>` of this supervisor.
    instance: String,
    project: String,
    manifest_path: PathBuf,
    events: EventLog,
    started_at: String,
    /// The state file needs writing (debounced).
    dirty: bool,
    waiters: Vec<Waiter>,
    /// Tasks a `down TASK…` still has to stop (after their dependents).
    pending_stops: BTreeSet<usize>,
    /// Destructive tasks approved and not yet started: task → how it was approved.
    approvals: std::collections::HashMap<String, String>,
    /// `<state_dir>/audit.log`.
    audit: EventLog,
    /// Digest files (and notes) need rewriting, at this time at the latest.
    digests_due: Option<Instant>,
    digest_interval: Duration,
    notes: Option<PathBuf>,
    sampler: crate::usage::Sampler,
}

impl Supervisor {
    pub fn new(
        manifest: &Manifest,
        selected: &BTreeSet<String>,
        out: Output,
        state_dir: StateDir,
        opts: Options,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        // Names this supervisor in its tasks' environment (`BTS_INSTANCE`), so that what
        // they leave behind can be recognised after a crash, whatever its process group.
        let me = std::process::id() as i32;
        let instance = format!("{me}.{}", process::process_start_time(me).unwrap_or(0));
        let slots = manifest
            .tasks
            .iter()
            .map(|t| Slot::new(t, selected.contains(&t.name)))
            .collect();
        Supervisor {
            events: EventLog::open(&state_dir.events_path()),
            audit: EventLog::open(&state_dir.audit_path()),
            approvals: opts.approvals.iter().cloned().collect(),
            digests_due: None,
            pending_stops: BTreeSet::new(),
            digest_interval: manifest.settings.digest_interval,
            notes: manifest.settings.notes.clone(),
            sampler: crate::usage::Sampler::default(),
            common_env: common_env(manifest, &instance),
            instance,
            project: manifest.project.clone(),
            manifest_path: manifest.path.clone(),
            started_at: crate::clock::now_rfc3339(),
            dirty: true,
            waiters: Vec::new(),
            slots,
            out,
            state_dir,
            tx,
            rx,
            opts,
            shutting_down: false,
            killed: false,
            exit_code_from: None,
        }
    }

    /// Run until nothing is left running or due to restart; returns the exit code.
    /// `control` delivers requests from the control socket.
    /// Also says whether answers went out at the very end (a `down` waiting for it), which
    /// the caller gives a moment to reach their clients.
    pub async fn run(mut self, mut control: mpsc::UnboundedReceiver<Incoming>) -> (u8, bool) {
        let mut signals =
            match signal_hook_tokio::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP]) {
                Ok(s) => s,
                Err(e) => {
                    self.out.event(
                        Level::Error,
                        &format!("cannot install signal handlers: {e}"),
                    );
                    return (exit::FAILURE, false);
                }
            };
        for i in 0..self.slots.len() {
            if self.slots[i].selected {
                self.slots[i].state = State::Pending {
                    waiting_for: String::new(),
                };
            }
        }
        self.schedule();
        let mut next_write = Instant::now();
        let start = Instant::now();
        let mut periodic =
            tokio::time::interval_at(start + self.digest_interval, self.digest_interval);
        let mut usage = tokio::time::interval_at(start + USAGE_EVERY, USAGE_EVERY);
        usage.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.finished() {
            if self.dirty && Instant::now() >= next_write {
                self.write_state();
                next_write = Instant::now() + STATE_DEBOUNCE;
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let flush_at = if self.dirty { next_write } else { far };
            let digests_at = self.digests_due.unwrap_or(far);
            tokio::select! {
                Some(msg) = self.rx.recv() => self.handle(msg),
                Some(sig) = signals.next() => self.on_signal(sig),
                Some(req) = control.recv() => self.on_request(req),
                _ = tokio::time::sleep_until(flush_at), if self.dirty => {}
                _ = tokio::time::sleep_until(digests_at), if self.digests_due.is_some() => {
                    self.digests_due = None;
                    self.write_digests();
                }
                _ = periodic.tick() => self.periodic_digest(),
                _ = usage.tick(), if self.slots.iter().any(|s| s.run.is_some()) => {
                    // One read of the process table serves both.
                    let procs = crate::process::table::all();
                    self.sample_usage(&procs);
                    self.track_escapees_in(&procs, None);
                }
            }
            self.check_waiters();
        }
        signals.handle().close();
        // Escaped descendants whose parent exited were re-parented to us: none may
        // survive the supervisor.
        let procs = crate::escapees::snapshot();
        let me = std::process::id() as i32;
        let my_sid = nix::unistd::getsid(None).map(|s| s.as_raw()).unwrap_or(0);
        let mut left = crate::escapees::adopted(&procs, me, my_sid);
        for s in &mut self.slots {
            left.append(&mut s.escapees);
        }
        if !left.is_empty() {
            self.out.event(
                Level::Info,
                &format!("stopping {} escaped descendant process(es)", left.len()),
            );
            crate::escapees::stop(left, Duration::from_secs(2)).await;
        }
        self.write_state();
        self.write_digests();
        let answered = !self.waiters.is_empty();
        self.finish_waiters();
        (self.exit_code(), answered)
    }

    fn write_state(&mut self) {
        self.dirty = false;
        self.digests_due
            .get_or_insert(Instant::now() + DIGEST_DEBOUNCE);
        let mut file = StateFile {
            instance: self.instance.clone(),
            project: self.project.clone(),
            manifest: self.manifest_path.clone(),
            supervisor_pid: std::process::id() as i32,
            supervisor_start: process::process_start_time(std::process::id() as i32),
            socket: self.opts.socket.clone(),
            started_at: self.started_at.clone(),
            updated_at: crate::clock::now_rfc3339(),
            tasks: Default::default(),
        };
        for s in self.slots.iter().filter(|s| !s.removed) {
            let (pid, start_time, started_at) = match &s.run {
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
                    state: s.state.name().parse().unwrap_or_default(),
                    pid,
                    pgid: pid,
                    start_time,
                    ports: s.task.ports.clone(),
                    restarts: s.tracker.total,
                    config_hash: config_hash(&s.task),
                    started_at,
                    env_keys: s.task.env.keys().cloned().collect(),
                    escapees: s.escapees.clone(),
                },
            );
        }
        if let Err(e) = state::write(self.state_dir.root(), &file) {
            self.out
                .event(Level::Warn, &format!("cannot write state.json: {e}"));
        }
    }

    /// Record the descendants of running tasks (all, or only `only`) that left their
    /// process group, so a stop reaches them too.
    pub(super) fn track_escapees(&mut self, only: Option<usize>) {
        if cfg!(target_os = "linux") {
            let procs = crate::escapees::snapshot();
            self.track_escapees_in(&procs, only);
        }
    }

    /// [`Self::track_escapees`] with a process table already read.
    fn track_escapees_in(&mut self, procs: &[crate::process::table::Proc], only: Option<usize>) {
        let me = std::process::id() as i32;
        let my_sid = nix::unistd::getsid(None).map(|s| s.as_raw()).unwrap_or(0);
        // Orphans re-parented to us: their BTS_TASK says whose they are.
        let adopted: Vec<(String, (i32, u64))> = crate::escapees::adopted(procs, me, my_sid)
            .into_iter()
            .filter_map(|e| Some((crate::escapees::task_of(e.0, &self.instance)?, e)))
            .collect();
        let mut added = false;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if only.is_some_and(|o| o != i) || s.removed {
                continue;
            }
            let mut found = match &s.run {
                Some(r) => crate::escapees::escaped_from(procs, r.pid, r.pid),
                None => vec![],
            };
            found.extend(
                adopted
                    .iter()
                    .filter(|(t, _)| *t == s.task.name)
                    .map(|(_, e)| *e),
            );
            for e in found {
                if !s.escapees.contains(&e) {
                    s.escapees.push(e);
                    added = true;
                }
            }
        }
        self.dirty |= added;
    }

    /// The URL of a task's http probe, for the notes.
    fn http_url(&self, task: &str) -> Option<String> {
        let s = self
            .slots
            .iter()
            .find(|s| !s.removed && s.task.name == task)?;
        match &s.task.health.as_ref()?.probe {
            Probe::Http(url) => Some(url.clone()),
            _ => None,
        }
    }

    /// The digest of slot `i` as it is now.
    fn digest(&self, i: usize) -> Digest {
        let s = &self.slots[i];
        let detail = match &s.state {
            State::Pending { waiting_for } if !waiting_for.is_empty() => {
                format!("waiting for {waiting_for}")
            }
            State::Degraded { reason } | State::Down { reason } | State::Failed { reason } => {
                reason.clone()
            }
            State::Stopped { detail } => detail.clone(),
            State::Blocked { approve } => format!("approve with: {approve}"),
            State::Restarting { delay, .. } => {
                format!("restarting after {}", crate::clock::short_duration(*delay))
            }
            _ => String::new(),
        };
        let red = self.out.redactor();
        let detail = red.redact_str(&detail).into_owned();
        // A stopped task has no health to speak of.
        let health = s.task.health.as_ref().filter(|_| s.run.is_some()).map(|_| {
            let last = s.run.as_ref().and_then(|r| r.last_probe.clone());
            HealthDigest {
                status: match (&s.state, &last) {
                    (State::Up { .. }, _) => "healthy",
                    (_, Some((false, _, _))) => "unhealthy",
                    _ => "starting",
                }
                .to_string(),
                last_check: last.as_ref().map(|(_, _, t)| crate::clock::rfc3339(*t)),
                detail: last
                    .map(|(_, d, _)| red.redact_str(&d).into_owned())
                    .unwrap_or_default(),
            }
        });
        let stats = s.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut d = Digest {
            task: s.task.name.clone(),
            status: s.state.name().parse().unwrap_or_default(),
            detail,
            pid: s.run.as_ref().map(|r| r.pid),
            ports: s.task.ports.clone(),
            uptime: s.run.as_ref().map(|r| r.started.elapsed().as_secs()),
            restarts: s.tracker.total,
            health,
            cpu_percent: s.usage.and_then(|u| u.0),
            rss_bytes: s.usage.map(|u| u.1),
            exit_code: s.last_exit.and_then(|e| e.code),
            errors: stats.errors,
            warnings: stats.warnings,
            recent: stats.recent_lines(),
            last_error: stats.last_error.as_ref().map(|(line, t)| LastError {
                line: line.clone(),
                time: crate::clock::rfc3339(*t),
            }),
            next_action: None,
            log_path: self.state_dir.log_path(&s.task.name),
        };
        d.next_action = crate::digest::next_action(&d);
        d
    }

    /// Nothing is left running or due to start: every selected task is final, or
    /// PENDING on something that can no longer happen without a person (an approval).
    fn finished(&self) -> bool {
        let busy = self.slots.iter().any(|s| {
            s.run.is_some() || s.checkpointing || matches!(s.state, State::Restarting { .. })
        });
        !busy
            && self.slots.iter().all(|s| {
                !s.selected || s.state.is_final() || matches!(s.state, State::Pending { .. })
            })
    }

    fn exit_code(&self) -> u8 {
        if let Some(code) = self.exit_code_from {
            return code.clamp(0, 255) as u8;
        }
        if self.opts.exit_code_from.is_some() {
            // The task never ran to an end (dependency failed, interrupted…).
            return exit::FAILURE;
        }
        if self
            .slots
            .iter()
            .any(|s| s.selected && (s.state.is_bad() || matches!(s.state, State::Pending { .. })))
        {
            exit::FAILURE
        } else {
            exit::OK
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Exited { slot, run, outcome } => self.on_exit(slot, run, outcome),
            Msg::RestartDue { slot, run } => {
                let s = &self.slots[slot];
                if s.seq == run
                    && matches!(s.state, State::Restarting { .. })
                    && !self.shutting_down
                {
                    self.start(slot, false);
                    self.schedule();
                }
            }
            Msg::UpAfter { slot, run } => {
                let s = &self.slots[slot];
                if s.run.as_ref().is_some_and(|r| r.id == run)
                    && matches!(s.state, State::Starting { .. })
                {
                    self.set_state(
                        slot,
                        State::Up {
                            since: Instant::now(),
                        },
                        "",
                    );
                    self.schedule();
                }
            }
            Msg::Probe {
                slot,
                run,
                ok,
                detail,
            } => self.on_probe(slot, run, ok, detail),
            Msg::FileChanged { slot, path } => self.on_file_changed(slot, path),
            Msg::WatchDue { slot, seq } => self.on_watch_due(slot, seq),
            Msg::Checkpoint { slot, run, result } => {
                self.on_checkpoint(slot, run, *result);
                self.schedule();
            }
            Msg::PortCheck { slot, run, unbound } => {
                let s = &self.slots[slot];
                if s.run.as_ref().is_none_or(|r| r.id != run) {
                    return;
                }
                match unbound {
                    Some(port) => {
                        let reason = format!("port {port} not bound");
                        if !matches!(&s.state, State::Degraded { reason: r } if *r == reason) {
                            self.set_state(slot, State::Degraded { reason }, "");
                        }
                    }
                    None => {
                        if matches!(s.state, State::Degraded { .. }) {
                            self.set_state(
                                slot,
                                State::Up {
                                    since: Instant::now(),
                                },
                                " — ports bound",
                            );
                        }
                    }
                }
            }
            Msg::LogError { slot, message } => {
                let name = self.slots[slot].task.name.clone();
                self.out
                    .event(Level::Warn, &format!("{name}: log write failed: {message}"));
                if self.slots[slot].state.is_running() {
                    self.set_state(
                        slot,
                        State::Degraded {
                            reason: format!("log write failed: {message}"),
                        },
                        "",
                    );
                }
            }
        }
    }

    fn on_signal(&mut self, sig: i32) {
        let name = process::unix::signal_name(sig);
        if sig == libc::SIGHUP {
            if !self.shutting_down {
                self.out
                    .event(Level::Info, "SIGHUP received: reloading the manifest");
                let (path, patterns) = (self.manifest_path.clone(), self.opts.patterns.clone());
                if let Err(r) = self.reload(&path, &patterns, &[], false) {
                    self.out
                        .event(Level::Error, r.error.as_deref().unwrap_or("reload failed"));
                }
            }
            return;
        }
        if !self.shutting_down {
            self.out.event(
                Level::Info,
                &format!(
                    "{name} received: stopping all tasks (send it again to kill them at once)"
                ),
            );
            self.begin_shutdown();
        } else if !self.killed {
            self.killed = true;
            self.out.event(
                Level::Warn,
                &format!("{name} received again: killing every task now"),
            );
            for s in &self.slots {
                if let Some(r) = &s.run {
                    let _ = r.control.send(Control::Kill);
                }
            }
        }
    }

    /// Start every pending task whose dependencies allow it, and fail those whose
    /// dependencies never will; repeat until nothing changes (cascades).
    fn schedule(&mut self) {
        if self.shutting_down {
            return;
        }
        loop {
            let mut changed = false;
            for i in 0..self.slots.len() {
                let s = &self.slots[i];
                if !s.selected || s.checkpointing || !matches!(s.state, State::Pending { .. }) {
                    continue;
                }
                match self.deps_status(i) {
                    DepStatus::Ready => {
                        self.start(i, true);
                        changed = true;
                    }
                    DepStatus::Never(reason) => {
                        self.set_state(i, State::Failed { reason }, "");
                        changed = true;
                    }
                    DepStatus::Wait(on) => {
                        if let State::Pending { waiting_for } = &mut self.slots[i].state {
                            *waiting_for = on;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn deps_status(&self, i: usize) -> DepStatus {
        let mut waiting = Vec::new();
        for dep in &self.slots[i].task.depends_on {
            let Some(d) = self
                .slots
                .iter()
                .find(|s| !s.removed && s.task.name == dep.task)
            else {
                continue;
            };
            match (&d.state, dep.condition) {
                (State::Exited, _) => {}
                (State::Failed { .. }, _) => {
                    return DepStatus::Never(format!("dependency {} failed", dep.task));
                }
                // PENDING means waiting for dependencies or approval: a dependent of a
                // BLOCKED task waits for it to be approved.
                (State::Blocked { .. }, _) => waiting.push(format!("approval of {}", dep.task)),
                (State::Stopped { .. }, _) => {
                    return DepStatus::Never(format!("dependency {} was stopped", dep.task));
                }
                (s, Condition::Started) if s.is_running() => {}
                (State::Up { .. }, Condition::Healthy) => {}
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

    /// Spawn a run of slot `i`. `fresh`: a start after a stop (the log starts empty),
    /// not a restart (the log goes on).
    fn start(&mut self, i: usize, fresh: bool) {
        let task = Arc::clone(&self.slots[i].task);
        // Pre-flight before every start: cwd, command, declared ports (SPEC section 3).
        let others: Vec<u16> = self
            .slots
            .iter()
            .filter(|s| !s.removed && s.task.name != task.name)
            .flat_map(|s| s.task.ports.iter().copied())
            .collect();
        let problems = crate::preflight::check_task(&task, &others);
        if !problems.is_empty() {
            let reason = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            self.set_state(i, State::Failed { reason }, "");
            return;
        }
        if task.destructive {
            match self.gate(i, fresh) {
                Gate::Go => {}
                Gate::Blocked | Gate::Checkpoint => return,
            }
        }
        if !self.ensure_sink(i, fresh) {
            return;
        }
        let Some(sink) = self.slots[i].sink.take() else {
            return;
        };
        let env = self.task_env(&task);
        let mut sink = sink;
        let next_id = self.slots[i].seq + 1;
        let log_matched = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let log_probe = match task.health.as_ref().map(|h| &h.probe) {
            Some(Probe::Log(re)) => regex::bytes::Regex::new(re).ok().map(|re| {
                let tx = self.tx.clone();
                let matched = Arc::clone(&log_matched);
                LogProbe {
                    re,
                    on_match: Box::new(move |line: String| {
                        matched.store(true, std::sync::atomic::Ordering::Relaxed);
                        let detail = format!("log matched: {}", truncate(&line, 80));
                        let _ = tx.send(Msg::Probe {
                            slot: i,
                            run: next_id,
                            ok: true,
                            detail,
                        });
                    }),
                }
            }),
            _ => None,
        };
        sink.set_log_probe(log_probe);
        let spawned = match process::spawn(&task.command, &task.cwd, &env) {
            Ok(s) => s,
            Err(e) => {
                self.slots[i].sink = Some(sink);
                let reason = format!("cannot start `{}`: {e}", task.command.display());
                self.set_state(i, State::Failed { reason }, "");
                return;
            }
        };
        let slot = &mut self.slots[i];
        slot.seq += 1;
        slot.stop_sent = false;
        let id = slot.seq;
        let pid = spawned.pid;
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let watchers = watch_health(&task, i, id, env.clone(), log_matched, self.tx.clone());
        slot.run = Some(Run {
            id,
            pid,
            started: Instant::now(),
            control: ctl_tx,
            watchers,
            health: HealthTracker::default(),
            after_stop: None,
            started_wall: SystemTime::now(),
            start_time: process::process_start_time(pid),
            last_probe: None,
        });
        let tx = self.tx.clone();
        let log_tx = self.tx.clone();
        let (stop_signal, stop_timeout) = (task.stop_signal, task.stop_timeout);
        tokio::spawn(async move {
            let outcome = runner::run(
                spawned,
                sink,
                ctl_rx,
                stop_signal,
                stop_timeout,
                move |message| {
                    let _ = log_tx.send(Msg::LogError { slot: i, message });
                },
            )
            .await;
            let _ = tx.send(Msg::Exited {
                slot: i,
                run: id,
                outcome: Box::new(outcome),
            });
        });
        let name = self.slots[i].task.name.clone();
        self.out.event(
            Level::Info,
            &format!(
                "{name}: started (pid {pid}): {}",
                self.slots[i].task.command.display()
            ),
        );
        let health = task.health.as_ref().map(|h| match &h.probe {
            Probe::Http(u) => format!("http {u}"),
            Probe::Tcp { host, port } => {
                format!("tcp {}:{port}", host.as_deref().unwrap_or("127.0.0.1"))
            }
            Probe::Cmd(c) => format!("cmd {c}"),
            Probe::Log(r) => format!("log /{r}/"),
        });
        // Keys only; values only for keys matching `secrets.public` (SPEC section 7).
        let red = self.out.redactor();
        let shown = red.env_for_display(&env);
        let env_keys: Vec<String> = shown.iter().map(|(k, _)| k.clone()).collect();
        let env_public = shown
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        self.events.record(
            "start",
            StartReceipt {
                task: name.clone(),
                pid,
                pgid: pid,
                cwd: task.cwd.clone(),
                command: task.command.display(),
                ports: task.ports.clone(),
                env_keys,
                env_public,
                health,
                log_path: self.state_dir.log_path(&name),
                started_at: crate::clock::now_rfc3339(),
            },
            &red,
        );
        self.ensure_filewatch(i);
        self.set_state(
            i,
            State::Starting {
                since: Instant::now(),
            },
            "",
        );
        if self.slots[i].task.health.is_none() {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(task::NO_PROBE_UP_AFTER).await;
                let _ = tx.send(Msg::UpAfter { slot: i, run: id });
            });
        }
    }

    /// Make sure slot `i` has its output sink (opening the log on first use); `fresh`
    /// empties the log (a start after a stop, not a restart). False when the log cannot be
    /// opened: the task is then FAILED.
    fn ensure_sink(&mut self, i: usize, fresh: bool) -> bool {
        let name = self.slots[i].task.name.clone();
        if let Some(sink) = self.slots[i].sink.as_mut() {
            if fresh {
                if let Err(e) = sink.log.truncate() {
                    self.out
                        .event(Level::Warn, &format!("{name}: cannot truncate log: {e}"));
                }
            }
            return true;
        }
        let task = &self.slots[i].task;
        match LogWriter::open(
            &self.state_dir.log_path(&name),
            task.log_max_kb,
            task.log_keep,
            true,
        ) {
            Ok(log) => {
                // The loader checked the patterns; should one still fail, the defaults
                // serve rather than losing the task's output.
                let classifier = Classifier::new(task.errors.as_deref(), task.warnings.as_deref())
                    .or_else(|_| Classifier::new(None, None));
                let Ok(classifier) = classifier else {
                    return false;
                };
                let stats = Arc::clone(&self.slots[i].stats);
                self.slots[i].sink = Some(TaskSink::new(
                    &name,
                    i,
                    self.out.clone(),
                    log,
                    classifier,
                    stats,
                ));
                true
            }
            Err(e) => {
                let reason = format!("cannot open its log file: {e}");
                self.set_state(i, State::Failed { reason }, "");
                false
            }
        }
    }

    fn task_env(&self, task: &Task) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = task
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(p) = task.ports.first() {
            if !task.env.contains_key("PORT") && std::env::var_os("PORT").is_none() {
                env.push(("PORT".into(), p.to_string()));
            }
        }
        env.push(("BTS_TASK".into(), task.name.clone()));
        env.extend(self.common_env.iter().cloned());
        env
    }

    fn on_exit(&mut self, i: usize, run: u64, outcome: Box<Outcome>) {
        let Some(r) = self.slots[i].run.take_if(|r| r.id == run) else {
            return;
        };
        for w in &r.watchers {
            w.abort();
        }
        let ran_for = r.started.elapsed();
        let name = self.slots[i].task.name.clone();
        self.slots[i].sink = Some(outcome.sink);
        self.slots[i].usage = None;
        let exit = outcome.exit;
        self.slots[i].last_exit = Some(exit);
        self.dirty = true;
        // Whatever left the group on purpose goes with the run (SPEC section 3). A leader
        // that exited by itself was not looked at just before: look now.
        if !outcome.requested {
            self.track_escapees(Some(i));
        }
        let escapees = std::mem::take(&mut self.slots[i].escapees);
        if !escapees.is_empty() {
            let grace = self.slots[i].task.stop_timeout;
            tokio::spawn(crate::escapees::stop(escapees, grace));
        }
        if self.slots[i].task.destructive {
            self.audit_result(&name, exit, ran_for);
        }

        if self.opts.exit_code_from.as_deref() == Some(name.as_str())
            && self.exit_code_from.is_none()
        {
            self.exit_code_from = Some(exit.code.unwrap_or_else(|| 128 + exit.signal.unwrap_or(0)));
        }

        if let (Some(after), false) = (r.after_stop, self.shutting_down) {
            // Stopped by the supervisor because its health check went DOWN.
            match after {
                AfterExit::Restart { delay } => {
                    self.schedule_restart(i, delay, "health check DOWN")
                }
                AfterExit::Final(state) => self.set_state(i, state, ""),
            }
        } else if std::mem::take(&mut self.slots[i].restart_now) && !self.shutting_down {
            self.out.event(
                Level::Info,
                &format!("{name}: {} — restarting", exit.describe()),
            );
            self.start(i, false);
        } else if outcome.requested || self.shutting_down {
            self.set_state(
                i,
                State::Stopped {
                    detail: format!("stopped ({})", exit.describe()),
                },
                "",
            );
            self.stop_receipt(i, exit, ran_for);
        } else {
            let how = format!(
                "{} after {}",
                exit.describe(),
                crate::clock::short_duration(ran_for)
            );
            let task = Arc::clone(&self.slots[i].task);
            match task::after_exit(
                &task,
                &mut self.slots[i].tracker,
                Cause::Exit(exit),
                ran_for,
                Instant::now(),
            ) {
                AfterExit::Restart { delay } => self.schedule_restart(i, delay, &how),
                AfterExit::Final(State::Exited) => {
                    self.set_state(i, State::Exited, &format!(" — {how}"))
                }
                AfterExit::Final(State::Failed { reason }) if reason == exit.describe() => {
                    self.set_state(i, State::Failed { reason: how }, "")
                }
                AfterExit::Final(state) => self.set_state(i, state, ""),
            }
            let ends_all = self.opts.abort_on_exit
                || self.opts.exit_code_from.as_deref() == Some(name.as_str());
            if ends_all && !self.shutting_down {
                self.out.event(
                    Level::Info,
                    &format!("{name} exited: stopping everything (--abort-on-exit)"),
                );
                self.begin_shutdown();
            }
        }
        if self.shutting_down {
            self.advance_shutdown();
        } else {
            self.advance_named_stops();
            self.schedule();
        }
    }

    fn schedule_restart(&mut self, i: usize, delay: std::time::Duration, why: &str) {
        let at = Instant::now() + delay;
        self.slots[i].seq += 1;
        let seq = self.slots[i].seq;
        let n = self.slots[i].tracker.total;
        self.set_state(
            i,
            State::Restarting { at, delay },
            &format!(
                " — {why}; restart #{n} in {}",
                crate::clock::short_duration(delay)
            ),
        );
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let _ = tx.send(Msg::RestartDue { slot: i, run: seq });
        });
    }

    fn on_probe(&mut self, i: usize, run: u64, ok: bool, detail: String) {
        let task = Arc::clone(&self.slots[i].task);
        let Some(health) = &task.health else { return };
        let slot = &mut self.slots[i];
        if slot.stop_sent {
            return;
        }
        let Some(r) = slot
            .run
            .as_mut()
            .filter(|r| r.id == run && r.after_stop.is_none())
        else {
            return;
        };
        let ran_for = r.started.elapsed();
        r.last_probe = Some((ok, detail.clone(), SystemTime::now()));
        let change = task::on_probe(
            health.retries,
            &mut r.health,
            ok,
            ran_for < health.start_period,
        );
        let failures = r.health.failures;
        let state = &slot.state;
        match change {
            HealthChange::Unchanged => {}
            HealthChange::Up => {
                if !matches!(state, State::Up { .. }) {
                    self.set_state(
                        i,
                        State::Up {
                            since: Instant::now(),
                        },
                        &format!(" — healthy ({detail})"),
                    );
                    self.schedule();
                }
            }
            HealthChange::Degraded => {
                let reason = format!("{detail} ({failures}/{} failures)", health.retries);
                self.set_state(i, State::Degraded { reason }, "");
            }
            HealthChange::Down => {
                if matches!(state, State::Down { .. }) {
                    return;
                }
                let reason = format!("{detail} ({failures} failures in a row)");
                self.set_state(i, State::Down { reason }, "");
                let decision = task::after_exit(
                    &task,
                    &mut self.slots[i].tracker,
                    Cause::Down,
                    ran_for,
                    Instant::now(),
                );
                if matches!(decision, AfterExit::Final(_))
                    && task.restart == crate::manifest::RestartPolicy::Never
                {
                    // No restart policy: it stays DOWN and keeps running.
                    return;
                }
                if let Some(r) = self.slots[i].run.as_mut() {
                    r.after_stop = Some(decision);
                    let _ = r.control.send(Control::Stop {
                        signal: task.stop_signal,
                        timeout: task.stop_timeout,
                    });
                }
            }
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        for i in 0..self.slots.len() {
            if self.slots[i].checkpointing {
                // Its checkpoint finishes first (and then the task is not started).
                continue;
            }
            match self.slots[i].state {
                State::Pending { .. } => self.set_state(
                    i,
                    State::Stopped {
                        detail: "not started".into(),
                    },
                    "",
                ),
                State::Restarting { .. } => self.set_state(
                    i,
                    State::Stopped {
                        detail: "stopped while waiting to restart".into(),
                    },
                    "",
                ),
                _ => {}
            }
        }
        self.advance_shutdown();
    }

    /// Send the stop signal to every running task that no running task depends on:
    /// dependents stop first, independent tasks stop in parallel.
    fn advance_shutdown(&mut self) {
        if self.slots.iter().any(|s| s.run.is_some() && !s.stop_sent) {
            self.track_escapees(None);
        }
        for i in 0..self.slots.len() {
            if self.slots[i].run.is_none() || self.slots[i].stop_sent {
                continue;
            }
            let name = &self.slots[i].task.name;
            let has_running_dependent = self
                .slots
                .iter()
                .any(|s| s.run.is_some() && s.task.depends_on.iter().any(|d| &d.task == name));
            if has_running_dependent {
                continue;
            }
            let task = Arc::clone(&self.slots[i].task);
            let slot = &mut self.slots[i];
            slot.stop_sent = true;
            if let Some(r) = &slot.run {
                let _ = r.control.send(Control::Stop {
                    signal: task.stop_signal,
                    timeout: task.stop_timeout,
                });
                self.out.event(
                    Level::Info,
                    &format!(
                        "{}: stopping (pid {}, {}; SIGKILL after {})",
                        task.name,
                        r.pid,
                        process::unix::signal_name(task.stop_signal),
                        crate::clock::short_duration(task.stop_timeout)
                    ),
                );
            }
        }
    }

    /// Archive the log of a stopped task and record (and keep, for `down`) its receipt.
    fn stop_receipt(&mut self, i: usize, exit: ExitInfo, ran_for: Duration) {
        let name = self.slots[i].task.name.clone();
        let archive = self.archive_log(&name);
        let receipt = StopReceipt {
            task: name,
            exit_code: exit.code,
            signal: exit.signal.map(process::unix::signal_name),
            runtime: crate::clock::short_duration(ran_for),
            final_summary: format!(
                "{} after {}",
                exit.describe(),
                crate::clock::short_duration(ran_for)
            ),
            log_archive: archive,
        };
        self.events.record("stop", &receipt, &self.out.redactor());
        for w in &mut self.waiters {
            if w.tasks.contains(&i) {
                w.receipts.push(receipt.clone());
            }
        }
    }

    /// Gzip the task's current log into `archive/<task>-<UTC>.log.gz`.
    /// `archive/<task>-<UTC>.log.gz`, unique even for two archives in one millisecond.
    fn archive_path(&self, name: &str) -> PathBuf {
        crate::logs::writer::archive_path(&self.state_dir.archive_dir(), name)
    }

    fn archive_log(&mut self, name: &str) -> Option<PathBuf> {
        let log = self.state_dir.log_path(name);
        if !log.exists() {
            return None;
        }
        let dir = self.state_dir.archive_dir();
        let dest = self.archive_path(name);
        let result =
            std::fs::create_dir_all(&dir).and_then(|_| crate::logs::writer::gzip_file(&log, &dest));
        match result {
            Ok(()) => Some(dest),
            Err(e) => {
                self.out
                    .event(Level::Warn, &format!("{name}: cannot archive its log: {e}"));
                None
            }
        }
    }

    fn set_state(&mut self, i: usize, state: State, suffix: &str) {
        self.dirty = true;
        let name = self.slots[i].task.name.clone();
        let (level, detail) = match &state {
            State::Failed { reason } => (Level::Error, format!(" — {reason}")),
            State::Restarting { .. } => (Level::Warn, String::new()),
            State::Degraded { reason } | State::Down { reason } => {
                (Level::Warn, format!(" — {reason}"))
            }
            State::Stopped { detail } => (Level::Info, format!(" — {detail}")),
            State::Blocked { approve } => (Level::Warn, format!(" — approve with: {approve}")),
            _ => (Level::Info, String::new()),
        };
        let quiet_change = matches!(state, State::Starting { .. });
        let from = self.slots[i].state.name();
        self.slots[i].state = state;
        self.events.record(
            "state",
            serde_json::json!({ "task": name, "from": from, "to": self.slots[i].state.name(), "detail": detail.trim_start_matches(" — ") }), &self.out.redactor());
        if !quiet_change {
            let st = self.slots[i].state.name();
            self.out
                .state_event(level, &format!("{name}: {st}{detail}{suffix}"), &name, st);
        }
        if let (State::Failed { reason }, true) = (&self.slots[i].state, crate::annotate::enabled())
        {
            let lines = crate::logs::tail::last_lines(&self.state_dir.log_path(&name), 20);
            let red = self.out.redactor();
            let text = crate::annotate::failure(&name, &format!("FAILED: {reason}"), &lines);
            self.out
                .term
                .push_event(red.redact_str(&text).into_owned().into_bytes());
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

enum DepStatus {
    Ready,
    Wait(String),
    Never(String),
}

/// How long state changes are batched before state.json is rewritten.
const STATE_DEBOUNCE: Duration = Duration::from_millis(20);
/// How long changes are batched before digest files (and notes) are rewritten.
const DIGEST_DEBOUNCE: Duration = Duration::from_millis(250);
/// How often CPU and memory are sampled.
const USAGE_EVERY: Duration = Duration::from_secs(5);

impl Slot {
    fn new(task: &Task, selected: bool) -> Self {
        Slot {
            task: Arc::new(task.clone()),
            selected,
            state: State::Stopped {
                detail: "not started".into(),
            },
            run: None,
            sink: None,
            tracker: RestartTracker::default(),
            seq: 0,
            stop_sent: false,
            restart_now: false,
            last_exit: None,
            removed: false,
            cleared: false,
            pending_fresh: false,
            checkpointing: false,
            stats: Arc::default(),
            usage: None,
            filewatch: None,
            changed: None,
            watch_seq: 0,
            escapees: Vec::new(),
        }
    }
}

/// `BTS_PROJECT`, and `BTS_PORT_<TASK>` for every task that declares a port.
fn common_env(manifest: &Manifest, instance: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BTS_PROJECT".to_string(), manifest.project.clone()),
        ("BTS_INSTANCE".to_string(), instance.to_string()),
    ];
    for t in &manifest.tasks {
        if let Some(p) = t.ports.first() {
            env.push((format!("BTS_PORT_{}", env_suffix(&t.name)), p.to_string()));
        }
    }
    env
}

/// A hash of everything in a task's definition: a reload restarts the task when it
/// changes. FNV-1a over the Debug form, which lists every field.
pub fn config_hash(task: &Task) -> String {
    format!(
        "{:016x}",
        crate::hash::fnv1a(format!("{task:?}").as_bytes())
    )
}

/// `web-dev` → `WEB_DEV`, for `BTS_PORT_<TASK>`.
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
