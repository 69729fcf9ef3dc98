//! What happens around a supervisor that is gone: a pid recorded in state.json that now
//! belongs to another process is never signalled, the leftovers of a supervisor killed
//! with its watchdog are stopped by the next `bts up` / `bts down`, and the commands
//! that race with a supervisor's exit (or follow its kill -9) answer.

use crate::common::extra::*;
use crate::common::*;

const ONE_SHOT: &str = "tasks:\n  a:\n    cmd: 'true'\n";

/// A state.json left by a dead supervisor that recorded task `a` as `victim`'s pid and
/// group with another start time: the pid has since been reused by `victim`. Its recorded
/// escapee is `victim` with a wrong start time too.
fn write_reused_state(p: &Project, victim: &Owned) {
    std::fs::create_dir_all(p.file(".bts")).unwrap();
    let rec = serde_json::json!({
        "state": "UP", "pid": victim.pid, "pgid": victim.pid, "start_time": victim.start + 1,
        "ports": [], "restarts": 0, "config_hash": "", "started_at": null, "env_keys": [],
        "escapees": [[victim.pid, victim.start + 2]],
    });
    let state = serde_json::json!({
        "instance": format!("{}.1", dead_pid()), "project": "p", "manifest": p.file("bts.yaml"),
        "supervisor_pid": dead_pid(), "supervisor_start": 1, "socket": p.file(".bts/bts.sock"),
        "started_at": "", "updated_at": "", "tasks": { "a": rec },
    });
    p.write(".bts/state.json", &state.to_string());
}

/// Guards "a reused pid is never signalled" (docs/behaviour.md#stopping) for each of
/// the three sweeps — `bts cleanup`, `bts down` without a supervisor and the sweep that
/// starts `bts up` — and that each says it left the process alone. Fails if a sweep
/// signals a recorded pid without comparing its start time, or reports nothing.
#[test]
fn a_reused_pid_is_never_signalled_by_any_sweep() {
    let p = Project::new(ONE_SHOT);
    let mut victim = Owned::sleep();
    let label = format!("a (pid {})", victim.pid);
    for args in [&["cleanup"][..], &["down"], &["up"]] {
        write_reused_state(&p, &victim);
        let r = p.run(args);
        assert_eq!(r.code(), 0, "bts {args:?}: {}", r.all());
        // The sweep waits a second for SIGTERM to work; a signal would have killed it.
        assert!(victim.alive(), "bts {args:?} signalled a reused pid");
        let said = r
            .stdout
            .lines()
            .find(|l| l.contains(&label))
            .unwrap_or_else(|| panic!("bts {args:?} says nothing about {label}:\n{}", r.all()));
        assert!(
            said.contains("another process") && said.contains("left alone"),
            "bts {args:?}: {said}"
        );
        assert!(!r.stdout.contains("stopped"), "bts {args:?}: {}", r.stdout);
    }
    assert!(victim.alive());
}
