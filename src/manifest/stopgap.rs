//! Temporary minimal loader used until the full loader lands (replaced on merge).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::*;

#[derive(Debug)]
pub struct ManifestError(pub String);

impl From<ManifestError> for crate::errors::AppError {
    fn from(e: ManifestError) -> Self {
        crate::errors::AppError::new(e.0)
    }
}

pub fn load(file: Option<&Path>) -> Result<Manifest, ManifestError> {
    let path = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("bts.yaml"));
    let path = std::fs::canonicalize(&path).map_err(|e| ManifestError(format!("{}: {e}", path.display())))?;
    let text = std::fs::read_to_string(&path).map_err(|e| ManifestError(e.to_string()))?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| ManifestError(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut tasks = vec![];
    let dur = |v: &serde_yaml::Value, d: u64| v.as_str().and_then(|s| humantime::parse_duration(s).ok()).unwrap_or(Duration::from_secs(d));
    if let Some(m) = v.get("tasks").and_then(|t| t.as_mapping()) {
        for (k, t) in m {
            let name = k.as_str().unwrap_or("?").to_string();
            let cmd = t.get("cmd").and_then(|c| c.as_str()).unwrap_or("true").to_string();
            let mut env = BTreeMap::new();
            if let Some(e) = t.get("env").and_then(|e| e.as_mapping()) {
                for (k, v) in e {
                    env.insert(k.as_str().unwrap_or("").to_string(), v.as_str().map(String::from).unwrap_or_else(|| format!("{}", v.as_i64().unwrap_or(0))));
                }
            }
            let restart = match t.get("restart").and_then(|c| c.as_str()) {
                Some("always") => RestartPolicy::Always,
                Some("on-failure") => RestartPolicy::OnFailure,
                _ => RestartPolicy::Never,
            };
            let depends_on = t.get("depends_on").and_then(|d| d.as_sequence()).map(|s| s.iter().map(|d| Dependency { task: d.as_str().unwrap_or("").into(), condition: Condition::Started }).collect()).unwrap_or_default();
            tasks.push(Task {
                name,
                command: CommandSpec::Shell(cmd),
                cwd: dir.clone(),
                env,
                ports: t.get("ports").and_then(|p| p.as_sequence()).map(|s| s.iter().filter_map(|p| p.as_u64()).map(|p| p as u16).collect()).unwrap_or_default(),
                health: None,
                restart,
                max_restarts: t.get("max_restarts").and_then(|v| v.as_u64()).unwrap_or(5) as u32,
                restart_window: t.get("restart_window").map(|v| dur(v, 300)).unwrap_or(Duration::from_secs(300)),
                backoff: t.get("backoff").map(|v| dur(v, 1)).unwrap_or(Duration::from_secs(1)),
                depends_on,
                stop_signal: libc::SIGTERM,
                stop_timeout: t.get("stop_timeout").map(|v| dur(v, 10)).unwrap_or(Duration::from_secs(10)),
                log_max_kb: t.get("log_max_kb").and_then(|v| v.as_u64()).unwrap_or(1024),
                log_keep: 3,
                errors: None,
                warnings: None,
                watch: vec![],
                destructive: false,
                checkpoint: None,
                checkpoint_timeout: Duration::from_secs(300),
                autostart: t.get("autostart").and_then(|v| v.as_bool()).unwrap_or(true),
                line: 1,
            });
        }
    }
    Ok(Manifest {
        project: dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        settings: Settings { state_dir: dir.join(".bts"), output: OutputMode::Summary, digest_interval: Duration::from_secs(300), notes: None, secrets: Secrets::default() },
        path,
        dir,
        tasks,
    })
}
