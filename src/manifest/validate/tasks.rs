//! One task: its name, its fields taken from the task or from `defaults` (merged per
//! key, the task winning; `env` merged per variable), the command forms, and the
//! task-only values `restart` and `stop_signal`.

use std::collections::BTreeMap;
use std::str::FromStr;

use nix::sys::signal::Signal;

use super::replicas::MAX_REPLICAS;
use super::values::found;
use super::{Draft, Entry, Field, TASK_KEYS, V};
use crate::manifest::diag::did_you_mean;
use crate::manifest::fields;
use crate::manifest::model::{CommandSpec, CycleSpec, OnLimit, RestartPolicy, Task};
use crate::manifest::node::{Kind, Node, Pos, Value};

impl V<'_> {
    pub(super) fn task(
        &mut self,
        k: &Node,
        v: &Node,
        defaults: &[Entry],
        base_env: &BTreeMap<String, String>,
        env_files: &BTreeMap<String, String>,
    ) -> Option<Draft> {
        let Some(name) = k.scalar_text().map(str::to_string) else {
            self.err(
                k.pos,
                format!("task names must be names, found {}", found(k)),
                "write `name:` with letters, digits, `_`, `.`, `-`",
            );
            return None;
        };
        if !valid_task_name(&name) {
            self.err(
                k.pos,
                format!("invalid task name `{name}`"),
                "task names start with a letter or digit and contain only letters, digits, `_`, `.` and `-`",
            );
        }
        let at_task = format!("in task `{name}`");
        let mut task = Task {
            env: base_env.clone(),
            line: k.pos.line,
            file: k.pos.file,
            ..Task::with_defaults(&name, CommandSpec::Shell(String::new()), self.dir.clone())
        };
        // A task with problems still becomes a draft: the cross-task rules (ports,
        // dependencies, cycles) must see it, and no manifest is built anyway.
        let own: Vec<Entry> = match &v.value {
            Value::Map(_) => self.entries(v, TASK_KEYS, &at_task, false),
            // `web: npm run dev`: the Procfile-style shorthand for `web: {cmd: ...}`.
            Value::Scalar { .. } if !v.is_null() => {
                vec![Entry {
                    key: "cmd".into(),
                    key_pos: k.pos,
                    value: v.clone(),
                }]
            }
            _ if v.is_null() => {
                self.err(
                    k.pos,
                    format!("task `{name}` is empty"),
                    "give it a command: `cmd: <command>`",
                );
                return Some(Draft {
                    task,
                    deps: Vec::new(),
                    ports: Vec::new(),
                    replicas: None,
                });
            }
            _ => {
                self.type_err(
                    v,
                    &format!("task `{name}`"),
                    "a map of fields (or a command string)",
                    "write `cmd: <command>` and other fields under the task name",
                );
                return Some(Draft {
                    task,
                    deps: Vec::new(),
                    ports: Vec::new(),
                    replicas: None,
                });
            }
        };

        // `cwd` and its alias `wd` are one field.
        let own_cwd: Vec<&Entry> = own
            .iter()
            .filter(|e| e.key == "cwd" || e.key == "wd")
            .collect();
        if own_cwd.len() > 1 {
            self.err(
                own_cwd[1].key_pos,
                format!("both `cwd` and `wd` {at_task}"),
                "`wd` is an alias of `cwd`: keep one",
            );
        }
        let pick = |key: &str| -> Option<Field<'_>> {
            let is = |e: &&Entry| e.key == key || (key == "cwd" && e.key == "wd");
            own.iter()
                .find(is)
                .map(|e| Field {
                    value: &e.value,
                    key_pos: e.key_pos,
                    at: at_task.clone(),
                })
                .or_else(|| {
                    defaults.iter().find(is).map(|e| Field {
                        value: &e.value,
                        key_pos: e.key_pos,
                        at: "in `defaults`".into(),
                    })
                })
        };
        let lbl = |key: &str, f: &Field<'_>| format!("`{key}` {}", f.at);

        // cmd / args
        let args = pick("args");
        match pick("cmd") {
            None => self.err(
                k.pos,
                format!("task `{name}` has no `cmd`"),
                "add `cmd: <command>` (a string run by `sh -c`, or a list run directly)",
            ),
            Some(f) => {
                let label = lbl("cmd", &f);
                let empty_hint = "give the command to run, e.g. `cmd: npm run dev`";
                match &f.value.value {
                    Value::Seq(_) => {
                        if let Some(a) = &args {
                            self.err(
                                a.key_pos,
                                format!("`args` cannot be combined with `cmd` as a list {}", a.at),
                                "put the arguments in the `cmd` list, or make `cmd` a string",
                            );
                        }
                        if let Some(list) = self.string_list(f.value, &label, false) {
                            match list.split_first() {
                                Some(((program, _), rest)) if !program.trim().is_empty() => {
                                    task.command = CommandSpec::Exec {
                                        program: program.clone(),
                                        args: rest.iter().map(|(s, _)| s.clone()).collect(),
                                    }
                                }
                                _ => self.err(f.value.pos, format!("empty {label}"), empty_hint),
                            }
                        }
                    }
                    Value::Scalar { .. } if f.value.is_null() => {
                        self.err(f.key_pos, format!("empty {label}"), empty_hint)
                    }
                    Value::Scalar { text, .. } if text.trim().is_empty() => {
                        self.err(f.value.pos, format!("empty {label}"), empty_hint)
                    }
                    Value::Scalar { text, .. } => match &args {
                        Some(a) => {
                            let label = lbl("args", a);
                            if let Some(list) = self.string_list(a.value, &label, true) {
                                task.command = CommandSpec::Exec {
                                    program: text.clone(),
                                    args: list.into_iter().map(|(s, _)| s).collect(),
                                };
                            }
                        }
                        None => task.command = CommandSpec::Shell(text.clone()),
                    },
                    Value::Map(_) => {
                        self.type_err(f.value, &label, "a string or a list", empty_hint)
                    }
                }
            }
        }

        if let Some(f) = pick("cwd") {
            if let Some(p) = self.path(f.value, &lbl("cwd", &f)) {
                task.cwd = p;
            }
        }

        // env: defaults.env then the task's env, merged per variable.
        let default_env = defaults.iter().find(|e| e.key == "env");
        let own_env = own.iter().find(|e| e.key == "env");
        for e in [default_env, own_env].into_iter().flatten() {
            let at = if own_env.is_some_and(|o| std::ptr::eq(o, e)) {
                format!("`env` {at_task}")
            } else {
                "`env` in `defaults`".to_string()
            };
            let layer = self.env_layer(&e.value, &at);
            self.interpolate_into(&mut task.env, &layer, env_files, &at);
        }

        let mut ports = Vec::new();
        if let Some(f) = pick("ports") {
            let label = lbl("ports", &f);
            let items: Vec<Node> = match &f.value.value {
                Value::Seq(items) => items.clone(),
                Value::Scalar { .. } if f.value.kind() == Kind::Int => vec![f.value.clone()],
                _ => {
                    self.type_err(
                        f.value,
                        &label,
                        "a list of port numbers",
                        "write `ports: [3000]`",
                    );
                    Vec::new()
                }
            };
            for it in &items {
                if let Some(p) = self.port(it, &label) {
                    if let Some((_, first)) = ports.iter().find(|(q, _)| *q == p) {
                        let first: &Pos = first;
                        self.err(
                            it.pos,
                            format!("port {p} is listed twice {}", f.at),
                            format!("remove the duplicate (first on line {})", first.line),
                        );
                    } else {
                        ports.push((p, it.pos));
                    }
                }
            }
            task.ports = ports.iter().map(|(p, _)| *p).collect();
        }

        if let Some(f) = pick("health") {
            task.health = self.health(f.value, f.key_pos, &f.at);
        }
        if let Some(f) = pick("restart") {
            task.restart = self
                .restart(f.value, &lbl("restart", &f))
                .unwrap_or_default();
        }
        if let Some(f) = pick("max_restarts") {
            task.max_restarts = self
                .uint(f.value, &lbl("max_restarts", &f), 0, u64::from(u32::MAX))
                .map_or(5, |n| n as u32);
        }
        for (key, slot, positive) in [
            ("restart_window", &mut task.restart_window, true),
            ("backoff", &mut task.backoff, false),
            ("stop_timeout", &mut task.stop_timeout, false),
            ("checkpoint_timeout", &mut task.checkpoint_timeout, true),
        ] {
            if let Some(f) = pick(key) {
                if let Some(d) = self.duration(f.value, &lbl(key, &f), positive) {
                    *slot = d;
                }
            }
        }
        let mut deps = Vec::new();
        if let Some(f) = pick("depends_on") {
            deps = self.depends_on(f.value, &lbl("depends_on", &f));
        }
        if let Some(f) = pick("stop_signal") {
            if let Some(sig) = self.signal(f.value, &lbl("stop_signal", &f)) {
                task.stop_signal = sig;
            }
        }
        if let Some(f) = pick("log_max_kb") {
            task.log_max_kb = self
                .uint(f.value, &lbl("log_max_kb", &f), 1, u64::MAX >> 11)
                .unwrap_or(1024);
        }
        if let Some(f) = pick("log_keep") {
            task.log_keep = self
                .uint(f.value, &lbl("log_keep", &f), 0, 1000)
                .map_or(3, |n| n as u32);
        }
        if let Some(f) = pick("errors") {
            task.errors = self.regex_list(f.value, &lbl("errors", &f));
        }
        if let Some(f) = pick("warnings") {
            task.warnings = self.regex_list(f.value, &lbl("warnings", &f));
        }
        if let Some(f) = pick("watch") {
            task.watch = self
                .glob_list(f.value, &lbl("watch", &f))
                .unwrap_or_default();
        }
        if let Some(f) = pick("destructive") {
            task.destructive = self
                .boolean(f.value, &lbl("destructive", &f))
                .unwrap_or(false);
        }
        if let Some(f) = pick("checkpoint") {
            task.checkpoint = self.nonempty_string(f.value, &lbl("checkpoint", &f));
        }
        if let Some(f) = pick("autostart") {
            task.autostart = self.boolean(f.value, &lbl("autostart", &f)).unwrap_or(true);
        }
        if let Some(f) = pick("nice") {
            task.nice = self
                .int(f.value, &lbl("nice", &f), -20, 19)
                .map(|n| n as i32);
        }
        if let Some(f) = pick("max_memory") {
            let machine = (machine_memory(), "this machine's memory");
            task.limits.max_memory = self.size(f.value, &lbl("max_memory", &f), 1 << 20, machine);
        }
        if let Some(f) = pick("max_cpu") {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            let all = (cores.saturating_mul(100), "all of this machine's cores");
            task.limits.max_cpu = self.percent(f.value, &lbl("max_cpu", &f), all);
        }
        if let Some(f) = pick("cycle") {
            if let Some(c) = self.cycle(f.value, &lbl("cycle", &f)) {
                task.cycle = c;
            }
        }
        if let Some(f) = pick("tty") {
            task.tty = self.boolean(f.value, &lbl("tty", &f)).unwrap_or(false);
        }
        if let Some(f) = pick("on_limit") {
            task.limits.on_limit = self.on_limit(f.value, &lbl("on_limit", &f));
        }
        if let Some(f) = pick("image") {
            let label = lbl("image", &f);
            task.image = self.nonempty_string(f.value, &label);
            if task
                .image
                .as_ref()
                .is_some_and(|i| i.contains(char::is_whitespace))
            {
                self.err(
                    f.value.pos,
                    format!("{label} is not an image reference (it has a space)"),
                    "e.g. `node:20-alpine` or `ghcr.io/acme/api:1.4`",
                );
                task.image = None;
            }
        }

        let mut replicas = None;
        if let Some(f) = pick("replicas") {
            let n = self.uint(f.value, &lbl("replicas", &f), 1, MAX_REPLICAS);
            replicas = n.map(|n| (n as u32, f.value.pos));
        }
        Some(Draft {
            task,
            deps,
            ports,
            replicas,
        })
    }

    fn restart(&mut self, n: &Node, field: &str) -> Option<RestartPolicy> {
        let policies = fields::RESTART_POLICIES;
        match n.scalar_text() {
            Some("never" | "no") => Some(RestartPolicy::Never),
            Some("on-failure") => Some(RestartPolicy::OnFailure),
            Some("always") => Some(RestartPolicy::Always),
            Some(other) => {
                let hint = match did_you_mean(&other.replace('_', "-"), policies) {
                    Some(p) => format!("did you mean `{p}`?"),
                    None => "use `never`, `on-failure` or `always`".into(),
                };
                self.err(n.pos, format!("invalid {field}: `{other}`"), hint);
                None
            }
            None => {
                self.type_err(
                    n,
                    field,
                    "`never`, `on-failure` or `always`",
                    "use `never`, `on-failure` or `always`",
                );
                None
            }
        }
    }

    fn cycle(&mut self, n: &Node, field: &str) -> Option<CycleSpec> {
        const HINT: &str =
            "write `cycle: off`, or `cycle: {start: REGEX, ok: REGEX, fail: REGEX}` (start may be left out)";
        if n.as_bool() == Some(false) || n.scalar_text() == Some("off") {
            return Some(CycleSpec::Off);
        }
        if n.as_map().is_none() {
            self.type_err(n, field, "`off` or a map of `start`, `ok`, `fail`", HINT);
            return None;
        }
        let entries = self.entries(n, &["start", "ok", "fail"], &format!("in {field}"), false);
        let mut one = |k: &str| -> Option<String> {
            let e = entries.iter().find(|e| e.key == k)?;
            let re = self.regex_list(&e.value, &format!("`{k}` of {field}"))?;
            re.into_iter().next()
        };
        let (start, ok, fail) = (one("start"), one("ok"), one("fail"));
        match (ok, fail) {
            (Some(ok), Some(fail)) => Some(CycleSpec::Custom {
                start: start.unwrap_or_default(),
                ok,
                fail,
            }),
            _ => {
                self.err(
                    n.pos,
                    format!("{field} needs `ok` and `fail` regexes"),
                    HINT,
                );
                None
            }
        }
    }

    fn on_limit(&mut self, n: &Node, field: &str) -> Option<OnLimit> {
        const HINT: &str = "use `restart`, `stop` or `warn`";
        match n.scalar_text() {
            Some("restart") => Some(OnLimit::Restart),
            Some("stop") => Some(OnLimit::Stop),
            Some("warn") => Some(OnLimit::Warn),
            Some(other) => {
                let hint = match did_you_mean(other, fields::ON_LIMIT) {
                    Some(p) => format!("did you mean `{p}`?"),
                    None => HINT.into(),
                };
                self.err(n.pos, format!("invalid {field}: `{other}`"), hint);
                None
            }
            None => {
                self.type_err(n, field, "`restart`, `stop` or `warn`", HINT);
                None
            }
        }
    }

    fn signal(&mut self, n: &Node, field: &str) -> Option<i32> {
        let hint = "use a signal name like `SIGTERM`, `SIGINT`, `SIGQUIT` or `SIGHUP`";
        if let Some(num) = n.as_int() {
            return match i32::try_from(num)
                .ok()
                .and_then(|i| Signal::try_from(i).ok())
            {
                Some(s) => Some(s as i32),
                None => {
                    self.err(
                        n.pos,
                        format!("invalid {field}: no signal number {num}"),
                        hint,
                    );
                    None
                }
            };
        }
        let Some(text) = n.scalar_text() else {
            self.type_err(n, field, "a signal name", hint);
            return None;
        };
        match parse_signal(text) {
            Some(s) => Some(s as i32),
            None => {
                let names: Vec<&str> = Signal::iterator().map(Signal::as_str).collect();
                let upper = text.trim().to_ascii_uppercase();
                let guess = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                let hint = match did_you_mean(&guess, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => hint.to_string(),
                };
                self.err(
                    n.pos,
                    format!("invalid {field}: unknown signal `{text}`"),
                    hint,
                );
                None
            }
        }
    }
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`
pub fn valid_task_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `SIGINT`, `INT`, `sigint`, `SigInt` → SIGINT.
pub fn parse_signal(text: &str) -> Option<Signal> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

/// The machine's physical memory in bytes (the bound of `max_memory`); unbounded where
/// the system does not say.
fn machine_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        (pages as u64).saturating_mul(size as u64)
    } else {
        u64::MAX
    }
}
