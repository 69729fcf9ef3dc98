//! What happens around a supervisor that is gone: a pid recorded in state.json that now
//! belongs to another process is never signalled, the leftovers of a supervisor killed
//! with its watchdog are stopped by the next `bts up` / `bts down`, and the commands
//! that race with a supervisor's exit (or follow its kill -9) answer.

use std::time::{Duration, Instant};

use crate::common::extra::*;
use crate::common::*;

const ONE_SHOT: &str = "tasks:\n  a:\n    cmd: 'true'\n";
const SLEEPER: &str = "tasks:\n  a:\n    cmd: exec sleep 300\n";

/// A state.json left by a dead supervisor that recorded task `a` as `victim`'s pid and
/// group with another start time: the pid has since been reused by `victim`. Its recorded
/// escapee is `victim` with a wrong start time too.
fn write_reused_state(p: &Project, victim: &Owned) {
    std::fs::create_dir_all(p.file(".bts")).unwrap();
    let rec = serde_json::json!({
        "state": "UP", "pid": victim.pid, "pgid": victim.pid, "start_time": victim.start + 1,
        "ports": [], "restarts": 0, "config_hash": "", "started_at": null, "env_keys": [],
        "escapees": [[victim.pid, victim.start + 2]],
    });
    let state = serde_json::json!({
        "instance": format!("{}.1", dead_pid()), "project": "p", "manifest": p.file("bts.yaml"),
        "supervisor_pid": dead_pid(), "supervisor_start": 1, "socket": p.file(".bts/bts.sock"),
        "started_at": "", "updated_at": "", "tasks": { "a": rec },
    });
    p.write(".bts/state.json", &state.to_string());
}

/// Guards "a reused pid is never signalled" (docs/behaviour.md#stopping) for each of
/// the three sweeps — `bts cleanup`, `bts down` without a supervisor and the sweep that
/// starts `bts up` — and that each says it left the process alone. Fails if a sweep
/// signals a recorded pid without comparing its start time, or reports nothing.
#[test]
fn a_reused_pid_is_never_signalled_by_any_sweep() {
    let p = Project::new(ONE_SHOT);
    let mut victim = Owned::sleep();
    let label = format!("a (pid {})", victim.pid);
    for args in [&["cleanup"][..], &["down"], &["up"]] {
        write_reused_state(&p, &victim);
        let r = p.run(args);
        assert_eq!(r.code(), 0, "bts {args:?}: {}", r.all());
        // The sweep waits a second for SIGTERM to work; a signal would have killed it.
        assert!(victim.alive(), "bts {args:?} signalled a reused pid");
        let said = r
            .stdout
            .lines()
            .find(|l| l.contains(&label))
            .unwrap_or_else(|| panic!("bts {args:?} says nothing about {label}:\n{}", r.all()));
        assert!(
            said.contains("another process") && said.contains("left alone"),
            "bts {args:?}: {said}"
        );
        assert!(!r.stdout.contains("stopped"), "bts {args:?}: {}", r.stdout);
    }
    assert!(victim.alive());
}

/// Simulates a supervisor on its way out: it holds the lock and has removed its socket,
/// then releases the lock. Guards that `bts down` and `bts status` then treat it as gone
/// rather than failing with "a supervisor holds the lock but publishes no socket" once
/// their wait for a socket runs out.
#[test]
fn commands_that_find_a_supervisor_exiting_wait_for_it_to_go() {
    let p = Project::new(SLEEPER);
    // What an exiting supervisor leaves: its state, its socket already removed.
    let state = serde_json::json!({
        "instance": "", "project": "p", "manifest": p.file("bts.yaml"),
        "supervisor_pid": dead_pid(), "supervisor_start": 1, "socket": p.file(".bts/bts.sock"),
        "started_at": "", "updated_at": "", "tasks": {},
    });
    p.write(".bts/state.json", &state.to_string());
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p.file(".bts/supervisor.lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut down = p.spawn(&["down"]);
    let mut status = p.spawn(&["status"]);
    // The "exit" of the simulated supervisor takes this long; any length is correct,
    // this one makes both commands find the lock held (it is not a synchronisation).
    std::thread::sleep(Duration::from_millis(500));
    drop(lock);
    for (what, r) in [("down", &mut down), ("status", &mut status)] {
        let code = r.wait_exit(DEADLINE).expect("it answers");
        assert_eq!(code.code(), Some(0), "{what}: {}", r.output());
        assert!(
            !r.output().contains("publishes no socket"),
            "{what}: {}",
            r.output()
        );
    }
}

/// Guards the race at the end for real: `bts down NAME` of the last running task makes
/// the supervisor exit, and a `bts down` right after it must succeed whichever moment
/// of that exit it lands on.
#[test]
fn down_of_the_last_task_then_down_at_once_succeeds() {
    let p = Project::new(SLEEPER);
    let _g = DaemonGuard { project: &p };
    for round in 0..5 {
        let up = p.run(&["up", "-d"]);
        assert_eq!(up.code(), 0, "round {round}: {}", up.all());
        let (sup, sup_start) = supervisor_of(&p);
        let one = p.run(&["down", "a"]);
        assert_eq!(one.code(), 0, "round {round}: {}", one.all());
        let all = p.run(&["down"]);
        assert_eq!(all.code(), 0, "round {round}: {}", all.all());
        assert!(!all.all().contains("publishes no socket"), "{}", all.all());
        assert!(
            eventually(DEADLINE, || !same(sup, sup_start)),
            "round {round}: the supervisor did not exit"
        );
    }
}

/// Guards that `bts status` right after a kill -9 of the supervisor answers at once from
/// the last digest (no hang on the dead socket, no error).
#[test]
fn status_right_after_kill_9_answers_from_the_last_digest() {
    let p = Project::new(SLEEPER);
    let _g = DaemonGuard { project: &p };
    let mut groups = GroupGuard::default();
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let pid = wait_state(&p, "a", "UP")["pid"].as_i64().unwrap() as i32;
    groups.add(pid);
    assert!(
        eventually(DEADLINE, || p.read(".bts/digest.json").contains("\"UP\"")),
        "the digest records UP"
    );
    let (sup, sup_start) = supervisor_of(&p);
    assert!(signal_checked(sup, sup_start, libc::SIGKILL));
    // Dead (a zombie at most), its socket file and state.json left behind as they were.
    assert!(eventually(DEADLINE, || !same(sup, sup_start)));
    assert!(p.file(".bts/bts.sock").exists());
    let t0 = Instant::now();
    let r = p.run(&["status"]);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.stdout.contains("no supervisor running"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("the supervisor is gone (it last saw it UP)"),
        "{}",
        r.stdout
    );
    let j = status_json(&p);
    assert_eq!(j["tasks"][0]["status"], "STOPPED", "{j}");
}

/// Start a detached supervisor with task `a`, then kill -9 its watchdog (so nothing
/// sweeps) and the supervisor itself. Returns the task's pid and start time; the task is
/// still running and in `groups`.
#[cfg(target_os = "linux")]
fn crash_leaving_the_task(p: &Project, groups: &mut GroupGuard) -> (i32, Option<u64>) {
    let up = p.run(&["up", "-d"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let pid = wait_state(p, "a", "UP")["pid"].as_i64().unwrap() as i32;
    groups.add(pid);
    let start = start_time(pid);
    let (sup, sup_start) = supervisor_of(p);
    let mut wd = None;
    assert!(
        eventually(DEADLINE, || {
            wd = find_watchdog(p, sup);
            wd.is_some()
        }),
        "no watchdog for supervisor {sup}"
    );
    let wd = wd.unwrap();
    let wd_start = start_time(wd);
    assert!(signal_checked(wd, wd_start, libc::SIGKILL));
    assert!(eventually(DEADLINE, || !same(wd, wd_start)));
    assert!(signal_checked(sup, sup_start, libc::SIGKILL));
    assert!(eventually(DEADLINE, || !same(sup, sup_start)));
    assert!(same(pid, start), "the task was left running");
    (pid, start)
}

/// Guards the sweep of `bts up` (foreground) after a crash nobody cleaned up: the old
/// task is stopped and reported before the new one starts.
#[cfg(target_os = "linux")]
#[test]
fn up_stops_what_a_crashed_supervisor_left() {
    let p = Project::new(SLEEPER);
    let _g = DaemonGuard { project: &p };
    let mut groups = GroupGuard::default();
    let (pid, start) = crash_leaving_the_task(&p, &mut groups);
    let mut r = p.spawn(&["up"]);
    r.wait_for(&format!(
        "stopped a (pid {pid}), left running by a previous supervisor"
    ));
    assert!(eventually(DEADLINE, || !same(pid, start)), "old task gone");
    r.wait_for("a: UP");
    r.signal(libc::SIGINT);
    assert!(r.wait_exit(DEADLINE).is_some(), "{}", r.output());
}

/// Guards the same for `bts up -d`: the sweep is reported to the terminal that ran it,
/// not only to supervisor.log.
#[cfg(target_os = "linux")]
#[test]
fn up_detached_stops_and_reports_what_a_crashed_supervisor_left() {
    let p = Project::new(SLEEPER);
    let _g = DaemonGuard { project: &p };
    let mut groups = GroupGuard::default();
    let (pid, start) = crash_leaving_the_task(&p, &mut groups);
    let r = p.run(&["up", "-d"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.all().contains(&format!(
            "stopped a (pid {pid}), left running by a previous supervisor"
        )),
        "{}",
        r.all()
    );
    assert!(eventually(DEADLINE, || !same(pid, start)), "old task gone");
    let new = wait_state(&p, "a", "UP")["pid"].as_i64().unwrap() as i32;
    groups.add(new);
    assert_ne!(new, pid);
}

/// Guards the sweep of `bts down` with no supervisor after a crash.
#[cfg(target_os = "linux")]
#[test]
fn down_stops_what_a_crashed_supervisor_left() {
    let p = Project::new(SLEEPER);
    let _g = DaemonGuard { project: &p };
    let mut groups = GroupGuard::default();
    let (pid, start) = crash_leaving_the_task(&p, &mut groups);
    let r = p.run(&["down"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout
            .contains(&format!("stopped leftover a (pid {pid})")),
        "{}",
        r.stdout
    );
    assert!(!same(pid, start), "old task gone");
    let again = p.run(&["down"]);
    assert!(again.stdout.contains("clean"), "{}", again.stdout);
}
