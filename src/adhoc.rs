//! Ad-hoc tasks: a task given on the command line (`bts run NAME … -- CMD ARGS`) instead
//! of in bts.yaml. Its flags become the manifest form of one task, which the manifest's
//! own validator checks (errors then name the flag), and which is kept as
//! `<state_dir>/adhoc/<name>.yaml` so that status, logs, restart, down, the watchdog and a
//! restarted supervisor know the task; a reload of bts.yaml leaves it alone.
//! docs/behaviour.md#ad-hoc-tasks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::cli::RunArgs;
use crate::errors::{exit, AppError};
use crate::manifest::Task;
use crate::state_dir::StateDir;

/// One ad-hoc task in manifest form, and which flag gave each of its keys.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    /// `tasks: {NAME: {...}}` as YAML.
    pub yaml: String,
}

/// The manifest form of `args`, with relative paths resolved against `cwd`.
pub fn spec(args: &RunArgs, cwd: &Path) -> Result<Spec, AppError> {
    let mut t = Mapping::new();
    let mut put = |k: &str, v: Value| {
        t.insert(Value::from(k), v);
    };
    let Some((program, rest)) = args.command.split_first() else {
        return Err(AppError::new("`bts run` needs a command after `--`")
            .with_hint("bts run web -- npm run dev")
            .with_code(exit::USAGE));
    };
    put("cmd", Value::from(program.clone()));
    if !rest.is_empty() {
        put(
            "args",
            Value::Sequence(rest.iter().map(|a| Value::from(a.clone())).collect()),
        );
    }
    let dir = match &args.cwd {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd.to_path_buf(),
    };
    put("cwd", Value::from(dir.display().to_string()));
    if !args.env.is_empty() {
        let mut env = Mapping::new();
        for kv in &args.env {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(AppError::new(format!("--env `{kv}`: expected KEY=VALUE"))
                    .with_hint("--env NODE_ENV=development")
                    .with_code(exit::USAGE));
            };
            env.insert(Value::from(k), Value::from(v));
        }
        put("env", Value::Mapping(env));
    }
    if let Some(f) = &args.env_file {
        put("env_file", Value::from(cwd.join(f).display().to_string()));
    }
    if !args.port.is_empty() {
        put(
            "ports",
            Value::Sequence(args.port.iter().map(|p| Value::from(*p)).collect()),
        );
    }
    let probes = [
        ("http", &args.health_http),
        ("tcp", &args.health_tcp),
        ("cmd", &args.health_cmd),
        ("log", &args.health_log),
    ];
    let given: Vec<_> = probes.iter().filter(|(_, v)| v.is_some()).collect();
    if given.len() > 1 {
        return Err(AppError::new(
            "give one health probe: --health-http, --health-tcp, --health-cmd or --health-log",
        )
        .with_code(exit::USAGE));
    }
    if let Some((kind, Some(v))) = given.first() {
        let mut h = Mapping::new();
        let value = match v.parse::<u16>() {
            Ok(port) if *kind == "tcp" => Value::from(port),
            _ => Value::from(v.clone()),
        };
        h.insert(Value::from(*kind), value);
        put("health", Value::Mapping(h));
    }
    if let Some(r) = &args.restart {
        put("restart", Value::from(r.clone()));
    }
    if let Some(n) = args.log_max_kb {
        put("log_max_kb", Value::from(n));
    }
    if !args.depends_on.is_empty() {
        put(
            "depends_on",
            Value::Sequence(
                args.depends_on
                    .iter()
                    .map(|d| Value::from(d.clone()))
                    .collect(),
            ),
        );
    }
    if args.destructive {
        put("destructive", Value::from(true));
    }
    if let Some(c) = &args.checkpoint {
        put("checkpoint", Value::from(c.clone()));
    }
    let mut tasks = Mapping::new();
    tasks.insert(Value::from(args.name.clone()), Value::Mapping(t));
    let mut doc = Mapping::new();
    doc.insert(Value::from("tasks"), Value::Mapping(tasks));
    let yaml = serde_yaml::to_string(&Value::Mapping(doc))
        .map_err(|e| AppError::new(format!("cannot write the task: {e}")))?;
    Ok(Spec {
        name: args.name.clone(),
        yaml,
    })
}

/// The flag a key of the manifest form came from.
fn flag_of(key: &str) -> &'static str {
    match key {
        "cmd" | "args" => "the command (after --)",
        "cwd" => "--cwd",
        "env" => "--env",
        "env_file" => "--env-file",
        "ports" => "--port",
        "health" => "--health-*",
        "restart" => "--restart",
        "log_max_kb" => "--log-max-kb",
        "depends_on" => "--depends-on",
        "destructive" => "--destructive",
        "checkpoint" => "--checkpoint",
        _ => "the task name",
    }
}

/// Validate `yaml` (one task in manifest form) by the manifest's rules; dependencies are
/// checked by the caller, against the tasks it knows. Errors name the flag.
pub fn validate(yaml: &str, dir: &Path) -> Result<Task, AppError> {
    let without_deps = strip_depends_on(yaml);
    let calling: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let pseudo = dir.join("bts-run.yaml");
    match crate::manifest::validate::validate(&without_deps.0, &pseudo, &calling) {
        Ok(m) => {
            let mut task = m
                .tasks
                .into_iter()
                .next()
                .ok_or_else(|| AppError::new("no task given"))?;
            task.depends_on = without_deps.1;
            Ok(task)
        }
        Err(diags) => {
            let lines: Vec<&str> = without_deps.0.lines().collect();
            let first = &diags[0];
            let key = first
                .pos
                .and_then(|p| key_at(&lines, p.line))
                .unwrap_or_default();
            let mut e = AppError::new(format!("{}: {}", flag_of(&key), first.message))
                .with_code(exit::USAGE);
            if let Some(h) = &first.hint {
                e = e.with_hint(h.clone());
            }
            Err(e)
        }
    }
}

/// The task key (4 spaces deep) that line `line` (1-based) belongs to.
fn key_at(lines: &[&str], line: usize) -> Option<String> {
    lines[..line.min(lines.len())].iter().rev().find_map(|l| {
        let rest = l.strip_prefix("    ")?;
        if rest.starts_with(' ') || rest.starts_with('-') {
            return None;
        }
        Some(rest.split(':').next()?.to_string())
    })
}

/// `yaml` without its `depends_on`, and the dependencies (plain names, `started`).
fn strip_depends_on(yaml: &str) -> (String, Vec<crate::manifest::Dependency>) {
    let Ok(mut doc) = serde_yaml::from_str::<Value>(yaml) else {
        return (yaml.to_string(), vec![]);
    };
    let mut deps = vec![];
    if let Some(tasks) = doc.get_mut("tasks").and_then(Value::as_mapping_mut) {
        for (_, t) in tasks.iter_mut() {
            if let Some(Value::Sequence(list)) =
                t.as_mapping_mut().and_then(|m| m.remove("depends_on"))
            {
                deps.extend(list.iter().filter_map(Value::as_str).map(|d| {
                    crate::manifest::Dependency {
                        task: d.to_string(),
                        condition: crate::manifest::Condition::Started,
                    }
                }));
            }
        }
    }
    (serde_yaml::to_string(&doc).unwrap_or_default(), deps)
}

/// The text of the manifest at `path` (empty when missing) with the task of `spec`
/// added under `tasks:`, every other byte kept, its `cwd` made relative to the
/// manifest; validated, so that writing it (atomically) cannot break bts.yaml.
pub fn manifest_with(path: &Path, spec: &Spec) -> Result<String, AppError> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(AppError::io(format!("cannot read {}", path.display()), e)),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let block = task_block(spec, dir)?;
    let new = insert_task(&old, &block).ok_or_else(|| {
        AppError::new(format!(
            "cannot add `{}` to {}: its `tasks:` is not a block map",
            spec.name,
            path.display()
        ))
        .with_hint("write `tasks:` with one task per indented line, then run --save again")
        .with_code(exit::FAILURE)
    })?;
    let calling: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Err(diags) = crate::manifest::validate::validate(&new, &abs, &calling) {
        return Err(AppError::new(format!(
            "bts.yaml with `{}` would not be valid: {}",
            spec.name, diags[0].message
        ))
        .with_hint("nothing was started or written")
        .with_code(exit::FAILURE));
    }
    Ok(new)
}

/// The manifest form of `spec` as a YAML value.
fn read_back(spec: &Spec) -> Result<Value, AppError> {
    serde_yaml::from_str(&spec.yaml)
        .map_err(|e| AppError::new(format!("cannot read the task back: {e}")))
}

/// The task's own map in a manifest-form document.
fn task_map<'a>(doc: &'a mut Value, name: &str) -> Option<&'a mut Mapping> {
    doc.get_mut("tasks")?.get_mut(name)?.as_mapping_mut()
}

/// `spec` with the task's env as plain values (`$` written `$$`): what `bts run`
/// expanded with its caller's variables reaches the supervisor unchanged, and an
/// env file's values travel with it.
pub fn with_plain_env(spec: &Spec, task: &Task) -> Result<Spec, AppError> {
    let mut doc = read_back(spec)?;
    if let Some(t) = task_map(&mut doc, &spec.name) {
        t.remove("env_file");
        t.remove("env");
        if !task.env.is_empty() {
            let env: Mapping = task
                .env
                .iter()
                .map(|(k, v)| (Value::from(k.clone()), Value::from(v.replace('$', "$$"))))
                .collect();
            t.insert(Value::from("env"), Value::Mapping(env));
        }
    }
    let yaml = serde_yaml::to_string(&doc)
        .map_err(|e| AppError::new(format!("cannot write the task: {e}")))?;
    Ok(Spec {
        name: spec.name.clone(),
        yaml,
    })
}

/// The task's lines as they go under `tasks:` (two spaces deep), `cwd` relative to
/// `dir` (left out when it is `dir`).
fn task_block(spec: &Spec, dir: &Path) -> Result<String, AppError> {
    let mut doc = read_back(spec)?;
    if let Some(t) = task_map(&mut doc, &spec.name) {
        let cwd = t.get("cwd").and_then(Value::as_str).map(PathBuf::from);
        if let Some(cwd) = cwd {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            let cwd_c = std::fs::canonicalize(&cwd).unwrap_or(cwd.clone());
            match cwd_c.strip_prefix(&dir) {
                Ok(rel) if rel.as_os_str().is_empty() => {
                    t.remove("cwd");
                }
                Ok(rel) => {
                    t.insert(Value::from("cwd"), Value::from(rel.display().to_string()));
                }
                Err(_) => {}
            }
        }
    }
    let text = serde_yaml::to_string(&doc)
        .map_err(|e| AppError::new(format!("cannot write the task: {e}")))?;
    Ok(text
        .lines()
        .skip_while(|l| l.trim_end() == "tasks:")
        .map(|l| format!("{l}\n"))
        .collect())
}

/// `manifest` with `block` (task lines two spaces deep) appended to its `tasks:` map,
/// re-indented to the map's own indentation; `None` when `tasks:` is not a block map.
fn insert_task(manifest: &str, block: &str) -> Option<String> {
    let lines: Vec<&str> = manifest.split_inclusive('\n').collect();
    let is_top = |l: &str| {
        !l.trim().is_empty() && !l.starts_with(' ') && !l.starts_with('\t') && !l.starts_with('#')
    };
    let Some(start) = lines.iter().position(|l| {
        let t = l.trim_end();
        t == "tasks:"
            || (t.starts_with("tasks:") && t["tasks:".len()..].trim_start().starts_with('#'))
    }) else {
        if lines.iter().any(|l| l.starts_with("tasks:")) {
            return None;
        }
        let mut out = manifest.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("tasks:\n");
        out.push_str(block);
        return Some(out);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_top(l))
        .map_or(lines.len(), |k| start + 1 + k);
    let indent = lines[start + 1..end]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(2, |l| l.len() - l.trim_start().len());
    // After the last line that belongs to the map (trailing blank lines and comments
    // stay where they are, before the next key).
    let mut at = end;
    while at > start + 1 && {
        let t = lines[at - 1].trim();
        t.is_empty()
            || (t.starts_with('#') && lines[at - 1].len() - lines[at - 1].trim_start().len() == 0)
    } {
        at -= 1;
    }
    let pad = " ".repeat(indent);
    let mut out: String = lines[..at].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for l in block.lines() {
        match l.strip_prefix("  ") {
            Some(rest) => out.push_str(&format!("{pad}{rest}\n")),
            None => out.push_str(&format!("{l}\n")),
        }
    }
    out.push_str(&lines[at..].concat());
    Some(out)
}

/// `<state_dir>/adhoc/`.
pub fn dir(sd: &StateDir) -> PathBuf {
    sd.root().join("adhoc")
}

/// Keep `spec` for a restarted supervisor (written atomically).
pub fn save(sd: &StateDir, spec: &Spec) -> std::io::Result<()> {
    let d = dir(sd);
    std::fs::create_dir_all(&d)?;
    crate::state_file::write_atomic(&d.join(format!("{}.yaml", spec.name)), spec.yaml.as_bytes())
}

/// Forget an ad-hoc task.
pub fn remove(sd: &StateDir, name: &str) {
    let _ = std::fs::remove_file(dir(sd).join(format!("{name}.yaml")));
}

/// Every ad-hoc task kept in the state dir, validated again; the ones that no longer
/// validate (a cwd removed since) are returned as problems.
pub fn load_all(sd: &StateDir) -> (Vec<(Task, String)>, Vec<String>) {
    let mut tasks = vec![];
    let mut problems = vec![];
    let Ok(entries) = std::fs::read_dir(dir(sd)) else {
        return (tasks, problems);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    for p in paths {
        let Ok(yaml) = std::fs::read_to_string(&p) else {
            continue;
        };
        let base = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
        match validate(&yaml, &base) {
            // The file is named for its task (that is how `down` forgets it).
            Ok(t) if stem.as_deref() == Some(t.name.as_str()) => tasks.push((t, yaml)),
            Ok(t) => problems.push(format!(
                "{}: holds task `{}`, not `{}`",
                p.display(),
                t.name,
                stem.unwrap_or_default()
            )),
            Err(e) => problems.push(format!("{}: {}", p.display(), e.message)),
        }
    }
    (tasks, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> RunArgs {
        let mut argv = vec!["bts", "run"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Run(r) => *r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flags_become_a_validated_task() {
        let dir = tempfile::tempdir().unwrap();
        let a = parse(&[
            "web",
            "--port",
            "3999",
            "--env",
            "A=1",
            "--health-http",
            "http://127.0.0.1:3999/",
            "--restart",
            "on-failure",
            "--",
            "python3",
            "-m",
            "http.server",
        ]);
        let s = spec(&a, dir.path()).unwrap();
        let t = validate(&s.yaml, dir.path()).unwrap();
        let plain = with_plain_env(&s, &t).unwrap();
        assert_eq!(validate(&plain.yaml, dir.path()).unwrap().env, t.env);
        assert_eq!(t.name, "web");
        assert_eq!(t.ports, vec![3999]);
        assert_eq!(t.env["A"], "1");
        assert_eq!(t.command.display(), "python3 -m http.server");
        assert!(t.health.is_some());
    }

    #[test]
    fn a_task_is_added_under_tasks_and_nothing_else_changes() {
        let block = "  web:\n    cmd: npm\n    args:\n    - run\n    - dev\n";
        let file = "# my stack\nname: shop   # the project\ntasks:\n    api:   # four deep\n        cmd: 'x'\n\n# the end of tasks\nsettings:\n  output: full\n";
        let new = insert_task(file, block).unwrap();
        assert_eq!(
            new,
            "# my stack\nname: shop   # the project\ntasks:\n    api:   # four deep\n        cmd: 'x'\n    web:\n      cmd: npm\n      args:\n      - run\n      - dev\n\n# the end of tasks\nsettings:\n  output: full\n"
        );
        assert_eq!(insert_task("", block).unwrap(), format!("tasks:\n{block}"));
        assert_eq!(insert_task("tasks: {a: {cmd: x}}\n", block), None);
    }

    #[test]
    fn errors_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let bad = |args: &[&str]| {
            let s = spec(&parse(args), dir.path()).unwrap();
            validate(&s.yaml, dir.path()).unwrap_err().message
        };
        let m = bad(&["web", "--restart", "sometimes", "--", "x"]);
        assert!(m.starts_with("--restart:"), "{m}");
        let m = bad(&["web", "--health-log", "(", "--", "x"]);
        assert!(m.starts_with("--health-*:"), "{m}");
        let m = bad(&[
            "web",
            "--cwd",
            "/nonexistent/dir/x",
            "--log-max-kb",
            "0",
            "--",
            "x",
        ]);
        assert!(m.starts_with("--log-max-kb:"), "{m}");
    }
}
