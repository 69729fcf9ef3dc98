//! Destructive tasks: approval, checkpoint, audit, one approval per run.

use super::*;
use bts::lifecycle::{Audit, CheckpointResult, FailReason};

fn migrate(checkpoint: Option<&str>) -> Task {
    let mut t = task("migrate");
    t.destructive = true;
    t.checkpoint = checkpoint.map(String::from);
    t
}

fn approved() -> CoreOptions {
    CoreOptions {
        approvals: vec![("migrate".into(), "--confirm".into())],
        ..Default::default()
    }
}

fn passed() -> CheckpointResult {
    CheckpointResult {
        exit: Some(ExitInfo::code(0)),
        timed_out: false,
        took: ms(10),
    }
}

#[test]
fn without_approval_it_is_blocked_with_the_command_to_approve() {
    let mut h = Harness::new(vec![migrate(None)]);
    h.boot();
    assert_eq!(h.state("migrate"), TaskState::Blocked);
    assert_eq!(
        h.core.slot(0).phase.detail("migrate"),
        "approve with: bts up --confirm migrate"
    );
}

#[test]
fn approved_without_checkpoint_is_audited_and_spawned() {
    let mut h = Harness::with(vec![migrate(None)], &["migrate"], approved());
    let fx = h.boot();
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Spawn { approval: Some(how), .. } if how == "--confirm"
    )));
    assert_eq!(h.spawns(&fx), vec![("migrate".to_string(), true)]);
}

#[test]
fn a_passing_checkpoint_comes_first_then_the_run() {
    let mut h = Harness::with(vec![migrate(Some("pg_dump"))], &["migrate"], approved());
    let fx = h.boot();
    assert!(h.spawns(&fx).is_empty());
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Checkpoint { fresh: true, .. })));
    assert_eq!(h.state("migrate"), TaskState::Pending);
    let attempt = h.run_of("migrate");
    let fx = h.step(Event::CheckpointDone {
        task: 0,
        attempt,
        result: passed(),
    });
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Audit(Audit::Checkpoint { .. }))));
    assert_eq!(
        h.spawns(&fx),
        vec![("migrate".to_string(), false)],
        "the log keeps the checkpoint's output"
    );
}

#[test]
fn a_failing_or_late_checkpoint_fails_the_task_which_never_runs() {
    for (result, why) in [
        (
            CheckpointResult {
                exit: Some(ExitInfo::code(2)),
                timed_out: false,
                took: ms(5),
            },
            "exited with code 2",
        ),
        (
            CheckpointResult {
                exit: None,
                timed_out: true,
                took: secs(300),
            },
            "timed out after 5m",
        ),
    ] {
        let mut h = Harness::with(vec![migrate(Some("x"))], &["migrate"], approved());
        h.boot();
        let attempt = h.run_of("migrate");
        let fx = h.step(Event::CheckpointDone {
            task: 0,
            attempt,
            result,
        });
        assert!(h.spawns(&fx).is_empty());
        assert_eq!(
            h.core.slot(0).phase.fail_reason(),
            Some(&FailReason::Checkpoint { why: why.into() })
        );
    }
}

#[test]
fn an_approval_is_used_once() {
    let mut h = Harness::with(vec![migrate(None)], &["migrate"], approved());
    h.boot_and_spawn();
    h.exit("migrate", 0);
    h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0],
        approval: None,
        wait: false,
    });
    assert_eq!(h.state("migrate"), TaskState::Blocked);
}

#[test]
fn a_later_up_with_confirm_starts_a_blocked_task_and_its_dependents() {
    let mut h = Harness::new(vec![
        migrate(None),
        depends(task("app"), "migrate", Condition::Completed),
    ]);
    h.boot();
    let tasks = vec![
        migrate(None),
        depends(task("app"), "migrate", Condition::Completed),
    ];
    let w = h.request(|w| Request::Reload {
        waiter: Some(w),
        tasks,
        selected: ["migrate", "app"].iter().map(|s| s.to_string()).collect(),
        full: true,
        approvals: vec![("migrate".into(), "up --confirm".into())],
    });
    assert_eq!(
        h.spawns(&h.last.clone()),
        vec![("migrate".to_string(), true)]
    );
    h.spawned("migrate");
    h.exit("migrate", 0);
    assert!(h.answer(w).is_some());
    assert_eq!(h.state("app"), TaskState::Pending);
    assert_eq!(h.spawns(&h.last.clone()), vec![("app".to_string(), true)]);
}

#[test]
fn a_destructive_run_is_audited_when_it_ends() {
    let mut h = Harness::with(vec![migrate(None)], &["migrate"], approved());
    h.boot_and_spawn();
    h.advance(secs(3));
    let fx = h.exit("migrate", 0);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Audit(Audit::Result { exit, ran_for, .. }) if exit.success() && *ran_for == secs(3)
    )));
}

#[test]
fn down_during_the_checkpoint_answers_and_never_runs_the_task() {
    let mut h = Harness::with(vec![migrate(Some("pg_dump"))], &["migrate"], approved());
    h.boot();
    let attempt = h.run_of("migrate");
    let w = h.request(|w| Request::Down {
        waiter: w,
        tasks: Some(vec![0]),
    });
    let fx = h.step(Event::CheckpointDone {
        task: 0,
        attempt,
        result: passed(),
    });
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(h.state("migrate"), TaskState::Stopped);
    assert!(h.answer(w).is_some());
}

#[test]
fn a_failed_pre_flight_does_not_use_up_the_approval() {
    for checkpoint in [None, Some("pg_dump")] {
        let mut h = Harness::with(vec![migrate(checkpoint)], &["migrate"], approved());
        h.boot();
        let run = h.run_of("migrate");
        h.step(Event::SpawnFailed {
            task: 0,
            run,
            reason: FailReason::Preflight {
                problems: vec![bts::lifecycle::PreflightProblem {
                    message: "cwd /x does not exist".into(),
                    port_in_use: false,
                }],
            },
        });
        assert_eq!(h.state("migrate"), TaskState::Failed);
        // The cwd fixed, a plain `bts up` (no new approval) starts it.
        h.request(|w| Request::Reload {
            waiter: Some(w),
            tasks: vec![migrate(checkpoint)],
            selected: ["migrate".to_string()].into(),
            full: true,
            approvals: vec![],
        });
        assert_ne!(h.state("migrate"), TaskState::Blocked, "{checkpoint:?}");
    }
}

#[test]
fn a_failed_spawn_after_pre_flight_uses_the_approval() {
    let mut h = Harness::with(vec![migrate(None)], &["migrate"], approved());
    h.boot();
    let run = h.run_of("migrate");
    h.step(Event::SpawnFailed {
        task: 0,
        run,
        reason: FailReason::Spawn {
            command: "x".into(),
            error: "EMFILE".into(),
        },
    });
    h.request(|w| Request::Reload {
        waiter: Some(w),
        tasks: vec![migrate(None)],
        selected: ["migrate".to_string()].into(),
        full: true,
        approvals: vec![],
    });
    assert_eq!(h.state("migrate"), TaskState::Blocked);
}
