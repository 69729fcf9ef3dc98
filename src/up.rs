//! `bts up`: select the tasks, then either become the supervisor (foreground, or the
//! detached daemon), start a detached one and wait for it (`-d`, `--wait`), or — when a
//! supervisor already runs for this state dir — hand it the new desired state.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{GlobalArgs, OutputArg, UpArgs};
use crate::control::protocol::{Request, Response};
use crate::control::{client, server};
use crate::digest::{self, Digest};
use crate::errors::{exit, AppError};
use crate::lifecycle::TaskState;
use crate::manifest::{self, Manifest, OutputMode};
use crate::orphans;
use crate::output::{self, Level, Output, Terminal};
use crate::selector;
use crate::state_dir::{StateDir, SupervisorLock};
use crate::state_file;
use crate::supervisor::{Options, Supervisor};

pub fn run(global: &GlobalArgs, args: UpArgs) -> Result<u8, AppError> {
    if args.ui {
        crate::ui::require_terminal()?;
    }
    let manifest = if args.internal_adhoc {
        // Started by `bts run`, perhaps where no bts.yaml exists.
        match global.file.as_deref() {
            Some(f) if !f.exists() => manifest::implicit(f.parent().unwrap_or(Path::new("."))),
            f => manifest::load_or_implicit(f, |_| true)?,
        }
    } else {
        manifest::load(global.file.as_deref())?
    };
    let selected = if args.internal_adhoc {
        // Only the ad-hoc tasks it finds in the state dir.
        BTreeSet::new()
    } else {
        select(&manifest, &args.tasks)?
    };
    // Before anything starts: a stack the open-files limit cannot hold fails up front,
    // not at its 250th task.
    if let Some((message, hint)) = crate::preflight::open_files_problem(selected.len()) {
        return Err(AppError::new(message)
            .with_hint(hint)
            .with_code(exit::FAILURE));
    }
    if let Some(t) = &args.exit_code_from {
        if !selected.contains(t) {
            return Err(unknown_task(&manifest, t, "--exit-code-from"));
        }
    }
    for c in &args.confirm {
        if manifest.task(c).is_none() {
            return Err(unknown_task(&manifest, c, "--confirm"));
        }
    }
    let sd = StateDir::ensure(&manifest.settings.state_dir).map_err(|e| {
        AppError::io(
            format!(
                "cannot create the state dir {}",
                manifest.settings.state_dir.display()
            ),
            e,
        )
    })?;
    let lock = loop {
        let lock = sd
            .try_lock()
            .map_err(|e| AppError::io(format!("cannot lock {}", sd.root().display()), e))?;
        if let Some(lock) = lock {
            break lock;
        }
        if args.internal_daemon {
            eprintln!(
                "bts: another supervisor started first for {}",
                sd.root().display()
            );
            return Ok(exit::FAILURE);
        }
        if args.internal_adhoc {
            // A supervisor runs: `bts run` hands it the task itself.
            return Ok(exit::OK);
        }
        // No socket means the supervisor was exiting: once it is gone, take its place.
        if let Some(socket) = client::running_socket(&sd)? {
            let code = hand_over(&manifest, &selected, &sd, &args, &socket)?;
            if args.ui {
                // A supervisor runs already: its dashboard, attached.
                return crate::ui::attach(global);
            }
            return Ok(code);
        }
    };
    if (args.detach || args.wait) && !args.internal_daemon {
        // Sweep here, under the lock, so that what it stopped is told on this terminal
        // (the daemon's own sweep then finds nothing; its output goes to a file).
        sweep_leftovers(&sd);
        drop(lock);
        return detach(global, &manifest, &selected, &sd, &args);
    }
    supervise(global, manifest, selected, sd, lock, args)
}

/// Be the supervisor, in this process, until it is done.
fn supervise(
    global: &GlobalArgs,
    manifest: Manifest,
    selected: BTreeSet<String>,
    sd: StateDir,
    lock: SupervisorLock,
    args: UpArgs,
) -> Result<u8, AppError> {
    let mode = match args.output {
        Some(OutputArg::Summary) => OutputMode::Summary,
        Some(OutputArg::Full) => OutputMode::Full,
        Some(OutputArg::Quiet) => OutputMode::Quiet,
        None => manifest.settings.output,
    };
    let width = selected.iter().map(|n| n.len()).max().unwrap_or(0).max(3);
    let redactor = crate::redact::for_manifest(&manifest).map_err(|e| {
        AppError::new(format!("secrets settings: {e}"))
            .with_hint("fix `settings.secrets` in the manifest")
    })?;
    // A few descriptors per task: the soft limit of most desktops (1024) would run out
    // near 250 tasks. Tasks get the caller's soft limit back (process::unix).
    let _ = crate::process::unix::raise_open_files();
    let (term, writer) = if args.ui {
        // The terminal is the dashboard's: bts's own lines go to supervisor.log.
        let log = sd.supervisor_log_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| AppError::io(format!("cannot open {}", log.display()), e))?;
        Terminal::start_on(file)
    } else {
        Terminal::start()
    };
    let color = !args.internal_daemon && !args.ui && output::use_color(global.no_color);
    let out = Output::new(term.clone(), color, width, mode, args.json, redactor);

    // Leftovers of a supervisor that died (kill -9) are stopped before anything starts.
    match orphans::sweep_dir(sd.root()) {
        Ok(sweep) => {
            for t in &sweep.stopped {
                out.event(
                    Level::Warn,
                    &format!("stopped {t}, left running by a previous supervisor"),
                );
            }
            for t in &sweep.reused {
                out.event(Level::Info, t);
            }
            for t in &sweep.survivors {
                out.event(Level::Error, &format!("could not stop leftover {t}"));
            }
        }
        Err(e) => out.event(Level::Warn, &format!("cannot read the previous state: {e}")),
    }
    let socket = sd
        .socket_path()
        .map_err(|e| AppError::io("cannot prepare the control socket", e))?;
    // We hold the lock, so a socket file here is stale.
    let _ = std::fs::remove_file(&socket);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::io("cannot start the async runtime", e))?;
    let listener = {
        let _guard = runtime.enter();
        server::bind(&socket)
            .map_err(|e| AppError::io(format!("cannot listen on {}", socket.display()), e))?
    };
    let watchdog = spawn_watchdog(sd.root());
    // Orphaned descendants of tasks (setsid daemons) come to us, not to init.
    crate::escapees::become_subreaper();
    let opts = Options {
        approvals: approvals(&manifest, &selected, &args),
        // --exit-code-from implies --abort-on-exit (docs/behaviour.md#exit-codes), as in
        // docker compose.
        abort_on_exit: args.abort_on_exit || args.exit_code_from.is_some(),
        exit_code_from: args.exit_code_from.clone(),
        patterns: args.tasks.clone(),
        socket: socket.clone(),
        keep_alive: args.internal_adhoc,
        // In the foreground by default; a detached supervisor only when asked.
        live_reload: manifest
            .settings
            .reload
            .unwrap_or(!args.internal_daemon && !args.internal_adhoc),
    };
    for w in &manifest.warnings {
        out.event(output::Level::Warn, w);
    }
    let supervisor = Supervisor::new(&manifest, &selected, out, sd.clone(), opts);
    let dashboard = args.ui.then(|| {
        crate::ui::Foreground::start(
            &manifest,
            &sd,
            socket.clone(),
            output::use_color(global.no_color),
        )
    });
    let code = runtime.block_on(async move {
        let (ctl_tx, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(server::serve(listener, ctl_tx, stop_rx));
        let code = supervisor.run(ctl_rx).await;
        // The dispatcher is done (and has dropped its receiver): the server closes once
        // the answers it was handed (a `down` waiting for the end) are written.
        let _ = stop_tx.send(true);
        let _ = server.await;
        code
    });
    if let Some(d) = dashboard {
        if let Some(why) = d.finish() {
            eprintln!("bts: {why}");
        }
        println!(
            "bts: every task of {} is stopped; bts's own lines are in {}",
            manifest.project,
            crate::digest::relative(&sd.supervisor_log_path()).display()
        );
    }
    let _ = std::fs::remove_file(&socket);
    runtime.shutdown_timeout(Duration::from_millis(100));
    term.close_and_wait(writer, Duration::from_secs(2));
    drop(watchdog);
    drop(lock);
    Ok(code)
}

/// `bts up -d`: stop the leftovers of a supervisor that died and say so. The caller
/// holds the lock.
fn sweep_leftovers(sd: &StateDir) {
    match orphans::sweep_dir(sd.root()) {
        Ok(sweep) => {
            for t in &sweep.stopped {
                println!("bts: stopped {t}, left running by a previous supervisor");
            }
            for t in &sweep.reused {
                println!("bts: {t}");
            }
            for t in &sweep.survivors {
                eprintln!("bts: could not stop leftover {t}");
            }
        }
        Err(e) => eprintln!("bts: cannot read the previous state: {e}"),
    }
}

/// Start the watchdog: it holds the read end of a pipe whose write end only this process
/// has, so it notices our death however it happens. Returns the write end; dropping it
/// at a normal exit lets the watchdog go.
fn spawn_watchdog(root: &Path) -> Option<std::process::ChildStdin> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__watchdog")
        .arg(root)
        .arg(std::process::id().to_string())
        .arg(crate::process::instance_id())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a Ctrl-C for the terminal's foreground group must not reach it.
        .process_group(0);
    cmd.spawn().ok().and_then(|mut c| c.stdin.take())
}

/// `bts -f MANIFEST up --internal-daemon`: a re-executed `bts` in a new session (it
/// outlives this terminal and never receives its signals), output to supervisor.log.
/// Callers add their flags and spawn it.
pub fn daemon_command(
    global: &GlobalArgs,
    manifest: &Manifest,
    sd: &StateDir,
) -> Result<Command, AppError> {
    let log_path = sd.supervisor_log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| AppError::io(format!("cannot open {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| AppError::io("cannot duplicate the log handle", e))?;
    let exe =
        std::env::current_exe().map_err(|e| AppError::io("cannot find the bts executable", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-f")
        .arg(&manifest.path)
        .arg("up")
        .arg("--internal-daemon");
    if global.no_color {
        cmd.arg("--no-color");
    }
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .env("NO_COLOR", "1");
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    Ok(cmd)
}

/// Start the supervisor in the background (a re-executed `bts` in a new session, output
/// to supervisor.log) and return once it has started the tasks, or with `--wait` once
/// they are all up.
fn detach(
    global: &GlobalArgs,
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    sd: &StateDir,
    args: &UpArgs,
) -> Result<u8, AppError> {
    let log_path = sd.supervisor_log_path();
    let mut cmd = daemon_command(global, manifest, sd)?;
    if let Some(o) = args.output {
        cmd.arg("--output").arg(match o {
            OutputArg::Summary => "summary",
            OutputArg::Full => "full",
            OutputArg::Quiet => "quiet",
        });
    }
    if args.abort_on_exit {
        cmd.arg("--abort-on-exit");
    }
    if let Some(t) = &args.exit_code_from {
        cmd.arg("--exit-code-from").arg(t);
    }
    if args.yes {
        cmd.arg("--yes");
    }
    for c in &args.confirm {
        cmd.arg("--confirm").arg(c);
    }
    cmd.arg("--").args(&args.tasks);
    let spawned_at = std::time::SystemTime::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| AppError::io("cannot start the supervisor", e))?;
    let pid = child.id() as i32;

    // Wait for the daemon to publish its state and answer on its socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    let socket = loop {
        if let Ok(Some(st)) = state_file::read(sd.root()) {
            if st.supervisor_pid == pid
                && client::request(&st.socket, &status_req(), Some(Duration::from_secs(2))).is_ok()
            {
                break st.socket;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another `bts up` won the race for the lock: its supervisor runs, so hand
            // the desired state over to it as any second `up` does.
            if sd.supervisor_running() {
                if let Some(socket) = client::running_socket(sd)? {
                    return hand_over(manifest, selected, sd, args, &socket);
                }
            }
            // Every task may have ended already (one-shot tasks, or all failed): the
            // supervisor then exits at once, leaving its final digests.
            return after_supervisor(
                sd,
                selected,
                spawned_at,
                args.wait,
                format!("it exited at start ({status})"),
            );
        }
        if Instant::now() > deadline {
            return Err(AppError::new("the supervisor did not start within 10s")
                .with_hint(format!("see {}", log_path.display()))
                .with_code(exit::FAILURE));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if args.wait {
        return wait_until_up(&socket, selected, args.wait_timeout, sd, spawned_at);
    }
    // Return after the start receipts: every selected task has left PENDING, or 3 s
    // passed (a task still waiting for a slow dependency is listed as PENDING).
    let deadline = Instant::now() + Duration::from_secs(3);
    let tasks = loop {
        let r = match client::request(&socket, &status_req(), Some(Duration::from_secs(5))) {
            Ok(r) if r.ok => r,
            other => {
                // Every task ended already and the supervisor with them.
                return after_supervisor(sd, selected, spawned_at, false, refusal(other));
            }
        };
        let tasks: Vec<Digest> = r
            .tasks
            .into_iter()
            .filter(|d| selected.contains(&d.task))
            .collect();
        if tasks.iter().all(|d| d.status != TaskState::Pending) || Instant::now() > deadline {
            break tasks;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "bts: supervisor running in the background (pid {pid}); logs in {}",
        log_path.display()
    );
    for d in &tasks {
        let _ = writeln!(stdout, "{}", digest::receipt_line(d));
    }
    Ok(if tasks.iter().any(|d| d.status.is_bad()) {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// The digests a supervisor that has exited left in `digest.json`, for the selected tasks.
fn final_digests(
    sd: &StateDir,
    selected: &BTreeSet<String>,
    since: std::time::SystemTime,
) -> Option<Vec<Digest>> {
    // Not the leftovers of an earlier supervisor.
    let tasks: Vec<Digest> = digest::read_digest_file(&sd.digest_path(), Some(since))?
        .into_iter()
        .filter(|d| selected.contains(&d.task))
        .collect();
    (!tasks.is_empty()).then_some(tasks)
}

/// Why a status request got no usable answer.
fn refusal(answer: std::io::Result<Response>) -> String {
    match answer {
        Err(e) => format!("it stopped answering: {e}"),
        Ok(r) => format!(
            "it stopped answering: {}",
            r.error.unwrap_or_else(|| "no tasks in its answer".into())
        ),
    }
}

/// The detached supervisor went away: once it has released the lock, judge the final
/// digests it left (written since `since`) as `--wait` (or `-d`) would; without them,
/// the error says `why`.
fn after_supervisor(
    sd: &StateDir,
    selected: &BTreeSet<String>,
    since: std::time::SystemTime,
    wait: bool,
    why: String,
) -> Result<u8, AppError> {
    sd.wait_until_no_supervisor(Duration::from_secs(5));
    match final_digests(sd, selected, since) {
        Some(tasks) => Ok(report_final(&tasks, wait, sd)),
        None => Err(AppError::new(format!("the supervisor failed: {why}"))
            .with_hint(format!("see {}", sd.supervisor_log_path().display()))
            .with_code(exit::FAILURE)),
    }
}

/// The supervisor is gone: judge the final states as `--wait` (or `-d`) would.
fn report_final(tasks: &[Digest], wait: bool, sd: &StateDir) -> u8 {
    let bad: Vec<&Digest> = tasks
        .iter()
        .filter(|d| d.status != TaskState::Exited)
        .collect();
    if bad.is_empty() {
        for d in tasks {
            println!("{}", digest::receipt_line(d));
        }
        println!("bts: every task has already completed");
        return exit::OK;
    }
    let title = if wait {
        "bts up --wait: tasks failed"
    } else {
        "bts up -d: tasks failed"
    };
    report_failure(title, &bad, sd);
    exit::FAILURE
}

fn status_req() -> Request {
    Request::Status { tasks: vec![] }
}

/// A supervisor already runs for this state dir: send it the new desired state.
fn hand_over(
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    sd: &StateDir,
    args: &UpArgs,
    socket: &Path,
) -> Result<u8, AppError> {
    let since = std::time::SystemTime::now();
    let req = Request::Up {
        manifest: manifest.path.clone(),
        tasks: args.tasks.clone(),
        confirm: args.confirm.clone(),
        yes: args.yes,
    };
    let r = client::request(socket, &req, Some(Duration::from_secs(60)))
        .map_err(|e| AppError::io("cannot reach the running supervisor", e))?;
    // The tasks that make it exit 1, with why (for BLOCKED: the command that approves).
    let bad: Vec<String> = r
        .tasks
        .iter()
        .filter(|d| d.status.is_bad())
        .map(digest::receipt_line)
        .collect();
    let code = print_response(r)?;
    for line in &bad {
        println!("bts: {line}");
    }
    if args.wait && code == exit::OK {
        return wait_until_up(socket, selected, args.wait_timeout, sd, since);
    }
    Ok(code)
}

/// Print what a supervisor answered (its messages or its error); returns the exit code.
pub fn print_response(r: Response) -> Result<u8, AppError> {
    let r = r.into_result()?;
    let mut stdout = std::io::stdout().lock();
    for m in &r.messages {
        let _ = writeln!(stdout, "bts: {m}");
    }
    Ok(r.code)
}

/// `--wait`: poll until every selected task is UP (or EXITED 0); on FAILED, BLOCKED or
/// timeout print the digests of the tasks at fault with their last log lines, exit 1.
fn wait_until_up(
    socket: &Path,
    selected: &BTreeSet<String>,
    timeout: Duration,
    sd: &StateDir,
    since: std::time::SystemTime,
) -> Result<u8, AppError> {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = client::request(socket, &status_req(), Some(Duration::from_secs(5)));
        let r = match answer {
            Ok(r) if r.ok && !r.tasks.is_empty() => r,
            other => {
                // The supervisor exits once every task has ended (refusing requests while
                // it shuts down).
                return after_supervisor(sd, selected, since, true, refusal(other));
            }
        };
        let tasks: Vec<Digest> = r
            .tasks
            .into_iter()
            .filter(|d| selected.contains(&d.task))
            .collect();
        let failed: Vec<&Digest> = tasks.iter().filter(|d| d.status.is_bad()).collect();
        if !failed.is_empty() {
            report_failure("bts up --wait: tasks failed", &failed, sd);
            return Ok(exit::FAILURE);
        }
        if tasks
            .iter()
            .all(|d| matches!(d.status, TaskState::Up | TaskState::Exited))
        {
            let mut stdout = std::io::stdout().lock();
            for d in &tasks {
                let _ = writeln!(stdout, "{}", digest::receipt_line(d));
            }
            let _ = match tasks.len() {
                1 => writeln!(stdout, "bts: the task is up"),
                n => writeln!(stdout, "bts: all {n} tasks are up"),
            };
            return Ok(exit::OK);
        }
        if Instant::now() > deadline {
            let late: Vec<&Digest> = tasks
                .iter()
                .filter(|d| !matches!(d.status, TaskState::Up | TaskState::Exited))
                .collect();
            report_failure(
                &format!(
                    "bts up --wait: timed out after {}",
                    humantime::format_duration(timeout)
                ),
                &late,
                sd,
            );
            return Ok(exit::FAILURE);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report_failure(title: &str, tasks: &[&Digest], sd: &StateDir) {
    if crate::annotate::enabled() {
        let mut out = std::io::stdout().lock();
        for d in tasks {
            let lines = crate::logs::tail::last_lines(&sd.log_path(&d.task), 20);
            let msg = format!("{title}: {} {}", d.status, d.detail);
            let _ = write!(
                out,
                "{}",
                crate::annotate::failure(&d.task, msg.trim_end(), &lines)
            );
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {title}");
    for d in tasks {
        let _ = writeln!(err);
        let _ = write!(err, "{}", digest::render_text(d));
        let lines = crate::logs::tail::last_lines(&sd.log_path(&d.task), 10);
        if !lines.is_empty() {
            let _ = writeln!(err, "Last log lines:");
            for l in lines {
                let _ = writeln!(err, "  {l}");
            }
        }
    }
}

/// The tasks to run (see [`selector::stack`]).
pub fn select(manifest: &Manifest, patterns: &[String]) -> Result<BTreeSet<String>, AppError> {
    selector::stack(manifest, patterns).map_err(|e| e.into_app_error(&manifest.path, "up"))
}

/// `{what}: no task matches `name``, naming the known tasks.
pub fn unknown_task(manifest: &Manifest, name: &str, what: &str) -> AppError {
    selector::UnknownTask {
        pattern: name.to_string(),
        known: manifest.tasks.iter().map(|t| t.name.clone()).collect(),
        bad_glob: None,
    }
    .into_app_error(&manifest.path, what)
}

/// Destructive tasks approved for this start: `--yes` (all), `--confirm NAME`, or a `y`
/// at a prompt when stdin and stderr are terminals (foreground only).
fn approvals(
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    args: &UpArgs,
) -> Vec<(String, String)> {
    use std::io::IsTerminal;
    let mut out = vec![];
    let interactive =
        // Under `--ui` a BLOCKED task is approved in the dashboard (`A`).
        !args.internal_daemon
            && !args.ui
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal();
    for t in manifest
        .tasks
        .iter()
        .filter(|t| t.destructive && selected.contains(&t.name))
    {
        if args.yes {
            out.push((t.name.clone(), "--yes".to_string()));
        } else if args.confirm.contains(&t.name) {
            out.push((t.name.clone(), "--confirm".to_string()));
        } else if interactive && prompt_yes(&t.name, &t.command.display()) {
            out.push((t.name.clone(), "prompt".to_string()));
        }
    }
    out
}

fn prompt_yes(name: &str, command: &str) -> bool {
    let red = crate::redact::shapes_only();
    let command = red
        .as_ref()
        .map_or(command.to_string(), |r| r.redact_str(command).into_owned());
    eprint!("bts: `{name}` is destructive: {command}\nRun it? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}
