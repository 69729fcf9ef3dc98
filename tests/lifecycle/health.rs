//! Probes: UP, DEGRADED, DOWN, restarts on DOWN, port checks, stale results.

use super::*;
use bts::lifecycle::{Degraded, FailReason, Health as H, Origin};

#[test]
fn failures_inside_the_start_period_do_not_count() {
    let mut h = Harness::new(vec![probed(task("web"), 1, secs(10))]);
    h.boot_and_spawn();
    h.probe("web", false);
    h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Starting);
    h.advance(secs(11));
    h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Down);
}

#[test]
fn up_then_degraded_then_down_restarts_through_a_stop() {
    let mut h = Harness::new(vec![probed(
        restarting("web", RestartPolicy::OnFailure),
        3,
        secs(0),
    )]);
    h.boot_and_spawn();
    h.probe("web", true);
    assert_eq!(h.state("web"), TaskState::Up);
    h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Degraded);
    h.probe("web", false);
    let fx = h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Down);
    assert_eq!(h.stops(&fx), vec![("web".to_string(), StopWhy::HealthDown)]);
    h.exit("web", 143);
    assert_eq!(h.state("web"), TaskState::Restarting);
    h.advance(secs(1));
    assert_eq!(h.spawns(&h.last.clone()), vec![("web".to_string(), false)]);
}

#[test]
fn down_without_a_restart_policy_keeps_running() {
    let mut h = Harness::new(vec![probed(task("web"), 1, secs(0))]);
    h.boot_and_spawn();
    h.probe("web", true);
    let fx = h.probe("web", false);
    assert_eq!(h.state("web"), TaskState::Down);
    assert!(h.stops(&fx).is_empty());
    h.probe("web", true);
    assert_eq!(h.state("web"), TaskState::Up, "it recovers");
}

#[test]
fn a_success_recovers_from_degraded() {
    let mut h = Harness::new(vec![probed(task("web"), 3, secs(0))]);
    h.boot_and_spawn();
    h.probe("web", true);
    h.probe("web", false);
    assert!(matches!(
        h.phase("web"),
        Phase::Running(r) if matches!(&r.health, H::Degraded(Degraded::Probe { failures: 1, retries: 3, .. }))
    ));
    h.probe("web", true);
    assert_eq!(h.state("web"), TaskState::Up);
}

#[test]
fn results_for_an_old_run_or_a_stopping_run_are_ignored() {
    let mut h = Harness::new(vec![probed(task("web"), 1, secs(0))]);
    h.boot_and_spawn();
    let run = h.run_of("web");
    h.step(Event::Probe {
        task: 0,
        run: RunId(run.0 + 100),
        ok: true,
        detail: "other run".into(),
    });
    assert_eq!(h.state("web"), TaskState::Starting);
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    h.probe("web", true);
    assert_eq!(h.state("web"), TaskState::Starting, "a stop is under way");
}

#[test]
fn down_with_a_crash_loop_fails_after_the_stop() {
    let mut t = probed(restarting("web", RestartPolicy::Always), 1, secs(0));
    t.max_restarts = 0;
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.probe("web", true);
    h.probe("web", false);
    h.exit("web", 143);
    assert!(matches!(
        h.core.slot(0).phase.fail_reason(),
        Some(FailReason::CrashLoop { .. })
    ));
}

#[test]
fn an_unbound_port_degrades_and_a_bound_one_recovers() {
    let mut t = task("web");
    t.ports = vec![3000];
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.advance(secs(1));
    let run = h.run_of("web");
    h.step(Event::PortCheck {
        task: 0,
        run,
        unbound: Some(3000),
    });
    assert_eq!(h.state("web"), TaskState::Degraded);
    assert_eq!(
        h.core.slot(0).phase.detail("web", Origin::Manifest),
        "port 3000 not bound"
    );
    h.step(Event::PortCheck {
        task: 0,
        run,
        unbound: None,
    });
    assert_eq!(h.state("web"), TaskState::Up);
}

#[test]
fn a_failing_log_write_degrades_a_running_task_and_keeps_it() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let run = h.run_of("a");
    let fx = h.step(Event::LogError {
        task: 0,
        run,
        message: "No space left on device".into(),
    });
    assert_eq!(h.state("a"), TaskState::Degraded);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Say { text, .. } if text.contains("log write failed"))));
    assert!(h.stops(&fx).is_empty());
}

#[test]
fn up_after_is_stale_once_the_task_left_starting() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let run = h.run_of("a");
    h.step(Event::LogError {
        task: 0,
        run,
        message: "disk full".into(),
    });
    h.advance(secs(2));
    assert_eq!(
        h.state("a"),
        TaskState::Degraded,
        "the 1 s timer did not make it UP"
    );
}

#[test]
fn a_log_error_of_an_earlier_run_leaves_the_new_run_alone() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    let old = h.run_of("a");
    h.exit("a", 1);
    h.advance(secs(1));
    h.spawned("a");
    h.step(Event::LogError {
        task: 0,
        run: old,
        message: "late".into(),
    });
    assert_eq!(h.state("a"), TaskState::Starting);
}

#[test]
fn down_while_recovering_from_health_down_stops_it_for_good() {
    let mut h = Harness::new(vec![probed(
        restarting("web", RestartPolicy::Always),
        1,
        secs(0),
    )]);
    h.boot_and_spawn();
    h.probe("web", true);
    h.probe("web", false);
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    let fx = h.exit("web", 143);
    assert_eq!(
        h.state("web"),
        TaskState::Stopped,
        "no backoff after a down"
    );
    assert!(h.spawns(&fx).is_empty());
    assert!(h.answer(w).is_some());
}

#[test]
fn a_port_check_does_not_clear_a_log_write_failure() {
    let mut t = task("web");
    t.ports = vec![3000];
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    let run = h.run_of("web");
    h.step(Event::LogError {
        task: 0,
        run,
        message: "disk full".into(),
    });
    h.step(Event::PortCheck {
        task: 0,
        run,
        unbound: None,
    });
    assert_eq!(h.state("web"), TaskState::Degraded);
}
