//! Command-line interface: the clap-derive types for every command and its aliases
//! (README: Commands; docs/behaviour.md#control-commands). Parsing only; `main.rs` dispatches and each command's module
//! does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// bts — background task supervisor.
///
/// Runs the dev servers, watchers, databases, workers and migrations a repository needs
/// from one `bts.yaml`, each in its own process group, with restart policies, logs in
/// `.bts/`, and a multiplexed view of their output.
#[derive(Debug, Parser)]
#[command(name = "bts", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. `-f` may come before the command (`bts -f x.yaml ps`) or
/// after it (`bts ps -f x.yaml`); for `logs`, where `-f` means follow, use `--file`.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Manifest to use (default: $BTS_FILE, else bts.yaml / bts.yml here or in a parent).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Disable colours (also off when NO_COLOR is set or output is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// `-f/--file` after the command.
#[derive(Debug, Args, Clone, Default)]
pub struct FileArg {
    /// Manifest to use (default: $BTS_FILE, else bts.yaml / bts.yml here or in a parent).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start tasks and supervise them in the foreground.
    #[command(visible_alias = "start")]
    Up(UpArgs),
    /// Stop tasks (all by default), archive their logs and print stop receipts.
    #[command(visible_alias = "stop")]
    Down(DownArgs),
    /// Show the digest of each task.
    Status(StatusArgs),
    /// A live dashboard of the running stack: tasks, logs, search, restart/stop/start.
    Ui(FileArg),
    /// One line per task: name, state, pid, ports, uptime, restarts, health, cpu, memory.
    #[command(visible_aliases = ["list", "ls"])]
    Ps(PsArgs),
    /// Show the tail of tasks' logs.
    #[command(visible_alias = "tail")]
    Logs(LogsArgs),
    /// Stop then start tasks with the same definition.
    Restart(RestartArgs),
    /// Change how many copies of a task run on the running supervisor: `bts scale web=4`.
    Scale(ScaleArgs),
    /// Connect this terminal to a `tty: true` task (a debugger, a REPL); Ctrl-] detaches.
    Attach(AttachArgs),
    /// Gzip tasks' current logs into the archive and start fresh ones.
    ArchiveLogs(ArchiveLogsArgs),
    /// Serve the Model Context Protocol on stdin/stdout, for AI coding agents.
    Mcp(McpArgs),
    /// Start an ad-hoc task given on the command line (no bts.yaml edit needed); starts a
    /// background supervisor when none runs.
    Run(Box<RunArgs>),
    /// Wait until tasks are UP (or ended, or an error line, or a state change), at most
    /// --timeout; exit 0 when it happened, 1 when a task FAILED or is BLOCKED, 124 on
    /// timeout.
    Wait(WaitArgs),
    /// What happened since a cursor (state changes, starts, stops, error lines), ending
    /// with the next cursor.
    Events(EventsArgs),
    /// Reconcile the state file with live processes: stop orphans, remove stale files.
    Cleanup(FileArg),
    /// Validate the manifest and the environment; exit 1 on problems.
    Check(FileArg),
    /// Write a commented bts.yaml: from the Procfile here, or a starter one.
    Init(InitArgs),
    /// Print the JSON Schema of bts.yaml (for editors: yaml-language-server, VS Code).
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Export the manifest for a production supervisor: systemd units or a Procfile.
    Export(ExportArgs),
    /// Internal: the per-supervisor watchdog (stops recorded tasks when the supervisor dies).
    #[command(hide = true, name = "__watchdog")]
    Watchdog {
        state_dir: PathBuf,
        supervisor_pid: i32,
        /// The supervisor's `BTS_INSTANCE`: what its processes carry, found even before
        /// state.json names them.
        #[arg(default_value = "")]
        instance: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// Fold repetitive output and cap the terminal rate (every line still goes to the log).
    Summary,
    /// Every line, no folding or limits.
    Full,
    /// Only bts events and error lines.
    Quiet,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Tasks to start (names or globs such as 'web-*'); default: every task with autostart.
    /// Their dependencies are started too.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Terminal output mode (overrides settings.output).
    #[arg(long, value_enum, value_name = "MODE")]
    pub output: Option<OutputArg>,
    /// Stop everything as soon as any task exits.
    #[arg(long)]
    pub abort_on_exit: bool,
    /// Stop everything when TASK exits and exit with its exit code (implies --abort-on-exit).
    #[arg(long, value_name = "TASK")]
    pub exit_code_from: Option<String>,
    /// Run the supervisor in the background and return after the start receipts.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Show the live dashboard instead of the line stream (quitting it stops the stack,
    /// as Ctrl-C does).
    #[arg(long, conflicts_with_all = ["detach", "wait", "output", "json"])]
    pub ui: bool,
    /// Start in the background and return once every selected task is up (implies --detach).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before giving up.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub wait_timeout: std::time::Duration,
    /// Approve every destructive task.
    #[arg(long)]
    pub yes: bool,
    /// Approve this destructive task (repeatable).
    #[arg(long, value_name = "TASK")]
    pub confirm: Vec<String>,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Internal: this process is the detached supervisor.
    #[arg(long, hide = true)]
    pub internal_daemon: bool,
    /// Internal: the supervisor `bts run` starts (no manifest task; serves until down).
    #[arg(long, hide = true)]
    pub internal_adhoc: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Tasks to stop (default: all, and the supervisor exits).
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Send this signal first instead of each task's stop_signal (SIGKILL still follows
    /// after its stop_timeout).
    #[arg(long, value_name = "SIGNAL", value_parser = parse_signal_arg)]
    pub signal: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn parse_signal_arg(s: &str) -> Result<String, String> {
    crate::manifest::validate::parse_signal(s)
        .map(|sig| sig.as_str().to_string())
        .ok_or_else(|| format!("`{s}` is not a signal name (examples: SIGTERM, INT, SIGQUIT)"))
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Tasks (names or globs) to show in full; none: the compact stack hand-off.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// The full digest of every task instead of the compact hand-off.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub m: FileArg,
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Manifest to use (`-f` is --follow here).
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Number of lines to show.
    #[arg(short = 'n', long = "lines", default_value_t = 100)]
    pub lines: usize,
    /// Keep following the log.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only error lines.
    #[arg(long)]
    pub errors: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub m: FileArg,
    #[arg(value_name = "TASK", required = true)]
    pub tasks: Vec<String>,
    /// Return once the tasks are UP instead of STARTING.
    #[arg(long)]
    pub wait: bool,
    /// Approve restarting every destructive task named.
    #[arg(long)]
    pub yes: bool,
    /// Approve restarting this destructive task (repeatable).
    #[arg(long, value_name = "TASK")]
    pub confirm: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// The task (with `tty: true`), a replica by its full name (`web.2`).
    #[arg(value_name = "TASK")]
    pub task: String,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// `TASK=N`: run N copies of TASK (1–64), named TASK.1 … TASK.N.
    #[arg(value_name = "TASK=N", required = true, value_parser = parse_scale)]
    pub counts: Vec<(String, u32)>,
}

/// `web=4` → `("web", 4)`.
fn parse_scale(s: &str) -> Result<(String, u32), String> {
    let (task, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not TASK=N (e.g. web=4)"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a whole number (e.g. web=4)"))?;
    if !(1..=64).contains(&n) || task.is_empty() {
        return Err(format!("`{s}`: a task and 1 to 64 copies (e.g. web=4)"));
    }
    Ok((task.to_string(), n))
}

#[derive(Debug, Args)]
pub struct ArchiveLogsArgs {
    #[command(flatten)]
    pub m: FileArg,
    #[arg(value_name = "TASK", required = true)]
    pub tasks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the manifest (default: ./bts.yaml).
    #[command(flatten)]
    pub m: FileArg,
    /// Procfile to convert (default: ./Procfile when there is one).
    #[arg(long, value_name = "PATH")]
    pub procfile: Option<PathBuf>,
    /// Overwrite an existing manifest.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One .service per task plus a .target (needs --out DIR).
    Systemd,
    /// A Procfile (stdout, or --out FILE).
    Procfile,
    /// Kubernetes objects: one multi-document YAML on stdout, or a file per object in
    /// --out DIR. Every task needs an `image`.
    #[value(alias = "k8s")]
    Kubernetes,
    /// A Docker Compose file (stdout, or --out FILE; secret variables go to an env file
    /// beside it). Every task needs an `image`.
    Compose,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// What to export.
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Output directory (systemd, kubernetes) or file (procfile, compose; default: stdout).
    #[arg(short = 'o', long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// systemd: user units (the target is wanted by default.target, not multi-user.target).
    #[arg(long)]
    pub user: bool,
    /// kubernetes, compose: the image of every task that has no `image` of its own.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// kubernetes: the namespace of every object (default: none, so `kubectl -n` decides).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// The task's name (what status, logs, restart and down call it).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Working directory (default: here).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A dotenv file of environment variables.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// A port the task listens on (repeatable; PORT is set to the first).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Health probe: an http(s) URL that must answer 2xx/3xx.
    #[arg(long, value_name = "URL")]
    pub health_http: Option<String>,
    /// Health probe: a port or host:port that must accept a connection.
    #[arg(long, value_name = "PORT|HOST:PORT")]
    pub health_tcp: Option<String>,
    /// Health probe: a command that must exit 0.
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Health probe: a regex an output line must match.
    #[arg(long, value_name = "REGEX")]
    pub health_log: Option<String>,
    /// Restart policy: never, on-failure, always.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Rotate the log past this size.
    #[arg(long, value_name = "KB")]
    pub log_max_kb: Option<u64>,
    /// A task that must have started first (repeatable).
    #[arg(long, value_name = "TASK")]
    pub depends_on: Vec<String>,
    /// The task changes data irreversibly: it needs --confirm.
    #[arg(long)]
    pub destructive: bool,
    /// A destructive task's checkpoint command (run first; must exit 0).
    #[arg(long, value_name = "CMD", requires = "destructive")]
    pub checkpoint: Option<String>,
    /// Approve the destructive task.
    #[arg(long)]
    pub confirm: bool,
    /// Replace a task of that name (or running the same command in the same directory).
    #[arg(long)]
    pub replace: bool,
    /// Return once the task is UP (not only started).
    #[arg(long)]
    pub wait: bool,
    /// Also add the task to bts.yaml under `tasks:` (every other byte of the file kept).
    #[arg(long)]
    pub save: bool,
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Print the snippet that registers bts with an MCP client, and exit.
    #[arg(long)]
    pub config: bool,
}

/// What `bts wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// Every task named is UP (or EXITED with 0).
    Up,
    /// Every task named has ended (EXITED, STOPPED).
    Exit,
    /// A new error line in the output of a task named.
    Error,
    /// A state change or a new error line of a task named.
    Change,
    /// The verdict of a build/test cycle that started after the call (or in the 2 s
    /// before it) of every watcher named: 0 all pass, 1 one fails (with its errors).
    Cycle,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Tasks (names or globs; default: every task the supervisor runs).
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// What to wait for.
    #[arg(long = "for", value_enum, default_value = "up")]
    pub until: WaitFor,
    /// Give up after this long (exit 124).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub m: FileArg,
    /// Only these tasks (names or globs).
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// The cursor a previous `bts events` ended with (default: the last 20 events).
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Keep printing events as they happen.
    #[arg(long)]
    pub follow: bool,
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 2s, 1m 30s)"))
}

impl Command {
    /// The manifest given after the command, if any.
    pub fn file(&self) -> Option<&PathBuf> {
        match self {
            Command::Up(a) => a.m.file.as_ref(),
            Command::Down(a) => a.m.file.as_ref(),
            Command::Status(a) => a.m.file.as_ref(),
            Command::Ps(a) => a.m.file.as_ref(),
            Command::Logs(a) => a.file.as_ref(),
            Command::Restart(a) => a.m.file.as_ref(),
            Command::Scale(a) => a.m.file.as_ref(),
            Command::Attach(a) => a.m.file.as_ref(),
            Command::ArchiveLogs(a) => a.m.file.as_ref(),
            Command::Wait(a) => a.m.file.as_ref(),
            Command::Run(a) => a.m.file.as_ref(),
            Command::Mcp(a) => a.m.file.as_ref(),
            Command::Events(a) => a.m.file.as_ref(),
            Command::Cleanup(a) | Command::Check(a) | Command::Ui(a) => a.file.as_ref(),
            Command::Init(a) => a.m.file.as_ref(),
            Command::Export(a) => a.m.file.as_ref(),
            Command::Schema | Command::Completions(_) => None,
            Command::Watchdog { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
