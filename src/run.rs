//! `bts run`: start an ad-hoc task given on the command line. It never blocks the caller:
//! with no supervisor running for this directory, it starts a background one (which
//! serves until `bts down`), then hands it the task and prints its start receipt.
//! docs/behaviour.md#ad-hoc-tasks.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::{GlobalArgs, RunArgs};
use crate::control::client;
use crate::control::protocol::Request;
use crate::digest;
use crate::errors::{exit, AppError};
use crate::manifest;
use crate::state_dir::StateDir;

pub fn run(global: &GlobalArgs, args: RunArgs) -> Result<u8, AppError> {
    let cwd = std::env::current_dir().map_err(|e| AppError::io("cannot read the cwd", e))?;
    if !crate::manifest::validate::valid_task_name(&args.name) {
        return Err(
            AppError::new(format!("`{}` is not a valid task name", args.name))
                .with_hint("letters, digits, `-`, `_` and `.`, starting with a letter or digit")
                .with_code(exit::USAGE),
        );
    }
    let spec = crate::adhoc::spec(&args, &cwd)?;
    // Checked here first, so a mistake is reported before a supervisor is started; the
    // env is expanded here, with this shell's variables, and sent as plain values.
    let task = crate::adhoc::validate(&spec.yaml, &cwd)?;
    let spec = crate::adhoc::with_plain_env(&spec, &task)?;
    if task.destructive && !args.confirm {
        return Err(AppError::new(format!(
            "`{}` is destructive: running it needs approval",
            args.name
        ))
        .with_hint("add --confirm")
        .with_code(exit::FAILURE));
    }
    let m = manifest::load_or_implicit(global.file.as_deref(), |_| true)?;
    // --save: the new bts.yaml is built and checked before anything starts.
    let saved = if args.save {
        Some(crate::adhoc::manifest_with(&m.path, &spec)?)
    } else {
        None
    };
    let sd = StateDir::ensure(&m.settings.state_dir)
        .map_err(|e| AppError::io("cannot create the state dir", e))?;
    let socket = ensure_supervisor(global, &m, &sd)?;
    let req = Request::Run {
        name: spec.name.clone(),
        yaml: spec.yaml.clone(),
        replace: args.replace,
        wait: args.wait,
        confirm: args.confirm,
    };
    let timeout = Duration::from_secs(if args.wait { 600 } else { 60 });
    let r = match client::request(&socket, &req, Some(timeout)) {
        Ok(r) => r.into_result()?,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            return Err(AppError::new(format!(
                "`{}` was not {} within {}",
                spec.name,
                if args.wait { "UP" } else { "started" },
                humantime::format_duration(timeout)
            ))
            .with_hint(format!("it may still start: `bts status {}`", spec.name))
            .with_code(exit::TIMED_OUT));
        }
        Err(e) => return Err(AppError::io("cannot reach the supervisor", e)),
    };
    if let Some(text) = saved {
        // After the start. The task is bts.yaml's from now on: the ad-hoc copy goes (a
        // reload of the manifest takes the running task over).
        crate::state_file::write_atomic(&m.path, text.as_bytes())
            .map_err(|e| AppError::io(format!("cannot write {}", m.path.display()), e))?;
        crate::adhoc::remove(&sd, &spec.name);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({ "project": r.project, "tasks": r.tasks });
        let _ = writeln!(out, "{doc}");
        return Ok(r.code);
    }
    for d in &r.tasks {
        let _ = writeln!(out, "{}", digest::receipt_line(d));
        if let Some(n) = &d.next_action {
            let _ = writeln!(out, "  next: {n}");
        }
        let _ = writeln!(out, "  log: {}", d.log_path.display());
    }
    Ok(r.code)
}

/// The socket of the supervisor of `sd`, starting a background one when none runs.
fn ensure_supervisor(
    global: &GlobalArgs,
    m: &manifest::Manifest,
    sd: &StateDir,
) -> Result<std::path::PathBuf, AppError> {
    if let Some(s) = crate::control::client::running_socket(sd)? {
        return Ok(s);
    }
    let mut cmd = crate::up::daemon_command(global, m, sd)?;
    cmd.arg("--internal-adhoc");
    let mut child = cmd
        .spawn()
        .map_err(|e| AppError::io("cannot start the supervisor", e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if sd.supervisor_running() {
            if let Ok(Some(s)) = crate::control::client::running_socket(sd) {
                if client::request(&s, &Request::Status { tasks: vec![] }, None).is_ok() {
                    return Ok(s);
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another one may have won the race for the lock.
            if let Some(s) = crate::control::client::running_socket(sd)? {
                return Ok(s);
            }
            return Err(
                AppError::new(format!("the supervisor exited at start ({status})"))
                    .with_hint(format!("see {}", sd.supervisor_log_path().display()))
                    .with_code(exit::FAILURE),
            );
        }
        if Instant::now() > deadline {
            return Err(AppError::new("the supervisor did not start within 10s")
                .with_hint(format!("see {}", sd.supervisor_log_path().display()))
                .with_code(exit::FAILURE));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
