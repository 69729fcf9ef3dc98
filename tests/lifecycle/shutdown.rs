//! Shutdown: order, the second signal, what is not running, the SIGKILL deadline.

use super::*;
use bts::lifecycle::{Mode, StopDetail};

#[test]
fn interrupt_stops_dependents_first_and_independent_tasks_together() {
    let mut h = Harness::new(vec![
        task("db"),
        depends(task("api"), "db", Condition::Started),
        task("worker"),
    ]);
    h.boot_and_spawn();
    let fx = h.interrupt();
    let mut stops = h.stops(&fx);
    stops.sort();
    assert_eq!(
        stops,
        vec![
            ("api".to_string(), StopWhy::Shutdown),
            ("worker".to_string(), StopWhy::Shutdown)
        ]
    );
    let fx = h.exit("api", 143);
    assert_eq!(h.stops(&fx), vec![("db".to_string(), StopWhy::Shutdown)]);
    h.exit("worker", 143);
    assert!(!h.core.finished());
    let fx = h.exit("db", 143);
    assert!(fx.iter().any(|e| matches!(e, Effect::StopReceipt { .. })));
    assert!(h.core.finished());
    assert_eq!(h.core.exit_code(), 0, "stopped tasks are not failures");
}

#[test]
fn the_stop_uses_the_tasks_signal_and_its_sigkill_deadline() {
    let mut t = task("a");
    t.stop_signal = libc::SIGINT;
    t.stop_timeout = secs(7);
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    let fx = h.interrupt();
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Stop { signal, grace, .. } if *signal == libc::SIGINT && *grace == secs(7)
    )));
}

#[test]
fn a_second_interrupt_kills_every_run_at_once() {
    let mut h = Harness::new(vec![task("a"), depends(task("b"), "a", Condition::Started)]);
    h.boot_and_spawn();
    h.interrupt();
    let fx = h.interrupt();
    let kills = fx
        .iter()
        .filter(|e| matches!(e, Effect::Kill { .. }))
        .count();
    assert_eq!(kills, 2, "{fx:?}");
    assert_eq!(h.core.mode(), Mode::Killing);
}

#[test]
fn pending_and_backing_off_tasks_stop_without_running() {
    let mut h = Harness::new(vec![
        probed(task("db"), 3, secs(60)),
        depends(task("app"), "db", Condition::Healthy),
        restarting("flaky", RestartPolicy::Always),
    ]);
    h.boot_and_spawn();
    h.exit("flaky", 1);
    h.interrupt();
    assert_eq!(
        h.core.slot(h.id("app")).phase,
        Phase::Stopped(StopDetail::NotStarted)
    );
    assert_eq!(
        h.core.slot(h.id("flaky")).phase,
        Phase::Stopped(StopDetail::WhileWaitingToRestart)
    );
    h.advance(secs(5));
    assert!(h.spawns(&h.last.clone()).is_empty());
    h.exit("db", 143);
    assert!(h.core.finished());
}

fn checkpointing() -> Harness {
    let mut t = task("migrate");
    t.destructive = true;
    t.checkpoint = Some("dump".into());
    let opts = CoreOptions {
        approvals: vec![("migrate".into(), "--yes".into())],
        ..Default::default()
    };
    let mut h = Harness::with(vec![t], &["migrate"], opts);
    h.boot();
    h
}

#[test]
fn interrupt_stops_a_running_checkpoint_and_its_task_never_runs() {
    let mut h = checkpointing();
    let fx = h.interrupt();
    assert_eq!(
        h.stops(&fx),
        vec![("migrate".to_string(), StopWhy::Shutdown)]
    );
    assert!(
        !h.core.finished(),
        "the checkpoint's process is still alive"
    );
    let fx = h.exit("migrate", 143);
    assert!(h.spawns(&fx).is_empty());
    assert_eq!(
        h.core.slot(0).phase,
        Phase::Stopped(StopDetail::BeforeCheckpoint)
    );
    assert!(h.core.finished());
}

#[test]
fn a_second_interrupt_kills_a_running_checkpoint() {
    let mut h = checkpointing();
    h.interrupt();
    let fx = h.interrupt();
    assert!(fx.iter().any(|e| matches!(e, Effect::Kill { task: 0, .. })));
    h.step(Event::Exited {
        task: 0,
        run: h.run_of("migrate"),
        exit: ExitInfo::signal(libc::SIGKILL),
    });
    assert!(h.core.finished());
    assert!(h.spawns(&h.log.clone()).is_empty());
}

#[test]
fn down_of_everything_is_answered_when_all_have_stopped() {
    let mut h = Harness::new(vec![task("a"), task("b")]);
    h.boot_and_spawn();
    let w = h.request(|w| Request::Down {
        waiter: w,
        signal: None,
        tasks: None,
    });
    assert_eq!(h.core.mode(), Mode::ShuttingDown);
    h.exit("a", 143);
    assert!(h.answer(w).is_none());
    h.exit("b", 143);
    assert!(h.answer(w).is_some());
    assert!(h.core.finished());
}

#[test]
fn a_task_spawned_as_the_shutdown_begins_is_stopped_once_alive() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot();
    h.interrupt();
    let run = h.run_of("a");
    let fx = h.step(Event::Spawned {
        task: 0,
        run,
        pid: 77,
    });
    assert_eq!(h.stops(&fx), vec![("a".to_string(), StopWhy::Shutdown)]);
}
