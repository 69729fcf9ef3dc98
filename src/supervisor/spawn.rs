//! Carrying out starts: pre-flight, the task's log and output sink, the spawn, its
//! probes, its runner and file watcher; the end of a run; checkpoints; and tracking the
//! descendants that leave a run's process group.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::lifecycle::{Event, FailReason, PreflightProblem, RunId, TaskId};
use crate::logs::LogWriter;
use crate::manifest::{Probe, Task};
use crate::output::pump::{LogProbe, TaskSink};
use crate::output::summary::Classifier;
use crate::output::Level;
use crate::receipt::StartReceipt;
use crate::runner::{self, Outcome};

use super::executor::{Msg, RunHandle, Supervisor};
use super::probes::watch_health;

impl Supervisor {
    /// Pre-flight before every start: cwd, command, declared ports
    /// (docs/behaviour.md#dependencies). The problems, if any.
    fn preflight(&self, i: TaskId) -> Option<FailReason> {
        let task = &self.core.slot(i).task;
        let others: Vec<u16> = self
            .core
            .slots()
            .iter()
            .filter(|s| s.is_live() && s.task.name != task.name)
            .flat_map(|s| s.task.ports.iter().copied())
            .collect();
        let mut problems = Vec::new();
        let cwd_ok = crate::preflight::check_cwd(task, &mut problems);
        crate::preflight::check_command(task, cwd_ok, &mut problems);
        let mut typed: Vec<PreflightProblem> = problems
            .into_iter()
            .map(|p| PreflightProblem {
                message: p.message,
                port_in_use: false,
            })
            .collect();
        let mut ports = Vec::new();
        crate::preflight::check_ports(task, &others, &mut ports);
        typed.extend(ports.into_iter().map(|p| PreflightProblem {
            message: p.message,
            port_in_use: true,
        }));
        (!typed.is_empty()).then_some(FailReason::Preflight { problems: typed })
    }

    /// A destructive task's approval goes to audit.log once pre-flight has passed.
    fn audit_approval(&mut self, i: TaskId, how: &str) {
        let t = Arc::clone(&self.core.slot(i).task);
        self.audit.record(
            "approved",
            serde_json::json!({ "task": t.name, "how": how, "command": t.command.display() }),
            &self.out.redactor(),
        );
    }

    pub(super) fn spawn(&mut self, i: TaskId, run: RunId, fresh: bool, approval: Option<String>) {
        if let Err(reason) = self.prepare(i, fresh, approval.as_deref()) {
            self.enqueue(Event::SpawnFailed {
                task: i,
                run,
                reason,
            });
            return;
        }
        let task = Arc::clone(&self.core.slot(i).task);
        let env = self
            .stack_env
            .full(&task, std::env::var_os("PORT").is_some());
        let log_matched = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe = self.log_probe(&task, i, run, &log_matched);
        let pid = match self.launch(i, run, &task.command, &env, probe) {
            Ok(pid) => pid,
            Err(e) => {
                self.enqueue(Event::SpawnFailed {
                    task: i,
                    run,
                    reason: FailReason::Spawn {
                        command: task.command.display(),
                        error: e.to_string(),
                    },
                });
                return;
            }
        };
        let watchers = watch_health(&task, i, run, env.clone(), log_matched, self.tx.clone());
        if let Some(r) = self.handles[i].run.as_mut() {
            r.watchers = watchers;
        }
        self.out.event(
            Level::Info,
            &format!(
                "{}: started (pid {pid}): {}",
                task.name,
                task.command.display()
            ),
        );
        self.record_start(&task, pid, &env);
        self.ensure_filewatch(i);
        self.enqueue(Event::Spawned { task: i, run, pid });
    }

    /// What every start needs: pre-flight, the approval recorded (a destructive task),
    /// the output sink (`fresh`: the log emptied).
    fn prepare(
        &mut self,
        i: TaskId,
        fresh: bool,
        approval: Option<&str>,
    ) -> Result<(), FailReason> {
        if let Some(reason) = self.preflight(i) {
            return Err(reason);
        }
        if let Some(how) = approval {
            self.audit_approval(i, how);
        }
        self.ensure_sink(i, fresh)
    }

    /// Spawn `command` as run `run` of task `i` in its own process group, its output
    /// into the task's sink, and start its runner; returns the pid.
    fn launch(
        &mut self,
        i: TaskId,
        run: RunId,
        command: &crate::manifest::CommandSpec,
        env: &[(String, String)],
        log_probe: Option<LogProbe>,
    ) -> std::io::Result<i32> {
        let task = Arc::clone(&self.core.slot(i).task);
        let Some(mut sink) = self.handles[i].sink.take() else {
            return Err(std::io::Error::other("the task's output is in use"));
        };
        sink.set_log_probe(log_probe);
        let cgroup = self.run_cgroup(i, run);
        let setup = crate::process::ChildSetup {
            nice: task.nice,
            cgroup_procs: cgroup.as_ref().map(|c| c.procs_file()),
            tty: task.tty,
        };
        let spawned = match crate::process::spawn(command, &task.cwd, env, setup) {
            Ok(s) => s,
            Err(e) => {
                self.handles[i].sink = Some(sink);
                if let Some(c) = cgroup {
                    c.remove();
                }
                return Err(e);
            }
        };
        let pid = spawned.pid;
        let terminal = spawned.terminal.clone();
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        self.handles[i].run = Some(RunHandle {
            id: run,
            pid,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            start_time: crate::process::process_start_time(pid),
            control: ctl_tx,
            watchers: Vec::new(),
            last_probe_at: None,
            limits: (!task.limits.is_empty())
                .then(|| crate::limits::LimitWatch::new(task.limits, self.cpu_window)),
            cgroup,
            terminal,
        });
        self.handles[i].limits_near.clear();
        // state.json names the new process at once: a crash now must not orphan it.
        self.dirty = true;
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
                    let error = Event::LogError {
                        task: i,
                        run,
                        message,
                    };
                    let _ = log_tx.send(Msg::Core(error));
                },
            )
            .await;
            let _ = tx.send(Msg::Exited {
                task: i,
                run,
                outcome: Box::new(outcome),
            });
        });
        Ok(pid)
    }

    /// A `log` probe reports its first match from the output path.
    fn log_probe(
        &self,
        task: &Task,
        i: TaskId,
        run: RunId,
        matched: &Arc<std::sync::atomic::AtomicBool>,
    ) -> Option<LogProbe> {
        let Some(Probe::Log(re)) = task.health.as_ref().map(|h| &h.probe) else {
            return None;
        };
        let re = regex::bytes::Regex::new(re).ok()?;
        let tx = self.tx.clone();
        let matched = Arc::clone(matched);
        Some(LogProbe {
            re,
            on_match: Box::new(move |line: String| {
                matched.store(true, std::sync::atomic::Ordering::Relaxed);
                let detail = format!("log matched: {}", crate::digest::shorten(&line, 81));
                let _ = tx.send(Msg::Core(Event::Probe {
                    task: i,
                    run,
                    ok: true,
                    detail,
                }));
            }),
        })
    }

    /// The `start` record of events.jsonl: env keys only, values only for keys matching
    /// `secrets.public` (docs/behaviour.md#secrets).
    fn record_start(&mut self, task: &Task, pid: i32, env: &[(String, String)]) {
        let health = task.health.as_ref().map(|h| match &h.probe {
            Probe::Http(u) => format!("http {u}"),
            Probe::Tcp { host, port } => {
                format!("tcp {}:{port}", host.as_deref().unwrap_or("127.0.0.1"))
            }
            Probe::Cmd(c) => format!("cmd {c}"),
            Probe::Log(r) => format!("log /{r}/"),
        });
        let red = self.out.redactor();
        let shown = red.env_for_display(env);
        let receipt = StartReceipt {
            task: task.name.clone(),
            pid,
            pgid: pid,
            cwd: task.cwd.clone(),
            command: task.command.display(),
            ports: task.ports.clone(),
            env_keys: shown.iter().map(|(k, _)| k.clone()).collect(),
            env_public: shown
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect(),
            health,
            log_path: self.state_dir.log_path(&task.name),
            started_at: crate::clock::now_rfc3339(),
        };
        self.events.record("start", &receipt, &red);
    }

    /// Make sure slot `i` has its output sink (opening the log on first use); `fresh`
    /// empties the log (a start after a stop, not a restart).
    pub(super) fn ensure_sink(&mut self, i: TaskId, fresh: bool) -> Result<(), FailReason> {
        let task = Arc::clone(&self.core.slot(i).task);
        if let Some(sink) = self.handles[i].sink.as_mut() {
            if fresh {
                if let Err(e) = sink.log.truncate() {
                    self.out.event(
                        Level::Warn,
                        &format!("{}: cannot truncate log: {e}", task.name),
                    );
                }
            }
            return Ok(());
        }
        let log = LogWriter::open(
            &self.state_dir.log_path(&task.name),
            task.log_max_kb,
            task.log_keep,
            true,
        )
        .map_err(|e| FailReason::LogOpen {
            error: e.to_string(),
        })?;
        // The loader checked the patterns; should one still fail, the defaults serve
        // rather than losing the task's output.
        let classifier = Classifier::new(task.errors.as_deref(), task.warnings.as_deref())
            .or_else(|_| Classifier::new(None, None))
            .map_err(|e| FailReason::LogOpen {
                error: format!("bad output patterns: {e}"),
            })?;
        let stats = Arc::clone(&self.handles[i].stats);
        let mut sink = TaskSink::new(&task.name, i, self.out.clone(), log, classifier, stats);
        sink.set_cycles(crate::cycles::markers_for(&task));
        let tx = self.tx.clone();
        sink.set_error_notify(Box::new(move || {
            let _ = tx.send(Msg::Errors { task: i });
        }));
        self.handles[i].sink = Some(sink);
        Ok(())
    }

    /// A run ended: take back its sink, stop what escaped its group, tell the core.
    pub(super) fn on_exited(&mut self, i: TaskId, run: RunId, outcome: Outcome) {
        let Some(mut r) = self.handles[i].run.take_if(|r| r.id == run) else {
            return;
        };
        // Killed by the kernel at its memory limit: the core hears it as a limit passed,
        // before the exit, so on_limit decides what follows.
        if let Some(cg) = r.cgroup.take() {
            let max = self.core.slot(i).task.limits.max_memory;
            if let (true, Some(max_bytes)) = (cg.oom_kills() > 0, max) {
                self.limit_passed(i, run, crate::limits::LimitHit::OomKill { max_bytes });
            }
            cg.remove();
        }
        for w in &r.watchers {
            w.abort();
        }
        self.handles[i].sink = Some(outcome.sink);
        self.handles[i].usage = None;
        // Whatever left the group on purpose goes with the run. A leader that exited by
        // itself was not looked at just before: look now.
        if !outcome.requested {
            self.track_escapees(Some(i));
        }
        let escapees = std::mem::take(&mut self.handles[i].escapees);
        if !escapees.is_empty() {
            let grace = self.core.slot(i).task.stop_timeout;
            tokio::spawn(crate::escapees::stop(escapees, grace));
        }
        self.feed(Event::Exited {
            task: i,
            run,
            exit: outcome.exit,
        });
    }

    /// Run a destructive task's checkpoint (`sh -c checkpoint`) as run `attempt`: a
    /// supervised process like any run (its group recorded, stopped at shutdown, killed by
    /// a second signal or at `checkpoint_timeout`), its output in the task's log.
    pub(super) fn start_checkpoint(
        &mut self,
        i: TaskId,
        attempt: RunId,
        fresh: bool,
        approval: String,
    ) {
        if let Err(reason) = self.prepare(i, fresh, Some(&approval)) {
            self.enqueue(Event::SpawnFailed {
                task: i,
                run: attempt,
                reason,
            });
            return;
        }
        let task = Arc::clone(&self.core.slot(i).task);
        let Some(checkpoint) = task.checkpoint.clone() else {
            return;
        };
        self.out.event(
            Level::Info,
            &format!("{}: running checkpoint: {checkpoint}", task.name),
        );
        let env = self
            .stack_env
            .full(&task, std::env::var_os("PORT").is_some());
        let command = crate::manifest::CommandSpec::Shell(checkpoint);
        if let Err(e) = self.launch(i, attempt, &command, &env, None) {
            self.enqueue(Event::SpawnFailed {
                task: i,
                run: attempt,
                reason: FailReason::Checkpoint {
                    why: format!("could not run: {e}"),
                },
            });
        }
    }

    pub(super) fn ensure_filewatch(&mut self, i: TaskId) {
        let task = Arc::clone(&self.core.slot(i).task);
        if task.watch.is_empty() || task.destructive || self.handles[i].filewatch.is_some() {
            return;
        }
        let tx = self.tx.clone();
        let on_change = move |path: std::path::PathBuf| {
            let _ = tx.send(Msg::Core(Event::FileChanged { task: i, path }));
        };
        match crate::filewatch::start(&task.cwd, &task.watch, self.state_dir.root(), on_change) {
            Ok(w) => self.handles[i].filewatch = Some(w),
            Err(e) => self.out.event(Level::Warn, &format!("{}: {e}", task.name)),
        }
    }

    /// Record the descendants of running tasks (all, or only `only`) that left their
    /// process group, so a stop reaches them too.
    pub(super) fn track_escapees(&mut self, only: Option<TaskId>) {
        if cfg!(target_os = "linux") {
            let procs = crate::escapees::snapshot();
            self.track_escapees_in(&procs, only);
        }
    }

    /// [`Self::track_escapees`] with a process table already read.
    pub(super) fn track_escapees_in(
        &mut self,
        procs: &[crate::process::table::Proc],
        only: Option<TaskId>,
    ) {
        let me = std::process::id() as i32;
        let my_sid = nix::unistd::getsid(None).map(|s| s.as_raw()).unwrap_or(0);
        // Orphans re-parented to us: their BTS_INSTANCE and BTS_TASK say whose they are.
        let adopted: Vec<(String, (i32, u64))> = crate::escapees::adopted(procs, me, my_sid)
            .into_iter()
            .filter_map(|e| Some((crate::escapees::task_of(e.0, &self.instance)?, e)))
            .collect();
        let mut added = false;
        for i in 0..self.handles.len() {
            if only.is_some_and(|o| o != i) || !self.core.slot(i).is_live() {
                continue;
            }
            let name = &self.core.slot(i).task.name;
            let h = &mut self.handles[i];
            let mut found = match &h.run {
                Some(r) => crate::escapees::escaped_from(procs, r.pid, r.pid),
                None => vec![],
            };
            found.extend(adopted.iter().filter(|(t, _)| t == name).map(|(_, e)| *e));
            for e in found {
                if !h.escapees.contains(&e) {
                    h.escapees.push(e);
                    added = true;
                }
            }
        }
        self.dirty |= added;
    }
}
