//! The supervisor loop: one `select!` over run messages, signals, control requests and
//! the core's timers. Every input becomes a core event; [`Supervisor::feed`] steps the
//! core and carries out its effects, which may feed further events (a spawn's result).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::control::server::Incoming;
use crate::digest::TaskStats;
use crate::errors::exit;
use crate::events::EventLog;
use crate::lifecycle::{Core, CoreOptions, Event, RunId, TaskId, Timer};
use crate::manifest::Manifest;
use crate::output::pump::TaskSink;
use crate::output::{Level, Output};
use crate::runner::{Control, Outcome};
use crate::state_dir::StateDir;

use super::replies::Replies;

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
    /// Serve until `bts down`, even with nothing running (started by `bts run`).
    pub keep_alive: bool,
    /// Apply saved changes of the manifest at once (`settings.reload`).
    pub live_reload: bool,
}

/// How the limits of this supervisor's tasks are enforced (docs/behaviour.md#resource-limits).
pub(super) enum LimitMode {
    /// No run with limits yet.
    Undecided,
    /// Each limited run in a cgroup of its own under this delegated subtree, and the
    /// sampler.
    Kernel(crate::process::cgroup::CgroupRoot),
    /// The sampler alone.
    Sampler,
}

/// How often runs with limits are sampled (the usage columns of other tasks: every 5 s).
pub(super) const LIMITS_EVERY: Duration = Duration::from_secs(1);
/// How often the state dir is measured against `settings.max_disk`.
pub(super) const DISK_EVERY: Duration = Duration::from_secs(10);

/// What the executor's own async tasks report to the loop.
pub(super) enum Msg {
    /// An event for the core as it is.
    Core(Event),
    /// A run ended; the runner hands back the sink.
    Exited {
        task: TaskId,
        run: RunId,
        outcome: Box<Outcome>,
    },
    /// Error lines arrived in a task's output.
    Errors { task: TaskId },
    /// An archive job of a stop receipt finished (with its error, if any).
    Archived { job: u64, error: Option<String> },
    /// A pass of the disk budget finished.
    DiskPruned(crate::disk_budget::Pruned),
    /// The manifest was saved (live reload).
    ManifestChanged,
}

/// The live run of a task, as the executor holds it.
pub(super) struct RunHandle {
    pub id: RunId,
    pub pid: i32,
    pub started: Instant,
    pub started_wall: SystemTime,
    /// The leader's process start time, to never signal a reused pid.
    pub start_time: Option<u64>,
    pub control: mpsc::UnboundedSender<Control>,
    /// Probe loops of this run, aborted when it ends.
    pub watchers: Vec<tokio::task::JoinHandle<()>>,
    /// When the last probe result came.
    pub last_probe_at: Option<SystemTime>,
    /// The limit watch of a task with limits.
    pub limits: Option<crate::limits::LimitWatch>,
    /// The run's cgroup, when the kernel enforces the limits.
    pub cgroup: Option<crate::process::cgroup::TaskCgroup>,
    /// The run's terminal (`tty: true`), for `bts attach`.
    pub terminal: Option<crate::process::pty::SharedTerminal>,
}

/// What the executor holds for one task (the core holds its phase).
#[derive(Default)]
pub(super) struct Handle {
    pub run: Option<RunHandle>,
    /// The task's output sink while no run holds it.
    pub sink: Option<TaskSink>,
    /// Counts and recent lines from its output.
    pub stats: Arc<std::sync::Mutex<TaskStats>>,
    /// Last CPU % and RSS sample of its group.
    pub usage: Option<(Option<f32>, u64)>,
    pub filewatch: Option<crate::filewatch::FileWatch>,
    /// Descendants of the current run that left its process group: (pid, start time).
    pub escapees: Vec<(i32, u64)>,
    /// The state last recorded in events.jsonl.
    pub recorded: crate::lifecycle::TaskState,
    /// The task's error lines (in all) when events.jsonl last recorded them.
    pub errors_recorded: u64,
    /// Limits the current run is near (80 % or more), as the digest says them.
    pub limits_near: Vec<crate::limits::Near>,
    /// The last limit the task passed: what, what bts did, when.
    pub limit_passed: Option<crate::digest::LimitEvent>,
}

pub struct Supervisor {
    pub(super) core: Core,
    pub(super) handles: Vec<Handle>,
    pub(super) out: Output,
    pub(super) state_dir: StateDir,
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    pub(super) opts: Options,
    /// What bts adds to every task's environment.
    pub(super) stack_env: crate::task_env::StackEnv,
    /// `<pid>.<start time>` of this supervisor.
    pub(super) instance: String,
    pub(super) project: String,
    pub(super) manifest_path: PathBuf,
    pub(super) events: EventLog,
    pub(super) audit: EventLog,
    pub(super) started_at: String,
    /// The state file needs writing (debounced).
    pub(super) dirty: bool,
    /// Digest files (and notes) need rewriting, at this time at the latest.
    pub(super) digests_due: Option<Instant>,
    /// Writes the digest files off the loop.
    pub(super) digest_files: super::digest_writer::DigestWriter,
    pub(super) digest_interval: Duration,
    /// `settings.cpu_window`: how long CPU must stay over `max_cpu`.
    pub(super) cpu_window: Duration,
    /// Live reload: the manifest's watcher, when a reload is due, the bytes applied.
    pub(super) manifest_watch: Option<crate::filewatch::FileWatch>,
    pub(super) reload_at: Option<Instant>,
    pub(super) manifest_bytes: Option<u64>,
    /// Replica counts of `bts scale`, laid over the manifest's until the supervisor exits.
    pub(super) scale: std::collections::BTreeMap<String, u32>,
    /// The files the manifest includes (watched too).
    pub(super) manifest_includes: Vec<PathBuf>,
    /// How limits are enforced (decided at the first run with limits).
    pub(super) limit_mode: LimitMode,
    /// `settings.max_disk`, and the disk budget's pass state.
    pub(super) max_disk: u64,
    pub(super) disk_pass_running: bool,
    /// The state dir was over its budget with nothing left to remove, and was told.
    pub(super) disk_over_told: bool,
    pub(super) notes: Option<PathBuf>,
    pub(super) sampler: crate::usage::Sampler,
    pub(super) last_sample: Option<Instant>,
    /// The core's timers, by due time.
    timers: BTreeMap<(Instant, u64), Timer>,
    timer_seq: u64,
    /// Events produced while carrying out effects, fed before the next wait.
    queue: VecDeque<Event>,
    pub(super) replies: Replies,
    next_waiter: u64,
    /// Archive paths being written.
    pub(super) archiving: Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>>,
    /// Work beside the loop the supervisor waits for before it exits (archive-logs).
    pub(super) side_jobs: Vec<tokio::task::JoinHandle<()>>,
    /// Events fed when the core answers the supervisor's own request (a `--replace`
    /// swap starts the new task once the old one has stopped).
    pub(super) after_answer: std::collections::HashMap<u64, Event>,
    /// Tasks whose runs were asked to stop in this turn (their escapees are looked for
    /// once, at its end).
    pub(super) stopping: Vec<TaskId>,
    /// Tasks whose error lines are recorded again at this time (what came after the
    /// last notice of a burst).
    errors_due: Option<(Instant, BTreeSet<TaskId>)>,
}

/// How long state changes are batched before state.json is rewritten.
const STATE_DEBOUNCE: Duration = Duration::from_millis(20);
/// How long changes are batched before digest files (and notes) are rewritten.
pub(super) const DIGEST_DEBOUNCE: Duration = Duration::from_millis(250);
/// How often CPU and memory are sampled.
const USAGE_EVERY: Duration = Duration::from_secs(5);

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
        let instance = crate::process::instance_id();
        let core = Core::new(
            &manifest.tasks,
            selected,
            CoreOptions {
                abort_on_exit: opts.abort_on_exit,
                exit_code_from: opts.exit_code_from.clone(),
                approvals: opts.approvals.clone(),
                keep_alive: opts.keep_alive,
            },
            Instant::now(),
        );
        Supervisor {
            handles: manifest.tasks.iter().map(|_| Handle::default()).collect(),
            core,
            events: EventLog::open(&state_dir.events_path()),
            audit: EventLog::open(&state_dir.audit_path()),
            digests_due: None,
            digest_files: super::digest_writer::DigestWriter::start(out.clone()),
            digest_interval: manifest.settings.digest_interval,
            cpu_window: manifest.settings.cpu_window,
            max_disk: manifest.settings.max_disk,
            limit_mode: LimitMode::Undecided,
            manifest_watch: None,
            reload_at: None,
            // The bytes as loaded (as near to the load as the supervisor gets).
            // Read when the watch starts, before any task does.
            manifest_bytes: None,
            manifest_includes: manifest.includes.clone(),
            scale: Default::default(),
            disk_pass_running: false,
            disk_over_told: false,
            notes: manifest.settings.notes.clone(),
            sampler: crate::usage::Sampler::default(),
            last_sample: None,
            stack_env: crate::task_env::StackEnv::new(
                &manifest.project,
                &manifest.tasks,
                Some(&instance),
            ),
            instance,
            project: manifest.project.clone(),
            manifest_path: manifest.path.clone(),
            started_at: crate::clock::now_rfc3339(),
            dirty: true,
            out,
            state_dir,
            tx,
            rx,
            opts,
            timers: BTreeMap::new(),
            timer_seq: 0,
            queue: VecDeque::new(),
            replies: Replies::default(),
            next_waiter: 0,
            archiving: Default::default(),
            side_jobs: Vec::new(),
            stopping: Vec::new(),
            after_answer: Default::default(),
            errors_due: None,
        }
    }

    /// Run until nothing is left running or due to restart; returns the exit code.
    /// `control` delivers requests from the control socket.
    pub async fn run(mut self, mut control: mpsc::UnboundedReceiver<Incoming>) -> u8 {
        let mut signals =
            match signal_hook_tokio::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP]) {
                Ok(s) => s,
                Err(e) => {
                    self.out.event(
                        Level::Error,
                        &format!("cannot install signal handlers: {e}"),
                    );
                    return exit::FAILURE;
                }
            };
        // Watching before any task starts: a save from then on is seen.
        self.start_manifest_watch();
        // Kernel limits need bts's cgroup before any task is in it.
        if self.core.slots().iter().any(|s| !s.task.limits.is_empty()) {
            self.decide_limit_mode();
        }
        self.feed(Event::Boot);
        // Ad-hoc tasks (`bts run`) kept in the state dir start again.
        let (adhoc, problems) = crate::adhoc::load_all(&self.state_dir);
        for p in problems {
            self.out
                .event(Level::Warn, &format!("ad-hoc task not started: {p}"));
        }
        for (task, _) in adhoc {
            if self.core.find(&task.name).is_some() {
                // bts.yaml has a task of that name now: it wins.
                self.out.event(
                    Level::Warn,
                    &format!(
                        "ad-hoc task {} not started: bts.yaml has a task of that name (forgotten)",
                        task.name
                    ),
                );
                crate::adhoc::remove(&self.state_dir, &task.name);
                continue;
            }
            self.feed(Event::Request(crate::lifecycle::Request::Add {
                waiter: None,
                task: Box::new(task),
                wait: false,
                approval: None,
            }));
        }
        self.refresh_stack_env();
        let mut next_write = Instant::now();
        let start = Instant::now();
        let mut periodic =
            tokio::time::interval_at(start + self.digest_interval, self.digest_interval);
        let mut usage = tokio::time::interval_at(start + USAGE_EVERY, USAGE_EVERY);
        usage.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut limits = tokio::time::interval_at(start + LIMITS_EVERY, LIMITS_EVERY);
        limits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: a pass at start.
        let mut disk = tokio::time::interval(DISK_EVERY);
        disk.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.core.finished() {
            if self.dirty && Instant::now() >= next_write {
                self.write_state();
                next_write = Instant::now() + STATE_DEBOUNCE;
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let flush_at = if self.dirty { next_write } else { far };
            let digests_at = self.digests_due.unwrap_or(far);
            let timer_at = self.timers.keys().next().map_or(far, |k| k.0);
            let errors_at = self.errors_due.as_ref().map_or(far, |e| e.0);
            tokio::select! {
                Some(msg) = self.rx.recv() => self.on_msg(msg),
                Some(sig) = signals.next() => self.on_signal(sig),
                Some(req) = control.recv() => self.on_request(req),
                _ = tokio::time::sleep_until(timer_at), if !self.timers.is_empty() => self.fire_timers(),
                _ = tokio::time::sleep_until(flush_at), if self.dirty => {}
                _ = tokio::time::sleep_until(errors_at), if self.errors_due.is_some() => {
                    if let Some((_, tasks)) = self.errors_due.take() {
                        for t in tasks {
                            self.record_errors(t);
                        }
                    }
                }
                _ = tokio::time::sleep_until(digests_at), if self.digests_due.is_some() => {
                    self.digests_due = None;
                    self.write_digests();
                }
                _ = periodic.tick() => self.periodic_digest(),
                _ = usage.tick(), if self.handles.iter().any(|h| h.run.is_some()) => {
                    // One read of the process table serves both.
                    let procs = crate::process::table::all();
                    self.sample_usage(&procs);
                    // A note held back while the floods that made it ended.
                    self.out.note_hidden(crate::output::NoteWhen::Due(Instant::now().into_std()));
                    self.track_escapees_in(&procs, None);
                }
                _ = disk.tick() => self.check_disk(),
                _ = tokio::time::sleep_until(self.reload_at.unwrap_or(far)), if self.reload_at.is_some() => self.live_reload(),
                _ = limits.tick(), if self.watching_limits() => {
                    let procs = self.limited_trees();
                    self.check_limits(&procs);
                }
            }
        }
        signals.handle().close();
        for job in std::mem::take(&mut self.side_jobs) {
            let _ = job.await;
        }
        self.stop_adopted().await;
        // Archives of the last stops are written before the answers that name them.
        self.finish_archives().await;
        self.write_state();
        self.write_digests();
        // The last digests are on disk before the answers and the exit.
        self.digest_files.finish();
        // Lines hidden since the last "not shown" note are told before bts goes.
        self.out.note_hidden(crate::output::NoteWhen::Now);
        let effects = self.core.finish_waiters();
        for e in effects {
            self.perform(e);
        }
        self.finish_archives().await;
        self.core.exit_code()
    }

    /// Step the core with `event` and carry out the effects, until no effect has
    /// produced a further event.
    pub(super) fn feed(&mut self, event: Event) {
        self.queue.push_back(event);
        while let Some(ev) = self.queue.pop_front() {
            let effects = self.core.step(ev, Instant::now());
            // A reload may have added tasks.
            self.handles
                .resize_with(self.core.slots().len(), Handle::default);
            for e in effects {
                self.perform(e);
            }
        }
        // The runs asked to stop: what left their groups is found in one read of the
        // process table, before their stop can end them.
        if !self.stopping.is_empty() {
            let only = std::mem::take(&mut self.stopping);
            if cfg!(target_os = "linux") {
                let procs = crate::escapees::snapshot();
                for i in only {
                    self.track_escapees_in(&procs, Some(i));
                }
            }
        }
        for log in [&mut self.events, &mut self.audit] {
            if let Some(e) = log.take_failure() {
                self.out.event(Level::Warn, &e);
            }
        }
    }

    /// An event to feed once the current effects are carried out.
    pub(super) fn enqueue(&mut self, event: Event) {
        self.queue.push_back(event);
    }

    pub(super) fn arm(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), timer);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.feed(Event::Timer(timer));
        }
    }

    pub(super) fn new_waiter(&mut self) -> u64 {
        self.next_waiter += 1;
        self.next_waiter
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Core(ev) => {
                if let Event::Probe { task, run, .. } = &ev {
                    if let Some(r) = self.handles[*task].run.as_mut().filter(|r| r.id == *run) {
                        r.last_probe_at = Some(SystemTime::now());
                    }
                }
                self.feed(ev)
            }
            Msg::Exited { task, run, outcome } => self.on_exited(task, run, *outcome),
            Msg::Errors { task } => {
                self.record_errors(task);
                // Lines of the same burst after this notice are recorded a moment later.
                let due = self.errors_due.get_or_insert_with(|| {
                    (
                        Instant::now() + crate::output::pump::ERRORS_NOTIFY_EVERY,
                        BTreeSet::new(),
                    )
                });
                due.1.insert(task);
            }
            Msg::Archived { job, error } => self.archived(job, error),
            Msg::DiskPruned(p) => self.disk_pruned(p),
            Msg::ManifestChanged => self.manifest_changed(),
        }
    }

    fn on_signal(&mut self, sig: i32) {
        let name = crate::process::unix::signal_name(sig);
        if sig == libc::SIGHUP {
            if self.core.mode() == crate::lifecycle::Mode::Serving {
                self.out
                    .event(Level::Info, "SIGHUP received: reloading the manifest");
                let (path, patterns) = (self.manifest_path.clone(), self.opts.patterns.clone());
                let full = patterns.is_empty();
                if let Err(r) = self.reload(&path, &patterns, &[], false, None, full) {
                    self.out
                        .event(Level::Error, r.error.as_deref().unwrap_or("reload failed"));
                }
            }
            return;
        }
        self.feed(Event::Interrupt { signal: name });
    }

    /// Escaped descendants whose parent exited were re-parented to us: none may survive
    /// the supervisor.
    async fn stop_adopted(&mut self) {
        let procs = crate::escapees::snapshot();
        let me = std::process::id() as i32;
        let my_sid = nix::unistd::getsid(None).map(|s| s.as_raw()).unwrap_or(0);
        let mut left = crate::escapees::adopted(&procs, me, my_sid);
        for h in &mut self.handles {
            left.append(&mut h.escapees);
        }
        if !left.is_empty() {
            self.out.event(
                Level::Info,
                &format!("stopping {} escaped descendant process(es)", left.len()),
            );
            crate::escapees::stop(left, Duration::from_secs(2)).await;
        }
    }

    /// What bts adds to tasks' environments, from every task now known (manifest and
    /// ad-hoc: `BTS_PORT_<TASK>` names them all).
    pub(super) fn refresh_stack_env(&mut self) {
        let tasks: Vec<crate::manifest::Task> = self
            .core
            .slots()
            .iter()
            .filter(|s| s.is_live())
            .map(|s| (*s.task).clone())
            .collect();
        self.stack_env =
            crate::task_env::StackEnv::new(&self.project, &tasks, Some(&self.instance));
    }

    /// Record in events.jsonl the error lines of task `i` since the last record: how
    /// many, and the last one (redacted).
    fn record_errors(&mut self, i: TaskId) {
        let Some(h) = self.handles.get_mut(i) else {
            return;
        };
        let (total, last) = {
            let st = h.stats.lock().unwrap_or_else(|e| e.into_inner());
            (st.errors_total, st.last_error.as_ref().map(|e| e.0.clone()))
        };
        if total <= h.errors_recorded {
            return;
        }
        let new = total - std::mem::replace(&mut h.errors_recorded, total);
        let name = self.core.slot(i).task.name.clone();
        self.events.record(
            "errors",
            serde_json::json!({ "task": name, "new": new, "total": total, "last": last }),
            &self.out.redactor(),
        );
    }

    /// Wait for the archive jobs still running, handling their results.
    async fn finish_archives(&mut self) {
        while self.replies.archives_pending() {
            match self.rx.recv().await {
                Some(Msg::Archived { job, error }) => self.archived(job, error),
                // Runs have all ended; nothing else needs the loop now.
                Some(_) => {}
                None => break,
            }
        }
    }
}
