//! Procfile compatibility (README: Procfiles): with no bts.yaml but a `Procfile`, bts runs it
//! with foreman's semantics — one `name: command` a line (run by `sh -c`), `#` comments and
//! blank lines ignored, `.env` next to the Procfile loaded, and `PORT` = base + 100 × the
//! entry's index, the base being `$PORT` or 5000 (foreman's `Engine#port_for`).
//!
//! The Procfile becomes a manifest by way of an equivalent bts.yaml text that the regular
//! validator loads, so a Procfile task has exactly the defaults, env handling and rules of
//! a bts.yaml task; only the Procfile's own syntax is checked here, with its own positions.

use std::collections::BTreeMap;
use std::path::Path;

use super::diag::{shown_path, Diagnostic, Invalid, ManifestError};
use super::model::Manifest;
use super::node::Pos;
use super::validate::{valid_task_name, validate};

/// The file name looked for when there is no bts.yaml.
pub const FILE_NAME: &str = "Procfile";

/// foreman's default base port.
pub const BASE_PORT: u16 = 5000;

/// foreman's step between consecutive processes.
pub const PORT_STEP: u16 = 100;

/// One `name: command` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub cmd: String,
    /// 1-based line in the Procfile.
    pub line: usize,
}

/// Whether `path` names a Procfile (`Procfile`, or a variant such as `Procfile.dev`), which
/// is loaded as one rather than as YAML.
pub fn is_procfile(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == FILE_NAME || n.starts_with("Procfile."))
}

/// The entries of a Procfile, or every problem found, each at its line.
///
/// foreman and honcho skip lines that do not match `name: command`; bts reports them,
/// because such a line is a process that silently never runs.
pub fn parse(text: &str) -> Result<Vec<Entry>, Vec<Diagnostic>> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut diags = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.len() - trimmed.len();
        let col = l[..indent].chars().count() + 1;
        let Some((name, cmd)) = trimmed.split_once(':') else {
            diags.push(
                Diagnostic::at(Pos::at(line, col), "not a `name: command` line")
                    .hint("write `name: command`, or comment the line out with `#`"),
            );
            continue;
        };
        let name = name.trim_end();
        let cmd = cmd.trim();
        if !valid_task_name(name) {
            diags.push(
                Diagnostic::at(Pos::at(line, col), format!("invalid process name `{name}`"))
                    .hint("names start with a letter or digit and contain only letters, digits, `_`, `.` and `-`"),
            );
            continue;
        }
        if cmd.is_empty() {
            diags.push(
                Diagnostic::at(
                    Pos::at(line, col),
                    format!("process `{name}` has no command"),
                )
                .hint("write the command after the `:`, e.g. `web: npm start`"),
            );
            continue;
        }
        if let Some(first) = entries.iter().find(|e| e.name == name) {
            diags.push(
                Diagnostic::at(
                    Pos::at(line, col),
                    format!("process `{name}` is defined twice"),
                )
                .hint(format!("rename one (the first is on line {})", first.line)),
            );
            continue;
        }
        entries.push(Entry {
            name: name.to_string(),
            cmd: cmd.to_string(),
            line,
        });
    }
    if entries.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::whole(
            "the Procfile has no processes",
            "add one `name: command` line per process, e.g. `web: npm start`",
        ));
    }
    if diags.is_empty() {
        Ok(entries)
    } else {
        Err(diags)
    }
}

/// The base port: `PORT` from the calling environment, else from `.env`, else 5000.
pub fn base_port(
    calling: &BTreeMap<String, String>,
    dot_env: &BTreeMap<String, String>,
) -> Result<u16, String> {
    match calling.get("PORT").or_else(|| dot_env.get("PORT")) {
        None => Ok(BASE_PORT),
        Some(p) => p
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("PORT is `{p}`, not a port number")),
    }
}

/// The bts.yaml equivalent of `entries`: what the in-memory manifest is built from.
/// `PORT` is in each task's `env` so that, as with foreman, it replaces a `PORT` of the
/// calling environment, which only sets the base. It is not a declared port: foreman
/// gives every process a PORT, workers included, and a worker that never binds it must
/// not be reported DEGRADED or refused because something else holds it.
pub fn to_yaml(entries: &[Entry], env_file: bool, base: u16) -> Result<String, String> {
    let mut out = String::new();
    if env_file {
        out.push_str("env_file: .env\n");
    }
    out.push_str("tasks:\n");
    for (i, e) in entries.iter().enumerate() {
        let port = u32::from(base) + u32::from(PORT_STEP) * i as u32;
        let port = u16::try_from(port)
            .map_err(|_| format!("process `{}` would get PORT {port}, above 65535", e.name))?;
        out.push_str(&format!(
            "  {}:\n    cmd: {}\n    env: {{PORT: \"{port}\"}}\n",
            json_str(&e.name),
            json_str(&e.cmd),
        ));
    }
    Ok(out)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Load the Procfile at `path` (whose text is `text`) as a manifest.
pub fn load(
    path: &Path,
    abs: &Path,
    text: &str,
    calling: &BTreeMap<String, String>,
) -> Result<Manifest, ManifestError> {
    let invalid = |diagnostics: Vec<Diagnostic>| {
        ManifestError::Invalid(Box::new(Invalid {
            includes: vec![],
            shown_path: shown_path(path),
            source_text: text.to_string(),
            diagnostics,
        }))
    };
    let entries = parse(text).map_err(invalid)?;
    let dir = abs.parent().unwrap_or_else(|| Path::new("/"));
    let env_path = dir.join(".env");
    let has_env = env_path.is_file();
    // A broken .env is reported by the validator below; here it only matters for PORT.
    let dot_env: BTreeMap<String, String> = if has_env {
        dotenvy::from_path_iter(&env_path)
            .map(|it| it.filter_map(Result::ok).collect())
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    let bad = |message: String| {
        invalid(vec![Diagnostic::whole(
            message,
            "set PORT to the first process's port (each next one gets 100 more), or unset it",
        )])
    };
    let base = base_port(calling, &dot_env).map_err(bad)?;
    let yaml = to_yaml(&entries, has_env, base).map_err(bad)?;
    // The generated text's positions mean nothing to the user: report its problems (only
    // a broken .env can cause one) against the Procfile as a whole.
    let mut manifest = validate(&yaml, abs, calling).map_err(|diags| {
        invalid(
            diags
                .into_iter()
                .map(|d| Diagnostic { pos: None, ..d })
                .collect(),
        )
    })?;
    // Messages about a task (`bts check`) name its line in the Procfile, not in the
    // generated YAML. Tasks come out in Procfile order.
    for (task, entry) in manifest.tasks.iter_mut().zip(&entries) {
        task.line = entry.line;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_foreman_procfiles() {
        let text = "# processes\nweb: bundle exec rails s -p $PORT\n\nworker:   sidekiq -C config.yml \r\n  # indented comment\nclock: bin/clock: every 5m\n";
        let e = parse(text).unwrap();
        let got: Vec<(&str, &str, usize)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.cmd.as_str(), e.line))
            .collect();
        assert_eq!(
            got,
            [
                ("web", "bundle exec rails s -p $PORT", 2),
                ("worker", "sidekiq -C config.yml", 4),
                ("clock", "bin/clock: every 5m", 6),
            ]
        );
    }

    #[test]
    fn reports_bad_lines_with_positions() {
        let diags = parse("web: x\nnot a process\nweb: y\nbad name: z\nempty:\n").unwrap_err();
        let lines: Vec<usize> = diags.iter().map(|d| d.pos.unwrap().line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(diags[1].message.contains("twice"));
        assert!(parse("# only comments\n\n").is_err());
    }

    #[test]
    fn ports_step_by_100_from_the_base() {
        let env = |p: &str| BTreeMap::from([("PORT".to_string(), p.to_string())]);
        let none = BTreeMap::new();
        assert_eq!(base_port(&none, &none), Ok(5000));
        assert_eq!(base_port(&env("3000"), &env("4000")), Ok(3000));
        assert_eq!(base_port(&none, &env("4000")), Ok(4000));
        assert!(base_port(&env("http"), &none).is_err());
        let entries = parse("a: x\nb: y\n").unwrap();
        let yaml = to_yaml(&entries, false, 5000).unwrap();
        assert!(yaml.contains("PORT: \"5000\"") && yaml.contains("PORT: \"5100\""));
        assert!(to_yaml(&entries, false, 65500).is_err());
    }

    #[test]
    fn loads_as_a_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("Procfile");
        let text = "web: echo \"hi\" $PORT 'x'\nworker: sleep 1\n";
        std::fs::write(&path, text).unwrap();
        std::fs::write(tmp.path().join(".env"), "GREETING=hello\n").unwrap();
        let m = load(&path, &path, text, &BTreeMap::new()).unwrap();
        assert_eq!(m.tasks.len(), 2);
        let web = &m.tasks[0];
        assert_eq!(
            web.command,
            super::super::model::CommandSpec::Shell("echo \"hi\" $PORT 'x'".into())
        );
        assert_eq!(web.env.get("PORT").map(String::as_str), Some("5000"));
        assert_eq!(web.env.get("GREETING").map(String::as_str), Some("hello"));
        assert_eq!(m.tasks[1].env.get("PORT").map(String::as_str), Some("5100"));
        assert_eq!(m.settings.state_dir, tmp.path().join(".bts"));
        assert_eq!(
            (m.tasks[0].line, m.tasks[1].line),
            (1, 2),
            "lines of the Procfile"
        );
    }
}
