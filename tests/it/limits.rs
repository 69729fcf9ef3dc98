//! Resource limits enforced by the usage sampler (docs/behaviour.md#resource-limits): a
//! task that grows its memory is warned at 80 % and restarted (or stopped) over
//! `max_memory`; a CPU spinner over `max_cpu` for the window is warned or stopped. The
//! reason is in `status --json`, events.jsonl and the supervisor's output.

use crate::common::*;

fn hog(args: &str) -> String {
    format!("{} {args}", example_bin("hog").display())
}

/// The `limit` records of events.jsonl.
fn limit_events(p: &Project) -> Vec<serde_json::Value> {
    p.read(".bts/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "limit")
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn memory_over_the_limit_is_warned_then_restarted_with_the_reason() {
    // 8 MB every 150 ms: near 80 % of 64 MB (~52 MB) for a few samples, then over.
    let p = Project::new(&format!(
        "tasks:\n  leak:\n    cmd: exec {}\n    max_memory: 64MB\n    max_restarts: 10\n",
        hog("memory 8 300")
    ));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let mut last = serde_json::Value::Null;
    let ok = eventually(std::time::Duration::from_secs(30), || {
        last = task_status(&p, "leak");
        last["restarts"].as_u64().unwrap_or(0) >= 1
    });
    assert!(ok, "never restarted: {last:#}");
    let passed = &last["limits"]["last_exceeded"];
    let what = passed["what"].as_str().unwrap_or_default();
    assert!(
        what.starts_with("memory limit 64 MB exceeded (rss "),
        "{last:#}"
    );
    assert_eq!(passed["action"], "restart", "{last:#}");
    assert_eq!(last["limits"]["max_memory_bytes"], 64 << 20);
    let events = limit_events(&p);
    assert!(
        events
            .iter()
            .any(|e| e["task"] == "leak" && e["limit"] == "memory" && e["action"] == "restart"),
        "{events:?}\n{}",
        p.read(".bts/events.jsonl")
    );
    let log = p.read(".bts/supervisor.log");
    assert!(log.contains("leak uses "), "the 80 % warning: {log}");
    assert!(
        log.contains("leak: memory limit 64 MB exceeded (rss ")
            && log.contains("restarting it (on_limit: restart)"),
        "{log}"
    );
    // The text digest says it too.
    let text = p.run(&["status", "leak"]);
    assert!(
        text.stdout
            .contains("Last limit: memory limit 64 MB exceeded"),
        "{}",
        text.all()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn on_limit_stop_fails_the_task_and_says_which_limit() {
    let p = Project::new(&format!(
        "tasks:\n  leak:\n    cmd: exec {}\n    max_memory: 48MB\n    on_limit: stop\n    restart: always\n",
        hog("memory 16 200")
    ));
    let up = p.run(&["up", "--wait"]);
    let _guard = DaemonGuard { project: &p };
    // It may pass its limit before `--wait` has its answer: then the answer says so.
    match up.code() {
        0 => {}
        1 => assert!(
            up.all().contains("memory limit 48 MB exceeded"),
            "{}",
            up.all()
        ),
        _ => panic!("{}", up.all()),
    }
    let d = wait_state(&p, "leak", "FAILED");
    let detail = d["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("memory limit 48 MB exceeded (rss "),
        "{d:#}"
    );
    assert_eq!(d["restarts"], 0, "stopped, not restarted: {d:#}");
    assert!(
        d["next_action"]
            .as_str()
            .is_some_and(|n| n.contains("raise `max_memory`")),
        "{d:#}"
    );
    assert!(d["pid"].is_null(), "{d:#}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_cpu_spinner_is_warned_and_with_on_limit_stop_stopped() {
    let p = Project::new(&format!(
        "settings:\n  cpu_window: 2s\ntasks:\n  spin:\n    cmd: exec {h}\n    max_cpu: 40%\n  stopped:\n    cmd: exec {h}\n    max_cpu: 40%\n    on_limit: stop\n",
        h = hog("cpu")
    ));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let d = wait_state(&p, "stopped", "FAILED");
    let detail = d["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("CPU limit 40% exceeded ("), "{d:#}");
    // The default for CPU is a warning: the spinner keeps running, the digest says it.
    let mut spin = serde_json::Value::Null;
    let warned = eventually(std::time::Duration::from_secs(20), || {
        spin = task_status(&p, "spin");
        spin["limits"]["last_exceeded"]["action"] == "warn"
    });
    assert!(warned, "{spin:#}");
    assert_eq!(spin["status"], "UP", "{spin:#}");
    let log = p.read(".bts/supervisor.log");
    assert!(log.contains("spin: CPU limit 40% exceeded ("), "{log}");
    assert!(log.contains("(on_limit: warn)"), "{log}");
}

/// `settings.max_disk`: over the budget, the oldest archives go first; the current log
/// and the audit log stay; the removal is an event; `status` shows the size near it.
#[test]
fn the_disk_budget_prunes_the_oldest_archives_and_keeps_current_logs() {
    let p = Project::new(&format!(
        "settings:\n  max_disk: 1MB\ntasks:\n{}",
        sleeping("web")
    ));
    let kb400 = vec![7u8; 400 * 1024];
    let now = std::time::SystemTime::now();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let path = p.file(&format!(".bts/archive/web-{name}.log.gz"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &kb400).unwrap();
        let age = std::time::Duration::from_secs(3600 * (4 - i as u64));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(now - age)
            .unwrap();
    }
    p.write(".bts/audit.log", &"x".repeat(100 * 1024));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let mut events = String::new();
    let pruned = eventually(DEADLINE, || {
        events = p.read(".bts/events.jsonl");
        events.contains("\"event\":\"prune\"")
    });
    assert!(pruned, "{events}");
    let exists = |n: &str| p.file(&format!(".bts/archive/web-{n}.log.gz")).exists();
    assert!(!exists("a") && !exists("b"), "the two oldest go");
    assert!(exists("c") && exists("d"), "no more than needed");
    assert!(p.file(".bts/audit.log").exists() && p.file(".bts/logs/web.log").exists());
    let line = events.lines().find(|l| l.contains("\"prune\"")).unwrap();
    assert!(
        line.contains("web-a.log.gz") && line.contains("web-b.log.gz"),
        "{line}"
    );
    let log = p.read(".bts/supervisor.log");
    assert!(
        log.contains(
            "state dir over its 1 MB budget (settings.max_disk): removed the 2 oldest archives"
        ),
        "{log}"
    );
    // About 0.9 MB of 1 MB: status says so, in text and JSON.
    let text = p.run(&["status"]);
    assert!(text.stdout.contains("Disk: .bts uses "), "{}", text.all());
    assert!(text.stdout.contains("of its 1 MB budget"), "{}", text.all());
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["disk"]["max_disk_bytes"], 1 << 20);
}

/// The mode in force is said once, at the first run with limits. With a writable,
/// delegated cgroup v2 subtree (bts started by `systemd-run --user --scope -p
/// Delegate=yes`, a service with `Delegate=yes`), the run sits in a cgroup of its own
/// and the kernel's OOM kill is reported as such; elsewhere the message says why not.
#[cfg(target_os = "linux")]
#[test]
fn the_limit_mode_is_said_and_the_kernel_path_is_used_where_it_can_be() {
    let p = Project::new(&format!(
        "tasks:\n  leak:\n    cmd: exec {}\n    max_memory: 48MB\n    on_limit: stop\n",
        hog("memory 16 300")
    ));
    let up = p.run(&["up", "--wait"]);
    let _guard = DaemonGuard { project: &p };
    assert!(matches!(up.code(), 0 | 1), "{}", up.all());
    let mut log = String::new();
    assert!(
        eventually(DEADLINE, || {
            log = p.read(".bts/supervisor.log");
            log.contains("limits: ")
        }),
        "{log}"
    );
    let d = wait_state(&p, "leak", "FAILED");
    let detail = d["detail"].as_str().unwrap_or_default().to_string();
    if log.contains("limits: enforced by the kernel (cgroup v2 under ") {
        assert!(
            detail == "memory limit 48 MB reached: killed by the kernel (OOM)"
                || detail.starts_with("memory limit 48 MB exceeded"),
            "{d:#}"
        );
    } else {
        assert!(
            log.contains("limits: sampled every second (no kernel enforcement: "),
            "{log}"
        );
        eprintln!(
            "skipped the cgroup v2 path: no writable delegated subtree here ({})",
            log.lines()
                .find(|l| l.contains("limits: sampled"))
                .unwrap_or_default()
        );
        assert!(
            detail.starts_with("memory limit 48 MB exceeded (rss "),
            "{d:#}"
        );
    }
}

/// `bts check` locates a bad limit in the file, with a hint.
#[test]
fn check_locates_bad_limits() {
    let p = Project::new(
        "tasks:\n  web:\n    cmd: exec sleep 300\n    max_memory: 512\n    max_cpu: 0%\n",
    );
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    let all = r.all();
    assert!(
        all.contains("`512` has no unit") && all.contains("bts.yaml:4:17"),
        "{all}"
    );
    assert!(
        all.contains("is 0%, outside 1%–") && all.contains("bts.yaml:5:14"),
        "{all}"
    );
    assert!(all.contains("use a size like `512MB`"), "{all}");
}
