//! User requests: restart (running, stopped, backing off, pending), down of some tasks,
//! and when each is answered.

use super::*;

fn restart(h: &mut Harness, names: &[&str], wait: bool) -> u64 {
    let tasks = names.iter().map(|n| h.id(n)).collect();
    h.request(|w| Request::Restart {
        waiter: w,
        tasks,
        approval: None,
        wait,
    })
}

#[test]
fn restart_of_a_running_task_stops_it_and_starts_it_again() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    h.advance(secs(2));
    let old = h.run_of("a");
    let w = restart(&mut h, &["a"], false);
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("a".to_string(), StopWhy::Restart)]
    );
    assert!(h.answer(w).is_none());
    let fx = h.exit("a", 143);
    assert_eq!(h.spawns(&fx), vec![("a".to_string(), false)]);
    assert!(h.answer(w).is_none(), "not before the new run is alive");
    h.spawned("a");
    assert_ne!(h.run_of("a"), old);
    assert_eq!(h.answer(w), Some((vec!["restarting a".to_string()], false)));
}

#[test]
fn restart_wait_is_answered_when_the_new_run_is_up() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    h.advance(secs(2));
    let w = restart(&mut h, &["a"], true);
    h.exit("a", 143);
    h.spawned("a");
    assert!(h.answer(w).is_none(), "the old run's UP does not count");
    h.advance(secs(1));
    assert!(h.answer(w).is_some());
}

#[test]
fn restart_of_a_stopped_task_goes_through_its_dependencies() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    h.probe("db", true);
    h.spawned("app");
    h.exit("app", 1);
    assert_eq!(h.state("app"), TaskState::Failed);
    // db is DEGRADED: app must wait for it to be healthy again.
    h.probe("db", false);
    let w = restart(&mut h, &["app"], false);
    assert_eq!(h.state("app"), TaskState::Pending);
    assert!(h.spawns(&h.last.clone()).is_empty());
    assert!(
        h.answer(w).is_some(),
        "waiting on dependencies is an answer"
    );
    let fx = h.probe("db", true);
    assert_eq!(h.spawns(&fx), vec![("app".to_string(), true)]);
}

#[test]
fn restart_during_backoff_skips_it_and_keeps_the_log() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 1);
    let w = restart(&mut h, &["a"], false);
    assert_eq!(h.spawns(&h.last.clone()), vec![("a".to_string(), false)]);
    h.spawned("a");
    assert_eq!(
        h.answer(w).unwrap().0,
        vec!["restarted a (backoff skipped)".to_string()]
    );
}

#[test]
fn restart_of_a_pending_task_leaves_it_waiting() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    let w = restart(&mut h, &["app"], false);
    assert_eq!(h.state("app"), TaskState::Pending);
    assert_eq!(
        h.answer(w).unwrap().0,
        vec!["app is waiting for its dependencies".to_string()]
    );
}

#[test]
fn restart_gives_a_crash_looped_task_its_retries_back() {
    let mut t = restarting("a", RestartPolicy::OnFailure);
    t.max_restarts = 1;
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.exit("a", 1);
    h.advance(secs(1));
    h.spawned("a");
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::Failed);
    restart(&mut h, &["a"], false);
    h.spawned("a");
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::Restarting, "a fresh count");
}

#[test]
fn down_of_one_task_stops_it_with_a_receipt_and_leaves_the_others() {
    let mut h = Harness::new(vec![task("a"), task("b")]);
    h.boot_and_spawn();
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("a".to_string(), StopWhy::User)]
    );
    let fx = h.exit("a", 143);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::StopReceipt { task: 0, .. })));
    assert_eq!(h.state("a"), TaskState::Stopped);
    assert_eq!(h.state("b"), TaskState::Starting);
    assert_eq!(h.answer(w), Some((vec![], false)));
    assert!(!h.core.finished());
}

#[test]
fn down_of_a_task_waiting_to_start_stops_it_at_once() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![1]),
    });
    assert_eq!(h.state("app"), TaskState::Stopped);
    assert!(h.answer(w).is_some());
    h.probe("db", true);
    assert_eq!(
        h.state("app"),
        TaskState::Stopped,
        "a stopped task is not scheduled"
    );
}

#[test]
fn down_of_several_tasks_stops_dependents_first() {
    let mut h = Harness::new(vec![
        task("db"),
        depends(task("api"), "db", Condition::Started),
        depends(task("web"), "api", Condition::Started),
    ]);
    h.boot_and_spawn();
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0, 1, 2]),
    });
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("web".to_string(), StopWhy::User)]
    );
    let fx = h.exit("web", 143);
    assert_eq!(h.stops(&fx), vec![("api".to_string(), StopWhy::User)]);
    let fx = h.exit("api", 143);
    assert_eq!(h.stops(&fx), vec![("db".to_string(), StopWhy::User)]);
}

#[test]
fn down_overrides_a_restart_under_way() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    restart(&mut h, &["a"], false);
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    let fx = h.exit("a", 143);
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(h.state("a"), TaskState::Stopped);
}

#[test]
fn down_with_a_signal_sends_it_instead_of_the_stop_signal() {
    let mut h = Harness::new(vec![task("a"), task("b")]);
    h.boot_and_spawn();
    let fx = h.step(Event::Request(Request::Down {
        waiter: 1,
        tasks: Some(vec![0]),
        signal: Some(libc::SIGINT),
    }));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Stop { task: 0, signal, .. } if *signal == libc::SIGINT
    )));
    // The override was for that stop only.
    let fx = h.interrupt();
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Stop { task: 1, signal, .. } if *signal == libc::SIGTERM
    )));
}

#[test]
fn the_waiters_still_open_are_answered_when_the_supervisor_exits() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let w = h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0],
        approval: None,
        wait: true,
    });
    assert!(h.answer(w).is_none());
    let fx = h.core.finish_waiters();
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Answer { waiter, .. } if *waiter == w)));
}

#[test]
fn a_spawn_failure_for_another_run_is_ignored() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot();
    let run = h.run_of("a");
    h.step(Event::SpawnFailed {
        task: 0,
        run: RunId(run.0 + 7),
        reason: bts::lifecycle::FailReason::Spawn {
            command: "x".into(),
            error: "late".into(),
        },
    });
    assert_eq!(h.state("a"), TaskState::Pending, "still being spawned");
    h.spawned("a");
    assert_eq!(h.state("a"), TaskState::Starting);
}
