//! Health probes, dependency conditions, declared ports and pre-flight.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn http_probe_up_then_degraded_down_and_recovered() {
    let port = free_port();
    let p = Project::new(&format!(
        r#"tasks:
  web:
    cmd: {server} --port {port} --status-file status
    health:
      http: http://127.0.0.1:{port}/healthz
      interval: 100ms
      timeout: 1s
      retries: 2
      start_period: 0s
"#,
        server = probe_server()
    ));
    p.write("status", "200");
    let mut r = p.spawn(&["up"]);
    r.wait_for("web: UP — healthy (http 200");
    p.write("status", "503");
    r.wait_for("web: DEGRADED — http 503 (1/2 failures)");
    r.wait_for("web: DOWN — http 503 (2 failures in a row)");
    p.write("status", "200");
    let out = r.wait_until("recovery to UP", |s| {
        s.matches("web: UP — healthy").count() >= 2
    });
    assert!(out.contains("web: UP — healthy (http 200"), "{out}");
}

#[test]
fn tcp_probe_healthy_and_refused() {
    let port = free_port();
    let closed = free_port();
    let p = Project::new(&format!(
        r#"tasks:
  open:
    cmd: {server} --port {port}
    health: {{ tcp: {port}, interval: 100ms }}
  closed:
    cmd: exec sleep 300
    health: {{ tcp: "127.0.0.1:{closed}", interval: 100ms, retries: 2, start_period: 0s }}
"#,
        server = probe_server()
    ));
    let mut r = p.spawn(&["up"]);
    r.wait_for("open: UP — healthy (tcp 127.0.0.1:");
    r.wait_for("closed: DEGRADED — tcp 127.0.0.1:");
    let out = r.wait_for("closed: DOWN");
    assert!(out.contains("connection refused"), "{out}");
}

#[test]
fn cmd_probe_passes_fails_and_times_out() {
    let p = Project::new(
        r#"tasks:
  flag:
    cmd: echo started; exec sleep 300
    health: { cmd: "test -f ready.flag", interval: 100ms, start_period: 0s, retries: 100 }
  slow:
    cmd: exec sleep 300
    health: { cmd: "sleep 5", timeout: 200ms, interval: 100ms, start_period: 0s }
"#,
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("flag: DEGRADED — cmd exit code 1");
    p.write("ready.flag", "");
    r.wait_for("flag: UP — healthy (cmd exit 0)");
    r.wait_for("slow: DEGRADED — cmd timed out after 200ms");
}

#[test]
fn log_probe_waits_for_the_pattern() {
    let p = Project::new(
        r#"tasks:
  server:
    cmd: echo booting; sleep 0.3; echo "server listening on :3000"; exec sleep 300
    health: { log: "listening on :\\d+" }
"#,
    );
    let mut r = p.spawn(&["up"]);
    let out = r.wait_for("server: UP — healthy (log matched: server listening on :3000)");
    let booting = out.find("server | booting").unwrap();
    assert!(out.find("server: UP").unwrap() > booting, "{out}");
}

#[test]
fn down_restarts_under_on_failure() {
    let p = Project::new(
        r#"tasks:
  sick:
    cmd: echo run >> runs.txt; exec sleep 300
    restart: on-failure
    backoff: 50ms
    max_restarts: 5
    health: { cmd: "false", interval: 50ms, retries: 2, start_period: 0s }
"#,
    );
    let mut r = p.spawn(&["up"]);
    r.wait_for("sick: RESTARTING — health check DOWN; restart #1");
    assert!(eventually(DEADLINE, || p.read("runs.txt").lines().count() >= 2));
}

#[test]
fn healthy_dependency_gates_its_dependent() {
    let port = free_port();
    let p = Project::new(&format!(
        r#"tasks:
  db:
    cmd: {server} --port {port} --delay-ms 600 --ready-file db.ready
    health: {{ tcp: {port}, interval: 5s }}
  api:
    cmd: date +%s%N > api.start; exec sleep 300
    depends_on: {{ db: healthy }}
  independent:
    cmd: date +%s%N > independent.start; exec sleep 300
"#,
        server = probe_server()
    ));
    let mut r = p.spawn(&["up"]);
    r.wait_for("api: started");
    let db_ready: u128 = wait_file(&p.file("db.ready")).trim().parse().unwrap();
    let api_start: u128 = wait_file(&p.file("api.start")).trim().parse().unwrap();
    let ind_start: u128 = wait_file(&p.file("independent.start"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        api_start >= db_ready,
        "api started {}ms before db was ready",
        (db_ready - api_start) / 1_000_000
    );
    // Independent tasks are not held back by the dependency.
    assert!(ind_start < db_ready, "independent task waited for db");
}

#[test]
fn failed_dependency_fails_its_dependents_without_running_them() {
    let p = Project::new(
        r#"tasks:
  db:
    cmd: exit 1
  api:
    cmd: touch api.ran
    depends_on: { db: healthy }
  web:
    cmd: touch web.ran
    depends_on: { api: started }
  other:
    cmd: echo other-ok
"#,
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.stdout.contains("api: FAILED — dependency db failed"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("web: FAILED — dependency api failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("other-ok"));
    assert!(!p.file("api.ran").exists() && !p.file("web.ran").exists());
}

#[test]
fn completed_condition_waits_for_exit_zero() {
    let p = Project::new(
        r#"tasks:
  migrate:
    cmd: sleep 0.3; echo migrated > migrated.txt
  app:
    cmd: cat migrated.txt
    depends_on: { migrate: completed }
"#,
    );
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("app     | migrated"), "{}", r.stdout);
}

#[test]
fn busy_port_fails_only_that_task_and_names_the_holder() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = Project::new(&format!(
        "tasks:\n  web-dev:\n    cmd: exec sleep 300\n    ports: [{port}]\n  other:\n    cmd: echo other-running; exec sleep 300\n"
    ));
    let mut r = p.spawn(&["up"]);
    let out = r.wait_for("web-dev: FAILED");
    let me = std::process::id();
    assert!(
        out.contains(&format!(
            "web-dev: FAILED — port {port} is in use by pid {me} ("
        )),
        "{out}"
    );
    assert!(
        out.contains("— stop it, or use ") && out.contains(" (free)"),
        "{out}"
    );
    r.wait_for("| other-running");
    r.wait_for("other: UP");
    drop(listener);
}

#[test]
fn quick_server_is_seen_up_long_before_its_interval() {
    let port = free_port();
    let p = Project::new(&format!(
        "tasks:\n  fast:\n    cmd: {server} --port {port} --delay-ms 50\n    health: {{ http: 'http://127.0.0.1:{port}/', interval: 30s }}\n",
        server = probe_server()
    ));
    let t0 = Instant::now();
    let mut r = p.spawn(&["up"]);
    r.wait_for("fast: UP — healthy");
    // With a 30 s interval, only the fast initial probing sees it in half of that, however
    // loaded the machine.
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
}

#[test]
fn declared_port_not_bound_degrades_the_task() {
    let port = free_port();
    let p = Project::new(&format!(
        "tasks:\n  idle:\n    cmd: echo idle; exec sleep 300\n    ports: [{port}]\n"
    ));
    let mut r = p.cmd(&["up"]).env("BTS_PORT_CHECK_AFTER", "300ms").spawn();
    r.wait_for(&format!("idle: DEGRADED — port {port} not bound"));
}
