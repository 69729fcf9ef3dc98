//! A temp project with a manifest, the commands run in it, what its supervisor reports
//! (`status --json`, `.bts/state.json`), and the guards that leave nothing of it running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bts::state_file::StateFile;

use super::invocation::{Finished, Invocation, Running};
use super::procs::{birth_mark, kill_processes_in, ProcGuard, Seen};
use super::{eventually, DEADLINE};

/// A temp dir with a `bts.yaml`. Dropping it kills every process it tracked (see
/// [`Project::wait_pid`]) and, on Linux, whatever still runs inside the dir.
pub struct Project {
    pub dir: tempfile::TempDir,
    procs: ProcGuard,
    born: Option<u64>,
}

impl Project {
    pub fn new(manifest: &str) -> Self {
        let born = birth_mark();
        let dir = tempfile::Builder::new()
            .prefix("bts-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("bts.yaml"), manifest).expect("write manifest");
        Project {
            dir,
            procs: ProcGuard::from_now(),
            born,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.file(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_default()
    }

    /// `bts args…` in the project directory, to adjust (env, stdin, timeout) and then
    /// `.run()` or `.spawn()`.
    pub fn cmd(&self, args: &[&str]) -> Invocation {
        Invocation::bts(self.path(), args)
    }

    /// Run `bts args…` to completion (within [`super::RUN_TIMEOUT`]) and capture its
    /// output.
    pub fn run(&self, args: &[&str]) -> Finished {
        self.cmd(args).run()
    }

    /// Start `bts args…` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.cmd(args).spawn()
    }

    /// Record `pid` (a process a task started: a grandchild, a daemon) so that it is
    /// killed when the project is dropped, if it is still that process. Returns `pid`.
    pub fn track(&self, pid: i32) -> i32 {
        self.procs.watch(pid);
        pid
    }

    /// Wait for a task to write its pid into `rel` (`echo $$ > rel`), track it (see
    /// [`Project::track`]) and return it.
    pub fn wait_pid(&self, rel: &str) -> i32 {
        let path = self.file(rel);
        let mut pid = None;
        let ok = eventually(DEADLINE, || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            pid = text
                .ends_with('\n')
                .then(|| text.trim().parse::<i32>().ok())
                .flatten();
            pid.is_some()
        });
        assert!(ok, "no pid in {} in time", path.display());
        self.track(pid.unwrap())
    }

    /// `.bts/state.json`, if there is one.
    pub fn state(&self) -> Option<StateFile> {
        bts::state_file::read(&self.file(".bts")).ok().flatten()
    }

    /// Every process the state file records (supervisor, task leaders with their groups,
    /// escaped descendants), each with its recorded start time.
    pub fn recorded_processes(&self) -> Vec<Seen> {
        let Some(st) = self.state() else {
            return vec![];
        };
        let mut out: Vec<Seen> = Seen::recorded(st.supervisor_pid, st.supervisor_start)
            .into_iter()
            .collect();
        for t in st.tasks.values() {
            if let Some(pid) = t.pid {
                out.extend(Seen::recorded(pid, t.start_time));
            }
            out.extend(
                t.escapees
                    .iter()
                    .filter_map(|&(pid, start)| Seen::recorded(pid, Some(start))),
            );
        }
        out.retain(|s| self.born.is_none_or(|b| s.start >= b));
        out
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.procs.kill_all();
        let killed = kill_processes_in(self.path(), self.born);
        if !killed.is_empty() {
            eprintln!(
                "{}: killed what was still running in it: {}",
                self.path().display(),
                killed.join(", ")
            );
        }
    }
}

/// Stops a detached supervisor started by a test, whatever happens: `bts down`, then
/// SIGKILL to what the state file recorded before and after it (supervisor, task groups,
/// escaped descendants), each only if it is still the recorded process.
pub struct DaemonGuard<'a> {
    pub project: &'a Project,
}

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let before = self.project.recorded_processes();
        let _ = self
            .project
            .cmd(&["down"])
            .timeout(Duration::from_secs(15))
            .spawn()
            .wait_exit(Duration::from_secs(15));
        for s in before.iter().chain(&self.project.recorded_processes()) {
            s.kill();
        }
    }
}

/// `bts status --json` parsed.
pub fn status_json(p: &Project) -> serde_json::Value {
    let r = p.run(&["status", "--json"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The entry of `task` in a document with a `tasks` list (`status --json`, `down
/// --json`); `Null` when there is none.
pub fn find_task(doc: &serde_json::Value, task: &str) -> serde_json::Value {
    doc["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task"] == task))
        .cloned()
        .unwrap_or_default()
}

/// The digest of `task` from `status --json`.
pub fn task_status(p: &Project, task: &str) -> serde_json::Value {
    find_task(&status_json(p), task)
}

/// Poll `status --json` until `task` is in `state`; returns its digest.
pub fn wait_state(p: &Project, task: &str, state: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = eventually(DEADLINE, || {
        last = task_status(p, task);
        last["status"] == state
    });
    assert!(ok, "{task} never reached {state}: {last}");
    last
}

/// The supervisor pid the state file records.
pub fn status_supervisor(p: &Project) -> i64 {
    let st = p.state().expect("state.json");
    i64::from(st.supervisor_pid)
}

/// `kill -9` the project's supervisor, as a crash would: the pid in the state file, if
/// it is still the process recorded there.
pub fn kill_supervisor(p: &Project) {
    let st = p.state().expect("state.json");
    let sup = Seen::recorded(st.supervisor_pid, st.supervisor_start)
        .unwrap_or_else(|| panic!("no supervisor recorded: {st:?}"));
    assert!(
        sup.signal(libc::SIGKILL),
        "the recorded supervisor {} is gone",
        sup.pid
    );
}
