//! Descendants that leave their task's process group on purpose (a `setsid` daemon, a
//! `setpgid` helper) are out of reach of `killpg`. On Linux bts finds them through /proc
//! (parent links while their parent lives; once orphaned they are re-parented to bts,
//! which is a child subreaper, and keep a session of their own), stops them after their
//! task's group, and reaps them. Other systems have no such tracking: the group is what
//! a stop reaches there.

pub use crate::process::table::Proc;

/// One pass over /proc (empty on other systems).
pub fn snapshot() -> Vec<Proc> {
    crate::process::table::all()
}

/// Live descendants of `leader` that are outside its process group `pgid`.
pub fn escaped_from(procs: &[Proc], leader: i32, pgid: i32) -> Vec<(i32, u64)> {
    let mut found = vec![];
    let mut frontier = vec![leader];
    // Walk the parent links down from the leader (and from every group member, since a
    // member's child may be the one that left).
    frontier.extend(
        procs
            .iter()
            .filter(|p| p.pgid == pgid && p.pid != leader)
            .map(|p| p.pid),
    );
    let mut seen = std::collections::HashSet::new();
    while let Some(parent) = frontier.pop() {
        if !seen.insert(parent) {
            continue;
        }
        for p in procs.iter().filter(|p| p.ppid == parent) {
            if p.pgid != pgid && !p.zombie {
                found.push((p.pid, p.start));
            }
            frontier.push(p.pid);
        }
    }
    found
}

/// Live processes re-parented to this process (we are a subreaper) that run in a session
/// of their own: escaped task descendants whose parent has exited. Task leaders, probes,
/// checkpoints and the watchdog share our session, so they never qualify.
pub fn adopted(procs: &[Proc], me: i32, my_sid: i32) -> Vec<(i32, u64)> {
    procs
        .iter()
        .filter(|p| p.ppid == me && p.sid != my_sid && !p.zombie)
        .map(|p| (p.pid, p.start))
        .collect()
}

/// The `BTS_TASK` of a process started by the supervisor `instance` (every task
/// process inherits `BTS_INSTANCE` and `BTS_TASK`), from /proc/<pid>/environ: which task
/// an adopted orphan came from, or whether a leftover belongs to a dead supervisor.
/// Linux only (`None` elsewhere).
pub fn task_of(pid: i32, instance: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut task = None;
    let mut ours = false;
    for var in env.split(|b| *b == 0) {
        if let Some(v) = var.strip_prefix(b"BTS_TASK=") {
            task = Some(String::from_utf8_lossy(v).into_owned());
        } else if let Some(v) = var.strip_prefix(b"BTS_INSTANCE=") {
            ours = v == instance.as_bytes();
        }
    }
    task.filter(|_| ours)
}

/// Become a child subreaper, so orphaned descendants are re-parented to us instead of
/// to init (prctl(2), PR_SET_CHILD_SUBREAPER).
#[cfg(target_os = "linux")]
pub fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn become_subreaper() {}

/// Stop the recorded escapees: SIGTERM, then SIGKILL after `grace`; each pid only while
/// it is still the recorded process. Then reap those that were re-parented to us (only
/// these pids: never `waitpid(-1)`, which would steal tokio's children).
pub async fn stop(escapees: Vec<(i32, u64)>, grace: std::time::Duration) {
    use crate::process::unix;
    let still_ours = |pid: i32, start: u64| crate::process::process_start_time(pid) == Some(start);
    let live: Vec<(i32, u64)> = escapees
        .into_iter()
        .filter(|&(p, s)| still_ours(p, s))
        .collect();
    if live.is_empty() {
        return;
    }
    for &(pid, _) in &live {
        let _ = unix::signal_pid(pid, libc::SIGTERM);
    }
    let end = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < end && live.iter().any(|&(p, s)| still_ours(p, s)) {
        reap(&live);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for &(pid, start) in &live {
        if still_ours(pid, start) {
            let _ = unix::signal_pid(pid, libc::SIGKILL);
        }
    }
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    while tokio::time::Instant::now() < end && live.iter().any(|&(p, s)| still_ours(p, s)) {
        reap(&live);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    reap(&live);
}

/// Collect the exit status of those of `pids` that are our (adopted) zombies.
pub fn reap(pids: &[(i32, u64)]) {
    for &(pid, _) in pids {
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgid: i32, sid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            pgid,
            sid,
            start: pid as u64,
            zombie: false,
            cpu_ticks: 0,
            rss_pages: 0,
        }
    }

    #[test]
    fn finds_descendants_outside_the_group() {
        let procs = [
            p(10, 1, 10, 1),   // leader
            p(11, 10, 10, 1),  // same group
            p(12, 11, 12, 12), // setsid grandchild
            p(13, 12, 12, 12), // its child
            p(20, 1, 20, 1),   // unrelated
        ];
        let mut got = escaped_from(&procs, 10, 10);
        got.sort();
        assert_eq!(got, vec![(12, 12), (13, 13)]);
        let adopted_ = adopted(&[p(30, 5, 30, 30), p(31, 5, 5, 1), p(32, 6, 32, 32)], 5, 1);
        assert_eq!(adopted_, vec![(30, 30)]);
    }
}
