//! `replicas: N` (docs/behaviour.md#replicas): copies NAME.1 … NAME.N with shifted
//! ports, their own logs and restart budgets, rolling restarts and `bts scale`.

use crate::common::*;

/// A port P with P..P+n all free a moment ago on 127.0.0.1.
fn free_run(n: u16) -> u16 {
    loop {
        let p = free_port();
        if p.checked_add(n).is_none() {
            continue;
        }
        let held: Vec<_> = (0..n)
            .filter_map(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return p;
        }
    }
}

fn manifest(port: u16, extra: &str) -> String {
    format!(
        "tasks:\n  web:\n    cmd: echo \"port=$PORT replica=$BTS_REPLICA\"; exec sleep 300\n    ports: [{port}]\n    replicas: 3\n{extra}"
    )
}

fn pid(p: &Project, t: &str) -> i64 {
    task_status(p, t)["pid"].as_i64().unwrap_or(-1)
}

#[test]
fn copies_get_shifted_ports_own_logs_and_own_restart_budgets() {
    let port = free_run(4);
    let p = Project::new(&format!(
        "tasks:\n  web:\n    cmd: 'echo \"port=$PORT replica=$BTS_REPLICA\"; if [ \"$BTS_REPLICA\" = 2 ]; then exit 1; fi; exec sleep 300'\n    ports: [{port}]\n    replicas: 3\n    restart: on-failure\n    max_restarts: 1\n    backoff: 100ms\n"
    ));
    let up = p.run(&["up", "-d"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    wait_state(&p, "web.2", "FAILED");
    for (i, t) in ["web.1", "web.3"].iter().enumerate() {
        let d = wait_state(&p, t, "UP");
        assert_eq!(d["restarts"], 0, "{d:#}");
        let n = if i == 0 { 1 } else { 3 };
        let want = format!("port={} replica={n}", port + n - 1);
        assert!(
            eventually(DEADLINE, || p
                .read(&format!(".bts/logs/{t}.log"))
                .contains(&want)),
            "{t}: {}",
            p.read(&format!(".bts/logs/{t}.log"))
        );
        assert_eq!(d["ports"][0], port + n - 1);
    }
    let failed = task_status(&p, "web.2");
    assert!(
        failed["detail"].as_str().unwrap().contains("crash loop"),
        "{failed:#}"
    );
    // `status web` is every copy.
    let r = p.run(&["status", "web", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["tasks"].as_array().unwrap().len(), 3, "{doc:#}");
}

#[test]
fn restart_rolls_through_the_copies_and_scale_changes_the_count() {
    let port = free_run(5);
    let p = Project::new(&manifest(port, ""));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let before: Vec<i64> = ["web.1", "web.2", "web.3"]
        .iter()
        .map(|t| pid(&p, t))
        .collect();

    // One copy by its name.
    let r = p.run(&["restart", "web.2"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(eventually(DEADLINE, || pid(&p, "web.2") != before[1]
        && pid(&p, "web.2") > 0));
    assert_eq!((pid(&p, "web.1"), pid(&p, "web.3")), (before[0], before[2]));

    // All of them, one after another: each UP before the next starts.
    let mark = p.read(".bts/events.jsonl").lines().count();
    let r = p.run(&["restart", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let events: Vec<serde_json::Value> = p
        .read(".bts/events.jsonl")
        .lines()
        .skip(mark)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        events.iter().position(pred).unwrap_or(usize::MAX)
    };
    let start = |t: &str| at(&|e| e["event"] == "start" && e["task"] == t);
    let up = |t: &str| at(&|e| e["event"] == "state" && e["task"] == t && e["to"] == "UP");
    assert!(start("web.1") < up("web.1"), "{events:#?}");
    assert!(up("web.1") < start("web.2"), "{events:#?}");
    assert!(up("web.2") < start("web.3"), "{events:#?}");
    assert!(up("web.3") < usize::MAX, "{events:#?}");

    // Scale up: a fourth copy with the next port; down: the extra copies stop, the
    // others keep their processes.
    let r = p.run(&["scale", "web=4"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let d = wait_state(&p, "web.4", "UP");
    assert_eq!(d["ports"][0], port + 3);
    let kept = (pid(&p, "web.1"), pid(&p, "web.2"));
    let r = p.run(&["scale", "web=2"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(eventually(DEADLINE, || {
        let doc = status_json(&p);
        find_task(&doc, "web.3").is_null() && find_task(&doc, "web.4").is_null()
    }));
    assert_eq!((pid(&p, "web.1"), pid(&p, "web.2")), kept);

    let r = p.run(&["scale", "nope=2"]);
    assert_ne!(r.code(), 0);
    assert!(r.all().contains("no task `nope`"), "{}", r.all());
    let r = p.run(&["scale", "web=0"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(r.all().contains("1 to 64 copies"), "{}", r.all());
}

#[test]
fn bad_replicas_are_located_errors() {
    let port = free_run(3);
    for (bad, want) in [
        ("replicas: 0", "is 0, outside 1–64"),
        ("replicas: many", "a whole number"),
    ] {
        let p = Project::new(&format!(
            "tasks:\n  web:\n    cmd: exec sleep 300\n    {bad}\n"
        ));
        let r = p.run(&["check"]);
        assert_eq!(r.code(), 1, "{}", r.all());
        assert!(
            r.all().contains(want) && r.all().contains("bts.yaml:4:"),
            "{}",
            r.all()
        );
    }
    // web.2 takes port+1, which another task declares.
    let p = Project::new(&manifest(
        port,
        &format!(
            "  api:\n    cmd: exec sleep 300\n    ports: [{}]\n",
            port + 1
        ),
    ));
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.all().contains(&format!(
            "port {} is declared by tasks `web.2` and `api`",
            port + 1
        )),
        "{}",
        r.all()
    );
    // Each copy's tcp or http probe checks its own port.
    let p = Project::new(&format!(
        "tasks:\n  web:\n    cmd: x\n    ports: [{port}]\n    replicas: 2\n    health: {{tcp: {port}}}\n  api:\n    cmd: x\n    ports: [{}]\n    replicas: 2\n    health: {{http: 'http://127.0.0.1:{}/up'}}\n",
        port + 10,
        port + 10
    ));
    let m = bts::manifest::load_path(&p.file("bts.yaml")).unwrap();
    let probe = |t: &str| format!("{:?}", m.task(t).unwrap().health.as_ref().unwrap().probe);
    assert!(
        probe("web.2").contains(&format!("port: {}", port + 1)),
        "{}",
        probe("web.2")
    );
    assert!(
        probe("api.2").contains(&format!(":{}/up", port + 11)),
        "{}",
        probe("api.2")
    );
    assert!(
        probe("api.1").contains(&format!(":{}/up", port + 10)),
        "{}",
        probe("api.1")
    );
    // depends_on: [web] means every copy.
    let p = Project::new(&manifest(
        port,
        "  api:\n    cmd: exec sleep 300\n    depends_on: [web]\n",
    ));
    let m = bts::manifest::load_path(&p.file("bts.yaml")).unwrap();
    let deps: Vec<&str> = m
        .task("api")
        .unwrap()
        .depends_on
        .iter()
        .map(|d| d.task.as_str())
        .collect();
    assert_eq!(deps, ["web.1", "web.2", "web.3"]);
}
