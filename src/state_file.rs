//! `<state_dir>/state.json`: who the supervisor is, where its socket is, and every task's
//! process (pid, process group, process start time), ports, state and config hash. It is
//! what `bts cleanup`, `bts down` and the watchdog use to find leftovers when the
//! supervisor is gone, so it is written atomically (temp file + rename) on every change.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::lifecycle::TaskState;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StateFile {
    /// `<pid>.<start time>` of the supervisor; its tasks carry it as `BTS_INSTANCE`.
    #[serde(default)]
    pub instance: String,
    pub project: String,
    pub manifest: PathBuf,
    pub supervisor_pid: i32,
    /// Start time of the supervisor process (see [`crate::process::process_start_time`]).
    pub supervisor_start: Option<u64>,
    pub socket: PathBuf,
    pub started_at: String,
    pub updated_at: String,
    pub tasks: BTreeMap<String, TaskRecord>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskRecord {
    /// Read leniently: a state this build does not know must not make the whole file
    /// unreadable, since the file is what finds leftover processes.
    #[serde(deserialize_with = "lenient_state")]
    pub state: TaskState,
    pub pid: Option<i32>,
    pub pgid: Option<i32>,
    /// Start time of the leader process, to tell it from a later process with the same pid.
    pub start_time: Option<u64>,
    pub ports: Vec<u16>,
    pub restarts: u32,
    pub config_hash: String,
    pub started_at: Option<String>,
    /// Environment keys only (values never go to disk).
    pub env_keys: Vec<String>,
    /// Descendants that left the task's process group: (pid, start time).
    #[serde(default)]
    pub escapees: Vec<(i32, u64)>,
}

/// A task state by name; an unknown name reads as the default (STOPPED).
fn lenient_state<'de, D: Deserializer<'de>>(d: D) -> Result<TaskState, D::Error> {
    let name = String::deserialize(d)?;
    Ok(name.parse().unwrap_or_default())
}

pub fn path(state_dir: &Path) -> PathBuf {
    crate::state_dir::StateDir::at(state_dir).state_path()
}

pub fn read(state_dir: &Path) -> io::Result<Option<StateFile>> {
    match std::fs::read(path(state_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn write(state_dir: &Path, state: &StateFile) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    write_atomic(&path(state_dir), &json)
}

/// Write `data` to `path` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateFile {
            project: "p".into(),
            supervisor_pid: 42,
            ..Default::default()
        };
        s.tasks.insert(
            "a".into(),
            TaskRecord {
                state: TaskState::Up,
                pid: Some(7),
                ..Default::default()
            },
        );
        write(dir.path(), &s).unwrap();
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains(r#""state": "UP""#), "{text}");
        assert_eq!(read(dir.path()).unwrap(), Some(s));
    }

    #[test]
    fn an_unknown_state_does_not_hide_the_pids() {
        let rec: TaskRecord = serde_json::from_str(
            r#"{"state":"LATER","pid":7,"pgid":7,"start_time":1,"ports":[],"restarts":0,
                "config_hash":"","started_at":null,"env_keys":[]}"#,
        )
        .unwrap();
        assert_eq!(rec.state, TaskState::Stopped);
        assert_eq!(rec.pid, Some(7));
    }
}
