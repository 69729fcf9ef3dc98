//! Summarized output, digests, receipts, events, archives and notes.

use std::time::Duration;

use crate::common::*;

/// Lines of `task`'s own output in a terminal transcript.
fn task_lines<'a>(out: &'a str, task: &str) -> Vec<&'a str> {
    let tag = format!(" {task} ");
    out.lines()
        .filter(|l| l.get(8..).is_some_and(|r| r.starts_with(&tag)) && l.contains(" | "))
        .collect()
}

/// Each line differs in shape from the one before (letters, not only numbers, change).
const VARIED: &str = r#"awk 'BEGIN { for (i = 1; i <= N; i++) print "item-" substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, 1) substr("qwertyuiopasdfghjklzxcvbnm", i % 13 + 1, 2) " payload"; }'"#;

fn varied(n: usize) -> String {
    VARIED.replace("N;", &format!("{n};"))
}

/// Several tasks flooding at once: one "not shown" note for all of them, naming the
/// biggest, never one per task.
#[test]
fn floods_of_several_tasks_share_one_note() {
    let names = ["w1", "w2", "w3", "w4", "w5"];
    let mut manifest = String::from("tasks:\n");
    for n in names {
        manifest.push_str(&format!(
            "  {n}:\n    cmd: |\n      {}; sleep 1.5; {}\n",
            varied(4_000),
            varied(4_000)
        ));
    }
    let p = Project::new(&manifest);
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let notes: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("not shown"))
        .collect();
    assert!(!notes.is_empty(), "{}", r.stdout);
    for n in &notes {
        assert!(n.contains(" bts "), "notes are bts's lines: {n}");
    }
    // Two bursts per task, five tasks: one note per task and burst would be ten.
    assert!(
        notes.len() <= 4,
        "{} notes:\n{}",
        notes.len(),
        notes.join("\n")
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("lines not shown: ") && n.contains("+2 more — bts logs TASK")),
        "{}",
        notes.join("\n")
    );
    for n in names {
        assert_eq!(p.read(&format!(".bts/logs/{n}.log")).lines().count(), 8_000);
    }
}

#[test]
fn a_burst_is_cut_for_the_terminal_but_fully_logged() {
    let p = Project::new(&format!(
        "tasks:\n  burst:\n    cmd: |\n      {}; echo 'error: disk full'; {}\n",
        varied(10_000),
        varied(10_000)
    ));
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let shown = task_lines(&r.stdout, "burst");
    assert!(shown.len() < 400, "{} lines shown", shown.len());
    assert!(
        r.stdout.contains("lines not shown — bts logs burst"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("burst | error: disk full"),
        "errors always show"
    );
    assert_eq!(p.read(".bts/logs/burst.log").lines().count(), 20_001);
}

#[test]
fn full_mode_shows_every_line() {
    let p = Project::new(&format!("tasks:\n  burst:\n    cmd: {}\n", varied(20_000)));
    let r = p.run(&["up", "--output", "full"]);
    assert_eq!(r.code(), 0);
    assert_eq!(task_lines(&r.stdout, "burst").len(), 20_000);
}

#[test]
fn quiet_mode_shows_only_errors_and_events() {
    let p =
        Project::new("tasks:\n  q:\n    cmd: |\n      echo hello; echo 'FATAL: boom'; echo bye\n");
    let r = p.run(&["up", "--output", "quiet"]);
    assert!(r.stdout.contains("q   | FATAL: boom"), "{}", r.stdout);
    assert!(!r.stdout.contains("q   | hello"), "{}", r.stdout);
    assert_eq!(task_lines(&r.stdout, "q").len(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("q: EXITED"));
}

#[test]
fn identical_and_similar_lines_fold() {
    let p = Project::new(
        "tasks:\n  f:\n    cmd: |\n      for i in 1 2 3 4 5 6; do echo 'waiting for db'; done\n      for i in $(seq 1 30); do echo \"GET /api/cart/$i 200 in ${i}ms\"; done\n      echo finished\n",
    );
    let r = p.run(&["up"]);
    let lines = task_lines(&r.stdout, "f");
    assert!(r.stdout.contains("f   | waiting for db\n"), "{}", r.stdout);
    assert!(r.stdout.contains("… repeated 5×"), "{}", r.stdout);
    assert!(
        r.stdout.contains("GET /api/cart/1 200 in 1ms"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("more like this"), "{}", r.stdout);
    assert!(r.stdout.contains("f   | finished"), "{}", r.stdout);
    assert!(lines.len() <= 8, "{}", r.stdout);
    assert_eq!(p.read(".bts/logs/f.log").lines().count(), 37);
}

/// Ten workers printing the same shape of line read as one: the first is shown, the
/// others go into the shared note.
#[test]
fn like_lines_of_different_tasks_fold_together() {
    let mut m = String::from("tasks:\n");
    for i in 0..5 {
        m.push_str(&format!(
            "  w{i}:\n    cmd: echo \"job {i}00{i} done in {i}ms\"; sleep 1\n"
        ));
    }
    let r = p_run(&m);
    let shown = r
        .lines()
        .filter(|l| l.contains(" done in ") && l.contains(" | job "))
        .count();
    assert_eq!(shown, 1, "{r}");
    assert!(r.contains("not shown"), "{r}");
}

fn p_run(manifest: &str) -> String {
    let p = Project::new(manifest);
    p.run(&["up"]).stdout
}

#[test]
fn a_start_up_burst_of_sixty_lines_shows_in_full() {
    // (Two services print different lines: the same lines from two tasks fold across
    // them, see the next test.)
    let p = Project::new(&format!(
        "tasks:\n  web:\n    cmd: {}\n  db:\n    cmd: {}\n",
        varied(60),
        varied(30).replace("item-", "row-")
    ));
    let r = p.run(&["up"]);
    assert_eq!(task_lines(&r.stdout, "web").len(), 60, "{}", r.stdout);
    assert_eq!(task_lines(&r.stdout, "db ").len(), 30, "{}", r.stdout);
    assert!(!r.stdout.contains("not shown"), "{}", r.stdout);
}

#[test]
fn ten_noisy_tasks_stay_within_the_budget_and_errors_still_show() {
    let mut manifest = String::from("tasks:\n");
    for t in 0..10 {
        manifest.push_str(&format!(
            "  noisy{t}:\n    cmd: |\n      for round in 1 2 3 4 5 6 7 8 9 10 11 12; do {}; sleep 0.1; done\n      echo 'error: task {t} distinct failure'\n      for round in 1 2 3 4 5 6 7 8 9 10 11 12; do {}; sleep 0.1; done\n",
            varied(50),
            varied(50)
        ));
    }
    let p = Project::new(&manifest);
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let mut shown = 0;
    for t in 0..10 {
        let name = format!("noisy{t}");
        shown += task_lines(&r.stdout, &name).len();
        assert!(
            r.stdout
                .contains(&format!("error: task {t} distinct failure")),
            "error of {name} shown"
        );
        assert!(
            r.stdout.contains(&format!("{name}: EXITED")),
            "state change of {name} shown"
        );
        assert_eq!(
            p.read(&format!(".bts/logs/{name}.log")).lines().count(),
            1201
        );
    }
    // 12,010 lines in ~3 s: bursts (~100 a task, shared pool) plus ~20 lines/s, notes and
    // the ten error lines; well under 6 %.
    assert!(shown < 720, "{shown} of 12,010 lines shown");
}

#[test]
fn json_output_is_one_object_a_line() {
    let p = Project::new("tasks:\n  j:\n    cmd: |\n      echo hello; echo 'error: x' >&2\n");
    let r = p.run(&["up", "--json"]);
    assert_eq!(r.code(), 0);
    let objs: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(objs
        .iter()
        .any(|o| o["task"] == "j" && o["line"] == "hello" && o["time"].is_string()));
    assert!(objs
        .iter()
        .any(|o| o["task"] == "j" && o["kind"] == "error"));
    assert!(objs
        .iter()
        .any(|o| o["task"] == "bts" && o["kind"] == "event"));
    assert!(
        objs.iter()
            .any(|o| o["kind"] == "event" && o["subject"] == "j" && o["state"] == "EXITED"),
        "state changes carry the task and state"
    );
}

#[test]
fn digests_events_receipts_and_archives() {
    let port = free_port();
    let p = Project::new(&format!(
        r#"tasks:
  web:
    cmd: {server} --port {port} --say "web ready"
    ports: [{port}]
    health: {{ http: "http://127.0.0.1:{port}/", interval: 200ms }}
  job:
    cmd: |
      echo 'warning: cache cold'; echo 'error: bad row 7'; echo done
"#,
        server = probe_server()
    ));
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    assert!(eventually(DEADLINE, || p
        .file(".bts/digests/web.json")
        .exists()
        && p.file(".bts/digest.json").exists()));
    let web: serde_json::Value = serde_json::from_str(&p.read(".bts/digests/web.json")).unwrap();
    for f in [
        "task",
        "status",
        "pid",
        "ports",
        "uptime",
        "restarts",
        "health",
        "cpu_percent",
        "rss_bytes",
        "errors",
        "warnings",
        "recent",
        "last_error",
        "next_action",
        "log_path",
    ] {
        assert!(web.get(f).is_some(), "digest field {f}: {web}");
    }
    assert_eq!(web["health"]["status"], "healthy");
    assert!(
        web["recent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "web ready"),
        "{web}"
    );
    let job = wait_state(&p, "job", "EXITED");
    assert_eq!(job["errors"], 1);
    assert_eq!(job["warnings"], 1);
    assert_eq!(job["recent"][0], "error: bad row 7", "errors first: {job}");
    assert_eq!(job["last_error"]["line"], "error: bad row 7");
    // Text status: at most ~15 lines a task.
    let status = p.run(&["status", "web"]);
    assert!(
        status
            .stdout
            .starts_with(&format!("[TASK: web] UP | Port: {port}")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("Health: healthy (http 200"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.lines().count() <= 15);
    // Resource usage shows up in ps once sampled.
    assert!(eventually(DEADLINE, || task_status(&p, "web")["rss_bytes"]
        .as_u64()
        .unwrap_or(0)
        > 0));

    let down = p.run(&["down", "--json"]);
    assert_eq!(down.code(), 0, "{}", down.all());
    let doc: serde_json::Value = serde_json::from_str(down.stdout.trim()).unwrap();
    let receipt = find_task(&doc, "web");
    for f in [
        "task",
        "exit_code",
        "signal",
        "runtime",
        "final_summary",
        "log_archive",
    ] {
        assert!(receipt.get(f).is_some(), "receipt field {f}: {receipt}");
    }
    let archive = std::path::PathBuf::from(receipt["log_archive"].as_str().unwrap());
    assert!(gunzip(&archive).contains("web ready"));

    let events: Vec<serde_json::Value> = p
        .read(".bts/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let start = events
        .iter()
        .find(|e| e["event"] == "start" && e["task"] == "web")
        .unwrap();
    for f in [
        "task",
        "pid",
        "pgid",
        "cwd",
        "command",
        "ports",
        "env_keys",
        "health",
        "log_path",
        "started_at",
    ] {
        assert!(start.get(f).is_some(), "start receipt field {f}: {start}");
    }
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["task"] == "web" && e["to"] == "UP"));
    assert!(events
        .iter()
        .any(|e| e["event"] == "stop" && e["task"] == "web"));
}

#[test]
fn archive_logs_gzips_and_starts_afresh() {
    let p = Project::new("tasks:\n  t:\n    cmd: echo first-line; exec sleep 300\n");
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/t.log")
        .contains("first-line")));
    let r = p.run(&["archive-logs", "t"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let path = std::path::PathBuf::from(r.stdout.trim());
    assert!(path.starts_with(p.file(".bts/archive")), "{}", r.stdout);
    assert!(gunzip(&path).contains("first-line"));
    assert_eq!(p.read(".bts/logs/t.log"), "", "a fresh log");
}

#[test]
fn notes_section_is_kept_current_and_the_rest_untouched() {
    let port = free_port();
    let p = Project::new(&format!(
        "settings:\n  notes: NOTES.md\ntasks:\n  web:\n    cmd: {} --port {port}\n    health: {{ http: 'http://127.0.0.1:{port}/health' }}\n",
        probe_server()
    ));
    let before = "# Team notes\n\nDo not touch this.\n\n## Background Tasks\n\n<!-- bts:begin -->\nold\n<!-- bts:end -->\n\n## Later\ntrailing text  \n";
    p.write("NOTES.md", before);
    let mut r = p.spawn(&["up"]);
    r.wait_for("web: UP");
    assert!(eventually(DEADLINE, || p
        .read("NOTES.md")
        .contains("| web | UP |")));
    let notes = p.read("NOTES.md");
    assert!(notes.starts_with(
        "# Team notes\n\nDo not touch this.\n\n## Background Tasks\n\n<!-- bts:begin -->\n"
    ));
    assert!(
        notes.ends_with("<!-- bts:end -->\n\n## Later\ntrailing text  \n"),
        "{notes}"
    );
    assert!(
        notes.contains(&format!("http://127.0.0.1:{port}/health")),
        "{notes}"
    );
    assert!(!notes.contains("\nold\n"));
}

#[test]
fn periodic_digest_block_appears() {
    let p = Project::new("settings:\n  digest_interval: 1s\ntasks:\n  w:\n    cmd: |\n      echo 'error: once'; exec sleep 300\n");
    let mut r = p.spawn(&["up"]);
    let out = r.wait_for("[TASK: w] UP");
    assert!(out.contains("digest of 1 tasks"), "{out}");
    assert!(out.contains("Errors: 1 | Warnings: 0"), "{out}");
}

#[test]
fn a_stalled_terminal_never_stalls_a_task() {
    let p = Project::new(&format!(
        "tasks:\n  chatty:\n    cmd: {}; touch finished; exec sleep 300\n    log_max_kb: 100000\n",
        varied(100_000)
    ));
    // stdout is a pipe nobody reads: it fills after 64 KiB.
    let mut up = p.cmd(&["up", "--output", "full"]).stdout_unread().spawn();
    let finished = eventually(Duration::from_secs(60), || p.file("finished").exists());
    let mut log_lines = 0;
    eventually(DEADLINE, || {
        log_lines = p.read(".bts/logs/chatty.log").lines().count();
        log_lines == 100_000
    });
    up.signal(libc::SIGTERM);
    let exited = up.wait_exit(DEADLINE).is_some();
    drop(up);
    assert!(finished, "the task was blocked by the terminal");
    assert_eq!(log_lines, 100_000);
    assert!(exited, "bts exits although its stdout is stalled");
}

#[test]
fn logs_errors_shows_the_last_error_lines() {
    let p = Project::new(
        "tasks:\n  t:\n    cmd: |\n      echo 'error: one'; echo fine; echo 'error: two'; echo 'warning: meh'; echo 'error: three'; echo done\n",
    );
    assert_eq!(p.run(&["up"]).code(), 0);
    let r = p.run(&["logs", "t", "--errors", "-n", "2"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].ends_with("error: two") && lines[1].ends_with("error: three"),
        "{}",
        r.stdout
    );
}

#[test]
fn logs_follow_keeps_every_line_across_rotations() {
    let p = Project::new(
        "tasks:\n  gen:\n    cmd: |\n      echo ready; while [ ! -f go ]; do sleep 0.05; done\n      i=1; while [ $i -le 6000 ]; do echo \"line $i\"; i=$((i+1)); done; exec sleep 300\n    log_max_kb: 16\n    log_keep: 50\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/gen.log")
        .contains("ready")));
    let mut f = p.spawn(&["logs", "gen", "-f", "-n", "1"]);
    // The follower is running once it has shown the last line; then the flood starts.
    f.wait_for(" ready");
    p.write("go", "");
    let out = f.wait_until("6000 followed lines", |s| s.lines().count() >= 6001);
    let nums: Vec<u32> = out
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    let first_wrong = nums.iter().enumerate().find(|(i, n)| **n != *i as u32 + 1);
    assert!(
        nums.len() == 6000 && first_wrong.is_none(),
        "every line once, in order: {} lines, first wrong at {first_wrong:?}",
        nums.len()
    );
    assert!(
        p.file(".bts/logs/gen.log.3.gz").exists(),
        "the log did rotate"
    );
}
