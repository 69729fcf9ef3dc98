//! Secrets never leak; destructive tasks never run without approval.

use crate::common::*;

const TOKEN: &str = "ghs_abcdefghijklmnopqrstuvwxyz0123456789AB";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9abcdefghijkl";
const PASS: &str = "secretpass";

fn leaks(text: &str) -> Vec<&'static str> {
    [TOKEN, AWS, BEARER, PASS, "hunter2hunter2"]
        .into_iter()
        .filter(|s| text.contains(s))
        .collect()
}

#[test]
fn secrets_are_redacted_everywhere_bts_writes() {
    let p = Project::new(&format!(
        r#"env:
  API_TOKEN: "{TOKEN}"
  DB_PASSWORD: hunter2hunter2
  PUBLIC_URL: "http://127.0.0.1:3000/visible-value"
tasks:
  leaky:
    cmd: |
      echo "token=$API_TOKEN"
      echo "aws={AWS}"
      echo "auth: Bearer {BEARER}"
      echo "db=postgres://u:{PASS}@127.0.0.1/shop pw=$DB_PASSWORD"
      echo "public=$PUBLIC_URL"
      i=0; while [ $i -lt 40 ]; do echo "filler line $i token=$API_TOKEN"; i=$((i+1)); done
      echo ready
      exec sleep 300
    log_max_kb: 1
    log_keep: 5
"#
    ));
    let mut r = p.spawn(&["up", "--output", "full"]);
    r.wait_for("| ready");
    let status = p.run(&["status", "--json"]);
    let logs = p.run(&["logs", "leaky", "-n", "100"]);
    r.signal(libc::SIGINT);
    r.wait_exit(DEADLINE).expect("bts exits");
    let terminal = r.stdout();

    assert!(terminal.contains("token=****"), "{terminal}");
    assert!(terminal.contains("auth: Bearer ****"), "{terminal}");
    assert!(
        terminal.contains("postgres://u:****@127.0.0.1/shop"),
        "{terminal}"
    );
    assert!(
        terminal.contains("public=http://127.0.0.1:3000/visible-value"),
        "public values stay visible"
    );
    assert_eq!(leaks(&terminal), Vec::<&str>::new(), "terminal");
    assert_eq!(leaks(&logs.stdout), Vec::<&str>::new(), "bts logs");
    assert_eq!(leaks(&status.stdout), Vec::<&str>::new(), "status --json");

    let logs_dir = p.file(".bts/logs");
    let mut saw_gz = false;
    for e in std::fs::read_dir(&logs_dir).unwrap().flatten() {
        let path = e.path();
        let text = if path.extension().is_some_and(|x| x == "gz") {
            saw_gz = true;
            gunzip(&path)
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        assert_eq!(leaks(&text), Vec::<&str>::new(), "{}", path.display());
    }
    assert!(saw_gz, "the log rotated");
    let archives: Vec<_> = std::fs::read_dir(p.file(".bts/archive"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!archives.is_empty());
    for a in archives {
        let text = gunzip(&a.path());
        assert!(text.contains("ready"));
        assert_eq!(leaks(&text), Vec::<&str>::new(), "archive");
    }
    let events = p.read(".bts/events.jsonl");
    assert_eq!(leaks(&events), Vec::<&str>::new(), "events.jsonl");
    // Receipts list the keys, and values only for public keys.
    assert!(
        events.contains("\"API_TOKEN\"") && events.contains("\"DB_PASSWORD\""),
        "{events}"
    );
    assert!(events.contains("visible-value"), "{events}");
    assert_eq!(leaks(&p.read(".bts/state.json")), Vec::<&str>::new());
}

#[test]
fn destructive_task_is_blocked_without_approval_while_others_run() {
    let p = Project::new(
        r#"tasks:
  web:
    cmd: echo web-running; exec sleep 300
  migrate:
    cmd: touch migrated; echo migrating
    destructive: true
"#,
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("migrate: BLOCKED — approve with: bts up --confirm migrate");
    r.wait_for("| web-running");
    assert!(!p.file("migrated").exists());
    // Approving through the running supervisor starts it.
    let approve = p.run(&["up", "--confirm", "migrate"]);
    assert_eq!(approve.code(), 0, "{}", approve.all());
    assert!(
        approve.stdout.contains("starting migrate"),
        "{}",
        approve.stdout
    );
    r.wait_for("migrate: EXITED");
    assert!(p.file("migrated").exists());
    let audit = p.read(".bts/audit.log");
    assert!(
        audit.contains("\"event\":\"approved\"") && audit.contains("\"task\":\"migrate\""),
        "{audit}"
    );
    assert!(audit.contains("\"event\":\"result\""), "{audit}");
}

#[test]
fn blocked_destructive_task_makes_up_exit_one() {
    let p = Project::new("tasks:\n  drop-db:\n    cmd: touch dropped\n    destructive: true\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stdout.contains("drop-db: BLOCKED"), "{}", r.stdout);
    assert!(!p.file("dropped").exists());
}

#[test]
fn confirmed_task_runs_after_its_checkpoint_and_is_audited() {
    let p = Project::new(
        r#"tasks:
  migrate:
    cmd: echo migrating; touch migrated
    destructive: true
    checkpoint: echo backing up; touch backup.sql
"#,
    );
    let r = p.run(&["up", "--confirm", "migrate"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(p.file("backup.sql").exists() && p.file("migrated").exists());
    assert!(
        r.stdout.contains("migrate | backing up"),
        "checkpoint output shown: {}",
        r.stdout
    );
    let log = p.read(".bts/logs/migrate.log");
    assert!(
        log.contains("backing up") && log.contains("migrating"),
        "{log}"
    );
    let audit = p.read(".bts/audit.log");
    let kinds: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["approved", "checkpoint", "result"], "{audit}");
    assert!(audit.contains("\"how\":\"--confirm\""), "{audit}");
    assert!(audit.contains("\"exit_code\":0"), "{audit}");
}

#[test]
fn failing_checkpoint_means_the_task_never_runs() {
    let p = Project::new(
        "tasks:\n  migrate:\n    cmd: touch migrated\n    destructive: true\n    checkpoint: echo no space left; exit 4\n",
    );
    let r = p.run(&["up", "--yes"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("migrate: FAILED — checkpoint failed (exited with code 4)"),
        "{}",
        r.stdout
    );
    assert!(!p.file("migrated").exists());
    assert!(p.read(".bts/audit.log").contains("\"exit_code\":4"));
}

#[test]
fn approved_destructive_task_is_never_restarted() {
    let p = Project::new(
        "tasks:\n  migrate:\n    cmd: echo run >> runs.txt; exit 1\n    destructive: true\n    restart: always\n    backoff: 10ms\n",
    );
    let r = p.run(&["up", "--yes"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert_eq!(p.read("runs.txt").lines().count(), 1);
    assert!(r.stdout.contains("migrate: FAILED"), "{}", r.stdout);
}

#[test]
fn restarting_a_destructive_task_needs_approval_again() {
    let p = Project::new(
        "tasks:\n  seed:\n    cmd: echo run >> runs.txt; exec sleep 300\n    destructive: true\n",
    );
    let mut r = p.spawn(&["up", "--yes"]);
    r.wait_for("seed: UP");
    let refused = p.run(&["restart", "seed"]);
    assert_eq!(refused.code(), 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("needs approval"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("bts restart seed --confirm seed"),
        "{}",
        refused.stderr
    );
    let ok = p.run(&["restart", "seed", "--confirm", "seed"]);
    assert_eq!(ok.code(), 0, "{}", ok.all());
    assert!(eventually(DEADLINE, || p.read("runs.txt").lines().count() == 2));
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_log_write_degrades_the_task_but_keeps_it_running() {
    let p = Project::new("tasks:\n  t:\n    cmd: while true; do echo tick; sleep 0.1; done\n  other:\n    cmd: exec sleep 300\n");
    std::fs::create_dir_all(p.file(".bts/logs")).unwrap();
    // Every write to /dev/full fails with ENOSPC: a full disk.
    std::os::unix::fs::symlink("/dev/full", p.file(".bts/logs/t.log")).unwrap();
    let mut r = p.spawn(&["up", "--output", "full"]);
    let out = r.wait_for("t: DEGRADED — log write failed");
    assert!(out.contains("No space left on device"), "{out}");
    // The task keeps running, and the terminal still gets its output: ticks go on.
    let ticks = |s: &str| s.matches("| tick").count();
    let before = ticks(&out);
    r.wait_until("three more ticks", |s| ticks(s) >= before + 3);
    let pid = task_status(&p, "t")["pid"].as_i64().expect("t's pid") as i32;
    assert!(alive(pid), "the task keeps running");
    r.wait_for("other: UP");
    r.signal(libc::SIGINT);
    assert!(
        r.wait_exit(DEADLINE).is_some(),
        "a broken log does not hang the stop: {}",
        r.output()
    );
}

#[test]
fn dependents_of_a_blocked_task_wait_for_its_approval() {
    let p = Project::new(
        "tasks:\n  migrate:\n    cmd: touch migrated\n    destructive: true\n  app:\n    cmd: echo app-ran; exec sleep 300\n    depends_on: { migrate: completed }\n  web:\n    cmd: exec sleep 300\n",
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("migrate: BLOCKED");
    r.wait_for("web: UP");
    let app = task_status(&p, "app");
    assert_eq!(app["status"], "PENDING", "{app}");
    assert!(
        app["detail"]
            .as_str()
            .unwrap()
            .contains("approval of migrate"),
        "{app}"
    );
    assert_eq!(p.run(&["up", "--confirm", "migrate"]).code(), 0);
    r.wait_for("| app-ran");
}
