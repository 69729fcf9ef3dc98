//! `bts completions SHELL`: the clap_complete script for the CLI as `cli.rs` defines it,
//! so completions cannot drift from the commands.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::errors::{exit, AppError};

pub fn run(args: &CompletionsArgs) -> Result<u8, AppError> {
    // Rendered first: clap_complete panics on a write error, and `| head` is not one.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "bts", &mut script);
    print_stdout(&script)
}

/// Write `bytes` to stdout; a closed pipe is a clean exit (ripgrep's rule).
pub fn print_stdout(bytes: &[u8]) -> Result<u8, AppError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(AppError::io("writing to stdout", e))
        }
        _ => Ok(exit::OK),
    }
}
