//! Running `bts` (or a tool a test checks its output with): one builder for the program,
//! arguments, directory, environment, stdin and timeout; both pipes drained by reader
//! threads; every wait bounded; the child and the task groups it reported starting
//! killed when the handle is dropped.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::procs::ProcGuard;
use super::{BTS, DEADLINE};

/// How long a command run to completion may take by default before it is killed and
/// the test fails: far above what any command of the suite needs on a loaded machine, so
/// only a hang reaches it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the calling environment that change what bts does: never passed on
/// unless a test sets them.
const CALLER_VARS: &[&str] = &["BTS_FILE", "BTS_PORT_CHECK_AFTER", "GITHUB_ACTIONS", "PORT"];

/// A command to run: `bts` by default. Stdin is /dev/null (never a terminal) unless
/// [`Invocation::stdin`] gives it data, and it is killed after its timeout.
#[derive(Debug, Clone)]
pub struct Invocation {
    program: OsString,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    stdout_unread: bool,
    is_bts: bool,
}

impl Invocation {
    /// `bts args…` in `dir`, with `NO_COLOR=1` and none of [`CALLER_VARS`].
    pub fn bts(dir: &Path, args: &[&str]) -> Self {
        let mut inv = Invocation::program(BTS);
        inv.is_bts = true;
        inv.args(args).current_dir(dir).env("NO_COLOR", "1");
        for var in CALLER_VARS {
            inv.env_remove(var);
        }
        inv
    }

    /// Any program (a tool that checks what bts wrote), with the same guarantees.
    pub fn program(program: impl AsRef<OsStr>) -> Self {
        Invocation {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
            stdin: None,
            timeout: RUN_TIMEOUT,
            stdout_unread: false,
            is_bts: false,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<S: AsRef<OsStr>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Self {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Set a variable for this run (on top of the test process's environment).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, Some(value.as_ref().to_owned())));
        self
    }

    /// Leave a variable of the test process's environment out.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, None));
        self
    }

    /// Feed `data` on stdin (a pipe closed after it) instead of /dev/null.
    pub fn stdin(&mut self, data: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(data.into());
        self
    }

    /// How long [`Invocation::run`] (and [`Running::finish`]) waits before killing it.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Make stdout a pipe that nobody reads (a stalled terminal): it fills after 64 KiB.
    pub fn stdout_unread(&mut self) -> &mut Self {
        self.stdout_unread = true;
        self
    }

    /// Run to completion, within the timeout, and capture the output. At the timeout
    /// the process is killed and the test fails with what it had printed.
    pub fn run(&self) -> Finished {
        self.spawn().finish()
    }

    /// Start it in the background.
    pub fn spawn(&self) -> Running {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        if let (Some(data), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        // Task pids are taken from bts's event lines as they arrive, before a test can
        // see them, and only when they name a process started after this point.
        let tasks = Arc::new(ProcGuard::from_now());
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let held_stdout = if self.stdout_unread {
            Some(stdout)
        } else {
            let seen = self.is_bts.then(|| Arc::clone(&tasks));
            drain(stdout, Arc::clone(&out), seen);
            None
        };
        drain(child.stderr.take().expect("stderr"), Arc::clone(&err), None);
        Running {
            child,
            what: self.describe(),
            out,
            err,
            status: None,
            timeout: self.timeout,
            tasks,
            _held_stdout: held_stdout,
        }
    }

    /// What [`Command::output`] gives, within the timeout (for tests written against
    /// `Command`).
    pub fn output(&self) -> std::io::Result<Output> {
        let f = self.run();
        Ok(Output {
            status: f.status,
            stdout: f.stdout.into_bytes(),
            stderr: f.stderr.into_bytes(),
        })
    }

    fn describe(&self) -> String {
        let name = Path::new(&self.program)
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned();
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("{name} {args:?}")
    }
}

/// For tests that built a `Command` for bts: the same program, arguments, directory and
/// variables, run with the harness's guarantees (stdin null, drained, timeout, guards).
impl From<Command> for Invocation {
    fn from(cmd: Command) -> Self {
        let mut inv = Invocation::program(cmd.get_program());
        inv.is_bts = cmd.get_program() == OsStr::new(BTS);
        inv.args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            inv.current_dir(dir);
        }
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => inv.env(k, v),
                None => inv.env_remove(k),
            };
        }
        inv
    }
}

impl From<&mut Invocation> for Invocation {
    fn from(inv: &mut Invocation) -> Self {
        inv.clone()
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

/// A running process whose output is collected by two reader threads. Dropping it stops
/// it (SIGTERM, then SIGKILL) and kills every task group bts reported starting that is
/// still the process it reported.
pub struct Running {
    pub child: Child,
    what: String,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
    timeout: Duration,
    tasks: Arc<ProcGuard>,
    _held_stdout: Option<ChildStdout>,
}

impl Running {
    /// Start a prepared invocation (`p.cmd(…)` with extra settings).
    pub fn start(inv: impl Into<Invocation>) -> Self {
        inv.into().spawn()
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
                // The readers reach end of file soon after the exit.
                self.wait_for_readers();
                let s = self.stdout();
                if pred(&s) {
                    return s;
                }
                panic!(
                    "{} exited while waiting for {what}\n{}",
                    self.what,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Send `sig` to the process, unless the harness has reaped it (its pid may then
    /// belong to another process; reap through [`Running::exited`] or
    /// [`Running::wait_exit`], not `child` directly).
    pub fn signal(&self, sig: i32) {
        if self.status.is_none() {
            unsafe {
                libc::kill(self.child.id() as i32, sig);
            }
        }
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Whether it has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        self.try_status().is_some()
    }

    /// Wait for the process to exit, up to `timeout`; then for its readers to reach the
    /// end of its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                self.wait_for_readers();
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait for the exit within the invocation's timeout and return what it printed; at
    /// the timeout, fail the test with the output so far (the drop kills it).
    pub fn finish(&mut self) -> Finished {
        let timeout = self.timeout;
        let status = self.wait_exit(timeout).unwrap_or_else(|| {
            panic!(
                "{} did not finish within {timeout:?}:\n{}",
                self.what,
                self.output()
            )
        });
        Finished {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    fn wait_for_readers(&self) {
        // A reader thread holds its buffer until end of file. A grandchild that kept the
        // pipe open may hold it longer: then take what has arrived.
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end
            && Arc::strong_count(&self.out) + Arc::strong_count(&self.err) > 2
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pids (= process groups) of every task bts reported starting, from its output.
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
        // Whatever task bts reported and did not stop is killed, so a failing test never
        // leaks processes; a task that has exited since (its pid perhaps reused) is not.
        self.tasks.kill_all();
    }
}

fn drain(
    mut r: impl Read + Send + 'static,
    buf: Arc<Mutex<Vec<u8>>>,
    tasks: Option<Arc<ProcGuard>>,
) {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut line = Vec::new();
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(tasks) = &tasks {
                        watch_started(&mut line, &chunk[..n], tasks);
                    }
                    buf.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            }
        }
        drop(buf);
    });
}

/// Record the pid of every `started (pid N)` event line completed by `chunk`; `line`
/// carries the unfinished line between chunks.
fn watch_started(line: &mut Vec<u8>, chunk: &[u8], tasks: &ProcGuard) {
    let mut rest = chunk;
    while let Some(i) = memchr::memchr(b'\n', rest) {
        line.extend_from_slice(&rest[..i]);
        if let Some(pid) = started_pid(&String::from_utf8_lossy(line)) {
            tasks.watch(pid);
        }
        line.clear();
        rest = &rest[i + 1..];
    }
    // An event line is short: of a long line only its beginning matters.
    let room = 4096usize.saturating_sub(line.len());
    line.extend_from_slice(&rest[..rest.len().min(room)]);
}

/// The pid of one of bts's own `<task>: started (pid N)` event lines, in the terminal
/// format (`HH:MM:SS bts | …`) or as `--json`; `None` for any other line, so a task's
/// output never names a pid to kill.
pub fn started_pid(line: &str) -> Option<i32> {
    let text = if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["task"] != "bts" || v["kind"] != "event" {
            return None;
        }
        v["line"].as_str()?.to_string()
    } else {
        let (name, text) = line.get(9..)?.split_once(" | ")?;
        if name.trim_end() != "bts" {
            return None;
        }
        text.to_string()
    };
    let rest = text.split_once(": started (pid ")?.1;
    rest.split(')').next()?.parse().ok()
}

/// Pids from bts's `started (pid N)` event lines.
pub fn started_pids(out: &str) -> Vec<i32> {
    out.lines().filter_map(started_pid).collect()
}
