//! The guards of the core's decisions, each at its edge (mutation testing found these
//! unheld): what a stop under way, a shutdown or a stale message must not do.

use super::*;

#[test]
fn a_shutdown_during_a_health_down_recovery_stops_for_good() {
    let mut h = Harness::new(vec![probed(
        restarting("web", RestartPolicy::Always),
        1,
        secs(0),
    )]);
    h.boot_and_spawn();
    h.probe("web", true);
    let fx = h.probe("web", false);
    assert_eq!(h.stops(&fx), vec![("web".to_string(), StopWhy::HealthDown)]);
    h.interrupt();
    let fx = h.exit("web", 143);
    assert_eq!(
        h.state("web"),
        TaskState::Stopped,
        "no backoff while shutting down"
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::StopReceipt { .. })));
    assert!(h.core.finished());
}

#[test]
fn a_shutdown_during_a_user_restart_does_not_start_it_again() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0],
        approval: None,
        wait: false,
    });
    h.interrupt();
    let fx = h.exit("a", 143);
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(h.state("a"), TaskState::Stopped);
}

#[test]
fn a_task_ending_by_itself_during_a_shutdown_is_stopped_not_restarted() {
    let mut h = Harness::new(vec![
        restarting("db", RestartPolicy::Always),
        depends(task("app"), "db", Condition::Started),
    ]);
    h.boot_and_spawn();
    h.interrupt(); // app is stopped first; db waits for it
    let fx = h.exit("db", 1);
    assert_eq!(h.state("db"), TaskState::Stopped, "{fx:?}");
    assert!(fx.iter().any(|e| matches!(e, Effect::StopReceipt { .. })));
}

#[test]
fn a_failure_at_exactly_the_start_period_counts() {
    let mut h = Harness::new(vec![probed(task("web"), 3, secs(10))]);
    h.boot_and_spawn();
    h.advance(secs(10));
    h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Degraded);
}

#[test]
fn a_crash_loop_on_health_down_stops_the_run_first() {
    let mut t = probed(restarting("web", RestartPolicy::Always), 1, secs(0));
    t.max_restarts = 0;
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.probe("web", true);
    let fx = h.probe("web", false);
    assert_eq!(h.stops(&fx), vec![("web".to_string(), StopWhy::HealthDown)]);
}

#[test]
fn a_port_check_for_a_run_being_stopped_is_ignored() {
    let mut t = task("web");
    t.ports = vec![3000];
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.advance(secs(1));
    let run = h.run_of("web");
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    h.step(Event::PortCheck {
        task: 0,
        run,
        unbound: Some(3000),
    });
    assert_eq!(h.state("web"), TaskState::Up);
}

#[test]
fn a_probed_task_is_not_up_just_for_staying_alive() {
    let mut h = Harness::new(vec![probed(task("web"), 3, secs(60))]);
    h.boot_and_spawn();
    h.advance(secs(5));
    assert_eq!(h.state("web"), TaskState::Starting);
}

#[test]
fn file_changes_during_a_shutdown_do_nothing() {
    let mut t = task("a");
    t.watch = vec!["*".into()];
    let mut h = Harness::new(vec![t, task("b")]);
    h.boot_and_spawn();
    h.step(Event::FileChanged {
        task: 0,
        path: "x".into(),
    });
    h.interrupt();
    h.step(Event::FileChanged {
        task: 0,
        path: "y".into(),
    });
    h.advance(secs(1));
    let restarts = h
        .log
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Stop {
                    why: StopWhy::Restart,
                    ..
                }
            )
        })
        .count();
    assert_eq!(restarts, 0);
}

#[test]
fn a_restart_keeps_a_selected_task_selected_and_selects_an_idle_one() {
    let mut h = Harness::with(vec![task("a"), task("b")], &["a"], CoreOptions::default());
    h.boot_and_spawn();
    h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0, 1],
        approval: None,
        wait: false,
    });
    assert_eq!(h.core.slot(0).member, bts::lifecycle::Member::Selected);
    assert_eq!(h.core.slot(1).member, bts::lifecycle::Member::Selected);
}

#[test]
fn a_down_is_not_answered_while_the_task_still_runs() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    assert!(h.answer(w).is_none(), "still running");
    h.exit("a", 143);
    assert!(h.answer(w).is_some());
}

#[test]
fn restart_wait_of_a_task_waiting_for_its_dependency_waits() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
    ]);
    h.boot_and_spawn();
    h.probe("db", true);
    h.spawned("app");
    h.exit("app", 0);
    h.probe("db", false); // DEGRADED: app must wait for healthy again
    let w = h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![1],
        approval: None,
        wait: true,
    });
    assert_eq!(h.state("app"), TaskState::Pending);
    assert!(h.answer(w).is_none(), "waiting is not UP");
    h.probe("db", true);
    h.spawned("app");
    h.advance(secs(1));
    assert!(h.answer(w).is_some());
}
