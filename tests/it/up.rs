//! `bts up` in the foreground: output, exit codes, environment, logs, restarts, shutdown.

use std::time::{Duration, Instant};

use crate::common::*;

fn line_re() -> regex::Regex {
    regex::Regex::new(r"^\d\d:\d\d:\d\d (\S+)\s* \| (.*)$").unwrap()
}

#[test]
fn output_is_prefixed_with_time_and_padded_name() {
    let p = Project::new(
        "tasks:\n  a:\n    cmd: echo hello from a\n  longer-name:\n    cmd: echo hi\n",
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let re = line_re();
    let line = r
        .stdout
        .lines()
        .find(|l| l.ends_with("| hello from a"))
        .expect(&r.stdout);
    let caps = re.captures(line).expect(line);
    assert_eq!(&caps[1], "a");
    // Names are padded to the longest selected name, so the bars line up.
    assert!(line.contains("a           | hello from a"), "{line}");
    assert!(
        r.stdout.lines().all(|l| re.is_match(l)),
        "every line has the prefix:\n{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\x1b'), "no colour without a terminal");
    assert!(
        r.stdout.contains("bts         | a: started (pid "),
        "{}",
        r.stdout
    );
}

#[test]
fn exit_code_is_one_when_a_task_fails() {
    let p = Project::new("tasks:\n  ok:\n    cmd: 'true'\n  bad:\n    cmd: exit 3\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.stdout.contains("bad: FAILED — exited with code 3"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ok: EXITED"), "{}", r.stdout);
}

#[test]
fn selected_tasks_bring_their_dependencies_and_skip_the_rest() {
    let p = Project::new(
        "tasks:\n  db:\n    cmd: echo db-ran\n  api:\n    cmd: echo api-ran\n    depends_on: [db]\n  other:\n    cmd: echo other-ran\n  maint:\n    cmd: echo maint-ran\n    autostart: false\n",
    );
    let r = p.run(&["up", "ap*"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains("db-ran") && r.stdout.contains("api-ran"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("other-ran") && !r.stdout.contains("maint-ran"),
        "{}",
        r.stdout
    );
    // The dependency is spawned before its dependent.
    let db = r.stdout.find("db: started").unwrap();
    let api = r.stdout.find("api: started").unwrap();
    assert!(db < api, "{}", r.stdout);

    let all = p.run(&["up"]);
    assert!(
        !all.stdout.contains("maint-ran"),
        "autostart: false runs only when named:\n{}",
        all.stdout
    );
    let named = p.run(&["up", "maint"]);
    assert!(named.stdout.contains("maint-ran"), "{}", named.stdout);
}

#[test]
fn unknown_task_name_is_a_usage_error_listing_known_tasks() {
    let p = Project::new("tasks:\n  web:\n    cmd: 'true'\n  api:\n    cmd: 'true'\n");
    let r = p.run(&["up", "nope"]);
    assert_eq!(r.code(), 2);
    assert!(r.stderr.contains("no task matches `nope`"), "{}", r.stderr);
    assert!(r.stderr.contains("web, api"), "{}", r.stderr);
}

#[test]
fn task_environment_has_port_and_bts_variables() {
    // Declared ports are checked free before a start: they come from the kernel.
    let [web, api, api2] = free_ports(3)[..] else {
        unreachable!()
    };
    let p = Project::new(&format!(
        r#"name: shop
tasks:
  web-dev:
    cmd: echo "port=$PORT task=$BTS_TASK project=$BTS_PROJECT api=$BTS_PORT_API web=$BTS_PORT_WEB_DEV"
    ports: [{web}]
  api:
    cmd: echo "api port=$PORT"
    ports: [{api}, {api2}]
  plain:
    cmd: echo "plain port=${{PORT:-unset}}"
"#
    ));
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains(&format!(
            "port={web} task=web-dev project=shop api={api} web={web}"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("api port={api}")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("plain port=unset"), "{}", r.stdout);

    // A PORT from the calling environment wins (only echoed: bts checks declared ports).
    let r = p.cmd(&["up", "api"]).env("PORT", "9999").run();
    assert!(r.stdout.contains("api port=9999"), "{}", r.all());
}

#[test]
fn env_files_and_interpolation_reach_the_task() {
    let p = Project::new(
        r#"env_file: .env
env:
  GREETING: "hello ${WHO}"
  MODE: "${MODE_FROM_CALLER:-fallback}"
tasks:
  show:
    cmd: echo "greeting=$GREETING mode=$MODE secret=$FROM_FILE task=$TASK_ONLY"
    env:
      TASK_ONLY: "t-${WHO}"
"#,
    );
    p.write(".env", "WHO=world\nFROM_FILE=filevalue\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("greeting=hello world mode=fallback secret=filevalue task=t-world"),
        "{}",
        r.stdout
    );
    let r = p.cmd(&["up"]).env("MODE_FROM_CALLER", "given").run();
    assert!(r.stdout.contains("mode=given"), "{}", r.all());
}

#[test]
fn log_file_has_every_line_with_a_timestamp_and_a_gitignore() {
    let p = Project::new("tasks:\n  t:\n    cmd: printf 'one\\ntwo\\r\\n\\377bytes\\npartial'\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let log = std::fs::read(p.file(".bts/logs/t.log")).unwrap();
    let text = String::from_utf8_lossy(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ").unwrap();
    assert!(lines.iter().all(|l| ts.is_match(l)), "{text}");
    assert!(
        lines[0].ends_with(" one") && lines[1].ends_with(" two"),
        "{text}"
    );
    // Invalid UTF-8 is kept byte for byte; a last line without newline is not lost.
    assert!(log.windows(6).any(|w| w == b"\xffbytes"));
    assert!(lines[3].ends_with(" partial"));
    assert!(r.stdout.contains("t   | partial"), "{}", r.stdout);
    assert_eq!(p.read(".bts/.gitignore"), "*\n");
}

#[test]
fn log_rotates_into_gzip_files_and_keeps_log_keep() {
    let p = Project::new(
        "tasks:\n  noisy:\n    cmd: i=0; while [ $i -lt 60 ]; do seq 1 100 | sed 's/^/line-padding-padding-padding-padding /'; sleep 0.01; i=$((i+1)); done\n    log_max_kb: 4\n    log_keep: 2\n",
    );
    let r = p.run(&["up", "--output", "full"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let gz1 = p.file(".bts/logs/noisy.log.1.gz");
    assert!(gz1.exists(), "rotated file exists");
    assert!(p.file(".bts/logs/noisy.log.2.gz").exists());
    assert!(
        !p.file(".bts/logs/noisy.log.3.gz").exists(),
        "only log_keep rotations kept"
    );
    let text = gunzip(&gz1);
    assert!(text.lines().count() > 10, "{text}");
    assert!(
        text.lines().all(|l| l.contains(" line-padding")),
        "whole lines only:\n{text}"
    );
    assert!(
        std::fs::metadata(p.file(".bts/logs/noisy.log"))
            .unwrap()
            .len()
            <= 8 * 1024
    );
}

#[test]
fn crash_loop_restarts_with_backoff_then_fails() {
    let p = Project::new(
        "tasks:\n  crash:\n    cmd: echo run >> runs.txt; exit 7\n    restart: on-failure\n    backoff: 100ms\n    max_restarts: 3\n    restart_window: 1m\n",
    );
    let start = Instant::now();
    let r = p.run(&["up"]);
    let took = start.elapsed();
    assert_eq!(r.code(), 1, "{}", r.all());
    // max_restarts: 3 = at most 4 runs.
    assert_eq!(p.read("runs.txt").lines().count(), 4, "{}", r.stdout);
    assert!(r.stdout.contains("restart #1 in 100ms"), "{}", r.stdout);
    assert!(r.stdout.contains("restart #2 in 200ms"), "{}", r.stdout);
    assert!(r.stdout.contains("restart #3 in 400ms"), "{}", r.stdout);
    assert!(
        r.stdout.contains("crash: FAILED — crash loop"),
        "{}",
        r.stdout
    );
    // Backoff was really waited out (0.1 + 0.2 + 0.4 s), so no hot loop.
    assert!(took >= Duration::from_millis(700), "{took:?}");
}

#[test]
fn restart_always_restarts_clean_exits_too() {
    let p = Project::new(
        "tasks:\n  again:\n    cmd: echo run >> runs.txt\n    restart: always\n    backoff: 50ms\n    max_restarts: 2\n",
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "a crash loop is a failure:\n{}", r.all());
    assert_eq!(p.read("runs.txt").lines().count(), 3);
}

#[test]
fn sigint_stops_everything_gracefully_and_exits_zero() {
    let p = Project::new(
        "tasks:\n  a:\n    cmd: echo ready-a; exec sleep 300\n  b:\n    cmd: echo ready-b; exec sleep 300\n    depends_on: [a]\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("| ready-b");
    let pids = r.task_pids();
    assert_eq!(pids.len(), 2);
    r.signal(libc::SIGINT);
    let st = r.wait_exit(DEADLINE).expect("bts exits after SIGINT");
    assert_eq!(st.code(), Some(0), "{}", r.output());
    let out = r.stdout();
    assert!(
        out.contains("a: STOPPED") && out.contains("b: STOPPED"),
        "{out}"
    );
    // Reverse dependency order: b (the dependent) is stopped before a.
    assert!(
        out.find("b: stopping").unwrap() < out.find("a: stopping").unwrap(),
        "{out}"
    );
    assert!(pids.iter().all(|p| !alive(*p)));
}

#[test]
fn sigterm_ignoring_task_is_killed_at_stop_timeout() {
    let p = Project::new(
        "tasks:\n  stubborn:\n    cmd: trap '' TERM; echo $$ > pid; echo ready; while :; do sleep 0.05; done\n    stop_timeout: 1s\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("| ready");
    let pid = p.wait_pid("pid");
    let t0 = Instant::now();
    r.signal(libc::SIGTERM);
    r.wait_exit(DEADLINE).expect("bts exits");
    let took = t0.elapsed();
    let out = r.output();
    assert!(!alive(pid), "{out}");
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL only after stop_timeout: {took:?}\n{out}"
    );
    // The default stop_timeout is 10 s: well before it, the task's own 1 s was used.
    assert!(
        took < Duration::from_secs(8),
        "killed near stop_timeout: {took:?}\n{out}"
    );
    assert!(
        r.stdout()
            .contains("stubborn: STOPPED — stopped (killed by SIGKILL)"),
        "{}",
        r.output()
    );
}

#[test]
fn second_signal_kills_at_once() {
    let p = Project::new(
        "tasks:\n  stubborn:\n    cmd: trap '' TERM INT; echo ready; while :; do sleep 0.05; done\n    stop_timeout: 60s\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("| ready");
    r.signal(libc::SIGINT);
    r.wait_for("stubborn: stopping");
    let t0 = Instant::now();
    r.signal(libc::SIGINT);
    r.wait_exit(Duration::from_secs(45))
        .expect("bts exits after the second signal");
    // The stop_timeout is 60 s: in half of it, the kill came at once.
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert!(
        r.stdout().contains("killing every task now"),
        "{}",
        r.output()
    );
}

#[test]
fn no_grandchild_survives_a_stop() {
    let p = Project::new(
        "tasks:\n  tree:\n    cmd: sleep 300 & echo $! > gc.pid; echo ready; sleep 300\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("| ready");
    let gc = p.wait_pid("gc.pid");
    assert!(alive(gc));
    r.signal(libc::SIGINT);
    r.wait_exit(DEADLINE).expect("bts exits");
    assert!(
        eventually(DEADLINE, || !alive(gc)),
        "grandchild {gc} survived"
    );
}

#[test]
fn leftovers_of_an_exited_leader_are_stopped() {
    let p = Project::new("tasks:\n  leaky:\n    cmd: sleep 300 & echo $! > gc.pid; exit 4\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    let gc = p.wait_pid("gc.pid");
    assert!(
        !alive(gc),
        "the leader's background child must not outlive the task"
    );
}

#[test]
fn abort_on_exit_stops_the_others() {
    let p = Project::new(
        "tasks:\n  server:\n    cmd: echo up; exec sleep 300\n  tests:\n    cmd: sleep 0.3; echo tests-done; exit 0\n",
    );
    let r = p.run(&["up", "--abort-on-exit"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("server: STOPPED"), "{}", r.stdout);
    let code_from = p.run(&["up", "--exit-code-from", "tests"]);
    assert_eq!(code_from.code(), 0, "{}", code_from.all());
}

#[test]
fn exit_code_from_returns_the_task_code() {
    let p = Project::new(
        "tasks:\n  server:\n    cmd: exec sleep 300\n  tests:\n    cmd: sleep 0.2; exit 5\n",
    );
    let r = p.run(&["up", "--exit-code-from", "tests"]);
    assert_eq!(r.code(), 5, "{}", r.all());
    assert!(r.stdout.contains("server: STOPPED"), "{}", r.stdout);
}

#[cfg(target_os = "linux")]
#[test]
fn a_setsid_daemon_of_a_task_is_stopped_with_it() {
    let p = Project::new(
        "tasks:\n  db:\n    cmd: setsid sleep 300 & echo $! > daemon.pid; echo db-up; exec sleep 300\n  other:\n    cmd: exec sleep 300\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("| db-up");
    let daemon = p.wait_pid("daemon.pid");
    assert!(alive(daemon));
    r.signal(libc::SIGINT);
    r.wait_exit(DEADLINE).expect("bts exits");
    assert!(
        eventually(DEADLINE, || !alive(daemon)),
        "setsid daemon survived:\n{}",
        r.output()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn an_orphaned_setsid_daemon_is_stopped_when_its_task_exits() {
    let p = Project::new(
        "tasks:\n  launcher:\n    cmd: setsid sleep 300 & echo $! > daemon.pid; sleep 0.2; echo launched\n  keep:\n    cmd: echo keep-up; exec sleep 300\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("launcher: EXITED");
    let daemon = p.wait_pid("daemon.pid");
    // The supervisor keeps running (keep), yet the daemon its task left is gone.
    assert!(
        eventually(DEADLINE, || !alive(daemon)),
        "orphan survived:\n{}",
        r.output()
    );
}

#[test]
fn the_example_manifest_checks_clean() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bts.example.yaml");
    let p = Project::new("tasks: {}\n");
    let r = p.run(&["-f", example.to_str().unwrap(), "check"]);
    assert_eq!(r.code(), 0, "{}", r.all());
}

#[test]
fn a_manifest_error_makes_every_command_exit_two_with_location_and_hint() {
    let p = Project::new("tasks:\n  web:\n    cmd: echo hi\n    restart: sometimes\n");
    for cmd in [
        &["up"][..],
        &["status"],
        &["ps"],
        &["down"],
        &["logs"],
        &["restart", "web"],
    ] {
        let r = p.run(cmd);
        assert_eq!(r.code(), 2, "{cmd:?}: {}", r.all());
        assert!(r.stderr.contains("bts.yaml:4:"), "{cmd:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("hint") || r.stderr.contains("= help"),
            "{cmd:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
            "{}",
            r.stderr
        );
    }
    // `check` reports the same problem and exits 1.
    assert_eq!(p.run(&["check"]).code(), 1);
}

#[test]
fn exit_code_from_stops_everything_when_any_task_exits() {
    let p =
        Project::new("tasks:\n  a:\n    cmd: sleep 0.2; exit 0\n  b:\n    cmd: exec sleep 300\n");
    // b sleeps 300 s: finishing within the run's timeout means it was stopped when a
    // exited.
    let r = p.run(&["up", "--exit-code-from", "b"]);
    assert!(r.stdout.contains("b: STOPPED"), "{}", r.stdout);
    // b was stopped by SIGTERM: its code is 128 + 15.
    assert_eq!(r.code(), 143, "{}", r.all());
}
