//! `bts export systemd`: a `.service` per task and a `.target` that wants the tasks
//! `bts up` would start.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::manifest::{CommandSpec, Condition, Manifest, Probe, RestartPolicy, Task};
use crate::redact::Redactor;

/// One generated file.
#[derive(Debug)]
pub struct UnitFile {
    pub file_name: String,
    pub text: String,
    pub mode: u32,
}

/// The unit name prefix for a project: systemd unit names allow `[A-Za-z0-9:_.-]`
/// (systemd.unit(5)); anything else becomes `-`.
pub(super) fn unit_prefix(project: &str) -> String {
    let s: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ":_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "bts".into()
    } else {
        s
    }
}

fn unit_name(m: &Manifest, task: &str) -> String {
    format!("{}-{task}.service", unit_prefix(&m.project))
}

/// A duration as a systemd time span (systemd.time(7)): whole seconds, else ms.
fn span(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One argument of a systemd command line (systemd.service(5), "Command lines"): double
/// quotes with C escapes; `$` and `%` are doubled so that systemd's own `$VAR`
/// substitution and `%` specifiers leave the text to the program (`sh` expands `$PORT`).
fn exec_arg(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '$' => out.push_str("$$"),
            '%' => out.push_str("%%"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value for `Environment=`: one quoted `KEY=value` word; `%` doubled (specifiers are
/// expanded there), C escapes for quotes, backslashes and newlines.
fn env_assignment(key: &str, value: &str) -> String {
    let mut out = String::from("\"");
    for c in format!("{key}={value}").chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `ExecStart=`: a shell command through `/bin/sh -c`, an exec'd one with its program
/// made absolute (systemd needs an absolute path, or searches only its fixed PATH).
fn exec_start(t: &Task) -> String {
    match &t.command {
        CommandSpec::Shell(s) => format!("/bin/sh -c {}", exec_arg(s)),
        CommandSpec::Exec { program, args } => {
            let p = Path::new(program);
            let resolved: PathBuf = if p.is_absolute() {
                p.to_path_buf()
            } else if program.contains('/') {
                t.cwd.join(p)
            } else {
                which::which(program).unwrap_or_else(|_| p.to_path_buf())
            };
            let mut line = exec_arg(&resolved.to_string_lossy());
            for a in args {
                line.push(' ');
                line.push_str(&exec_arg(a));
            }
            line
        }
    }
}

/// The units for `m`: a `.service` per task, a `.target`, and, when a secret does not
/// come from an env file, a `<project>.secrets.env` listing those keys to fill in.
///
/// Secrets (keys the redactor masks, or values holding a token or URL password) are never
/// written into a unit: a key from an `env_file` becomes `EnvironmentFile=` that file, and
/// any other secret is left out, listed in the secrets file that the units reference.
pub fn systemd(m: &Manifest, user: bool) -> Result<Vec<UnitFile>, String> {
    let redactor = Redactor::new(&[], &m.settings.secrets)
        .map_err(|e| format!("invalid `settings.secrets`: {e}"))?;
    let file_envs: Vec<(PathBuf, Vec<(String, String)>)> = m
        .env_files
        .iter()
        .map(|p| {
            let vars = dotenvy::from_path_iter(p)
                .map(|it| it.filter_map(Result::ok).collect())
                .unwrap_or_default();
            (p.clone(), vars)
        })
        .collect();
    let prefix = unit_prefix(&m.project);
    let target = format!("{prefix}.target");
    let secrets_file = format!("{prefix}.secrets.env");
    let mut unlisted_secrets = BTreeSet::new();
    // A task others wait for with `completed` runs to completion: systemd orders after a
    // oneshot's exit, not its start (systemd.service(5), Type=oneshot).
    let awaited: BTreeSet<&str> = m
        .tasks
        .iter()
        .flat_map(|t| &t.depends_on)
        .filter(|d| d.condition == Condition::Completed)
        .map(|d| d.task.as_str())
        .collect();
    let mut units = Vec::new();
    let mut in_target = Vec::new();

    let stack_env = crate::task_env::StackEnv::new(&m.project, &m.tasks, None);
    for t in &m.tasks {
        let unit = unit_name(m, &t.name);
        let oneshot = t.destructive || awaited.contains(t.name.as_str());
        let part_of_target = t.autostart && !t.destructive;
        let mut u = String::new();
        let _ = writeln!(
            u,
            "# Generated by `bts export systemd` from {}; task `{}`.",
            m.path.display(),
            t.name
        );
        if t.destructive {
            let _ = writeln!(
                u,
                "# Destructive: not part of {target}; run it by hand: systemctl start {unit}"
            );
            if let Some(c) = &t.checkpoint {
                let _ = writeln!(u, "# bts runs this checkpoint first: {c}");
            }
        }
        if let Some(h) = &t.health {
            let probe = match &h.probe {
                Probe::Http(u) => format!("http {u}"),
                Probe::Tcp { host, port } => {
                    format!("tcp {}:{port}", host.as_deref().unwrap_or("127.0.0.1"))
                }
                Probe::Cmd(c) => format!("cmd {c}"),
                Probe::Log(r) => format!("log /{r}/"),
            };
            let _ = writeln!(
                u,
                "# Health ({probe}) is not checked by systemd: dependents start when this starts."
            );
        }
        u.push_str("\n[Unit]\n");
        let _ = writeln!(u, "Description={} {} (bts)", m.project, t.name);
        if part_of_target {
            let _ = writeln!(u, "PartOf={target}");
        }
        for d in &t.depends_on {
            let dep_unit = unit_name(m, &d.task);
            let _ = writeln!(u, "After={dep_unit}");
            let dep_destructive = m.task(&d.task).is_some_and(|x| x.destructive);
            if dep_destructive {
                // Requires= would start it implicitly, without the approval bts asks for.
                let _ = writeln!(
                    u,
                    "# `{}` is destructive: start it by hand before this one",
                    d.task
                );
            } else if d.condition == Condition::Started {
                let _ = writeln!(u, "Wants={dep_unit}");
            } else {
                let _ = writeln!(u, "Requires={dep_unit}");
            }
        }
        if t.restart != RestartPolicy::Never && !oneshot {
            // bts: more than max_restarts within restart_window is a crash loop (FAILED).
            let _ = writeln!(u, "StartLimitIntervalSec={}", span(t.restart_window));
            let _ = writeln!(u, "StartLimitBurst={}", t.max_restarts.saturating_add(1));
        }

        u.push_str("\n[Service]\n");
        if oneshot {
            u.push_str("Type=oneshot\n");
            if !t.destructive {
                // Stays "active" after exiting, so dependents' Requires= hold.
                u.push_str("RemainAfterExit=yes\n");
            }
            // A oneshot's start timeout covers its whole run (default 90s).
            u.push_str("TimeoutStartSec=infinity\n");
        } else {
            u.push_str("Type=exec\n");
        }
        let _ = writeln!(u, "WorkingDirectory={}", t.cwd.display());
        let mut env_files_used: Vec<&Path> = Vec::new();
        let mut missing = false;
        for (k, v) in &t.env {
            let secret = redactor.is_masked(k) || redactor.redact_str(v) != v.as_str();
            if !secret {
                let _ = writeln!(u, "Environment={}", env_assignment(k, v));
                continue;
            }
            let from_file = file_envs
                .iter()
                .rev()
                .find(|(_, vars)| vars.iter().any(|(fk, fv)| fk == k && fv == v));
            match from_file {
                Some((p, _)) => {
                    if !env_files_used.contains(&p.as_path()) {
                        env_files_used.push(p);
                    }
                }
                None => {
                    missing = true;
                    unlisted_secrets.insert(k.clone());
                }
            }
        }
        for (k, v) in stack_env.added(t, false) {
            if k == "BTS_PROJECT" {
                // The only free-form value among them.
                let _ = writeln!(u, "Environment={}", env_assignment(&k, &v));
            } else {
                let _ = writeln!(u, "Environment={k}={v}");
            }
        }
        for p in env_files_used {
            let _ = writeln!(u, "EnvironmentFile={}", p.display());
        }
        if missing {
            let _ = writeln!(
                u,
                "# Secrets not from an env file: fill them in {secrets_file}"
            );
            let _ = writeln!(u, "EnvironmentFile=-%E/{secrets_file}");
        }
        let _ = writeln!(u, "ExecStart={}", exec_start(t));
        let restart = match (t.restart, oneshot) {
            (RestartPolicy::Never, _) => "no",
            // systemd refuses Restart=always for Type=oneshot.
            (_, true) => "on-failure",
            (RestartPolicy::OnFailure, false) => "on-failure",
            (RestartPolicy::Always, false) => "always",
        };
        let _ = writeln!(u, "Restart={restart}");
        if t.restart != RestartPolicy::Never {
            let _ = writeln!(u, "RestartSec={}", span(t.backoff));
        }
        u.push_str("KillMode=control-group\n");
        let _ = writeln!(
            u,
            "KillSignal={}",
            crate::process::unix::signal_name_or_number(t.stop_signal)
        );
        let _ = writeln!(u, "TimeoutStopSec={}", span(t.stop_timeout));
        if let Some(n) = t.nice {
            let _ = writeln!(u, "Nice={n}");
        }
        // The kernel holds memory at MemoryMax= (an OOM kill, then Restart= decides);
        // `on_limit: warn` only asks for reclaim above MemoryHigh=. CPU is throttled.
        if let Some(m) = t.limits.max_memory {
            let key = match t.limits.on_memory() {
                crate::manifest::OnLimit::Warn => "MemoryHigh",
                _ => "MemoryMax",
            };
            let _ = writeln!(u, "{key}={m}");
        }
        if let Some(c) = t.limits.max_cpu {
            let _ = writeln!(u, "CPUQuota={c}%");
        }
        if let Some(h) = &t.health {
            if !oneshot {
                let _ = writeln!(u, "TimeoutStartSec={}", span(h.start_period));
            }
        }
        if part_of_target {
            let _ = writeln!(u, "\n[Install]\nWantedBy={target}");
            in_target.push(unit.clone());
        }
        units.push(UnitFile {
            file_name: unit,
            text: u,
            mode: 0o644,
        });
    }

    let mut tg = format!(
        "# Generated by `bts export systemd` from {}.\n# Starts every task `bts up` starts; destructive and `autostart: false` tasks are\n# started by hand (`systemctl start {prefix}-TASK.service`).\n\n[Unit]\nDescription={} (bts)\n",
        m.path.display(),
        m.project
    );
    for u in &in_target {
        let _ = writeln!(tg, "Wants={u}");
    }
    let _ = writeln!(
        tg,
        "\n[Install]\nWantedBy={}",
        if user {
            "default.target"
        } else {
            "multi-user.target"
        }
    );
    units.push(UnitFile {
        file_name: target,
        text: tg,
        mode: 0o644,
    });
    if !unlisted_secrets.is_empty() {
        let mut s = format!(
            "# Secrets the {prefix} units need that do not come from an env file. Fill in the\n# values, then install this file as the units expect: %E/{secrets_file}\n# (/etc/{secrets_file} for system units, ~/.config/{secrets_file} for user units),\n# readable only by the service's user.\n"
        );
        for k in &unlisted_secrets {
            let _ = writeln!(s, "{k}=");
        }
        units.push(UnitFile {
            file_name: secrets_file,
            text: s,
            mode: 0o600,
        });
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::super::procfile::sh_quote;
    use super::*;

    #[test]
    fn exec_args_escape_what_systemd_interprets() {
        assert_eq!(exec_arg("echo $PORT"), "\"echo $$PORT\"");
        assert_eq!(exec_arg("a\"b\\c%d\ne"), "\"a\\\"b\\\\c%%d\\ne\"");
        assert_eq!(sh_quote("services/api"), "services/api");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(span(Duration::from_millis(1500)), "1500ms");
        assert_eq!(span(Duration::from_secs(10)), "10s");
        assert_eq!(unit_prefix("my shop"), "my-shop");
    }
}
