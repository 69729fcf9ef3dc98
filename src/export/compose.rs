//! `bts export compose`: the manifest as a Docker Compose file (README: From a laptop to
//! a cluster). Health checks become `healthcheck` (http and tcp through a small shell
//! probe), dependencies keep their three conditions, destructive and `autostart: false`
//! tasks go to the `manual` profile, secret variables to an env file of their own.

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};

use super::cluster::{self, insert, map, n, s, Var};
use crate::manifest::{CommandSpec, Condition, Health, Manifest, Probe, RestartPolicy};

/// A duration as compose writes one: `1m30s`, `500ms`.
fn span(d: std::time::Duration) -> String {
    if d.subsec_millis() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// The compose file and, when a task has secret variables, the env file they go in
/// (`secrets_file`: its name, beside the compose file; the keys with empty values).
pub struct Export {
    pub text: String,
    pub secrets: Option<String>,
}

pub fn compose(m: &Manifest, secrets_file: &str) -> Result<Export, crate::errors::AppError> {
    cluster::require_images(m, "compose")?;
    let names = cluster::dns_names(m)?;
    // What bts adds to every task's environment, built once for the stack.
    let stack = crate::task_env::StackEnv::new(&m.project, &m.tasks, None);
    let redactor = crate::redact::for_manifest(m)
        .map_err(|e| crate::errors::AppError::new(format!("secrets settings: {e}")))?;
    let mut services = Mapping::new();
    let mut notes: Vec<String> = vec![];
    let mut secret_keys: BTreeSet<String> = BTreeSet::new();
    for t in &m.tasks {
        let name = &names[&t.name];
        let mut svc = map([
            ("image", s(t.image.clone().unwrap_or_default())),
            (
                "command",
                // compose interpolates `$VAR` everywhere: `$$` keeps a `$` for the shell.
                Value::Sequence(match &cluster::command_to_services(m, t, &names) {
                    CommandSpec::Shell(c) => vec![s("sh"), s("-c"), s(cluster::literal(c))],
                    CommandSpec::Exec { program, args } => {
                        std::iter::once(s(cluster::literal(program)))
                            .chain(args.iter().map(|a| s(cluster::literal(a))))
                            .collect()
                    }
                }),
            ),
        ]);
        if let Some(dir) = cluster::working_dir(m, t) {
            insert(&mut svc, "working_dir", s(dir));
        }
        let mut env = Mapping::new();
        let mut has_secret = false;
        for v in cluster::env(m, t, &names, &redactor, &stack) {
            match v {
                Var::Plain(k, v) => {
                    env.insert(s(k), s(cluster::literal(&v)));
                }
                Var::Secret(k) => {
                    has_secret = true;
                    secret_keys.insert(k);
                }
            }
        }
        if has_secret {
            insert(&mut svc, "env_file", Value::Sequence(vec![s(secrets_file)]));
        }
        insert(&mut svc, "environment", Value::Mapping(env));
        if !t.ports.is_empty() {
            let ports = t.ports.iter().map(|p| s(format!("{p}:{p}"))).collect();
            insert(&mut svc, "ports", Value::Sequence(ports));
        }
        if let Some(h) = &t.health {
            match healthcheck(h) {
                Some(hc) => insert(&mut svc, "healthcheck", hc),
                None => notes.push(format!(
                    "{}: its `log:` health check cannot be expressed (compose runs commands, it does not read output)",
                    t.name
                )),
            }
        }
        let mut deps = Mapping::new();
        for d in &t.depends_on {
            let probed = m
                .task(&d.task)
                .and_then(|x| x.health.as_ref())
                .is_some_and(|h| !matches!(h.probe, Probe::Log(_)));
            let condition = match d.condition {
                Condition::Started => "service_started",
                Condition::Healthy if probed => "service_healthy",
                Condition::Healthy => {
                    notes.push(format!(
                        "{}: waits for `{}` to be healthy, which has no health check compose can run: started instead",
                        t.name, d.task
                    ));
                    "service_started"
                }
                Condition::Completed => "service_completed_successfully",
            };
            deps.insert(
                s(names[&d.task].clone()),
                map([("condition", s(condition))]),
            );
        }
        if !deps.is_empty() {
            insert(&mut svc, "depends_on", Value::Mapping(deps));
        }
        // bts never restarts a destructive task by itself (docs/behaviour.md).
        let restart = match t.restart {
            _ if t.destructive => "no".to_string(),
            RestartPolicy::Never => "no".to_string(),
            RestartPolicy::OnFailure => format!("on-failure:{}", t.max_restarts),
            RestartPolicy::Always => "always".to_string(),
        };
        insert(&mut svc, "restart", s(restart));
        if t.stop_signal != libc::SIGTERM {
            insert(
                &mut svc,
                "stop_signal",
                s(crate::process::unix::signal_name_or_number(t.stop_signal)),
            );
        }
        insert(&mut svc, "stop_grace_period", s(span(t.stop_timeout)));
        // Enforced by the kernel: an OOM kill ends the container (its restart policy
        // decides), CPU is throttled.
        if let Some(m) = t.limits.max_memory {
            insert(&mut svc, "mem_limit", n(m));
        }
        if let Some(c) = t.limits.max_cpu {
            insert(&mut svc, "cpus", s(format!("{}", f64::from(c) / 100.0)));
        }
        if t.destructive || !t.autostart {
            insert(&mut svc, "profiles", Value::Sequence(vec![s("manual")]));
            let why = if t.destructive {
                "destructive"
            } else {
                "autostart: false"
            };
            let check = match &t.checkpoint {
                Some(c) if t.destructive => {
                    format!(" after its checkpoint (`{c}`, run it first by hand)")
                }
                _ => String::new(),
            };
            notes.push(format!(
                "{}: {why}: in the `manual` profile; run it with `docker compose run --rm {name}`{check}",
                t.name
            ));
        }
        if !t.watch.is_empty() {
            notes.push(format!(
                "{}: `watch` is for local runs; not exported",
                t.name
            ));
        }
        services.insert(s(name.clone()), svc);
    }
    // No top-level `name`: docker-compose 1.x refuses it; the project is `-p`'s.
    let doc = map([("services", Value::Mapping(services))]);
    let mut text = format!(
        "# Generated by `bts export compose` from {}.\n# Run with `docker compose -p {} up`.\n",
        m.path
            .file_name()
            .map_or_else(|| "bts.yaml".into(), |n| n.to_string_lossy()),
        cluster::dns_name(&m.project)
    );
    if !secret_keys.is_empty() {
        text.push_str(&format!(
            "# Secret variables are read from {secrets_file} (fill in its values; never commit them).\n"
        ));
    }
    if notes.is_empty() {
        text.push_str("# Everything in the manifest was expressed.\n");
    } else {
        text.push_str("# Not expressed as in bts:\n");
        for note in &notes {
            text.push_str(&format!("#   {note}\n"));
        }
    }
    text.push_str(&cluster::to_yaml(&doc));
    let secrets = (!secret_keys.is_empty()).then(|| {
        let mut f = "# Secret variables of the compose services: fill in the values.\n".to_string();
        for k in &secret_keys {
            f.push_str(&format!("{k}=\n"));
        }
        f
    });
    Ok(Export { text, secrets })
}

/// A compose healthcheck: `cmd` as is; http and tcp through `wget`/`curl` or `nc` in
/// the image (docs: the image must have one of them); `None` for `log:`.
fn healthcheck(h: &Health) -> Option<Value> {
    let test = match &h.probe {
        Probe::Http(url) => {
            let (path, port, https) = cluster::url_parts(url);
            let local = format!(
                "{}://127.0.0.1:{port}{path}",
                if https { "https" } else { "http" }
            );
            format!("wget -q -O /dev/null '{local}' || curl -fsS -o /dev/null '{local}'")
        }
        Probe::Tcp { port, .. } => format!("nc -z 127.0.0.1 {port}"),
        Probe::Cmd(c) => c.clone(),
        Probe::Log(_) => return None,
    };
    let mut hc = map([
        (
            "test",
            Value::Sequence(vec![s("CMD-SHELL"), s(cluster::literal(&test))]),
        ),
        ("interval", s(span(h.interval))),
        ("timeout", s(span(h.timeout))),
        ("retries", Value::Number(h.retries.max(1).into())),
    ]);
    if !h.start_period.is_zero() {
        insert(&mut hc, "start_period", s(span(h.start_period)));
    }
    Some(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_as_compose_writes_them() {
        use std::time::Duration;
        assert_eq!(span(Duration::from_secs(90)), "1m30s");
        assert_eq!(span(Duration::from_secs(60)), "1m");
        assert_eq!(span(Duration::from_secs(5)), "5s");
        assert_eq!(span(Duration::from_millis(1500)), "1500ms");
    }
}
