//! `bts run`: ad-hoc tasks from the command line — started with a background supervisor
//! when none runs, managed by name like manifest tasks, kept across a second `bts up`,
//! refused when they clash, and saved into bts.yaml byte for byte.

use crate::common::*;

fn server() -> String {
    example_bin("probe_server").display().to_string()
}

/// A project without a bts.yaml (the state dir is `.bts` here).
fn bare() -> Project {
    let p = Project::new("tasks:\n  placeholder:\n    cmd: exec sleep 300\n");
    std::fs::remove_file(p.file("bts.yaml")).unwrap();
    p
}

#[test]
fn an_adhoc_server_runs_and_is_managed_by_name() {
    let p = bare();
    let _g = DaemonGuard { project: &p };
    let port = free_port();
    let (srv, port_s, url) = (
        server(),
        port.to_string(),
        format!("http://127.0.0.1:{port}/"),
    );
    let r = p.run(&[
        "run",
        "web",
        "--port",
        &port_s,
        "--health-http",
        &url,
        "--wait",
        "--",
        &srv,
        "--port",
        &port_s,
    ]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("web: UP"), "{}", r.stdout);
    assert!(r.stdout.contains(".bts/logs/web.log"), "{}", r.stdout);
    let pid = task_status(&p, "web")["pid"].as_i64().unwrap() as i32;
    // Status, logs, restart and down know it by name.
    assert!(p.run(&["status"]).stdout.contains("web  UP"));
    assert_eq!(p.run(&["logs", "web", "-n", "5"]).code(), 0);
    let r = p.run(&["restart", "web", "--wait"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let pid2 = task_status(&p, "web")["pid"].as_i64().unwrap() as i32;
    assert_ne!(pid, pid2);
    assert!(!alive(pid));
    // Clashes are refused, naming what is there.
    let again = p.run(&["run", "web", "--", "sleep", "300"]);
    assert_eq!(again.code(), 2, "{}", again.all());
    assert!(
        again.stderr.contains("`web` already runs"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--replace"), "{}", again.stderr);
    let same = p.run(&["run", "web2", "--", &srv, "--port", &port_s]);
    assert_eq!(same.code(), 2, "{}", same.all());
    assert!(
        same.stderr.contains("`web` already runs"),
        "{}",
        same.stderr
    );
    let declared = p.run(&["run", "other", "--port", &port_s, "--", "sleep", "300"]);
    assert_eq!(declared.code(), 1, "{}", declared.all());
    assert!(
        declared.stderr.contains("is declared by task `web`"),
        "{}",
        declared.stderr
    );
    // A port something outside the stack holds: refused, naming the holder.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port().to_string();
    let busy = p.run(&["run", "other", "--port", &held_port, "--", "sleep", "300"]);
    assert_eq!(busy.code(), 1, "{}", busy.all());
    assert!(
        busy.stderr.contains(&format!("port {held_port} is in use")),
        "{}",
        busy.stderr
    );
    let dep = p.run(&[
        "run",
        "other",
        "--depends-on",
        "other",
        "--",
        "sleep",
        "300",
    ]);
    assert!(
        dep.stderr.contains("cannot depend on itself"),
        "{}",
        dep.stderr
    );
    let bad = p.run(&["run", "x", "--restart", "sometimes", "--", "sleep", "1"]);
    assert_eq!(bad.code(), 2, "{}", bad.all());
    assert!(bad.stderr.contains("--restart"), "{}", bad.stderr);
    // --replace swaps it.
    let r = p.run(&[
        "run",
        "--replace",
        "web",
        "--port",
        &port_s,
        "--",
        &srv,
        "--port",
        &port_s,
    ]);
    assert_eq!(r.code(), 0, "{}", r.all());
    // --replace also swaps a task that runs the same command under another name.
    let r = p.run(&[
        "run",
        "--replace",
        "web2",
        "--port",
        &port_s,
        "--",
        &srv,
        "--port",
        &port_s,
    ]);
    assert_eq!(r.code(), 0, "{}", r.all());
    wait_state(&p, "web", "STOPPED");
    assert!(!p.file(".bts/adhoc/web.yaml").exists());
    let r = p.run(&["down", "web2"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("web2: stopped"), "{}", r.stdout);
    assert!(
        !p.file(".bts/adhoc/web.yaml").exists(),
        "a downed ad-hoc task is forgotten"
    );
}

#[test]
fn adhoc_tasks_survive_a_second_up_of_the_manifest() {
    let p = Project::new("tasks:\n  api:\n    cmd: exec sleep 300\n");
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let r = p.run(&["run", "worker", "--", "sleep", "300"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let worker = wait_state(&p, "worker", "UP")["pid"].as_i64().unwrap();
    p.write("bts.yaml", "tasks:\n  api:\n    cmd: exec sleep 301\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(!r.stdout.contains("worker"), "{}", r.stdout);
    assert_eq!(task_status(&p, "worker")["pid"].as_i64().unwrap(), worker);
    assert_eq!(task_status(&p, "worker")["status"], "UP");
}

#[test]
fn save_adds_the_task_to_bts_yaml_and_nothing_else() {
    let original = "# The shop.\nname: shop   # project name\n\ntasks:\n  api:    # the API\n    cmd: 'exec sleep 300'\n\n# end of tasks\nsettings:\n  output: full\n";
    let p = Project::new(original);
    let _g = DaemonGuard { project: &p };
    let r = p.run(&["run", "web", "--save", "--env", "A=1", "--", "sleep", "300"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let saved = p.read("bts.yaml");
    let (before, after) = original.split_once("\n# end of tasks").unwrap();
    assert!(saved.starts_with(before), "{saved}");
    assert!(
        saved.ends_with(&format!("\n# end of tasks{after}")),
        "{saved}"
    );
    let added = &saved[before.len()..saved.len() - after.len() - "\n# end of tasks".len()];
    assert!(added.starts_with("  web:\n    cmd: sleep\n"), "{added:?}");
    assert!(
        !added.contains("cwd"),
        "cwd is the manifest's dir: {added:?}"
    );
    assert_eq!(p.run(&["check"]).code(), 0, "the manifest stays valid");
}
