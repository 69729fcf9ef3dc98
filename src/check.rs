//! `bts check`: validate the manifest (every loader rule) and the environment (pre-flight
//! for every task), print every problem, exit 1 if there was any.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::errors::{exit, AppError};
use crate::manifest::{self, diag, Manifest, ManifestError, RestartPolicy};
use crate::preflight;

/// Run the check; returns the exit code (0 clean, 1 problems). Only a missing or
/// unreadable manifest is an `Err` (exit 2: there was nothing to check).
pub fn run(file: Option<&Path>) -> Result<u8, AppError> {
    let path = manifest::discover(file)?;
    let shown = diag::shown_path(&path);
    let manifest = match manifest::load_path(&path) {
        Ok(m) => m,
        Err(e @ ManifestError::Invalid(_)) => {
            eprint!("{e}");
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let report = report(&manifest, &shown);
    if !report.problems.is_empty() {
        eprint!("{}", report.problems);
    }
    if !report.warnings.is_empty() {
        eprint!("{}", report.warnings);
    }
    let tasks = plural(manifest.tasks.len(), "task", "tasks");
    if report.count > 0 {
        let problems = plural(report.count, "problem", "problems");
        eprintln!("error: {shown} — {tasks}, {problems}");
        Ok(exit::FAILURE)
    } else {
        let warnings = match report.warning_count {
            0 => String::new(),
            n => format!(" ({})", plural(n, "warning", "warnings")),
        };
        let mut out = std::io::stdout().lock();
        match writeln!(out, "ok: {shown} — {tasks}, no problems{warnings}") {
            // A closed stdout (`bts check | true`) is not a failed check.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(AppError::io("writing to stdout", e))
            }
            _ => Ok(exit::OK),
        }
    }
}

struct Report {
    problems: String,
    count: usize,
    warnings: String,
    warning_count: usize,
}

fn report(manifest: &Manifest, shown: &str) -> Report {
    let mut r = Report {
        problems: String::new(),
        count: 0,
        warnings: String::new(),
        warning_count: 0,
    };
    for p in preflight::check_all(&manifest.tasks) {
        let at = manifest.task(&p.task).map_or_else(
            || shown.to_string(),
            |t| format!("{}:{}", diag::shown_path(manifest.file_of(t)), t.line),
        );
        r.count += 1;
        let _ = writeln!(r.problems, "error: task `{}`: {}", p.task, p.message);
        let _ = writeln!(r.problems, "  --> {at}");
        if let Some(h) = p.hint {
            let _ = writeln!(r.problems, "  = hint: {h}");
        }
    }
    if let Some((message, hint)) = preflight::open_files_problem(manifest.tasks.len()) {
        r.count += 1;
        let _ = writeln!(r.problems, "error: {message}");
        let _ = writeln!(r.problems, "  --> {shown}");
        let _ = writeln!(r.problems, "  = hint: {hint}");
    }
    for w in &manifest.warnings {
        r.warning_count += 1;
        let _ = writeln!(r.warnings, "warning: {w}");
    }
    for t in &manifest.tasks {
        if t.destructive && t.restart != RestartPolicy::Never {
            r.warning_count += 1;
            let policy = if t.restart == RestartPolicy::Always {
                "always"
            } else {
                "on-failure"
            };
            let _ = writeln!(
                r.warnings,
                "warning: task `{}` is destructive, so `restart: {policy}` is ignored (destructive tasks are never restarted automatically)",
                t.name
            );
            let _ = writeln!(
                r.warnings,
                "  --> {}:{}",
                diag::shown_path(manifest.file_of(t)),
                t.line
            );
            let _ = writeln!(
                r.warnings,
                "  = hint: remove `restart` from this task (or from `defaults`)"
            );
        }
    }
    r
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
