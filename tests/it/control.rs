//! Control from another terminal: detach and --wait, status/ps/logs/restart/down, a
//! second `up` reconciling, orphans after kill -9, the socket.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::*;

const TWO: &str = r#"tasks:
  web:
    cmd: echo web-ready; exec sleep 300
  worker:
    cmd: echo $$ > worker.pid; while true; do echo "working $(date +%s)"; sleep 0.2; done
"#;

#[test]
fn up_wait_returns_when_up_and_leaves_tasks_running() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    let r = p.run(&["up", "--wait"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains("web: UP") && r.stdout.contains("worker: UP"),
        "{}",
        r.stdout
    );
    let pid = p.wait_pid("worker.pid");
    assert!(alive(pid), "tasks keep running after --wait returns");
    let st = task_status(&p, "worker");
    assert_eq!(st["status"], "UP");
    assert_eq!(st["pid"], pid);
    let down = p.run(&["down"]);
    assert_eq!(down.code(), 0, "{}", down.all());
    assert!(down.stdout.contains("worker: stopped"), "{}", down.stdout);
    assert!(eventually(DEADLINE, || !alive(pid)));
}

#[test]
fn up_wait_fails_with_the_digest_and_last_log_lines() {
    let p = Project::new("tasks:\n  ok:\n    cmd: exec sleep 300\n  bad:\n    cmd: echo 'cannot connect to db'; exit 3\n");
    let _g = DaemonGuard { project: &p };
    let r = p.run(&["up", "--wait"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stderr.contains("[TASK: bad] FAILED"), "{}", r.stderr);
    assert!(r.stderr.contains("exited with code 3"), "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot connect to db"),
        "last log lines shown: {}",
        r.stderr
    );
}

#[test]
fn up_wait_times_out() {
    let p = Project::new(
        "tasks:\n  never:\n    cmd: exec sleep 300\n    health: { cmd: 'false', interval: 100ms, start_period: 1m }\n",
    );
    let _g = DaemonGuard { project: &p };
    let r = p.run(&["up", "--wait", "--wait-timeout", "1s"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stderr.contains("timed out after 1s"), "{}", r.stderr);
    assert!(r.stderr.contains("[TASK: never] STARTING"), "{}", r.stderr);
}

#[test]
fn status_json_and_ps_describe_every_task() {
    let p = Project::new(&format!(
        "{TWO}  later:\n    cmd: 'true'\n    autostart: false\n    ports: [{}]\n",
        free_port()
    ));
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    wait_state(&p, "web", "UP");
    let v = status_json(&p);
    assert!(v["project"].as_str().unwrap().starts_with("bts-test-"));
    let web = find_task(&v, "web");
    for field in [
        "task",
        "status",
        "pid",
        "ports",
        "uptime",
        "restarts",
        "health",
        "log_path",
        "next_action",
    ] {
        assert!(web.get(field).is_some(), "field {field} in {web}");
    }
    assert!(web["pid"].as_i64().unwrap() > 1);
    let later = find_task(&v, "later");
    assert_eq!(later["status"], "STOPPED");
    assert_eq!(later["detail"], "not started");

    let ps = p.run(&["ps"]);
    assert_eq!(ps.code(), 0);
    let lines: Vec<&str> = ps.stdout.lines().collect();
    assert!(lines[0]
        .split_whitespace()
        .eq(["NAME", "STATE", "PID", "PORTS", "UPTIME", "RESTARTS", "HEALTH", "CPU", "MEM"]));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web") && l.contains(" UP ")),
        "{}",
        ps.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("later") && l.contains("STOPPED")),
        "{}",
        ps.stdout
    );
    // Aliases.
    let first_col = |out: String| {
        out.lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first_col(p.run(&["ls"]).stdout),
        first_col(ps.stdout.clone())
    );
    assert_eq!(
        first_col(p.run(&["list"]).stdout),
        first_col(ps.stdout.clone())
    );
}

#[test]
fn unknown_task_names_list_the_known_ones() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    for cmd in [
        vec!["status", "nope"],
        vec!["restart", "nope"],
        vec!["down", "nope"],
    ] {
        let r = p.run(&cmd);
        assert_eq!(r.code(), 2, "{cmd:?}: {}", r.all());
        assert!(r.stderr.contains("no task matches `nope`"), "{}", r.stderr);
        assert!(
            r.stderr.contains("web") && r.stderr.contains("worker"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn logs_tail_and_follow() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/worker.log")
        .lines()
        .count()
        >= 4));
    let r = p.run(&["logs", "worker", "-n", "2"]);
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stdout.lines().all(|l| l.contains("working")));
    // Several tasks: prefixed with the name.
    let both = p.run(&["tail", "-n", "1"]);
    assert!(
        both.stdout.contains("web    | ") && both.stdout.contains("worker | "),
        "{}",
        both.stdout
    );
    // -f streams new lines as they come.
    let mut f = p.spawn(&["logs", "worker", "-f", "-n", "0"]);
    f.wait_until("two followed lines", |s| {
        s.lines().filter(|l| l.contains("working")).count() >= 2
    });
    drop(f);
    // -n works with no supervisor, from the files.
    assert_eq!(p.run(&["down"]).code(), 0);
    let after = p.run(&["logs", "web", "-n", "5"]);
    assert!(after.stdout.contains("web-ready"), "{}", after.all());
}

#[test]
fn restart_changes_the_pid_and_down_one_task_leaves_the_others() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let before = wait_state(&p, "web", "UP")["pid"].as_i64().unwrap();
    let r = p.run(&["restart", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let after = task_status(&p, "web")["pid"].as_i64().unwrap();
    assert_ne!(before, after);
    assert!(!alive(before as i32));
    let worker = task_status(&p, "worker")["pid"].as_i64().unwrap();

    let r = p.run(&["down", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("web: stopped"), "{}", r.stdout);
    assert_eq!(task_status(&p, "web")["status"], "STOPPED");
    assert!(!alive(after as i32));
    assert_eq!(task_status(&p, "worker")["status"], "UP");
    assert!(alive(worker as i32));
}

#[test]
fn second_up_reconciles_an_edited_manifest() {
    let p = Project::new(&sleepers(&["keep", "change", "drop"]));
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let keep = wait_state(&p, "keep", "UP")["pid"].as_i64().unwrap();
    let change = wait_state(&p, "change", "UP")["pid"].as_i64().unwrap();
    let dropped = wait_state(&p, "drop", "UP")["pid"].as_i64().unwrap();
    p.write(
        "bts.yaml",
        "tasks:\n  keep:\n    cmd: exec sleep 300\n  change:\n    cmd: exec sleep 301\n  added:\n    cmd: exec sleep 300\n",
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains("restarting change (definition changed)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("stopped drop (removed from the manifest)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("starting added (new)"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("keep"),
        "unchanged tasks are left alone: {}",
        r.stdout
    );
    wait_state(&p, "added", "UP");
    let changed = wait_state(&p, "change", "UP")["pid"].as_i64().unwrap();
    assert_ne!(changed, change);
    assert_eq!(
        task_status(&p, "keep")["pid"].as_i64().unwrap(),
        keep,
        "same pid for the unchanged task"
    );
    assert!(eventually(DEADLINE, || !alive(dropped as i32)));
    let names: Vec<String> = status_json(&p)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["keep", "change", "added"]);
    // Nothing left to do: a third `up` says so and changes nothing.
    let again = p.run(&["up"]);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
}

#[test]
fn sighup_reloads_the_manifest() {
    let p = Project::new(&sleepers(&["a"]));
    let mut r = p.spawn(&["up"]);
    r.wait_for("a: UP");
    p.write(
        "bts.yaml",
        "tasks:\n  a:\n    cmd: exec sleep 300\n  b:\n    cmd: echo b-started; exec sleep 300\n",
    );
    r.signal(libc::SIGHUP);
    r.wait_for("| b-started");
    assert!(
        r.stdout().contains("reload: starting b (new)"),
        "{}",
        r.output()
    );
}

#[test]
fn only_one_supervisor_per_state_dir() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let sup = status_supervisor(&p);
    let r = p.run(&["up", "-d"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    assert_eq!(status_supervisor(&p), sup);
    let pid = p.wait_pid("worker.pid");
    assert_eq!(task_status(&p, "worker")["pid"], pid, "no duplicate worker");
}

#[test]
fn kill_9_of_the_supervisor_leaves_no_task_behind() {
    let p = Project::new(
        "tasks:\n  tree:\n    cmd: sleep 300 & echo $! > gc.pid; echo $$ > leader.pid; wait\n  other:\n    cmd: exec sleep 300\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let gc = p.wait_pid("gc.pid");
    let leader = p.wait_pid("leader.pid");
    let other = task_status(&p, "other")["pid"].as_i64().unwrap() as i32;
    kill_supervisor(&p);
    assert!(
        eventually(DEADLINE, || !alive(gc) && !alive(leader) && !alive(other)),
        "tasks outlived their supervisor"
    );
    let r = p.run(&["cleanup"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("clean"), "{}", r.stdout);
    assert!(!p.file(".bts/bts.sock").exists(), "stale socket removed");
    // A new supervisor starts fine afterwards (the stale socket is not "already running").
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
}

#[test]
fn leftovers_are_stopped_by_cleanup_when_no_watchdog_did() {
    // Simulate leftovers: a recorded group that is still alive with its start time.
    let p = Project::new(&sleepers(&["a"]));
    let mut child = TestChild::spawn(
        std::process::Command::new("sleep")
            .arg("300")
            .process_group(0),
    );
    let pid = child.pid();
    let start = child.start_time().expect("start time");
    std::fs::create_dir_all(p.file(".bts")).unwrap();
    p.write(
        ".bts/state.json",
        &serde_json::json!({
            "project": "x", "manifest": "bts.yaml", "supervisor_pid": 999999, "supervisor_start": null,
            "socket": p.file(".bts/bts.sock"), "started_at": "", "updated_at": "",
            "tasks": { "a": { "state": "UP", "pid": pid, "pgid": pid, "start_time": start, "ports": [],
                              "restarts": 0, "config_hash": "", "started_at": null, "env_keys": [] } }
        })
        .to_string(),
    );
    let r = p.run(&["cleanup"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        child.wait(DEADLINE).is_some(),
        "the leftover was not stopped"
    );
    assert!(
        r.stdout
            .contains(&format!("stopped leftover a (pid {pid})")),
        "{}",
        r.stdout
    );
}

#[test]
fn socket_is_private_and_survives_garbage() {
    let p = Project::new(TWO);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let sock = p.file(".bts/bts.sock");
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(p.file(".bts"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // Garbage, a half request then a hang-up, and an oversized line.
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.write_all(b"this is not json\n").unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("bad request"));
    drop(s);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.write_all(b"{\"op\":\"status\"").unwrap();
    drop(s);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let _ = s.write_all(&vec![b'x'; 200_000]);
    drop(s);
    assert_eq!(
        status_json(&p)["tasks"].as_array().unwrap().len(),
        2,
        "supervisor still answers"
    );
}

#[test]
fn up_with_a_name_adds_only_that_task_to_a_running_supervisor() {
    let p = Project::new(
        "tasks:\n  web:\n    cmd: exec sleep 300\n  maint:\n    cmd: echo maint-ran > maint.txt; exec sleep 300\n    autostart: false\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let web = wait_state(&p, "web", "UP")["pid"].as_i64().unwrap();
    assert_eq!(task_status(&p, "maint")["detail"], "not started");
    let r = p.run(&["up", "maint"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("starting maint"), "{}", r.stdout);
    wait_state(&p, "maint", "UP");
    assert_eq!(wait_file(&p.file("maint.txt")).trim(), "maint-ran");
    assert_eq!(
        task_status(&p, "web")["pid"].as_i64().unwrap(),
        web,
        "web left alone"
    );
}

#[test]
fn status_without_a_supervisor_shows_how_the_last_run_ended() {
    let p = Project::new("tasks:\n  ok:\n    cmd: 'true'\n  bad:\n    cmd: exit 3\n  never:\n    cmd: 'true'\n    autostart: false\n");
    assert_eq!(p.run(&["up"]).code(), 1);
    let v = status_json(&p);
    let find = |n: &str| find_task(&v, n);
    assert_eq!(find("ok")["status"], "EXITED");
    assert_eq!(find("bad")["status"], "FAILED");
    assert_eq!(find("bad")["exit_code"], 3);
    assert_eq!(find("never")["detail"], "not started");
    assert!(find("ok")["pid"].is_null());
}

#[test]
fn restart_wait_answers_with_the_new_run() {
    let p = Project::new(&sleepers(&["w"]));
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let old = task_status(&p, "w")["pid"].as_i64().unwrap();
    let r = p.run(&["restart", "w", "--wait"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("w: UP"), "{}", r.stdout);
    assert!(
        !r.stdout.contains(&format!("pid {old}")),
        "answered with the old run: {}",
        r.stdout
    );
}

#[test]
fn a_second_up_exits_one_when_a_new_task_fails_at_once() {
    let p = Project::new(&sleepers(&["web"]));
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    p.write(
        "bts.yaml",
        "tasks:\n  web:\n    cmd: exec sleep 300\n  newfail:\n    cmd: exit 4\n",
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stdout.contains("starting newfail (new)"), "{}", r.stdout);
}

#[test]
fn a_task_removed_then_added_back_serves_its_dependents_again() {
    let v1 = "tasks:\n  db:\n    cmd: exec sleep 300\n  api:\n    cmd: exec sleep 300\n    depends_on: [db]\n";
    let p = Project::new(v1);
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    p.write("bts.yaml", &sleepers(&["other"]));
    assert_eq!(p.run(&["up"]).code(), 0);
    p.write("bts.yaml", v1);
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    wait_state(&p, "api", "UP");
}

#[test]
fn kill_9_during_a_stop_leaves_no_member_of_a_leaderless_group() {
    let p = Project::new(
        "tasks:\n  t:\n    cmd: (trap '' TERM; exec sleep 300) & echo $! > member.pid; wait\n    stop_timeout: 60s\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let member = p.wait_pid("member.pid");
    let leader = task_status(&p, "t")["pid"].as_i64().unwrap() as i32;
    // The stop kills the leader; the member ignores SIGTERM, so the stop waits 60 s.
    let _down = p.spawn(&["down", "t"]);
    assert!(eventually(DEADLINE, || !alive(leader)));
    assert!(alive(member));
    kill_supervisor(&p);
    assert!(
        eventually(DEADLINE, || !alive(member)),
        "a member of the leaderless group survived"
    );
}

#[test]
fn kill_9_right_after_start_leaves_no_setsid_daemon() {
    let p = Project::new(
        "tasks:\n  d:\n    cmd: setsid sh -c 'trap \"\" TERM; exec sleep 300' & echo $! > daemon.pid; exec sleep 300\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let daemon = p.wait_pid("daemon.pid");
    kill_supervisor(&p);
    assert!(
        eventually(DEADLINE, || !alive(daemon)),
        "the daemon survived its supervisor"
    );
    let r = p.run(&["cleanup"]);
    assert!(r.stdout.contains("clean"), "{}", r.stdout);
}

#[test]
fn restart_after_a_crash_loop_gets_its_retries_back() {
    let p = Project::new(
        "tasks:\n  c:\n    cmd: echo run >> runs.txt; exit 3\n    restart: on-failure\n    max_restarts: 2\n    backoff: 50ms\n  keep:\n    cmd: exec sleep 300\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    wait_state(&p, "c", "FAILED");
    assert_eq!(p.read("runs.txt").lines().count(), 3);
    p.run(&["restart", "c"]);
    wait_state(&p, "c", "FAILED");
    assert!(
        eventually(DEADLINE, || p.read("runs.txt").lines().count() == 6),
        "{}",
        p.read("runs.txt")
    );
    let c = task_status(&p, "c");
    assert!(c["health"].is_null() && c["pid"].is_null(), "{c}");
}

#[test]
fn two_detached_ups_at_once_make_one_supervisor_and_both_succeed() {
    let p = Project::new("tasks:\n  a:\n    cmd: echo a >> runs.txt; exec sleep 300\n  b:\n    cmd: echo b >> runs.txt; exec sleep 300\n");
    let _g = DaemonGuard { project: &p };
    let mut first = p.spawn(&["up", "-d"]);
    let mut second = p.spawn(&["up", "-d"]);
    let s1 = first.wait_exit(DEADLINE).expect("first returns");
    let s2 = second.wait_exit(DEADLINE).expect("second returns");
    assert_eq!(
        (s1.code(), s2.code()),
        (Some(0), Some(0)),
        "{}\n{}",
        first.output(),
        second.output()
    );
    wait_state(&p, "a", "UP");
    wait_state(&p, "b", "UP");
    assert_eq!(p.read("runs.txt").lines().count(), 2, "each task ran once");
}

#[test]
fn down_of_several_tasks_stops_dependents_first() {
    let p = Project::new(
        "tasks:\n  db:\n    cmd: trap 'echo db-term >> order.txt; exit 0' TERM; echo up; while :; do sleep 0.05; done\n  web:\n    cmd: trap 'echo web-term >> order.txt; sleep 0.5; echo web-done >> order.txt; exit 0' TERM; while :; do sleep 0.05; done\n    depends_on: [db]\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let r = p.run(&["down", "db", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert_eq!(
        p.read("order.txt").lines().collect::<Vec<_>>(),
        ["web-term", "web-done", "db-term"]
    );
}

#[test]
fn restart_of_a_task_waiting_for_its_dependency_keeps_it_waiting() {
    let p = Project::new(
        "tasks:\n  db:\n    cmd: exec sleep 300\n    health: { cmd: 'test -f ready', interval: 100ms, start_period: 5m }\n  web:\n    cmd: echo web-started >> runs.txt; exec sleep 300\n    depends_on: { db: healthy }\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    wait_state(&p, "web", "PENDING");
    let r = p.run(&["restart", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert_eq!(task_status(&p, "web")["status"], "PENDING");
    assert!(
        !p.file("runs.txt").exists(),
        "web must not start before db is healthy"
    );
    p.write("ready", "");
    wait_state(&p, "web", "UP");
}

#[test]
fn down_that_gets_no_answer_checks_what_the_supervisor_left() {
    // t ignores SIGTERM, so the down waits for its stop_timeout: the supervisor is killed
    // while the down is under way and never answers.
    let p = Project::new(
        "tasks:\n  t:\n    cmd: trap '' TERM; echo $$ > t.pid; while :; do sleep 0.1; done\n    stop_timeout: 60s\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let pid = p.wait_pid("t.pid");
    let mut down = p.spawn(&["down"]);
    assert!(
        eventually(DEADLINE, || p
            .read(".bts/supervisor.log")
            .contains("bts down: stopping all tasks")),
        "the down never reached the supervisor:\n{}",
        p.read(".bts/supervisor.log")
    );
    kill_supervisor(&p);
    let status = down
        .wait_exit(DEADLINE)
        .unwrap_or_else(|| panic!("down did not finish:\n{}", down.output()));
    assert!(
        !down.stdout().contains("nothing was running"),
        "{}",
        down.output()
    );
    assert!(
        down.stderr().contains("exited without answering"),
        "{}",
        down.output()
    );
    assert_eq!(status.code(), Some(0), "{}", down.output());
    assert!(eventually(DEADLINE, || !alive(pid)));
}

/// The control server, in-process on one thread: an answer handed to a connection is
/// written before the server closes, even when the shutdown comes right after it, and
/// an idle connection does not hold the shutdown up.
#[test]
fn the_control_server_writes_the_answers_it_was_handed_before_closing() {
    use bts::control::protocol::{Request, Response};
    use bts::control::{client, server};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = server::bind(&path).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let srv = tokio::spawn(server::serve(listener, tx, stop_rx));
        // Connected before the client, so accepted before its request arrives.
        let idle = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let p = path.clone();
        let asking = std::thread::spawn(move || {
            client::request(
                &p,
                &Request::Down {
                    tasks: vec![],
                    signal: None,
                },
                Some(Duration::from_secs(10)),
            )
        });
        let incoming = rx.recv().await.unwrap();
        assert_eq!(
            incoming.request,
            Request::Down {
                tasks: vec![],
                signal: None
            }
        );
        // Shut down and answer with no await in between: on this one thread the server
        // sees the shutdown before the connection has written anything.
        drop(rx);
        let _ = stop_tx.send(true);
        let _ = incoming.reply.send(Response {
            ok: true,
            project: "p".into(),
            ..Default::default()
        });
        let began = std::time::Instant::now();
        srv.await.unwrap();
        assert!(
            began.elapsed() < server::DRAIN,
            "an idle connection held the shutdown up"
        );
        let answer = asking
            .join()
            .unwrap()
            .expect("an answer, not a closed connection");
        assert!(answer.ok);
        assert_eq!(answer.project, "p");
        drop(idle);
    });
}
