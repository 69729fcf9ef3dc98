//! The live terminal dashboard (docs/behaviour.md#dashboard): `bts ui` attaches to the
//! running supervisor; `bts up --ui` runs the stack with the dashboard in the
//! foreground. The dashboard is a client like `bts status` and `bts logs -f`: it reads
//! digests over the control socket and the redacted log files, and acts through the same
//! requests as `bts restart` and `bts down`.
//!
//! `model` (state and the pure update function), `pane` (the log view), `layout` and
//! `view` (drawing) are terminal-free and tested in-process; `app` is the loop and its
//! threads; `screen` owns the terminal.

pub mod app;
pub mod layout;
pub mod model;
pub mod pane;
pub mod screen;
pub mod view;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::cli::GlobalArgs;
use crate::digest::Digest;
use crate::errors::{exit, AppError};
use crate::manifest::Manifest;
use crate::output::summary::Classifier;
use crate::state_dir::StateDir;
use model::{Model, Owner};

/// `bts ui`.
pub fn attach(global: &GlobalArgs) -> Result<u8, AppError> {
    let (m, sd) = crate::ctl::context(global)?;
    let Some(socket) = crate::ctl::supervisor(&sd)? else {
        return Err(
            AppError::new(format!("no supervisor is running for {}", m.project))
                .with_hint(
                    "start the stack with its dashboard: `bts up --ui` (or `bts up -d`, then `bts ui`)",
                )
                .with_code(exit::FAILURE),
        );
    };
    require_terminal()?;
    let color = crate::output::use_color(global.no_color);
    session(&m, sd, socket, Owner::Attached, Arc::default(), color)
        .map_err(|e| AppError::io("the dashboard failed", e))?;
    Ok(exit::OK)
}

/// The dashboard needs a terminal on both ends; say what to use instead.
pub fn require_terminal() -> Result<(), AppError> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    Err(
        AppError::new("the dashboard needs a terminal (stdin and stdout are not one)")
            .with_hint("`bts status` prints a summary of the stack; `bts logs -f` follows its logs")
            .with_code(exit::USAGE),
    )
}

/// Run the dashboard until it is left (or `done` is set).
fn session(
    m: &Manifest,
    sd: StateDir,
    socket: PathBuf,
    owner: Owner,
    done: Arc<AtomicBool>,
    color: bool,
) -> std::io::Result<()> {
    let size = ratatui::crossterm::terminal::size().unwrap_or((80, 24));
    let tasks: Vec<Digest> = m
        .tasks
        .iter()
        .map(|t| Digest {
            task: t.name.clone(),
            ports: t.ports.clone(),
            log_path: sd.log_path(&t.name),
            ..Default::default()
        })
        .collect();
    let destructive: BTreeMap<String, (String, Option<String>)> = m
        .tasks
        .iter()
        .filter(|t| t.destructive)
        .map(|t| (t.name.clone(), (t.command.display(), t.checkpoint.clone())))
        .collect();
    let classifiers = m
        .tasks
        .iter()
        .filter_map(|t| {
            let c = Classifier::new(t.errors.as_deref(), t.warnings.as_deref()).ok()?;
            Some((t.name.clone(), c))
        })
        .collect();
    let model = Model::new(&m.project, owner, tasks, destructive, size);
    let screen = screen::Screen::enter()?;
    app::run(
        model,
        screen,
        app::Links {
            socket,
            sd,
            classifiers,
            paint: view::Paint { color },
            done,
        },
    )
}

/// The dashboard of `bts up --ui`, on a thread of its own while this process supervises.
pub struct Foreground {
    done: Arc<AtomicBool>,
    handle: JoinHandle<Option<String>>,
}

impl Foreground {
    /// Show the dashboard of the supervisor that serves `socket`. When the dashboard
    /// ends before the supervisor (the terminal hung up, an error), the stack is stopped
    /// as by a Ctrl-C: nothing runs on without a screen that shows it.
    pub fn start(m: &Manifest, sd: &StateDir, socket: PathBuf, color: bool) -> Foreground {
        let done = Arc::new(AtomicBool::new(false));
        let (m, sd, flag) = (m.clone(), sd.clone(), Arc::clone(&done));
        let handle = std::thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                session(&m, sd, socket, Owner::Foreground, Arc::clone(&flag), color)
            }));
            screen::restore();
            if !flag.load(Ordering::SeqCst) {
                crate::process::unix::interrupt_self();
            }
            match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("the dashboard failed: {e}")),
                Err(_) => Some("the dashboard failed (a bug: please report it)".into()),
            }
        });
        Foreground { done, handle }
    }

    /// The supervisor is done: end the dashboard and give the terminal back. Returns
    /// why the dashboard ended early, if it did.
    pub fn finish(self) -> Option<String> {
        self.done.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or(None)
    }
}

#[cfg(test)]
mod tests;
