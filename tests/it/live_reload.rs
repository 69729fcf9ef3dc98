//! Live reload (docs/behaviour.md#live-reload): a saved bts.yaml is applied like a second
//! `bts up` — on by default in the foreground, by `settings.reload` for a detached one.

use std::time::Duration;

use crate::common::*;

fn pid(p: &Project, task: &str) -> Option<i64> {
    task_status(p, task)["pid"].as_i64()
}

#[test]
fn a_saved_change_adds_restarts_and_stops_and_keeps_the_rest() {
    let p = Project::new(&format!(
        "settings:\n  reload: true\ntasks:\n{}{}{}",
        sleeping("keep"),
        sleeping("change"),
        sleeping("gone")
    ));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let (keep, change) = (pid(&p, "keep").unwrap(), pid(&p, "change").unwrap());
    p.write(
        "bts.yaml",
        &format!(
            "settings:\n  reload: true\ntasks:\n{}  change:\n    cmd: exec sleep 301\n{}",
            sleeping("keep"),
            sleeping("new")
        ),
    );
    let mut doc = serde_json::Value::Null;
    let applied = eventually(DEADLINE, || {
        doc = status_json(&p);
        let t = |n: &str| find_task(&doc, n);
        t("new")["status"] == "UP"
            && t("change")["status"] == "UP"
            && t("change")["pid"].as_i64().is_some_and(|x| x != change)
            && t("gone").is_null()
    });
    assert!(applied, "{doc:#}\n{}", p.read(".bts/supervisor.log"));
    assert_eq!(
        pid(&p, "keep"),
        Some(keep),
        "an unchanged task keeps its process"
    );
    let log = p.read(".bts/supervisor.log");
    assert!(log.contains("bts.yaml changed: applying it"), "{log}");

    // An invalid edit is reported with its line and changes nothing. (`bts status`
    // refuses an invalid manifest too: the state file tells the processes.)
    let pids = |p: &Project| -> Vec<(String, Option<i32>)> {
        let st = p.state().expect("state.json");
        st.tasks.iter().map(|(n, t)| (n.clone(), t.pid)).collect()
    };
    let before = pids(&p);
    p.write(
        "bts.yaml",
        "settings:\n  reload: true\ntasks:\n  keep:\n    cmd: exec sleep 300\n    restart: sometimes\n",
    );
    let mut log = String::new();
    assert!(
        eventually(DEADLINE, || {
            log = p.read(".bts/supervisor.log");
            log.contains("bts.yaml not applied, nothing changed")
        }),
        "{log}"
    );
    assert!(log.contains("bts.yaml:6:"), "file and line: {log}");
    assert!(log.contains("sometimes"), "{log}");
    assert!(
        stays(Duration::from_millis(500), || pids(&p) == before),
        "nothing changed"
    );
}

#[test]
fn a_supervisor_started_with_task_names_applies_their_changes_too() {
    let p = Project::new(&format!(
        "settings:\n  reload: true\ntasks:\n{}{}",
        sleeping("a"),
        sleeping("b")
    ));
    let up = p.run(&["up", "--wait", "a"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let before = pid(&p, "a");
    p.write(
        "bts.yaml",
        &format!(
            "settings:\n  reload: true\ntasks:\n  a:\n    cmd: exec sleep 301\n{}",
            sleeping("b")
        ),
    );
    assert!(
        eventually(DEADLINE, || pid(&p, "a").is_some_and(|x| Some(x) != before)),
        "{}",
        p.read(".bts/supervisor.log")
    );
    assert!(task_status(&p, "b")["pid"].is_null(), "b was not asked for");
}

#[test]
fn a_detached_supervisor_does_not_reload_unless_asked() {
    let p = Project::new(&sleepers(&["a"]));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    p.write("bts.yaml", &sleepers(&["a", "b"]));
    assert!(stays(Duration::from_millis(1500), || task_status(&p, "b")
        ["status"]
        .as_str()
        .is_none_or(|s| s != "UP")));
    assert!(!p
        .read(".bts/supervisor.log")
        .contains("changed: applying it"));
}

#[test]
fn the_foreground_reloads_by_default() {
    let p = Project::new(&sleepers(&["a"]));
    let mut up = p.spawn(&["up"]);
    up.wait_for("a: started");
    p.write("bts.yaml", &sleepers(&["a", "b"]));
    let out = up.wait_for("b: started");
    assert!(out.contains("bts.yaml changed: applying it"), "{out}");
    up.signal(libc::SIGINT);
}
