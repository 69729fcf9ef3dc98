//! Leftovers of a supervisor that died without stopping its tasks (kill -9, OOM, power
//! loss of the terminal): found through `state.json`, verified by process start time so
//! a reused pid is never signalled, and stopped group by group. Also the watchdog, a tiny
//! process per supervisor that does the same the moment the supervisor's pipe closes.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::lifecycle::TaskState;
use crate::process::unix;
use crate::process::{process_start_time, same_process};
use crate::state_file::{self, StateFile};

/// What a sweep found and did.
#[derive(Debug, Default)]
pub struct Sweep {
    /// `task (pid N)` for each group stopped.
    pub stopped: Vec<String>,
    /// Groups that would not die.
    pub survivors: Vec<String>,
    /// Recorded pids that now belong to another process (left alone).
    pub reused: Vec<String>,
}

/// Stop every task group recorded in `state` whose leader is still the recorded process.
/// Only call this while holding the supervisor lock (or from the watchdog, whose
/// supervisor is gone).
pub fn sweep(state: &StateFile) -> Sweep {
    let mut out = Sweep::default();
    let mut targets = vec![];
    for (name, rec) in &state.tasks {
        let (Some(pid), Some(pgid)) = (rec.pid, rec.pgid) else {
            continue;
        };
        let label = format!("{name} (pid {pid})");
        if same_process(pid, rec.start_time) {
            targets.push((label, pgid));
        } else if unix::group_alive(pgid) && rec.start_time.is_none() {
            // No start time could be recorded (non-Linux): a group we cannot verify is
            // reported, never signalled.
            out.reused
                .push(format!("{label}: cannot verify, left alone"));
        } else if rec.start_time.is_some() && process_start_time(pid).is_some() {
            // The pid lives on with another start time: it was reused.
            out.reused
                .push(format!("{label}: now another process, left alone"));
        }
    }
    for (_, pgid) in &targets {
        let _ = unix::signal_group(*pgid, libc::SIGTERM);
    }
    // Descendants that had left their group, recorded with their start time.
    let escapees: Vec<(i32, u64)> = state
        .tasks
        .values()
        .flat_map(|r| r.escapees.iter().copied())
        .filter(|&(pid, start)| same_process(pid, Some(start)))
        .collect();
    for &(pid, _) in &escapees {
        let _ = unix::signal_pid(pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && targets.iter().any(|(_, g)| unix::group_alive(*g)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (_, pgid) in &targets {
        if unix::group_alive(*pgid) {
            let _ = unix::signal_group(*pgid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && targets.iter().any(|(_, g)| unix::group_alive(*g)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (label, pgid) in targets {
        if unix::group_alive(pgid) {
            out.survivors.push(label);
        } else {
            out.stopped.push(label);
        }
    }
    sweep_instance(&state.instance, &mut out);
    out
}

/// Linux: every process still carrying the dead supervisor's `BTS_INSTANCE` — members
/// of a group whose leader had already exited, daemons that left their group before
/// they could be recorded. SIGTERM, then SIGKILL a second later, each pid only while it
/// is the same process (start time).
fn sweep_instance(instance: &str, out: &mut Sweep) {
    if instance.is_empty() {
        return;
    }
    let me = std::process::id() as i32;
    let found: Vec<(i32, u64, String)> = crate::process::table::all()
        .into_iter()
        .filter(|p| p.pid > 1 && p.pid != me && !p.zombie)
        .filter_map(|p| Some((p.pid, p.start, crate::escapees::task_of(p.pid, instance)?)))
        .collect();
    if found.is_empty() {
        return;
    }
    let same = |pid: i32, start: u64| process_start_time(pid) == Some(start);
    for &(pid, _, _) in &found {
        let _ = unix::signal_pid(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && found.iter().any(|&(p, s, _)| same(p, s)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &(pid, start, _) in &found {
        if same(pid, start) {
            let _ = unix::signal_pid(pid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && found.iter().any(|&(p, s, _)| same(p, s)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (pid, start, task) in found {
        let label = format!("{task} (pid {pid})");
        if same(pid, start) {
            out.survivors.push(label);
        } else {
            out.stopped.push(label);
        }
    }
}

/// Sweep the state dir at `root` (caller holds the lock), then clear the recorded pids
/// and remove a stale socket. Returns what was found.
pub fn sweep_dir(root: &Path) -> std::io::Result<Sweep> {
    let Some(mut st) = state_file::read(root).unwrap_or(None) else {
        return Ok(Sweep::default());
    };
    let found = sweep(&st);
    for rec in st.tasks.values_mut() {
        rec.escapees.clear();
        if rec.pid.is_some() {
            rec.pid = None;
            rec.pgid = None;
            rec.start_time = None;
            rec.state = TaskState::Stopped;
        }
    }
    st.supervisor_pid = 0;
    if st.socket.exists() {
        let _ = std::fs::remove_file(&st.socket);
    }
    state_file::write(root, &st)?;
    Ok(found)
}

/// The watchdog's main: block until stdin (a pipe whose write end only the supervisor
/// holds) reaches end of file — the supervisor exited, however it died — then stop any
/// task group the state file still records. A supervisor that exits normally has
/// already stopped everything, so then there is nothing to do.
pub fn watchdog_main(state_dir: &Path, supervisor_pid: i32, instance: &str) -> u8 {
    // Ignore terminal signals: only the pipe decides when the watchdog acts.
    for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGTERM] {
        // SAFETY: setting SIG_IGN has no preconditions.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    match state_file::read(state_dir) {
        // A later supervisor may own the state dir by now: its tasks are not ours.
        Ok(Some(st)) if st.supervisor_pid == supervisor_pid => {
            let _ = sweep(&st);
        }
        // It died before it recorded anything: what carries its instance is still its.
        _ => sweep_instance(instance, &mut Sweep::default()),
    }
    0
}
