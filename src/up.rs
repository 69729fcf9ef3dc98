//! `bts up` in the foreground: select the tasks, prepare the state dir and the terminal,
//! and run the supervisor until it is done.

use std::collections::BTreeSet;

use globset::Glob;

use crate::cli::{GlobalArgs, OutputArg, UpArgs};
use crate::errors::{exit, AppError};
use crate::manifest::{self, Manifest, OutputMode};
use crate::output::{self, Output, Terminal};
use crate::state_dir::StateDir;
use crate::supervisor::{Options, Supervisor};

pub fn run(global: &GlobalArgs, args: UpArgs) -> Result<u8, AppError> {
    if args.detach || args.wait {
        return Err(AppError::new("`bts up --detach/--wait` is not yet implemented")
            .with_hint("run `bts up` in the foreground for now")
            .with_code(exit::USAGE));
    }
    let manifest = manifest::load(global.file.as_deref())?;
    let selected = select(&manifest, &args.tasks)?;
    if let Some(t) = &args.exit_code_from {
        if !selected.contains(t) {
            return Err(unknown_task(&manifest, t, "--exit-code-from"));
        }
    }
    let state_dir = StateDir::ensure(&manifest.settings.state_dir).map_err(|e| {
        AppError::io(format!("cannot create the state dir {}", manifest.settings.state_dir.display()), e)
    })?;
    let mode = match args.output {
        Some(OutputArg::Summary) => OutputMode::Summary,
        Some(OutputArg::Full) => OutputMode::Full,
        Some(OutputArg::Quiet) => OutputMode::Quiet,
        None => manifest.settings.output,
    };
    let width = selected.iter().map(|n| n.len()).max().unwrap_or(0).max(3);
    let (term, writer) = Terminal::start();
    let out = Output::new(term.clone(), output::use_color(global.no_color), width, mode);
    let opts = Options { abort_on_exit: args.abort_on_exit, exit_code_from: args.exit_code_from };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::io("cannot start the async runtime", e))?;
    let supervisor = Supervisor::new(&manifest, &selected, out, state_dir, opts);
    let code = runtime.block_on(supervisor.run());
    // Runs may still be draining detached pipes of setsid'd processes; don't wait.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    term.close();
    let _ = writer.join();
    Ok(code)
}

/// The tasks to run: those named (names or globs), or every `autostart` task, plus
/// everything they depend on.
pub fn select(manifest: &Manifest, patterns: &[String]) -> Result<BTreeSet<String>, AppError> {
    let mut chosen: Vec<String> = Vec::new();
    if patterns.is_empty() {
        chosen.extend(manifest.tasks.iter().filter(|t| t.autostart).map(|t| t.name.clone()));
    } else {
        for p in patterns {
            let matcher = Glob::new(p)
                .map_err(|e| AppError::new(format!("bad task pattern `{p}`: {e}")))?
                .compile_matcher();
            let hits: Vec<String> = manifest
                .tasks
                .iter()
                .filter(|t| t.name == *p || matcher.is_match(&t.name))
                .map(|t| t.name.clone())
                .collect();
            if hits.is_empty() {
                return Err(unknown_task(manifest, p, "up"));
            }
            chosen.extend(hits);
        }
    }
    let mut selected = BTreeSet::new();
    while let Some(name) = chosen.pop() {
        if selected.insert(name.clone()) {
            if let Some(t) = manifest.task(&name) {
                chosen.extend(t.depends_on.iter().map(|d| d.task.clone()));
            }
        }
    }
    Ok(selected)
}

fn unknown_task(manifest: &Manifest, name: &str, what: &str) -> AppError {
    let known: Vec<&str> = manifest.tasks.iter().map(|t| t.name.as_str()).collect();
    AppError::new(format!("{what}: no task matches `{name}` in {}", manifest.path.display()))
        .with_hint(format!("known tasks: {}", known.join(", ")))
        .with_code(exit::USAGE)
}
