//! Restart policies, backoff, crash loops, and stale timers.

use super::*;
use bts::lifecycle::FailReason;

#[test]
fn never_fails_on_a_bad_exit_and_exits_on_a_good_one() {
    let mut h = Harness::new(vec![task("bad"), task("good")]);
    h.boot_and_spawn();
    h.exit("bad", 2);
    h.exit("good", 0);
    assert!(matches!(
        h.core.slot(h.id("bad")).phase.fail_reason(),
        Some(FailReason::Exit { code: Some(2), .. })
    ));
    assert_eq!(h.state("good"), TaskState::Exited);
    assert_eq!(h.core.exit_code(), 1);
}

#[test]
fn on_failure_backs_off_then_runs_again_with_the_log_going_on() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::OnFailure)]);
    h.boot_and_spawn();
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::Restarting);
    h.advance(ms(999));
    assert_eq!(h.state("a"), TaskState::Restarting);
    h.advance(ms(1));
    assert_eq!(h.spawns(&h.last.clone()), vec![("a".to_string(), false)]);
    assert_eq!(h.core.slot(0).tracker.total, 1);
}

#[test]
fn backoff_doubles_and_a_crash_loop_fails() {
    let mut t = restarting("a", RestartPolicy::OnFailure);
    t.max_restarts = 3;
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    let mut delays = vec![];
    for _ in 0..3 {
        h.exit("a", 1);
        match h.phase("a") {
            Phase::Backoff { delay, .. } => delays.push(delay.as_secs()),
            p => panic!("{p:?}"),
        }
        h.advance(secs(60));
        h.spawned("a");
    }
    assert_eq!(delays, vec![1, 2, 4]);
    h.exit("a", 1);
    assert!(matches!(
        h.core.slot(0).phase.fail_reason(),
        Some(FailReason::CrashLoop { restarts: 3, .. })
    ));
    assert!(h.core.finished());
}

#[test]
fn a_long_run_resets_the_backoff() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 1);
    h.advance(secs(1));
    h.spawned("a");
    h.exit("a", 1);
    assert!(matches!(h.phase("a"), Phase::Backoff { delay, .. } if *delay == secs(2)));
    h.advance(secs(2));
    h.spawned("a");
    h.advance(secs(61));
    h.exit("a", 1);
    assert!(matches!(h.phase("a"), Phase::Backoff { delay, .. } if *delay == secs(1)));
}

#[test]
fn always_restarts_after_a_clean_exit() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 0);
    assert_eq!(h.state("a"), TaskState::Restarting);
}

#[test]
fn a_restart_timer_from_before_a_stop_does_nothing() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 1);
    h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: Some(vec![0]),
    });
    assert_eq!(h.state("a"), TaskState::Stopped);
    h.advance(secs(5));
    assert_eq!(
        h.state("a"),
        TaskState::Stopped,
        "the backoff timer is stale"
    );
    assert!(h.spawns(&h.log.clone()).len() == 1);
}

#[test]
fn a_restart_timer_of_an_earlier_backoff_cannot_start_a_later_one_early() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 1); // backoff 1 s, timer T1
    h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0],
        approval: None,
        wait: false,
    }); // starts at once
    h.spawned("a");
    h.exit("a", 1); // backoff 1 s again (fresh count): timer T2 at now + 1 s
    let before = h.spawns(&h.log.clone()).len();
    // T1 is due now + 1 s too, but its epoch is old; only one spawn happens.
    h.advance(secs(1));
    assert_eq!(h.spawns(&h.log.clone()).len(), before + 1);
}

#[test]
fn destructive_tasks_are_never_restarted_by_their_policy() {
    let mut t = restarting("m", RestartPolicy::Always);
    t.destructive = true;
    let opts = CoreOptions {
        approvals: vec![("m".into(), "--yes".into())],
        ..Default::default()
    };
    let mut h = Harness::with(vec![t], &["m"], opts);
    h.boot_and_spawn();
    h.exit("m", 1);
    assert_eq!(h.state("m"), TaskState::Failed);
}

#[test]
fn exit_code_from_takes_the_tasks_code_and_stops_everything() {
    let opts = CoreOptions {
        exit_code_from: Some("tests".into()),
        ..Default::default()
    };
    let mut h = Harness::with(
        vec![task("server"), task("tests")],
        &["server", "tests"],
        opts,
    );
    h.boot_and_spawn();
    let fx = h.exit("tests", 3);
    assert_eq!(
        h.stops(&fx),
        vec![("server".to_string(), StopWhy::Shutdown)]
    );
    h.exit("server", 143);
    assert!(h.core.finished());
    assert_eq!(h.core.exit_code(), 3);
}

#[test]
fn abort_on_exit_stops_the_rest_when_one_ends() {
    let opts = CoreOptions {
        abort_on_exit: true,
        ..Default::default()
    };
    let mut h = Harness::with(vec![task("a"), task("b")], &["a", "b"], opts);
    h.boot_and_spawn();
    let fx = h.exit("a", 0);
    assert_eq!(h.stops(&fx), vec![("b".to_string(), StopWhy::Shutdown)]);
}

#[test]
fn a_stale_restart_timer_cannot_end_a_later_backoff_early() {
    let mut h = Harness::new(vec![restarting("a", RestartPolicy::Always)]);
    h.boot_and_spawn();
    h.exit("a", 1); // backoff 1 s: a timer at +1 s
    h.advance(ms(500));
    h.request(|w| Request::Restart {
        waiter: w,
        tasks: vec![0],
        approval: None,
        wait: false,
    }); // starts now
    h.spawned("a");
    h.advance(ms(100));
    h.exit("a", 1); // a new backoff of 1 s: due at +1.6 s
    let spawns = |h: &Harness| h.spawns(&h.log.clone()).len();
    let before = spawns(&h);
    h.advance(ms(450)); // +1.05 s: the first timer fires, stale
    assert_eq!(h.state("a"), TaskState::Restarting);
    assert_eq!(spawns(&h), before);
    h.advance(ms(600)); // +1.65 s
    assert_eq!(spawns(&h), before + 1);
}
