//! A destructive task's checkpoint is a supervised process: a first Ctrl-C stops it, a
//! second kills it at once, a `kill -9` of bts leaves it to the watchdog, its timeout
//! kills its whole group — and in none of these does the task itself run.

use std::time::{Duration, Instant};

use crate::common::*;

fn manifest(checkpoint: &str, extra: &str) -> String {
    format!(
        "tasks:\n  migrate:\n    cmd: touch migrated\n    destructive: true\n    checkpoint: \"echo $$ > ck.pid; {checkpoint}\"\n{extra}  other:\n    cmd: exec sleep 300\n"
    )
}

/// Start `bts up --yes` and wait for the checkpoint to run; returns it and its pid (its
/// group is killed with the project, whatever the test's outcome).
fn up_until_checkpoint(p: &Project) -> (Running, i32) {
    let mut up = p.spawn(&["up", "--yes"]);
    up.wait_for("migrate: running checkpoint");
    let pid = p.wait_pid("ck.pid");
    (up, pid)
}

#[test]
fn ctrl_c_stops_a_running_checkpoint_and_bts_exits() {
    let p = Project::new(&manifest("sleep 300; echo dumped", ""));
    let (mut up, ck) = up_until_checkpoint(&p);
    let t = Instant::now();
    up.signal(libc::SIGINT);
    let status = up.wait_exit(Duration::from_secs(20));
    assert!(status.is_some(), "bts did not exit:\n{}", up.output());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert!(!alive(ck), "the checkpoint outlived bts");
    assert!(!p.file("migrated").exists(), "the destructive task ran");
    assert!(
        up.stdout()
            .contains("migrate: STOPPED — stopped before its checkpoint finished"),
        "{}",
        up.stdout()
    );
}

#[test]
fn a_second_ctrl_c_kills_a_checkpoint_that_ignores_sigterm() {
    let p = Project::new(&manifest("trap '' TERM; sleep 300; echo dumped", ""));
    let (mut up, ck) = up_until_checkpoint(&p);
    up.signal(libc::SIGINT);
    up.wait_for("migrate: stopping");
    std::thread::sleep(Duration::from_millis(100)); // let the first signal be handled
    let t = Instant::now();
    up.signal(libc::SIGINT);
    let status = up.wait_exit(Duration::from_secs(20));
    assert!(status.is_some(), "bts did not exit:\n{}", up.output());
    // The stop timeout is 10 s: exiting well before it means the kill came at once.
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(!alive(ck), "the checkpoint outlived bts");
    assert!(!p.file("migrated").exists(), "the destructive task ran");
}

#[test]
fn kill_9_of_bts_during_a_checkpoint_leaves_it_to_the_watchdog() {
    let p = Project::new(&manifest("sleep 300; echo dumped", ""));
    let (up, ck) = up_until_checkpoint(&p);
    up.signal(libc::SIGKILL);
    assert!(
        eventually(Duration::from_secs(5), || !alive(ck)),
        "the checkpoint outlived a killed bts"
    );
    assert!(!p.file("migrated").exists(), "the destructive task ran");
}

#[test]
fn a_checkpoint_past_its_timeout_is_killed_with_its_group() {
    let p = Project::new(&manifest(
        "sleep 300 & echo $! > gc.pid; wait",
        "    checkpoint_timeout: 1s\n",
    ));
    let (mut up, ck) = up_until_checkpoint(&p);
    let gc = p.wait_pid("gc.pid");
    up.wait_for("migrate: FAILED — checkpoint failed (timed out after 1s); the task was not run");
    assert!(
        eventually(Duration::from_secs(5), || !alive(ck) && !alive(gc)),
        "the checkpoint's group outlived its timeout"
    );
    assert!(!p.file("migrated").exists(), "the destructive task ran");
    let audit = p.read(".bts/audit.log");
    assert!(audit.contains("\"timed_out\":true"), "{audit}");
}
