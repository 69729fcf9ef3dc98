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
    // Checked here first, so a mistake is reported before a supervisor is started.
    crate::adhoc::validate(&spec.yaml, &cwd)?;
    let m = manifest::load_or_implicit(global.file.as_deref(), |_| true)?;
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
    let timeout = if args.wait { 300 } else { 60 };
    let r = client::request(&socket, &req, Some(Duration::from_secs(timeout)))
        .map_err(|e| AppError::io("cannot reach the supervisor", e))?
        .into_result()?;
    if args.save {
        // After the start: the supervisor runs it as the ad-hoc task it was given.
        crate::adhoc::save_to_manifest(&m.path, &spec)?;
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
    if let Some(s) = crate::up::running_socket(sd)? {
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
            if let Ok(Some(s)) = crate::up::running_socket(sd) {
                if client::request(&s, &Request::Status { tasks: vec![] }, None).is_ok() {
                    return Ok(s);
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another one may have won the race for the lock.
            if let Some(s) = crate::up::running_socket(sd)? {
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
