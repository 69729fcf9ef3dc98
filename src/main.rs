//! bts — background task supervisor. Parses the command line and dispatches; the work
//! lives in the library (`src/lib.rs`).

use std::process::ExitCode;

use clap::Parser;

use bts::cli::{Cli, Command};
use bts::errors::AppError;
use bts::{catchup, check, completions, ctl, export, init, orphans, run, schema, up};

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
    let mut global = cli.global;
    if let Some(f) = cli.command.file() {
        global.file = Some(f.clone());
    }
    let g = &global;
    match cli.command {
        Command::Up(args) => up::run(g, args),
        Command::Down(args) => ctl::down(g, args),
        Command::Status(args) => ctl::status(g, args),
        Command::Ui(_) => bts::ui::attach(g),
        Command::Ps(args) => ctl::ps(g, args),
        Command::Logs(args) => ctl::logs(g, args),
        Command::Restart(args) => ctl::restart(g, args),
        Command::Scale(args) => ctl::scale(g, args),
        Command::Attach(args) => bts::attach::run(g, args),
        Command::Cleanup(_) => ctl::cleanup(g),
        Command::Check(_) => check::run(g.file.as_deref()),
        Command::ArchiveLogs(args) => ctl::archive_logs(g, args),
        Command::Wait(args) => catchup::wait(g, args),
        Command::Run(args) => run::run(g, *args),
        Command::Mcp(args) if args.config => {
            println!("{}", bts::mcp::config_snippet());
            Ok(0)
        }
        Command::Mcp(_) => bts::mcp::serve(g.file.clone()),
        Command::Events(args) => catchup::events(g, args),
        Command::Init(args) => init::run(g, args),
        Command::Schema => schema::print(),
        Command::Completions(args) => completions::run(&args),
        Command::Export(args) => export::run(g, args),
        Command::Watchdog {
            state_dir,
            supervisor_pid,
            instance,
        } => Ok(orphans::watchdog_main(
            &state_dir,
            supervisor_pid,
            &instance,
        )),
    }
}
