//! Many tasks under the open-files limit most desktops have (soft 1024): bts raises its
//! own soft limit to the hard one, gives each task the caller's soft limit back, and
//! says before starting anything when even the hard limit is too low.

use std::time::Duration;

use crate::common::*;

/// 300 tasks: `probe` writes the soft limit it got, the rest sleep.
fn manifest() -> String {
    let mut m =
        String::from("tasks:\n  probe: {cmd: \"ulimit -Sn > nofile.txt; exec sleep 300\"}\n");
    for i in 0..299 {
        m.push_str(&format!("  t{i}: exec sleep 300\n"));
    }
    m
}

/// `bts args` under `ulimits` (a `ulimit` command line run first).
fn under_limit(p: &Project, ulimits: &str, args: &str) -> Finished {
    Invocation::program("sh")
        .arg("-c")
        .arg(format!("{ulimits} && exec {BTS} {args}"))
        .current_dir(p.path())
        .timeout(Duration::from_secs(120))
        .run()
}

fn hard_limit() -> u64 {
    bts::process::unix::open_files_limit().map_or(0, |(_, hard)| hard)
}

#[test]
fn three_hundred_tasks_run_under_a_soft_limit_of_1024() {
    if hard_limit() < 4096 {
        // Not a missing tool: the machine's own hard limit leaves nothing to raise to.
        eprintln!(
            "SKIPPED: the hard open-files limit here is {}",
            hard_limit()
        );
        return;
    }
    let p = Project::new(&manifest());
    let _guard = DaemonGuard { project: &p };
    let up = under_limit(&p, "ulimit -Sn 1024", "up --wait");
    assert_eq!(up.code(), 0, "{}", up.all());
    assert!(up.stdout.contains("all 300 tasks are up"), "{}", up.stdout);
    // The task got the caller's soft limit, not the supervisor's raised one.
    assert_eq!(wait_file(&p.file("nofile.txt")).trim(), "1024");
    let doc = status_json(&p);
    let tasks = doc["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 300);
    assert!(tasks.iter().all(|t| t["status"] == "UP"), "{doc}");
    let pids: Vec<i64> = tasks.iter().filter_map(|t| t["pid"].as_i64()).collect();
    assert_eq!(pids.len(), 300);
    let down = p.run(&["down"]);
    assert_eq!(down.code(), 0, "{}", down.all());
    for pid in pids {
        assert!(
            eventually(DEADLINE, || !alive(pid as i32)),
            "task pid {pid} survived down"
        );
    }
}

#[test]
fn a_hard_limit_too_low_is_said_before_anything_starts() {
    let p = Project::new(&manifest());
    let up = under_limit(&p, "ulimit -n 512", "up");
    assert_eq!(up.code(), 1, "{}", up.all());
    assert!(
        up.stderr
            .contains("300 tasks need about 1532 open files; the limit is 512"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("hint: raise it (`ulimit -n 1532`"),
        "{}",
        up.stderr
    );
    assert!(!p.file(".bts/state.json").exists(), "something started");
    assert!(!p.file("nofile.txt").exists());
    let check = under_limit(&p, "ulimit -n 512", "check");
    assert_eq!(check.code(), 1, "{}", check.all());
    assert!(
        check.stderr.contains("need about 1532 open files"),
        "{}",
        check.stderr
    );
}

/// The supervisor runs out of descriptors (its limit lowered to what it holds): a start
/// fails with the reason, and the control socket still answers.
#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_a_start_fails_and_the_supervisor_still_answers() {
    let Some(prlimit) = require_tool("prlimit", "a supervisor out of descriptors") else {
        return;
    };
    let p = Project::new(&sleepers(&["a", "b"]));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let (sup, _) = crate::common::extra::supervisor_of(&p);
    // Its limit: what it holds now.
    let hold_only_what_it_has = || {
        let held = std::fs::read_dir(format!("/proc/{sup}/fd"))
            .unwrap()
            .count();
        let lowered = Invocation::program(&prlimit)
            .arg(format!("--pid={sup}"))
            .arg(format!("--nofile={held}:{held}"))
            .run();
        assert_eq!(lowered.code(), 0, "{}", lowered.all());
    };
    hold_only_what_it_has();
    let r = p.run(&["restart", "a"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stdout.contains("a: FAILED"), "{}", r.all());
    assert!(r.stdout.contains("Too many open files"), "{}", r.all());
    // The stopped run gave its descriptors back: take them away too.
    hold_only_what_it_has();
    for _ in 0..3 {
        let ps = p.cmd(&["ps"]).timeout(Duration::from_secs(20)).run();
        assert_eq!(ps.code(), 0, "{}", ps.all());
        assert!(
            ps.stdout.contains("FAILED") && ps.stdout.contains("UP"),
            "{}",
            ps.stdout
        );
    }
    assert_eq!(task_status(&p, "b")["status"], "UP");
}

/// Three descriptors per running task (one output pipe, the pidfd, the log), not four;
/// stdout and stderr in the order they were written.
#[cfg(target_os = "linux")]
#[test]
fn a_task_costs_three_descriptors_and_its_streams_stay_in_order() {
    let names: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut manifest = sleepers(&refs);
    manifest.push_str("  mixed:\n    cmd: \"echo out1; echo err1 >&2; echo out2; echo err2 >&2; exec sleep 300\"\n");
    let p = Project::new(&manifest);
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let (sup, _) = crate::common::extra::supervisor_of(&p);
    let held = std::fs::read_dir(format!("/proc/{sup}/fd"))
        .unwrap()
        .count();
    // 101 tasks: 3 each and the supervisor's own (~20); 4 each would be over 400.
    assert!(held < 101 * 3 + 60, "{held} descriptors for 101 tasks");
    let mut log = String::new();
    let lines = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.split_once(' ').map(|(_, t)| t.to_string()))
            .collect()
    };
    assert!(
        eventually(DEADLINE, || {
            log = p.read(".bts/logs/mixed.log");
            lines(&log).len() >= 4
        }),
        "{log}"
    );
    assert_eq!(lines(&log), ["out1", "err1", "out2", "err2"], "{log}");
}

/// `nice` is what the task's processes get (read back from /proc); a task without it
/// keeps bts's own.
#[cfg(target_os = "linux")]
#[test]
fn nice_is_applied_to_the_task() {
    let p = Project::new(
        "tasks:\n  low:\n    cmd: exec sleep 300\n    nice: 7\n  plain:\n    cmd: exec sleep 300\n",
    );
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let nice_of = |pid: i64| -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Field 19 of stat(5), counting from the pid; after the `(comm)` it is the 17th.
        let rest = stat.rsplit_once(')').unwrap().1;
        rest.split_whitespace().nth(16).unwrap().parse().unwrap()
    };
    let low = task_status(&p, "low")["pid"].as_i64().unwrap();
    let plain = task_status(&p, "plain")["pid"].as_i64().unwrap();
    let own = nice_of(i64::from(std::process::id() as i32));
    assert_eq!(nice_of(low), 7);
    assert_eq!(nice_of(plain), own, "no nice: bts's own");
}
