//! Tests of the harness itself: it never signals a process it cannot prove it started,
//! and it takes task pids only from bts's own event lines.

use std::process::Command;
use std::time::Duration;

use super::*;

#[test]
fn started_pids_come_only_from_bts_event_lines() {
    assert_eq!(
        started_pid("12:00:01 bts         | web: started (pid 4242): exec sleep 300"),
        Some(4242)
    );
    assert_eq!(
        started_pid(
            r#"{"kind":"event","level":"info","line":"a: started (pid 77): echo hi","task":"bts","time":"t"}"#
        ),
        Some(77)
    );
    // A task printing the same words names no pid.
    assert_eq!(
        started_pid("12:00:01 web         | db: started (pid 4242)"),
        None
    );
    assert_eq!(
        started_pid(r#"{"kind":"output","line":"a: started (pid 77)","task":"a","time":"t"}"#),
        None
    );
    assert_eq!(started_pid("web: started (pid 4242)"), None);
}

#[test]
fn a_pid_recorded_with_another_start_time_is_never_signalled() {
    let mut child = TestChild::spawn(Command::new("sleep").arg("300"));
    let start = child.start_time().expect("start time");
    let stale = Seen {
        pid: child.pid(),
        start: start + 1,
    };
    assert!(!stale.is_current());
    assert!(!stale.kill());
    let guard = ProcGuard::new();
    guard.add(stale);
    drop(guard);
    assert!(alive(child.pid()), "a reused pid was killed");
    let seen = Seen::now(child.pid()).expect("seen");
    assert!(seen.kill());
    assert!(child.wait(DEADLINE).is_some());
}

#[test]
fn nothing_older_than_the_guard_is_recorded_and_never_the_test_itself() {
    let me = std::process::id() as i32;
    assert_eq!(Seen::now(me), None);
    assert_eq!(Seen::recorded(1, Some(1)), None);
    let older = TestChild::spawn(Command::new("sleep").arg("300"));
    // Start times tick at 100 Hz and the guard allows a second of slack: be older than it.
    let start = older.start_time().expect("start time");
    assert!(eventually(Duration::from_secs(5), || birth_mark()
        .is_some_and(|b| b > start)));
    let guard = ProcGuard::from_now();
    assert!(!guard.watch(older.pid()));
    assert!(!guard.watch(me));
    drop(guard);
    assert!(alive(older.pid()));
}

#[test]
fn a_crashed_bts_leaves_no_task_behind_the_running_guard() {
    let p = Project::new("tasks:\n  a:\n    cmd: echo $$ > a.pid; exec sleep 300\n");
    let mut up = p.spawn(&["up"]);
    up.wait_for("a: started (pid");
    let pid = p.wait_pid("a.pid");
    assert_eq!(up.task_pids(), [pid]);
    // Kill the watchdog, then bts: only the guard is left to stop the task.
    let watchdog = processes_in(p.path(), None)
        .into_iter()
        .find(|s| {
            std::fs::read(format!("/proc/{}/cmdline", s.pid))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__watchdog"))
        })
        .expect("a watchdog");
    assert!(watchdog.kill());
    up.signal(libc::SIGKILL);
    up.wait_exit(DEADLINE).expect("bts killed");
    assert!(alive(pid), "nothing else stopped the task");
    drop(up);
    assert!(eventually(DEADLINE, || !alive(pid)), "task {pid} survived");
}
