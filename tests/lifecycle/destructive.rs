//! Destructive tasks: approval, checkpoint, audit, one approval per run.

use super::*;
use bts::lifecycle::{Audit, FailReason, Origin};

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

#[test]
fn without_approval_it_is_blocked_with_the_command_to_approve() {
    let mut h = Harness::new(vec![migrate(None)]);
    h.boot();
    assert_eq!(h.state("migrate"), TaskState::Blocked);
    assert_eq!(
        h.core.slot(0).phase.detail("migrate", Origin::Manifest),
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
    h.advance(secs(2));
    let fx = h.exit("migrate", 0);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Audit(Audit::Checkpoint { result, .. }) if result.passed() && result.took == secs(2)
    )));
    assert_eq!(
        h.spawns(&fx),
        vec![("migrate".to_string(), false)],
        "the log keeps the checkpoint's output"
    );
}

#[test]
fn a_failing_checkpoint_fails_the_task_which_never_runs() {
    let mut h = Harness::with(vec![migrate(Some("x"))], &["migrate"], approved());
    h.boot();
    let fx = h.exit("migrate", 2);
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(
        h.core.slot(0).phase.fail_reason(),
        Some(&FailReason::Checkpoint {
            why: "exited with code 2".into()
        })
    );
}

#[test]
fn a_checkpoint_past_its_timeout_is_killed_and_the_task_fails() {
    let mut h = Harness::with(vec![migrate(Some("sleep 900"))], &["migrate"], approved());
    h.boot();
    h.advance(secs(299));
    assert!(!h.log.iter().any(|e| matches!(e, Effect::Kill { .. })));
    h.advance(secs(1));
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Kill { task: 0, .. })));
    let fx = h.step(Event::Exited {
        task: 0,
        run: h.run_of("migrate"),
        exit: ExitInfo::signal(libc::SIGKILL),
    });
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(
        h.core.slot(0).phase.fail_reason(),
        Some(&FailReason::Checkpoint {
            why: "timed out after 5m".into()
        })
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Audit(Audit::Checkpoint { result, .. }) if result.timed_out
    )));
}

#[test]
fn a_checkpoint_timeout_from_an_earlier_attempt_does_nothing() {
    let mut t = migrate(Some("dump"));
    t.checkpoint_timeout = secs(10);
    let mut h = Harness::with(vec![t.clone()], &["migrate"], approved());
    h.boot();
    h.advance(secs(5));
    h.exit("migrate", 1); // FAILED; its timeout timer (due at 10 s) is still armed
    h.request(|w| Request::Reload {
        waiter: Some(w),
        tasks: vec![t],
        selected: ["migrate".to_string()].into(),
        full: true,
        approvals: vec![("migrate".into(), "--yes".into())],
    });
    h.advance(secs(6)); // 11 s: the first timer is due, the second (15 s) not yet
    assert!(!h.log.iter().any(|e| matches!(e, Effect::Kill { .. })));
    assert_eq!(h.state("migrate"), TaskState::Pending);
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
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("migrate".to_string(), StopWhy::User)],
        "the checkpoint is stopped"
    );
    let fx = h.exit("migrate", 0);
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

#[test]
fn an_approval_in_a_reload_starts_only_the_blocked_task() {
    let mut other = migrate(None);
    other.name = "seed".into();
    let opts = CoreOptions {
        approvals: vec![("seed".into(), "--yes".into())],
        ..Default::default()
    };
    let mut h = Harness::with(
        vec![migrate(None), other.clone()],
        &["migrate", "seed"],
        opts,
    );
    h.boot_and_spawn();
    h.exit("seed", 0);
    assert_eq!(h.state("migrate"), TaskState::Blocked);
    assert_eq!(h.state("seed"), TaskState::Exited);
    h.request(|w| Request::Reload {
        waiter: Some(w),
        tasks: vec![migrate(None), other],
        selected: ["migrate".to_string()].into(),
        full: true,
        approvals: vec![
            ("migrate".into(), "up --confirm".into()),
            ("seed".into(), "up --confirm".into()),
        ],
    });
    assert_eq!(
        h.spawns(&h.last.clone()),
        vec![("migrate".to_string(), true)]
    );
    assert_eq!(
        h.state("seed"),
        TaskState::Exited,
        "an ended task is not started again"
    );
}

#[test]
fn a_spawn_failure_of_another_attempt_leaves_the_checkpoint_running() {
    let mut h = Harness::with(vec![migrate(Some("dump"))], &["migrate"], approved());
    h.boot();
    let attempt = h.run_of("migrate");
    h.step(Event::SpawnFailed {
        task: 0,
        run: RunId(attempt.0 + 5),
        reason: FailReason::Checkpoint { why: "late".into() },
    });
    assert!(matches!(h.phase("migrate"), Phase::Checkpointing { .. }));
}
