//! The validated manifest: what the rest of bts works with. Every value here has passed
//! the loader's checks (README: Manifest reference), paths are absolute, durations and signals are
//! parsed, `defaults` are merged into each task and env values are interpolated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A loaded, validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file (absolute).
    pub path: PathBuf,
    /// The directory relative paths are resolved against (absolute).
    pub dir: PathBuf,
    /// `name`, default: the manifest directory's name.
    pub project: String,
    /// `env_file`, absolute, in order (their values are already in each task's `env`;
    /// kept so that exports can reference the files instead of copying secrets).
    pub env_files: Vec<PathBuf>,
    pub settings: Settings,
    /// Tasks in file order: the manifest's, then those of the files it includes.
    pub tasks: Vec<Task>,
    /// The files `include` brought in (absolute), in order: a change to any of them is a
    /// change to the manifest (live reload).
    pub includes: Vec<PathBuf>,
    /// What is worth saying but does not make the manifest invalid.
    pub warnings: Vec<String>,
}

impl Manifest {
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The file a task is defined in (the manifest or one it includes).
    pub fn file_of(&self, t: &Task) -> &std::path::Path {
        match t.file {
            0 => &self.path,
            n => self
                .includes
                .get(usize::from(n) - 1)
                .map_or(self.path.as_path(), PathBuf::as_path),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Absolute path of the state dir (default `<dir>/.bts`).
    pub state_dir: PathBuf,
    pub output: OutputMode,
    /// Default 5m.
    pub digest_interval: Duration,
    /// Absolute path of the notes file, if any.
    pub notes: Option<PathBuf>,
    pub secrets: Secrets,
    /// The bound on the state dir as a whole, in bytes (default 1 GB).
    pub max_disk: u64,
    /// How long a task's CPU must stay over its `max_cpu` before bts acts (default 30s).
    pub cpu_window: Duration,
    /// Apply saved changes of the manifest at once; `None`: in the foreground only.
    pub reload: Option<bool>,
}

/// `settings.max_disk` when the manifest does not set it.
pub const DEFAULT_MAX_DISK: u64 = 1 << 30;
/// `settings.cpu_window` when the manifest does not set it.
pub const DEFAULT_CPU_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    #[default]
    Summary,
    Full,
    Quiet,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Secrets {
    /// Globs of env keys whose values may be shown (as written; defaults are added by the
    /// redaction module, not here).
    pub public: Vec<String>,
    /// Extra mask globs, added to the built-in ones.
    pub mask: Vec<String>,
    /// Extra regexes (already checked to compile).
    pub redact: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub command: CommandSpec,
    /// Absolute working directory (default: the manifest dir). Existence is an
    /// environment check (pre-flight, `bts check`), not a loader rule.
    pub cwd: PathBuf,
    /// Env bts adds on top of the calling environment for this task: env files, then the
    /// manifest `env`, then the task's `env` (later wins), all interpolated. Does not
    /// contain `PORT`/`BTS_*`; the supervisor adds those.
    pub env: BTreeMap<String, String>,
    /// Declared ports (1–65535, unique across tasks).
    pub ports: Vec<u16>,
    pub health: Option<Health>,
    pub restart: RestartPolicy,
    /// Default 5.
    pub max_restarts: u32,
    /// Default 5m.
    pub restart_window: Duration,
    /// Default 1s.
    pub backoff: Duration,
    pub depends_on: Vec<Dependency>,
    /// Signal number (libc), default SIGTERM.
    pub stop_signal: i32,
    /// Default 10s.
    pub stop_timeout: Duration,
    /// Default 1024.
    pub log_max_kb: u64,
    /// Default 3.
    pub log_keep: u32,
    /// Error line regexes (already checked to compile); `None` = the built-in defaults.
    pub errors: Option<Vec<String>>,
    /// Warning line regexes; `None` = the built-in defaults.
    pub warnings: Option<Vec<String>>,
    /// Globs relative to `cwd`.
    pub watch: Vec<String>,
    pub destructive: bool,
    pub checkpoint: Option<String>,
    /// Default 5m.
    pub checkpoint_timeout: Duration,
    /// Default true.
    pub autostart: bool,
    /// The container image for `bts export kubernetes | compose`; unused locally.
    pub image: Option<String>,
    /// Scheduling priority (nice value) of the task's processes; `None` leaves bts's.
    pub nice: Option<i32>,
    /// Memory and CPU limits, and what passing one does.
    pub limits: Limits,
    /// Runs on a pseudo-terminal (`bts attach`).
    pub tty: bool,
    /// How its output's build/test cycles are found (docs/behaviour.md#cycles).
    pub cycle: CycleSpec,
    /// 1-based line of the task's key in its file, for messages.
    pub line: usize,
    /// Which file: 0 the manifest, `n` its `includes[n - 1]`.
    pub file: u16,
    /// This task is copy `index` of the task `of` (`replicas:`).
    pub replica: Option<Replica>,
}

/// Which copy of a replicated task a task is (docs/behaviour.md#replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The name in the manifest (`web` for `web.2`).
    pub of: String,
    /// 1-based. (How many copies there are is not part of a copy's definition: scaling
    /// leaves the copies that stay alone.)
    pub index: u32,
}

impl Task {
    /// A hash of everything in the definition (not where it stands in the file): a
    /// reload restarts the task when it changes. FNV-1a over the Debug form, which lists
    /// every field.
    pub fn config_hash(&self) -> String {
        let t = Task {
            line: 0,
            file: 0,
            ..self.clone()
        };
        format!("{:016x}", crate::hash::fnv1a(format!("{t:?}").as_bytes()))
    }

    /// The same definition, wherever each stands in its file (a comment added above a
    /// task does not change it).
    pub fn same_definition(&self, other: &Task) -> bool {
        let at = |t: &Task| Task {
            line: 0,
            file: 0,
            ..t.clone()
        };
        at(self) == at(other)
    }

    /// A task with every field at its documented default: the loader's starting point,
    /// so the defaults live in one place.
    pub fn with_defaults(name: &str, command: CommandSpec, cwd: PathBuf) -> Task {
        Task {
            name: name.to_string(),
            command,
            cwd,
            env: BTreeMap::new(),
            ports: Vec::new(),
            health: None,
            restart: RestartPolicy::Never,
            max_restarts: 5,
            restart_window: Duration::from_secs(300),
            backoff: Duration::from_secs(1),
            depends_on: Vec::new(),
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            log_max_kb: 1024,
            log_keep: 3,
            errors: None,
            warnings: None,
            watch: Vec::new(),
            destructive: false,
            checkpoint: None,
            checkpoint_timeout: Duration::from_secs(300),
            autostart: true,
            image: None,
            nice: None,
            limits: Limits::default(),
            tty: false,
            cycle: CycleSpec::Auto,
            line: 1,
            file: 0,
            replica: None,
        }
    }
}

/// A task's resource limits (docs/behaviour.md#resource-limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Resident memory of the task's process group, in bytes.
    pub max_memory: Option<u64>,
    /// CPU of the task's process group, in percent of one core, sustained over
    /// `settings.cpu_window`.
    pub max_cpu: Option<u32>,
    /// What passing a limit does; `None`: restart for memory, warn for CPU.
    pub on_limit: Option<OnLimit>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.max_memory.is_none() && self.max_cpu.is_none()
    }

    /// What passing the memory limit does.
    pub fn on_memory(&self) -> OnLimit {
        self.on_limit.unwrap_or(OnLimit::Restart)
    }

    /// What passing the CPU limit does.
    pub fn on_cpu(&self) -> OnLimit {
        self.on_limit.unwrap_or(OnLimit::Warn)
    }
}

/// `cycle:` of a task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CycleSpec {
    /// The built-in preset its command chooses, if any.
    #[default]
    Auto,
    /// `cycle: off`.
    Off,
    /// `cycle: {start, ok, fail}` (regexes, checked to compile; `start` may be empty).
    Custom {
        start: String,
        ok: String,
        fail: String,
    },
}

/// What bts does when a task passes one of its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    /// Stop the run and start it again (counts toward the crash-loop budget).
    Restart,
    /// Stop the task; it ends FAILED with the limit as its reason.
    Stop,
    /// Only say so (terminal, events, digest).
    Warn,
}

impl OnLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            OnLimit::Restart => "restart",
            OnLimit::Stop => "stop",
            OnLimit::Warn => "warn",
        }
    }
}

/// How a task's command is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    /// `cmd: "a string"` without `args`: run by `/bin/sh -c`.
    Shell(String),
    /// `cmd` with `args`, or `cmd` as a list: exec'd directly, no shell.
    Exec { program: String, args: Vec<String> },
}

impl CommandSpec {
    /// The command as a user would type it, for messages and receipts.
    pub fn display(&self) -> String {
        match self {
            // A multi-line script (`cmd: |`) shows on one line.
            CommandSpec::Shell(s) => s
                .trim()
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("; "),
            CommandSpec::Exec { program, args } => {
                let mut out = program.clone();
                for a in args {
                    out.push(' ');
                    if a.contains(|c: char| c.is_control()) {
                        // Bash's $'…' form keeps the display on one line.
                        out.push_str("$'");
                        for c in a.chars() {
                            match c {
                                '\n' => out.push_str("\\n"),
                                '\t' => out.push_str("\\t"),
                                '\'' | '\\' => {
                                    out.push('\\');
                                    out.push(c);
                                }
                                c if c.is_control() => {
                                    out.push_str(&format!("\\x{:02x}", c as u32))
                                }
                                c => out.push(c),
                            }
                        }
                        out.push('\'');
                    } else if a.is_empty()
                        || a.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c))
                    {
                        out.push('\'');
                        out.push_str(&a.replace('\'', r"'\''"));
                        out.push('\'');
                    } else {
                        out.push_str(a);
                    }
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    Never,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub task: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Spawned and alive.
    Started,
    /// UP (probe passed, or no probe and alive past 1 s).
    Healthy,
    /// Exited 0.
    Completed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub probe: Probe,
    /// Default 5s.
    pub interval: Duration,
    /// Default 2s.
    pub timeout: Duration,
    /// Default 3.
    pub retries: u32,
    /// Default 60s.
    pub start_period: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// `http: http://127.0.0.1:4000/healthz`
    Http(String),
    /// `tcp: 4000` (host 127.0.0.1, then ::1) or `tcp: "host:port"`.
    Tcp { host: Option<String>, port: u16 },
    /// `cmd: "pg_isready"`: sh -c in the task's cwd and env.
    Cmd(String),
    /// `log: "listening on"`: regex on the task's output (checked to compile).
    Log(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_on_one_line() {
        let c = CommandSpec::Exec {
            program: "printf".into(),
            args: vec!["x=%s\n".into(), "y z".into(), "it's".into()],
        };
        assert_eq!(c.display(), r"printf $'x=%s\n' 'y z' 'it'\''s'");
        assert_eq!(CommandSpec::Shell("a\n  b  \n".into()).display(), "a;   b");
    }
}
