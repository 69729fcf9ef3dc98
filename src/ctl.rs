//! The commands that talk to a running supervisor or read what it left on disk:
//! `status`, `ps`, `restart`, `down`, `cleanup`, `logs`.

use std::io::Write;
use std::time::Duration;

use crate::cli::{DownArgs, GlobalArgs, LogsArgs, PsArgs, RestartArgs, StatusArgs};
use crate::control::client;
use crate::control::protocol::{Request, Response};
use crate::digest::{self, Digest};
use crate::errors::{exit, AppError};
use crate::lifecycle::TaskState;
use crate::logs::tail;
use crate::manifest::{self, Manifest};
use crate::orphans;
use crate::output::summary::{Class, Classifier};
use crate::state_dir::StateDir;

/// The manifest and its state dir (which may not exist yet).
pub(crate) fn context(global: &GlobalArgs) -> Result<(Manifest, StateDir), AppError> {
    // Ad-hoc tasks (`bts run`) may live where there is no bts.yaml.
    let mut m = manifest::load_or_implicit(global.file.as_deref(), |cwd| {
        cwd.join(".bts").join("adhoc").is_dir()
    })?;
    let sd = StateDir::at(&m.settings.state_dir);
    // Ad-hoc tasks are tasks of the stack for every command (names, logs, status).
    for (t, _) in crate::adhoc::load_all(&sd).0 {
        if m.task(&t.name).is_none() {
            m.tasks.push(t);
        }
    }
    Ok((m, sd))
}

/// The running supervisor's socket, if one runs (and is not on its way out).
pub(crate) fn supervisor(sd: &StateDir) -> Result<Option<std::path::PathBuf>, AppError> {
    if !sd.supervisor_running() {
        return Ok(None);
    }
    crate::control::client::running_socket(sd)
}

/// The running supervisor's socket, or the error of a command that needs one, with
/// `hint` (how to start one for what the command does).
pub(crate) fn needs_supervisor(
    m: &Manifest,
    sd: &StateDir,
    hint: &str,
) -> Result<std::path::PathBuf, AppError> {
    supervisor(sd)?.ok_or_else(|| {
        AppError::new(format!("no supervisor is running for {}", m.project))
            .with_hint(hint)
            .with_code(exit::FAILURE)
    })
}

pub(crate) fn ask(
    socket: &std::path::Path,
    req: &Request,
    timeout: Option<Duration>,
) -> Result<Response, AppError> {
    client::request(socket, req, timeout)
        .map_err(|e| AppError::io("cannot reach the supervisor", e))?
        .into_result()
}

/// Digests from the supervisor, or — with none running — every task of the manifest as
/// STOPPED.
fn digests(
    m: &Manifest,
    sd: &StateDir,
    patterns: &[String],
) -> Result<(Vec<Digest>, bool), AppError> {
    if let Some(socket) = supervisor(sd)? {
        let r = ask(
            &socket,
            &Request::Status {
                tasks: patterns.to_vec(),
            },
            Some(Duration::from_secs(10)),
        )?;
        return Ok((r.tasks, true));
    }
    let names = match_names(m, patterns)?;
    // What the last supervisor left: final states stay as they were; a task it had
    // running is not running now.
    let last = digest::read_digest_file(&sd.digest_path(), None).unwrap_or_default();
    let tasks = m
        .tasks
        .iter()
        .filter(|t| names.contains(&t.name))
        .map(|t| match last.iter().find(|d| d.task == t.name) {
            Some(d) if d.status.is_final() => Digest {
                pid: None,
                uptime: None,
                cpu_percent: None,
                rss_bytes: None,
                ..d.clone()
            },
            Some(d) => Digest {
                status: TaskState::Stopped,
                detail: format!("the supervisor is gone (it last saw it {})", d.status),
                pid: None,
                uptime: None,
                cpu_percent: None,
                rss_bytes: None,
                ..d.clone()
            },
            None => Digest {
                task: t.name.clone(),
                status: TaskState::Stopped,
                detail: "not started".into(),
                ports: t.ports.clone(),
                log_path: sd.log_path(&t.name),
                ..Default::default()
            },
        })
        .collect();
    Ok((tasks, false))
}

/// The manifest's tasks `patterns` name (all when empty), in manifest order.
pub(crate) fn match_names(m: &Manifest, patterns: &[String]) -> Result<Vec<String>, AppError> {
    crate::selector::select_names(&crate::selector::task_names(m), patterns)
        .map_err(|e| e.into_app_error(&m.path, ""))
}

fn print_json(project: &str, tasks: &impl serde::Serialize) {
    let doc = serde_json::json!({ "project": project, "tasks": tasks });
    println!("{doc}");
}

/// The state dir's size and budget when it uses 80 % of `settings.max_disk` or more
/// (docs/behaviour.md#disk-budget).
fn disk_near_budget(m: &Manifest, sd: &StateDir) -> Option<(u64, u64)> {
    let max = m.settings.max_disk;
    let used = crate::disk_budget::measure(sd).total;
    (used as f64 >= max as f64 * crate::disk_budget::SHOW_FROM).then_some((used, max))
}

pub fn status(global: &GlobalArgs, args: StatusArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    let (tasks, running) = digests(&m, &sd, &args.tasks)?;
    let disk = disk_near_budget(&m, &sd);
    if args.json {
        let mut doc = serde_json::json!({ "project": m.project, "tasks": tasks });
        if let Some((used, max)) = disk {
            doc["disk"] = serde_json::json!({ "state_dir_bytes": used, "max_disk_bytes": max });
        }
        println!("{doc}");
        return Ok(exit::OK);
    }
    let mut out = std::io::stdout().lock();
    if let Some((used, max)) = disk {
        use crate::manifest::size::size_text;
        let _ = writeln!(
            out,
            "Disk: {} uses {} of its {} budget (settings.max_disk); the oldest archives and rotations go first",
            crate::digest::relative(sd.root()).display(),
            size_text(used),
            size_text(max)
        );
    }
    if args.tasks.is_empty() && !args.all {
        let url_of = |t: &str| match &m.task(t)?.health.as_ref()?.probe {
            crate::manifest::Probe::Http(u) => Some(u.clone()),
            _ => None,
        };
        let _ = write!(
            out,
            "{}",
            crate::handoff::render(&m.project, &tasks, running, url_of)
        );
        return Ok(exit::OK);
    }
    if !running {
        let _ = writeln!(
            out,
            "bts: no supervisor running for {} (start one with `bts up`)",
            m.project
        );
    }
    for (i, d) in tasks.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out);
        }
        let _ = write!(out, "{}", digest::render_text(d));
    }
    Ok(exit::OK)
}

pub fn ps(global: &GlobalArgs, args: PsArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    let (tasks, _) = digests(&m, &sd, &args.tasks)?;
    if args.json {
        print_json(&m.project, &tasks);
        return Ok(exit::OK);
    }
    let header = [
        "NAME", "STATE", "PID", "PORTS", "UPTIME", "RESTARTS", "HEALTH", "CPU", "MEM",
    ];
    let rows: Vec<[String; 9]> = tasks
        .iter()
        .map(|d| {
            [
                d.task.clone(),
                d.status.to_string(),
                d.pid.map_or("-".into(), |p| p.to_string()),
                d.ports_cell(),
                d.uptime_cell(),
                d.restarts.to_string(),
                d.health.as_ref().map_or("-".into(), |h| h.status.clone()),
                d.cpu_cell(),
                d.mem_cell(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    Ok(exit::OK)
}

pub fn restart(global: &GlobalArgs, args: RestartArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    let socket = needs_supervisor(&m, &sd, "start the tasks with `bts up` (or `bts up -d`)")?;
    // The copies of a replicated task restart one after another, each UP before the
    // next, so a tier stays served (docs/behaviour.md#replicas); the rest at once.
    let selected = ask(
        &socket,
        &Request::Status {
            tasks: args.tasks.clone(),
        },
        Some(Duration::from_secs(10)),
    )?;
    let (copies, others): (Vec<String>, Vec<String>) = selected
        .tasks
        .iter()
        .map(|d| d.task.clone())
        .partition(|n| is_replica_name(n, &selected.tasks));
    let rolling = copies.len() > 1;
    let mut batches: Vec<(Vec<String>, bool)> = Vec::new();
    if !rolling {
        batches.push((args.tasks.clone(), args.wait));
    } else {
        if !others.is_empty() {
            batches.push((others, args.wait));
        }
        batches.extend(copies.into_iter().map(|c| (vec![c], true)));
    }
    let mut out = std::io::stdout().lock();
    for (tasks, wait) in batches {
        let r = ask(
            &socket,
            &Request::Restart {
                tasks,
                wait,
                confirm: args.confirm.clone(),
                yes: args.yes,
            },
            None,
        )?;
        for d in &r.tasks {
            let _ = writeln!(out, "{}", digest::receipt_line(d));
        }
        if r.code != exit::OK {
            if rolling {
                let _ = writeln!(
                    out,
                    "bts: rolling restart stopped here; the copies after it were not restarted"
                );
            }
            return Ok(r.code);
        }
    }
    Ok(exit::OK)
}

pub fn scale(global: &GlobalArgs, args: crate::cli::ScaleArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    let socket = needs_supervisor(
        &m,
        &sd,
        "scale changes a running stack: start it with `bts up` (or set `replicas:` in bts.yaml)",
    )?;
    let r = ask(
        &socket,
        &Request::Scale {
            counts: args.counts,
        },
        None,
    )?;
    let mut out = std::io::stdout().lock();
    for msg in &r.messages {
        let _ = writeln!(out, "{msg}");
    }
    for d in &r.tasks {
        let _ = writeln!(out, "{}", digest::receipt_line(d));
    }
    Ok(r.code)
}

/// `web.2` among tasks that also have `web.1` (or any other `web.N`): a copy of a
/// replicated task.
fn is_replica_name(name: &str, all: &[Digest]) -> bool {
    use crate::selector::copy_base;
    copy_base(name).is_some_and(|base| {
        all.iter()
            .any(|d| d.task != name && copy_base(&d.task) == Some(base))
    })
}

pub fn down(global: &GlobalArgs, args: DownArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    if let Some(socket) = supervisor(&sd)? {
        let all = args.tasks.is_empty();
        let req = Request::Down {
            tasks: args.tasks,
            signal: args.signal.clone(),
        };
        let r = match client::request(&socket, &req, None) {
            // Only a supervisor that is already exiting refuses a full down.
            Ok(r) if !r.ok && all => {
                let why = r.error.unwrap_or_else(|| "it refused".into());
                return down_unanswered(&m, &sd, args.json, &why);
            }
            Ok(r) => r.into_result()?,
            Err(e) => return down_unanswered(&m, &sd, args.json, &e.to_string()),
        };
        // What was stopped is told by the receipts in the answer, and only by them.
        if all {
            sd.wait_until_no_supervisor(Duration::from_secs(30));
        }
        let stuck: Vec<&Digest> = r.tasks.iter().filter(|d| d.pid.is_some()).collect();
        if args.json {
            print_json(&m.project, &r.receipts);
        } else {
            let mut out = std::io::stdout().lock();
            for rc in &r.receipts {
                let _ = writeln!(out, "{}", rc.text());
            }
            if r.receipts.is_empty() {
                let _ = writeln!(out, "bts: nothing was running");
            }
            for d in &stuck {
                let _ = writeln!(
                    out,
                    "bts: {} could not be stopped (pid {:?})",
                    d.task, d.pid
                );
            }
        }
        return Ok(if stuck.is_empty() && (!all || !sd.supervisor_running()) {
            exit::OK
        } else {
            exit::FAILURE
        });
    }
    cleanup_leftovers(&m, &sd, args.json)
}

/// `bts down` got no answer (`why`): the supervisor went away mid-request (it crashed,
/// was killed, or was exiting already). Once it has released the lock, its tasks are
/// checked as with no supervisor: every process state.json still records is verified by
/// its start time and stopped, so nothing is reported stopped or clean unverified. A
/// supervisor that still holds the lock without answering is an error.
fn down_unanswered(m: &Manifest, sd: &StateDir, json: bool, why: &str) -> Result<u8, AppError> {
    if !sd.wait_until_no_supervisor(Duration::from_secs(10)) {
        return Err(AppError::new(format!(
            "the supervisor did not answer `bts down` ({why}) and is still running"
        ))
        .with_hint("`bts status` shows what is still running; run `bts down` again")
        .with_code(exit::FAILURE));
    }
    eprintln!("bts: the supervisor exited without answering ({why}); checking what it left");
    cleanup_leftovers(m, sd, json)
}

pub fn cleanup(global: &GlobalArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    if sd.supervisor_running() {
        let pid = crate::state_file::read(sd.root())
            .ok()
            .flatten()
            .map_or(0, |s| s.supervisor_pid);
        println!("bts: a supervisor is running (pid {pid}); nothing to clean up");
        return Ok(exit::OK);
    }
    cleanup_leftovers(&m, &sd, false)
}

/// No supervisor: stop what the state file says is still running, remove stale files.
fn cleanup_leftovers(m: &Manifest, sd: &StateDir, json: bool) -> Result<u8, AppError> {
    if !sd.root().exists() {
        if json {
            print_json(&m.project, &Vec::<String>::new());
        } else {
            println!("bts: clean: nothing has run here yet");
        }
        return Ok(exit::OK);
    }
    let Some(_lock) = sd
        .try_lock()
        .map_err(|e| AppError::io("cannot lock the state dir", e))?
    else {
        println!("bts: a supervisor just started; nothing to clean up");
        return Ok(exit::OK);
    };
    let sweep =
        orphans::sweep_dir(sd.root()).map_err(|e| AppError::io("cannot update state.json", e))?;
    if json {
        let v = serde_json::json!({ "stopped": sweep.stopped, "survivors": sweep.survivors, "left_alone": sweep.reused });
        print_json(&m.project, &v);
    } else {
        for t in &sweep.stopped {
            println!("bts: stopped leftover {t}");
        }
        for t in &sweep.reused {
            println!("bts: {t}");
        }
        for t in &sweep.survivors {
            println!("bts: could not stop {t}");
        }
        if sweep.stopped.is_empty() && sweep.survivors.is_empty() {
            println!("bts: clean: no supervisor and no leftover task processes");
        }
    }
    Ok(if sweep.survivors.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

pub fn logs(global: &GlobalArgs, args: LogsArgs) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    let names = match_names(&m, &args.tasks)?;
    let many = names.len() > 1;
    let width = names.iter().map(String::len).max().unwrap_or(0);
    // --errors: the task's own error patterns (or the defaults), as the output path uses.
    let filters: Vec<Option<Classifier>> = names
        .iter()
        .map(|n| {
            let t = m.task(n)?;
            args.errors
                .then(|| Classifier::new(t.errors.as_deref(), t.warnings.as_deref()).ok())
                .flatten()
        })
        .collect();
    let keep = |i: usize, line: &str| {
        // Log lines start with their RFC 3339 timestamp; classify the text after it.
        let text = line.split_once(' ').map_or(line, |(_, t)| t);
        filters[i]
            .as_ref()
            .is_none_or(|c| c.classify(text.as_bytes()) == Class::Error)
    };
    let mut out = std::io::stdout().lock();
    let emit = |out: &mut std::io::StdoutLock, name: &str, line: &str| -> bool {
        let r = if args.json {
            writeln!(out, "{}", serde_json::json!({ "task": name, "line": line }))
        } else if many {
            writeln!(out, "{name:<width$} | {line}")
        } else {
            writeln!(out, "{line}")
        };
        // `bts logs | head` closes the pipe: a clean exit, not an error.
        r.is_ok()
    };
    for (i, n) in names.iter().enumerate() {
        // The last N (error) lines, reaching back into the rotated files when the
        // current one has fewer.
        let lines = tail::last_lines_matching(&sd.log_path(n), args.lines, |l| keep(i, l));
        for l in &lines {
            if !emit(&mut out, n, l) {
                return Ok(exit::OK);
            }
        }
    }
    let _ = out.flush();
    if !args.follow {
        return Ok(exit::OK);
    }
    let mut followers: Vec<tail::Follower> = names
        .iter()
        .map(|n| tail::Follower::at_end(&sd.log_path(n)))
        .collect();
    loop {
        for (i, f) in followers.iter_mut().enumerate() {
            for l in f.poll() {
                if keep(i, &l) && !emit(&mut out, &names[i], &l) {
                    return Ok(exit::OK);
                }
            }
        }
        if out.flush().is_err() {
            return Ok(exit::OK);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn archive_logs(
    global: &GlobalArgs,
    args: crate::cli::ArchiveLogsArgs,
) -> Result<u8, AppError> {
    let (m, sd) = context(global)?;
    if let Some(socket) = supervisor(&sd)? {
        let r = ask(
            &socket,
            &Request::ArchiveLogs { tasks: args.tasks },
            Some(Duration::from_secs(120)),
        )?;
        for msg in &r.messages {
            println!("{msg}");
        }
        return Ok(r.code);
    }
    let mut code = exit::OK;
    for name in match_names(&m, &args.tasks)? {
        let log = sd.log_path(&name);
        if !log.exists() {
            eprintln!("bts: {name}: no log yet");
            code = exit::FAILURE;
            continue;
        }
        let dir = sd.archive_dir();
        let dest = crate::logs::writer::archive_path(&dir, &name);
        let result = std::fs::create_dir_all(&dir)
            .and_then(|_| crate::logs::writer::gzip_file(&log, &dest))
            .and_then(|_| std::fs::File::create(&log).map(drop));
        match result {
            Ok(()) => println!("{}", dest.display()),
            Err(e) => {
                eprintln!("bts: {name}: {e}");
                code = exit::FAILURE;
            }
        }
    }
    Ok(code)
}
