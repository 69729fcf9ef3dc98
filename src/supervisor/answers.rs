//! Requests from the control socket: resolving task names, handing the request to the
//! core, and answering — at once (`status`) or when the core says the tasks got there
//! (`down`, `restart`, a second `up`). Stop receipts name the archive of the task's log;
//! the archive is gzipped off the loop, and an answer that carries the receipt waits
//! for it.

use std::path::Path;

use tokio::sync::oneshot;

use crate::control::protocol::{Request, Response};
use crate::control::server::Incoming;
use crate::errors::exit;
use crate::lifecycle::{self, Event, TaskId};
use crate::manifest;
use crate::output::Level;

use super::executor::Supervisor;

impl Supervisor {
    pub(super) fn on_request(&mut self, inc: Incoming) {
        let Incoming {
            request,
            reply,
            upgrade,
        } = inc;
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
            Request::Down { tasks, signal } => {
                let signal = match signal
                    .as_deref()
                    .map(crate::manifest::validate::parse_signal)
                {
                    None => None,
                    Some(Some(s)) => Some(s as i32),
                    Some(None) => {
                        let _ = reply.send(Response::error(
                            format!("`{}` is not a signal name", signal.unwrap_or_default()),
                            Some("examples: SIGTERM, INT, SIGQUIT".into()),
                        ));
                        return;
                    }
                };
                let resolved = if tasks.is_empty() {
                    Ok(None)
                } else {
                    self.resolve(&tasks).map(Some)
                };
                match resolved {
                    Ok(tasks) => {
                        // An ad-hoc task stopped by `down` is forgotten: a restarted
                        // supervisor does not start it again.
                        for i in 0..self.core.slots().len() {
                            let s = self.core.slot(i);
                            let named = tasks.as_ref().is_none_or(|t| t.contains(&i));
                            if named && s.origin == lifecycle::Origin::Adhoc {
                                crate::adhoc::remove(&self.state_dir, &s.task.name);
                            }
                        }
                        let waiter = self.park(reply, tasks.clone());
                        self.feed(Event::Request(lifecycle::Request::Down {
                            waiter,
                            tasks,
                            signal,
                        }));
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
            Request::Run {
                name,
                yaml,
                replace,
                wait,
                confirm,
            } => match self.add_adhoc(&name, &yaml, replace, confirm) {
                Ok((task, swap)) => {
                    let waiter = self.new_waiter();
                    self.replies.open(waiter, reply, vec![]);
                    let add = Event::Request(lifecycle::Request::Add {
                        waiter: Some(waiter),
                        task: Box::new(task),
                        wait,
                        approval: confirm.then(|| "run --confirm".to_string()),
                    });
                    match swap {
                        Some(other) => {
                            // --replace of a task running the same command: it stops
                            // (and, ad-hoc, is forgotten) and the new one starts once it
                            // has (it may hold the same port).
                            let s = self.core.slot(other);
                            if s.origin == lifecycle::Origin::Adhoc {
                                crate::adhoc::remove(&self.state_dir, &s.task.name);
                            }
                            let w = self.new_waiter();
                            self.after_answer.insert(w, add);
                            self.feed(Event::Request(lifecycle::Request::Down {
                                waiter: w,
                                signal: None,
                                tasks: Some(vec![other]),
                            }));
                        }
                        None => self.feed(add),
                    }
                    self.refresh_stack_env();
                }
                Err(e) => {
                    let _ = reply.send(*e);
                }
            },
            Request::Attach {
                task,
                who,
                rows,
                cols,
            } => {
                let answer = match (self.attach(&task, &who, rows, cols), upgrade) {
                    (Ok(up), Some(tx)) => {
                        let _ = tx.send(up);
                        Response {
                            ok: true,
                            project: self.project.clone(),
                            ..Default::default()
                        }
                    }
                    (Ok(_), None) => Response::error("attach needs a connection of its own", None),
                    (Err(r), _) => *r,
                };
                let _ = reply.send(answer);
            }
            Request::Scale { counts } => {
                let waiter = self.new_waiter();
                self.replies.open(waiter, reply, vec![]);
                if let Err(r) = self.scale(counts, waiter) {
                    self.replies.refuse(waiter, *r);
                }
            }
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
                let full = tasks.is_empty();
                if let Err(r) = self.reload(&manifest, &tasks, &confirm, yes, Some(waiter), full) {
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
        if let Some(next) = self.after_answer.remove(&waiter) {
            self.enqueue(next);
            return;
        }
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

    /// Check an ad-hoc task (`bts run`) against the running stack and keep it in the
    /// state dir; returns the task to add, or the refusal.
    fn add_adhoc(
        &mut self,
        name: &str,
        yaml: &str,
        replace: bool,
        confirm: bool,
    ) -> Result<(crate::manifest::Task, Option<TaskId>), Box<Response>> {
        let refuse = |msg: String, hint: Option<String>| Box::new(Response::error(msg, hint));
        let task = crate::adhoc::validate(yaml, self.state_dir.root())
            .map_err(|e| refuse(e.message, e.hint))?;
        if task.name != name {
            return Err(refuse(
                format!("the task is named `{}`, not `{name}`", task.name),
                None,
            ));
        }
        let live = |s: &&lifecycle::TaskSlot| s.is_live();
        for dep in &task.depends_on {
            if dep.task == name {
                return Err(refuse(
                    "--depends-on: a task cannot depend on itself".into(),
                    None,
                ));
            }
            let Some(d) = self.core.find(&dep.task) else {
                let known: Vec<&str> = self
                    .core
                    .slots()
                    .iter()
                    .filter(live)
                    .map(|s| s.task.name.as_str())
                    .collect();
                return Err(refuse(
                    format!("--depends-on: no task `{}`", dep.task),
                    Some(format!("known tasks: {}", known.join(", "))),
                ));
            };
            // It must be on its way: nothing would ever start it for this task.
            let state = self.core.slot(d).state();
            if !state.is_active() && state != lifecycle::TaskState::Exited {
                return Err(refuse(
                    format!("--depends-on: `{}` is not running ({state})", dep.task),
                    Some(format!("start it first: `bts up {}`", dep.task)),
                ));
            }
        }
        if let Some(i) = self.core.find(name) {
            let s = self.core.slot(i);
            let busy = s.state().is_active();
            if !replace && (s.origin == lifecycle::Origin::Manifest || busy) {
                let what = match s.origin {
                    lifecycle::Origin::Manifest => format!(
                        "`{name}` is a task of {} (line {})",
                        self.manifest_path.display(),
                        s.task.line
                    ),
                    lifecycle::Origin::Adhoc => format!(
                        "`{name}` already runs ({}: {})",
                        s.state(),
                        s.task.command.display()
                    ),
                };
                return Err(refuse(
                    what,
                    Some(format!(
                        "choose another name, or `bts run --replace {name} …`"
                    )),
                ));
            }
        }
        let same = (0..self.core.slots().len()).find(|&i| {
            let s = self.core.slot(i);
            s.is_live()
                && s.task.name != name
                && s.state().is_active()
                && s.task.command == task.command
                && s.task.cwd == task.cwd
        });
        if let (Some(i), false) = (same, replace) {
            let other = self.core.slot(i);
            return Err(refuse(
                format!(
                    "`{}` already runs `{}` in {}",
                    other.task.name,
                    task.command.display(),
                    task.cwd.display()
                ),
                Some(format!(
                    "use `{o}` (`bts status {o}`), stop it first (`bts down {o}`), or swap it: `bts run --replace {name} …`",
                    o = other.task.name
                )),
            ));
        }
        if task.destructive && !confirm {
            let mut r = Response::error(
                format!("`{name}` is destructive: running it needs approval"),
                Some("add --confirm".into()),
            );
            r.code = exit::FAILURE;
            return Err(Box::new(r));
        }
        // A busy port is refused now, naming its holder and a free port (unless the
        // holder is the run this one replaces).
        let replacing = same.is_some()
            || self
                .core
                .find(name)
                .is_some_and(|i| self.core.slot(i).state().is_running());
        let others: Vec<u16> = self
            .core
            .slots()
            .iter()
            .filter(live)
            .filter(|s| s.task.name != name)
            .flat_map(|s| s.task.ports.iter().copied())
            .collect();
        // A port another task of the stack declares is refused, running or not.
        for &p in &task.ports {
            let holder = self.core.slots().iter().filter(live).find(|s| {
                s.task.name != name
                    && Some(&s.task.name) != same.map(|i| &self.core.slot(i).task.name)
                    && s.task.ports.contains(&p)
            });
            if let Some(h) = holder {
                let mut r = Response::error(
                    format!("--port: {p} is declared by task `{}`", h.task.name),
                    Some("choose another port".into()),
                );
                r.code = exit::FAILURE;
                return Err(Box::new(r));
            }
        }
        let busy = task
            .ports
            .iter()
            .find_map(|&p| crate::preflight::port_problem(p, &others));
        if let (Some(p), false) = (busy, replacing) {
            let mut r = Response::error(format!("--port: {p}"), None);
            r.code = exit::FAILURE;
            return Err(Box::new(r));
        }
        let spec = crate::adhoc::Spec {
            name: name.to_string(),
            yaml: yaml.to_string(),
        };
        crate::adhoc::save(&self.state_dir, &spec)
            .map_err(|e| refuse(format!("cannot keep the task in the state dir: {e}"), None))?;
        Ok((task, same))
    }

    /// Live tasks matching names or globs; an unknown one is an error naming the known
    /// tasks.
    fn resolve(&self, patterns: &[String]) -> Result<Vec<TaskId>, Box<Response>> {
        let live: Vec<TaskId> = (0..self.core.slots().len())
            .filter(|&i| self.core.slot(i).is_live())
            .collect();
        let names: Vec<&str> = live
            .iter()
            .map(|&i| self.core.slot(i).task.name.as_str())
            .collect();
        crate::selector::select(&names, patterns)
            .map(|hits| hits.into_iter().map(|k| live[k]).collect())
            .map_err(|e| Box::new(Response::error(e.to_string(), e.hint())))
    }

    /// `bts attach`: the terminal of a running `tty: true` task, if nobody else holds it.
    fn attach(
        &mut self,
        task: &str,
        who: &str,
        rows: u16,
        cols: u16,
    ) -> Result<crate::control::server::Upgrade, Box<Response>> {
        let refuse =
            |error: String, hint: &str| Box::new(Response::error(error, Some(hint.into())));
        let Some(i) = self
            .core
            .find(task)
            .filter(|&i| self.core.slot(i).is_live())
        else {
            return Err(refuse(
                format!("no task `{task}`"),
                "name a task of `bts status` (a replica by its full name: web.2)",
            ));
        };
        if !self.core.slot(i).task.tty {
            return Err(refuse(
                format!("task `{task}` has no terminal to attach to"),
                "add `tty: true` to it in bts.yaml (it then runs on a pseudo-terminal), and restart it",
            ));
        }
        let Some(terminal) = self.handles[i]
            .run
            .as_ref()
            .and_then(|r| r.terminal.clone())
        else {
            return Err(refuse(
                format!("task `{task}` is not running"),
                "start it first: `bts restart` or `bts up`",
            ));
        };
        let output = terminal.attach(who).map_err(|holder| {
            refuse(
                format!("task `{task}` is attached by {holder}"),
                "one client at a time: detach there first (Ctrl-])",
            )
        })?;
        if rows > 0 && cols > 0 {
            terminal.resize(rows, cols);
        }
        self.out
            .event(Level::Info, &format!("{task}: {who} attached"));
        Ok(crate::control::server::Upgrade { terminal, output })
    }

    /// `bts scale`: new replica counts, applied like a reload of the manifest with them
    /// (new copies start, extra ones stop, the rest keep running); they stay until the
    /// supervisor exits, through later reloads.
    fn scale(&mut self, counts: Vec<(String, u32)>, waiter: u64) -> Result<(), Box<Response>> {
        let path = self.manifest_path.clone();
        if let Some((task, n)) = counts
            .iter()
            .find(|(_, n)| !(1..=crate::manifest::validate::MAX_REPLICAS as u32).contains(n))
        {
            return Err(Box::new(Response::error(
                format!("cannot run {n} copies of `{task}`"),
                Some("1 to 64 copies".into()),
            )));
        }
        let mut scale = self.scale.clone();
        scale.extend(counts.iter().cloned());
        let scaled = manifest::load_path_scaled(&path, &scale).map_err(|e| {
            Box::new(Response::error(
                e.to_string(),
                Some("fix the manifest first".into()),
            ))
        })?;
        // A task of the manifest has copies now; any other name (or `web.1`) is none.
        for (task, _) in &counts {
            let copies = scaled
                .tasks
                .iter()
                .any(|t| t.replica.as_ref().is_some_and(|r| r.of == *task));
            if !copies {
                return Err(Box::new(Response::error(
                    format!("no task `{task}` in {}", path.display()),
                    Some("scale a task by its name in bts.yaml (web=4, not web.1=4)".into()),
                )));
            }
        }
        self.scale = scale;
        // Only the scaled tasks change: every other task keeps the definition it runs
        // with (an edit not applied yet stays so), and a task stopped stays stopped.
        let of_scaled = |t: &manifest::Task| {
            counts.iter().any(|(base, _)| {
                t.name == *base || t.replica.as_ref().is_some_and(|r| r.of == *base)
            })
        };
        let mut tasks: Vec<manifest::Task> = self
            .core
            .slots()
            .iter()
            .filter(|s| s.is_live() && s.origin == lifecycle::Origin::Manifest)
            .map(|s| (*s.task).clone())
            .filter(|t| !of_scaled(t))
            .collect();
        let copies: Vec<manifest::Task> =
            scaled.tasks.into_iter().filter(|t| of_scaled(t)).collect();
        let selected = copies.iter().map(|t| t.name.clone()).collect();
        tasks.extend(copies);
        self.feed(Event::Request(lifecycle::Request::Reload {
            waiter: Some(waiter),
            tasks,
            selected,
            full: true,
            approvals: vec![],
        }));
        Ok(())
    }

    /// Load `path` and hand the core the new desired state. `full` (a second `bts up`
    /// without task names, a saved manifest): start missing tasks, restart changed
    /// ones, stop removed ones; otherwise only add the tasks `patterns` name (and their
    /// dependencies).
    pub(super) fn reload(
        &mut self,
        path: &Path,
        patterns: &[String],
        confirm: &[String],
        yes: bool,
        waiter: Option<u64>,
        full: bool,
    ) -> Result<(), Box<Response>> {
        let manifest = match manifest::load_path_scaled(path, &self.scale) {
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
        let selected = crate::selector::stack(&manifest, patterns)
            .map_err(|e| Box::new(Response::error(e.to_string(), e.hint())))?;
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
            .filter(|t| {
                // `--confirm web` approves every copy of a replicated `web`.
                let named = confirm.contains(&t.name)
                    || t.replica.as_ref().is_some_and(|r| confirm.contains(&r.of));
                yes && selected.contains(&t.name) || named
            })
            .map(|t| (t.name.clone(), how.to_string()))
            .collect();
        match crate::redact::for_manifest(&manifest) {
            Ok(r) => self.out.set_redactor(r),
            Err(e) => self.out.event(
                Level::Warn,
                &format!("reload: keeping the previous secrets settings: {e}"),
            ),
        }
        let mut known = manifest.tasks.clone();
        known.extend(
            self.core
                .slots()
                .iter()
                .filter(|s| s.is_live() && s.origin == lifecycle::Origin::Adhoc)
                .map(|s| (*s.task).clone()),
        );
        self.stack_env =
            crate::task_env::StackEnv::new(&manifest.project, &known, Some(&self.instance));
        self.project = manifest.project.clone();
        self.manifest_includes = manifest.includes.clone();
        self.feed(Event::Request(lifecycle::Request::Reload {
            waiter,
            tasks: manifest.tasks.clone(),
            selected,
            full,
            approvals,
        }));
        Ok(())
    }
}
