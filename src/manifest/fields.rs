//! Every key the manifest accepts, per map, with its type and a one-line doc. This table
//! is the single source of truth for two readers: the validator's known-keys check (the
//! "unknown key … did you mean" rule takes its key lists from here) and `bts schema`
//! (which renders it as a JSON Schema). Adding a key here is what makes both accept it;
//! the tests in `crate::schema` load a manifest that uses every key of this table, and
//! check it against the schema too, so the validator's conversions cannot fall behind.

/// The type of a field's value, as the validator accepts it.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// `version`: only `1`.
    Version,
    /// A non-empty string.
    Str,
    /// A container image reference: a string without whitespace.
    Image,
    /// A non-empty path, relative to the manifest's directory.
    Path,
    /// A path or a list of paths.
    Paths,
    /// `true` / `false` (and the YAML 1.1 `yes` / `no` / `on` / `off`).
    Bool,
    /// A whole number in `min..=max`.
    UInt { min: u64, max: u64 },
    /// A whole number in `min..=max`, negatives allowed.
    Int { min: i64, max: i64 },
    /// A size with a unit (`512MB`, `1.5GB`); powers of 1024.
    Size,
    /// A share of one core in percent (`150%`, or a number).
    Percent,
    /// `cycle`: `off` or a map of `start`, `ok`, `fail` regexes.
    Cycle,
    /// A humantime duration (`500ms`, `2s`, `1m 30s`); `0` when zero is allowed.
    Duration { zero_ok: bool },
    /// A signal name (`SIGTERM`, `TERM`, any case) or number.
    Signal,
    /// One of `values`, or one of the `aliases` the validator also takes.
    Enum {
        values: &'static [&'static str],
        aliases: &'static [&'static str],
    },
    /// A list of regexes (or one).
    Regexes,
    /// A list of globs (or one).
    Globs,
    /// A map of `NAME: value` (values interpolated).
    Env,
    /// A nested map with these fields.
    Map(&'static [Field]),
    /// `tasks`: task names to tasks (or a command string, the Procfile shorthand).
    Tasks,
    /// `defaults`: any task field.
    Defaults,
    /// `cmd`: a string (run by `sh -c`) or a non-empty list (exec'd).
    Command,
    /// `args`: a list of strings (or one).
    Args,
    /// `ports`: a port or a list of ports.
    Ports,
    /// `health`: a map with exactly one of [`PROBE_KINDS`].
    Health,
    /// `tcp` probe: a port or `"host:port"`.
    TcpTarget,
    /// `http` probe: an http(s) URL.
    Url,
    /// `log` probe: one regex.
    Regex,
    /// `depends_on`: a name, a list of names, or a map of name to condition.
    DependsOn,
}

/// One key of a map.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

/// The names of `fields`, in order, for the validator's `&[&str]` key lists.
pub const fn names<const N: usize>(fields: &[Field; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = fields[i].name;
        i += 1;
    }
    out
}

pub const OUTPUT_MODES: &[&str] = &["summary", "full", "quiet"];
pub const RESTART_POLICIES: &[&str] = &["never", "on-failure", "always"];
pub const ON_LIMIT: &[&str] = &["restart", "stop", "warn"];
pub const RESTART_ALIASES: &[&str] = &["no"];
pub const CONDITIONS: &[&str] = &["started", "healthy", "completed"];
/// docker compose's spellings, accepted as they are.
pub const CONDITION_ALIASES: &[&str] = &[
    "service_started",
    "service_healthy",
    "completed_successfully",
    "service_completed_successfully",
];
pub const PROBE_KINDS: &[&str] = &["http", "tcp", "cmd", "log"];

pub const TOP: [Field; 8] = [
    f("version", Ty::Version, "Manifest format version; only 1 exists."),
    f(
        "include",
        Ty::Paths,
        "Other manifests (paths or globs, relative to this file) whose tasks join the stack; each keeps its own directory, env and defaults.",
    ),
    f(
        "name",
        Ty::Str,
        "Project name (default: the manifest's directory name).",
    ),
    f(
        "env_file",
        Ty::Paths,
        "Env files loaded for every task, relative to the manifest; the calling environment wins over them.",
    ),
    f(
        "env",
        Ty::Env,
        "Env for every task; ${VAR} and ${VAR:-default} are interpolated from the calling environment and env files.",
    ),
    f("settings", Ty::Map(&SETTINGS), "Project-wide settings."),
    f(
        "defaults",
        Ty::Defaults,
        "Default values for any task field; a task's own value wins.",
    ),
    f("tasks", Ty::Tasks, "The tasks, by name."),
];

pub const SETTINGS: [Field; 8] = [
    f(
        "state_dir",
        Ty::Path,
        "Where logs, digests, the socket, lock and state live (default .bts).",
    ),
    f(
        "output",
        Ty::Enum {
            values: OUTPUT_MODES,
            aliases: &[],
        },
        "Terminal output: summary (default), full or quiet.",
    ),
    f(
        "digest_interval",
        Ty::Duration { zero_ok: false },
        "How often digests are refreshed (default 5m).",
    ),
    f(
        "notes",
        Ty::Path,
        "A Markdown file whose \"Background Tasks\" section bts keeps current.",
    ),
    f(
        "secrets",
        Ty::Map(&SECRETS),
        "What counts as a secret in env and output.",
    ),
    f(
        "max_disk",
        Ty::Size,
        "Bound on the state dir (logs, rotations, archives; default 1GB): the oldest archives and rotations go first.",
    ),
    f(
        "reload",
        Ty::Bool,
        "Apply a saved change to the manifest at once, like a second `bts up` (default: true in the foreground, false detached).",
    ),
    f(
        "cpu_window",
        Ty::Duration { zero_ok: false },
        "How long a task's CPU must stay over its max_cpu before bts acts (default 30s).",
    ),
];

pub const SECRETS: [Field; 3] = [
    f(
        "public",
        Ty::Globs,
        "Env keys (globs) whose values may be shown.",
    ),
    f(
        "mask",
        Ty::Globs,
        "Env keys (globs) whose values are secret, added to the defaults (*TOKEN*, *SECRET*, *PASSWORD*, *_KEY, …).",
    ),
    f(
        "redact",
        Ty::Regexes,
        "Extra regexes redacted from output and logs.",
    ),
];

pub const TASK: [Field; 32] = [
    f(
        "cmd",
        Ty::Command,
        "The command: a string run by /bin/sh -c, or a list (or a string with args) exec'd directly.",
    ),
    f("args", Ty::Args, "Arguments; with them, cmd is exec'd without a shell."),
    f(
        "cwd",
        Ty::Path,
        "Working directory, relative to the manifest (must exist).",
    ),
    f("wd", Ty::Path, "Alias of cwd."),
    f(
        "env",
        Ty::Env,
        "Env for this task, on top of the manifest's env; interpolated.",
    ),
    f(
        "ports",
        Ty::Ports,
        "Ports the task listens on (1-65535, unique across tasks); PORT is set to the first unless already set.",
    ),
    f(
        "health",
        Ty::Health,
        "A health probe (http, tcp, cmd or log) gating dependents and restarts.",
    ),
    f(
        "restart",
        Ty::Enum {
            values: RESTART_POLICIES,
            aliases: RESTART_ALIASES,
        },
        "Restart policy: never (default), on-failure or always.",
    ),
    f(
        "max_restarts",
        Ty::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        "Restarts allowed within restart_window before the task is FAILED (default 5).",
    ),
    f(
        "restart_window",
        Ty::Duration { zero_ok: false },
        "The crash-loop window (default 5m).",
    ),
    f(
        "backoff",
        Ty::Duration { zero_ok: true },
        "First restart delay, doubling per restart up to 30s (default 1s).",
    ),
    f(
        "depends_on",
        Ty::DependsOn,
        "Tasks to wait for: a list (healthy if the task has a probe, else started) or a map of task: started | healthy | completed.",
    ),
    f(
        "stop_signal",
        Ty::Signal,
        "Signal sent to the process group to stop it (default SIGTERM).",
    ),
    f(
        "stop_timeout",
        Ty::Duration { zero_ok: true },
        "Grace period before SIGKILL (default 10s).",
    ),
    f(
        "log_max_kb",
        Ty::UInt {
            min: 1,
            max: u64::MAX >> 11,
        },
        "Log size before rotation, in KiB (default 1024).",
    ),
    f(
        "log_keep",
        Ty::UInt { min: 0, max: 1000 },
        "Rotated log files kept (default 3).",
    ),
    f(
        "errors",
        Ty::Regexes,
        "Regexes for error lines (replace the built-in ones).",
    ),
    f(
        "warnings",
        Ty::Regexes,
        "Regexes for warning lines (replace the built-in ones).",
    ),
    f(
        "watch",
        Ty::Globs,
        "Globs, relative to cwd: restart the task when a matching file changes.",
    ),
    f(
        "destructive",
        Ty::Bool,
        "Needs approval (--yes or --confirm TASK) before it runs.",
    ),
    f(
        "checkpoint",
        Ty::Str,
        "A command (sh -c) run before a destructive task, e.g. a backup.",
    ),
    f(
        "checkpoint_timeout",
        Ty::Duration { zero_ok: false },
        "How long the checkpoint may take (default 5m).",
    ),
    f(
        "autostart",
        Ty::Bool,
        "Start with a plain `bts up` (default true); false: only when named.",
    ),
    f(
        "nice",
        Ty::Int { min: -20, max: 19 },
        "Scheduling priority of the task's processes, -20 (first) to 19 (last); below 0 needs privileges.",
    ),
    f(
        "cycle",
        Ty::Cycle,
        "Build/test cycles of a watcher: `off`, or {start, ok, fail} regexes (default: a preset chosen by the command: tsc, vitest, jest, vite/webpack/next, cargo watch, eslint, prettier, pytest-watch).",
    ),
    f(
        "tty",
        Ty::Bool,
        "Run on a pseudo-terminal instead of pipes, so `bts attach TASK` can type into it (a debugger, a REPL); output is still logged.",
    ),
    f(
        "replicas",
        Ty::UInt { min: 1, max: 64 },
        "Run N copies named NAME.1 … NAME.N, each with its own process group, log and restart budget; PORT = the declared port + index - 1.",
    ),
    f(
        "extends",
        Ty::Bool,
        "true: lay these keys over the task of the same name from an included file instead of defining a new task.",
    ),
    f(
        "max_memory",
        Ty::Size,
        "Memory limit of the task's processes (512MB, 1.5GB); at 80% a warning, over it on_limit (default restart).",
    ),
    f(
        "max_cpu",
        Ty::Percent,
        "CPU limit in percent of one core (150%), sustained over settings.cpu_window; at 80% a warning, over it on_limit (default warn).",
    ),
    f(
        "on_limit",
        Ty::Enum {
            values: ON_LIMIT,
            aliases: &[],
        },
        "What passing max_memory or max_cpu does: restart (counts toward max_restarts), stop (FAILED) or warn.",
    ),
    f(
        "image",
        Ty::Image,
        "The container image the task runs in when exported (bts export kubernetes | compose); local runs ignore it.",
    ),
];

pub const HEALTH: [Field; 8] = [
    f(
        "http",
        Ty::Url,
        "Probe: an http(s) URL that must answer 2xx/3xx.",
    ),
    f(
        "tcp",
        Ty::TcpTarget,
        "Probe: a port (127.0.0.1, then ::1) or \"host:port\" that must accept a connection.",
    ),
    f(
        "cmd",
        Ty::Str,
        "Probe: a command (sh -c, the task's cwd and env) that must exit 0.",
    ),
    f(
        "log",
        Ty::Regex,
        "Probe: a regex that must match a line of the task's output.",
    ),
    f(
        "interval",
        Ty::Duration { zero_ok: false },
        "Time between probes once up (default 5s).",
    ),
    f(
        "timeout",
        Ty::Duration { zero_ok: false },
        "Time a probe may take (default 2s).",
    ),
    f(
        "retries",
        Ty::UInt {
            min: 1,
            max: 1_000_000,
        },
        "Consecutive failures before DOWN (default 3).",
    ),
    f(
        "start_period",
        Ty::Duration { zero_ok: true },
        "Grace period at start when failures do not count (default 60s).",
    ),
];

/// The keys of the long form `depends_on: {db: {condition: healthy}}`.
pub const DEPENDENCY: [Field; 1] = [f(
    "condition",
    Ty::Enum {
        values: CONDITIONS,
        aliases: CONDITION_ALIASES,
    },
    "started, healthy or completed.",
)];
