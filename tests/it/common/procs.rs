//! Processes a test started, directly or through bts. Each is recorded with its start
//! time when first seen and signalled only while that pid is still the same process, so
//! a pid the kernel has since given to an unrelated process is never touched.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bts::process::{process_start_time, same_process};

use super::eventually;

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

/// Clock ticks since boot, the unit of process start times (Linux; `None` elsewhere).
pub fn now_ticks() -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some((secs * hz as f64) as u64)
}

/// A moment to compare start times with: a second before now, so that a process started
/// after this call never counts as older (the two clocks are read at different
/// resolutions). `None` where start times cannot be read: nothing is then excluded.
pub fn birth_mark() -> Option<u64> {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    now_ticks().map(|t| t.saturating_sub(hz))
}

/// A process as it was first seen: its pid and its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub pid: i32,
    pub start: u64,
}

impl Seen {
    /// `pid` as it is now; `None` when it is gone, a zombie, or not a plain process.
    pub fn now(pid: i32) -> Option<Seen> {
        Seen::recorded(pid, process_start_time(pid))
    }

    /// `pid` as it is now, only if it started at or after `not_before` (a
    /// [`birth_mark`]): a pid read from a file or an output line is taken only when it
    /// names a process younger than the test, never an unrelated older one.
    pub fn since(pid: i32, not_before: Option<u64>) -> Option<Seen> {
        Seen::now(pid).filter(|s| not_before.is_none_or(|nb| s.start >= nb))
    }

    /// A pid with the start time someone recorded (bts's state file).
    pub fn recorded(pid: i32, start: Option<u64>) -> Option<Seen> {
        let me = std::process::id() as i32;
        let my_group = unsafe { libc::getpgrp() };
        if pid <= 1 || pid == me || pid == my_group {
            return None;
        }
        start.map(|start| Seen { pid, start })
    }

    /// Whether the pid still names the process that was seen.
    pub fn is_current(&self) -> bool {
        same_process(self.pid, Some(self.start))
    }

    /// Send `sig` to the process alone, if it is still the one seen.
    pub fn signal(&self, sig: i32) -> bool {
        self.is_current() && unsafe { libc::kill(self.pid, sig) } == 0
    }

    /// SIGKILL the process and the process group it leads (a task leader, a `setsid`
    /// daemon), if it is still the one seen. The kernel hands out no pid that is still a
    /// group's id, so a group with this id is the one this very process leads.
    pub fn kill(&self) -> bool {
        if !self.is_current() {
            return false;
        }
        unsafe {
            libc::killpg(self.pid, libc::SIGKILL);
            libc::kill(self.pid, libc::SIGKILL);
        }
        true
    }
}

/// Processes to kill when the guard is dropped (or at [`ProcGuard::kill_all`]), each
/// only while it is still the process that was recorded.
#[derive(Debug, Default)]
pub struct ProcGuard {
    procs: Mutex<Vec<Seen>>,
    not_before: Option<u64>,
}

impl ProcGuard {
    pub fn new() -> Self {
        ProcGuard::default()
    }

    /// A guard that records only processes started after this call (see [`Seen::since`]).
    pub fn from_now() -> Self {
        ProcGuard {
            procs: Mutex::new(Vec::new()),
            not_before: birth_mark(),
        }
    }

    /// Record `pid` as it is now; returns whether there was such a process to record.
    pub fn watch(&self, pid: i32) -> bool {
        match Seen::since(pid, self.not_before) {
            Some(s) => {
                self.add(s);
                true
            }
            None => false,
        }
    }

    /// Record a process seen elsewhere.
    pub fn add(&self, seen: Seen) {
        let mut procs = self.procs.lock().unwrap_or_else(|e| e.into_inner());
        if !procs.contains(&seen) {
            procs.push(seen);
        }
    }

    /// Everything recorded so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// SIGKILL every recorded process (and the group it leads) still alive as recorded.
    pub fn kill_all(&self) {
        for s in self.seen() {
            s.kill();
        }
    }
}

impl Drop for ProcGuard {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Linux: the processes whose working directory is inside `dir` and that started at or
/// after `not_before`. A test's temp dir is its own, so these are what the test started.
pub fn processes_in(dir: &Path, not_before: Option<u64>) -> Vec<Seen> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return vec![];
    };
    bts::process::table::all()
        .into_iter()
        .filter(|p| !p.zombie && not_before.is_none_or(|nb| p.start >= nb))
        .filter(|p| {
            std::fs::read_link(format!("/proc/{}/cwd", p.pid)).is_ok_and(|c| c.starts_with(&dir))
        })
        .filter_map(|p| Seen::recorded(p.pid, Some(p.start)))
        .collect()
}

/// Kill whatever still runs in `dir` (see [`processes_in`]) after a second's grace (a
/// watchdog on its way out), until nothing does or a few rounds have passed (a shell
/// loop may fork between two reads); returns the command lines of what was killed.
pub fn kill_processes_in(dir: &Path, not_before: Option<u64>) -> Vec<String> {
    let mut killed = Vec::new();
    if eventually(Duration::from_secs(1), || {
        processes_in(dir, not_before).is_empty()
    }) {
        return killed;
    }
    for _ in 0..5 {
        let found = processes_in(dir, not_before);
        if found.is_empty() {
            break;
        }
        for s in found {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", s.pid))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            if s.kill() {
                killed.push(format!("pid {} ({})", s.pid, cmdline.trim()));
            }
        }
        eventually(Duration::from_secs(1), || {
            processes_in(dir, not_before).is_empty()
        });
    }
    killed
}

/// A process the test starts itself (not bts): stdin null, its output discarded, and
/// killed and reaped when dropped. It is the test's own unreaped child, so its pid
/// cannot be reused while the guard exists.
pub struct TestChild {
    pub child: Child,
    status: Option<ExitStatus>,
}

impl TestChild {
    pub fn spawn(cmd: &mut Command) -> TestChild {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        TestChild {
            child,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its start time (to build a state file a bts command will read).
    pub fn start_time(&self) -> Option<u64> {
        process_start_time(self.pid())
    }

    /// Wait up to `timeout` for it to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if self.status.is_none() {
                self.status = self.child.try_wait().ok().flatten();
            }
            if self.status.is_some() || Instant::now() > end {
                return self.status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        if self.wait(Duration::ZERO).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
