//! What the container exports (`kubernetes`, `compose`) share: every task needs an
//! `image`; names become DNS labels; secret-looking variables (the redaction rules) are
//! kept out of the output; a value that points at another task's port on this machine
//! (`http://127.0.0.1:4000`) is pointed at that task's service instead (`http://api:4000`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::errors::AppError;
use crate::manifest::{Manifest, Task};
use crate::redact::Redactor;
use crate::task_env::{env_suffix, StackEnv};

/// Where the repository is in the image: a task's `cwd` below the manifest's directory
/// becomes a working directory below this one (README: From a laptop to a cluster).
pub const APP_DIR: &str = "/app";

/// Every task has an image, or an error naming those that do not.
pub fn require_images(m: &Manifest, format: &str) -> Result<(), AppError> {
    let missing: Vec<&str> = m
        .tasks
        .iter()
        .filter(|t| t.image.is_none())
        .map(|t| t.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::new(format!(
        "`bts export {format}` needs an image for every task; {} {} none: {}",
        missing.len(),
        if missing.len() == 1 { "has" } else { "have" },
        missing.join(", ")
    ))
    .with_hint(
        "add `image: <reference>` to each of them (or `defaults: {image: …}` for all); \
         local runs ignore it",
    ))
}

/// A task's name as a DNS label (RFC 1123: lower-case letters, digits and `-`, at most
/// 63, starting and ending with a letter or digit): what Kubernetes objects and compose
/// services are called, and the host name other tasks reach it by.
pub fn dns_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    let s = if s.len() > 63 { &s[..63] } else { s };
    let s = s.trim_end_matches('-');
    if s.is_empty() {
        "task".into()
    } else {
        s.to_string()
    }
}

/// The DNS name of every task; two tasks that would get the same one are an error.
pub fn dns_names(m: &Manifest) -> Result<BTreeMap<String, String>, AppError> {
    let mut out = BTreeMap::new();
    let mut taken: BTreeMap<String, &str> = BTreeMap::new();
    for t in &m.tasks {
        let n = dns_name(&t.name);
        if let Some(other) = taken.insert(n.clone(), &t.name) {
            return Err(AppError::new(format!(
                "tasks `{other}` and `{}` would both be named `{n}` in a cluster",
                t.name
            ))
            .with_hint("rename one of them"));
        }
        out.insert(t.name.clone(), n);
    }
    Ok(out)
}

/// A variable that redaction would hide: a masked key, or a value with a secret in it.
pub fn is_secret(redactor: &Redactor, key: &str, value: &str) -> bool {
    redactor.is_masked(key) || redactor.redact_str(value) != value
}

/// One variable of a task's environment in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Plain(String, String),
    /// Its value is left out: it comes from the Secret (Kubernetes) or the secrets env
    /// file (compose).
    Secret(String),
}

/// A task's environment in a cluster, in a stable order: its own variables (values that
/// point at another task's port rewritten to that task's service), then what bts adds —
/// `PORT`, `BTS_TASK`, `BTS_PROJECT`, `BTS_PORT_<TASK>` — and `BTS_HOST_<TASK>`, the
/// service name of every task with a port.
pub fn env(
    m: &Manifest,
    t: &Task,
    names: &BTreeMap<String, String>,
    redactor: &Redactor,
    stack: &StackEnv,
) -> Vec<Var> {
    let mut out = vec![];
    for (k, v) in &t.env {
        if is_secret(redactor, k, v) {
            out.push(Var::Secret(k.clone()));
        } else {
            out.push(Var::Plain(k.clone(), to_services(m, t, names, v)));
        }
    }
    for (k, v) in stack.added(t, false) {
        out.push(Var::Plain(k, v));
    }
    for other in m.tasks.iter().filter(|o| !o.ports.is_empty()) {
        out.push(Var::Plain(
            format!("BTS_HOST_{}", env_suffix(&other.name)),
            names[&other.name].clone(),
        ));
    }
    out
}

/// `value` with every `localhost:P`, `127.0.0.1:P`, `0.0.0.0:P` and `[::1]:P`, where `P`
/// is a port of another task (written as the number, `$BTS_PORT_<TASK>` or
/// `${BTS_PORT_<TASK>}`), pointed at that task's service (`api:P`).
pub fn to_services(
    m: &Manifest,
    t: &Task,
    names: &BTreeMap<String, String>,
    value: &str,
) -> String {
    let mut out = value.to_string();
    for other in m.tasks.iter().filter(|o| o.name != t.name) {
        let var = format!("BTS_PORT_{}", env_suffix(&other.name));
        let mut spellings: Vec<String> = other.ports.iter().map(u16::to_string).collect();
        if !other.ports.is_empty() {
            spellings.push(format!("${{{var}}}"));
            spellings.push(format!("${var}"));
        }
        for p in &spellings {
            for host in ["localhost", "127.0.0.1", "0.0.0.0", "[::1]"] {
                let from = format!("{host}:{p}");
                let to = format!("{}:{p}", names[&other.name]);
                out = replace_port_ref(&out, &from, &to);
            }
        }
    }
    out
}

/// A task's command with [`to_services`] applied to its text.
pub fn command_to_services(
    m: &Manifest,
    t: &Task,
    names: &BTreeMap<String, String>,
) -> crate::manifest::CommandSpec {
    use crate::manifest::CommandSpec;
    match &t.command {
        CommandSpec::Shell(s) => CommandSpec::Shell(to_services(m, t, names, s)),
        CommandSpec::Exec { program, args } => CommandSpec::Exec {
            program: program.clone(),
            args: args.iter().map(|a| to_services(m, t, names, a)).collect(),
        },
    }
}

/// Replace `from` where it is not followed by another digit or name character (`:4000`
/// is not `:40001`, `$BTS_PORT_API` is not `$BTS_PORT_API_2`).
fn replace_port_ref(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let after = &rest[i + from.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The working directory in the image: `cwd` below the manifest's directory, under
/// [`APP_DIR`]; `None` for the manifest's directory itself (the image's own default).
pub fn working_dir(m: &Manifest, t: &Task) -> Option<String> {
    if t.cwd == m.dir {
        return None;
    }
    let rel = t.cwd.strip_prefix(&m.dir).unwrap_or(&t.cwd);
    Some(format!("{APP_DIR}/{}", rel.display()).replace("//", "/"))
}

/// `s` for a field the cluster expands variables in: Kubernetes reads `$(VAR)` in a
/// container's command and env values and docker compose `$VAR` anywhere; both read `$$`
/// as a literal `$`, so every `$` doubled leaves the text to the program's shell.
pub fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

/// Whole seconds, at least `min` (a cluster counts probes and grace periods in seconds).
pub fn secs(d: Duration, min: u64) -> u64 {
    d.as_secs_f64().ceil().max(min as f64) as u64
}

/// What a task is in a cluster: a long-running service or a run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Service,
    /// `restart: never`, a task another depends on with `completed`, or a destructive
    /// task (run once, after approval).
    OneShot,
}

pub fn workload(m: &Manifest, t: &Task) -> Workload {
    let awaited = m.tasks.iter().any(|o| {
        o.depends_on
            .iter()
            .any(|d| d.task == t.name && d.condition == crate::manifest::Condition::Completed)
    });
    if t.destructive || awaited || t.restart == crate::manifest::RestartPolicy::Never {
        Workload::OneShot
    } else {
        Workload::Service
    }
}

/// A URL's path and port (`http://127.0.0.1:4000/healthz` → `/healthz`, 4000), whether
/// it is https.
pub fn url_parts(url: &str) -> (String, u16, bool) {
    let https = url.starts_with("https://");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(if https { 443 } else { 80 });
    (path, port, https)
}

/// A memory amount as a cluster quantity: `512Mi`, `1536Mi`, or bytes when not whole.
pub fn memory_quantity(bytes: u64) -> String {
    const MI: u64 = 1 << 20;
    if bytes % MI == 0 {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

/// A share of one core as a cluster quantity: 150 % → `1500m`.
pub fn cpu_quantity(percent: u32) -> String {
    format!("{}m", u64::from(percent) * 10)
}

/// The `resources.limits` of a task with limits (Kubernetes): the kernel enforces them
/// there, so every `on_limit` becomes the cluster's own action (an OOM kill restarts by
/// the pod's policy; CPU is throttled).
pub fn resource_limits(l: &crate::manifest::Limits) -> Option<serde_yaml::Value> {
    if l.is_empty() {
        return None;
    }
    let mut limits = map([]);
    if let Some(m) = l.max_memory {
        insert(&mut limits, "memory", s(memory_quantity(m)));
    }
    if let Some(c) = l.max_cpu {
        insert(&mut limits, "cpu", s(cpu_quantity(c)));
    }
    Some(map([("limits", limits)]))
}

// Building the YAML documents: a string, a number, a map in the order given, a list,
// and a key added to a map.

pub fn s(x: impl Into<String>) -> serde_yaml::Value {
    serde_yaml::Value::String(x.into())
}

pub fn n(x: u64) -> serde_yaml::Value {
    serde_yaml::Value::Number(x.into())
}

pub fn map<const N: usize>(pairs: [(&str, serde_yaml::Value); N]) -> serde_yaml::Value {
    let mut m = serde_yaml::Mapping::new();
    for (k, v) in pairs {
        m.insert(s(k), v);
    }
    serde_yaml::Value::Mapping(m)
}

pub fn list(items: impl IntoIterator<Item = serde_yaml::Value>) -> serde_yaml::Value {
    serde_yaml::Value::Sequence(items.into_iter().collect())
}

pub fn insert(v: &mut serde_yaml::Value, key: &str, value: serde_yaml::Value) {
    if let serde_yaml::Value::Mapping(m) = v {
        m.insert(s(key), value);
    }
}

/// YAML text for `v`, readable by YAML 1.1 parsers too (kubectl's, docker-compose's):
/// strings those would read as booleans or null (`no`, `on`, `y`, `~`) are quoted, and
/// multi-line strings are written double-quoted on one line.
pub fn to_yaml(v: &serde_yaml::Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn block(v: &serde_yaml::Value, ind: usize, out: &mut String) {
    use serde_yaml::Value;
    let pad = " ".repeat(ind);
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                out.push_str(&pad);
                out.push_str(&scalar(k));
                out.push(':');
                child(val, ind, out);
            }
        }
        Value::Sequence(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Mapping(m) if !m.is_empty() => {
                        // The first key goes on the dash's line.
                        let mut sub = String::new();
                        block(item, ind + 2, &mut sub);
                        out.push(' ');
                        out.push_str(&sub[ind + 2..]);
                    }
                    Value::Sequence(s) if !s.is_empty() => {
                        out.push('\n');
                        block(item, ind + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn child(val: &serde_yaml::Value, ind: usize, out: &mut String) {
    use serde_yaml::Value;
    match val {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            block(val, ind + 2, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            block(val, ind, out);
        }
        Value::Mapping(_) => out.push_str(" {}\n"),
        Value::Sequence(_) => out.push_str(" []\n"),
        _ => {
            out.push(' ');
            out.push_str(&scalar(val));
            out.push('\n');
        }
    }
}

/// Words YAML 1.1 reads as booleans or null.
const YAML11_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
];

fn scalar(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match v {
        Value::String(s) if s.contains(['\n', '\r']) => {
            serde_json::to_string(s).unwrap_or_default()
        }
        Value::String(s) if YAML11_WORDS.contains(&s.as_str()) => format!("'{s}'"),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => serde_yaml::to_string(v)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_that_yaml_1_1_reads_the_same() {
        let doc: serde_yaml::Value = serde_yaml::from_str(
            "a: {b: [x, {c: 1, d: [no, 'on']}], e: {}, f: []}\ng: \"two\\nlines\"\nh: [[1, 2]]\n",
        )
        .unwrap();
        let text = to_yaml(&doc);
        assert_eq!(
            text,
            "a:\n  b:\n  - x\n  - c: 1\n    d:\n    - 'no'\n    - 'on'\n  e: {}\n  f: []\ng: \"two\\nlines\"\nh:\n-\n  - 1\n  - 2\n"
        );
        let back: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_name("web_API.v2"), "web-api-v2");
        assert_eq!(dns_name("-x-"), "x");
        assert_eq!(dns_name("__"), "task");
        assert_eq!(dns_name(&"a".repeat(70)).len(), 63);
    }

    #[test]
    fn port_references_point_at_services() {
        assert_eq!(
            replace_port_ref(
                "http://localhost:4000/x and :40001",
                "localhost:4000",
                "api:4000"
            ),
            "http://api:4000/x and :40001"
        );
        assert_eq!(
            replace_port_ref("localhost:40001", "localhost:4000", "api:4000"),
            "localhost:40001"
        );
        assert_eq!(
            url_parts("http://127.0.0.1:4000/healthz?a=1"),
            ("/healthz?a=1".into(), 4000, false)
        );
        assert_eq!(
            replace_port_ref(
                "localhost:$BTS_PORT_API_2",
                "localhost:$BTS_PORT_API",
                "api:x"
            ),
            "localhost:$BTS_PORT_API_2"
        );
        assert_eq!(url_parts("https://localhost"), ("/".into(), 443, true));
        assert_eq!(secs(Duration::from_millis(1500), 1), 2);
        assert_eq!(secs(Duration::ZERO, 1), 1);
    }
}
