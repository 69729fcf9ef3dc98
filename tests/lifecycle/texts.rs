//! What the core says: the detail of each phase (digests, the terminal), when a state
//! change is worth an effect, exit codes as a shell reports them, and the supervisor
//! that serves until told to stop.

use super::*;
use bts::lifecycle::policy::Cause;
use bts::lifecycle::{Degraded, FailReason, Health as H, Origin, StopDetail};

fn detail(p: &Phase) -> String {
    p.detail("t", Origin::Manifest)
}

#[test]
fn each_phase_says_why() {
    assert_eq!(
        detail(&Phase::Stopped(StopDetail::ByUser)),
        "stopped by the user"
    );
    assert_eq!(
        detail(&Phase::Stopped(StopDetail::NotStarted)),
        "not started"
    );
    assert_eq!(
        detail(&Phase::Stopped(StopDetail::Ended(
            "exited with code 0".into()
        ))),
        "stopped (exited with code 0)"
    );
    assert_eq!(detail(&Phase::Waiting { on: String::new() }), "");
    assert_eq!(
        detail(&Phase::Waiting {
            on: "db healthy".into()
        }),
        "waiting for db healthy"
    );
    let now = tokio::time::Instant::now();
    assert_eq!(
        detail(&Phase::Checkpointing {
            attempt: RunId(1),
            since: now,
            fresh: true,
            approval: "--yes".into(),
            end: None
        }),
        "waiting for its checkpoint"
    );
    assert_eq!(
        detail(&Phase::Backoff {
            until: now,
            delay: secs(2)
        }),
        "restarting after 2s"
    );
    let reason = FailReason::DependencyFailed {
        dependency: "db".into(),
    };
    assert_eq!(detail(&Phase::Failed(reason)), "dependency db failed");
    assert_eq!(detail(&Phase::Blocked), "approve with: bts up --confirm t");
    assert_eq!(
        Phase::Blocked.detail("t", Origin::Adhoc),
        "approve with: bts restart t --confirm t"
    );
    assert_eq!(detail(&Phase::Exited), "");
}

#[test]
fn a_running_phase_says_its_health() {
    let mut h = Harness::new(vec![probed(task("web"), 2, secs(0))]);
    h.boot_and_spawn();
    assert!(h.phase("web").running().is_some());
    assert!(Phase::Exited.running().is_none());
    h.probe("web", true);
    h.probe("web", false);
    assert_eq!(
        h.phase("web").detail("web", Origin::Manifest),
        "refused (1/2 failures)"
    );
    h.probe("web", false);
    assert_eq!(
        h.phase("web").detail("web", Origin::Manifest),
        "refused (2 failures in a row)"
    );
    assert!(matches!(
        h.phase("web"),
        Phase::Running(r) if matches!(r.health, H::Down { failures: 2, .. })
    ));
    let d = Degraded::PortUnbound(80);
    assert_eq!(d.to_string(), "port 80 not bound");
}

#[test]
fn a_state_change_is_an_effect_only_when_something_changed() {
    let mut h = Harness::new(vec![probed(task("web"), 3, secs(0))]);
    h.boot_and_spawn();
    h.probe("web", true);
    let states = |fx: &[Effect]| {
        fx.iter()
            .filter(|e| matches!(e, Effect::State { .. }))
            .count()
    };
    // UP again: nothing to say.
    let fx = h.probe("web", true);
    assert_eq!(states(&fx), 0, "{fx:?}");
    // DEGRADED, then DEGRADED with another count: the detail changed.
    let fx = h.probe("web", false);
    assert_eq!(states(&fx), 1);
    let fx = h.probe("web", false);
    assert_eq!(states(&fx), 1, "a new failure count is news");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::State { to: TaskState::Degraded, detail, quiet: false, .. } if detail == "refused (2/3 failures)"
    )));
    // Entering PENDING or STARTING is quiet on the terminal.
    let mut h = Harness::new(vec![task("a")]);
    let fx = h.boot();
    assert!(fx
        .iter()
        .all(|e| !matches!(e, Effect::State { quiet: false, .. })));
    h.spawned("a");
    assert!(h.last.iter().any(|e| matches!(
        e,
        Effect::State {
            to: TaskState::Starting,
            quiet: true,
            ..
        }
    )));
}

#[test]
fn exit_codes_are_what_a_shell_reports() {
    assert_eq!(ExitInfo::code(3).shell_code(), 3);
    assert_eq!(ExitInfo::signal(9).shell_code(), 137);
    assert_eq!(ExitInfo::signal(15).describe(), "killed by SIGTERM");
    assert_eq!(Cause::Down.describe(), "health check DOWN");
    assert_eq!(
        Cause::Exit(ExitInfo::code(1)).describe(),
        "exited with code 1"
    );
}

#[test]
fn a_kept_alive_supervisor_serves_with_nothing_running_until_told_to_stop() {
    let opts = CoreOptions {
        keep_alive: true,
        ..Default::default()
    };
    let mut h = Harness::with(vec![task("a")], &[], opts);
    h.boot();
    assert!(!h.core.finished(), "nothing runs, and it still serves");
    h.interrupt();
    assert!(h.core.finished());
    let mut plain = Harness::with(vec![task("a")], &[], CoreOptions::default());
    plain.boot();
    assert!(plain.core.finished());
}
