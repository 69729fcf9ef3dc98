//! More harness for the guarantee tests: processes a test owns (killed on drop, only
//! while they are still the same process), reading the supervisor and its watchdog from
//! the outside, and running `bts` under a pseudo-terminal (no external tool needed).

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Project, BTS, DEADLINE};

/// The start time of `pid` (see `bts::process::process_start_time`); `None` when it is
/// gone or a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    bts::process::process_start_time(pid)
}

/// Whether `pid` is still the process that had `start`.
pub fn same(pid: i32, start: Option<u64>) -> bool {
    start.is_some() && start_time(pid) == start
}

/// Send `sig` to `pid` only while it is still the process that had `start`; whether it
/// was sent.
pub fn signal_checked(pid: i32, start: Option<u64>, sig: i32) -> bool {
    if pid > 1 && same(pid, start) {
        // SAFETY: kill(2) has no memory preconditions.
        unsafe { libc::kill(pid, sig) == 0 }
    } else {
        false
    }
}

/// Process groups a test must not leak: on drop, each leader that is still the process
/// recorded gets its group SIGKILLed.
#[derive(Default)]
pub struct GroupGuard(pub Vec<(i32, Option<u64>)>);

impl GroupGuard {
    /// Remember `pid` (a group leader) with its start time as of now.
    pub fn add(&mut self, pid: i32) {
        self.0.push((pid, start_time(pid)));
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        for &(pid, start) in &self.0 {
            if pid > 1 && same(pid, start) {
                // SAFETY: killpg(2) has no memory preconditions.
                unsafe {
                    libc::killpg(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// A process the test spawned itself, in its own process group; its group is killed and
/// the process reaped on drop.
pub struct Owned {
    child: Child,
    pub pid: i32,
    pub start: u64,
}

impl Owned {
    /// `sleep 300` leading its own process group.
    pub fn sleep() -> Self {
        use std::os::unix::process::CommandExt;
        let child = Command::new("sleep")
            .arg("300")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let start = start_time(pid).expect("start time of a fresh child");
        Owned { child, pid, start }
    }

    /// Still running (not exited, not a zombie) and still the process we spawned.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none() && same(self.pid, Some(self.start))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Not yet reaped, so the pid cannot have been reused; check anyway.
        if same(self.pid, Some(self.start)) {
            // SAFETY: killpg(2) has no memory preconditions.
            unsafe {
                libc::killpg(self.pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// A pid that is not running now: a child that was spawned and reaped.
pub fn dead_pid() -> i32 {
    let mut c = Command::new("true").spawn().expect("spawn true");
    let pid = c.id() as i32;
    let _ = c.wait();
    pid
}

/// `state.json` parsed (Null when missing or unreadable).
pub fn state_json(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read(".bts/state.json")).unwrap_or_default()
}

/// The supervisor recorded in `state.json`: (pid, start time).
pub fn supervisor_of(p: &Project) -> (i32, Option<u64>) {
    let v = state_json(p);
    (
        v["supervisor_pid"].as_i64().unwrap_or(0) as i32,
        v["supervisor_start"].as_u64(),
    )
}

/// The watchdog of the supervisor `sup` of project `p`: the process whose argv is
/// `bts __watchdog <state dir> <sup> …`.
#[cfg(target_os = "linux")]
pub fn find_watchdog(p: &Project, sup: i32) -> Option<i32> {
    let want = canonical(&p.file(".bts"));
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if argv.len() >= 4
            && argv[1] == "__watchdog"
            && argv[3] == sup.to_string()
            && canonical(Path::new(&argv[2])) == want
        {
            return Some(pid);
        }
    }
    None
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A command run with a pseudo-terminal as its stdin, stdout and stderr; what it writes
/// is collected by a reader thread. Dropping it SIGTERMs, then SIGKILLs the process.
#[cfg(target_os = "linux")]
pub struct Pty {
    child: Child,
    start: Option<u64>,
    master: std::fs::File,
    out: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
}

#[cfg(target_os = "linux")]
impl Pty {
    /// `bts args…` in the project directory under a terminal, with `env` on top of the
    /// test's environment (NO_COLOR and BTS_FILE removed).
    pub fn bts(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut c = Command::new(BTS);
        c.args(args)
            .current_dir(p.path())
            .env_remove("NO_COLOR")
            .env_remove("BTS_FILE")
            .env("TERM", "xterm");
        for (k, v) in env {
            c.env(k, v);
        }
        Pty::spawn(c)
    }

    pub fn spawn(mut cmd: Command) -> Self {
        // SAFETY: plain libc calls on a descriptor we own; ptsname_r writes into `name`.
        let (master, slave) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            let master = std::fs::File::from_raw_fd(m);
            assert_eq!(libc::grantpt(m), 0, "grantpt");
            assert_eq!(libc::unlockpt(m), 0, "unlockpt");
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
            let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_owned();
            let s = libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            assert!(s >= 0, "open {path:?}: {}", std::io::Error::last_os_error());
            (master, OwnedFd::from_raw_fd(s))
        };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("spawn under a pty");
        // The command holds the only copies of the slave now; drop them so that reading
        // the master ends (EIO) once the child and its heirs have closed it.
        drop(cmd);
        let start = start_time(child.id() as i32);
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let buf = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
        Pty {
            child,
            start,
            master,
            out,
            status: None,
        }
    }

    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Type `text` at the terminal.
    pub fn type_text(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to pty");
    }

    /// Wait until the output contains `needle`; panics with the output at the deadline
    /// or if the process exits first.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.output();
            if s.contains(needle) {
                return s;
            }
            let exited = self.try_status().is_some();
            if exited {
                std::thread::sleep(Duration::from_millis(100));
                let s = self.output();
                if s.contains(needle) {
                    return s;
                }
            }
            assert!(
                !exited && Instant::now() < end,
                "no {needle:?} in the terminal output (exited: {exited}):\n{s}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Wait for the process to exit (then a moment for the reader to catch up).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(s) = self.try_status() {
                let out = Arc::clone(&self.out);
                let mut last = usize::MAX;
                // The reader ends at EIO; wait until the output stops growing.
                super::eventually(Duration::from_secs(2), || {
                    let n = out.lock().unwrap().len();
                    let settled = n == last;
                    last = n;
                    std::thread::sleep(Duration::from_millis(20));
                    settled
                });
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn signal(&mut self, sig: i32) {
        if self.try_status().is_none() {
            signal_checked(self.child.id() as i32, self.start, sig);
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Pty {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
