//! bts — background task supervisor. Parses the command line and dispatches; the work
//! lives in the modules below.

mod cli;
mod clock;
mod errors;
mod logs;
mod manifest;
mod output;
mod probe;
mod process;
mod redact;
mod runner;
mod state_dir;
mod supervisor;
mod task;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::errors::{exit, AppError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            err.report();
            ExitCode::from(err.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, AppError> {
    let name = match cli.command {
        Command::Up(args) => return up::run(&cli.global, args),
        Command::Down(_) => "down",
        Command::Status(_) => "status",
        Command::Ps(_) => "ps",
        Command::Logs(_) => "logs",
        Command::Restart(_) => "restart",
        Command::ArchiveLogs(_) => "archive-logs",
        Command::Cleanup => "cleanup",
        Command::Check => "check",
    };
    Err(not_yet(name))
}

fn not_yet(command: &str) -> AppError {
    AppError::new(format!("`bts {command}` is not yet implemented"))
        .with_hint("see the README for the commands that work today")
        .with_code(exit::USAGE)
}
