//! Starting, and `depends_on` with each condition and its cascades.

use super::*;

#[test]
fn boot_spawns_only_the_selected_tasks() {
    let mut h = Harness::with(vec![task("a"), task("b")], &["a"], CoreOptions::default());
    let fx = h.boot();
    assert_eq!(h.spawns(&fx), vec![("a".to_string(), true)]);
    assert_eq!(h.state("a"), TaskState::Pending);
    assert_eq!(h.state("b"), TaskState::Stopped);
}

#[test]
fn a_probe_less_task_is_up_one_second_after_its_spawn() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    assert_eq!(h.state("a"), TaskState::Starting);
    h.advance(ms(999));
    assert_eq!(h.state("a"), TaskState::Starting);
    h.advance(ms(1));
    assert_eq!(h.state("a"), TaskState::Up);
}

#[test]
fn a_failed_spawn_is_failed_with_its_reason() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot();
    let run = h.run_of("a");
    h.step(Event::SpawnFailed {
        task: h.id("a"),
        run,
        reason: bts::lifecycle::FailReason::Spawn {
            command: "nope".into(),
            error: "No such file or directory".into(),
        },
    });
    assert_eq!(h.state("a"), TaskState::Failed);
    assert!(h.core.finished());
    assert_eq!(h.core.exit_code(), 1);
}

#[test]
fn started_condition_waits_for_a_live_process() {
    let mut h = Harness::new(vec![
        task("db"),
        depends(task("app"), "db", Condition::Started),
    ]);
    let fx = h.boot();
    assert_eq!(h.spawns(&fx), vec![("db".to_string(), true)]);
    assert_eq!(
        h.core.slot(h.id("app")).phase,
        Phase::Waiting {
            on: "db started".into()
        }
    );
    h.spawned("db");
    assert_eq!(h.spawns(&h.last.clone()), vec![("app".to_string(), true)]);
}

#[test]
fn healthy_condition_waits_for_up() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    assert_eq!(h.state("app"), TaskState::Pending);
    h.probe("db", false);
    assert_eq!(h.state("app"), TaskState::Pending);
    let fx = h.probe("db", true);
    assert_eq!(h.state("db"), TaskState::Up);
    assert_eq!(h.spawns(&fx), vec![("app".to_string(), true)]);
}

#[test]
fn completed_condition_waits_for_a_clean_exit() {
    let mut h = Harness::new(vec![
        task("migrate"),
        depends(task("app"), "migrate", Condition::Completed),
    ]);
    h.boot_and_spawn();
    h.advance(secs(2));
    assert_eq!(h.state("migrate"), TaskState::Up);
    assert_eq!(h.state("app"), TaskState::Pending, "UP is not completed");
    let fx = h.exit("migrate", 0);
    assert_eq!(h.state("migrate"), TaskState::Exited);
    assert_eq!(h.spawns(&fx), vec![("app".to_string(), true)]);
}

#[test]
fn a_failed_dependency_fails_the_whole_chain_without_running_it() {
    let mut h = Harness::new(vec![
        task("a"),
        depends(task("b"), "a", Condition::Completed),
        depends(task("c"), "b", Condition::Started),
    ]);
    h.boot_and_spawn();
    h.exit("a", 3);
    assert_eq!(h.state("b"), TaskState::Failed);
    assert_eq!(h.state("c"), TaskState::Failed);
    assert_eq!(
        h.core.slot(h.id("c")).phase.fail_reason(),
        Some(&bts::lifecycle::FailReason::DependencyFailed {
            dependency: "b".into()
        })
    );
    assert!(h.spawns(&h.log.clone()).iter().all(|(n, _)| n == "a"));
    assert!(h.core.finished());
}

#[test]
fn a_stopped_dependency_fails_its_pending_dependents() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    h.exit("db", 143);
    assert_eq!(h.state("db"), TaskState::Stopped);
    assert_eq!(
        h.core.slot(h.id("app")).phase.fail_reason(),
        Some(&bts::lifecycle::FailReason::DependencyStopped {
            dependency: "db".into()
        })
    );
}

#[test]
fn a_dependent_of_a_blocked_task_waits_for_its_approval() {
    let mut migrate = task("migrate");
    migrate.destructive = true;
    let mut h = Harness::new(vec![
        migrate,
        depends(task("app"), "migrate", Condition::Completed),
    ]);
    h.boot();
    assert_eq!(h.state("migrate"), TaskState::Blocked);
    assert_eq!(
        h.core.slot(h.id("app")).phase,
        Phase::Waiting {
            on: "approval of migrate".into()
        }
    );
    assert!(h.core.finished(), "nothing runs: only a person can go on");
    assert_eq!(h.core.exit_code(), 1);
}

#[test]
fn a_stale_exit_of_an_earlier_run_is_ignored() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    let first = h.run_of("a");
    h.exit("a", 1);
    h.advance(secs(1));
    h.spawned("a");
    let second = h.run_of("a");
    assert_ne!(first, second);
    h.step(Event::Exited {
        task: h.id("a"),
        run: first,
        exit: ExitInfo::code(1),
    });
    assert_eq!(
        h.state("a"),
        TaskState::Starting,
        "the new run is untouched"
    );
}
