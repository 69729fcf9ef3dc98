//! Test harness: a temp project with a manifest, the real `bts` binary run against it with
//! stdin null and both pipes drained, waits that poll with a deadline, and guards that
//! kill whatever a test started (the supervisor, then every task group it reported).

#![allow(dead_code)]

pub mod extra;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BTS: &str = env!("CARGO_BIN_EXE_bts");

/// Default deadline for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bts-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("bts.yaml"), manifest).expect("write manifest");
        Project { dir }
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

    /// A `bts` command run in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BTS);
        c.args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("BTS_FILE")
            .stdin(Stdio::null());
        c
    }

    /// Run `bts args…` to completion (with a hard timeout) and capture its output.
    pub fn run(&self, args: &[&str]) -> Finished {
        let mut r = self.spawn(args);
        let status = r
            .wait_exit(DEADLINE)
            .unwrap_or_else(|| panic!("bts {args:?} did not finish:\n{}", r.output()));
        Finished {
            status,
            stdout: r.stdout(),
            stderr: r.stderr(),
        }
    }

    /// Start `bts args…` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.cmd(args))
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A running `bts` process whose output is collected by two reader threads.
pub struct Running {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn bts");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        drain(child.stdout.take().expect("stdout"), Arc::clone(&out));
        drain(child.stderr.take().expect("stderr"), Arc::clone(&err));
        Running {
            child,
            out,
            err,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    pub fn output(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }

    /// Wait until stdout contains `needle`; panics with the output at the deadline.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_until(&format!("output containing {needle:?}"), |s| {
            s.contains(needle)
        })
    }

    /// Wait until `pred(stdout)` holds.
    pub fn wait_until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.stdout();
            if pred(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}\n{}", self.output());
            }
            if self.try_status().is_some() && !pred(&self.stdout()) {
                // Give the reader threads a moment to catch the last bytes.
                std::thread::sleep(Duration::from_millis(50));
                let s = self.stdout();
                if pred(&s) {
                    return s;
                }
                panic!("bts exited while waiting for {what}\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Wait for the process to exit, up to `timeout`. Readers are joined implicitly by
    /// waiting for the pipes to close.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(s) = self.try_status() {
                // Let the reader threads reach EOF.
                let drained = Instant::now() + Duration::from_secs(2);
                while Instant::now() < drained
                    && Arc::strong_count(&self.out) + Arc::strong_count(&self.err) > 2
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Process-group ids of every task bts reported starting.
    pub fn task_pids(&self) -> Vec<i32> {
        started_pids(&self.stdout())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                self.signal(libc::SIGTERM);
                if self.wait_exit(Duration::from_secs(2)).is_none() {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                }
            }
        }
        // Belt and braces: whatever task group bts reported is killed, so a failing
        // test never leaks processes.
        for pgid in self.task_pids() {
            if pgid > 1 {
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        }
    }
}

fn drain(mut r: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
        drop(buf);
    });
}

/// Pids from `started (pid N)` event lines.
pub fn started_pids(out: &str) -> Vec<i32> {
    out.lines()
        .filter_map(|l| l.split("started (pid ").nth(1))
        .filter_map(|rest| rest.split(')').next())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .map(|r| r.trim_start().chars().next())
                != Some(Some('Z'))
        }
        Err(_) => false,
    }
}

/// Poll `pred` until it holds or the deadline passes; returns whether it held.
pub fn eventually(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait for a file to exist with non-empty content and return it.
pub fn wait_file(path: &Path) -> String {
    let mut content = String::new();
    let ok = eventually(DEADLINE, || {
        content = std::fs::read_to_string(path).unwrap_or_default();
        !content.trim().is_empty()
    });
    assert!(ok, "{} never appeared", path.display());
    content
}

/// Read pids written one per line into a file by a task (`echo $$ >> pids`).
pub fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A built example program (cargo builds examples for `cargo test`).
pub fn example_bin(name: &str) -> PathBuf {
    let bts = PathBuf::from(BTS);
    let dir = bts.parent().expect("target dir");
    dir.join("examples").join(name)
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops a detached supervisor started by a test, whatever happens: `bts down`, then
/// SIGKILL to the recorded supervisor and task groups if anything is left.
pub struct DaemonGuard<'a> {
    pub project: &'a Project,
}

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let state = self.project.file(".bts/state.json");
        let before = std::fs::read_to_string(&state).unwrap_or_default();
        let mut down = self.project.spawn(&["down"]);
        if down.wait_exit(Duration::from_secs(15)).is_none() {
            let _ = down.child.kill();
        }
        for text in [before, std::fs::read_to_string(&state).unwrap_or_default()] {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(pid) = v["supervisor_pid"].as_i64().filter(|p| *p > 1) {
                if alive(pid as i32) {
                    unsafe {
                        libc::kill(pid as i32, libc::SIGKILL);
                    }
                }
            }
            if let Some(tasks) = v["tasks"].as_object() {
                for t in tasks.values() {
                    if let Some(pg) = t["pgid"].as_i64().filter(|p| *p > 1) {
                        unsafe {
                            libc::killpg(pg as i32, libc::SIGKILL);
                        }
                    }
                }
            }
        }
    }
}

/// `bts status --json` parsed.
pub fn status_json(p: &Project) -> serde_json::Value {
    let r = p.run(&["status", "--json"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The digest of `task` from `status --json`.
pub fn task_status(p: &Project, task: &str) -> serde_json::Value {
    let v = status_json(p);
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == task)
        .cloned()
        .unwrap_or_default()
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

/// The text of a gzip file.
pub fn gunzip(path: &Path) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}
